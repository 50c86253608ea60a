"""In-memory harness for Raft tests: nodes wired through a message queue that can cut links,
isolate nodes and drop message types (like etcd's rafttest network). No time, no threads.

Each node's driver follows the Ready contract: persist to its MemoryStorage, send, apply
(conf changes through `apply_conf_change`), advance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from mesh.raft import (
    Config,
    ConfState,
    Entry,
    EntryType,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    ReadState,
    StateRole,
    decode_conf_change,
)

Filter = Callable[[Message], bool]


def make_config(node: str, seed: int = 0, **overrides: object) -> Config:
    cfg = Config(id=node, seed=seed + sum(node.encode()), **overrides)  # type: ignore[arg-type]
    return cfg


class Network:
    def __init__(self, ids: Iterable[str], *, bootstrap: bool = True, seed: int = 0,
                 learners: Iterable[str] = (), joining: Iterable[str] = (),
                 **config: object) -> None:
        self.ids = list(ids)
        self.learners = list(learners)
        self.seed = seed
        self.config = config
        self.storages: dict[str, MemoryStorage] = {}
        self.nodes: dict[str, RawNode] = {}
        self.applied: dict[str, list[Entry]] = {}
        self.read_states: dict[str, list[ReadState]] = {}
        self.queue: deque[Message] = deque()
        self.cut: set[tuple[str, str]] = set()
        self.filters: list[Filter] = []
        self.sent: list[Message] = []  # every message handed to the network, for assertions
        cs = ConfState(tuple(sorted(self.ids)), tuple(sorted(self.learners)))
        for node in [*self.ids, *self.learners, *joining]:
            storage = MemoryStorage()
            if bootstrap and node not in joining:
                storage.bootstrap(cs)
            self.storages[node] = storage
            self.start(node)

    def start(self, node: str, **overrides: object) -> RawNode:
        opts = {**self.config, **overrides}
        raw = RawNode(make_config(node, self.seed, **opts), self.storages[node])
        self.nodes[node] = raw
        self.applied.setdefault(node, [])
        self.read_states.setdefault(node, [])
        return raw

    def raft(self, node: str):
        return self.nodes[node].raft

    # -- faults -----------------------------------------------------------------------
    def isolate(self, node: str) -> None:
        for other in self.nodes:
            if other != node:
                self.cut.add((node, other))
                self.cut.add((other, node))

    def partition(self, *groups: Iterable[str]) -> None:
        sets = [set(g) for g in groups]
        for a in self.nodes:
            for b in self.nodes:
                if a != b and not any(a in s and b in s for s in sets):
                    self.cut.add((a, b))

    def heal(self) -> None:
        self.cut.clear()
        self.filters.clear()

    def drop_type(self, *types: MessageType) -> None:
        self.filters.append(lambda m: m.type not in types)

    # -- driving ----------------------------------------------------------------------
    def process(self, node: str) -> None:
        raw = self.nodes[node]
        while raw.has_ready():
            rd = raw.ready()
            self.storages[node].save(rd.hard_state, rd.entries, rd.snapshot)
            for m in rd.messages:
                self.sent.append(m)
                if (m.frm, m.to) in self.cut or not all(f(m) for f in self.filters):
                    continue
                self.queue.append(m)
            if rd.snapshot is not None:
                self.applied[node] = [Entry(rd.snapshot.term, rd.snapshot.index, EntryType.NOOP,
                                            b"<snapshot>")]
            self.read_states[node].extend(rd.read_states)
            for e in rd.committed_entries:
                if e.type == EntryType.CONF_CHANGE:
                    raw.apply_conf_change(decode_conf_change(e.data))
                self.applied[node].append(e)
            raw.advance(rd)

    def process_all(self) -> None:
        for node in list(self.nodes):
            self.process(node)

    def deliver(self, max_messages: int = 100_000) -> int:
        """Deliver queued messages (and their consequences) until the network is quiet."""
        count = 0
        self.process_all()
        while self.queue and count < max_messages:
            m = self.queue.popleft()
            count += 1
            if m.to in self.nodes:
                self.nodes[m.to].step(m)
                self.process(m.to)
        return count

    def tick(self, node: str, n: int = 1) -> None:
        for _ in range(n):
            self.nodes[node].tick()
        self.process(node)

    def tick_all(self, n: int = 1, deliver: bool = True) -> None:
        for _ in range(n):
            for node in list(self.nodes):
                self.nodes[node].tick()
            if deliver:
                self.deliver()

    def elect(self, node: str) -> None:
        self.nodes[node].campaign()
        self.deliver()
        assert self.nodes[node].role == StateRole.LEADER, self.raft(node)

    def propose(self, node: str, data: bytes) -> int:
        index = self.nodes[node].propose(data)
        self.deliver()
        return index

    def leader(self) -> str | None:
        leaders = [n for n, raw in self.nodes.items() if raw.role == StateRole.LEADER]
        return max(leaders, key=lambda n: self.nodes[n].term) if leaders else None

    def applied_data(self, node: str) -> list[bytes]:
        return [e.data for e in self.applied[node] if e.type == EntryType.NORMAL]

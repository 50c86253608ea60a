"""Helpers for driving a single Raft node by hand in tests: build a node with a given log,
step messages into it, and drain its Ready the way a driver would (persist, collect, advance)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh.raft import (
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    Snapshot,
)


def storage_with(voters: list[str], terms: list[int] | None = None, *, learners: list[str] | None = None,
                 hard_state: HardState | None = None) -> MemoryStorage:
    """A storage whose membership is given directly (no bootstrap entries), holding entries
    1..n with the given terms."""
    storage = MemoryStorage()
    storage._snapshot = Snapshot(0, 0, ConfState(tuple(sorted(voters)), tuple(sorted(learners or []))))
    entries = [Entry(t, i + 1, EntryType.NORMAL, f"e{i + 1}".encode()) for i, t in enumerate(terms or [])]
    storage.append(entries)
    if hard_state is not None:
        storage.set_hard_state(hard_state)
    return storage


def new_node(node: str, voters: list[str], terms: list[int] | None = None, *, term: int = 0,
             vote: str = "", commit: int = 0, learners: list[str] | None = None,
             **config: object) -> RawNode:
    hs = HardState(max([term, *(terms or [0])]), vote, commit)
    storage = storage_with(voters, terms, learners=learners, hard_state=hs)
    config.setdefault("seed", 1)
    return RawNode(Config(id=node, **config), storage)  # type: ignore[arg-type]


@dataclass
class Drained:
    messages: list[Message] = field(default_factory=list)
    committed: list[Entry] = field(default_factory=list)
    persisted: list[Entry] = field(default_factory=list)

    def of_type(self, t: MessageType) -> list[Message]:
        return [m for m in self.messages if m.type == t]

    def to(self, node: str) -> list[Message]:
        return [m for m in self.messages if m.to == node]


def drain(raw: RawNode) -> Drained:
    """Run the driver contract until nothing is ready; return what came out."""
    out = Drained()
    storage = raw.raft.log.storage
    while raw.has_ready():
        rd = raw.ready()
        storage.save(rd.hard_state, rd.entries, rd.snapshot)
        out.persisted.extend(rd.entries)
        out.messages.extend(rd.messages)
        out.committed.extend(rd.committed_entries)
        raw.advance(rd)
    return out


def msg(t: MessageType, frm: str, to: str, term: int, **fields: object) -> Message:
    return Message(t, to=to, frm=frm, term=term, **fields)  # type: ignore[arg-type]


def ents(*terms_from: tuple[int, int]) -> tuple[Entry, ...]:
    """ents((term, index), ...) with data naming the pair, for append messages."""
    return tuple(Entry(t, i, EntryType.NORMAL, f"t{t}i{i}".encode()) for t, i in terms_from)


def log_terms(raw: RawNode) -> list[int]:
    log = raw.raft.log
    return [log.term(i) for i in range(log.first_index(), log.last_index() + 1)]


def elect(raw: RawNode) -> Drained:
    """Make `raw` leader by granting it votes from every peer (pre-vote included)."""
    raw.campaign()
    out = drain(raw)
    for _ in range(2):  # pre-vote round, then vote round
        reqs = [m for m in out.messages if m.type in (MessageType.PRE_VOTE, MessageType.VOTE)]
        if not reqs:
            break
        for m in reqs:
            resp = MessageType.PRE_VOTE_RESP if m.type == MessageType.PRE_VOTE else MessageType.VOTE_RESP
            raw.step(msg(resp, m.to, raw.id, m.term))
        out = drain(raw)
    assert raw.is_leader, raw.raft
    return out

"""Simulated nodes and their driver: the Ready loop, crashes that lose unsynced state, restarts
from what was persisted, and the client-facing side (proposals, ReadIndex reads).

A node's MemoryStorage is its disk: the driver writes each Ready's entries/snapshot/hard state
there before sending its messages. A commit-only hard state (must_sync=False) stays in a
volatile buffer until the next synced write, so a crash can lose it, as a real page cache would.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from mesh.raft import (
    ConfChange,
    Config,
    EntryType,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    Ready,
    StateRole,
    decode_conf_change,
)
from mesh.raft.session import SESSION_EXPIRED, SessionStateMachine

from .invariants import Invariants
from .kv import KV
from .network import SimNetwork


@dataclass(slots=True)
class Proposal:
    op_id: int
    term: int


@dataclass(slots=True)
class PendingRead:
    op_id: int
    key: str
    index: int | None = None  # read index, once the leader confirmed it


@dataclass(slots=True)
class SimNode:
    id: str
    storage: MemoryStorage
    rate: int = 1  # ticks per tick round (clock skew)
    raw: RawNode | None = None
    kv: KV = field(default_factory=KV)
    fsm: SessionStateMachine | None = None
    pending_hs: HardState | None = None  # written but not fsynced
    proposals: dict[int, Proposal] = field(default_factory=dict)
    reads: dict[bytes, PendingRead] = field(default_factory=dict)
    retired: bool = False  # removed from the cluster and shut down

    @property
    def up(self) -> bool:
        return self.raw is not None and not self.retired


class Driver:
    """Runs nodes' Ready loops and reports client outcomes through callbacks."""

    def __init__(self, rng: random.Random, net: SimNetwork, inv: Invariants, config: dict[str, object],
                 on_result: Callable[[int, bytes], None], on_lost: Callable[[int], None],
                 on_read: Callable[[int, tuple[str, ...]], None],
                 trace: Callable[[str], None] | None) -> None:
        self.rng = rng
        self.net = net
        self.inv = inv
        self.config = config
        self.nodes: dict[str, SimNode] = {}
        self.on_result = on_result
        self.on_lost = on_lost
        self.on_read = on_read
        self.trace = trace
        self.stats: dict[str, int] = {}

    def bump(self, stat: str, n: int = 1) -> None:
        self.stats[stat] = self.stats.get(stat, 0) + n

    # -- lifecycle --------------------------------------------------------------------
    def start(self, node: SimNode) -> None:
        snap = node.storage.snapshot()
        cfg = Config(id=node.id, seed=self.rng.randrange(1 << 30), applied=snap.index,
                     **self.config)  # type: ignore[arg-type]
        node.kv = KV()
        node.fsm = SessionStateMachine(node.kv)
        if snap.index:
            node.fsm.restore(snap.data)
        node.raw = RawNode(cfg, node.storage)
        node.pending_hs = None
        self.inv.on_restart(node.id, node.raw, snap.index)

    def crash(self, node: SimNode) -> None:
        node.raw = None
        node.pending_hs = None
        self.net.drop_to(node.id)
        for p in node.proposals.values():
            self.on_lost(p.op_id)
        for r in node.reads.values():
            self.on_lost(r.op_id)
        node.proposals.clear()
        node.reads.clear()
        self.bump("crashes")

    def live(self) -> dict[str, RawNode]:
        return {n.id: n.raw for n in self.nodes.values() if n.raw is not None and not n.retired}

    # -- the Ready loop ---------------------------------------------------------------
    def deliver(self, m: Message, process_prob: float) -> None:
        node = self.nodes.get(m.to)
        if node is None or not node.up:
            return
        assert node.raw is not None
        node.raw.step(m)
        if self.rng.random() < process_prob:
            self.process(node)

    def process(self, node: SimNode, crash_mid_ready: bool = False) -> None:
        raw = node.raw
        if raw is None or node.retired:
            return
        while raw.has_ready():
            rd = raw.ready()
            if self.trace and rd.soft_state is not None:
                self.trace(f"  {node.id} is now {rd.soft_state.role.name} of term {raw.term} "
                           f"(leader {rd.soft_state.lead or '-'})")
            self.persist(node, raw, rd)
            if crash_mid_ready:
                self.crash(node)  # persisted, but its messages never left
                return
            for m in rd.messages:
                if not self.net.send(m) and self.rng.random() < 0.5:
                    # The transport noticed the peer is unreachable and tells Raft.
                    if m.type == MessageType.SNAP:
                        raw.report_snapshot(m.to, ok=False)
                    else:
                        raw.report_unreachable(m.to)
                    self.bump("unreachable_reports")
            self.apply(node, raw, rd)
            self.record_read_states(node, rd)
            raw.advance(rd)
            self.serve_reads(node)
            if node.retired:
                return

    def persist(self, node: SimNode, raw: RawNode, rd: Ready) -> None:
        if rd.hard_state is not None:
            node.pending_hs = rd.hard_state
        if rd.must_sync:
            node.storage.save(node.pending_hs, rd.entries, rd.snapshot)
            node.pending_hs = None
            self.inv.on_persist(node.id, raw, rd.entries)
            if rd.snapshot is not None:
                self.bump("snapshots_installed")

    def apply(self, node: SimNode, raw: RawNode, rd: Ready) -> None:
        assert node.fsm is not None
        if rd.snapshot is not None:
            node.fsm.restore(rd.snapshot.data)
            self.inv.on_apply_snapshot(node.id, rd.snapshot.index, rd.snapshot.term)
            for index in [i for i in node.proposals if i <= rd.snapshot.index]:
                self.on_lost(node.proposals.pop(index).op_id)  # outcome unknown here: retry
        for e in rd.committed_entries:
            self.inv.on_apply(node.id, e)
            result = b""
            if e.type == EntryType.NORMAL:
                result = node.fsm.apply(e.data)
            elif e.type == EntryType.CONF_CHANGE:
                cc = decode_conf_change(e.data)
                cs = raw.apply_conf_change(cc)
                self.bump("conf_changes_applied")
                if self.trace:
                    self.trace(f"  {node.id} applies {cc.type.name} {cc.node_id} -> {cs}")
                if cc.node_id == node.id and node.id not in cs.voters + cs.learners:
                    self.retire(node)
            prop = node.proposals.pop(e.index, None)
            if prop is not None:
                if prop.term == e.term and result != SESSION_EXPIRED:
                    self.on_result(prop.op_id, result)
                else:
                    self.on_lost(prop.op_id)  # another leader's entry took that index
            if node.retired:
                return

    def retire(self, node: SimNode) -> None:
        if self.trace:
            self.trace(f"  {node.id} was removed: shutting it down")
        for p in node.proposals.values():
            self.on_lost(p.op_id)
        for r in node.reads.values():
            self.on_lost(r.op_id)
        node.proposals.clear()
        node.reads.clear()
        node.retired = True
        self.net.drop_to(node.id)

    def serve_reads(self, node: SimNode) -> None:
        raw = node.raw
        if raw is None or not node.reads:
            return
        applied = raw.raft.log.applied
        for ctx in [c for c, r in node.reads.items() if r.index is not None and r.index <= applied]:
            read = node.reads.pop(ctx)
            self.on_read(read.op_id, node.kv.read(read.key))

    def record_read_states(self, node: SimNode, rd: Ready) -> None:
        for rs in rd.read_states:
            read = node.reads.get(rs.context)
            if read is not None:
                read.index = rs.index

    # -- administrative requests ------------------------------------------------------
    def leader(self) -> SimNode | None:
        best: SimNode | None = None
        for n in self.nodes.values():
            if (n.up and n.raw is not None and n.raw.role == StateRole.LEADER
                    and (best is None or (best.raw is not None and n.raw.term > best.raw.term))):
                best = n
        return best

    def conf_change(self, leader: SimNode, cc: ConfChange) -> bool:
        assert leader.raw is not None
        try:
            leader.raw.propose_conf_change(cc)
        except Exception as exc:
            if self.trace:
                self.trace(f"  conf change {cc.type.name} {cc.node_id} refused: {exc}")
            return False
        self.bump("conf_changes_proposed")
        return True

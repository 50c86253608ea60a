"""The Raft driver: runs a `RawNode` on the node's event loop over SQLite storage and the transport.

It owns the only loop that turns `Ready` into effects, in the order Raft requires: persist
(one fsynced SQLite transaction per Ready: the group commit), then send, then apply, then
`advance`. Proposals return futures resolved with the state machine's result once the entry is
committed and applied here; reads wait on ReadIndex. Everything that arrives while a Ready is
being handled (the receive loop drains up to a thousand messages per wake-up) lands in the next
Ready, so many proposals share one fsync and one append message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh.config import DEFAULT_SNAPSHOT_EVERY
from mesh.raft import (
    NONE,
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    EntryType,
    Message,
    NotLeader,
    ProposalDropped,
    RawNode,
    Ready,
    SessionStateMachine,
    StateRole,
    decode_conf_change,
)
from mesh.raft.sqlite_storage import SQLiteStorage
from mesh.state import ClusterState, Command, encode_command, parse_member_context

log = logging.getLogger("mesh.raft")

DEFAULT_TICK_S = 0.015
"""Wall-clock length of one Raft tick. With election_tick 10 a follower campaigns after
150-300 ms without a leader; heartbeats go out every 2 ticks (30 ms)."""

KEEP_ENTRIES = 5_000  # entries kept behind a snapshot, so slow followers rarely need one


class NotLeaderError(Exception):
    """This node is not the leader; `leader_address` is where to go (None if unknown)."""

    def __init__(self, leader_address: str | None) -> None:
        super().__init__(f"not the leader (leader at {leader_address or 'unknown'})")
        self.leader_address = leader_address


class OutcomeUnknownError(Exception):
    """Leadership changed before the proposal committed here: it may or may not commit.
    Retrying with the same (client_id, seq) is safe: sessions apply it at most once."""


@dataclass(frozen=True, slots=True)
class RaftTiming:
    tick_s: float = DEFAULT_TICK_S
    election_tick: int = 10
    heartbeat_tick: int = 2


SendFn = Callable[[str, Message], bool]  # (address, message) -> delivered to the socket


class Replica:
    """One coordinator's (or observer's) replica of the cluster state."""

    def __init__(self, node_id: str, address: str, data_dir: Path, send: SendFn,
                 timing: RaftTiming | None = None, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        self.node_id = node_id
        self.address = address
        self.timing = timing or RaftTiming()
        self.snapshot_every = snapshot_every  # applied entries between snapshots
        self.send = send
        self.state = ClusterState()
        self.fsm = SessionStateMachine(self.state)
        self.storage = SQLiteStorage(data_dir / "raft.db")
        self.addresses: dict[str, str] = {node_id: address}
        self._pending: dict[int, tuple[int, asyncio.Future[bytes]]] = {}
        self._reads: dict[bytes, asyncio.Future[int]] = {}
        self._read_waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._read_ids = itertools.count(1)
        self._scheduled = False
        self._stopped = False
        self._tick_task: asyncio.Task[None] | None = None
        self._since_snapshot = 0
        self.raw: RawNode | None = None
        self.leader_changed = asyncio.Event()
        self.on_apply: list[Callable[[int, bytes, bytes], None]] = []
        # Called after the state machine was replaced by a snapshot (at start, or one installed
        # from the leader): what was derived from applied entries must be derived from it.
        self.on_restore: list[Callable[[], None]] = []
        # The last log index when this replica started: entries up to it may have been applied
        # (and their effects written) by an earlier run of this node.
        self.recovered_through = 0

    # --- start and stop --------------------------------------------------------------------

    @property
    def is_new(self) -> bool:
        """No log, no vote, no snapshot: this replica has never been part of a cluster."""
        hs, cs = self.storage.initial_state()
        return hs.term == 0 and not cs.voters and not cs.learners and self.storage.last_index() == 0

    def bootstrap(self) -> None:
        """Found a new cluster with this node as its only voter."""
        self.storage.bootstrap(ConfState(voters=(self.node_id,)))
        log.info("bootstrapped a new cluster with %s as its only voter", self.node_id)

    def start(self) -> None:
        snap = self.storage.snapshot()
        self.recovered_through = self.storage.last_index()
        if snap.index:
            self.fsm.restore(snap.data)
            for callback in self.on_restore:
                callback()
        applied = snap.index
        self.raw = RawNode(Config(id=self.node_id, election_tick=self.timing.election_tick,
                                  heartbeat_tick=self.timing.heartbeat_tick, applied=applied,
                                  seed=int.from_bytes(os.urandom(8), "big")), self.storage)
        for member in self.state.members.values():
            if member.address:
                self.addresses.setdefault(member.node_id, member.address)
        # Entries after the snapshot are re-applied through Ready; their conf changes carry
        # addresses we need before that (to answer the leader), so read them now.
        last = self.storage.last_index()
        if last > applied:
            for entry in self.storage.entries(max(applied + 1, self.storage.first_index()), last + 1):
                if entry.type is EntryType.CONF_CHANGE:
                    self._learn_member(decode_conf_change(entry.data))
        self._tick_task = asyncio.get_running_loop().create_task(self._ticker(), name="raft-tick")
        self._schedule()

    def halt(self) -> None:
        """Stop ticking and close storage at once: for a replica that never joined a cluster and
        is being replaced (see `CoordinatorRole._maybe_found_cluster`)."""
        if self._tick_task is not None:
            self._tick_task.cancel()
        self._stopped = True
        self.storage.close()

    async def stop(self, transfer_timeout_s: float = 1.0) -> None:
        """Hand leadership to a caught-up follower (if we lead), then stop ticking."""
        if self.raw is not None and self.raw.is_leader:
            await self._transfer_before_stop(transfer_timeout_s)
        if self._tick_task is not None:
            self._tick_task.cancel()
        for _, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(OutcomeUnknownError("node is shutting down"))
        self._pending.clear()
        self._stopped = True  # a Ready scheduled before now must not touch the closed storage
        self.storage.close()

    async def _transfer_before_stop(self, timeout_s: float) -> None:
        assert self.raw is not None
        status = self.raw.status()
        followers = [(pr.match, node) for node, pr in status.progress.items()
                     if node != self.node_id and not pr.is_learner]
        if not followers:
            return
        _, target = max(followers)
        log.info("handing leadership to %s before stopping", target)
        self.raw.transfer_leadership(target)
        self._schedule()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.raw.is_leader:
            await asyncio.sleep(self.timing.tick_s)

    async def _ticker(self) -> None:
        interval = self.timing.tick_s
        next_at = time.monotonic()
        while True:
            next_at += interval
            await asyncio.sleep(max(next_at - time.monotonic(), 0))
            if time.monotonic() - next_at > 10 * interval:
                next_at = time.monotonic()  # the loop was stalled: do not fire a burst of ticks
            assert self.raw is not None
            self.raw.tick()
            self._schedule()

    # --- inputs ------------------------------------------------------------------------------

    def step(self, sender_address: str, msg: Message) -> None:
        if self.raw is None:
            return
        if msg.frm and sender_address:
            self.addresses[msg.frm] = sender_address
        self.raw.step(msg)
        self._schedule()

    def propose(self, command: bytes) -> tuple[int, asyncio.Future[bytes]]:
        """Propose `command`: its log index, and a future resolved with its result once applied here."""
        raw = self._leader_raw()
        try:
            index = raw.propose(command)
        except NotLeader:
            raise NotLeaderError(self.leader_address) from None
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[index] = (raw.term, fut)
        self._schedule()
        return index, fut

    def propose_conf_change(self, cc: ConfChange) -> asyncio.Future[bytes]:
        raw = self._leader_raw()
        index = raw.propose_conf_change(cc)  # ProposalDropped if another change is pending
        self._learn_member(cc)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[index] = (raw.term, fut)
        self._schedule()
        return fut

    def transfer_leadership(self, target: str) -> None:
        """Ask the Raft core to hand leadership to `target` (it must be a caught-up voter)."""
        assert self.raw is not None
        self.raw.transfer_leadership(target)
        self._schedule()

    async def read_barrier(self) -> int:
        """Wait until this replica has applied everything committed before the call
        (ReadIndex: linearizable). Returns the read index."""
        if self.raw is None:
            raise NotLeaderError(None)
        ctx = f"{self.node_id}:{next(self._read_ids)}".encode()
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reads[ctx] = fut
        self.raw.read_index(ctx)
        self._schedule()
        try:
            return await fut
        finally:
            self._reads.pop(ctx, None)

    def _leader_raw(self) -> RawNode:
        if self.raw is None or not self.raw.is_leader:
            raise NotLeaderError(self.leader_address)
        return self.raw

    # --- the Ready loop ----------------------------------------------------------------------

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._process_ready)

    def _process_ready(self) -> None:
        self._scheduled = False
        raw = self.raw
        if raw is None or self._stopped:
            return
        while raw.has_ready():
            rd = raw.ready()
            self._handle(raw, rd)
            raw.advance(rd)
        if self._since_snapshot >= self.snapshot_every:
            self._since_snapshot = 0
            raw.compact(self.fsm.snapshot(), keep_entries=KEEP_ENTRIES)

    def _handle(self, raw: RawNode, rd: Ready) -> None:
        # 1. persist: one transaction, fsynced, before anything that depends on it leaves.
        for entry in rd.entries:
            if entry.type is EntryType.CONF_CHANGE:
                self._learn_member(decode_conf_change(entry.data))
        self.storage.save(rd.hard_state, rd.entries, rd.snapshot, sync=rd.must_sync)
        # 2. send
        for msg in rd.messages:
            address = self.addresses.get(msg.to)
            if address is None or not self.send(address, msg):
                raw.report_unreachable(msg.to)
        # 3. apply
        if rd.snapshot is not None and rd.snapshot.index:
            self.fsm.restore(rd.snapshot.data)
            for callback in self.on_restore:
                callback()
            for member in self.state.members.values():
                if member.address:
                    self.addresses.setdefault(member.node_id, member.address)
            self._fail_pending_up_to(rd.snapshot.index)
        for entry in rd.committed_entries:
            self._apply_entry(raw, entry.index, entry.term, entry.type, entry.data)
        if rd.soft_state is not None:
            self._on_soft_state(rd.soft_state.lead, rd.soft_state.role)
        for read in rd.read_states:
            fut = self._reads.get(read.context)
            if fut is not None and not fut.done():
                self._read_waiters.append((read.index, fut))
        if self._read_waiters:
            applied = raw.raft.log.applied if not rd.committed_entries else rd.committed_entries[-1].index
            ready = [(i, f) for i, f in self._read_waiters if i <= applied]
            self._read_waiters = [(i, f) for i, f in self._read_waiters if i > applied]
            for index, fut in ready:
                if not fut.done():
                    fut.set_result(index)

    def _apply_entry(self, raw: RawNode, index: int, term: int, kind: EntryType, data: bytes) -> None:
        result = b""
        if kind is EntryType.CONF_CHANGE:
            cc = decode_conf_change(data)
            raw.apply_conf_change(cc)
            self.state.apply_conf_change(cc)
        elif kind is EntryType.NORMAL and data:
            result = self.fsm.apply(data)
            for callback in self.on_apply:
                callback(index, data, result)
        self._since_snapshot += 1
        pending = self._pending.pop(index, None)
        if pending is not None:
            proposed_term, fut = pending
            if fut.done():
                return
            if proposed_term == term:
                fut.set_result(result)
            else:
                fut.set_exception(OutcomeUnknownError("the entry was replaced by a new leader"))

    def _fail_pending_up_to(self, index: int) -> None:
        for i in [i for i in self._pending if i <= index]:
            _, fut = self._pending.pop(i)
            if not fut.done():
                fut.set_exception(OutcomeUnknownError("replaced by a snapshot"))

    def _on_soft_state(self, lead: str, role: StateRole) -> None:
        self.leader_changed.set()
        self.leader_changed = asyncio.Event()
        log.info("raft: %s is %s, leader %s", self.node_id, role.name.lower(), lead or "unknown")
        if role is not StateRole.LEADER:
            for index in list(self._pending):
                _, fut = self._pending.pop(index)
                if not fut.done():
                    fut.set_exception(OutcomeUnknownError("leadership changed"))
        else:
            self._claim_address()

    def _claim_address(self) -> None:
        """A new leader makes sure the directory holds its current address (first election,
        or restarted on another port)."""
        me = self.state.members.get(self.node_id)
        if me is None or me.address != self.address:
            roles = me.roles if me else ("coordinator",)
            with contextlib.suppress(NotLeaderError, ProposalDropped):
                self.propose(encode_command(Command.MEMBER_UPDATE, self.node_id, self.address,
                                            "voter", list(roles)))

    def _learn_member(self, cc: ConfChange) -> None:
        if cc.type is ConfChangeType.REMOVE_NODE:
            return
        address, _ = parse_member_context(cc.context)
        if address:
            self.addresses[cc.node_id] = address

    # --- what status shows -------------------------------------------------------------------

    @property
    def leader_id(self) -> str | None:
        lead = self.raw.lead if self.raw is not None else NONE
        return lead or None

    @property
    def leader_address(self) -> str | None:
        lead = self.leader_id
        return self.addresses.get(lead) if lead else None

    def members(self) -> list[tuple[str, str, str]]:
        """(node_id, address, role) for every member, roles as this node sees them."""
        if self.raw is None:
            return []
        status = self.raw.status()
        conf = status.conf_state
        out = []
        for node in sorted(set(conf.voters) | set(conf.learners)):
            if node in conf.learners:
                role = "learner"
            elif node == status.lead:
                role = "leader"
            elif node == self.node_id:
                role = status.role_name
            else:
                role = "follower"
            out.append((node, self.addresses.get(node, ""), role))
        return out

    def status_fields(self) -> dict[str, Any]:
        if self.raw is None:
            return {}
        status = self.raw.status()
        return {"leader": self.leader_id, "term": status.term, "commit_index": status.commit,
                "applied_index": status.applied, "raft_role": status.role_name}

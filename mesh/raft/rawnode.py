"""`RawNode`: the driver-facing API over the `Raft` core (etcd's RawNode).

The driver (mesh/node.py, or the simulator) calls `tick()` on a timer, `step()` with every
message from a peer, the `propose*`/`read_index`/`transfer_leadership` methods for local
requests, and loops `if has_ready(): rd = ready(); <persist, send, apply>; advance(rd)`.
Local requests raise `ProposalDropped`/`NotLeader` synchronously; network input never raises
for protocol reasons (a refused forwarded request is simply dropped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from .config import Config
from .core import Raft
from .errors import LocalProtocolError, NotLeader, ProposalDropped
from .messages import (
    CAMPAIGN_ELECTION,
    CAMPAIGN_PRE_ELECTION,
    LOCAL_MESSAGES,
    NONE,
    RESPONSE_MESSAGES,
    ConfChange,
    ConfState,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    StateRole,
    encode_conf_change,
)
from .progress import ProgressState
from .ready import PeerProgress, Ready, SoftState, Status, must_sync
from .storage import Storage


class RawNode:
    """One Raft peer, driven by its caller. Not thread-safe: call it from one loop."""

    def __init__(self, config: Config, storage: Storage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft = self._soft_state()
        self._prev_hard = self.raft.hard_state()

    # -- identity ---------------------------------------------------------------------
    @property
    def id(self) -> str:
        return self.raft.id

    @property
    def term(self) -> int:
        return self.raft.term

    @property
    def lead(self) -> str:
        return self.raft.lead

    @property
    def role(self) -> StateRole:
        return self.raft.role

    @property
    def is_leader(self) -> bool:
        return self.raft.role == StateRole.LEADER

    def _soft_state(self) -> SoftState:
        return SoftState(self.raft.lead, self.raft.role)

    # -- inputs -----------------------------------------------------------------------
    def tick(self) -> None:
        """Advance logical time by one tick (the node loop: every 15 ms)."""
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (with a pre-vote first when enabled)."""
        self.raft.hup(CAMPAIGN_PRE_ELECTION if self.raft.pre_vote else CAMPAIGN_ELECTION)

    def step(self, m: Message) -> None:
        """Feed one message received from a peer. Garbage-free input never raises here."""
        if m.type in LOCAL_MESSAGES:
            raise LocalProtocolError(f"{m.type.name} is a local message; peers may not send it")
        if m.to not in (NONE, self.raft.id):
            return  # misrouted
        if m.term == 0 and m.type != MessageType.READ_INDEX:
            return  # only forwarded ReadIndex requests travel without a term
        if m.type in RESPONSE_MESSAGES and m.frm not in self.raft.tracker.progress:
            return  # a response from a peer that is not (or no longer) a member
        # e.g. a forwarded ReadIndex reaching a node without a leader: drop it
        with contextlib.suppress(ProposalDropped):
            self.raft.step(m)

    def propose(self, data: bytes) -> int:
        """Append one command; returns its log index (the entry's term is `self.term`).

        Raises NotLeader (with the leader hint) or ProposalDropped. The entry is sent to
        followers at the next `ready()`, batched with every other proposal made before it.
        """
        return self.raft.propose_commands((data,))

    def propose_batch(self, commands: Sequence[bytes]) -> int:
        """Append several commands at once; returns the index of the first one."""
        if not commands:
            raise LocalProtocolError("empty batch")
        return self.raft.propose_commands(commands) - len(commands) + 1

    def propose_conf_change(self, cc: ConfChange) -> int:
        """Propose one membership change; returns its index.

        Refused (ProposalDropped) unless this leader has committed an entry of its term, the
        previous change is committed, and `cc` is valid for the current membership. The change
        takes effect on each node as soon as the entry is in its log (thesis §4.1).
        """
        self.raft.check_conf_change_allowed(cc)
        return self.raft.propose_commands((encode_conf_change(cc),), EntryType.CONF_CHANGE)

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Called by drivers when they apply a committed CONF_CHANGE entry; returns the
        membership in force. Optional: the core already uses each change from the moment it
        was appended, so this changes nothing (it exists for etcd-style drivers)."""
        return self.raft.conf_state()

    def conf_state(self) -> ConfState:
        """The membership in force now (the latest in the log, committed or not)."""
        return self.raft.conf_state()

    def conf_state_at(self, index: int) -> ConfState:
        """The membership once entry `index` is in the log (e.g. at the applied index)."""
        return self.raft.membership.at(index)

    def transfer_leadership(self, to: str) -> None:
        """Ask the leader to hand leadership to `to` (forwarded when we are a follower).

        The leader stops accepting proposals, brings `to` up to date, then sends TimeoutNow;
        the transfer is abandoned after one election timeout.
        """
        if to not in self.raft.tracker.voters:
            raise ProposalDropped(f"{to} is not a voter")
        self.raft.step(Message(MessageType.TRANSFER_LEADER, frm=to, to=self.raft.id))

    def read_index(self, context: bytes) -> None:
        """Request a linearizable read point. The answer arrives as a `ReadState` with the same
        `context` in a later Ready; serve the read once applied >= its index. `context` must
        be unique cluster-wide (e.g. node id + counter). Raises NotLeader with no leader known.
        """
        if not context:
            raise LocalProtocolError("read_index needs a non-empty context")
        if self.raft.role == StateRole.CANDIDATE or self.raft.role == StateRole.PRE_CANDIDATE:
            raise NotLeader(NONE)
        self.raft.step(Message(MessageType.READ_INDEX, frm=NONE, context=context))

    def report_unreachable(self, node: str) -> None:
        """The transport failed to deliver to `node`: stop pipelining to it, probe instead."""
        if self.is_leader and node in self.raft.tracker.progress:
            self.raft.step(Message(MessageType.UNREACHABLE, frm=node))

    def report_snapshot(self, node: str, ok: bool) -> None:
        """The transport reports a snapshot transfer to `node` outcome (failure aborts it)."""
        if self.is_leader and node in self.raft.tracker.progress:
            self.raft.step(Message(MessageType.SNAP_STATUS, frm=node, reject=not ok))

    # -- output -----------------------------------------------------------------------
    def has_ready(self) -> bool:
        r = self.raft
        r.flush()
        if r.msgs or r.read_states or r.log.unstable.entries or r.log.unstable.snapshot:
            return True
        if self._soft_state() != self._prev_soft:
            return True
        hs = r.hard_state()
        if hs != HardState() and hs != self._prev_hard:
            return True
        return r.log.has_next_committed_entries()

    def ready(self) -> Ready:
        """Collect everything to persist, send and apply. Call `advance` when done with it."""
        r = self.raft
        r.flush()
        rd = Ready(entries=r.log.unstable_entries(), committed_entries=r.log.next_committed_entries(),
                   messages=r.msgs, snapshot=r.log.unstable.snapshot)
        soft = self._soft_state()
        if soft != self._prev_soft:
            rd.soft_state = soft
            self._prev_soft = soft
        hs = r.hard_state()
        if hs != self._prev_hard:
            rd.hard_state = hs
        if r.read_states:
            rd.read_states = r.read_states
            r.read_states = []
        rd.must_sync = must_sync(hs, self._prev_hard, len(rd.entries), rd.snapshot is not None)
        r.msgs = []
        return rd

    def advance(self, rd: Ready) -> None:
        """Everything in `rd` was persisted, sent and applied."""
        r = self.raft
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        r.reduce_uncommitted_size(rd.committed_entries)
        applied = rd.applied_cursor()
        if applied > 0:
            r.log.applied_to(applied)
        if rd.entries:
            last = rd.entries[-1]
            r.log.stable_to(last.index, last.term)
        if rd.snapshot is not None:
            r.log.stable_snap_to(rd.snapshot.index)

    # -- compaction -------------------------------------------------------------------
    def compact(self, data: bytes, keep_entries: int = 0) -> Snapshot:
        """Record a snapshot of the state machine at the applied index and drop the log up to
        `applied - keep_entries`. Call between `advance()` and the next `ready()`, with `data`
        the image of the state machine at exactly `status().applied`."""
        r = self.raft
        applied = r.log.applied
        storage = r.log.storage
        snap = storage.snapshot()
        if applied > snap.index:
            snap = storage.create_snapshot(applied, r.membership.at(applied), data)
            r.membership.compact(applied)
        upto = min(applied - keep_entries, snap.index)
        if upto >= storage.first_index():
            storage.compact(upto)
        return snap

    # -- introspection ----------------------------------------------------------------
    def learner_caught_up(self, node: str, max_lag: int = 0) -> bool:
        """Leader only: is learner `node` recently active and within `max_lag` entries of our
        commit index? The driver promotes it (PROMOTE_LEARNER) once this holds."""
        r = self.raft
        pr = r.tracker.progress.get(node)
        if not self.is_leader or pr is None or node not in r.tracker.learners:
            return False
        return pr.recent_active and pr.state == ProgressState.REPLICATE and (
            pr.match + max_lag >= r.log.committed)

    def status(self) -> Status:
        r = self.raft
        progress: dict[str, PeerProgress] = {}
        if self.is_leader:
            for node, pr in sorted(r.tracker.progress.items()):
                progress[node] = PeerProgress(pr.match, pr.next, pr.state.name.lower(),
                                              pr.is_learner, pr.recent_active, pr.is_paused(),
                                              len(pr.inflights))
        return Status(r.id, r.term, r.vote, r.log.committed, r.log.applied, r.lead, r.role,
                      r.lead_transferee, r.conf_state(), r.log.last_index(),
                      r.log.first_index(), progress)

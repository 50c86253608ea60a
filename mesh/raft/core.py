"""`Raft`: the Raft state machine — terms, votes, roles, and the rules every role shares.

All input enters through `step(m)` (timers as local messages from `tick()`); all output is left in
`msgs`, `read_states` and the log for `RawNode` to package as a Ready. Role-specific behaviour is
selected by pointing `step_fn`/`tick_fn` at functions in `follower.py` and `leader.py`;
leader-side sending lives in `replication.py`. No I/O, no clocks, no threads: randomness comes
from a seeded `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from . import follower, leader, replication
from .config import Config
from .errors import LocalProtocolError, NotLeader, ProposalDropped, RaftInvariantError
from .log import RaftLog
from .membership import MembershipLog
from .messages import (
    CAMPAIGN_ELECTION,
    CAMPAIGN_PRE_ELECTION,
    CAMPAIGN_TRANSFER,
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    StateRole,
    payload_size,
)
from .quorum import VoteResult
from .read_only import ReadOnly, ReadState
from .snapshot_transfer import IncomingSnapshot, OutgoingSnapshot
from .storage import Storage
from .tracker import ProgressTracker

_VOTE_RESP = {MessageType.VOTE: MessageType.VOTE_RESP,
              MessageType.PRE_VOTE: MessageType.PRE_VOTE_RESP}


class Raft:
    """One Raft peer. Drive it through `RawNode`; tests may poke at it directly."""

    def __init__(self, config: Config, storage: Storage) -> None:
        config.validate()
        self.id = config.id
        self.log = RaftLog(storage, config.max_committed_size_per_ready)
        self.max_msg_size = config.max_size_per_msg
        self.max_uncommitted_size = config.max_uncommitted_entries_size
        self.snapshot_chunk_size = config.snapshot_chunk_size
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote
        self.step_down_on_removal = config.step_down_on_removal
        self.heartbeat_timeout = config.heartbeat_tick
        self.election_timeout = config.election_tick
        self.rng = random.Random(config.seed)
        self.tracker = ProgressTracker(config.max_inflight_msgs, config.max_inflight_bytes)

        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.role = StateRole.FOLLOWER
        self.is_learner = False
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.lead_transferee = NONE
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.pending_read_index_messages: list[Message] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout
        self.snapshots_out: dict[str, OutgoingSnapshot] = {}
        self.snapshot_in: IncomingSnapshot | None = None
        self.needs_bcast = False  # proposals appended since the last broadcast (batched sends)
        self.step_fn: Callable[[Raft, Message], None] = follower.step_follower
        self.tick_fn: Callable[[Raft], None] = follower.tick_election

        hard_state, conf_state = storage.initial_state()
        snap_index = storage.snapshot().index
        self.membership = MembershipLog(snap_index, conf_state)
        if storage.last_index() > snap_index:
            self.membership.append(storage.entries(snap_index + 1, storage.last_index() + 1))
        self.tracker.set_conf_state(self.membership.current(), self.log.last_index() + 1)
        self._refresh_self_progress()
        if hard_state != HardState():
            self._load_state(hard_state)
        # Entries covered by the stored snapshot are committed (and, restored from it, applied)
        # even if the commit index in the hard state was written lazily and lost in a crash.
        self.log.committed = max(self.log.committed, snap_index)
        self.log.applied = max(self.log.applied, snap_index)
        if config.applied > self.log.applied:
            if config.applied > self.log.last_index():
                raise LocalProtocolError(
                    f"config.applied {config.applied} is past the last stored entry "
                    f"{self.log.last_index()}: the state machine is ahead of the log")
            # A durable state machine applied these, so they were committed.
            self.log.committed = max(self.log.committed, config.applied)
            self.log.applied_to(config.applied)
        self.become_follower(self.term, NONE)

    def __repr__(self) -> str:
        return (f"Raft({self.id} {self.role.name} term={self.term} lead={self.lead or '-'} "
                f"{self.log!r})")

    # -- state --------------------------------------------------------------------------
    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.log.committed)

    def _load_state(self, hs: HardState) -> None:
        if hs.commit > self.log.last_index():
            raise RaftInvariantError(
                f"{self.id}: hard state commit {hs.commit} is past last index {self.log.last_index()}")
        # A snapshot newer than the persisted commit is committed by definition: keep the max.
        self.log.committed = max(self.log.committed, hs.commit)
        self.term = hs.term
        self.vote = hs.vote

    def _refresh_self_progress(self) -> None:
        me = self.tracker.progress.get(self.id)
        self.is_learner = me is not None and me.is_learner
        if me is not None:
            me.maybe_update(self.log.last_index())

    def membership_changed(self) -> None:
        """The latest membership in our log changed (append, truncation or snapshot)."""
        # New peers start probing at our last entry (usually the conf change itself).
        departing_at = self.membership.last_change_index() if self.role == StateRole.LEADER else 0
        self.tracker.set_conf_state(self.membership.current(), self.log.last_index(),
                                    departing_at, self.id)
        self._refresh_self_progress()
        if self.role != StateRole.LEADER:
            return
        self.maybe_commit()  # the quorum changed
        self.needs_bcast = True  # new peers need appends; everyone may need the new commit
        if self.lead_transferee != NONE and self.lead_transferee not in self.tracker.voters:
            self.abort_leader_transfer()

    def conf_state(self) -> ConfState:
        """The membership in force: the latest in our log, committed or not."""
        return self.membership.current()

    def promotable(self) -> bool:
        """May this node campaign? Only voters (learners and removed nodes never do)."""
        return self.id in self.tracker.voters and self.log.unstable.snapshot is None

    def committed_entry_in_current_term(self) -> bool:
        return self.log.term_or_zero(self.log.committed) == self.term

    def past_election_timeout(self) -> bool:
        return self.election_elapsed >= self.randomized_election_timeout

    def reset_randomized_election_timeout(self) -> None:
        self.randomized_election_timeout = (
            self.election_timeout + self.rng.randrange(self.election_timeout))

    # -- sending ------------------------------------------------------------------------
    def send(self, m: Message) -> None:
        """Queue `m` for the driver (sent after the Ready that carries it is persisted)."""
        self.msgs.append(m)

    def msg(self, type_: MessageType, to: str, **fields: object) -> Message:
        """A message from us; `term` defaults to ours ((pre)vote replies pass their own)."""
        fields.setdefault("term", self.term)
        return Message(type_, to=to, frm=self.id, **fields)  # type: ignore[arg-type]

    # -- role changes -------------------------------------------------------------------
    def reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.reset_randomized_election_timeout()
        self.abort_leader_transfer()
        self.tracker.reset_votes()
        last = self.log.last_index()
        fresh_progress = {}
        for node, pr in self.tracker.progress.items():
            if pr.departing:
                continue  # only the leader that removed a peer keeps talking to it
            fresh = self.tracker.new_progress(last + 1, pr.is_learner)
            fresh.recent_active = False
            if node == self.id:
                fresh.match = last
                fresh.recent_active = True
            fresh_progress[node] = fresh
        self.tracker.progress = fresh_progress
        self.uncommitted_size = 0
        self.read_only = ReadOnly()
        self.snapshots_out.clear()
        self.needs_bcast = False

    def become_follower(self, term: int, lead: str) -> None:
        self.step_fn = follower.step_follower
        self.tick_fn = follower.tick_election
        self.reset(term)
        self.lead = lead
        self.role = StateRole.FOLLOWER
        self._drop_pending_reads()

    def become_candidate(self) -> None:
        if self.role == StateRole.LEADER:
            raise RaftInvariantError("invalid transition leader -> candidate")
        self.step_fn = follower.step_candidate
        self.tick_fn = follower.tick_election
        self.reset(self.term + 1)
        self.vote = self.id
        self.role = StateRole.CANDIDATE

    def become_pre_candidate(self) -> None:
        if self.role == StateRole.LEADER:
            raise RaftInvariantError("invalid transition leader -> pre-candidate")
        # Pre-candidates keep their term and vote: only a real election changes them.
        self.step_fn = follower.step_candidate
        self.tick_fn = follower.tick_election
        self.tracker.reset_votes()
        self.lead = NONE
        self.role = StateRole.PRE_CANDIDATE

    def become_leader(self) -> None:
        if self.role == StateRole.FOLLOWER:
            raise RaftInvariantError("invalid transition follower -> leader")
        self.step_fn = leader.step_leader
        self.tick_fn = leader.tick_heartbeat
        self.reset(self.term)
        self.lead = self.id
        self.role = StateRole.LEADER
        me = self.tracker.progress[self.id]
        me.become_replicate()
        me.recent_active = True
        noop = Entry(0, 0, EntryType.NOOP)
        if not self.append_entries([noop]):
            raise RaftInvariantError("empty entry was dropped")
        self.needs_bcast = True

    def _drop_pending_reads(self) -> None:
        self.pending_read_index_messages.clear()

    # -- the single entry point ---------------------------------------------------------
    def step(self, m: Message) -> None:
        """Process one message (local or from a peer). See Figure 2 and etcd's raft.Step."""
        if m.term == 0:
            pass  # local message (or a forwarded PROP/READ_INDEX)
        elif m.term > self.term:
            if m.type in (MessageType.VOTE, MessageType.PRE_VOTE):
                force = m.context == CAMPAIGN_TRANSFER
                in_lease = (self.check_quorum and self.lead != NONE
                            and self.election_elapsed < self.election_timeout)
                if not force and in_lease:
                    # We heard from a live leader within the election timeout: a (pre)vote now
                    # comes from a disruptive node. Ignore it without bumping our term.
                    return
            if m.type == MessageType.PRE_VOTE:
                pass  # never change term because of a pre-vote
            elif m.type == MessageType.PRE_VOTE_RESP and not m.reject:
                pass  # a granted pre-vote echoes our future term; the election will bump it
            elif m.type in (MessageType.APP, MessageType.HEARTBEAT, MessageType.SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if m.type in (MessageType.HEARTBEAT, MessageType.APP, MessageType.SNAP):
                # AppendEntries rule 1: reply false with our term, so a stale leader steps
                # down (with pre-vote a partitioned node's term does not grow: the old leader
                # cannot learn it from vote requests).
                self.send(self.msg(MessageType.APP_RESP, m.frm))
            elif m.type in (MessageType.VOTE, MessageType.PRE_VOTE):
                # RequestVote rule 1: reply false, with our term so the candidate catches up.
                self.send(self.msg(_VOTE_RESP[m.type], m.frm, reject=True))
            return

        if m.type == MessageType.HUP:
            self.hup(CAMPAIGN_PRE_ELECTION if self.pre_vote else CAMPAIGN_ELECTION)
        elif m.type in (MessageType.VOTE, MessageType.PRE_VOTE):
            self._handle_vote_request(m)
        else:
            self.step_fn(self, m)

    def _handle_vote_request(self, m: Message) -> None:
        can_vote = (self.vote == m.frm
                    or (self.vote == NONE and self.lead == NONE)
                    or (m.type == MessageType.PRE_VOTE and m.term > self.term))
        resp = _VOTE_RESP[m.type]
        if can_vote and self.log.is_up_to_date(m.index, m.log_term):
            # Granted responses carry the request's term (for pre-votes: our future term).
            self.send(self.msg(resp, m.frm, term=m.term))
            if m.type == MessageType.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.send(self.msg(resp, m.frm, reject=True))

    # -- elections ----------------------------------------------------------------------
    def hup(self, kind: bytes) -> None:
        if self.role == StateRole.LEADER or not self.promotable():
            return
        self.campaign(kind)

    def campaign(self, kind: bytes) -> None:
        if kind == CAMPAIGN_PRE_ELECTION:
            self.become_pre_candidate()
            vote_type = MessageType.PRE_VOTE
            term = self.term + 1
        else:
            self.become_candidate()
            vote_type = MessageType.VOTE
            term = self.term
        if self.poll(self.id, _VOTE_RESP[vote_type], True) == VoteResult.WON:
            # A single voter wins at once.
            if kind == CAMPAIGN_PRE_ELECTION:
                self.campaign(CAMPAIGN_ELECTION)
            else:
                self.become_leader()
            return
        last_index, last_term = self.log.last_index(), self.log.last_term()
        ctx = CAMPAIGN_TRANSFER if kind == CAMPAIGN_TRANSFER else b""
        for node in sorted(self.tracker.voters):
            if node != self.id:
                self.send(self.msg(vote_type, node, term=term, index=last_index,
                                   log_term=last_term, context=ctx))

    def poll(self, node: str, _type: MessageType, granted: bool) -> VoteResult:
        self.tracker.record_vote(node, granted)
        return self.tracker.tally_votes()[2]

    # -- appending and committing -------------------------------------------------------
    def append_entries(self, entries: list[Entry]) -> bool:
        """Leader: stamp entries with our term and the next indexes, then append them."""
        first, term = self.log.last_index() + 1, self.term
        stamped = [Entry(term, first + i, e.type, e.data) for i, e in enumerate(entries)]
        return self._append_stamped(stamped)

    def _append_stamped(self, stamped: list[Entry]) -> bool:
        size = payload_size(stamped)
        if (self.max_uncommitted_size and self.uncommitted_size > 0 and size > 0
                and self.uncommitted_size + size > self.max_uncommitted_size):
            return False
        self.uncommitted_size += size
        self.log.append(stamped)
        if self.membership.append(stamped):
            self.membership_changed()
        self._refresh_self_progress()
        self.maybe_commit()
        return True

    def maybe_commit(self) -> bool:
        """Commit what a majority holds, but only by counting entries of our term (§5.4.2)."""
        return self.log.maybe_commit(self.tracker.committed(), self.term)

    def reduce_uncommitted_size(self, entries: list[Entry]) -> None:
        if self.role != StateRole.LEADER:
            return
        self.uncommitted_size = max(0, self.uncommitted_size - payload_size(entries))

    # -- proposals (leader only) --------------------------------------------------------
    def propose(self, entries: list[Entry]) -> int:
        """Append client entries; returns the index of the last one. Raises ProposalDropped."""
        self._check_can_propose(entries)
        if not self.append_entries(entries):
            raise ProposalDropped("too many uncommitted bytes (max_uncommitted_entries_size)")
        self.needs_bcast = True
        return self.log.last_index()

    def propose_commands(self, commands: Sequence[bytes], kind: EntryType = EntryType.NORMAL) -> int:
        """The hot path of `propose`: build each entry once, already stamped."""
        self._check_can_propose(commands)
        first, term = self.log.last_index() + 1, self.term
        if not self._append_stamped([Entry(term, first + i, kind, d) for i, d in enumerate(commands)]):
            raise ProposalDropped("too many uncommitted bytes (max_uncommitted_entries_size)")
        self.needs_bcast = True
        return self.log.last_index()

    def _check_can_propose(self, entries: Sequence[object]) -> None:
        if self.role != StateRole.LEADER:
            raise NotLeader(self.lead)
        if self.id not in self.tracker.progress:
            raise ProposalDropped("this leader was removed from the cluster")
        if self.lead_transferee != NONE:
            raise ProposalDropped(f"leadership transfer to {self.lead_transferee} in progress")
        if not entries:
            raise LocalProtocolError("empty proposal")

    def check_conf_change_allowed(self, cc: ConfChange) -> None:
        """One server at a time (§4.1 with the 2015 fix): refuse unless this leader committed an
        entry of its term and the previous change is committed."""
        if self.role != StateRole.LEADER:
            raise NotLeader(self.lead)
        if not self.committed_entry_in_current_term():
            raise ProposalDropped("leader has not committed an entry of its term yet")
        pending = self.membership.last_change_index()
        if pending > self.log.committed:
            raise ProposalDropped(
                f"conf change at index {pending} is not committed yet (commit {self.log.committed})")
        problem = self.tracker.check_conf_change(cc)
        if problem:
            raise ProposalDropped(f"invalid conf change: {problem}")

    def removed_leader_should_step_down(self) -> bool:
        """A leader that removed itself keeps leading (without counting itself) until the
        change commits, then steps down (thesis §4.2.2)."""
        return (self.role == StateRole.LEADER and self.step_down_on_removal
                and self.id not in self.tracker.voters
                and self.log.committed >= self.membership.last_change_index())

    def abort_leader_transfer(self) -> None:
        self.lead_transferee = NONE

    # -- ticking ------------------------------------------------------------------------
    def tick(self) -> None:
        self.tick_fn(self)

    def flush(self) -> None:
        """Broadcast appends for proposals batched since the last call (RawNode.ready does)."""
        if self.needs_bcast:
            self.needs_bcast = False
            if self.role == StateRole.LEADER:
                replication.bcast_append(self)
        if self.removed_leader_should_step_down():
            self.become_follower(self.term, NONE)

"""Follower and (pre-)candidate behaviour: election ticks, the AppendEntries / heartbeat /
InstallSnapshot receiver rules, forwarding to the leader, and counting votes.

`Raft.step_fn` points at `step_follower` or `step_candidate`; each dispatches through a table
(message type -> handler). A type missing from a role's table is ignored by that role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import NotLeader, ProposalDropped
from .messages import (
    CAMPAIGN_ELECTION,
    CAMPAIGN_TRANSFER,
    NONE,
    Message,
    MessageType,
    Snapshot,
    StateRole,
)
from .quorum import VoteResult
from .read_only import ReadState
from .snapshot_transfer import receive_chunk

if TYPE_CHECKING:
    from .core import Raft

Handler = Callable[["Raft", Message], None]


def tick_election(r: Raft) -> None:
    """Followers and candidates: campaign when the randomized election timeout passes."""
    r.election_elapsed += 1
    if r.promotable() and r.past_election_timeout():
        r.election_elapsed = 0
        r.step(Message(MessageType.HUP, frm=r.id))


# -- receiver rules (Figure 2), shared by followers and candidates ---------------------------

def handle_append_entries(r: Raft, m: Message) -> None:
    if m.index < r.log.committed:
        r.send(r.msg(MessageType.APP_RESP, m.frm, index=r.log.committed))
        return
    appended = r.log.maybe_append(m.index, m.log_term, m.commit, m.entries)
    if appended is not None:
        last_new, first_written = appended
        if first_written:
            rolled_back = r.membership.truncate_from(first_written)
            added = r.membership.append(m.entries[first_written - (m.index + 1):])
            if rolled_back or added:
                r.membership_changed()
        r.send(r.msg(MessageType.APP_RESP, m.frm, index=last_new))
        return
    # Fast back-off: name the largest index whose term could match, so the leader skips
    # a whole conflicting term per round trip instead of one entry.
    hint = min(m.index, r.log.last_index())
    hint_index, hint_term = r.log.find_conflict_by_term(hint, m.log_term)
    r.send(r.msg(MessageType.APP_RESP, m.frm, index=m.index, reject=True,
                 reject_hint=hint_index, log_term=hint_term))


def handle_heartbeat(r: Raft, m: Message) -> None:
    r.log.commit_to(min(m.commit, r.log.last_index()))
    r.send(r.msg(MessageType.HEARTBEAT_RESP, m.frm, context=m.context))


def handle_snapshot(r: Raft, snapshot: Snapshot, frm: str) -> None:
    """A complete snapshot arrived (all chunks): install it if it moves us forward."""
    if restore(r, snapshot):
        r.send(r.msg(MessageType.APP_RESP, frm, index=r.log.last_index()))
    else:
        r.send(r.msg(MessageType.APP_RESP, frm, index=r.log.committed))


def restore(r: Raft, snapshot: Snapshot) -> bool:
    if snapshot.index <= r.log.committed:
        return False
    if r.role != StateRole.FOLLOWER:
        # Defensive: only followers install snapshots; make sure a leader never does.
        r.become_follower(r.term + 1, NONE)
        return False
    cs = snapshot.conf_state
    member_now = r.id in r.tracker.progress
    if member_now and r.id not in cs.voters and r.id not in cs.learners:
        return False  # would silently remove us: refuse (a joining node accepts any)
    if r.log.match_term(snapshot.index, snapshot.term):
        # We already hold this prefix: fast-forward the commit instead of wiping the log.
        r.log.commit_to(snapshot.index)
        return False
    r.log.restore(snapshot)
    r.membership.restore(snapshot.index, cs)
    r.membership_changed()
    return True


# -- follower ----------------------------------------------------------------------------------

def _heard_from_leader(r: Raft, m: Message) -> None:
    r.election_elapsed = 0
    r.lead = m.frm


def _follower_append(r: Raft, m: Message) -> None:
    _heard_from_leader(r, m)
    handle_append_entries(r, m)


def _follower_heartbeat(r: Raft, m: Message) -> None:
    _heard_from_leader(r, m)
    handle_heartbeat(r, m)


def _follower_snapshot_chunk(r: Raft, m: Message) -> None:
    _heard_from_leader(r, m)
    part = m.snapshot
    if part is None:
        return
    if part.index <= r.log.committed:
        # We already have everything it holds: skip the transfer, report our commit.
        r.snapshot_in = None
        r.send(r.msg(MessageType.APP_RESP, m.frm, index=r.log.committed))
        return
    r.snapshot_in, full, accepted = receive_chunk(r.snapshot_in, m)
    if full is not None:
        handle_snapshot(r, full, m.frm)
        return
    cur = r.snapshot_in
    held = len(cur.buffer) if cur is not None and cur.matches(part) else 0
    r.send(r.msg(MessageType.SNAP_RESP, m.frm, index=part.index, snapshot_offset=held,
                 reject=not accepted))


def _follower_propose(r: Raft, m: Message) -> None:
    raise NotLeader(r.lead)


def _follower_transfer_leader(r: Raft, m: Message) -> None:
    if r.lead == NONE:
        raise ProposalDropped("no leader to transfer leadership from")
    r.send(replace(m, to=r.lead, term=r.term))


def _follower_timeout_now(r: Raft, m: Message) -> None:
    # The leader chose us: campaign now, skipping pre-vote and overriding leases.
    r.hup(CAMPAIGN_TRANSFER)


def _follower_read_index(r: Raft, m: Message) -> None:
    if r.lead == NONE:
        raise NotLeader(NONE, "no leader known to serve a ReadIndex")
    r.send(replace(m, to=r.lead, frm=r.id, term=0))


def _follower_read_index_resp(r: Raft, m: Message) -> None:
    r.read_states.append(ReadState(m.index, m.context))


FOLLOWER_HANDLERS: dict[MessageType, Handler] = {
    MessageType.PROP: _follower_propose,
    MessageType.APP: _follower_append,
    MessageType.HEARTBEAT: _follower_heartbeat,
    MessageType.SNAP: _follower_snapshot_chunk,
    MessageType.TRANSFER_LEADER: _follower_transfer_leader,
    MessageType.TIMEOUT_NOW: _follower_timeout_now,
    MessageType.READ_INDEX: _follower_read_index,
    MessageType.READ_INDEX_RESP: _follower_read_index_resp,
}


def step_follower(r: Raft, m: Message) -> None:
    handler = FOLLOWER_HANDLERS.get(m.type)
    if handler is not None:
        handler(r, m)


# -- candidate and pre-candidate ---------------------------------------------------------------

def _candidate_yields(follow: Handler) -> Handler:
    """A leader of our term exists: become its follower, then handle as a follower."""
    def handler(r: Raft, m: Message) -> None:
        r.become_follower(m.term, m.frm)
        follow(r, m)
    return handler


def _candidate_vote_resp(r: Raft, m: Message) -> None:
    expected = (MessageType.PRE_VOTE_RESP if r.role == StateRole.PRE_CANDIDATE
                else MessageType.VOTE_RESP)
    if m.type != expected:
        return
    result = r.poll(m.frm, m.type, not m.reject)
    if result == VoteResult.WON:
        if r.role == StateRole.PRE_CANDIDATE:
            r.campaign(CAMPAIGN_ELECTION)
        else:
            r.become_leader()
    elif result == VoteResult.LOST:
        # Pre-vote lost: stay at our term as a follower; vote lost: same.
        r.become_follower(r.term, NONE)


def _candidate_no_leader(r: Raft, m: Message) -> None:
    raise NotLeader(NONE)


CANDIDATE_HANDLERS: dict[MessageType, Handler] = {
    MessageType.PROP: _candidate_no_leader,
    MessageType.READ_INDEX: _candidate_no_leader,
    MessageType.APP: _candidate_yields(_follower_append),
    MessageType.HEARTBEAT: _candidate_yields(_follower_heartbeat),
    MessageType.SNAP: _candidate_yields(_follower_snapshot_chunk),
    MessageType.VOTE_RESP: _candidate_vote_resp,
    MessageType.PRE_VOTE_RESP: _candidate_vote_resp,
}


def step_candidate(r: Raft, m: Message) -> None:
    handler = CANDIDATE_HANDLERS.get(m.type)
    if handler is not None:
        handler(r, m)



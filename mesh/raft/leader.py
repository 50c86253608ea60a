"""Leader behaviour: heartbeat ticks with check-quorum and transfer timeouts, and what a leader
does with each message (acks, rejections, ReadIndex rounds, snapshot chunks, transfers).

`Raft.step_fn` points at `step_leader`, which dispatches through two tables: local messages,
and messages from peers (ignored unless the sender has a `Progress`). Sending lives in
`replication.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import replication
from .errors import ProposalDropped
from .messages import NONE, Message, MessageType, StateRole
from .progress import Progress, ProgressState
from .quorum import VoteResult, vote_result
from .read_only import ReadState

if TYPE_CHECKING:
    from .core import Raft

Handler = Callable[["Raft", Message], None]
PeerHandler = Callable[["Raft", Message, Progress], None]


def tick_heartbeat(r: Raft) -> None:
    """Leaders: heartbeat every heartbeat_tick; every election timeout check the quorum and
    abandon a leadership transfer that has not completed."""
    r.heartbeat_elapsed += 1
    r.election_elapsed += 1
    if r.election_elapsed >= r.election_timeout:
        r.election_elapsed = 0
        if r.check_quorum:
            r.step(Message(MessageType.CHECK_QUORUM, frm=r.id))
        if r.role == StateRole.LEADER and r.lead_transferee != NONE:
            r.abort_leader_transfer()
    if r.role != StateRole.LEADER:
        return
    if r.heartbeat_elapsed >= r.heartbeat_timeout:
        r.heartbeat_elapsed = 0
        r.step(Message(MessageType.BEAT, frm=r.id))


# -- ReadIndex answers -------------------------------------------------------------------------

def respond_to_read_index(r: Raft, request: Message, index: int) -> None:
    if request.frm in (NONE, r.id):
        r.read_states.append(ReadState(index, request.context))
    else:
        r.send(r.msg(MessageType.READ_INDEX_RESP, request.frm, index=index,
                     context=request.context))


def release_pending_read_index_messages(r: Raft) -> None:
    if not r.pending_read_index_messages or not r.committed_entry_in_current_term():
        return
    pending, r.pending_read_index_messages = r.pending_read_index_messages, []
    for m in pending:
        send_read_index_response(r, m)


def send_read_index_response(r: Raft, m: Message) -> None:
    """Start a ReadIndex confirmation round for request `m` (leader has committed in term)."""
    if r.tracker.voters == {r.id}:
        respond_to_read_index(r, m, r.log.committed)
        return
    if not r.read_only.add_request(r.log.committed, m):
        return  # duplicate request id already pending
    r.read_only.recv_ack(r.id, m.context)
    replication.bcast_heartbeat(r, m.context)


# -- message handlers --------------------------------------------------------------------------

def _leader_beat(r: Raft, m: Message) -> None:
    replication.bcast_heartbeat(r)


def _leader_check_quorum(r: Raft, m: Message) -> None:
    if not r.tracker.quorum_active(r.id):
        r.become_follower(r.term, NONE)
        return
    for node, pr in r.tracker.progress.items():
        if node != r.id:
            pr.recent_active = False  # must be heard from again before the next check


def _leader_propose(r: Raft, m: Message) -> None:
    r.propose(list(m.entries))


def _leader_read_index(r: Raft, m: Message) -> None:
    if r.tracker.voters == {r.id}:
        respond_to_read_index(r, m, r.log.committed)
        return
    if not r.committed_entry_in_current_term():
        # Our commit index may lag the true one until our term's first entry commits (§6.4).
        r.pending_read_index_messages.append(m)
        return
    send_read_index_response(r, m)


def _leader_app_resp(r: Raft, m: Message, pr: Progress) -> None:
    pr.recent_active = True
    if m.reject:
        next_probe = m.reject_hint
        if m.log_term > 0:
            next_probe, _ = r.log.find_conflict_by_term(m.reject_hint, m.log_term)
        if pr.maybe_decr_to(m.index, next_probe):
            if pr.state == ProgressState.REPLICATE:
                pr.become_probe()
            replication.send_append(r, m.frm)
        return
    old_paused = pr.is_paused()
    if pr.maybe_update(m.index) or (pr.match == m.index and pr.state == ProgressState.PROBE):
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT:
            _leave_snapshot_state_if_done(r, m.frm, pr)
        else:
            pr.inflights.free_le(m.index)
        if r.maybe_commit():
            release_pending_read_index_messages(r)
            r.needs_bcast = True  # tell everyone the new commit index at the next flush
        elif old_paused:
            replication.send_append(r, m.frm)
        while replication.maybe_send_append(r, m.frm, send_if_empty=False):
            pass
        if m.frm == r.lead_transferee and pr.match == r.log.last_index():
            replication.send_timeout_now(r, m.frm)
        if pr.departing and pr.match >= pr.departing:
            r.tracker.progress.pop(m.frm, None)  # it now holds its own removal: stop replicating
    elif pr.state == ProgressState.SNAPSHOT:
        _leave_snapshot_state_if_done(r, m.frm, pr)


def _leave_snapshot_state_if_done(r: Raft, to: str, pr: Progress) -> None:
    """An append ack arrived while sending `to` a snapshot: did the transfer end?"""
    if pr.match + 1 >= r.log.first_index():
        # It installed the snapshot (or caught up otherwise): replicate from its match.
        replication.finish_snapshot(r, to)
        pr.become_probe()
        pr.become_replicate()
        return
    out = r.snapshots_out.get(to)
    if out is None or out.done_sent:
        # It answered the whole snapshot but is still behind our log: it refused it. Probe,
        # which starts a fresh transfer if it still needs one.
        replication.finish_snapshot(r, to)
        pr.become_probe()


def _leader_heartbeat_resp(r: Raft, m: Message, pr: Progress) -> None:
    pr.recent_active = True
    pr.msg_app_flow_paused = False
    if pr.state == ProgressState.REPLICATE and pr.inflights.full():
        pr.inflights.free_first_one()
    if pr.state == ProgressState.SNAPSHOT:
        replication.resend_stalled_snapshot_chunk(r, m.frm)
    elif pr.match < r.log.last_index() or pr.state == ProgressState.PROBE:
        replication.send_append(r, m.frm)
    if not m.context:
        return
    acks = r.read_only.recv_ack(m.frm, m.context)
    if acks is None or vote_result(r.tracker.voters, dict.fromkeys(acks, True)) != VoteResult.WON:
        return
    for request, index in r.read_only.advance(m.context):
        respond_to_read_index(r, request, index)


def _leader_snap_resp(r: Raft, m: Message, pr: Progress) -> None:
    replication.handle_snapshot_ack(r, m)


def _leader_snap_status(r: Raft, m: Message, pr: Progress) -> None:
    if pr.state != ProgressState.SNAPSHOT:
        return
    if m.reject:
        pr.pending_snapshot = 0
    replication.finish_snapshot(r, m.frm)
    pr.become_probe()
    pr.msg_app_flow_paused = True  # wait for a heartbeat before probing again


def _leader_unreachable(r: Raft, m: Message, pr: Progress) -> None:
    if pr.state == ProgressState.REPLICATE:
        pr.become_probe()


def _leader_transfer(r: Raft, m: Message, pr: Progress) -> None:
    if m.frm not in r.tracker.voters:
        raise ProposalDropped(f"cannot transfer leadership to non-voter {m.frm}")
    transferee = m.frm
    if r.lead_transferee != NONE:
        if r.lead_transferee == transferee:
            return  # already transferring there
        r.abort_leader_transfer()
    if transferee == r.id:
        return
    r.election_elapsed = 0  # the transfer must finish within one election timeout
    r.lead_transferee = transferee
    if pr.match == r.log.last_index():
        replication.send_timeout_now(r, transferee)
    else:
        replication.send_append(r, transferee)


LEADER_HANDLERS: dict[MessageType, Handler] = {
    MessageType.BEAT: _leader_beat,
    MessageType.CHECK_QUORUM: _leader_check_quorum,
    MessageType.PROP: _leader_propose,
    MessageType.READ_INDEX: _leader_read_index,
}

LEADER_PEER_HANDLERS: dict[MessageType, PeerHandler] = {
    MessageType.APP_RESP: _leader_app_resp,
    MessageType.HEARTBEAT_RESP: _leader_heartbeat_resp,
    MessageType.SNAP_RESP: _leader_snap_resp,
    MessageType.SNAP_STATUS: _leader_snap_status,
    MessageType.UNREACHABLE: _leader_unreachable,
    MessageType.TRANSFER_LEADER: _leader_transfer,
}


def step_leader(r: Raft, m: Message) -> None:
    handler = LEADER_HANDLERS.get(m.type)
    if handler is not None:
        handler(r, m)
        return
    peer_handler = LEADER_PEER_HANDLERS.get(m.type)
    if peer_handler is None:
        return
    pr = r.tracker.progress.get(m.frm)
    if pr is not None:  # ignore peers that are not (or no longer) members
        peer_handler(r, m, pr)

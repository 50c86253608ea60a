"""Leader-side sending: appends (batched, pipelined, flow-controlled), heartbeats, snapshot
chunks and TimeoutNow.

Functions take the `Raft` they act for; they only queue messages and update `Progress`.
Peers are visited in sorted order so a simulation replays exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import CompactedError, RaftInvariantError, SnapshotTemporarilyUnavailable
from .messages import Message, MessageType, payload_size
from .progress import ProgressState
from .snapshot_transfer import OutgoingSnapshot

if TYPE_CHECKING:
    from .core import Raft


def peers(r: Raft) -> list[str]:
    return sorted(node for node in r.tracker.progress if node != r.id)


def maybe_send_append(r: Raft, to: str, send_if_empty: bool = True) -> bool:
    """Send `to` the entries from its next index (or a snapshot if they are compacted)."""
    pr = r.tracker.progress.get(to)
    if pr is None or pr.is_paused():
        return False
    prev = pr.next - 1
    try:
        prev_term = r.log.term(prev)
        entries = r.log.entries(pr.next, r.max_msg_size)
    except CompactedError:
        return send_snapshot(r, to)
    if not entries and not send_if_empty:
        return False
    r.send(r.msg(MessageType.APP, to, index=prev, log_term=prev_term, entries=tuple(entries),
                 commit=r.log.committed))
    pr.update_on_entries_send(len(entries), payload_size(entries), pr.next)
    return True


def send_append(r: Raft, to: str) -> None:
    maybe_send_append(r, to, send_if_empty=True)


def bcast_append(r: Raft) -> None:
    """Send every follower what it is missing, as many pipelined appends as flow control allows."""
    for to in peers(r):
        if maybe_send_append(r, to, send_if_empty=True):
            while maybe_send_append(r, to, send_if_empty=False):
                pass


def send_snapshot(r: Raft, to: str) -> bool:
    """Start a chunked snapshot transfer: `to` needs entries we compacted away."""
    pr = r.tracker.progress[to]
    if pr.departing:
        del r.tracker.progress[to]  # too far behind to learn of its removal from the log
        return False
    if not pr.recent_active:
        return False  # do not ship a snapshot to a peer that may be down
    try:
        snapshot = r.log.snapshot()
    except SnapshotTemporarilyUnavailable:
        return False
    if snapshot.index == 0:
        raise RaftInvariantError(f"{r.id}: need a non-empty snapshot to send to {to}")
    pr.become_snapshot(snapshot.index)
    out = OutgoingSnapshot(snapshot, r.snapshot_chunk_size)
    r.snapshots_out[to] = out
    send_snapshot_chunk(r, to, out)
    return True


def send_snapshot_chunk(r: Raft, to: str, out: OutgoingSnapshot) -> None:
    part, offset, done = out.chunk()
    r.send(r.msg(MessageType.SNAP, to, snapshot=part, snapshot_offset=offset, snapshot_done=done))


def handle_snapshot_ack(r: Raft, m: Message) -> None:
    pr = r.tracker.progress[m.frm]
    out = r.snapshots_out.get(m.frm)
    if pr.state != ProgressState.SNAPSHOT or out is None or out.snapshot.index != m.index:
        return
    pr.recent_active = True
    if out.on_ack(m.snapshot_offset, m.reject):
        send_snapshot_chunk(r, m.frm, out)


def resend_stalled_snapshot_chunk(r: Raft, to: str) -> None:
    """Heartbeat answered but the chunk in flight was not: it (or its ack) was lost."""
    out = r.snapshots_out.get(to)
    if out is None:
        return
    if not out.acked_since_heartbeat:
        send_snapshot_chunk(r, to, out)
    out.acked_since_heartbeat = False


def finish_snapshot(r: Raft, to: str) -> None:
    r.snapshots_out.pop(to, None)


def send_heartbeat(r: Raft, to: str, context: bytes) -> None:
    # Never tell a follower to commit past what it is known to hold.
    commit = min(r.tracker.progress[to].match, r.log.committed)
    r.send(r.msg(MessageType.HEARTBEAT, to, commit=commit, context=context))


def bcast_heartbeat(r: Raft, context: bytes | None = None) -> None:
    if context is None:
        context = r.read_only.last_pending_context()
    for to in peers(r):
        send_heartbeat(r, to, context)


def send_timeout_now(r: Raft, to: str) -> None:
    r.send(r.msg(MessageType.TIMEOUT_NOW, to))

"""Chunked InstallSnapshot: the leader's per-follower sender and the follower's reassembler.

One chunk is in flight per follower (stop-and-wait: a chunk is sent when the previous one is
acknowledged, and re-sent after a heartbeat round without an ack). The follower acks with the
number of bytes it holds; a chunk at any other offset is refused with the offset it expects, so a
lost, duplicated or reordered chunk restarts the transfer cleanly from there. Only the complete,
reassembled snapshot reaches the core's restore logic.
"""

from __future__ import annotations

from .messages import Message, Snapshot


class OutgoingSnapshot:
    """Leader side: which bytes of `snapshot` have been acknowledged by one follower."""

    __slots__ = ("acked_since_heartbeat", "chunk_size", "done_sent", "offset", "snapshot")

    def __init__(self, snapshot: Snapshot, chunk_size: int) -> None:
        self.snapshot = snapshot
        self.chunk_size = chunk_size
        self.offset = 0  # first byte of the chunk in flight
        self.done_sent = False
        self.acked_since_heartbeat = True

    def chunk(self) -> tuple[Snapshot, int, bool]:
        """(metadata + chunk bytes, offset, done) for the chunk at `offset`."""
        snap = self.snapshot
        end = self.offset + self.chunk_size
        done = end >= len(snap.data)
        self.done_sent = done
        part = Snapshot(snap.index, snap.term, snap.conf_state, snap.data[self.offset:end])
        return part, self.offset, done

    def on_ack(self, held: int, reject: bool) -> bool:
        """Follower says it holds `held` bytes. True when a (next or repeated) chunk should go."""
        self.acked_since_heartbeat = True
        if reject:
            self.offset = min(held, len(self.snapshot.data))  # restart where the follower is
            return True
        end = min(self.offset + self.chunk_size, len(self.snapshot.data))
        if held != end or self.done_sent:
            return False  # stale or duplicate ack
        self.offset = end
        return True


class IncomingSnapshot:
    """Follower side: the bytes of one snapshot (identified by index and term) received so far."""

    __slots__ = ("buffer", "index", "term")

    def __init__(self, index: int, term: int) -> None:
        self.index = index
        self.term = term
        self.buffer = bytearray()

    def matches(self, snap: Snapshot) -> bool:
        return snap.index == self.index and snap.term == self.term


def receive_chunk(current: IncomingSnapshot | None, m: Message
                  ) -> tuple[IncomingSnapshot | None, Snapshot | None, bool]:
    """Fold chunk `m` into `current`: (new state, complete snapshot or None, accepted)."""
    part = m.snapshot
    assert part is not None
    if current is not None and current.matches(part):
        if m.snapshot_offset != len(current.buffer):
            return current, None, False  # ack says where to resume
    elif m.snapshot_offset != 0:
        return current, None, False  # not the start of a snapshot we know: restart from 0
    else:
        current = IncomingSnapshot(part.index, part.term)
    current.buffer += part.data
    if m.snapshot_done:
        full = Snapshot(part.index, part.term, part.conf_state, bytes(current.buffer))
        return None, full, True
    return current, None, True

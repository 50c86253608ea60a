"""Leader-side view of one follower: match/next, flow-control state, bounded inflights.

States (as in etcd's tracker): PROBE sends one append per heartbeat until the follower's match is
found; REPLICATE streams appends optimistically, bounded by `Inflights`; SNAPSHOT waits while a
snapshot is being transferred (in chunks, see `snapshot_transfer.py`).
"""

from __future__ import annotations

from collections import deque
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """Appends sent but not yet acknowledged, bounded by count and by bytes."""

    __slots__ = ("_queue", "bytes", "max_bytes", "size")

    def __init__(self, size: int, max_bytes: int = 0) -> None:
        self.size = size
        self.max_bytes = max_bytes  # 0 = no byte limit
        self._queue: deque[tuple[int, int]] = deque()  # (last index of the append, bytes)
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, index: int, nbytes: int) -> None:
        self._queue.append((index, nbytes))
        self.bytes += nbytes

    def full(self) -> bool:
        return len(self._queue) >= self.size or (0 < self.max_bytes <= self.bytes)

    def free_le(self, index: int) -> None:
        q = self._queue
        while q and q[0][0] <= index:
            self.bytes -= q.popleft()[1]

    def free_first_one(self) -> None:
        if self._queue:
            self.bytes -= self._queue.popleft()[1]

    def reset(self) -> None:
        self._queue.clear()
        self.bytes = 0


class Progress:
    __slots__ = ("departing", "inflights", "is_learner", "match", "msg_app_flow_paused", "next",
                 "pending_snapshot", "recent_active", "state")

    def __init__(self, match: int, next_index: int, inflights: Inflights,
                 is_learner: bool = False, recent_active: bool = False) -> None:
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        self.pending_snapshot = 0
        self.recent_active = recent_active
        self.msg_app_flow_paused = False
        self.inflights = inflights
        self.is_learner = is_learner
        # Removed from the membership by the entry at this index (0 = a member). The leader
        # keeps replicating to a departing peer, without counting it, until it holds that
        # entry, so that it learns it was removed.
        self.departing = 0

    def __repr__(self) -> str:
        return (f"Progress({self.state.name}, match={self.match}, next={self.next}, "
                f"learner={self.is_learner}, paused={self.is_paused()}, inflight={len(self.inflights)})")

    def _reset_state(self, state: ProgressState) -> None:
        self.msg_app_flow_paused = False
        self.pending_snapshot = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def update_on_entries_send(self, n_entries: int, nbytes: int, next_index: int) -> None:
        """Account for an append of n_entries starting at next_index just sent."""
        if self.state == ProgressState.REPLICATE:
            if n_entries:
                last = next_index + n_entries - 1
                self.next = last + 1  # optimistic: pipeline the next append right away
                self.inflights.add(last, nbytes)
            self.msg_app_flow_paused = self.inflights.full()
        elif self.state == ProgressState.PROBE:
            # Every append in PROBE is a probe: wait for its answer or the next heartbeat.
            self.msg_app_flow_paused = True

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged up to `index`. Returns whether match moved."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.msg_app_flow_paused = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The append probing at `rejected` was refused; move next back. False if stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False  # stale rejection
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False  # stale rejection
        self.next = max(min(rejected, match_hint + 1), self.match + 1, 1)
        self.msg_app_flow_paused = False
        return True

    def is_paused(self) -> bool:
        if self.state == ProgressState.SNAPSHOT:
            return True
        return self.msg_app_flow_paused

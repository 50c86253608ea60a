"""The queued tasks in scheduling order, kept as a heap so a scheduling pass never sorts the queue.

Order: (priority ascending, submit seq ascending). A task becomes due when its `not_before` (a retry
delay) has come. A scheduling pass reads the first few due tasks; sorting every queued task for it
cost O(queued) per pass, so a deep queue (tens of thousands) made every pass slow. Here a pass
costs O(k log k) for the k tasks it looks at.

Derived state: rebuilt from the records on restore, never snapshotted. Removal is lazy: an entry
is live while it is the one `_live` holds for its task, and stale entries are dropped when they
reach the top or when they outnumber the live ones (a rebuild, amortised O(1) per change).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

# (priority, seq, task_id, not_before): unique by seq per task; a re-added task gets a new tuple.
Entry = tuple[int, int, str, float]

COMPACT_SLACK = 64  # stale entries tolerated beyond the number of live ones


class ReadyQueue:
    """Queued task ids by (priority, seq), with the ones not yet due held back."""

    def __init__(self) -> None:
        self._live: dict[str, Entry] = {}
        self._due: list[Entry] = []  # heap by (priority, seq): not_before had come at a read
        self._waiting: list[tuple[float, int, Entry]] = []  # heap by (not_before, seq)

    def __len__(self) -> int:
        return len(self._live)

    def add(self, task_id: str, priority: int, seq: int, not_before: float) -> None:
        """The task is queued (again): it replaces any entry it had."""
        entry = (priority, seq, task_id, not_before)
        self._live[task_id] = entry
        heapq.heappush(self._waiting, (not_before, seq, entry))
        self._maybe_compact()

    def discard(self, task_id: str) -> None:
        """The task left the queue (assigned, cancelled, ...)."""
        if self._live.pop(task_id, None) is not None:
            self._maybe_compact()

    def due(self, now: float) -> Iterator[str]:
        """Due task ids in order, lazily. Valid until the queue next changes: read, then act."""
        live = self._live
        waiting, heap = self._waiting, self._due
        while waiting and waiting[0][0] <= now:
            entry = heapq.heappop(waiting)[2]
            if live.get(entry[2]) is entry:
                heapq.heappush(heap, entry)
        while heap and live.get(heap[0][2]) is not heap[0]:
            heapq.heappop(heap)
        return self._walk(now)

    def _walk(self, now: float) -> Iterator[str]:
        """The heap in sorted order without popping it: a second heap of (entry, index) holds the
        frontier, so reading k entries costs O(k log k)."""
        heap, live = self._due, self._live
        size = len(heap)
        if not size:
            return
        frontier = [(heap[0], 0)]
        while frontier:
            entry, index = heapq.heappop(frontier)
            left = 2 * index + 1
            if left < size:
                heapq.heappush(frontier, (heap[left], left))
                if left + 1 < size:
                    heapq.heappush(frontier, (heap[left + 1], left + 1))
            # not_before is checked again: a read with an earlier `now` than a previous one must
            # not see tasks that read moved up.
            if live.get(entry[2]) is entry and entry[3] <= now:
                yield entry[2]

    def _maybe_compact(self) -> None:
        live = self._live
        if len(self._due) + len(self._waiting) <= 2 * len(live) + COMPACT_SLACK:
            return
        self._due = [e for e in self._due if live.get(e[2]) is e]
        self._waiting = [w for w in self._waiting if live.get(w[2][2]) is w[2]]
        heapq.heapify(self._due)
        heapq.heapify(self._waiting)

    def size_with_stale(self) -> int:
        """Entries held, stale ones included (for tests of the compaction bound)."""
        return len(self._due) + len(self._waiting)

"""`Unstable`: log entries (and at most one snapshot) not yet handed to stable storage.

It owns only the in-memory tail; `RaftLog` combines it with `Storage`. Entries move out of here
when the driver reports them persisted (`stable_to`).
"""

from __future__ import annotations

from .errors import RaftInvariantError
from .messages import Entry, Snapshot


class Unstable:
    __slots__ = ("entries", "offset", "snapshot")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset  # index of entries[0]

    def maybe_first_index(self) -> int | None:
        return self.snapshot.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        return self.snapshot.index if self.snapshot is not None else None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.index == index:
                return self.snapshot.term
            return None
        pos = index - self.offset
        if pos >= len(self.entries):
            return None
        return self.entries[pos].term

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to `index` (if it still has `term`) are durable: drop them from here."""
        found = self.maybe_term(index)
        if found is None or found != term or index < self.offset:
            return
        del self.entries[:index + 1 - self.offset]
        self.offset = index + 1

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: list[Entry]) -> None:
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            # Replacing from before our first entry: storage keeps its stale suffix until the
            # driver persists these (storage truncates conflicting suffixes on save).
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset:]
            self.entries.extend(entries)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        if lo > hi or lo < self.offset or hi > self.offset + len(self.entries):
            raise RaftInvariantError(
                f"unstable slice [{lo}, {hi}) out of bounds [{self.offset}, "
                f"{self.offset + len(self.entries)})")
        return self.entries[lo - self.offset:hi - self.offset]

"""`RaftLog`: the Raft log as the core sees it — stable `Storage` plus the `Unstable` tail.

It owns the commit and applied cursors and the log-level rules of Figure 2 (match, conflict,
append, up-to-date comparison, commit only of current-term entries). It never writes storage.
"""

from __future__ import annotations

from .errors import CompactedError, RaftInvariantError, UnavailableError
from .log_unstable import Unstable
from .messages import Entry, Snapshot
from .storage import Storage, limit_size


class RaftLog:
    __slots__ = ("applied", "committed", "max_next_ents_size", "storage", "unstable")

    def __init__(self, storage: Storage, max_next_ents_size: int | None = None) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1
        self.max_next_ents_size = max_next_ents_size

    def __repr__(self) -> str:
        return (f"RaftLog(committed={self.committed}, applied={self.applied}, "
                f"unstable.offset={self.unstable.offset}, unstable={len(self.unstable.entries)})")

    # -- indexes and terms ------------------------------------------------------------
    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def term(self, index: int) -> int:
        """Term of entry `index`; 0 past the end. Raises CompactedError below the first index."""
        u = self.unstable
        if index >= u.offset:
            pos = index - u.offset
            return u.entries[pos].term if pos < len(u.entries) else 0
        t = u.maybe_term(index)
        if t is not None:
            return t
        dummy = self.first_index() - 1
        if index < dummy:
            raise CompactedError(f"term of {index} is compacted")
        try:
            return self.storage.term(index)
        except UnavailableError:
            return 0

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except CompactedError:
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except CompactedError:
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """§5.4.1: is a candidate's log (last_index, term) at least as up-to-date as ours?"""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    # -- appending --------------------------------------------------------------------
    def maybe_append(self, index: int, log_term: int, committed: int,
                     entries: tuple[Entry, ...]) -> tuple[int, int] | None:
        """AppendEntries receiver rules 2-5. None on mismatch, else (last new index, index of
        the first entry actually written, 0 if every entry was already there)."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise RaftInvariantError(
                    f"entry {conflict} conflicts with committed entry (committed {self.committed})")
            self.append(list(entries[conflict - (index + 1):]))
        self.commit_to(min(committed, last_new))
        return last_new, conflict

    def append(self, entries: list[Entry]) -> int:
        if not entries:
            return self.last_index()
        if entries[0].index - 1 < self.committed:
            raise RaftInvariantError(
                f"append after {entries[0].index - 1} is below committed {self.committed}")
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    def find_conflict(self, entries: tuple[Entry, ...]) -> int:
        """Index of the first entry that is new or conflicts with ours; 0 if all match."""
        for e in entries:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Largest (i, term(i)) with i <= index and term(i) <= term; (i, 0) if compacted."""
        while index > 0:
            try:
                our = self.term(index)
            except CompactedError:
                return index, 0
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    # -- reading ----------------------------------------------------------------------
    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable.entries)

    def entries(self, index: int, max_size: int | None) -> list[Entry]:
        last = self.last_index()
        if index > last:
            return []
        return self.slice(index, last + 1, max_size)

    def all_entries(self) -> list[Entry]:
        return self.entries(self.first_index(), None)

    def slice(self, lo: int, hi: int, max_size: int | None) -> list[Entry]:
        """Entries [lo, hi) limited to max_size (at least one). Raises CompactedError."""
        if lo > hi:
            raise RaftInvariantError(f"invalid slice {lo} > {hi}")
        first = self.first_index()
        if lo < first:
            raise CompactedError(f"entry {lo} is compacted (first index {first})")
        if hi > self.last_index() + 1:
            raise RaftInvariantError(f"slice [{lo}, {hi}) out of range (last {self.last_index()})")
        if lo == hi:
            return []
        off = self.unstable.offset
        ents: list[Entry] = []
        if lo < off:
            stop = min(hi, off)
            stored = self.storage.entries(lo, stop, max_size)
            if len(stored) < stop - lo:
                return stored  # size limit reached inside storage
            ents = stored
        if hi > off:
            tail = self.unstable.slice(max(lo, off), hi)
            ents = ents + tail if ents else tail
        return limit_size(ents, max_size)

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not yet applied (bounded by max_next_ents_size)."""
        off = max(self.applied + 1, self.first_index())
        if self.committed + 1 > off:
            return self.slice(off, self.committed + 1, self.max_next_ents_size)
        return []

    def has_next_committed_entries(self) -> bool:
        return self.committed + 1 > max(self.applied + 1, self.first_index())

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    # -- cursors ----------------------------------------------------------------------
    def commit_to(self, index: int) -> None:
        if index > self.committed:
            if index > self.last_index():
                raise RaftInvariantError(
                    f"commit {index} is out of range [last index {self.last_index()}]")
            self.committed = index

    def maybe_commit(self, max_index: int, term: int) -> bool:
        """Commit up to max_index only if that entry is of `term` (§5.4.2)."""
        if max_index > self.committed and self.term_or_zero(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if index == 0:
            return
        if index > self.committed or index < self.applied:
            raise RaftInvariantError(
                f"applied {index} out of range [prev applied {self.applied}, committed {self.committed}]")
        self.applied = index

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snap_to(self, index: int) -> None:
        self.unstable.stable_snap_to(index)

    def restore(self, snapshot: Snapshot) -> None:
        self.committed = snapshot.index
        self.unstable.restore(snapshot)

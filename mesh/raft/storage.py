"""The `Storage` interface the core reads its durable log from, and `MemoryStorage`.

The core only *reads* storage (initial_state, entries, term, first/last index, snapshot);
the driver *writes* it from each Ready with `save()`, and compacts it with
`create_snapshot()` + `compact()`. `MemoryStorage` keeps everything in lists (tests, and the
in-memory cache of `SQLiteStorage`). Layout: `_ents[0]` is a dummy entry holding the snapshot's
index and term, so entry `i` lives at `_ents[i - _ents[0].index]`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from .errors import (
    CompactedError,
    LocalProtocolError,
    RaftInvariantError,
    SnapshotOutOfDateError,
    UnavailableError,
)
from .membership import bootstrap_entries
from .messages import ENTRY_OVERHEAD, ConfState, Entry, HardState, Snapshot


def limit_size(entries: list[Entry], max_size: int | None) -> list[Entry]:
    """Longest prefix whose total size stays within `max_size`, but never fewer than one entry."""
    if max_size is None or not entries:
        return entries
    total = 0
    for i, e in enumerate(entries):
        total += len(e.data) + ENTRY_OVERHEAD
        if total > max_size and i > 0:
            return entries[:i]
    return entries


class Storage(abc.ABC):
    """Durable Raft state as the core sees it. All indexes are log indexes (1-based)."""

    @abc.abstractmethod
    def initial_state(self) -> tuple[HardState, ConfState]:
        """Hard state and membership to start from (membership of the latest snapshot)."""

    @abc.abstractmethod
    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries [lo, hi), at least one if lo < hi, at most max_size bytes beyond the first.

        Raises CompactedError if lo <= the snapshot index, UnavailableError past the end.
        """

    @abc.abstractmethod
    def term(self, index: int) -> int:
        """Term of entry `index`; the snapshot index itself is answered too."""

    @abc.abstractmethod
    def first_index(self) -> int:
        """Index of the first entry that may be read (snapshot index + 1)."""

    @abc.abstractmethod
    def last_index(self) -> int:
        """Index of the last entry stored (the snapshot index when the log is empty)."""

    @abc.abstractmethod
    def snapshot(self) -> Snapshot:
        """The most recent snapshot (may raise SnapshotTemporarilyUnavailable)."""

    # -- the driver's side -------------------------------------------------------------
    @abc.abstractmethod
    def bootstrap(self, conf_state: ConfState) -> None:
        """Start a brand-new cluster whose initial membership is `conf_state`: the log gets one
        committed CONF_CHANGE entry per member at term 1 (so nodes that join later learn the
        membership by replaying it). A node that joins an existing cluster is NOT bootstrapped:
        it starts empty and waits for the leader to add it and send it the log or a snapshot."""

    @abc.abstractmethod
    def save(self, hard_state: HardState | None, entries: Sequence[Entry],
             snapshot: Snapshot | None = None, *, sync: bool = True) -> None:
        """Persist one Ready atomically: snapshot first, then entries, then hard state."""

    @abc.abstractmethod
    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record a state machine image taken at applied index `index`."""

    @abc.abstractmethod
    def compact(self, index: int) -> None:
        """Drop entries up to and including `index` (must be <= the snapshot index)."""


class MemoryStorage(Storage):
    """Storage held in memory; what `save` was given is what a restart sees."""

    def __init__(self) -> None:
        self._hard_state = HardState()
        self._snapshot = Snapshot()
        self._ents: list[Entry] = [Entry(0, 0)]

    # -- bootstrap --------------------------------------------------------------------
    def bootstrap(self, conf_state: ConfState) -> None:
        if self.last_index() != 0 or self._hard_state != HardState():
            raise LocalProtocolError("bootstrap on a non-empty storage")
        entries = bootstrap_entries(conf_state)
        self.save(HardState(1, "", len(entries)), entries)

    # -- read side --------------------------------------------------------------------
    def initial_state(self) -> tuple[HardState, ConfState]:
        return self._hard_state, self._snapshot.conf_state

    @property
    def hard_state(self) -> HardState:
        return self._hard_state

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(f"entry {lo} is compacted (snapshot at {offset})")
        if hi > self.last_index() + 1:
            raise UnavailableError(f"entries [{lo}, {hi}) past last index {self.last_index()}")
        if len(self._ents) == 1:
            raise UnavailableError("log is empty")
        return limit_size(self._ents[lo - offset:hi - offset], max_size)

    def term(self, index: int) -> int:
        offset = self._ents[0].index
        if index < offset:
            raise CompactedError(f"term of {index} is compacted (snapshot at {offset})")
        if index - offset >= len(self._ents):
            raise UnavailableError(f"term of {index} past last index {self.last_index()}")
        return self._ents[index - offset].term

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- write side -------------------------------------------------------------------
    def save(self, hard_state: HardState | None, entries: Sequence[Entry],
             snapshot: Snapshot | None = None, *, sync: bool = True) -> None:
        if snapshot is not None and snapshot.index:
            self.apply_snapshot(snapshot)
        if entries:
            self.append(entries)
        if hard_state is not None:
            self.set_hard_state(hard_state)

    def set_hard_state(self, hard_state: HardState) -> None:
        self._hard_state = hard_state

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log by `snapshot` (a follower installing the leader's image)."""
        if self._snapshot.index >= snapshot.index:
            raise SnapshotOutOfDateError(f"snapshot {snapshot.index} <= held {self._snapshot.index}")
        self._snapshot = snapshot
        self._ents = [Entry(snapshot.term, snapshot.index)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        if index <= self._snapshot.index:
            raise SnapshotOutOfDateError(f"snapshot {index} <= held {self._snapshot.index}")
        offset = self._ents[0].index
        if index > self.last_index():
            raise LocalProtocolError(f"snapshot {index} is past last index {self.last_index()}")
        self._snapshot = Snapshot(index, self._ents[index - offset].term, conf_state, data)
        return self._snapshot

    def compact(self, index: int) -> None:
        offset = self._ents[0].index
        if index <= offset:
            raise CompactedError(f"compact {index}: already compacted to {offset}")
        if index > self._snapshot.index:
            raise LocalProtocolError(f"compact {index} beyond snapshot {self._snapshot.index}")
        i = index - offset
        self._ents = [Entry(self._ents[i].term, index), *self._ents[i + 1:]]

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries, truncating any conflicting suffix first."""
        if not entries:
            return
        first = self.first_index()
        last = entries[-1].index
        if last < first:
            return  # all already compacted
        if entries[0].index < first:
            entries = entries[first - entries[0].index:]
        offset = entries[0].index - self._ents[0].index
        if offset > len(self._ents):
            raise RaftInvariantError(
                f"missing log entry: last {self.last_index()}, appending at {entries[0].index}")
        del self._ents[offset:]
        self._ents.extend(entries)

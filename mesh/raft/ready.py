"""`Ready`: one batch of work the core hands its driver, and the small status types.

Driver contract, in this order, for each Ready:
  1. persist `snapshot`, `entries` and `hard_state` in one write (`Storage.save`, fsync when
     `must_sync`) — the group commit;
  2. send `messages` (only now: they may promise what step 1 wrote);
  3. install `snapshot` into the state machine, then apply `committed_entries` in order
     (membership changes are already in force: see `RawNode.apply_conf_change`); serve `read_states` once
     the applied index reaches their index;
  4. call `RawNode.advance(ready)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import ConfState, Entry, HardState, Message, Snapshot, StateRole
from .read_only import ReadState


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth telling the driver about when it changes (not persisted)."""

    lead: str
    role: StateRole


@dataclass(slots=True)
class Ready:
    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    must_sync: bool = False

    def applied_cursor(self) -> int:
        """The applied index once this Ready has been applied (0 = unchanged)."""
        if self.committed_entries:
            return self.committed_entries[-1].index
        if self.snapshot is not None and self.snapshot.index:
            return self.snapshot.index
        return 0


def must_sync(hs: HardState, prev: HardState, n_entries: int, has_snapshot: bool) -> bool:
    """Term, vote, entries and snapshots must hit the disk before messages leave; a commit
    index alone may be written lazily (it can always be re-learned from the leader)."""
    return n_entries > 0 or has_snapshot or hs.term != prev.term or hs.vote != prev.vote


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """The leader's view of one peer (`Status.progress`)."""

    match: int
    next: int
    state: str
    is_learner: bool
    recent_active: bool
    paused: bool
    inflight: int


@dataclass(frozen=True, slots=True)
class Status:
    id: str
    term: int
    vote: str
    commit: int
    applied: int
    lead: str
    role: StateRole
    lead_transferee: str
    conf_state: ConfState
    last_index: int
    first_index: int
    progress: dict[str, PeerProgress] = field(default_factory=dict)

    @property
    def role_name(self) -> str:
        return self.role.name.lower()

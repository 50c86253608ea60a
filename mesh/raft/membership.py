"""`MembershipLog`: which membership is in force at every log index.

Membership changes take effect when their entry is APPENDED to a log, committed or not (Ongaro
thesis §4.1): a server always uses the latest configuration in its log. So when a follower's
log is truncated, configurations in the dropped suffix are rolled back. This module keeps the
base configuration (of the snapshot) and the (index, ConfState) of each CONF_CHANGE entry after
it; it knows nothing of progress or roles.
"""

from __future__ import annotations

from collections.abc import Iterable

from .messages import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    decode_conf_change,
    encode_conf_change,
)


def apply_change(cs: ConfState, cc: ConfChange) -> ConfState:
    """Membership after `cc` (a no-op when it is already in force: changes are idempotent)."""
    voters, learners = set(cs.voters), set(cs.learners)
    node = cc.node_id
    if cc.type in (ConfChangeType.ADD_VOTER, ConfChangeType.PROMOTE_LEARNER):
        learners.discard(node)
        voters.add(node)
    elif cc.type == ConfChangeType.ADD_LEARNER:
        if node not in voters:
            learners.add(node)
    elif cc.type == ConfChangeType.REMOVE_NODE and not (node in voters and len(voters) == 1):
        voters.discard(node)  # (the last voter is never removed)
        learners.discard(node)
    return ConfState(tuple(sorted(voters)), tuple(sorted(learners)))


class MembershipLog:
    __slots__ = ("base", "base_index", "changes")

    def __init__(self, base_index: int, base: ConfState) -> None:
        self.base_index = base_index
        self.base = base
        self.changes: list[tuple[int, ConfState]] = []  # ascending index, all > base_index

    def current(self) -> ConfState:
        return self.changes[-1][1] if self.changes else self.base

    def last_change_index(self) -> int:
        return self.changes[-1][0] if self.changes else self.base_index

    def at(self, index: int) -> ConfState:
        """Membership in force once entry `index` is in the log."""
        for i in range(len(self.changes) - 1, -1, -1):
            if self.changes[i][0] <= index:
                return self.changes[i][1]
        return self.base

    def truncate_from(self, index: int) -> bool:
        """Entries >= index are being replaced: forget their changes. True if any was dropped."""
        dropped = False
        while self.changes and self.changes[-1][0] >= index:
            self.changes.pop()
            dropped = True
        return dropped

    def append(self, entries: Iterable[Entry]) -> bool:
        """Record the changes among newly appended entries. True if membership changed."""
        changed = False
        for e in entries:
            if e.type == EntryType.CONF_CHANGE and e.index > self.base_index:
                new = apply_change(self.current(), decode_conf_change(e.data))
                self.changes.append((e.index, new))
                changed = True
        return changed

    def restore(self, index: int, conf_state: ConfState) -> None:
        """A snapshot replaced the log up to `index`."""
        self.base_index = index
        self.base = conf_state
        self.changes = []

    def compact(self, index: int) -> None:
        """Fold changes at or below `index` into the base (the log before it is gone)."""
        if index <= self.base_index:
            return
        self.base = self.at(index)
        self.base_index = index
        self.changes = [c for c in self.changes if c[0] > index]


def bootstrap_entries(conf_state: ConfState) -> list[Entry]:
    """The log a brand-new cluster starts from: one committed ADD entry per initial member, at
    term 1, so a node that later joins learns the initial membership by replaying the log."""
    changes = [ConfChange(ConfChangeType.ADD_VOTER, v) for v in sorted(conf_state.voters)]
    changes += [ConfChange(ConfChangeType.ADD_LEARNER, n) for n in sorted(conf_state.learners)]
    return [Entry(1, i + 1, EntryType.CONF_CHANGE, encode_conf_change(cc))
            for i, cc in enumerate(changes)]

"""Raft safety invariants, checked incrementally after every simulator step.

- Election safety: at most one leader per term (over the whole run, across restarts).
- Log matching: every (index, term) ever persisted names one entry, preceded by one term.
- State machine safety: an index, once committed anywhere, always holds the same entry;
  every node applies exactly the committed entries, in order (applied prefixes agree).
- Leader completeness: an entry committed by a leader of term T is in the log of every
  leader of a term > T.
Each check looks only at what changed, so running them after every step stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

from mesh.raft import CompactedError, Entry, RawNode, StateRole


class InvariantViolation(AssertionError):
    pass


@dataclass(frozen=True, slots=True)
class _EntryId:
    term: int
    type: int
    data: bytes

    @staticmethod
    def of(e: Entry) -> _EntryId:
        return _EntryId(e.term, int(e.type), e.data)


class Invariants:
    def __init__(self) -> None:
        self.leader_of_term: dict[int, str] = {}
        self.log_ids: dict[tuple[int, int], tuple[_EntryId, int]] = {}
        self.committed: dict[int, _EntryId] = {}
        self.commit_term: dict[int, int] = {}  # index -> lowest leader term that committed it
        self.applied_next: dict[str, int] = {}  # node -> next index it must apply
        self.seen_commit: dict[str, int] = {}
        self.seen_role: dict[str, tuple[StateRole, int]] = {}
        self.checks = 0

    def fail(self, what: str) -> None:
        raise InvariantViolation(what)

    # -- hooks the driver calls -------------------------------------------------------
    def on_persist(self, node: str, raw: RawNode, entries: list[Entry]) -> None:
        """Log matching: (index, term) identifies the entry and the term before it."""
        log = raw.raft.log
        for e in entries:
            try:
                prev_term = log.term(e.index - 1)
            except CompactedError:
                prev_term = -1
            key = (e.index, e.term)
            ident = _EntryId.of(e)
            seen = self.log_ids.get(key)
            if seen is None:
                self.log_ids[key] = (ident, prev_term)
                continue
            if seen[0] != ident:
                self.fail(f"log matching: {node} persisted a different entry at {key}: "
                          f"{ident} vs {seen[0]}")
            if prev_term >= 0 and seen[1] >= 0 and seen[1] != prev_term:
                self.fail(f"log matching: {node} has term {prev_term} before {key}, "
                          f"another log had {seen[1]}")

    def on_restart(self, node: str, raw: RawNode, applied: int) -> None:
        self.applied_next[node] = applied + 1
        self.seen_commit[node] = raw.raft.log.committed
        self.seen_role[node] = (raw.role, raw.term)

    def on_apply_snapshot(self, node: str, index: int, term: int) -> None:
        if index < self.applied_next.get(node, 1) - 1:
            self.fail(f"{node} installed snapshot {index} below its applied index")
        known = self.committed.get(index)
        if known is not None and known.term != term:
            self.fail(f"{node} installed snapshot ({index}, {term}) but {index} committed "
                      f"with term {known.term}")
        self.applied_next[node] = index + 1

    def on_apply(self, node: str, e: Entry) -> None:
        expected = self.applied_next.get(node, 1)
        if e.index != expected:
            self.fail(f"{node} applied index {e.index}, expected {expected}")
        self.applied_next[node] = e.index + 1
        self._record_committed(node, e.index, _EntryId.of(e), "applied")

    def _record_committed(self, node: str, index: int, ident: _EntryId, how: str) -> None:
        known = self.committed.get(index)
        if known is None:
            self.committed[index] = ident
        elif known != ident:
            self.fail(f"state machine safety: {node} {how} {ident} at {index}, "
                      f"but {known} was committed there")

    # -- after every step -------------------------------------------------------------
    def check_step(self, nodes: dict[str, RawNode]) -> None:
        self.checks += 1
        new_leaders: list[tuple[str, RawNode]] = []
        leaders: list[tuple[str, RawNode]] = []
        newly_committed: list[int] = []
        for node, raw in nodes.items():
            role, term = raw.role, raw.term
            if role == StateRole.LEADER:
                holder = self.leader_of_term.setdefault(term, node)
                if holder != node:
                    self.fail(f"election safety: {holder} and {node} both led term {term}")
                leaders.append((node, raw))
                if self.seen_role.get(node) != (role, term):
                    new_leaders.append((node, raw))
            self.seen_role[node] = (role, term)
            self._check_commit(node, raw, newly_committed)
        for node, raw in new_leaders:
            self._check_leader_complete(node, raw, only=None)
        if newly_committed:
            for node, raw in leaders:
                self._check_leader_complete(node, raw, only=newly_committed)

    def _check_commit(self, node: str, raw: RawNode, newly_committed: list[int]) -> None:
        log = raw.raft.log
        old = self.seen_commit.get(node, 0)
        new = log.committed
        if new <= old:
            if new < old:
                self.fail(f"{node} commit went back from {old} to {new} without a restart")
            return
        self.seen_commit[node] = new
        first = log.first_index()
        lo = max(old + 1, first)
        if lo <= new:
            for e in log.slice(lo, new + 1, None):
                self._record_committed(node, e.index, _EntryId.of(e), "committed")
        if raw.role == StateRole.LEADER:
            for i in range(lo, new + 1):
                if self.commit_term.get(i, 1 << 62) > raw.term:
                    self.commit_term[i] = raw.term
                    newly_committed.append(i)

    def _check_leader_complete(self, node: str, raw: RawNode, only: list[int] | None) -> None:
        log = raw.raft.log
        first = log.first_index()
        indexes = only if only is not None else list(self.commit_term)
        for i in indexes:
            if self.commit_term[i] >= raw.term or i < first:
                continue  # committed in our term or later, or inside our snapshot
            ident = self.committed[i]
            if log.term_or_zero(i) != ident.term:
                self.fail(f"leader completeness: {node} leads term {raw.term} without entry {i} "
                          f"(term {ident.term}) committed in term {self.commit_term[i]}")

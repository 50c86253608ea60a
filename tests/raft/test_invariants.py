"""The simulator's invariant checks fire on the violations they exist for."""

from __future__ import annotations

import pytest

from mesh.raft import Entry, EntryType, StateRole

from .network import Network
from .sim.invariants import Invariants, InvariantViolation


def test_two_leaders_in_one_term_violate_election_safety() -> None:
    net = Network(["a", "b", "c"])
    net.elect("a")
    inv = Invariants()
    inv.check_step(net.nodes)
    b = net.raft("b")
    b.term = net.raft("a").term
    b.role = StateRole.LEADER
    with pytest.raises(InvariantViolation, match="election safety"):
        inv.check_step(net.nodes)


def test_changing_a_committed_entry_violates_state_machine_safety() -> None:
    inv = Invariants()
    inv.on_apply("a", Entry(1, 1, EntryType.NORMAL, b"x"))
    with pytest.raises(InvariantViolation, match="state machine safety"):
        inv.on_apply("b", Entry(2, 1, EntryType.NORMAL, b"y"))


def test_applying_out_of_order_is_caught() -> None:
    inv = Invariants()
    with pytest.raises(InvariantViolation, match="expected 1"):
        inv.on_apply("a", Entry(1, 2, EntryType.NORMAL, b"x"))


def test_same_index_and_term_with_different_entries_violates_log_matching() -> None:
    net = Network(["a", "b", "c"])
    inv = Invariants()
    inv.on_persist("a", net.nodes["a"], [Entry(5, 9, EntryType.NORMAL, b"x")])
    with pytest.raises(InvariantViolation, match="log matching"):
        inv.on_persist("b", net.nodes["b"], [Entry(5, 9, EntryType.NORMAL, b"y")])


def test_leader_missing_a_committed_entry_violates_leader_completeness() -> None:
    net = Network(["a", "b", "c"])
    net.elect("a")
    net.propose("a", b"x")
    inv = Invariants()
    inv.check_step({"a": net.nodes["a"]})  # records a's commits in a's term
    b = net.raft("b")
    b.log.unstable.truncate_and_append([Entry(1, 4, EntryType.NOOP)])  # b "loses" entry 4
    b.log.committed = 3
    inv.on_restart("b", net.nodes["b"], 3)
    b.term = net.raft("a").term + 1
    b.role = StateRole.LEADER
    with pytest.raises(InvariantViolation, match="leader completeness"):
        inv.check_step({"b": net.nodes["b"]})

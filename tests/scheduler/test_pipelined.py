"""Planning while earlier plans are still being committed: held slots, tasks being placed, and the
tasks of a submission that is not applied yet."""

from __future__ import annotations

from mesh.scheduler import schedule
from mesh.tasks import TaskSpec
from mesh.tasktable.specs import NO_REQUIREMENTS
from tests.scheduler.test_policy import table_with
from tests.tasktable.helpers import CPU, GPU, spec

CUDA = TaskSpec.from_dict(spec(cuda=True)).requirements


def test_held_slots_are_not_free() -> None:
    table = table_with(("w1", CPU, 2), ("w2", CPU, 2))
    table.submit([spec() for _ in range(4)], ["t1", "t2", "t3", "t4"], now=0.0)
    plan = schedule(table, now=0.0, held={"w1": 2, "w2": 1}, placing={"t1", "t2", "t3"})
    assert plan == [("t4", "w2")]
    assert schedule(table, now=0.0, held={"w1": 2, "w2": 2}) == []


def test_tasks_being_placed_are_skipped() -> None:
    table = table_with(("w1", CPU, 4))
    table.submit([spec(), spec(), spec()], ["t1", "t2", "t3"], now=0.0)
    assert [t for t, _ in schedule(table, now=0.0, placing={"t1", "t3"})] == ["t2"]


def test_incoming_tasks_follow_queued_ones_of_their_priority_and_precede_lower_ones() -> None:
    table = table_with(("w1", CPU, 10))
    table.submit([spec(priority=5), spec(priority=1), spec(priority=7)], ["t1", "t2", "t3"], now=0.0)
    incoming = [("n1", 5, NO_REQUIREMENTS), ("n2", 0, NO_REQUIREMENTS), ("n3", 5, NO_REQUIREMENTS)]
    order = [t for t, _ in schedule(table, now=0.0, incoming=incoming)]
    assert order == ["n2", "t2", "t1", "n1", "n3", "t3"]


def test_incoming_tasks_only_go_to_workers_that_match() -> None:
    table = table_with(("cpu", CPU, 1), ("gpu", GPU, 1))
    plan = schedule(table, now=0.0, incoming=[("n1", 5, CUDA), ("n2", 5, CUDA), ("n3", 5, NO_REQUIREMENTS)])
    assert plan == [("n1", "gpu"), ("n3", "cpu")]


def test_only_incoming_tasks_fill_an_empty_queue() -> None:
    table = table_with(("w1", CPU, 2))
    incoming = [(f"n{i}", 5, NO_REQUIREMENTS) for i in range(3)]
    assert schedule(table, now=0.0, incoming=incoming, held={"w1": 1}) == [("n0", "w1")]

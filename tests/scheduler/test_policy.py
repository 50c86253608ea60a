"""The placement policy: order, requirement matching, slots, spreading, and unschedulable tasks."""

from __future__ import annotations

from mesh.scheduler import schedule, unschedulable
from mesh.tasktable import TaskTable
from tests.tasktable.helpers import CPU, GPU, spec


def table_with(*workers: tuple[str, dict, int]) -> TaskTable:
    table = TaskTable()
    for worker_id, capabilities, slots in workers:
        assert table.register_worker(worker_id, f"tcp://{worker_id}", capabilities, slots, now=0.0)
    return table


def test_priority_first_then_submission_order() -> None:
    table = table_with(("w1", CPU, 10))
    table.submit([spec(priority=5), spec(priority=1), spec(priority=5)], ["t1", "t2", "t3"], now=0.0)
    table.submit([spec(priority=1)], ["t4"], now=1.0)
    assert [task for task, _ in schedule(table, now=1.0)] == ["t2", "t4", "t1", "t3"]


def test_a_cuda_task_never_goes_to_a_cpu_only_worker() -> None:
    table = table_with(("cpu-a", CPU, 4), ("cpu-b", CPU, 4))
    table.submit([spec(cuda=True), spec()], ["gpu-task", "cpu-task"], now=0.0)
    assert schedule(table, now=0.0) == [("cpu-task", "cpu-a")]
    table.register_worker("gpu", "tcp://gpu", GPU, 1, now=1.0)
    assert ("gpu-task", "gpu") in schedule(table, now=1.0)


def test_slots_are_respected_across_the_whole_plan() -> None:
    table = table_with(("w1", CPU, 2), ("w2", CPU, 1))
    table.submit([spec() for _ in range(5)], [f"t{i}" for i in range(5)], now=0.0)
    plan = schedule(table, now=0.0)
    assert len(plan) == 3
    assert [w for _, w in plan].count("w1") == 2
    attempts = [(task, worker, f"a{i}") for i, (task, worker) in enumerate(plan)]
    assert len(table.assign(attempts, now=0.0)) == 3
    assert schedule(table, now=0.0) == []


def test_load_is_spread_to_the_worker_with_most_free_slots_ties_by_id() -> None:
    table = table_with(("w-b", CPU, 2), ("w-a", CPU, 2), ("w-c", CPU, 3))
    table.submit([spec() for _ in range(4)], [f"t{i}" for i in range(4)], now=0.0)
    assert schedule(table, now=0.0) == [("t0", "w-c"), ("t1", "w-a"), ("t2", "w-b"), ("t3", "w-c")]


def test_max_assignments_caps_the_plan() -> None:
    table = table_with(("w1", CPU, 100))
    table.submit([spec() for _ in range(10)], [f"t{i}" for i in range(10)], now=0.0)
    assert len(schedule(table, now=0.0, max_assignments=4)) == 4
    assert schedule(table, now=0.0, max_assignments=0) == []


def test_tasks_waiting_on_a_retry_delay_or_dependencies_are_not_scheduled() -> None:
    table = table_with(("w1", CPU, 4))
    table.submit([spec(retries=1, delay=30.0), spec(deps=["t1"])], ["t1", "t2"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=0.0)
    table.finish([("a1", "failed", {})], now=1.0)
    assert schedule(table, now=30.0) == []
    assert schedule(table, now=31.0) == [("t1", "w1")]


def test_lost_and_quarantined_workers_get_nothing() -> None:
    table = table_with(("w1", CPU, 4), ("w2", CPU, 4))
    table.submit([spec()], ["t1"], now=0.0)
    table.worker_lost("w1", now=1.0)
    table.quarantine("w2", "bad disk", now=1.0)
    assert schedule(table, now=1.0) == []


def test_unschedulable_explains_why_no_worker_matches() -> None:
    table = TaskTable()
    table.submit([spec(cuda=True), spec()], ["t1", "t2"], now=0.0)
    assert unschedulable(table) == [("t1", "no active workers"), ("t2", "no active workers")]
    table.register_worker("w1", "tcp://w1", CPU, 1, now=0.0)
    assert unschedulable(table) == [
        ("t1", "no active worker matches; w1: needs hardware cuda; worker has cpu")]


def test_a_busy_capable_worker_makes_a_task_waiting_not_unschedulable() -> None:
    table = table_with(("gpu", GPU, 1))
    table.submit([spec(cuda=True), spec(cuda=True)], ["t1", "t2"], now=0.0)
    table.assign([("t1", "gpu", "a1")], now=0.0)
    assert schedule(table, now=0.0) == []
    assert unschedulable(table) == []


def test_the_table_accepts_every_plan_the_policy_makes() -> None:
    table = table_with(("cpu", CPU, 3), ("gpu", GPU, 2))
    table.submit([spec(cuda=i % 3 == 0, priority=i % 4) for i in range(12)], [f"t{i}" for i in range(12)],
                 now=0.0)
    plan = schedule(table, now=0.0)
    accepted = table.assign([(t, w, f"a{i}") for i, (t, w) in enumerate(plan)], now=0.0)
    assert len(accepted) == len(plan) == 5

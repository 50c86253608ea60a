"""Workers: registration, slots, requirement matching, loss and quarantine."""

from __future__ import annotations

from mesh.tasktable import MAX_LOST_ATTEMPTS, TaskTable
from tests.tasktable.helpers import CPU, GPU, run_to, spec, status, table_with_worker


def test_registration_makes_an_active_worker_with_free_slots() -> None:
    table = table_with_worker(slots=2)
    worker = table.worker("w1")
    assert worker is not None
    assert (worker["status"], worker["slots"], worker["free_slots"], worker["address"]) == (
        "active", 2, 2, "tcp://10.0.0.1:8080")
    assert table.free_slots() == {"w1": 2}
    assert table.worker("w9") is None
    assert not table.register_worker("w2", "x", CPU, -1, now=0.0)
    assert not table.register_worker("", "x", CPU, 1, now=0.0)


def test_slots_are_never_oversubscribed() -> None:
    table = table_with_worker(slots=2)
    table.submit([spec(), spec(), spec()], ["t1", "t2", "t3"], now=0.0)
    assert table.assign([("t1", "w1", "a1"), ("t2", "w1", "a2"), ("t3", "w1", "a3")], now=1.0) == ["a1", "a2"]
    assert table.free_slots() == {"w1": 0}
    table.finish([("a1", "completed", {})], now=2.0)
    assert table.assign([("t3", "w1", "a3")], now=2.0) == ["a3"]


def test_a_cuda_task_is_never_assigned_to_a_cpu_only_worker() -> None:
    table = table_with_worker(capabilities=CPU)
    table.register_worker("gpu", "tcp://10.0.0.2:8080", GPU, 1, now=0.0)
    table.submit([spec(cuda=True)], ["t1"], now=0.0)
    assert table.assign([("t1", "w1", "a1")], now=1.0) == []
    assert table.assign([("t1", "gpu", "a1")], now=1.0) == ["a1"]


def test_assign_rejects_reused_attempt_ids_and_unknowns() -> None:
    table = table_with_worker()
    table.submit([spec(), spec()], ["t1", "t2"], now=0.0)
    assert table.assign([("t1", "w1", "a1"), ("t2", "w1", "a1")], now=0.0) == ["a1"]
    assert table.assign([("t2", "nobody", "a2"), ("ghost", "w1", "a3")], now=0.0) == []
    assert table.assign([("t1", "w1", "a4")], now=0.0) == []  # already assigned


def test_a_lost_worker_requeues_its_tasks_without_spending_retries() -> None:
    table = table_with_worker()
    table.register_worker("w2", "b", CPU, 4, now=0.0)
    table.submit([spec(), spec()], ["t1", "t2"], now=0.0)
    table.assign([("t1", "w1", "a1"), ("t2", "w1", "a2")], now=1.0)
    table.start(["a1"], now=1.0)
    assert table.worker_lost("w1", now=5.0) == ["t1", "t2"]
    assert (status(table, "t1"), status(table, "t2")) == ("queued", "queued")
    view = table.task("t1")
    assert view is not None
    assert (view["failures"], view["lost"], view["attempts"][0]["outcome"]) == (0, 1, "lost")
    assert table.worker("w1")["status"] == "lost"  # type: ignore[index]
    assert table.free_slots() == {"w2": 4}
    assert table.finish([("a1", "completed", {})], now=6.0) == []  # the lost worker reports late
    run_to(table, "t1", "a3", "completed", now=7.0, worker="w2")
    assert table.worker_lost("w1", now=8.0) == []  # already lost


def test_a_task_lost_three_times_fails() -> None:
    table = TaskTable()
    table.submit([spec(retries=10), spec(deps=["t1"])], ["t1", "t2"], now=0.0)
    for n in range(MAX_LOST_ATTEMPTS):
        worker = f"w{n}"
        table.register_worker(worker, worker, CPU, 1, now=float(n))
        assert table.assign([("t1", worker, f"a{n}")], now=float(n)) == [f"a{n}"]
        requeued = table.worker_lost(worker, now=float(n))
        assert requeued == ([] if n == MAX_LOST_ATTEMPTS - 1 else ["t1"])
    view = table.task("t1")
    assert view is not None
    assert (view["status"], view["error"], view["failures"]) == ("failed", "lost on 3 workers", 0)
    assert status(table, "t2") == "upstream_failed"


def test_a_lost_worker_that_registers_again_is_active_with_no_attempts() -> None:
    table = table_with_worker()
    table.submit([spec()], ["t1"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=0.0)
    table.worker_lost("w1", now=1.0)
    table.register_worker("w1", "new-address", CPU, 3, now=2.0)
    worker = table.worker("w1")
    assert worker is not None
    assert (worker["status"], worker["running"], worker["address"], worker["registered_at"]) == (
        "active", [], "new-address", 2.0)


def test_quarantine_stops_new_work_and_survives_loss_and_reregistration() -> None:
    table = table_with_worker()
    table.submit([spec(), spec()], ["t1", "t2"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=0.0)
    assert table.quarantine("w1", "3 crashes in a row", now=1.0)
    assert table.assign([("t2", "w1", "a2")], now=1.0) == []
    assert table.free_slots() == {}
    assert table.finish([("a1", "completed", {})], now=2.0) == ["a1"]  # running work may finish
    table.register_worker("w1", "a", CPU, 4, now=3.0)
    assert table.worker("w1")["status"] == "quarantined"  # type: ignore[index]
    table.worker_lost("w1", now=4.0)
    table.register_worker("w1", "a", CPU, 4, now=5.0)
    worker = table.worker("w1")
    assert worker is not None
    assert (worker["status"], worker["quarantine_reason"]) == ("quarantined", "3 crashes in a row")
    assert not table.quarantine("ghost", "x", now=5.0)


def test_shrinking_slots_on_reregistration_blocks_new_work_until_slots_free() -> None:
    table = table_with_worker(slots=2)
    table.submit([spec(), spec(), spec()], ["t1", "t2", "t3"], now=0.0)
    table.assign([("t1", "w1", "a1"), ("t2", "w1", "a2")], now=0.0)
    table.register_worker("w1", "a", CPU, 1, now=1.0)
    assert table.running_on("w1") == ["a1", "a2"]
    assert table.free_slots() == {"w1": 0}
    table.finish([("a1", "completed", {})], now=2.0)
    assert table.assign([("t3", "w1", "a3")], now=2.0) == []
    table.finish([("a2", "completed", {})], now=3.0)
    assert table.assign([("t3", "w1", "a3")], now=3.0) == ["a3"]

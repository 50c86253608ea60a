"""Task transitions: submit, assign, start, finish, retries, dependencies, cancel."""

from __future__ import annotations

from mesh.tasktable import EventKind, TaskStatus, TaskTable
from tests.tasktable.helpers import run_to, spec, status, table_with_worker


def test_submitted_task_without_dependencies_is_queued() -> None:
    table = TaskTable()
    assert table.submit([spec("a")], ["t1"], now=1.0) == ["t1"]
    view = table.task("t1")
    assert view is not None
    assert (view["status"], view["name"], view["type"]) == ("queued", "a", "command")
    assert view["submitted_at"] == 1.0
    assert table.ready_tasks(1.0) == ["t1"]


def test_a_task_goes_assigned_running_completed() -> None:
    table = table_with_worker()
    table.submit([spec("a")], ["t1"], now=1.0)
    assert table.assign([("t1", "w1", "a1")], now=2.0) == ["a1"]
    assert status(table, "t1") == "assigned"
    assert table.running_on("w1") == ["a1"]
    assert table.start(["a1"], now=3.0) == ["a1"]
    assert status(table, "t1") == "running"
    assert table.finish([("a1", "completed", {"exit_code": 0})], now=4.0) == ["a1"]
    view = table.task("t1")
    assert view is not None
    assert (view["status"], view["finished_at"], view["result"]) == ("completed", 4.0, {"exit_code": 0})
    assert view["attempts"] == [{"id": "a1", "number": 1, "worker_id": "w1", "outcome": "completed",
                                 "assigned_at": 2.0, "started_at": 3.0, "finished_at": 4.0}]
    assert table.running_on("w1") == []


def test_a_finish_without_start_is_accepted() -> None:
    table = table_with_worker()
    table.submit([spec()], ["t1"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=1.0)
    assert table.finish([("a1", "completed", {})], now=2.0) == ["a1"]
    assert status(table, "t1") == "completed"


def test_a_finish_without_start_dates_the_start_from_the_measured_duration() -> None:
    """Workers report a start only for attempts still running a moment after they arrive, so a
    short attempt's start comes from its result: finish time less duration, never before it
    was assigned, the finish time when the duration is missing or nonsense."""
    table = table_with_worker(slots=4)
    table.submit([spec(str(i)) for i in range(4)], ["t1", "t2", "t3", "t4"], now=0.0)
    table.assign([("t1", "w1", "a1"), ("t2", "w1", "a2"), ("t3", "w1", "a3"), ("t4", "w1", "a4")], now=1.0)
    table.finish([("a1", "completed", {"duration_s": 0.25}), ("a2", "completed", {"duration_s": 9.0}),
                  ("a3", "failed", {"duration_s": float("nan")}), ("a4", "completed", {"duration_s": True})],
                 now=2.0)
    started = {a: table.attempt(a)["started_at"] for a in ("a1", "a2", "a3", "a4")}  # type: ignore[index]
    assert started == {"a1": 1.75, "a2": 1.0, "a3": 2.0, "a4": 2.0}
    finished = [d for kind, d in table.drain_events() if kind == EventKind.ATTEMPT_FINISHED]
    assert [d["started_at"] for d in finished] == [1.75, 1.0, 2.0, 2.0]


def test_dependency_chain_runs_in_order() -> None:
    table = table_with_worker()
    table.submit([spec("a"), spec("b", deps=["t1"]), spec("c", deps=["t2"])], ["t1", "t2", "t3"], now=0.0)
    assert [status(table, t) for t in ("t1", "t2", "t3")] == ["queued", "blocked", "blocked"]
    assert table.assign([("t2", "w1", "x")], now=1.0) == []  # blocked tasks are not assignable
    run_to(table, "t1", "a1", "completed", now=1.0)
    assert [status(table, t) for t in ("t2", "t3")] == ["queued", "blocked"]
    run_to(table, "t2", "a2", "completed", now=2.0)
    assert status(table, "t3") == "queued"


def test_a_task_waits_for_all_of_its_dependencies() -> None:
    table = table_with_worker()
    table.submit([spec(), spec(), spec(deps=["t1", "t2"])], ["t1", "t2", "t3"], now=0.0)
    run_to(table, "t1", "a1", "completed", now=1.0)
    assert status(table, "t3") == "blocked"
    run_to(table, "t2", "a2", "completed", now=2.0)
    assert status(table, "t3") == "queued"


def test_a_failed_dependency_fails_dependents_transitively() -> None:
    table = table_with_worker()
    table.submit([spec(), spec(deps=["t1"]), spec(deps=["t2"]), spec()], ["t1", "t2", "t3", "t4"], now=0.0)
    run_to(table, "t1", "a1", "failed", now=1.0, result={"error": "exit 1"})
    assert [status(table, t) for t in ("t1", "t2", "t3", "t4")] == [
        "failed", "upstream_failed", "upstream_failed", "queued"]
    view = table.task("t3")
    assert view is not None and view["error"] == "dependency t2 upstream_failed"
    assert table.task("t1")["error"] == "exit 1"  # type: ignore[index]


def test_submitting_after_a_dependency_failed_is_upstream_failed_at_once() -> None:
    table = table_with_worker()
    table.submit([spec()], ["t1"], now=0.0)
    table.cancel("t1", now=1.0)
    table.submit([spec(deps=["t1"])], ["t2"], now=2.0)
    assert status(table, "t2") == "upstream_failed"
    table.submit([spec()], ["t3"], now=2.0)
    run_to(table, "t3", "a3", "completed", now=3.0)
    table.submit([spec(deps=["t3"])], ["t4"], now=4.0)
    assert status(table, "t4") == "queued"


def test_failures_retry_after_the_delay_then_fail() -> None:
    table = table_with_worker()
    table.submit([spec(retries=2, delay=10.0), spec(deps=["t1"])], ["t1", "t2"], now=0.0)
    run_to(table, "t1", "a1", "failed", now=1.0)
    view = table.task("t1")
    assert view is not None and (view["status"], view["not_before"]) == ("queued", 11.0)
    assert table.ready_tasks(10.9) == []
    assert table.assign([("t1", "w1", "a2")], now=10.9) == []  # not before the retry delay
    run_to(table, "t1", "a2", "timed_out", now=11.0)
    run_to(table, "t1", "a3", "error", now=30.0)
    assert status(table, "t1") == "failed"
    assert status(table, "t2") == "upstream_failed"
    assert [a["number"] for a in table.task("t1")["attempts"]] == [1, 2, 3]  # type: ignore[index]


def test_final_timeout_ends_timed_out() -> None:
    table = table_with_worker()
    table.submit([spec()], ["t1"], now=0.0)
    run_to(table, "t1", "a1", "timed_out", now=1.0)
    assert status(table, "t1") == "timed_out"


def test_duplicate_and_late_finishes_are_ignored() -> None:
    table = table_with_worker()
    table.submit([spec(retries=1)], ["t1"], now=0.0)
    run_to(table, "t1", "a1", "failed", now=1.0)
    assert table.finish([("a1", "completed", {})], now=2.0) == []  # superseded attempt
    assert status(table, "t1") == "queued"
    run_to(table, "t1", "a2", "completed", now=3.0)
    assert table.finish([("a2", "completed", {}), ("a2", "failed", {})], now=4.0) == []
    assert table.task("t1")["failures"] == 1  # type: ignore[index]
    assert table.start(["a1", "a2", "nope"], now=5.0) == []


def test_one_batch_records_an_attempt_once() -> None:
    table = table_with_worker()
    table.submit([spec()], ["t1"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=0.0)
    assert table.finish([("a1", "failed", {}), ("a1", "completed", {})], now=1.0) == ["a1"]
    assert status(table, "t1") == "failed"


def test_malformed_log_items_are_skipped_not_raised() -> None:
    table = table_with_worker()
    table.submit([spec()], ["t1"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=0.0)
    junk: list = [None, 3, ["a1"], ("a1", "exploded", {}), ("a1", "completed", "not a dict"),
                  ("zz", "failed", {})]
    assert table.finish(junk, now=1.0) == []
    assert table.assign(junk, now=1.0) == []
    junk_ids: list = [None, 7]
    assert table.start(junk_ids, now=1.0) == []
    assert status(table, "t1") == "assigned"


def test_cancel_returns_the_attempt_to_kill_and_fails_dependents() -> None:
    table = table_with_worker(slots=1)
    table.submit([spec(), spec(deps=["t1"])], ["t1", "t2"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=1.0)
    table.start(["a1"], now=1.0)
    assert table.cancel("t1", now=2.0) == {"task_id": "t1", "attempt_id": "a1", "worker_id": "w1"}
    assert (status(table, "t1"), status(table, "t2")) == ("cancelled", "upstream_failed")
    assert table.free_slots() == {"w1": 1}
    assert table.finish([("a1", "cancelled", {})], now=3.0) == []  # the kill's report comes late
    assert table.cancel("t1", now=4.0) is None
    assert table.cancel("missing", now=4.0) is None


def test_cancelling_a_queued_task_names_no_attempt() -> None:
    table = TaskTable()
    table.submit([spec()], ["t1"], now=0.0)
    assert table.cancel("t1", now=1.0) == {"task_id": "t1", "attempt_id": None, "worker_id": None}


def test_a_worker_reported_cancel_cancels_the_task() -> None:
    table = table_with_worker()
    table.submit([spec(retries=5)], ["t1"], now=0.0)
    run_to(table, "t1", "a1", "cancelled", now=1.0)
    assert status(table, "t1") == "cancelled"


def test_invalid_submissions_are_rejected_item_by_item() -> None:
    table = TaskTable()
    bad_type = {"type": "nope", "config": {}}
    accepted = table.submit([spec(), bad_type, spec(deps=["ghost"]), spec(), spec(deps=["t1"])],
                            ["t1", "t2", "t3", "t1", "t5"], now=0.0)
    assert accepted == ["t1", "t5"]
    rejected = [e[1] for e in table.drain_events() if e[0] == EventKind.TASK_REJECTED]
    assert [r["index"] for r in rejected] == [1, 2, 3]
    assert "unknown dependencies: ghost" in rejected[1]["reason"]
    assert table.submit([spec()], [], now=0.0) == []  # a task without an id
    assert table.submit([spec(deps=["t9"])], ["t9"], now=0.0) == []  # depends on itself


def test_by_name_gives_the_latest_task_and_counts_cover_every_status() -> None:
    table = TaskTable()
    table.submit([spec("build")], ["t1"], now=0.0)
    table.submit([spec("build"), spec(deps=["t2"])], ["t2", "t3"], now=1.0)
    assert table.by_name("build") == "t2"
    assert table.by_name("nothing") is None
    counts = table.counts()
    assert set(counts) == {s.value for s in TaskStatus}
    assert (counts["queued"], counts["blocked"], counts["running"]) == (2, 1, 0)
    assert [t["id"] for t in table.tasks("queued")] == ["t1", "t2"]
    assert [t["id"] for t in table.tasks()] == ["t1", "t2", "t3"]


def test_ready_tasks_are_ordered_by_priority_then_submission() -> None:
    table = TaskTable()
    table.submit([spec(priority=5), spec(priority=1), spec(priority=5)], ["t1", "t2", "t3"], now=0.0)
    table.submit([spec(priority=1)], ["t4"], now=1.0)
    assert table.ready_tasks(1.0) == ["t2", "t4", "t1", "t3"]

"""Snapshots round-trip exactly; events describe every change and stay out of the snapshot."""

from __future__ import annotations

from pathlib import Path

import msgpack

from mesh.tasktable import TaskTable, violations
from tests.tasktable.helpers import GPU, run_to, spec, table_with_worker

PURE_FORBIDDEN = ("time", "random", "asyncio", "zmq", "transports", "actors", "ui", "uuid", "os",
                  "datetime", "socket", "threading")


def busy_table() -> TaskTable:
    table = table_with_worker(slots=2)
    table.register_worker("gpu", "tcp://10.0.0.2:8080", GPU, 1, now=0.5)
    table.submit([spec("a", retries=1, delay=5.0), spec("b", deps=["t1"]), spec("c", cuda=True),
                  spec("d", priority=1)], ["t1", "t2", "t3", "t4"], now=1.0)
    run_to(table, "t1", "a1", "failed", now=2.0, result={"error": "boom", "stdout": "x" * 10})
    table.assign([("t3", "gpu", "a2"), ("t4", "w1", "a3")], now=3.0)
    table.start(["a2"], now=3.5)
    table.quarantine("gpu", "flaky", now=4.0)
    return table


def test_restore_of_a_snapshot_gives_an_equal_table() -> None:
    table = busy_table()
    copy = TaskTable()
    copy.restore(table.snapshot())
    assert copy == table
    assert copy.snapshot() == table.snapshot()
    assert copy.tasks() == table.tasks()
    assert copy.workers() == table.workers()
    assert copy.ready_tasks(10.0) == table.ready_tasks(10.0)
    assert copy.by_name("c") == "t3"
    assert violations(copy) == []


def test_a_restored_table_carries_on_like_the_original() -> None:
    table = busy_table()
    copy = TaskTable()
    copy.restore(table.snapshot())
    for replica in (table, copy):
        replica.finish([("a2", "completed", {"ok": True})], now=6.0)
        replica.assign([("t1", "w1", "a4")], now=7.0)
        replica.finish([("a4", "completed", {})], now=8.0)
    assert copy.snapshot() == table.snapshot()
    assert copy.task("t2")["status"] == "queued"  # type: ignore[index]


def test_events_are_drained_once_and_not_in_the_snapshot() -> None:
    table = busy_table()
    before = table.snapshot()
    events = table.drain_events()
    assert table.drain_events() == []
    assert table.snapshot() == before
    kinds = [kind for kind, _ in events]
    assert kinds[:3] == ["worker_registered", "worker_registered", "task_submitted"]
    for kind in ("attempt_assigned", "attempt_started", "attempt_finished", "task_queued",
                 "worker_quarantined"):
        assert kind in kinds
    finished = next(data for kind, data in events if kind == "attempt_finished")
    assert finished["result"] == {"error": "boom", "stdout": "xxxxxxxxxx"}
    assert finished["outcome"] == "failed" and finished["task_id"] == "t1"
    msgpack.packb(events)  # plain data, ready for the node


def test_a_completed_task_emits_task_finished() -> None:
    table = table_with_worker()
    table.submit([spec("a")], ["t1"], now=0.0)
    run_to(table, "t1", "a1", "completed", now=1.0)
    finished = [data for kind, data in table.drain_events() if kind == "task_finished"]
    assert finished == [{"task_id": "t1", "name": "a", "status": "completed", "error": None,
                         "attempts": 1, "at": 1.0}]


def test_restore_refuses_another_snapshot_version() -> None:
    bad = msgpack.packb([99, 0, [], [], []])
    try:
        TaskTable().restore(bad)
    except ValueError as err:
        assert "version 99" in str(err)
    else:
        raise AssertionError("restore accepted an unknown version")


def test_the_table_imports_no_clock_randomness_or_io() -> None:
    import ast

    root = Path(__file__).resolve().parents[2]
    for package in ("mesh/tasktable", "mesh/scheduler"):
        for file in sorted((root / package).rglob("*.py")):
            for node in ast.walk(ast.parse(file.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                for name in names:
                    assert name.split(".")[0] not in PURE_FORBIDDEN, f"{file} imports {name}"

"""A table restored from a snapshot rebuilds, through `history_events`, the rows the live event
stream wrote: the results file of a replica that got its state from a snapshot ends up the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from actors.results_writer import MAX_FAILED_WRITES, ResultsWriter
from mesh.tasktable import TaskTable
from tests.tasktable.helpers import CPU, spec

TASK_COLUMNS = "task_id, name, type, priority, status, submitted_at, finished_at, spec"
ATTEMPT_COLUMNS = "attempt_id, task_id, worker_id, started_at, finished_at, outcome, exit_code, error, result"


def live_table(writer: ResultsWriter) -> TaskTable:
    """A table driven through every kind of ending, its events written as they come."""
    table = TaskTable()

    def step() -> None:
        writer.add(table.drain_events(), table)
    table.register_worker("w1", "tcp://10.0.0.1:1", CPU, 4, now=0.0)
    table.register_worker("w2", "tcp://10.0.0.2:1", CPU, 4, now=0.5)
    step()
    table.submit([spec("ok"), spec("flaky", retries=1), spec("doomed"), spec("after", deps=["t3"]),
                  spec("lost"), spec("waiting"), spec("running")],
                 ["t1", "t2", "t3", "t4", "t5", "t6", "t7"], now=1.0)
    step()
    table.assign([("t1", "w1", "a1"), ("t2", "w1", "a2"), ("t3", "w1", "a3"), ("t5", "w2", "a5"),
                  ("t7", "w1", "a7")], now=2.0)
    step()
    table.start(["a1", "a2", "a5", "a7"], now=2.5)
    step()
    table.finish([("a1", "completed", {"duration_s": 0.25, "value": 1}),
                  ("a2", "failed", {"duration_s": 0.1, "error": "boom", "exit_code": 3}),
                  ("a3", "timed_out", {"duration_s": 0.5})], now=3.0)
    step()
    table.worker_lost("w2", now=4.0)  # t5 goes back to the queue
    step()
    table.assign([("t2", "w1", "a2b")], now=5.0)
    step()
    table.finish([("a2b", "completed", {"duration_s": 0.05})], now=6.0)
    step()
    return table


def rows(writer: ResultsWriter, sql: str) -> list[tuple[Any, ...]]:
    writer.flush()
    return sorted(writer.store.connection.execute(sql).fetchall(), key=repr)


def test_history_events_rebuild_the_rows_of_the_live_stream(tmp_path: Path) -> None:
    live = ResultsWriter(tmp_path / "live.duckdb")
    table = live_table(live)
    restored = TaskTable()
    restored.restore(table.snapshot())
    rebuilt = ResultsWriter(tmp_path / "rebuilt.duckdb")
    rebuilt.add(restored.history_events(), restored, replayed=True)
    for sql in (f"select {TASK_COLUMNS} from tasks", f"select {ATTEMPT_COLUMNS} from attempts",
                "select task_id, worker_id, metric, value from metrics",
                "select worker_id, hardware from workers"):
        assert rows(rebuilt, sql) == rows(live, sql), sql
    statuses = dict(rows(live, "select task_id, status from tasks"))
    assert statuses == {"t1": "completed", "t2": "completed", "t3": "timed_out", "t4": "upstream_failed",
                        "t5": "queued", "t6": "queued", "t7": "running"}
    live.close()
    rebuilt.close()


def test_replayed_rows_are_not_appended_again(tmp_path: Path) -> None:
    """Replaying what the file already holds (a restart re-applying its log, a snapshot over
    rows already flushed) upserts the same rows and appends no metric sample twice."""
    writer = ResultsWriter(tmp_path / "r.duckdb")
    table = live_table(writer)
    before = rows(writer, "select metric, count(*) from metrics group by metric")
    writer.add(table.history_events(), table, replayed=True)
    assert rows(writer, "select metric, count(*) from metrics group by metric") == before
    assert before == [("task_duration_s", 4)]
    writer.close()


def test_a_finish_written_live_and_replayed_in_one_write_counts_once(tmp_path: Path) -> None:
    """A follower's own rows still pending when a snapshot arrives with the same finishes: the
    write that holds both keeps one metric sample per attempt."""
    writer = ResultsWriter(tmp_path / "r.duckdb")
    table = live_table(writer)  # nothing flushed yet
    restored = TaskTable()
    restored.restore(table.snapshot())
    writer.add(restored.history_events(), restored, replayed=True)
    writer.add(restored.history_events(), restored, replayed=True)
    assert rows(writer, "select metric, count(*) from metrics group by metric") == [("task_duration_s", 4)]
    writer.close()


def test_rows_that_cannot_be_stored_block_nothing_for_long(tmp_path: Path) -> None:
    """A write is all or nothing, so one row DuckDB refuses fails it; after a few tries the
    tables go one by one and only the refused table's rows are dropped, counted and logged."""
    writer = ResultsWriter(tmp_path / "r.duckdb")
    table = TaskTable()
    table.register_worker("w1", "tcp://10.0.0.1:1", CPU, 4, now=0.0)
    table.submit([spec("odd")], ["t1"], now=1.0)
    table.assign([("t1", "w1", "a1")], now=2.0)
    table.finish([("a1", "failed", {"duration_s": 0.5, "exit_code": "three"})], now=3.0)
    writer.add(table.drain_events(), table)
    for _ in range(MAX_FAILED_WRITES):
        assert writer.flush() == 0
        assert writer.store.count("tasks") == 0  # nothing of a failed write lands
    assert writer.flush() > 0
    assert writer.rows_dropped == 1 and writer.pending == 0
    assert writer.store.query("select status from tasks")["status"].tolist() == ["failed"]
    assert writer.store.count("attempts") == 0
    writer.close()

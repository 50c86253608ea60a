"""Every replica's materialised view of the applied log in DuckDB: tasks, attempts, per-test
outcomes, benchmark measurements, metric samples and workers.

The task table's events (drained after each applied entry) are turned into rows and written in
bulk every `FLUSH_S` or `FLUSH_ROWS`, never row by row. JSON columns hold the applied dicts
themselves (never changed once applied); the writing thread serialises them. The store's writes
are upserts keyed by task and attempt id, so replaying the log after a restart (or installing a
snapshot) writes nothing twice. Rows from entries a restarted node applies again, and from a
snapshot's table, are marked replayed: their appended rows (metric samples) are kept only for
attempts neither the file nor the same write holds finished yet. A write is one transaction, so
a finished attempt in the file means every row derived from its finish is there too. A write
that keeps failing is split by table after `MAX_FAILED_WRITES`; while the store still takes
writes, a table whose rows it refuses has them dropped with an error in the log (never blocking
the other tables' rows), and while it takes none (a full disk) every row stays pending.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from analytics.store import ResultStore
from mesh.tasktable import TaskTable

log = logging.getLogger("mesh.results")

FLUSH_S = 1.0  # one bulk write a second merges a task's submit..finish rows into one
FLUSH_ROWS = 50000
MAX_FAILED_WRITES = 3  # failed writes of the same rows before they are written table by table


class ResultsWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = ResultStore(path)
        self._tasks: list[dict[str, Any]] = []
        self._attempts: list[dict[str, Any]] = []
        self._tests: list[dict[str, Any]] = []
        self._bench: list[dict[str, Any]] = []
        self._workers: list[dict[str, Any]] = []
        # metric samples of each finish: (attempt id, samples, replayed); a replayed finish's are
        # written only if neither the file nor the same write already holds that attempt's
        self._finish_metrics: list[tuple[str, list[dict[str, Any]], bool]] = []
        self._replaying = False
        self.rows_written = 0
        self.rows_dropped = 0
        self.errors = 0
        self.failed_writes = 0  # consecutive failures of the rows pending now

    @property
    def pending(self) -> int:
        return (len(self._tasks) + len(self._attempts) + len(self._tests) + len(self._bench)
                + len(self._finish_metrics) + len(self._workers))

    def _lists(self) -> list[list[Any]]:
        return [self._tasks, self._attempts, self._tests, self._bench, self._finish_metrics,
                self._workers]

    def add(self, events: list[tuple[str, dict[str, Any]]], table: TaskTable, *,
            replayed: bool = False) -> None:
        """Turn task-table events into rows; `table` (just applied) supplies specs and capabilities.
        `replayed`: the events may have been written before (see the module's docstring)."""
        self._replaying = replayed
        for kind, data in events:
            handler = getattr(self, f"_on_{kind}", None)
            if handler is not None:
                handler(data, table)

    def _on_task_submitted(self, d: dict[str, Any], table: TaskTable) -> None:
        spec = table.spec(d["task_id"]) or {}
        self._tasks.append({"task_id": d["task_id"], "name": d.get("name"), "type": d.get("type"),
                            "priority": d.get("priority"), "status": d.get("status"),
                            "submitted_at": d.get("at"), "spec": spec})

    def _on_task_queued(self, d: dict[str, Any], table: TaskTable) -> None:
        self._tasks.append({"task_id": d["task_id"], "status": "queued"})

    def _on_task_finished(self, d: dict[str, Any], table: TaskTable) -> None:
        self._tasks.append({"task_id": d["task_id"], "status": d.get("status"), "finished_at": d.get("at")})

    def _on_attempt_assigned(self, d: dict[str, Any], table: TaskTable) -> None:
        self._attempts.append({"attempt_id": d["attempt_id"], "task_id": d["task_id"],
                               "worker_id": d.get("worker_id")})
        self._tasks.append({"task_id": d["task_id"], "status": "assigned"})

    def _on_attempt_started(self, d: dict[str, Any], table: TaskTable) -> None:
        self._attempts.append({"attempt_id": d["attempt_id"], "task_id": d.get("task_id"),
                               "started_at": d.get("at")})
        self._tasks.append({"task_id": d["task_id"], "status": "running"})

    def _on_attempt_finished(self, d: dict[str, Any], table: TaskTable) -> None:
        result = d.get("result") or {}
        metrics: list[dict[str, Any]] = []
        base = {"task_id": d["task_id"], "attempt_id": d["attempt_id"], "worker_id": d.get("worker_id")}
        self._attempts.append({**base, "started_at": d.get("started_at"), "finished_at": d.get("at"),
                               "outcome": d.get("outcome"),
                               "exit_code": result.get("exit_code"), "error": result.get("error"),
                               "result": result})
        at = d.get("at")
        for test in result.get("test_outcomes") or []:
            self._tests.append({**base, "nodeid": test.get("nodeid"), "outcome": test.get("outcome"),
                                "duration_s": test.get("duration_s"), "recorded_at": at})
            if test.get("duration_s") is not None:
                metrics.append({"ts": at, "task_id": d["task_id"], "worker_id": d.get("worker_id"),
                                "task_type": "test", "metric": "test_duration_s",
                                "value": float(test["duration_s"])})
        spec = table.spec(d["task_id"]) or {}
        config = spec.get("config") or {}
        for row in result.get("benchmark") or []:
            self._bench.append({**base, "benchmark": config.get("benchmark"), "model": config.get("model"),
                                "precision": config.get("precision"), "hardware": row.get("hardware"),
                                "batch_size": row.get("batch_size"), "iterations": row.get("iterations"),
                                **{k: row.get(k) for k in ("latency_mean_ms", "latency_std_ms",
                                                           "latency_p50_ms", "latency_p90_ms",
                                                           "latency_p99_ms", "throughput_per_s",
                                                           "peak_memory_mb")},
                                "recorded_at": at})
            for metric in ("latency_mean_ms", "latency_p50_ms", "latency_p99_ms", "throughput_per_s",
                           "peak_memory_mb"):
                if row.get(metric) is not None:
                    metrics.append({
                        "ts": at, "task_id": d["task_id"], "worker_id": d.get("worker_id"),
                        "task_type": "benchmark", "model": config.get("model"),
                        "hardware": row.get("hardware"), "batch_size": row.get("batch_size"),
                        "metric": metric, "value": float(row[metric])})
        if result.get("duration_s") is not None:
            metrics.append({"ts": at, "task_id": d["task_id"], "worker_id": d.get("worker_id"),
                            "task_type": spec.get("type"), "metric": "task_duration_s",
                            "value": float(result["duration_s"])})
        if metrics:
            self._finish_metrics.append((d["attempt_id"], metrics, self._replaying))

    def _on_worker_registered(self, d: dict[str, Any], table: TaskTable) -> None:
        worker = table.worker(d["worker_id"])
        caps = worker["capabilities"] if worker else {}
        self._workers.append({"worker_id": d["worker_id"], "hostname": caps.get("hostname"),
                              "hardware": caps.get("hardware"), "device_type": caps.get("device_type"),
                              "capabilities": caps or None,
                              "first_seen": d.get("at"), "last_seen": d.get("at")})

    def take(self) -> list[list[Any]] | None:
        """Hand over everything pending (to `write`, possibly in another thread)."""
        if not self.pending:
            return None
        taken = self._lists()
        self._tasks, self._attempts, self._tests = [], [], []
        self._bench, self._finish_metrics, self._workers = [], [], []
        return taken

    def write(self, taken: list[list[Any]]) -> int:
        """Write taken rows in one transaction, one bulk statement per table. Safe to run in a
        worker thread, never twice at once. Returns the rows written; on error nothing is
        written and `taken` is left as it was (for `give_back`). After `MAX_FAILED_WRITES`
        failures in a row the tables are written one by one (`_write_each`)."""
        if self.failed_writes >= MAX_FAILED_WRITES:
            return self._write_each(taken)
        try:
            with self.store.transaction():
                written = sum(insert(rows) for _, insert, rows in self._inserts(taken))
        except Exception:
            self.failed_writes += 1
            raise
        self.failed_writes = 0
        return written

    def _inserts(self, taken: list[list[Any]]) -> list[tuple[int, Any, list[dict[str, Any]]]]:
        """(index in `taken`, insert function, rows) per table with rows: merged by key, and
        replayed metric samples filtered."""
        store = self.store
        tasks, attempts, tests, bench, finish_metrics, workers = taken
        replayed = {attempt_id for attempt_id, _, was_replayed in finish_metrics if was_replayed}
        stored = store.finished_attempts(replayed) if replayed else set()
        metrics: list[dict[str, Any]] = []
        seen: set[str] = set()
        for attempt_id, samples, was_replayed in finish_metrics:
            if attempt_id in seen or (was_replayed and attempt_id in stored):
                continue
            seen.add(attempt_id)
            metrics.extend(samples)
        out = [(store.insert_tasks, _merge(tasks, "task_id")),
               (store.insert_attempts, _merge(attempts, "attempt_id")),
               (store.insert_test_outcomes, tests), (store.insert_benchmark_measurements, bench),
               (store.insert_metrics, metrics), (store.upsert_workers, _merge(workers, "worker_id"))]
        return [(i, insert, rows) for i, (insert, rows) in enumerate(out) if rows]

    def _write_each(self, taken: list[list[Any]]) -> int:
        """The rows of a write that keeps failing, table by table. Tables written are cleared
        from `taken`. If the store still takes a small write, a table that fails has rows it
        refuses: they are dropped so the others (and newer rows) get in. If it does not (a full
        disk), this raises and the failed tables' rows stay pending."""
        written, failed = 0, []
        for index, insert, rows in self._inserts(taken):
            try:
                with self.store.transaction():
                    written += insert(rows)
            except Exception as err:
                failed.append((index, insert, rows, err))
                continue
            taken[index].clear()
        if failed and not self.store.writable():
            self.rows_written += written  # the caller counts only what a write that returns wrote
            raise RuntimeError(f"{self.path} takes no writes: {failed[0][3]}")
        for index, insert, rows, error in failed:
            self.rows_dropped += len(rows)
            log.error("dropping %d rows for %s: they cannot be stored: %s", len(rows),
                      getattr(insert, "__name__", insert), error)
            taken[index].clear()
        self.failed_writes = 0
        return written

    def give_back(self, taken: list[list[Any]]) -> None:
        """Put rows of a failed write in front of newer ones (newer updates still win)."""
        for rows, old in zip(self._lists(), taken, strict=True):
            rows[:0] = old

    def flush(self) -> int:
        """Write everything pending now, on this thread. A failure is logged and counted; the
        rows stay pending and the next flush tries again."""
        taken = self.take()
        if taken is None:
            return 0
        try:
            written = self.write(taken)
        except Exception:
            self.errors += 1
            log.exception("writing results to %s failed (will retry)", self.path)
            self.give_back(taken)
            return 0
        self.rows_written += written
        return written

    def close(self) -> None:
        self.flush()
        self.store.close()


def _merge(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Fold several updates of one key into one row (an upsert batch must not repeat a key)."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = merged.setdefault(row[key], {})
        current.update({k: v for k, v in row.items() if v is not None})
    return list(merged.values())

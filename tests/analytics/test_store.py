"""ResultStore: schema on open, bulk round trips of every table, replay-safe upserts and
appends, worker merging, numpy readers; and no numba on its import path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from analytics.schema import TABLES
from analytics.store import ResultStore


def test_opening_creates_every_table_and_reopening_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.duckdb"
    with ResultStore(path) as store:
        names = {
            r[0]
            for r in store.connection.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
        assert {t.name for t in TABLES} <= names
        store.insert_metrics([{"ts": dt.datetime(2024, 1, 1), "metric": "m", "value": 1.5}])
    with ResultStore(path) as store:
        assert store.count("metrics") == 1
    with ResultStore(path, read_only=True) as store:
        assert store.metric_names() == ["m"]
        with pytest.raises(duckdb.Error):
            store.insert_metrics([{"ts": dt.datetime(2024, 1, 1), "metric": "m", "value": 2.0}])


def test_tasks_and_attempts_round_trip_and_upsert() -> None:
    with ResultStore() as store:
        store.insert_tasks(
            [
                {
                    "task_id": "t1",
                    "name": "bench",
                    "type": "benchmark",
                    "priority": 2,
                    "status": "queued",
                    "submitted_at": dt.datetime(2024, 1, 1, 12),
                    "spec": {"model": "bert", "batch": [1, 8]},
                },
                {
                    "task_id": "t2",
                    "name": "tests",
                    "type": "test",
                    "priority": None,
                    "status": "done",
                    "submitted_at": "2024-01-02T03:04:05",
                    "finished_at": 1704164645.25,
                    "spec": None,
                },
            ]
        )
        store.insert_tasks(
            [{"task_id": "t1", "status": "succeeded", "finished_at": dt.datetime(2024, 1, 1, 13)}]
        )
        rows = {r["task_id"]: r for r in store.fetch_rows("tasks")}
        assert rows["t1"]["status"] == "succeeded" and rows["t1"]["finished_at"] == dt.datetime(
            2024, 1, 1, 13
        )
        assert rows["t1"]["name"] == "bench" and rows["t1"]["spec"] == {"model": "bert", "batch": [1, 8]}
        assert rows["t2"]["finished_at"] == dt.datetime(2024, 1, 2, 3, 4, 5, 250000)
        assert (
            rows["t2"]["submitted_at"] == dt.datetime(2024, 1, 2, 3, 4, 5) and rows["t2"]["priority"] is None
        )
        attempt = {
            "attempt_id": "a1",
            "task_id": "t1",
            "worker_id": "w1",
            "outcome": "passed",
            "exit_code": 0,
            "started_at": dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "result": {"latency_ms": 3.5},
        }
        store.insert_attempts([attempt, attempt])  # a replayed result in the same batch
        store.insert_attempts([attempt])
        (row,) = store.fetch_rows("attempts")
        assert row["result"] == {"latency_ms": 3.5} and row["started_at"] == dt.datetime(2024, 1, 1, 10)
        with pytest.raises(ValueError):
            store.insert_tasks([{"task_id": "t3", "colour": "red"}])


def test_child_rows_of_an_attempt_are_stored_once() -> None:
    rows = [
        {
            "task_id": "t",
            "attempt_id": "a",
            "worker_id": "w",
            "nodeid": f"t.py::t{i}",
            "outcome": "passed",
            "duration_s": 0.1 * i,
            "recorded_at": dt.datetime(2024, 1, 1),
        }
        for i in range(3)
    ]
    bench = [
        {
            "task_id": "t",
            "attempt_id": "a",
            "worker_id": "w",
            "benchmark": "b",
            "model": "m",
            "precision": "fp16",
            "hardware": "h100",
            "batch_size": 8,
            "iterations": 10,
            "latency_mean_ms": 1.0,
            "latency_std_ms": 0.1,
            "latency_p50_ms": 1.0,
            "latency_p90_ms": 1.2,
            "latency_p99_ms": 1.4,
            "throughput_per_s": 8000.0,
            "peak_memory_mb": 512.0,
            "recorded_at": dt.datetime(2024, 1, 1),
        }
    ]
    with ResultStore() as store:
        assert store.insert_test_outcomes(rows) == 3
        assert store.insert_test_outcomes(rows) == 0
        assert store.insert_benchmark_measurements(bench) == 1
        assert store.insert_benchmark_measurements(bench) == 0
        got = store.query("SELECT nodeid, duration_s FROM test_outcomes ORDER BY nodeid")
        np.testing.assert_allclose(got["duration_s"], [0.0, 0.1, 0.2])
        assert store.fetch_rows("benchmark_measurements")[0]["batch_size"] == 8


def test_workers_merge_first_and_last_seen() -> None:
    with ResultStore() as store:
        store.upsert_workers(
            [
                {
                    "worker_id": "w1",
                    "hostname": "h1",
                    "hardware": ["gpu:a100", "cpu"],
                    "device_type": "gpu",
                    "capabilities": {"slots": 2},
                    "first_seen": dt.datetime(2024, 1, 2),
                    "last_seen": dt.datetime(2024, 1, 2),
                }
            ]
        )
        store.upsert_workers(
            [
                {
                    "worker_id": "w1",
                    "hostname": None,
                    "first_seen": dt.datetime(2024, 1, 5),
                    "last_seen": dt.datetime(2024, 1, 5),
                },
                {
                    "worker_id": "w1",
                    "hostname": None,
                    "first_seen": dt.datetime(2024, 1, 1),
                    "last_seen": dt.datetime(2024, 1, 1),
                },
            ]
        )
        (w,) = store.fetch_rows("workers")
        assert (
            w["hostname"] == "h1"
            and w["hardware"] == ["gpu:a100", "cpu"]
            and w["capabilities"] == {"slots": 2}
        )
        assert w["first_seen"] == dt.datetime(2024, 1, 1) and w["last_seen"] == dt.datetime(2024, 1, 5)


def test_metric_columns_bulk_path_and_nulls() -> None:
    n = 200_000
    ts = np.datetime64("2024-01-01T00:00:00", "us") + np.arange(n) * np.timedelta64(1, "s")
    values = np.random.default_rng(0).normal(size=n)
    values[::1000] = np.nan
    with ResultStore() as store:
        assert (
            store.insert_metrics_columns(
                ts=ts,
                metric="latency_ms",
                value=values,
                worker_id=np.array(["w1", "w2"] * (n // 2)),
                batch_size=np.full(n, 8),
                model=None,
            )
            == n
        )
        got = store.query("SELECT ts, value, worker_id, batch_size, model FROM metrics ORDER BY ts")
        np.testing.assert_array_equal(got["ts"], ts)
        np.testing.assert_array_equal(np.isnan(got["value"]), np.isnan(values))
        np.testing.assert_allclose(got["value"], values, equal_nan=True)
        assert got["worker_id"][1] == "w2" and np.all(got["batch_size"] == 8) and got["model"][0] is None
        with pytest.raises(ValueError):
            store.insert_metrics_columns(ts=ts[:2], value=values[:3], metric="x")


def test_timestamps_read_the_same_whether_a_batch_is_all_epoch_seconds_or_mixed() -> None:
    """A batch of plain epoch seconds (what the results writer sends) takes a vectorised path;
    it must store exactly what the per-value path stores, None and NaN as NULL."""
    epochs = [1795979843.4476483, None, 0, 1.5, 1795979843.0000005, float("nan")]
    mixed = [*epochs, "2026-01-02T03:04:05.000006"]
    with ResultStore() as store:
        store.insert_metrics([{"ts": t, "metric": "plain", "value": float(i)} for i, t in enumerate(epochs)])
        store.insert_metrics([{"ts": t, "metric": "mixed", "value": float(i)} for i, t in enumerate(mixed)])
        plain = store.query("SELECT ts FROM metrics WHERE metric = 'plain' ORDER BY value")["ts"]
        other = store.query("SELECT ts FROM metrics WHERE metric = 'mixed' ORDER BY value")["ts"]
    np.testing.assert_array_equal(plain, other[: len(epochs)])
    assert plain[0] == np.datetime64("2026-11-29T19:17:23.447648", "us")
    assert plain[3] == np.datetime64("1970-01-01T00:00:01.500000", "us")
    assert np.isnat(plain[1]) and np.isnat(plain[5])
    assert other[-1] == np.datetime64("2026-01-02T03:04:05.000006", "us")

"""Synthetic but realistic mesh results, for tests, benchmarks and demos: a few weeks of
benchmark and test runs on several workers, models, hardware kinds and batch sizes, with
known injected events (a lasting regression, a sick worker, isolated latency spikes).

Everything is derived from one seed; `populate` writes it through a ResultStore. Plain
numpy only (no numba), so it is cheap to import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.store import ResultStore

# Relative cost of one item of each model, and relative speed of each hardware kind.
MODEL_COST_MS = {"resnet50": 4.0, "bert-base": 7.0, "llama-7b": 60.0}
HARDWARE_SPEED = {"a100": 1.0, "h100": 1.6, "cpu-xeon": 0.08}
DEVICE_TYPE = {"a100": "gpu", "h100": "gpu", "cpu-xeon": "cpu"}
TEST_SUITE = (
    "tests/test_api.py::test_submit",
    "tests/test_raft.py::test_election",
    "tests/test_io.py::test_roundtrip",
)


@dataclass(frozen=True, slots=True)
class InjectedEvent:
    kind: str  # "regression" (lasting, from `start`), "sick_worker" (lasting), "spike" (one run)
    metric: str
    start: np.datetime64
    factor: float
    model: str | None = None
    hardware: str | None = None
    worker_id: str | None = None
    task_id: str | None = None  # the spiked run


@dataclass
class SyntheticResults:
    tasks: list[dict[str, Any]] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    test_outcomes: list[dict[str, Any]] = field(default_factory=list)
    benchmark_measurements: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    events: list[InjectedEvent] = field(default_factory=list)


def generate(
    seed: int = 0,
    days: int = 21,
    runs_per_day: int = 6,
    n_workers: int = 6,
    batch_sizes: tuple[int, ...] = (1, 8, 32),
    start: str = "2024-03-01T00:00:00",
    with_events: bool = True,
) -> SyntheticResults:
    """Benchmark runs every 24/runs_per_day hours for every (worker, model, batch size),
    a test run per worker per day, and metrics in long format for all of them.

    Events when `with_events`: from 2/3 of the period, latency_mean_ms of
    (bert-base, a100) is 25% higher (throughput correspondingly lower); from half the
    period the last worker runs everything 40% slower; 5 single runs (between 1/10 and 1/3
    of the period, healthy workers) have 3x latency.
    """
    rng = np.random.default_rng(seed)
    t0 = np.datetime64(start, "us")
    hw_names = list(HARDWARE_SPEED)
    workers = [f"worker-{i:02d}" for i in range(n_workers)]
    worker_hw = {w: hw_names[i % len(hw_names)] for i, w in enumerate(workers)}
    out = SyntheticResults()
    for w in workers:
        hw = worker_hw[w]
        out.workers.append(
            {
                "worker_id": w,
                "hostname": f"{w}.lab",
                "hardware": [hw],
                "device_type": DEVICE_TYPE[hw],
                "capabilities": {"slots": 2, "memory_gb": 64},
                "first_seen": t0,
                "last_seen": t0 + np.timedelta64(days * 24, "h"),
            }
        )
    step = np.timedelta64(int(24 * 3600 * 1e6 // runs_per_day), "us")
    n_steps = days * runs_per_day
    regression_at = t0 + np.timedelta64(int(days * 24 * 2 / 3), "h")
    sick_at = t0 + np.timedelta64(int(days * 24 / 2), "h")
    sick_worker = workers[-1]
    if with_events:
        out.events.append(
            InjectedEvent("regression", "latency_mean_ms", regression_at, 1.25, "bert-base", "a100")
        )
        out.events.append(
            InjectedEvent("sick_worker", "latency_mean_ms", sick_at, 1.4, worker_id=sick_worker)
        )
    m_ts: list[np.datetime64] = []
    m_cols: dict[str, list[Any]] = {
        k: []
        for k in ("task_id", "worker_id", "task_type", "model", "hardware", "batch_size", "metric", "value")
    }
    run_id = 0
    bench_runs: list[tuple[str, str, np.datetime64]] = []
    for k in range(n_steps):
        ts = t0 + k * step
        for w in workers:
            hw = worker_hw[w]
            for model, cost in MODEL_COST_MS.items():
                for bs in batch_sizes:
                    task_id = f"bench-{run_id:06d}"
                    run_id += 1
                    jitter = float(rng.lognormal(0.0, 0.03))
                    lat = cost * (0.6 + 0.4 * bs) / HARDWARE_SPEED[hw] * jitter
                    if with_events and model == "bert-base" and hw == "a100" and ts >= regression_at:
                        lat *= 1.25
                    if with_events and w == sick_worker and ts >= sick_at:
                        lat *= 1.4
                    bench_runs.append((task_id, w, ts))
                    attempt_id = f"{task_id}-a1"
                    finished = ts + np.timedelta64(int(lat * 1000 * 50), "us")
                    out.tasks.append(
                        {
                            "task_id": task_id,
                            "name": f"{model}-bs{bs}",
                            "type": "benchmark",
                            "priority": 1,
                            "status": "completed",
                            "submitted_at": ts,
                            "finished_at": finished,
                            "spec": {"model": model, "batch_size": bs, "iterations": 50},
                        }
                    )
                    out.attempts.append(
                        {
                            "attempt_id": attempt_id,
                            "task_id": task_id,
                            "worker_id": w,
                            "started_at": ts,
                            "finished_at": finished,
                            "outcome": "completed",
                            "exit_code": 0,
                            "error": None,
                            "result": {"latency_mean_ms": lat},
                        }
                    )
                    sd = lat * 0.05
                    row = {
                        "task_id": task_id,
                        "attempt_id": attempt_id,
                        "worker_id": w,
                        "benchmark": "inference",
                        "model": model,
                        "precision": "fp16" if DEVICE_TYPE[hw] == "gpu" else "fp32",
                        "hardware": hw,
                        "batch_size": bs,
                        "iterations": 50,
                        "latency_mean_ms": lat,
                        "latency_std_ms": sd,
                        "latency_p50_ms": lat * 0.98,
                        "latency_p90_ms": lat + 1.28 * sd,
                        "latency_p99_ms": lat + 2.33 * sd,
                        "throughput_per_s": bs * 1000.0 / lat,
                        "peak_memory_mb": 500.0 + cost * bs * 12.0,
                        "recorded_at": finished,
                    }
                    out.benchmark_measurements.append(row)
                    for metric in ("latency_mean_ms", "latency_p99_ms", "throughput_per_s", "peak_memory_mb"):
                        m_ts.append(ts)
                        for col, val in (
                            ("task_id", task_id),
                            ("worker_id", w),
                            ("task_type", "benchmark"),
                            ("model", model),
                            ("hardware", hw),
                            ("batch_size", bs),
                            ("metric", metric),
                            ("value", row[metric]),
                        ):
                            m_cols[col].append(val)
        if k % runs_per_day == 0:
            for w in workers:
                task_id = f"test-{run_id:06d}"
                run_id += 1
                attempt_id = f"{task_id}-a1"
                total = 0.0
                for nodeid in TEST_SUITE:
                    dur = float(rng.gamma(4.0, 0.05))
                    total += dur
                    out.test_outcomes.append(
                        {
                            "task_id": task_id,
                            "attempt_id": attempt_id,
                            "worker_id": w,
                            "nodeid": nodeid,
                            "outcome": "passed" if rng.random() > 0.02 else "failed",
                            "duration_s": dur,
                            "recorded_at": ts,
                        }
                    )
                out.tasks.append(
                    {
                        "task_id": task_id,
                        "name": "unit-tests",
                        "type": "test",
                        "priority": 0,
                        "status": "completed",
                        "submitted_at": ts,
                        "finished_at": ts,
                        "spec": {"paths": ["tests"]},
                    }
                )
                out.attempts.append(
                    {
                        "attempt_id": attempt_id,
                        "task_id": task_id,
                        "worker_id": w,
                        "started_at": ts,
                        "finished_at": ts,
                        "outcome": "completed",
                        "exit_code": 0,
                        "error": None,
                        "result": None,
                    }
                )
                m_ts.append(ts)
                for col, cell in (
                    ("task_id", task_id),
                    ("worker_id", w),
                    ("task_type", "test"),
                    ("model", None),
                    ("hardware", worker_hw[w]),
                    ("batch_size", None),
                    ("metric", "test_duration_s"),
                    ("value", total),
                ):
                    m_cols[col].append(cell)
    metrics: dict[str, np.ndarray] = {"ts": np.array(m_ts, dtype="datetime64[us]")}
    for col, vals in m_cols.items():
        metrics[col] = np.array(vals, dtype=np.float64) if col == "value" else np.array(vals, dtype=object)
    if with_events:
        _inject_spikes(rng, out, metrics, bench_runs, workers)
    out.metrics = metrics
    return out


def _inject_spikes(
    rng: np.random.Generator,
    out: SyntheticResults,
    metrics: dict[str, np.ndarray],
    bench_runs: list[tuple[str, str, np.datetime64]],
    workers: list[str],
) -> None:
    """Triple the latency of 5 runs of healthy workers, after the first tenth of the period
    (so every series has history before them) and before any lasting event."""
    healthy = [i for i, (_, w, _) in enumerate(bench_runs) if w != workers[-1]]
    picks = rng.choice(healthy[len(healthy) // 10 : len(healthy) // 3], size=5, replace=False)
    for i in sorted(picks):
        task_id, w, ts = bench_runs[int(i)]
        mask = (metrics["task_id"] == task_id) & (metrics["metric"] == "latency_mean_ms")
        metrics["value"][mask] *= 3.0
        row = next(r for r in out.benchmark_measurements if r["task_id"] == task_id)
        row["latency_mean_ms"] *= 3.0
        out.events.append(
            InjectedEvent("spike", "latency_mean_ms", ts, 3.0, row["model"], row["hardware"], w, task_id)
        )


def populate(store: ResultStore, results: SyntheticResults | None = None, **kwargs: Any) -> SyntheticResults:
    """Write `results` (default: generate(**kwargs)) into the store; returns them."""
    data = results if results is not None else generate(**kwargs)
    store.upsert_workers(data.workers)
    store.insert_tasks(data.tasks)
    store.insert_attempts(data.attempts)
    store.insert_test_outcomes(data.test_outcomes)
    store.insert_benchmark_measurements(data.benchmark_measurements)
    store.insert_metrics_columns(**data.metrics)
    return data

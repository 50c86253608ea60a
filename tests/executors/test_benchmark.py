"""The benchmark executor and built-in benchmarks: measured, well-formed numbers; clear errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actors.executors.base import ExecutionResult, executor_for
from mesh import benchmarks
from tests.executors.conftest import make_request, run_async

pytestmark = pytest.mark.timeout(60)

ROW_KEYS = {
    "batch_size",
    "iterations",
    "latency_mean_ms",
    "latency_std_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p99_ms",
    "throughput_per_s",
    "peak_memory_mb",
}


def run_bench(work_dir: Path, config: dict, timeout_s: float | None = 30.0) -> ExecutionResult:
    request = make_request(work_dir, "benchmark", config, timeout_s)
    return run_async(executor_for("benchmark").run(request, asyncio.Event()))


def check_row(row: dict, batch_size: int, iterations: int) -> None:
    assert row.keys() >= ROW_KEYS
    assert row["batch_size"] == batch_size
    assert row["iterations"] == iterations
    for key in ROW_KEYS - {"batch_size", "iterations", "latency_std_ms"}:
        assert row[key] > 0, key
    assert row["latency_std_ms"] >= 0
    assert row["latency_p50_ms"] <= row["latency_p90_ms"] <= row["latency_p99_ms"]
    assert row["throughput_per_s"] == pytest.approx(batch_size / (row["latency_mean_ms"] / 1e3))


def test_numpy_matmul_two_batch_sizes(work_dir: Path) -> None:
    config = {
        "benchmark": "mesh.benchmarks:numpy_matmul",
        "batch_sizes": [1, 4],
        "iterations": 5,
        "warmup": 1,
        "size": 64,
        "precision": "fp32",
    }
    result = run_bench(work_dir, config)
    assert result.outcome == "completed", result.error
    assert [row["batch_size"] for row in result.benchmark] == [1, 4]
    for row, size in zip(result.benchmark, [1, 4], strict=True):
        check_row(row, size, 5)
        assert row["peak_memory_source"] == "tracemalloc"
        # a 4 x 64 x 64 float32 stack and its output are allocated: the peak sees them
        assert row["peak_memory_mb"] >= size * 64 * 64 * 4 * 2 / 2**20


def test_numpy_mlp_runs(work_dir: Path) -> None:
    config = {"benchmark": "mesh.benchmarks:numpy_mlp", "batch_sizes": [8], "iterations": 3, "hidden": 32}
    result = run_bench(work_dir, config)
    assert result.outcome == "completed", result.error
    check_row(result.benchmark[0], 8, 3)


def test_function_returning_none_is_itself_timed_with_config_kwargs(work_dir: Path) -> None:
    config = {
        "benchmark": "tests.executors.callables:bench_self_timed",
        "batch_sizes": [2],
        "iterations": 3,
        "warmup": 0,
        "model": "tiny",
        "flavour": "vanilla",
    }
    result = run_bench(work_dir, config)
    assert result.outcome == "completed", result.error
    check_row(result.benchmark[0], 2, 3)
    assert result.benchmark[0]["latency_p50_ms"] >= 2.0  # it sleeps 1 ms per item
    got = (work_dir / "bench_kwargs.txt").read_text()
    assert got == repr([("flavour", "vanilla"), ("model", "tiny"), ("precision", "fp32")])


def test_command_benchmark_sees_the_batch_size(work_dir: Path) -> None:
    config = {"benchmark": 'echo "$MESH_BATCH_SIZE" >> sizes.txt', "batch_sizes": [3, 5], "iterations": 2}
    result = run_bench(work_dir, config)
    assert result.outcome == "completed", result.error
    for row, size in zip(result.benchmark, [3, 5], strict=True):
        check_row(row, size, 2)
        assert row["peak_memory_source"] == "ru_maxrss_children"
    # one warm-up plus two timed runs per batch size
    assert (work_dir / "sizes.txt").read_text().split() == ["3", "3", "3", "5", "5", "5"]


def test_failing_command_benchmark_is_failed(work_dir: Path) -> None:
    result = run_bench(work_dir, {"benchmark": "exit 7", "iterations": 2})
    assert result.outcome == "failed"
    assert "code 7" in (result.error or "")
    assert result.benchmark == []


def test_unknown_module_is_an_error_with_a_clear_message(work_dir: Path) -> None:
    result = run_bench(work_dir, {"benchmark": "no_such_module_xyz:fn", "iterations": 1})
    assert result.outcome == "error"
    assert "cannot import module 'no_such_module_xyz'" in (result.error or "")


def test_unknown_precision_is_refused_clearly(work_dir: Path) -> None:
    config = {"benchmark": "mesh.benchmarks:numpy_matmul", "precision": "bf7", "iterations": 1}
    result = run_bench(work_dir, config)
    assert result.outcome == "failed"
    assert "unknown precision 'bf7'" in (result.error or "")


def test_raising_benchmark_is_failed_with_traceback(work_dir: Path) -> None:
    result = run_bench(work_dir, {"benchmark": "tests.executors.callables:bench_raises", "iterations": 1})
    assert result.outcome == "failed"
    assert "RuntimeError: cannot bench 1" in (result.error or "")


def test_timeout_keeps_finished_batch_sizes(work_dir: Path) -> None:
    config = {"benchmark": "tests.executors.callables:bench_hangs", "iterations": 1, "kill_grace_s": 0.3}
    result = run_bench(work_dir, config, timeout_s=2.0)
    assert result.outcome == "timed_out"
    assert result.benchmark == []


@pytest.mark.parametrize(
    "config",
    [{"benchmark": ""}, {"benchmark": "x:y", "batch_sizes": [0]}, {"benchmark": "x:y", "iterations": 0}],
)
def test_bad_config_is_an_error(work_dir: Path, config: dict) -> None:
    assert run_bench(work_dir, config).outcome == "error"


@pytest.mark.parametrize("precision", ["fp16", "fp32", "fp64"])
def test_builtin_precisions_map_to_numpy_dtypes(precision: str) -> None:
    out = benchmarks.numpy_matmul(batch_size=2, size=8, precision=precision)()
    assert out.shape == (2, 8, 8)
    assert out.dtype.name == {"fp16": "float16", "fp32": "float32", "fp64": "float64"}[precision]
    assert benchmarks.numpy_mlp(batch_size=3, hidden=8, layers=2, precision=precision)().shape == (3, 8)


def test_builtin_rejects_unknown_precision_and_noop_returns_none() -> None:
    with pytest.raises(ValueError, match="unknown precision 'int4'"):
        benchmarks.numpy_matmul(batch_size=1, precision="int4")
    assert benchmarks.noop(1, 2, x=3) is None

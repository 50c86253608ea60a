"""The benchmark harness: a fresh Python process that measures ONE batch size of one benchmark and
writes the numbers as JSON to a result file (and as the last line of stdout).

Run as `python -m actors.executors.bench_harness SPEC_JSON RESULT_PATH`. A crash here can only kill
this process, never the worker. Every number is measured; nothing is estimated or filled in.

Memory: `peak_memory_mb` is the tracemalloc peak of Python-level allocations (numpy's included)
over setup plus one extra, untimed step (tracing slows code down, so timed steps run untraced);
`rss_high_water_mb` is this process's ru_maxrss after the run and `rss_growth_mb` its growth during
the run. For commands, `peak_memory_mb` is the largest RSS high-water of any finished child
(ru_maxrss of RUSAGE_CHILDREN).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback
import tracemalloc
from collections.abc import Callable
from typing import Any

# error kinds in a failed result: "config"/"import" mean the benchmark could not be run at all
KIND_CONFIG, KIND_IMPORT, KIND_RAISED, KIND_COMMAND = "config", "import", "raised", "command_failed"


class HarnessError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(batch_size: int, latencies_ns: list[int]) -> dict[str, Any]:
    ms = sorted(ns / 1e6 for ns in latencies_ns)
    mean = statistics.fmean(ms)
    return {
        "batch_size": batch_size,
        "iterations": len(ms),
        "latency_mean_ms": mean,
        "latency_std_ms": statistics.pstdev(ms) if len(ms) > 1 else 0.0,
        "latency_p50_ms": percentile(ms, 0.50),
        "latency_p90_ms": percentile(ms, 0.90),
        "latency_p99_ms": percentile(ms, 0.99),
        "throughput_per_s": batch_size / (mean / 1e3) if mean > 0 else None,
    }


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def load_function(target: str) -> Callable[..., Any]:
    module_name, sep, name = target.partition(":")
    if not sep or not module_name or not name:
        raise HarnessError(KIND_CONFIG, f"benchmark {target!r} is not of the form module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HarnessError(KIND_IMPORT, f"cannot import module {module_name!r}: {exc!r}") from exc
    fn: Any = module
    for part in name.split("."):  # pkg.mod:Class.method
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise HarnessError(KIND_IMPORT, f"module {module_name!r} has no callable {name!r}")
    return fn


def time_callable(spec: dict[str, Any]) -> dict[str, Any]:
    fn = load_function(spec["target"])
    batch_size, kwargs = spec["batch_size"], dict(spec.get("kwargs") or {})
    rss_before = _maxrss_mb(resource.RUSAGE_SELF)
    tracemalloc.start()
    try:
        step = fn(batch_size=batch_size, **kwargs)
        timed: Callable[[], Any] = step if callable(step) else (lambda: fn(batch_size=batch_size, **kwargs))
        if callable(step):
            step()  # one traced step, so the peak covers the work and not only the setup
    except Exception as exc:
        raise HarnessError(KIND_RAISED, "".join(traceback.format_exception(exc))) from exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    latencies: list[int] = []
    try:
        for _ in range(spec["warmup"]):
            timed()
        for _ in range(spec["iterations"]):
            t0 = time.perf_counter_ns()
            timed()
            latencies.append(time.perf_counter_ns() - t0)
    except Exception as exc:
        raise HarnessError(KIND_RAISED, "".join(traceback.format_exception(exc))) from exc
    result = summarize(batch_size, latencies)
    rss_after = _maxrss_mb(resource.RUSAGE_SELF)
    result.update(
        peak_memory_mb=peak / (1024.0 * 1024.0),
        peak_memory_source="tracemalloc",
        rss_high_water_mb=rss_after,
        rss_growth_mb=rss_after - rss_before,
    )
    return result


def time_command(spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, MESH_BATCH_SIZE=str(spec["batch_size"]))
    latencies: list[int] = []
    for i in range(spec["warmup"] + spec["iterations"]):
        t0 = time.perf_counter_ns()
        code = subprocess.call(["/bin/sh", "-c", spec["target"]], env=env, stdin=subprocess.DEVNULL)
        elapsed = time.perf_counter_ns() - t0
        if code != 0:
            raise HarnessError(KIND_COMMAND, f"benchmark command exited with code {code} on run {i + 1}")
        if i >= spec["warmup"]:
            latencies.append(elapsed)
    result = summarize(spec["batch_size"], latencies)
    rss = _maxrss_mb(resource.RUSAGE_CHILDREN)
    result.update(peak_memory_mb=rss, peak_memory_source="ru_maxrss_children", rss_high_water_mb=rss)
    return result


def main(argv: list[str]) -> int:
    spec_json, result_path = argv[1], argv[2]
    try:
        spec = json.loads(spec_json)
        measure = time_command if spec["mode"] == "command" else time_callable
        payload: dict[str, Any] = {"ok": True, "result": measure(spec)}
    except HarnessError as exc:
        payload = {"ok": False, "kind": exc.kind, "error": str(exc)}
    except (KeyError, ValueError, TypeError) as exc:
        payload = {"ok": False, "kind": KIND_CONFIG, "error": f"bad harness spec: {exc!r}"}
    text = json.dumps(payload)
    with open(result_path, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write("\n" + text + "\n")
    sys.stdout.flush()
    return 0 if payload["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""The benchmark executor: measures a `module:function` benchmark or a command, one fresh harness
process (`actors.executors.bench_harness`) per batch size, under one deadline for the whole task.

Config keys: benchmark (module:function, or a shell command), batch_sizes (list[int], default [1];
`batch_size` alone also works), iterations (default 10), warmup (default 1), model, precision
(passed to the function; precision defaults to "fp32"), cwd, env, output_limit_bytes, kill_grace_s,
python. Every other key is passed to the function as a keyword argument."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from actors.executors.base import (
    CANCELLED,
    COMPLETED,
    ERROR,
    FAILED,
    TIMED_OUT,
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    build_env,
    output_limit,
    python_path_env,
    resolve_cwd,
)
from actors.executors.bench_harness import KIND_CONFIG, KIND_IMPORT
from actors.executors.process import EXITED, KILL_GRACE_S, TailBuffer, describe_exit, run_process

HARNESS = "actors.executors.bench_harness"
CALLABLE_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
EXECUTOR_KEYS = frozenset(
    {
        "benchmark",
        "batch_sizes",
        "batch_size",
        "iterations",
        "warmup",
        "model",
        "precision",
        "cwd",
        "env",
        "output_limit_bytes",
        "kill_grace_s",
        "python",
    }
)


def _count(config: dict[str, Any], key: str, default: int, minimum: int) -> int:
    value = config.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ExecutorError(f"config.{key} must be an int >= {minimum}, not {value!r}")
    return value


def harness_specs(config: dict[str, Any]) -> list[dict[str, Any]]:
    """One harness spec per batch size, validated; raises ExecutorError on a bad config."""
    target = config.get("benchmark")
    if not isinstance(target, str) or not target.strip():
        raise ExecutorError("config.benchmark must be module:function or a command string")
    sizes = config.get("batch_sizes", [config.get("batch_size", 1)])
    if not isinstance(sizes, list) or not sizes:
        raise ExecutorError(f"config.batch_sizes must be a non-empty list of ints, not {sizes!r}")
    for size in sizes:
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ExecutorError(f"batch sizes must be positive ints, not {size!r}")
    iterations = _count(config, "iterations", 10, 1)
    warmup = _count(config, "warmup", 1, 0)
    mode = "callable" if CALLABLE_TARGET.match(target.strip()) else "command"
    kwargs = {k: v for k, v in config.items() if k not in EXECUTOR_KEYS}
    kwargs["model"] = config.get("model")
    kwargs["precision"] = config.get("precision", "fp32")
    return [
        {
            "mode": mode,
            "target": target.strip(),
            "batch_size": size,
            "iterations": iterations,
            "warmup": warmup,
            "kwargs": kwargs,
        }
        for size in sizes
    ]


class BenchmarkExecutor:
    """Stateless; one instance serves any number of concurrent attempts."""

    async def run(self, request: ExecutionRequest, cancel: asyncio.Event) -> ExecutionResult:
        config = request.config
        try:
            specs = harness_specs(config)
            cwd = resolve_cwd(request.work_dir, config.get("cwd"))
            env = python_path_env(build_env(request))
            limit = output_limit(config)
            python = str(config.get("python") or sys.executable)
            grace = float(config.get("kill_grace_s", KILL_GRACE_S))
        except ExecutorError as exc:
            return ExecutionResult(outcome=ERROR, error=str(exc))
        out, err = TailBuffer(limit), TailBuffer(limit)
        started = time.perf_counter()
        deadline = None if request.timeout_s is None else started + request.timeout_s
        rows: list[dict[str, Any]] = []
        outcome, error = COMPLETED, None
        exit_code: int | None = 0
        with tempfile.TemporaryDirectory(prefix="mesh-bench-") as tmp:
            for spec in specs:
                result_path = Path(tmp) / f"batch-{spec['batch_size']}.json"
                remaining = None if deadline is None else max(0.0, deadline - time.perf_counter())
                argv = [python, "-m", HARNESS, json.dumps(spec), str(result_path)]
                try:
                    run = await run_process(
                        argv,
                        cwd=cwd,
                        env=env,
                        timeout_s=remaining,
                        cancel=cancel,
                        stdout=out,
                        stderr=err,
                        kill_grace_s=grace,
                    )
                except OSError as exc:
                    outcome, error, exit_code = ERROR, f"cannot start {python!r}: {exc}", None
                    break
                exit_code = run.exit_code
                if run.ended != EXITED:
                    outcome = TIMED_OUT if run.ended == "timed_out" else CANCELLED
                    error = f"timed out after {request.timeout_s}s" if outcome == TIMED_OUT else "cancelled"
                    error += f" during batch size {spec['batch_size']}; process group killed"
                    break
                try:
                    payload = json.loads(result_path.read_text(encoding="utf-8"))
                except (FileNotFoundError, json.JSONDecodeError):
                    outcome = FAILED
                    error = f"benchmark process died ({describe_exit(run.exit_code)}) without a result"
                    break
                if not payload.get("ok"):
                    outcome = ERROR if payload.get("kind") in (KIND_CONFIG, KIND_IMPORT) else FAILED
                    error = f"batch size {spec['batch_size']}: {payload.get('error')}"
                    break
                rows.append(payload["result"])
        return ExecutionResult(
            outcome=outcome,
            exit_code=exit_code,
            duration_s=time.perf_counter() - started,
            error=error,
            stdout_tail=out.text(),
            stderr_tail=err.text(),
            benchmark=rows,
        )

"""The test executor: runs `python -m pytest <test_file> <test_args...>` in a subprocess with our
NDJSON plugin, and returns per-test outcomes (even for a run killed mid-way).

Config keys: test_file (str, or a list of paths), test_args (list[str]), cwd, env,
output_limit_bytes, longrepr_limit, kill_grace_s, python (interpreter, default: the worker's)."""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from actors.executors.base import (
    ERROR,
    FAILED,
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    build_env,
    output_limit,
    python_path_env,
    resolve_cwd,
)
from actors.executors.command import ended_outcome
from actors.executors.process import EXITED, run_attempt_process
from actors.executors.pytest_plugin import LONGREPR_LIMIT_ENV, REPORT_ENV

PLUGIN = "actors.executors.pytest_plugin"

# pytest's exit codes other than 0 (all passed) and 1 (some failed)
PYTEST_EXIT_ERRORS = {
    2: "pytest was interrupted",
    3: "pytest hit an internal error",
    4: "pytest usage error (bad arguments or test path)",
    5: "no tests collected",
}


def _str_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ExecutorError(f"config.{key} must be a string or a list of strings, not {value!r}")


def read_reports(path: Path) -> list[dict[str, Any]]:
    """The NDJSON lines written so far; a torn last line (killed while writing) is dropped."""
    outcomes: list[dict[str, Any]] = []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return outcomes
    for line in text.splitlines():
        try:
            outcomes.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return outcomes


class TestExecutor:
    """Stateless; one instance serves any number of concurrent attempts."""

    __test__ = False  # not a pytest test class, whatever its name

    async def run(self, request: ExecutionRequest, cancel: asyncio.Event) -> ExecutionResult:
        config = request.config
        try:
            targets = _str_list(config.get("test_file"), "test_file")
            args = _str_list(config.get("test_args"), "test_args")
            if not targets:
                raise ExecutorError("config.test_file is required")
            cwd = resolve_cwd(request.work_dir, config.get("cwd"))
            limit = output_limit(config)
            python = str(config.get("python") or sys.executable)
        except ExecutorError as exc:
            return ExecutionResult(outcome=ERROR, error=str(exc))
        with tempfile.TemporaryDirectory(prefix="mesh-pytest-") as tmp:
            report = Path(tmp) / "report.ndjson"
            extra: dict[str, Any] = {REPORT_ENV: str(report)}
            if "longrepr_limit" in config:
                extra[LONGREPR_LIMIT_ENV] = int(config["longrepr_limit"])
            try:
                env = python_path_env(build_env(request, extra))
            except ExecutorError as exc:
                return ExecutionResult(outcome=ERROR, error=str(exc))
            argv = [python, "-m", "pytest", "-p", PLUGIN, "-p", "no:cacheprovider", *targets, *args]
            try:
                run, out, err = await run_attempt_process(
                    argv, timeout_s=request.timeout_s, config=config, cancel=cancel, cwd=cwd, env=env,
                    limit=limit)
            except OSError as exc:
                return ExecutionResult(outcome=ERROR, error=f"cannot start {python!r}: {exc}")
            outcomes = read_reports(report)
        outcome, error = ended_outcome(run.ended, run.exit_code, request.timeout_s)
        if run.ended == EXITED and run.exit_code == 1:
            bad = sum(1 for o in outcomes if o.get("outcome") in ("failed", "error"))
            error = f"{bad} test(s) failed or errored"
        elif run.ended == EXITED and run.exit_code in PYTEST_EXIT_ERRORS:
            outcome, error = FAILED, PYTEST_EXIT_ERRORS[run.exit_code]
        return ExecutionResult(
            outcome=outcome,
            exit_code=run.exit_code,
            duration_s=run.duration_s,
            error=error,
            stdout_tail=out.text(),
            stderr_tail=err.text(),
            test_outcomes=outcomes,
        )

"""The command executor: runs `config.command` (a shell string or an argv list) in the work dir.

Config keys: command (str | list[str]), cwd (relative to the work dir), env, output_limit_bytes,
kill_grace_s. Outcome: completed iff exit code 0."""

from __future__ import annotations

import asyncio
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
    resolve_cwd,
)
from actors.executors.process import EXITED, describe_exit, run_attempt_process


def command_argv(command: Any) -> list[str]:
    """A shell string runs under `/bin/sh -c`; a list is an argv used as is."""
    if isinstance(command, str) and command.strip():
        return ["/bin/sh", "-c", command]
    if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
        return list(command)
    raise ExecutorError(f"config.command must be a non-empty string or list of strings, not {command!r}")


def ended_outcome(ended: str, exit_code: int | None, timeout_s: float | None) -> tuple[str, str | None]:
    """(outcome, error) for a process that ran: the shared rule of the process-based executors."""
    if ended == EXITED:
        if exit_code == 0:
            return COMPLETED, None
        return FAILED, describe_exit(exit_code)
    if ended == CANCELLED:
        return CANCELLED, "cancelled; process group killed"
    return TIMED_OUT, f"timed out after {timeout_s}s; process group killed"


class CommandExecutor:
    """Stateless; one instance serves any number of concurrent attempts."""

    async def run(self, request: ExecutionRequest, cancel: asyncio.Event) -> ExecutionResult:
        config = request.config
        try:
            argv = command_argv(config.get("command"))
            cwd = resolve_cwd(request.work_dir, config.get("cwd"))
            env = build_env(request)
            limit = output_limit(config)
        except ExecutorError as exc:
            return ExecutionResult(outcome=ERROR, error=str(exc))
        try:
            run, out, err = await run_attempt_process(argv, timeout_s=request.timeout_s, config=config,
                                                      cancel=cancel, cwd=cwd, env=env, limit=limit)
        except OSError as exc:
            return ExecutionResult(outcome=ERROR, error=f"cannot start {argv[0]!r}: {exc}")
        outcome, error = ended_outcome(run.ended, run.exit_code, request.timeout_s)
        return ExecutionResult(
            outcome=outcome,
            exit_code=run.exit_code,
            duration_s=run.duration_s,
            error=error,
            stdout_tail=out.text(),
            stderr_tail=err.text(),
        )

"""Run one child process under a deadline: bounded output tails, and on timeout, cancel or exit the
whole process group is killed. Shared by the command, test and benchmark executors; knows nothing of
task types."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KILL_GRACE_S = 1.0  # between SIGTERM and SIGKILL of the group
DRAIN_S = 0.5  # how long stragglers may keep our pipes open after the main process exits
READ_CHUNK = 64 * 1024

EXITED = "exited"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"


class TailBuffer:
    """Keeps only the last `limit` bytes of a stream, however much is written to it."""

    __slots__ = ("_buf", "limit", "total")

    def __init__(self, limit: int) -> None:
        self._buf = bytearray()
        self.limit = limit
        self.total = 0

    def write(self, data: bytes) -> None:
        self.total += len(data)
        self._buf += data
        # trim lazily so a stream of small writes stays O(n)
        if len(self._buf) > 2 * self.limit + READ_CHUNK:
            del self._buf[: len(self._buf) - self.limit]

    def text(self) -> str:
        tail = self._buf[len(self._buf) - self.limit :] if self.limit else b""
        return bytes(tail).decode("utf-8", errors="replace")


@dataclass(slots=True)
class ProcessRun:
    """How one child process ended."""

    ended: str  # exited | timed_out | cancelled
    exit_code: int | None  # negative: killed by that signal
    duration_s: float


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def describe_exit(code: int | None) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        return f"killed by signal {-code} ({signal_name(code)})"
    return f"exit code {code}"


def _killpg(pgid: int, sig: int) -> bool:
    """Signal a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # the pgid was reused by someone else's group: not ours to touch
        return False


async def kill_group(proc: asyncio.subprocess.Process, grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the child's process group, then SIGKILL it after `grace_s`; reaps the child."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    if _killpg(pgid, signal.SIGTERM) and proc.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), grace_s)
    _killpg(pgid, signal.SIGKILL)
    await proc.wait()


async def _pump(stream: asyncio.StreamReader | None, sink: TailBuffer) -> None:
    if stream is None:
        return
    while chunk := await stream.read(READ_CHUNK):
        sink.write(chunk)


async def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    timeout_s: float | None,
    cancel: asyncio.Event,
    stdout: TailBuffer,
    stderr: TailBuffer,
    kill_grace_s: float = KILL_GRACE_S,
) -> ProcessRun:
    """Run `argv` in a new session; returns when it exited, timed out or was cancelled.

    Raises OSError when the process cannot be started. Whatever is left of the process group once
    the main process has exited is killed, so a task never leaves daemons behind.
    """
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    pumps = asyncio.gather(_pump(proc.stdout, stdout), _pump(proc.stderr, stderr))
    waiter = asyncio.ensure_future(proc.wait())
    cancelled = asyncio.ensure_future(cancel.wait())
    ended = EXITED
    try:
        done, _ = await asyncio.wait(
            {waiter, cancelled}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            ended = CANCELLED if cancelled in done else TIMED_OUT
            await kill_group(proc, kill_grace_s)
        duration = time.perf_counter() - started
        with contextlib.suppress(TimeoutError):  # a straggler holds the pipes; it is killed below
            await asyncio.wait_for(asyncio.shield(pumps), DRAIN_S)
    finally:
        cancelled.cancel()
        if proc.returncode is None:  # we were cancelled ourselves
            await kill_group(proc, 0.0)
        _killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(pumps, DRAIN_S)
    return ProcessRun(ended=ended, exit_code=proc.returncode, duration_s=duration)


async def run_attempt_process(argv: list[str], *, timeout_s: float | None, config: dict[str, Any],
                              cancel: asyncio.Event, cwd: Path, env: dict[str, str],
                              limit: int) -> tuple[ProcessRun, TailBuffer, TailBuffer]:
    """`run_process` for one attempt: its timeout, the config's kill grace, fresh output tails.
    Raises OSError when the process cannot be started."""
    out, err = TailBuffer(limit), TailBuffer(limit)
    run = await run_process(argv, cwd=cwd, env=env, timeout_s=timeout_s, cancel=cancel, stdout=out,
                            stderr=err, kill_grace_s=float(config.get("kill_grace_s", KILL_GRACE_S)))
    return run, out, err


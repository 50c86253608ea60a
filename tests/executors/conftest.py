"""Helpers for executor tests: run a coroutine on a fresh uvloop loop, build requests, check pids."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil
import pytest
import uvloop

from actors.executors.base import ExecutionRequest

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """One coroutine on its own uvloop loop (DESIGN.md: never uvloop.install())."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def make_request(
    work_dir: Path,
    type: str,
    config: dict[str, Any],
    timeout_s: float | None = 10.0,
    env: dict[str, str] | None = None,
) -> ExecutionRequest:
    return ExecutionRequest(
        task_id="t1",
        attempt_id="a1",
        type=type,
        config=config,
        timeout_s=timeout_s,
        work_dir=work_dir,
        env=env or {},
    )


def _dead(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def wait_for_file(path: Path, within_s: float = 5.0) -> None:
    """Wait until a callable announced it started by writing `path`."""
    deadline = time.monotonic() + within_s
    while not (path.exists() and path.read_text()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {within_s} s")
        await asyncio.sleep(0.01)


def pid_gone(pid: int, within_s: float = 2.0) -> bool:
    """True when the process is gone (a zombie left for an init that does not reap counts), waiting
    up to `within_s`: a SIGKILLed process closes its pipes a moment before it turns into a zombie."""
    deadline = time.monotonic() + within_s
    while not _dead(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def arun() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return run_async

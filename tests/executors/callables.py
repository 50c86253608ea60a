"""Functions the callable and benchmark tests run in child processes (importable as
tests.executors.callables)."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any


def add(a: int, b: int = 0) -> int:
    return a + b


def echo(*args: Any, **kwargs: Any) -> dict[str, Any]:
    print("printed to stdout must not break the protocol")
    return {"args": list(args), "kwargs": kwargs}


def pid() -> int:
    return os.getpid()


def boom(message: str = "boom") -> None:
    raise ValueError(message)


def exit_hard(code: int = 3) -> None:
    os._exit(code)


def kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def call_sys_exit() -> None:
    sys.exit(4)


def sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def announce_then_sleep(marker: str, seconds: float) -> float:
    """Write `marker` once running, so a test can wait for the call to have started."""
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(seconds)
    return seconds


def unencodable() -> object:
    return object()


def bench_raises(batch_size: int, **_: Any) -> None:
    raise RuntimeError(f"cannot bench {batch_size}")


def bench_self_timed(batch_size: int, **kwargs: Any) -> None:
    """Returns None: the call itself is timed. Records the kwargs it got for the test to read."""
    with open("bench_kwargs.txt", "w") as f:
        f.write(repr(sorted(kwargs.items())))
    time.sleep(0.001 * batch_size)


def bench_hangs(batch_size: int, **_: Any) -> None:
    time.sleep(30)


class Shapes:
    """For `module:Class.method` targets."""

    @staticmethod
    def area(w: int, h: int) -> int:
        return w * h

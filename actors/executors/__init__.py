"""Executors: run one task attempt (command, test, benchmark, callable) on a worker.

This package must stay cheap to import: the benchmark harness, the pytest plugin and the callable
pool's child processes all live here, so nothing heavy is imported at package level. The public
names are loaded lazily from `actors.executors.base`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ExecutionRequest", "ExecutionResult", "Executor", "ExecutorError", "executor_for"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from actors.executors import base

        return getattr(base, name)
    raise AttributeError(name)

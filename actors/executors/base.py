"""The executor contract: what a worker hands an executor (`ExecutionRequest`), what it gets back
(`ExecutionResult`), and the registry of executors by task type. No process handling lives here."""

from __future__ import annotations

import asyncio
import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

DEFAULT_OUTPUT_LIMIT_BYTES = 64 * 1024

# the outcomes an executor may report
COMPLETED = "completed"
FAILED = "failed"
TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
ERROR = "error"  # the executor could not run the task at all (bad config, unknown module, spawn failure)
OUTCOMES = (COMPLETED, FAILED, TIMED_OUT, CANCELLED, ERROR)


class ExecutorError(Exception):
    """The task cannot be run as configured (reported as outcome "error", never raised to the worker)."""


@dataclass(frozen=True, slots=True)
class ExecutionRequest:
    """One attempt of one task, as the worker asks an executor to run it."""

    task_id: str
    attempt_id: str
    type: str  # command | test | benchmark | callable
    config: dict[str, Any]  # already validated by the task model
    timeout_s: float | None
    work_dir: Path  # the worker's --work-dir; a task's cwd must stay inside it
    env: dict[str, str] = field(default_factory=dict)  # extra environment
    messenger: Messenger | None = None  # for executors that talk to a peer (pytest_session)


@dataclass(slots=True)
class ExecutionResult:
    """What happened to one attempt. Every number in it was measured."""

    outcome: str
    exit_code: int | None = None
    duration_s: float = 0.0
    error: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    test_outcomes: list[dict[str, Any]] = field(default_factory=list)
    benchmark: list[dict[str, Any]] = field(default_factory=list)
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data (dicts, lists, str, numbers, None) for msgpack; shares the lists (a result
        is sent once and dropped, so a deep copy would only cost time)."""
        return {"outcome": self.outcome, "exit_code": self.exit_code, "duration_s": self.duration_s,
                "error": self.error, "stdout_tail": self.stdout_tail, "stderr_tail": self.stderr_tail,
                "test_outcomes": self.test_outcomes, "benchmark": self.benchmark, "value": self.value}


class Messenger(Protocol):
    """What a worker lends an executor that exchanges messages with a peer of its own choosing
    (the `mesh test` process of a run): sends, and an inbox of the messages for one attempt."""

    @property
    def worker_id(self) -> str: ...

    def connect(self, address: str) -> None: ...

    def send(self, address: str, msg: Any) -> bool: ...

    def inbox(self, attempt_id: str) -> asyncio.Queue[Any]: ...

    def close_inbox(self, attempt_id: str) -> None: ...


class Executor(Protocol):
    """Runs one attempt. Must not raise for task-level problems: they become an outcome."""

    async def run(self, request: ExecutionRequest, cancel: asyncio.Event) -> ExecutionResult: ...


def resolve_cwd(work_dir: Path, relative: str | None) -> Path:
    """`work_dir / relative`, created if missing; refuses any path that resolves outside work_dir."""
    base = Path(work_dir).resolve()
    target = (base / (relative or ".")).resolve()
    if not target.is_relative_to(base):
        raise ExecutorError(f"cwd {relative!r} escapes the work dir {str(base)!r}")
    target.mkdir(parents=True, exist_ok=True)
    return target


def build_env(request: ExecutionRequest, extra: dict[str, Any] | None = None) -> dict[str, str]:
    """os.environ, then the request's env, then the task config's `env` (later wins)."""
    env = dict(os.environ)
    env.update(request.env)
    config_env = request.config.get("env") or {}
    if not isinstance(config_env, dict):
        raise ExecutorError("config.env must be a mapping of names to strings")
    env.update({str(k): str(v) for k, v in config_env.items()})
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def output_limit(config: dict[str, Any]) -> int:
    limit = config.get("output_limit_bytes", DEFAULT_OUTPUT_LIMIT_BYTES)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        raise ExecutorError(f"output_limit_bytes must be a non-negative int, not {limit!r}")
    return limit


def package_root() -> Path:
    """The directory that holds the `actors` package, so child Pythons can import our modules."""
    return Path(__file__).resolve().parent.parent.parent


def python_path_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with our package root first on PYTHONPATH (child Pythons run with cwd in the work dir)."""
    root = str(package_root())
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = root if not old else f"{root}{os.pathsep}{old}"
    return env


_REGISTRY: dict[str, str] = {
    "command": "actors.executors.command:CommandExecutor",
    "test": "actors.executors.pytest_executor:TestExecutor",
    "benchmark": "actors.executors.benchmark:BenchmarkExecutor",
    "callable": "actors.executors.callable_executor:CallableExecutor",
    "pytest_session": "actors.executors.pytest_session:PytestSessionExecutor",
}
_INSTANCES: dict[str, Executor] = {}


def register_executor(type: str, executor: Executor) -> None:
    """Install (or replace) the executor for a task type, e.g. a callable executor with a sized pool."""
    _INSTANCES[type] = executor


def executor_for(type: str) -> Executor:
    """The executor for a task type (one shared instance per type); ValueError for an unknown type."""
    if type in _INSTANCES:
        return _INSTANCES[type]
    if type not in _REGISTRY:
        raise ValueError(f"no executor for task type {type!r}; known: {', '.join(sorted(_REGISTRY))}")
    module_name, _, class_name = _REGISTRY[type].partition(":")
    instance: Executor = getattr(importlib.import_module(module_name), class_name)()
    _INSTANCES[type] = instance
    return instance

"""Builders shared by the task-table and scheduler tests: task dicts, capabilities, a ready table."""

from __future__ import annotations

from typing import Any

from mesh.tasks import TaskSpec
from mesh.tasktable import TaskTable

CPU: dict[str, Any] = {"hardware": ["cpu"], "memory_gb": 16, "cuda": []}
GPU: dict[str, Any] = {"hardware": ["cpu", "cuda"], "memory_gb": 64,
                       "cuda": [{"name": "H100", "compute_capability": 9.0, "memory_gb": 80}]}


def spec(name: str | None = None, *, deps: list[str] | None = None, priority: int = 5,
         retries: int = 0, delay: float = 0.0, cuda: bool = False) -> dict[str, Any]:
    """A command task as the leader puts it in the log: `TaskSpec.to_dict()` with dependency ids."""
    data: dict[str, Any] = {"type": "command", "config": {"command": "true"}, "priority": priority,
                            "retry_policy": {"max_retries": retries, "retry_delay_seconds": delay}}
    if name is not None:
        data["name"] = name
    if deps:
        data["dependencies"] = deps
    if cuda:
        data["requirements"] = {"hardware": ["cuda"]}
    return TaskSpec.from_dict(data).to_dict()


def table_with_worker(slots: int = 4, capabilities: dict[str, Any] | None = None) -> TaskTable:
    table = TaskTable()
    assert table.register_worker("w1", "tcp://10.0.0.1:8080", capabilities or CPU, slots, now=0.0)
    return table


def status(table: TaskTable, task_id: str) -> str:
    view = table.task(task_id)
    assert view is not None
    return str(view["status"])


def run_to(table: TaskTable, task_id: str, attempt_id: str, outcome: str, now: float,
           worker: str = "w1", result: dict[str, Any] | None = None) -> None:
    """Assign, start and finish one attempt, asserting each step is accepted."""
    assert table.assign([(task_id, worker, attempt_id)], now) == [attempt_id]
    assert table.start([attempt_id], now) == [attempt_id]
    assert table.finish([(attempt_id, outcome, result or {})], now) == [attempt_id]

"""Small builders shared by the task-model tests."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.tasks import TaskValidationError, parse_tasks


def command(name: str | None = None, **fields: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"type": "command", "config": {"command": "true"}}
    if name is not None:
        task["name"] = name
    task.update(fields)
    return task


def errors_of(data: Any, **kwargs: Any) -> list[str]:
    """The error lines a submission produces; fails the test if it is accepted."""
    with pytest.raises(TaskValidationError) as caught:
        parse_tasks(data, **kwargs)
    return [str(error) for error in caught.value.errors]

"""The task model: the seed's JSON task format, its validation, and dependency handling.

Pure code: no sockets, no clocks, no asyncio; the only I/O is `load_task_file`. Modules:
`fields` (errors and field checkers), `requirements` (what a task needs of a worker), `configs`
(per-type config rules), `model` (`TaskSpec`), `validate` (`parse_tasks`), `graph` (dependencies).
"""

from mesh.tasks.fields import FieldError, TaskValidationError
from mesh.tasks.graph import Known, resolve_dependencies, topological_order
from mesh.tasks.model import (
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT_S,
    RetryPolicy,
    TaskSpec,
    TaskType,
)
from mesh.tasks.requirements import Browser, DeviceType, Hardware, Requirements
from mesh.tasks.validate import load_task_file, parse_task, parse_tasks

__all__ = [
    "DEFAULT_PRIORITY",
    "DEFAULT_TIMEOUT_S",
    "Browser",
    "DeviceType",
    "FieldError",
    "Hardware",
    "Known",
    "Requirements",
    "RetryPolicy",
    "TaskSpec",
    "TaskType",
    "TaskValidationError",
    "load_task_file",
    "parse_task",
    "parse_tasks",
    "resolve_dependencies",
    "topological_order",
]

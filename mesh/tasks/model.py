"""The task model: a validated, immutable `TaskSpec` and its plain-dict form for the Raft log.

`to_dict()` gives JSON/msgpack-safe data in the submission format; `from_dict()` re-validates it with
the same rules as a submission, so a spec read back from the log is as trustworthy as a new one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mesh.tasks.requirements import Requirements

DEFAULT_PRIORITY = 5
MIN_PRIORITY, MAX_PRIORITY = 0, 100
DEFAULT_TIMEOUT_S = 3600.0
MAX_TIMEOUT_S = 30 * 24 * 3600.0
MAX_RETRIES = 100
MAX_RETRY_DELAY_S = 24 * 3600.0
MAX_NAME_LENGTH = 200


class TaskType(StrEnum):
    COMMAND = "command"
    TEST = "test"
    BENCHMARK = "benchmark"
    CALLABLE = "callable"
    PYTEST_SESSION = "pytest_session"  # one lease of a `mesh test` run (see docs/TESTRUN.md)
    # Parsed so the seed's files load, but validation rejects it: nothing can run it yet.
    MULTI_DEVICE_ORCHESTRATION = "multi_device_orchestration"


SUPPORTED_TYPES = (TaskType.COMMAND, TaskType.TEST, TaskType.BENCHMARK, TaskType.CALLABLE,
                   TaskType.PYTEST_SESSION)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failed attempt is tried again, and how long to wait first."""

    max_retries: int = 0
    retry_delay_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"max_retries": self.max_retries, "retry_delay_seconds": self.retry_delay_seconds}


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One validated task. Build it with `parse_tasks` or `from_dict`, not by hand.

    `config` is the normalised per-type config (defaults filled in); treat it as read-only.
    `dependencies` are as written: names in the same batch, or existing task ids or names.
    """

    type: TaskType
    config: dict[str, Any] = field(hash=False)
    name: str | None = None
    priority: int = DEFAULT_PRIORITY
    requirements: Requirements = field(default_factory=Requirements)
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    dependencies: tuple[str, ...] = ()

    def to_dict(self, *, copy_config: bool = True) -> dict[str, Any]:
        """Plain dicts, lists, strings and numbers, in the submission format. With
        `copy_config=False` the config is this spec's own (for a caller that only serialises it)."""
        out: dict[str, Any] = {"type": self.type.value}
        if self.name is not None:
            out["name"] = self.name
        out["priority"] = self.priority
        out["config"] = copy.deepcopy(self.config) if copy_config else self.config
        requirements = self.requirements.to_dict()
        if requirements:
            out["requirements"] = requirements
        out["timeout_seconds"] = self.timeout_s
        out["retry_policy"] = self.retry.to_dict()
        if self.dependencies:
            out["dependencies"] = list(self.dependencies)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> TaskSpec:
        """Validate one task object; raises `TaskValidationError` with paths rooted at `$`."""
        from mesh.tasks.validate import parse_task

        return parse_task(data)

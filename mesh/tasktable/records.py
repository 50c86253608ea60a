"""The records the task table holds (tasks, attempts, workers), their states, and their snapshot form.

Plain data only: every field is msgpack-able, and `as_list`/`from_list` give the fixed-order arrays a
snapshot is made of. No behaviour lives here beyond naming states; transitions are in `table.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TaskStatus(StrEnum):
    QUEUED = "queued"  # ready to run once not_before <= now
    BLOCKED = "blocked"  # waiting on dependencies
    ASSIGNED = "assigned"  # committed to a worker; RunTask not yet acknowledged
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    UPSTREAM_FAILED = "upstream_failed"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMED_OUT,
                      TaskStatus.CANCELLED, TaskStatus.UPSTREAM_FAILED})


class WorkerStatus(StrEnum):
    ACTIVE = "active"
    LOST = "lost"
    QUARANTINED = "quarantined"


class AttemptOutcome(StrEnum):
    """How an attempt ended. The first five come from workers; `lost` only from `worker_lost`."""

    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    ERROR = "error"  # the executor could not run it (bad command, crash of the harness)
    LOST = "lost"  # the worker was declared lost while the attempt was assigned or running


WORKER_OUTCOMES = frozenset({AttemptOutcome.COMPLETED, AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT,
                             AttemptOutcome.CANCELLED, AttemptOutcome.ERROR})
# Outcomes that spend the task's retry budget.
REAL_FAILURES = frozenset({AttemptOutcome.FAILED, AttemptOutcome.TIMED_OUT, AttemptOutcome.ERROR})


class EventKind(StrEnum):
    """Tags of the records `TaskTable.drain_events()` hands to the node (never snapshotted)."""

    TASK_SUBMITTED = "task_submitted"
    TASK_REJECTED = "task_rejected"  # a submitted item that could not be stored, with the reason
    TASK_QUEUED = "task_queued"  # became ready (dependencies done, retry, or requeue after loss)
    TASK_FINISHED = "task_finished"  # reached a terminal status
    ATTEMPT_ASSIGNED = "attempt_assigned"
    ATTEMPT_STARTED = "attempt_started"
    ATTEMPT_FINISHED = "attempt_finished"
    WORKER_REGISTERED = "worker_registered"
    WORKER_LOST = "worker_lost"
    WORKER_QUARANTINED = "worker_quarantined"


Event = tuple[str, dict[str, Any]]


@dataclass(slots=True)
class Task:
    id: str
    seq: int  # submit sequence: FIFO order within a priority
    spec: dict[str, Any]  # TaskSpec.to_dict(), dependencies resolved to task ids
    status: TaskStatus
    submitted_at: float
    not_before: float
    attempts: list[str] = field(default_factory=list)  # attempt ids, oldest first
    current: str | None = None  # the attempt that is assigned or running, if any
    failures: int = 0  # attempts that ended failed / timed_out / error
    lost: int = 0  # attempts that ended because their worker was lost
    finished_at: float | None = None
    error: str | None = None  # why a task ended without completing, in words

    @property
    def name(self) -> str | None:
        name = self.spec.get("name")
        return name if isinstance(name, str) else None

    @property
    def priority(self) -> int:
        return int(self.spec.get("priority", 5))

    @property
    def dependencies(self) -> list[str]:
        return list(self.spec.get("dependencies", []))

    @property
    def max_retries(self) -> int:
        return int(self.spec.get("retry_policy", {}).get("max_retries", 0))

    @property
    def retry_delay(self) -> float:
        return float(self.spec.get("retry_policy", {}).get("retry_delay_seconds", 0.0))

    def as_list(self) -> list[Any]:
        return [self.id, self.seq, self.spec, self.status.value, self.submitted_at, self.not_before,
                self.attempts, self.current, self.failures, self.lost, self.finished_at, self.error]

    @classmethod
    def from_list(cls, row: list[Any]) -> Task:
        (task_id, seq, spec, status, submitted_at, not_before, attempts, current, failures, lost,
         finished_at, error) = row
        return cls(task_id, seq, spec, TaskStatus(status), submitted_at, not_before, list(attempts),
                   current, failures, lost, finished_at, error)


@dataclass(slots=True)
class Attempt:
    id: str
    task_id: str
    worker_id: str
    number: int  # 1 for a task's first attempt
    assigned_at: float
    started_at: float | None = None
    finished_at: float | None = None
    outcome: AttemptOutcome | None = None  # None while assigned or running
    result: dict[str, Any] | None = None

    @property
    def open(self) -> bool:
        return self.outcome is None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "number": self.number, "worker_id": self.worker_id,
                "outcome": None if self.outcome is None else self.outcome.value,
                "assigned_at": self.assigned_at, "started_at": self.started_at,
                "finished_at": self.finished_at}

    def as_list(self) -> list[Any]:
        return [self.id, self.task_id, self.worker_id, self.number, self.assigned_at, self.started_at,
                self.finished_at, None if self.outcome is None else self.outcome.value, self.result]

    @classmethod
    def from_list(cls, row: list[Any]) -> Attempt:
        attempt_id, task_id, worker_id, number, assigned_at, started_at, finished_at, outcome, result = row
        return cls(attempt_id, task_id, worker_id, number, assigned_at, started_at, finished_at,
                   None if outcome is None else AttemptOutcome(outcome), result)


@dataclass(slots=True)
class Worker:
    id: str
    address: str
    capabilities: dict[str, Any]
    slots: int
    status: WorkerStatus
    registered_at: float
    running: list[str] = field(default_factory=list)  # open attempt ids, in assignment order
    quarantine_reason: str | None = None  # kept across loss, so re-registering stays quarantined

    @property
    def free_slots(self) -> int:
        return max(0, self.slots - len(self.running)) if self.status is WorkerStatus.ACTIVE else 0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "address": self.address, "capabilities": self.capabilities,
                "slots": self.slots, "status": self.status.value, "registered_at": self.registered_at,
                "running": list(self.running), "free_slots": self.free_slots,
                "quarantine_reason": self.quarantine_reason}

    def as_list(self) -> list[Any]:
        return [self.id, self.address, self.capabilities, self.slots, self.status.value,
                self.registered_at, self.running, self.quarantine_reason]

    @classmethod
    def from_list(cls, row: list[Any]) -> Worker:
        worker_id, address, capabilities, slots, status, registered_at, running, reason = row
        return cls(worker_id, address, capabilities, slots, WorkerStatus(status), registered_at,
                   list(running), reason)

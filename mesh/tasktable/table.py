"""Every state transition of tasks, attempts and workers: the commands the Raft log carries.

Pure and deterministic: `now` and every id arrive as arguments (the leader chose them before
proposing), and there is no clock, randomness or I/O here. Data from the log is checked item by item
and a bad or stale item is skipped (and, for submissions, reported as an event), never raised: every
replica skips it the same way. Only programmer errors (a `now` that is not a finite number) raise.

Loss is not failure: an attempt whose worker is lost requeues its task without spending the retry
budget, because the task did nothing wrong; but a task that keeps killing workers (or keeps landing on
dying ones) must not bounce forever, so after `MAX_LOST_ATTEMPTS` losses it fails.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from itertools import zip_longest
from typing import Any

from mesh.tasks.model import TaskSpec
from mesh.tasktable.records import (
    REAL_FAILURES,
    WORKER_OUTCOMES,
    Attempt,
    AttemptOutcome,
    EventKind,
    Task,
    TaskStatus,
    Worker,
    WorkerStatus,
)
from mesh.tasktable.specs import normalized_spec
from mesh.tasktable.store import TaskStore

MAX_LOST_ATTEMPTS = 3
MAX_ID_LENGTH = 256


def _is_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_LENGTH


def _check_now(now: Any) -> float:
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
        raise TypeError(f"now must be a finite number chosen by the leader, got {now!r}")
    return float(now)


def _started_before(attempt: Attempt, result: Mapping[str, Any], now: float) -> float:
    """When an attempt that never reported its start began: `now` less the duration the worker
    measured, not before it was assigned (deterministic: every replica computes the same)."""
    duration = result.get("duration_s")
    if not isinstance(duration, int | float) or isinstance(duration, bool) \
            or not math.isfinite(duration) or duration < 0:
        return now
    return max(attempt.assigned_at, now - float(duration))


def _items(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


class TaskTable(TaskStore):
    """Tasks, attempts and workers, changed only by the commands below (see the module docstring)."""

    # --- tasks ---------------------------------------------------------------------------------

    def submit(self, tasks: list[dict[str, Any]], ids: list[str], now: float) -> list[str]:
        """Store a batch; returns the ids accepted, in batch order.

        `tasks` are `TaskSpec.to_dict()` dicts whose dependencies are task ids already in the table
        or earlier in this batch (the leader passes a batch in `topological_order`). A task whose
        dependencies all completed is queued; one with a dependency that ended otherwise is
        upstream_failed at once; any other is blocked.
        """
        now = _check_now(now)
        accepted = []
        for index, (raw, task_id) in enumerate(zip_longest(_items(tasks), _items(ids))):
            reason = self._submit_one(raw, task_id, now)
            if reason is None:
                accepted.append(task_id)
            else:
                self._emit(EventKind.TASK_REJECTED, index=index,
                           task_id=task_id if isinstance(task_id, str) else None, reason=reason)
        return accepted

    def _submit_one(self, raw: Any, task_id: Any, now: float) -> str | None:
        """Store one task; the reason it cannot be stored, or None."""
        if not _is_id(task_id):
            return f"task id must be a string of 1 to {MAX_ID_LENGTH} characters"
        if task_id in self._tasks:
            return f"task id {task_id} already exists"
        if raw is None:
            return "no task for this id"
        trusted = normalized_spec(raw)  # the leader's normalised form: checked, not re-validated
        if trusted is not None:
            stored, requirements = trusted
        else:
            try:
                spec = TaskSpec.from_dict(raw)
            except (ValueError, TypeError) as err:  # TaskValidationError is a ValueError
                return str(err)
            stored, requirements = spec.to_dict(), spec.requirements
        refs = stored.get("dependencies", ())
        deps = [self._tasks.get(dep) for dep in refs]
        unknown = [ref for ref, dep in zip(refs, deps, strict=True) if dep is None]
        if unknown:
            return f"unknown dependencies: {', '.join(unknown)}"
        known = [dep for dep in deps if dep is not None]
        bad = next((d for d in known if d.status.terminal and d.status is not TaskStatus.COMPLETED), None)
        if bad is not None:
            status = TaskStatus.UPSTREAM_FAILED
        elif all(d.status is TaskStatus.COMPLETED for d in known):
            status = TaskStatus.QUEUED
        else:
            status = TaskStatus.BLOCKED
        task = Task(task_id, self._next_seq, stored, status, now, now)
        self._next_seq += 1
        self._tasks[task_id] = task
        self._index(task)
        self._requirements[task_id] = requirements
        self._emit(EventKind.TASK_SUBMITTED, task_id=task_id, name=task.name, type=stored["type"],
                   priority=task.priority, status=status.value, at=now)
        if bad is not None:
            task.finished_at = now
            task.error = f"dependency {bad.id} {bad.status.value}"
            self._emit_finished(task, now)
        return None

    def cancel(self, task_id: str, now: float) -> dict[str, Any] | None:
        """Cancel a non-terminal task and fail its dependents.

        Returns None when nothing was cancelled (unknown or already terminal task), else
        `{"task_id", "attempt_id", "worker_id"}`: the attempt the worker must be told to kill (both
        None when the task was not on a worker). The attempt ends now, so its slot is free at once
        and the kill's own late `finish` is ignored.
        """
        now = _check_now(now)
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None or task.status.terminal:
            return None
        attempt = self._attempts[task.current] if task.current is not None else None
        if attempt is not None:
            self._end_attempt(attempt, AttemptOutcome.CANCELLED, {"error": "cancelled by request"}, now)
        self._terminate(task, TaskStatus.CANCELLED, now, "cancelled by request")
        return {"task_id": task.id, "attempt_id": attempt.id if attempt else None,
                "worker_id": attempt.worker_id if attempt else None}

    # --- attempts ------------------------------------------------------------------------------

    def assign(self, assignments: list[tuple[str, str, str]], now: float) -> list[str]:
        """Commit (task_id, worker_id, attempt_id) triples; returns the attempt ids accepted.

        Accepted only when the task is queued and due, the worker is active with a free slot and
        matches the task's requirements, and the attempt id is new.
        """
        now = _check_now(now)
        accepted = []
        for item in _items(assignments):
            if not isinstance(item, list | tuple) or len(item) != 3 or not all(_is_id(x) for x in item):
                continue
            task_id, worker_id, attempt_id = item
            task, worker = self._tasks.get(task_id), self._workers.get(worker_id)
            if task is None or worker is None or attempt_id in self._attempts:
                continue
            if task.status is not TaskStatus.QUEUED or task.not_before > now or worker.free_slots < 1:
                continue
            if not self.requirements(task_id).matches(worker.capabilities):
                continue
            attempt = Attempt(attempt_id, task_id, worker_id, len(task.attempts) + 1, now)
            self._attempts[attempt_id] = attempt
            task.attempts.append(attempt_id)
            task.current = attempt_id
            self._set_status(task, TaskStatus.ASSIGNED)
            worker.running.append(attempt_id)
            accepted.append(attempt_id)
            self._emit(EventKind.ATTEMPT_ASSIGNED, attempt_id=attempt_id, task_id=task_id,
                       worker_id=worker_id, number=attempt.number, at=now)
        return accepted

    def start(self, attempt_ids: list[str], now: float) -> list[str]:
        """The workers acknowledged these attempts: assigned -> running. Returns those accepted."""
        now = _check_now(now)
        accepted = []
        for attempt_id in _items(attempt_ids):
            attempt = self._attempts.get(attempt_id) if isinstance(attempt_id, str) else None
            if attempt is None or not attempt.open or attempt.started_at is not None:
                continue
            attempt.started_at = now
            self._set_status(self._tasks[attempt.task_id], TaskStatus.RUNNING)
            accepted.append(attempt_id)
            self._emit(EventKind.ATTEMPT_STARTED, attempt_id=attempt_id, task_id=attempt.task_id,
                       worker_id=attempt.worker_id, at=now)
        return accepted

    def finish(self, results: list[tuple[str, str, dict[str, Any]]], now: float) -> list[str]:
        """Record (attempt_id, outcome, result) once per attempt; returns the attempt ids accepted.

        An attempt that finished before its start was reported (workers report starts late, and
        only for attempts still running) gets its start from the result's duration.
        A finish for an attempt that already ended (duplicate, late after a loss or a cancel) is
        ignored. `completed` completes the task and readies its dependents; `failed`, `timed_out`
        and `error` spend one retry (requeued after the retry delay) or end the task and fail its
        dependents; `cancelled` (the worker killed it on its own) cancels the task.
        """
        now = _check_now(now)
        accepted = []
        for item in _items(results):
            if not isinstance(item, list | tuple) or len(item) != 3 or not isinstance(item[0], str):
                continue
            attempt_id, outcome, result = item
            attempt = self._attempts.get(attempt_id)
            if attempt is None or not attempt.open or outcome not in WORKER_OUTCOMES:
                continue
            if result is None:
                result = {}
            if not isinstance(result, Mapping):
                continue
            kind = AttemptOutcome(outcome)
            if attempt.started_at is None:
                attempt.started_at = _started_before(attempt, result, now)
            self._end_attempt(attempt, kind, dict(result), now)
            self._after_attempt(self._tasks[attempt.task_id], attempt, kind, now)
            accepted.append(attempt_id)
        return accepted

    def _after_attempt(self, task: Task, attempt: Attempt, outcome: AttemptOutcome, now: float) -> None:
        if outcome is AttemptOutcome.COMPLETED:
            self._terminate(task, TaskStatus.COMPLETED, now, None)
            self._ready_dependents(task, now)
        elif outcome is AttemptOutcome.CANCELLED:
            self._terminate(task, TaskStatus.CANCELLED, now, "cancelled on the worker")
        elif outcome in REAL_FAILURES:
            task.failures += 1
            if task.failures <= task.max_retries:
                self._requeue(task, now + task.retry_delay, f"retry {task.failures} of {task.max_retries}")
                return
            error = (attempt.result or {}).get("error")
            if not isinstance(error, str) or not error:
                error = f"attempt {attempt.number} ended {outcome.value}"
            final = TaskStatus.TIMED_OUT if outcome is AttemptOutcome.TIMED_OUT else TaskStatus.FAILED
            self._terminate(task, final, now, error)

    # --- workers -------------------------------------------------------------------------------

    def register_worker(self, worker_id: str, address: str, capabilities: dict[str, Any], slots: int,
                        now: float) -> bool:
        """Add or refresh a worker; False when the registration is malformed.

        A lost worker becomes active again (its old attempts stay ended); a quarantined worker, or a
        lost one that was quarantined, stays quarantined. Open attempts survive re-registration.
        """
        now = _check_now(now)
        valid_slots = isinstance(slots, int) and not isinstance(slots, bool) and 0 <= slots <= 1 << 16
        if not _is_id(worker_id) or not isinstance(address, str) or not isinstance(capabilities, Mapping) \
                or not valid_slots:
            return False
        worker = self._workers.get(worker_id)
        if worker is None:
            worker = Worker(worker_id, address, dict(capabilities), slots, WorkerStatus.ACTIVE, now)
            self._workers[worker_id] = worker
        else:
            worker.address, worker.capabilities, worker.slots = address, dict(capabilities), slots
            worker.registered_at = now
            if worker.status is WorkerStatus.LOST:
                quarantined = worker.quarantine_reason is not None
                worker.status = WorkerStatus.QUARANTINED if quarantined else WorkerStatus.ACTIVE
        self._emit(EventKind.WORKER_REGISTERED, worker_id=worker_id, address=address, slots=slots,
                   status=worker.status.value, at=now)
        return True

    def worker_lost(self, worker_id: str, now: float) -> list[str]:
        """Declare a worker lost; its open attempts end `lost`. Returns the task ids requeued.

        Requeueing spends no retry; a task's third loss fails it with "lost on 3 workers".
        """
        now = _check_now(now)
        worker = self._workers.get(worker_id) if isinstance(worker_id, str) else None
        if worker is None or worker.status is WorkerStatus.LOST:
            return []
        worker.status = WorkerStatus.LOST
        requeued = []
        for attempt_id in list(worker.running):
            attempt = self._attempts[attempt_id]
            task = self._tasks[attempt.task_id]
            self._end_attempt(attempt, AttemptOutcome.LOST, None, now)
            task.lost += 1
            if task.lost >= MAX_LOST_ATTEMPTS:
                self._terminate(task, TaskStatus.FAILED, now, f"lost on {MAX_LOST_ATTEMPTS} workers")
            else:
                self._requeue(task, now, f"worker {worker_id} lost")
                requeued.append(task.id)
        self._emit(EventKind.WORKER_LOST, worker_id=worker_id, requeued=requeued, at=now)
        return requeued

    def quarantine(self, worker_id: str, reason: str, now: float) -> bool:
        """Stop giving a worker new tasks; what it runs may still finish. False if unknown."""
        now = _check_now(now)
        worker = self._workers.get(worker_id) if isinstance(worker_id, str) else None
        if worker is None or not isinstance(reason, str):
            return False
        worker.quarantine_reason = reason
        if worker.status is WorkerStatus.ACTIVE:
            worker.status = WorkerStatus.QUARANTINED
        self._emit(EventKind.WORKER_QUARANTINED, worker_id=worker_id, reason=reason, at=now)
        return True

    # --- shared transitions --------------------------------------------------------------------

    def _end_attempt(self, attempt: Attempt, outcome: AttemptOutcome, result: dict[str, Any] | None,
                     now: float) -> None:
        attempt.outcome, attempt.result, attempt.finished_at = outcome, result, now
        worker = self._workers.get(attempt.worker_id)
        if worker is not None and attempt.id in worker.running:
            worker.running.remove(attempt.id)
        task = self._tasks[attempt.task_id]
        if task.current == attempt.id:
            task.current = None
        self._emit(EventKind.ATTEMPT_FINISHED, attempt_id=attempt.id, task_id=attempt.task_id,
                   worker_id=attempt.worker_id, number=attempt.number, outcome=outcome.value,
                   result=result, started_at=attempt.started_at, at=now)

    def _requeue(self, task: Task, not_before: float, reason: str) -> None:
        task.not_before = not_before
        self._set_status(task, TaskStatus.QUEUED)
        self._emit(EventKind.TASK_QUEUED, task_id=task.id, not_before=not_before, reason=reason)

    def _ready_dependents(self, task: Task, now: float) -> None:
        for dep_id in self._dependents.get(task.id, []):
            dependent = self._tasks[dep_id]
            if dependent.status is TaskStatus.BLOCKED and all(
                    self._tasks[d].status is TaskStatus.COMPLETED for d in dependent.dependencies):
                self._requeue(dependent, now, "dependencies completed")

    def _terminate(self, task: Task, status: TaskStatus, now: float, error: str | None) -> None:
        """End a task; unless it completed, every non-terminal task downstream becomes upstream_failed
        (iteratively: a long chain must not hit Python's recursion limit)."""
        self._set_status(task, status)
        task.finished_at, task.error = now, error
        self._emit_finished(task, now)
        if status is TaskStatus.COMPLETED:
            return
        pending = deque([task])
        while pending:
            failed = pending.popleft()
            for dep_id in self._dependents.get(failed.id, []):
                dependent = self._tasks[dep_id]
                if dependent.status.terminal:
                    continue
                # Only blocked tasks can sit downstream of an unfinished task, so none holds an attempt.
                self._set_status(dependent, TaskStatus.UPSTREAM_FAILED)
                dependent.finished_at = now
                dependent.error = f"dependency {failed.id} {failed.status.value}"
                self._emit_finished(dependent, now)
                pending.append(dependent)

    def _emit_finished(self, task: Task, now: float) -> None:
        self._emit(EventKind.TASK_FINISHED, task_id=task.id, name=task.name, status=task.status.value,
                   error=task.error, attempts=len(task.attempts), at=now)

"""The task table's storage: records, the indexes derived from them, queries, snapshot and restore.

Nothing here changes a task's state on its own; `table.TaskTable` adds the commands. Indexes
(dependents, status sets, names, parsed requirements) are derived, so a snapshot holds only records
and a restore rebuilds the indexes. Every list a query returns has a fixed order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Any

import msgpack

from mesh.tasks.fields import Issues
from mesh.tasks.requirements import Requirements, parse_requirements
from mesh.tasktable.ready import ReadyQueue
from mesh.tasktable.records import (
    Attempt,
    Event,
    EventKind,
    Task,
    TaskStatus,
    Worker,
    WorkerStatus,
)
from mesh.tasktable.specs import NO_REQUIREMENTS

SNAPSHOT_VERSION = 1


class TaskStore:
    """Records and derived indexes; read-only queries. Mutate through `TaskTable` commands."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._attempts: dict[str, Attempt] = {}
        self._workers: dict[str, Worker] = {}
        self._next_seq = 0
        self._events: list[Event] = []
        self._reset_indexes()

    def _reset_indexes(self) -> None:
        self._dependents: dict[str, list[str]] = {}
        self._by_status: dict[TaskStatus, set[str]] = {status: set() for status in TaskStatus}
        self._by_name: dict[str, str] = {}
        self._requirements: dict[str, Requirements] = {}
        self._ready = ReadyQueue()

    def _index(self, task: Task) -> None:
        """Add a new task (in submit order) to every index."""
        self._by_status[task.status].add(task.id)
        if task.status is TaskStatus.QUEUED:
            self._ready.add(task.id, task.priority, task.seq, task.not_before)
        if task.name is not None:
            self._by_name[task.name] = task.id
        for dep in task.dependencies:
            self._dependents.setdefault(dep, []).append(task.id)

    def _set_status(self, task: Task, status: TaskStatus) -> None:
        """Every status change goes through here (set `not_before` first when queueing)."""
        self._by_status[task.status].discard(task.id)
        if task.status is TaskStatus.QUEUED:
            self._ready.discard(task.id)
        task.status = status
        self._by_status[status].add(task.id)
        if status is TaskStatus.QUEUED:
            self._ready.add(task.id, task.priority, task.seq, task.not_before)

    def _emit(self, kind: EventKind, **data: Any) -> None:
        self._events.append((kind.value, data))

    # --- queries -------------------------------------------------------------------------------

    def task(self, task_id: str) -> dict[str, Any] | None:
        """A task's public view: identity, status, attempts, and the result of its last attempt."""
        task = self._tasks.get(task_id)
        if task is None:
            return None
        attempts = [self._attempts[a] for a in task.attempts]
        ended = [a for a in attempts if not a.open]
        return {
            "id": task.id, "name": task.name, "type": task.spec.get("type"), "status": task.status.value,
            "priority": task.priority, "seq": task.seq, "spec": task.spec,
            "dependencies": task.dependencies, "not_before": task.not_before,
            "attempts": [a.as_dict() for a in attempts], "current_attempt": task.current,
            "failures": task.failures, "lost": task.lost,
            "result": ended[-1].result if ended else None, "error": task.error,
            "submitted_at": task.submitted_at, "finished_at": task.finished_at,
        }

    def tasks(self, status: TaskStatus | str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Tasks in submit order, optionally only those with `status`, at most `limit` of them."""
        if status is None:
            ids = list(itertools.islice(self._tasks, limit))
        else:
            chosen = self._by_status[TaskStatus(status)]
            key = lambda t: self._tasks[t].seq  # noqa: E731
            ids = heapq.nsmallest(limit, chosen, key=key) if limit is not None else sorted(chosen, key=key)
        return [view for view in (self.task(t) for t in ids) if view is not None]

    def counts(self) -> dict[str, int]:
        return {status.value: len(ids) for status, ids in self._by_status.items()}

    def worker(self, worker_id: str) -> dict[str, Any] | None:
        worker = self._workers.get(worker_id)
        return None if worker is None else worker.as_dict()

    def workers(self) -> list[dict[str, Any]]:
        return [self._workers[w].as_dict() for w in sorted(self._workers)]

    def running_on(self, worker_id: str) -> list[str]:
        """Open (assigned or running) attempt ids on a worker, in assignment order."""
        worker = self._workers.get(worker_id)
        return [] if worker is None else list(worker.running)

    def worker_address(self, worker_id: str) -> str | None:
        """Where a worker listens, without building its view."""
        worker = self._workers.get(worker_id)
        return None if worker is None else worker.address

    def attempt_record(self, attempt_id: str) -> Attempt | None:
        """An attempt's record itself, for hot paths that would not build its view. Read-only."""
        return self._attempts.get(attempt_id)

    def attempt(self, attempt_id: str) -> dict[str, Any] | None:
        attempt = self._attempts.get(attempt_id)
        if attempt is None:
            return None
        return {**attempt.as_dict(), "task_id": attempt.task_id, "result": attempt.result}

    def ready_tasks(self, now: float, limit: int | None = None) -> list[str]:
        """Queued task ids whose not_before has come, by (priority, submit seq); with `limit`, the
        first `limit` of them."""
        return list(itertools.islice(self._ready.due(now), limit))

    def iter_ready(self, now: float) -> Iterator[str]:
        """`ready_tasks` lazily, from a heap: reading k of them costs O(k log k), however long
        the queue. Valid until the table next changes (the scheduler reads, then proposes)."""
        return self._ready.due(now)

    def task_status(self, task_id: str) -> str | None:
        """A task's status, without building its view; None for an unknown task."""
        task = self._tasks.get(task_id)
        return None if task is None else task.status.value

    def priority(self, task_id: str) -> int:
        """A task's priority (lower runs first)."""
        return self._tasks[task_id].priority

    def queued_tasks(self) -> list[str]:
        """Every queued task id (whatever its not_before), by (priority, submit seq)."""
        queued = [self._tasks[t] for t in self._by_status[TaskStatus.QUEUED]]
        return [t.id for t in sorted(queued, key=lambda t: (t.priority, t.seq))]

    def worker_capabilities(self) -> dict[str, dict[str, Any]]:
        """Capabilities of every active worker, by worker id (in id order). Read-only."""
        return {w: self._workers[w].capabilities for w in sorted(self._workers)
                if self._workers[w].status is WorkerStatus.ACTIVE}

    def free_slots(self) -> dict[str, int]:
        """Free slots of every active worker (0 included), by worker id."""
        return {w: self._workers[w].free_slots for w in sorted(self._workers)
                if self._workers[w].status is WorkerStatus.ACTIVE}

    def by_name(self, name: str) -> str | None:
        """The latest submitted task with this name."""
        return self._by_name.get(name)

    def spec(self, task_id: str) -> dict[str, Any] | None:
        """A task's stored spec (`TaskSpec.to_dict()`, dependencies as ids), without building its
        whole view. Treat it as read-only."""
        task = self._tasks.get(task_id)
        return None if task is None else task.spec

    def requirements(self, task_id: str) -> Requirements:
        """The parsed requirements of a task (cached; derived from its stored spec)."""
        cached = self._requirements.get(task_id)
        if cached is None:
            raw = self._tasks[task_id].spec.get("requirements")
            if not raw:
                cached = self._requirements[task_id] = NO_REQUIREMENTS
                return cached
            # The spec was validated at submit, so this parses; a fallback would only hide a bug.
            parsed = parse_requirements(Issues(), "$.requirements", raw)
            if parsed is None:
                raise ValueError(f"stored requirements of task {task_id} do not parse: {raw!r}")
            cached = self._requirements[task_id] = parsed
        return cached

    def drain_events(self) -> list[Event]:
        """Events since the last drain, oldest first; they are not part of the snapshot."""
        events, self._events = self._events, []
        return events

    def history_events(self) -> list[Event]:
        """Events that rebuild, from this table alone, the rows its applied log produced: for a
        replica whose table came from a snapshot (a restart, or one sent by the leader), whose
        results store may lack what the snapshot covers. Per task: its attempts in order, then
        its current state (and its end, if it ended); workers first."""
        events: list[Event] = []
        for worker in self._workers.values():
            events.append((EventKind.WORKER_REGISTERED.value, {
                "worker_id": worker.id, "address": worker.address, "slots": worker.slots,
                "status": worker.status.value, "at": worker.registered_at}))
        for task in self._tasks.values():
            for attempt in (self._attempts[a] for a in task.attempts if a in self._attempts):
                base = {"attempt_id": attempt.id, "task_id": task.id, "worker_id": attempt.worker_id}
                events.append((EventKind.ATTEMPT_ASSIGNED.value, {**base, "number": attempt.number,
                                                             "at": attempt.assigned_at}))
                if attempt.started_at is not None:
                    events.append((EventKind.ATTEMPT_STARTED.value, {**base, "at": attempt.started_at}))
                if attempt.outcome is not None:
                    events.append((EventKind.ATTEMPT_FINISHED.value, {
                        **base, "number": attempt.number, "outcome": attempt.outcome.value,
                        "result": attempt.result, "started_at": attempt.started_at,
                        "at": attempt.finished_at}))
            events.append((EventKind.TASK_SUBMITTED.value, {
                "task_id": task.id, "name": task.name, "type": task.spec.get("type"),
                "priority": task.priority, "status": task.status.value, "at": task.submitted_at}))
            if task.status.terminal:
                events.append((EventKind.TASK_FINISHED.value, {
                    "task_id": task.id, "name": task.name, "status": task.status.value,
                    "error": task.error, "attempts": len(task.attempts), "at": task.finished_at}))
        return events

    # --- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        tasks = [t.as_list() for t in self._tasks.values()]  # insertion order is submit order
        attempts = [self._attempts[a].as_list() for a in sorted(self._attempts)]
        workers = [self._workers[w].as_list() for w in sorted(self._workers)]
        return msgpack.packb([SNAPSHOT_VERSION, self._next_seq, tasks, attempts, workers],
                             use_bin_type=True)

    def restore(self, data: bytes) -> None:
        version, next_seq, tasks, attempts, workers = msgpack.unpackb(data, raw=False)
        if version != SNAPSHOT_VERSION:
            raise ValueError(f"task table snapshot version {version} is not {SNAPSHOT_VERSION}")
        self._next_seq = next_seq
        self._tasks = {}
        self._reset_indexes()
        for row in sorted(tasks, key=lambda r: r[1]):
            task = Task.from_list(row)
            self._tasks[task.id] = task
            self._index(task)
        self._attempts = {row[0]: Attempt.from_list(row) for row in attempts}
        self._workers = {row[0]: Worker.from_list(row) for row in workers}
        self._events = []

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskStore):
            return NotImplemented
        return (self._next_seq == other._next_seq and self._tasks == other._tasks
                and self._attempts == other._attempts and self._workers == other._workers)

    __hash__ = None  # type: ignore[assignment]

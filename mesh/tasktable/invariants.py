"""Invariants of a task table, for tests and the deterministic simulator to check after every command.

`violations(table)` returns what is wrong, in words; an empty list means the table is consistent.
Read-only; it reaches into the table's records because it checks them, not its public views.
"""

from __future__ import annotations

from mesh.tasktable.records import TaskStatus, WorkerStatus
from mesh.tasktable.store import TaskStore

ON_A_WORKER = frozenset({TaskStatus.ASSIGNED, TaskStatus.RUNNING})


def violations(table: TaskStore) -> list[str]:
    """Every broken invariant: attempts vs. task status, slots, dependencies, indexes."""
    out: list[str] = []
    tasks, attempts, workers = table._tasks, table._attempts, table._workers
    for task in tasks.values():
        open_attempts = [a for a in task.attempts if attempts[a].open]
        if len(open_attempts) > 1:
            out.append(f"task {task.id} has {len(open_attempts)} open attempts")
        if (task.status in ON_A_WORKER) != (task.current is not None):
            out.append(f"task {task.id} is {task.status} with current attempt {task.current}")
        if task.current is not None and open_attempts != [task.current]:
            out.append(f"task {task.id}: current {task.current} but open attempts {open_attempts}")
        if task.status is TaskStatus.RUNNING and task.current is not None \
                and attempts[task.current].started_at is None:
            out.append(f"task {task.id} is running but its attempt never started")
        if task.status.terminal != (task.finished_at is not None):
            out.append(f"task {task.id} is {task.status} with finished_at {task.finished_at}")
        out.extend(_dependency_violations(table, task.id))
        if task.id not in table._by_status[task.status]:
            out.append(f"task {task.id} missing from the {task.status} index")
    if sum(len(ids) for ids in table._by_status.values()) != len(tasks):
        out.append("status index does not partition the tasks")
    out.extend(_ready_queue_violations(table))
    for worker in workers.values():
        if worker.status is WorkerStatus.LOST and worker.running:
            out.append(f"lost worker {worker.id} still runs {worker.running}")
        for attempt_id in worker.running:
            attempt = attempts[attempt_id]
            if not attempt.open or attempt.worker_id != worker.id:
                out.append(f"worker {worker.id} lists attempt {attempt_id} that is not open on it")
    for attempt in attempts.values():
        if attempt.open and attempt.id not in workers[attempt.worker_id].running:
            out.append(f"open attempt {attempt.id} is not on worker {attempt.worker_id}")
    return out


def _dependency_violations(table: TaskStore, task_id: str) -> list[str]:
    task = table._tasks[task_id]
    deps = [table._tasks[d].status for d in task.dependencies]
    all_done = all(s is TaskStatus.COMPLETED for s in deps)
    any_bad = any(s.terminal and s is not TaskStatus.COMPLETED for s in deps)
    status = task.status
    if status is TaskStatus.BLOCKED and (all_done or any_bad):
        return [f"task {task_id} is blocked but its dependencies are {[s.value for s in deps]}"]
    if status in (TaskStatus.QUEUED, TaskStatus.ASSIGNED, TaskStatus.RUNNING, TaskStatus.COMPLETED,
                  TaskStatus.FAILED, TaskStatus.TIMED_OUT) and not all_done:
        return [f"task {task_id} is {status} before its dependencies completed"]
    if status is TaskStatus.UPSTREAM_FAILED and not any_bad:
        return [f"task {task_id} is upstream_failed with dependencies {[s.value for s in deps]}"]
    return []


def _ready_queue_violations(table: TaskStore) -> list[str]:
    """The ready heap holds exactly the queued tasks, each with its current order and not_before."""
    live = table._ready._live
    queued = table._by_status[TaskStatus.QUEUED]
    if set(live) != queued:
        return [f"ready queue holds {sorted(set(live) ^ queued)} wrongly"]
    return [f"ready entry of {task_id} is out of date: {entry}" for task_id, entry in live.items()
            if entry != (table._tasks[task_id].priority, table._tasks[task_id].seq, task_id,
                         table._tasks[task_id].not_before)]

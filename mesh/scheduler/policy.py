"""The placement policy: which ready task goes to which worker, and why a task cannot go anywhere.

Pure: it reads a `TaskTable` and returns a plan; the leader turns the plan into an `assign` command
(with attempt ids it chooses) and proposes it, so the table, not this module, has the last word.
Order: ready tasks by (priority asc, submit seq asc). Placement spreads load: the capable active
worker with the most free slots, ties broken by worker id.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Iterator, Mapping, Sequence
from typing import Any

from mesh.tasks.requirements import Requirements
from mesh.tasktable import TaskTable

# How many workers' reasons `unschedulable` spells out before summarising the rest.
MAX_REASONS = 3


def schedule(table: TaskTable, now: float, max_assignments: int = 1000, *,
             held: Mapping[str, int] | None = None, placing: Container[str] = frozenset(),
             incoming: Sequence[tuple[str, int, Requirements]] = ()) -> list[tuple[str, str]]:
    """(task_id, worker_id) pairs for ready tasks, at most `max_assignments`, in placement order.

    A task no free worker can run is skipped (it stays queued) and later tasks may still be placed:
    one task that needs a GPU does not hold up the CPU queue behind it.

    For a leader with assignments proposed but not yet applied: `held` is the slots per worker they
    take, `placing` the task ids they place (both left out here). `incoming` are tasks of a
    submission not yet applied, as (task_id, priority, requirements) in log order: they will be
    queued after every task in the table, and are placed after those of the same priority.
    """
    held = held or {}
    free = {w: n - held.get(w, 0) for w, n in table.free_slots().items() if n - held.get(w, 0) > 0}
    if max_assignments <= 0 or not free:
        return []
    capabilities: Mapping[str, Mapping[str, Any]] | None = None  # read once a task is ready
    matches: dict[Requirements, dict[str, bool]] = {}  # requirements -> worker -> matches
    placed: list[tuple[str, str]] = []
    for task_id, requirements in _candidates(table, now, placing, incoming):
        if capabilities is None:
            capabilities = table.worker_capabilities()
        fits = matches.get(requirements)
        if fits is None:
            fits = matches[requirements] = {w: requirements.matches(c) for w, c in capabilities.items()}
        best: str | None = None
        for worker_id, slots in free.items():
            if fits[worker_id] and (best is None or (slots, best) > (free[best], worker_id)):
                best = worker_id
        if best is None:
            continue
        placed.append((task_id, best))
        free[best] -= 1
        if free[best] == 0:
            del free[best]
        if len(placed) >= max_assignments or not free:
            break
    return placed


def _candidates(table: TaskTable, now: float, placing: Container[str],
                incoming: Sequence[tuple[str, int, Requirements]]) -> Iterator[tuple[str, Requirements]]:
    """Ready tasks in order (from the table's heap, lazily), merged with `incoming` by priority;
    at equal priority the table's tasks come first (they were submitted earlier)."""
    if not incoming:
        for task_id in table.iter_ready(now):
            if task_id not in placing:
                yield task_id, table.requirements(task_id)
        return
    ready = ((table.priority(t), t, None) for t in table.iter_ready(now) if t not in placing)
    extra = sorted(((p, t, r) for t, p, r in incoming), key=lambda x: x[0])  # stable: log order
    for _, task_id, requirements in heapq.merge(ready, extra, key=lambda x: x[0]):
        yield task_id, requirements if requirements is not None else table.requirements(task_id)


def unschedulable(table: TaskTable) -> list[tuple[str, str]]:
    """Queued tasks that no active worker could ever run (free slots aside), with the reason."""
    capabilities = table.worker_capabilities()
    out: list[tuple[str, str]] = []
    for task_id in table.queued_tasks():
        requirements = table.requirements(task_id)
        if not capabilities:
            out.append((task_id, "no active workers"))
            continue
        reasons = {w: requirements.explain_mismatch(caps) for w, caps in capabilities.items()}
        if any(reason is None for reason in reasons.values()):
            continue
        shown = [f"{w}: {reason}" for w, reason in list(reasons.items())[:MAX_REASONS]]
        if len(reasons) > MAX_REASONS:
            shown.append(f"and {len(reasons) - MAX_REASONS} more workers")
        out.append((task_id, "no active worker matches; " + "; ".join(shown)))
    return out


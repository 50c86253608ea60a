"""The placement policy: which ready task goes to which worker, and why a task cannot go anywhere.

Pure: it reads a `TaskTable` and returns a plan; the leader turns the plan into an `assign` command
(with attempt ids it chooses) and proposes it, so the table, not this module, has the last word.
Order: ready tasks by (priority asc, submit seq asc). Placement spreads load: the capable active
worker with the most free slots, ties broken by worker id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mesh.tasks.requirements import Requirements
from mesh.tasktable import TaskTable, WorkerStatus

# How many workers' reasons `unschedulable` spells out before summarising the rest.
MAX_REASONS = 3


def schedule(table: TaskTable, now: float, max_assignments: int = 1000) -> list[tuple[str, str]]:
    """(task_id, worker_id) pairs for ready tasks, at most `max_assignments`, in placement order.

    A task no free worker can run is skipped (it stays queued) and later tasks may still be placed:
    one task that needs a GPU does not hold up the CPU queue behind it.
    """
    free = {w: n for w, n in table.free_slots().items() if n > 0}
    if max_assignments <= 0 or not free:
        return []
    capabilities = _capabilities(table)
    matches: dict[tuple[Requirements, str], bool] = {}
    placed: list[tuple[str, str]] = []
    # Look at a few candidates per free slot first (a partial sort); only if requirements leave
    # slots unfilled, go through the whole queue.
    wanted = min(max_assignments, sum(free.values()))
    candidates = table.ready_tasks(now, limit=4 * wanted + 16)
    if len(candidates) == 4 * wanted + 16:
        candidates = _then_rest(table, now, candidates)
    for task_id in candidates:
        requirements = table.requirements(task_id)
        best: str | None = None
        for worker_id, slots in free.items():
            key = (requirements, worker_id)
            if key not in matches:
                matches[key] = requirements.matches(capabilities[worker_id])
            if matches[key] and (best is None or (slots, best) > (free[best], worker_id)):
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


def _then_rest(table: TaskTable, now: float, first: list[str]) -> Any:
    """`first`, then (lazily, only if the loop gets that far) the rest of the ready queue."""
    yield from first
    seen = set(first)
    yield from (t for t in table.ready_tasks(now) if t not in seen)


def unschedulable(table: TaskTable) -> list[tuple[str, str]]:
    """Queued tasks that no active worker could ever run (free slots aside), with the reason."""
    capabilities = _capabilities(table)
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


def _capabilities(table: TaskTable) -> dict[str, Mapping[str, Any]]:
    """Active workers' capabilities, by worker id."""
    return {w["id"]: w["capabilities"] for w in table.workers() if w["status"] == WorkerStatus.ACTIVE}

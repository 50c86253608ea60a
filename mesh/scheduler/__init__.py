"""Pure scheduling policies: (task table, now) -> assignments. No sockets, clocks or randomness.

`schedule` plans placements of ready tasks on workers with free slots; `unschedulable` says which
queued tasks no active worker can run, and why. See `policy` for the ordering and spreading rules.
"""

from mesh.scheduler.policy import schedule, unschedulable

__all__ = ["schedule", "unschedulable"]

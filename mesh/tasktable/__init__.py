"""The replicated table of tasks, attempts and workers; the lead wires it into `mesh.state`.

Pure and deterministic (no clocks, randomness, I/O or networking): `now` and ids come in with each
command. Modules: `records` (states and records), `store` (indexes, queries, snapshot), `table`
(`TaskTable`, every transition), `invariants` (consistency checks for tests and the simulator).
"""

from mesh.tasktable.invariants import violations
from mesh.tasktable.records import (
    TERMINAL,
    AttemptOutcome,
    Event,
    EventKind,
    TaskStatus,
    WorkerStatus,
)
from mesh.tasktable.store import SNAPSHOT_VERSION
from mesh.tasktable.table import MAX_LOST_ATTEMPTS, TaskTable

__all__ = [
    "MAX_LOST_ATTEMPTS",
    "SNAPSHOT_VERSION",
    "TERMINAL",
    "AttemptOutcome",
    "Event",
    "EventKind",
    "TaskStatus",
    "TaskTable",
    "WorkerStatus",
    "violations",
]

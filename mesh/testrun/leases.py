"""What the owner of a `mesh test` run knows about its run and each of its leases, and the one
pure decision it makes about them: which lease an idle one steals from, and which tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mesh.testrun.reports import Report
from transports.zmq_transport import Origin


@dataclass
class RunOptions:
    pytest_args: list[str]
    coordinator: str
    listen_host: str
    leases: int | None = None  # None: one per worker slot
    dist: str = "load"
    test_timeout_s: float | None = None
    suite: str = "suite"
    pythonpath: list[str] = field(default_factory=list)
    continue_on_collection_errors: bool = False


@dataclass
class LeaseState:
    attempt_id: str
    task_id: str
    worker: str
    capabilities: dict[str, Any]
    seq: int = 0
    work_seq: int = 0
    last_work: tuple[str, ...] = ()
    inflight: dict[str, None] = field(default_factory=dict)  # handed out, not finished, in order
    running: str = ""
    final: bool = False
    dead: bool = False
    mismatch: bool = False
    keys: dict[str, bool] = field(default_factory=dict)  # requirement key -> can run
    origin: Origin | None = None  # where its last message came from (to push `done`)
    queued: int = 0  # tests it holds and has not started, as of its last batch
    revoking_since: float | None = None  # a steal asked of it and not answered yet


@dataclass
class RunResult:
    reports: list[Report]
    collection_errors: list[Report]
    collected: int  # tests the leases' pytest collected
    interrupted: str | None


def choose_steal(thief: LeaseState, leases: Iterable[LeaseState], thief_can_run: Callable[[str], bool],
                 now: float, retry_s: float) -> tuple[LeaseState, tuple[str, ...]] | None:
    """The live lease holding the most unstarted tests (at least 2, none asked in the last
    `retry_s`), and the later half of its unstarted tests that the thief can run; None if none."""
    victims = [s for s in leases
               if s is not thief and not (s.dead or s.final or s.mismatch) and s.queued >= 2
               and s.origin is not None
               and (s.revoking_since is None or now - s.revoking_since > retry_s)]
    if not victims:
        return None
    victim = max(victims, key=lambda s: s.queued)
    unstarted = [n for n in victim.inflight if n != victim.running and thief_can_run(n)]
    revoke = tuple(unstarted[-(victim.queued // 2):])
    return (victim, revoke) if revoke else None

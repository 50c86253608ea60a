"""Work stealing in the run controller, driven message by message (no sockets: replies are
recorded), so the exchange is exact: an idle lease gets tests a busy lease gave back, and no
test is ever held by two leases."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mesh.testrun.bundle import Bundle
from mesh.testrun.controller import RunController
from mesh.testrun.leases import LeaseState, RunOptions, choose_steal
from transports.protocol import TestHello, TestReports, TestWork
from transports.zmq_transport import Origin

IDS = tuple(f"t.py::test_{i}" for i in range(20))
A, B = Origin(identity=b"A"), Origin(identity=b"B")


class Replies:
    """Stands in for the ROUTER socket: keeps what the controller sends, per lease."""

    def __init__(self) -> None:
        self.sent: dict[bytes, list[TestWork]] = {b"A": [], b"B": []}

    def reply(self, origin: Origin, msg: Any, corr_id: int = 0) -> bool:
        assert origin.identity is not None
        self.sent[origin.identity].append(msg)
        return True


class Lease:
    """The lease side of the exchange, as far as the controller can see it."""

    def __init__(self, ctrl: RunController, origin: Origin, attempt: str) -> None:
        self.ctrl, self.origin, self.attempt = ctrl, origin, attempt
        self.seq = 0
        self.work_seen = 0
        self.queue: list[str] = []  # not handed to pytest yet: may be given back
        self.pytest: list[str] = []  # handed to pytest: cannot be given back

    def last(self) -> TestWork:
        assert self.origin.identity is not None
        return self.ctrl.transport.sent[self.origin.identity][-1]  # type: ignore[union-attr]

    def take(self, work: TestWork) -> None:
        if work.work_seq == self.work_seen + 1:
            self.work_seen = work.work_seq
            self.queue.extend(work.node_ids)

    def hello(self) -> None:
        self.ctrl._on_hello(self.origin, TestHello(self.ctrl.run_id, self.attempt, f"task-{self.attempt}",
                                                   f"worker-{self.attempt}", {"hardware": ["cpu"]}, IDS, {}))
        self.take(self.last())

    def report(self, want: bool, revoked: tuple[str, ...] = ()) -> TestWork:
        self.seq += 1
        self.ctrl._on_reports(self.origin, TestReports(
            self.ctrl.run_id, self.attempt, f"worker-{self.attempt}", self.seq, (), "",
            len(self.queue) + len(self.pytest), want, self.work_seen, False, revoked))
        work = self.last()
        self.take(work)
        return work


def test_an_idle_lease_steals_the_later_half_of_what_a_busy_lease_has_not_started(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        options = RunOptions(pytest_args=[], coordinator="127.0.0.1:1",
                             listen_host="127.0.0.1")
        ctrl = RunController(options, Bundle("0" * 64, b"", 0), lambda r: None, lambda n: None)
        ctrl.transport = Replies()  # type: ignore[assignment]
        ctrl.lease_tasks = ["task-a", "task-b"]
        a, b = Lease(ctrl, A, "a"), Lease(ctrl, B, "b")
        a.hello()
        for _ in range(50):  # a busy lease that keeps asking takes the whole plan
            a.report(want=True)
        assert sorted(a.queue) == sorted(IDS) and ctrl.plan is not None and ctrl.plan.remaining == 0
        a.pytest, a.queue = a.queue[:4], a.queue[4:]  # 4 tests already handed to its pytest
        b.hello()  # nothing left in the plan: the controller asks `a` to give some back
        revoke = a.last().revoke
        assert len(revoke) == len(IDS) // 2
        assert set(revoke) <= set(a.queue)  # the later, unstarted ones
        given = tuple(n for n in a.queue if n in revoke)
        a.queue = [n for n in a.queue if n not in revoke]
        a.report(want=False, revoked=given)
        stolen = b.report(want=True)
        assert stolen.node_ids and set(stolen.node_ids) <= set(given)
        while ctrl.plan.remaining:
            b.report(want=True)
        assert sorted(b.queue) == sorted(given)
        assert not set(b.queue) & set(a.queue + a.pytest)  # no test is held twice
        assert sorted(a.queue + a.pytest + b.queue) == sorted(IDS)
        assert ctrl.stolen == len(given)
        ctrl.client.close()
        ctrl.watch_client.close()

    asyncio.run(scenario())


def test_loadfile_units_are_not_stolen(tmp_path: Path) -> None:
    async def scenario() -> None:
        options = RunOptions(pytest_args=[], coordinator="127.0.0.1:1",
                             listen_host="127.0.0.1", dist="loadfile")
        ctrl = RunController(options, Bundle("0" * 64, b"", 0), lambda r: None, lambda n: None)
        ctrl.transport = Replies()  # type: ignore[assignment]
        ctrl.lease_tasks = ["task-a", "task-b"]
        a, b = Lease(ctrl, A, "a"), Lease(ctrl, B, "b")
        a.hello()  # one file: one unit, all to `a`
        b.hello()
        assert sorted(a.queue) == sorted(IDS)
        assert all(not w.revoke for w in ctrl.transport.sent[b"A"])  # type: ignore[attr-defined]
        ctrl.client.close()
        ctrl.watch_client.close()

    asyncio.run(scenario())


def test_choose_steal_takes_from_the_fullest_live_lease_and_waits_out_an_unanswered_ask() -> None:
    def lease(name: str, queued: int, **kw: Any) -> LeaseState:
        state = LeaseState(name, f"task-{name}", f"w-{name}", {}, origin=Origin(identity=name.encode()),
                           queued=queued, **kw)
        state.inflight = dict.fromkeys(f"{name}::t{i}" for i in range(queued + 1))
        state.running = f"{name}::t0"
        return state

    thief, small, big, dead = lease("a", 0), lease("b", 3), lease("c", 8), lease("d", 20, dead=True)
    choice = choose_steal(thief, [thief, small, big, dead], lambda n: True, now=10.0, retry_s=1.0)
    assert choice is not None and choice[0] is big
    assert choice[1] == tuple(f"c::t{i}" for i in range(5, 9))  # the later half, never the running test
    big.revoking_since = 9.5  # asked half a second ago, no answer yet: the next fullest
    second = choose_steal(thief, [small, big], lambda n: True, now=10.0, retry_s=1.0)
    assert second is not None and second[0] is small
    only_t3 = choose_steal(thief, [small], lambda n: n.endswith("t3"), now=10.0, retry_s=1.0)
    assert only_t3 == (small, ("b::t3",))  # only tests the thief can run
    assert choose_steal(thief, [lease("e", 1)], lambda n: True, now=10.0, retry_s=1.0) is None

"""The owner of one `mesh test` run: submits its leases, serves the code bundle, hands out tests,
collects the reports, and notices leases that die.

The run's leases are ordinary tasks (type `pytest_session`) committed through Raft, so the mesh
schedules them on capable workers and requeues one whose worker is lost. Everything else goes
directly between a lease and this process over its own ROUTER socket (messages in
`transports.protocol`, "mesh test" section): the bundle, the lease's hello with what it collected,
work on demand, and numbered report batches that this side acknowledges.

A lease is declared dead when the mesh says its attempt ended or was replaced before it sent its
final batch; the test it was running is reported as an error naming the worker, and the tests it
had not finished go back to the plan for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from mesh.client import MeshClient, MeshError
from mesh.tasks.fields import Issues
from mesh.tasks.requirements import Requirements, parse_requirements
from mesh.tasktable import TERMINAL
from mesh.testrun.bundle import Bundle
from mesh.testrun.leases import LeaseState, RunOptions, RunResult, choose_steal
from mesh.testrun.plan import Plan
from mesh.testrun.reports import Report, mesh_report
from transports.protocol import (
    TestBundleChunk,
    TestBundleRequest,
    TestDurationsReply,
    TestDurationsRequest,
    TestHello,
    TestReports,
    TestWork,
)
from transports.zmq_transport import Origin, ZmqTransport

log = logging.getLogger("mesh.test")

WATCH_EVERY_S = 0.5  # how often the leases' task states are read from the mesh
LEASE_TIMEOUT_S = 7 * 24 * 3600.0
STEALING_MODES = ("load", "duration")  # loadfile/loadscope units must stay whole
REVOKE_RETRY_S = 1.0  # a steal request unanswered this long may be asked again
MESH_SILENT_S = 60.0  # the mesh answered no lease-state query for this long: give the run up


class RunController:
    def __init__(self, options: RunOptions, bundle: Bundle, on_report: Callable[[Report], None],
                 on_collected: Callable[[int], None], mesh_alive: Callable[[], bool] | None = None) -> None:
        self.o = options
        self.bundle = bundle
        self.on_report = on_report
        self.on_collected = on_collected
        self.mesh_alive = mesh_alive  # for an embedded mesh: whether its node process still runs
        self.run_id = uuid.uuid4().hex[:16]
        self.client = MeshClient(options.coordinator, timeout=10.0)
        self.watch_client = MeshClient(options.coordinator, timeout=10.0)  # one client per thread
        self.transport: ZmqTransport | None = None
        self.address = ""
        self.leases: dict[str, LeaseState] = {}
        self.lease_tasks: list[str] = []
        self.plan: Plan | None = None
        self.collected: tuple[str, ...] = ()
        self.requirements: dict[str, Requirements | None] = {}  # key -> parsed (None: invalid)
        self.reports: list[Report] = []
        self.collection_errors: list[Report] = []
        self.finished: dict[str, str] = {}  # nodeid -> attempt id that finished it
        self.interrupted: str | None = None
        self.workers_status: list[dict[str, Any]] = []
        self.durations: dict[str, float] = {}
        self.done = asyncio.Event()
        self.lease_ended = asyncio.Event()  # set when a lease sends its final batch or dies
        self.stolen = 0  # tests moved from one lease to another by work stealing

    # --- the run -----------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        started = time.monotonic()
        self.transport = ZmqTransport(f"mesh-test-{self.run_id}", f"tcp://{self.o.listen_host}:0",
                                      self._dispatch)
        endpoint = await self.transport.start()
        self.address = f"{self.o.listen_host}:{endpoint.rsplit(':', 1)[1]}"
        try:
            status = await asyncio.to_thread(self.client.status)
            self.workers_status = [w for w in (status.extra or {}).get("workers", [])
                                   if w.get("status") == "active"]
            if not self.workers_status:
                raise MeshError(f"the mesh at {self.o.coordinator} has no active worker")
            if self.o.dist == "duration":
                self.durations = await self._past_durations()
            slots = sum(int(w.get("slots") or 1) for w in self.workers_status)
            await self._submit_leases(self.o.leases or slots, None)
            log.debug("leases submitted after %.3f s", time.monotonic() - started)
            watcher = asyncio.get_running_loop().create_task(self._watch())
            try:
                await self.done.wait()
                log.debug("all tests finished after %.3f s", time.monotonic() - started)
                await self._wind_down()
                log.debug("leases wound down after %.3f s", time.monotonic() - started)
            finally:
                watcher.cancel()
        finally:
            await self._cancel_unfinished()
            await self.transport.close()
            self.client.close()
            self.watch_client.close()
        return RunResult(self.reports, self.collection_errors, len(self.collected), self.interrupted)

    async def _past_durations(self) -> dict[str, float]:
        try:
            reply = await asyncio.to_thread(self.client.request, TestDurationsRequest(self.o.suite))
        except MeshError as err:
            log.warning("no past durations (%s): --dist duration falls back to load order", err)
            return {}
        return dict(reply.durations) if isinstance(reply, TestDurationsReply) else {}

    async def _submit_leases(self, count: int, requirements: Requirements | None) -> None:
        from actors.test_history import lease_name

        config: dict[str, Any] = {"run_id": self.run_id, "client": self.address, "bundle": self.bundle.sha256,
                                  "args": self.o.pytest_args, "pythonpath": self.o.pythonpath,
                                  "suite": self.o.suite}
        if self.o.test_timeout_s:
            config["test_timeout_s"] = self.o.test_timeout_s
        first = len(self.lease_tasks)
        tasks = [{"type": "pytest_session", "name": lease_name(self.o.suite, self.run_id, first + i),
                  "priority": 0, "config": config, "timeout_seconds": LEASE_TIMEOUT_S,
                  "requirements": requirements.to_dict() if requirements else {}}
                 for i in range(count)]
        ids = await asyncio.to_thread(self.client.submit, tasks)
        self.lease_tasks.extend(ids)

    async def _wind_down(self) -> None:
        """Every lease that is running gets `done` on its next report; wait for their last batch."""
        deadline = time.monotonic() + 10.0
        while any(not (s.final or s.dead) for s in self.leases.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.lease_ended.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self.lease_ended.wait()

    async def _cancel_unfinished(self, settle_s: float = 10.0) -> None:
        """Leases still queued (e.g. waiting for a worker that never had a free slot) are cancelled,
        then the run waits (bounded) until the mesh has every lease ended, so no lease of a
        finished run is left to start later and hold a slot."""
        if not self.lease_tasks:
            return
        deadline = time.monotonic() + settle_s
        cancelled: set[str] = set()
        while time.monotonic() < deadline:
            try:
                reply = await asyncio.to_thread(self.client.tasks, self.lease_tasks)
            except MeshError:
                return
            open_tasks = [t for t in reply.tasks if t["status"] not in TERMINAL]
            if not open_tasks:
                return
            for task in open_tasks:
                if task["id"] not in cancelled and not self._lease_for_task_final(task["id"]):
                    cancelled.add(task["id"])
                    try:
                        await asyncio.to_thread(self.client.cancel, task["id"])
                    except MeshError as err:
                        log.warning("could not cancel lease %s: %s", task["id"], err)
            await asyncio.sleep(0.02)
        log.warning("some leases of this run had not ended after %.0f s", settle_s)

    def _lease_for_task_final(self, task_id: str) -> bool:
        return any(s.final for s in self.leases.values() if s.task_id == task_id)

    # --- messages from leases ----------------------------------------------------------------------

    def _dispatch(self, origin: Origin, corr_id: int, msg: Any) -> None:
        if getattr(msg, "run_id", self.run_id) != self.run_id:
            return  # a lease of an earlier run, still winding down
        if isinstance(msg, TestReports):
            self._on_reports(origin, msg)
        elif isinstance(msg, TestBundleRequest):
            self._on_bundle_request(origin, msg)
        elif isinstance(msg, TestHello):
            self._on_hello(origin, msg)

    def _reply(self, origin: Origin, msg: Any) -> None:
        assert self.transport is not None
        self.transport.reply(origin, msg)

    def _on_bundle_request(self, origin: Origin, msg: TestBundleRequest) -> None:
        if msg.bundle != self.bundle.sha256:
            return
        data = self.bundle.data[msg.offset: msg.offset + max(0, msg.length)]
        self._reply(origin, TestBundleChunk(self.run_id, msg.attempt_id, msg.bundle, msg.offset,
                                            len(self.bundle.data), data))

    def _on_hello(self, origin: Origin, msg: TestHello) -> None:
        lease = self.leases.get(msg.attempt_id)
        if lease is None:
            lease = LeaseState(msg.attempt_id, msg.task_id, msg.worker_id, dict(msg.capabilities))
            self.leases[msg.attempt_id] = lease
            if self.plan is None:
                self._make_plan(msg)
            elif msg.collected != self.collected:
                lease.mismatch = True
                log.warning("worker %s collected different tests (%d vs %d); it gets none",
                            msg.worker_id, len(msg.collected), len(self.collected))
            self._give_work(lease)
        lease.origin = origin
        self._reply(origin, self._work_message(lease))

    def _make_plan(self, hello: TestHello) -> None:
        log.debug("first hello (%d tests collected on %s)", len(hello.collected), hello.worker_id)
        self.collected = hello.collected
        self.collection_errors = [dict(e) for e in hello.errors if e.get("outcome") == "failed"]
        for skipped in (dict(e) for e in hello.errors if e.get("outcome") == "skipped"):
            self.reports.append(skipped)  # a module skipped as a whole counts as one skip
            self.on_report(skipped)
        self.on_collected(len(hello.collected))
        self.plan = Plan(hello.collected, dist=self.o.dist, requirements=dict(hello.requirements),
                         durations=self.durations)
        if self.collection_errors and not self.o.continue_on_collection_errors:
            self.interrupted = f"{len(self.collection_errors)} error(s) during collection"
        if self.interrupted or not hello.collected:
            self._set_done()
            return
        for key in self.plan.open_keys():
            if key:
                self._route(key, hello.requirements)

    def _route(self, key: str, marker_kwargs: dict[str, Any]) -> None:
        """Tests with requirements: give them to capable leases, ask for more, or report them."""
        assert self.plan is not None
        sample = next(n for n in self.collected if self.plan.key_of.get(n) == key)
        issues = Issues()
        parsed = parse_requirements(issues, "@pytest.mark.mesh", marker_kwargs.get(sample))
        self.requirements[key] = parsed if not issues.errors else None
        if parsed is None or issues.errors:
            why = "; ".join(str(error) for error in issues.errors) or "invalid"
            self._unrunnable(self.plan.drop(key), f"invalid mesh marker: {why}")
            return
        capable = [w for w in self.workers_status if parsed.matches(w.get("capabilities") or {})]
        if not capable:
            reasons = "; ".join(f"{w['worker_id']}: {parsed.explain_mismatch(w.get('capabilities') or {})}"
                                for w in self.workers_status)
            self._unrunnable(self.plan.drop(key), f"no worker in the mesh can run this test ({reasons})")
            return
        if len(capable) < len(self.workers_status):
            asyncio.get_running_loop().create_task(self._submit_leases(len(capable), parsed))

    def _unrunnable(self, node_ids: list[str], why: str) -> None:
        for nodeid in node_ids:
            self._accept(None, mesh_report(nodeid, "error", why, when="setup"))
        self._check_done()

    def _can_run(self, lease: LeaseState) -> Callable[[str], bool]:
        def can(key: str) -> bool:
            if key not in lease.keys:
                req = self.requirements.get(key)
                lease.keys[key] = key == "" or (req is not None and req.matches(lease.capabilities))
            return lease.keys[key]
        return can

    def _give_work(self, lease: LeaseState) -> None:
        if self.plan is None or lease.mismatch or self.interrupted:
            return
        live = sum(1 for s in self.leases.values() if not (s.dead or s.final or s.mismatch))
        # leases still starting count too, or the first to say hello would take everything
        chunk = self.plan.take(self._can_run(lease), max(live, len(self.lease_tasks)))
        if not chunk and self.o.dist in STEALING_MODES and not self.done.is_set():
            self._steal_for(lease)
        if chunk:
            lease.work_seq += 1
            lease.last_work = tuple(chunk)
            lease.inflight.update(dict.fromkeys(chunk))

    def _steal_for(self, thief: LeaseState) -> None:
        """Nothing left in the plan for an idle lease: ask the lease holding the most unstarted
        tests to give back the later half of them. Only tests it gives back move (its answer
        comes in a report batch), so no test can run twice."""
        if self.plan is None:
            return
        now = time.monotonic()
        can, key_of = self._can_run(thief), self.plan.key_of
        choice = choose_steal(thief, self.leases.values(), lambda n: can(key_of.get(n, "")), now,
                              REVOKE_RETRY_S)
        if choice is None:
            return
        victim, revoke = choice
        assert victim.origin is not None
        victim.revoking_since = now
        log.debug("asking %s to give back %d tests for %s", victim.worker, len(revoke), thief.worker)
        message = self._work_message(victim)
        self._reply(victim.origin, dataclasses.replace(message, revoke=revoke))

    def _take_back(self, lease: LeaseState, revoked: tuple[str, ...]) -> None:
        """Tests a lease gave back (work stealing): they go first to whoever asks next."""
        lease.revoking_since = None
        back = []
        for nodeid in revoked:
            if nodeid in lease.inflight:
                del lease.inflight[nodeid]
                if nodeid not in self.finished:
                    back.append(nodeid)
        if back and self.plan is not None:
            self.stolen += len(back)
            self.plan.give_back(back)

    def _work_message(self, lease: LeaseState) -> TestWork:
        done = self.done.is_set() or lease.mismatch or lease.dead
        return TestWork(self.run_id, lease.attempt_id, lease.seq, lease.work_seq, lease.last_work, done)

    def _on_reports(self, origin: Origin, msg: TestReports) -> None:
        lease = self.leases.get(msg.attempt_id)
        if lease is None:
            return  # reports come only after a hello was answered
        lease.origin = origin
        if msg.seq == lease.seq + 1 and not lease.dead:
            lease.seq = msg.seq
            for report in msg.reports:
                self._accept(lease, dict(report))
            lease.running = msg.running
            lease.queued = msg.queued
            if msg.revoked:
                self._take_back(lease, msg.revoked)
            if msg.final and not lease.final:
                lease.final = True
                self.lease_ended.set()
            if msg.want_more and msg.work_seen == lease.work_seq:
                self._give_work(lease)
            self._check_done()
        self._reply(origin, self._work_message(lease))

    def _accept(self, lease: LeaseState | None, report: Report) -> None:
        nodeid = report["nodeid"]
        owner = self.finished.get(nodeid)
        if owner is not None and (lease is None or owner != lease.attempt_id):
            return  # already finished elsewhere (a test given back, then reported late)
        self.reports.append(report)
        over = report.get("last") or report.get("when") == "teardown" or report.get("category")
        if owner is None and over:
            self.finished[nodeid] = lease.attempt_id if lease else ""
            if lease is not None:
                lease.inflight.pop(nodeid, None)
        self.on_report(report)

    def _check_done(self) -> None:
        if self.collected and len(self.finished) >= len(self.collected) and not self.done.is_set():
            self._set_done()

    def _set_done(self) -> None:
        """The run is over: tell every live lease now rather than on its next report."""
        self.done.set()
        for lease in self.leases.values():
            if lease.origin is not None and not (lease.final or lease.dead):
                self._reply(lease.origin, self._work_message(lease))

    # --- leases that die -----------------------------------------------------------------------------

    async def _watch(self) -> None:
        last_answer = time.monotonic()
        while not self.done.is_set():
            await asyncio.sleep(WATCH_EVERY_S)
            if self.mesh_alive is not None and not self.mesh_alive():
                self.interrupted = "the embedded mesh node exited (its log is node.log in its data dir)"
                self._set_done()
                return
            try:
                reply = await asyncio.to_thread(self.watch_client.tasks, self.lease_tasks)
            except MeshError as err:
                log.warning("cannot read the leases' state: %s", err)
                if time.monotonic() - last_answer > MESH_SILENT_S:
                    self.interrupted = (f"the mesh at {self.o.coordinator} did not answer "
                                        f"for {MESH_SILENT_S:g} s")
                    self._set_done()
                    return
                continue
            last_answer = time.monotonic()
            for task in reply.tasks:
                ended = {a.get("id") for a in task.get("attempts", []) if a.get("outcome") is not None}
                for lease in [s for s in self.leases.values() if s.task_id == task["id"]]:
                    # the mesh ended this attempt (worker lost, cancelled, failed) before its final batch
                    gone = lease.attempt_id in ended or task.get("current_attempt") != lease.attempt_id
                    if gone and not (lease.final or lease.dead):
                        self._lease_died(lease, task)
            if reply.tasks and all(t["status"] in TERMINAL for t in reply.tasks) and not self.done.is_set():
                if self.plan is None:  # no lease got as far as collecting
                    errors = {str((t.get("result") or {}).get("error") or t.get("error") or t["status"])
                              for t in reply.tasks}
                    self.interrupted = "every lease ended before collecting: " + "; ".join(sorted(errors))
                    self._set_done()
                    return
                left = [n for n in self.collected if n not in self.finished]
                self._unrunnable(left, "no lease of this run is left to run it (see `mesh results`)")

    def _lease_died(self, lease: LeaseState, task: dict[str, Any]) -> None:
        lease.dead = True
        self.lease_ended.set()
        attempt: dict[str, Any] = next(
            (a for a in task.get("attempts", []) if a.get("id") == lease.attempt_id), {})
        why = attempt.get("outcome") or task["status"]
        if why == "lost":
            why = "the worker was lost (it stopped heartbeating)"
        if lease.running and lease.running not in self.finished:
            self._accept(None, mesh_report(lease.running, "error",
                                           f"worker {lease.worker} died while running this test: {why}",
                                           worker=lease.worker))
        back = [n for n in lease.inflight if n not in self.finished]
        lease.inflight.clear()
        if self.plan is not None and back:
            log.warning("lease on %s died (%s); %d tests go to other workers", lease.worker, why, len(back))
            self.plan.give_back(back)
        self._check_done()

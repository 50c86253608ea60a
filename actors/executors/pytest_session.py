"""The `pytest_session` executor: one lease of a `mesh test` run on this worker.

A lease fetches the run's code bundle from the run's owner (the `mesh test` process, whose address
is in the task config) unless this worker has it, starts one long-lived pytest process in it,
says hello with what that process collected, and then pulls tests from the owner, runs them and
streams the phase reports back until the owner says the run is done. The owner hands out work;
this side only keeps a little queued so the pytest process never waits on the network.

Failures stay inside the lease: a pytest process that dies takes only the test it was running (an
error naming this worker and the signal) and is started again for the rest; a test running past
`test_timeout_s` is killed with its process group and reported as failed. Report batches are
numbered and resent until acknowledged, so a dropped message loses nothing. The attempt's result
carries one row per test for the result store.

Config: run_id, client ("host:port"), bundle (sha256), args (pytest arguments), pythonpath
(folders inside the bundle), env, test_timeout_s, python.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.executors.base import (
    COMPLETED,
    ERROR,
    ExecutionRequest,
    ExecutionResult,
    ExecutorError,
    build_env,
)
from actors.executors.pytest_process import PytestProcess, exit_verb_phrase
from mesh.testrun.bundle import BundleCache, BundleError
from mesh.testrun.reports import category, mesh_report, row_outcome
from transports.address import parse_address
from transports.protocol import TestBundleChunk, TestBundleRequest, TestHello, TestReports, TestWork

log = logging.getLogger("mesh.pytest_session")

REPLY_TIMEOUT_S = 2.0  # resend a bundle request or hello after this long without an answer
RESEND_S = 0.5  # unacknowledged report batches go again after this long
OWNER_TIMEOUT_S = 60.0  # the run's owner said nothing for this long: the run is over for us
# the owner must answer within about 3 s before pytest starts
PROBE_TRIES, PROBE_WAIT_S = 6, 0.5
OWNER_TRIES = int(OWNER_TIMEOUT_S / REPLY_TIMEOUT_S)
FLUSH_S = 0.03  # reports wait at most this long to be batched
KEEPALIVE_S = 1.0
FEED_MAX = 32  # tests handed to the pytest process per command, at most
FEED_AHEAD_S = 0.02
MAX_BATCH = 512  # reports per TestReports
QUEUE_AHEAD_S = 0.05  # keep about this much work queued locally
STOP_TIMEOUT_S = 30.0
MAX_IDLE_CRASHES = 3  # pytest processes dying with no test run in between: give up


class LeaseFailed(Exception):
    """The lease cannot go on (bundle, collection, owner gone); the message says why."""


@dataclass(frozen=True, slots=True)
class _Event:
    """An event line from the lease's pytest process, queued with the owner's messages."""

    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Exited:
    """That pytest process closed its event pipe (exited or was killed)."""

    proc: PytestProcess


class PytestSessionExecutor:
    """Shared by every lease on this worker; the bundle cache is per worker."""

    def __init__(self) -> None:
        self._caches: dict[Path, BundleCache] = {}

    async def run(self, request: ExecutionRequest, cancel: asyncio.Event) -> ExecutionResult:
        started = time.monotonic()
        messenger = request.messenger
        if messenger is None:
            return ExecutionResult(ERROR, error="pytest_session needs a worker messenger")
        lease = Lease(request, messenger, self._cache(request.work_dir), cancel)
        try:
            rows = await lease.run()
        except (LeaseFailed, BundleError, ExecutorError) as err:
            return ExecutionResult(ERROR, error=str(err), duration_s=time.monotonic() - started,
                                   stderr_tail=lease.stderr_tail(), test_outcomes=lease.rows())
        finally:
            messenger.close_inbox(request.attempt_id)
            lease.kill()
        return ExecutionResult(COMPLETED, duration_s=time.monotonic() - started, test_outcomes=rows,
                               value={"tests": len(rows), "restarts": lease.restarts})

    def _cache(self, work_dir: Path) -> BundleCache:
        if work_dir not in self._caches:
            self._caches[work_dir] = BundleCache(work_dir / ".mesh-bundles")
        return self._caches[work_dir]


class Lease:
    """One attempt of a lease task: the pytest process, the local queue, the report stream."""

    def __init__(self, request: ExecutionRequest, messenger: Any, cache: BundleCache,
                 cancel: asyncio.Event) -> None:
        c = request.config
        self.request, self.messenger, self.cache, self.cancel = request, messenger, cache, cancel
        self.run_id: str = c["run_id"]
        self.owner: str = parse_address(c["client"]).endpoint
        self.attempt_id = request.attempt_id
        self.worker = messenger.worker_id
        self.timeout_s: float | None = c.get("test_timeout_s")
        self.inbox: asyncio.Queue[Any] = messenger.inbox(self.attempt_id)
        self.proc: PytestProcess | None = None
        self.restarts = 0
        self.queue: deque[str] = deque()  # handed to us, not yet given to pytest
        self.fed: deque[str] = deque()  # given to pytest, not started
        self.running_since = 0.0  # when the test now running (fed[0]) started
        self.timed_out: str | None = None  # killed for its timeout, already reported
        self.idle = True  # pytest has finished every batch given to it
        self.done = False  # the owner will send no more work
        self.pending: list[dict[str, Any]] = []
        self.pending_since = 0.0
        self.seq = 0
        self.unacked: deque[tuple[int, TestReports, float]] = deque()
        self.work_seen = 0
        self.asked = False  # a want_more is outstanding
        self.last_owner = time.monotonic()
        self.last_sent = 0.0
        self.mean_test_s: float | None = None  # measured; until then keep only 2 tests queued
        self.outcomes: dict[str, list[Any]] = {}  # nodeid -> [categories, duration]
        self.crashes_without_progress = 0
        self.revoked: list[str] = []  # given back to the owner, to report in the next batch
        self.revoked_due = False
        self.deferred: list[Any] = []  # messages that came while waiting for an answer (`_ask`)

    # --- the whole lease ---------------------------------------------------------------------

    async def run(self) -> list[dict[str, Any]]:
        t0 = time.monotonic()
        self.messenger.connect(self.owner)
        await self._probe_owner()  # a lease of a run that is over must not collect a whole suite
        bundle = await self.cache.ensure(self.request.config["bundle"], self._fetch)
        log.debug("lease %s: bundle ready after %.3f s", self.attempt_id, time.monotonic() - t0)
        ids, requirements, errors = await self._start_pytest(bundle)
        log.debug("lease %s: %d tests collected after %.3f s", self.attempt_id, len(ids),
                  time.monotonic() - t0)
        await self._hello(ids, requirements, errors)
        log.debug("lease %s: hello answered after %.3f s", self.attempt_id, time.monotonic() - t0)
        for msg in self.deferred:  # what came while we waited for the owner (e.g. pytest died)
            await self._handle(msg, bundle)
        self.deferred.clear()
        while not (self.done and not self.queue and not self.fed and self.idle):
            self._feed()
            self._maybe_send()
            msg = await self._get(FLUSH_S)
            while msg is not None:
                await self._handle(msg, bundle)
                msg = self.inbox.get_nowait() if not self.inbox.empty() else None
            self._check_timeout()
            self._check_owner()
        t1 = time.monotonic()
        await self._stop_pytest()
        log.debug("lease %s: pytest exited %.3f s after stop", self.attempt_id, time.monotonic() - t1)
        await self._finish()
        log.debug("lease %s: final batch acknowledged %.3f s after stop", self.attempt_id,
                  time.monotonic() - t1)
        return self.rows()

    async def _get(self, timeout_s: float) -> Any:
        if self.cancel.is_set():
            raise LeaseFailed("cancelled")
        try:
            return await asyncio.wait_for(self.inbox.get(), timeout_s)
        except TimeoutError:
            return None

    async def _handle(self, msg: Any, bundle: Path) -> None:
        if isinstance(msg, _Event):
            self._on_event(msg.data)
        elif isinstance(msg, TestWork):
            self._on_work(msg)
        elif isinstance(msg, _Exited) and msg.proc is self.proc:
            await self._on_exit(bundle)

    async def _ask(self, request: Any, answers: Callable[[Any], bool], tries: int, wait_s: float) -> Any:
        """Send `request` to the run's owner until a message `answers` accepts comes back (None
        after `tries` sends); anything else that arrives meanwhile waits for the main loop."""
        for _ in range(tries):
            self.messenger.send(self.owner, request)
            deadline = time.monotonic() + wait_s
            while (msg := await self._get(deadline - time.monotonic())) is not None:
                if answers(msg):
                    self.last_owner = time.monotonic()
                    return msg
                self.deferred.append(msg)
        return None

    async def _probe_owner(self) -> None:
        """Ask the run's owner for an empty slice of the bundle: it answers while the run lives."""
        bundle = self.request.config["bundle"]
        probe = TestBundleRequest(self.run_id, self.attempt_id, bundle, 0, 0)
        if await self._ask(probe, lambda m: isinstance(m, TestBundleChunk) and m.bundle == bundle,
                           PROBE_TRIES, PROBE_WAIT_S) is None:
            raise LeaseFailed(f"the mesh test process at {self.owner} is gone (its run is over)")

    async def _fetch(self, offset: int, length: int) -> tuple[int, bytes]:
        bundle = self.request.config["bundle"]
        request = TestBundleRequest(self.run_id, self.attempt_id, bundle, offset, length)
        chunk = await self._ask(
            request, lambda m: isinstance(m, TestBundleChunk) and m.bundle == bundle and m.offset == offset,
            OWNER_TRIES, REPLY_TIMEOUT_S)
        if chunk is None:
            raise LeaseFailed(f"the mesh test process at {self.owner} did not send the code bundle")
        return chunk.total, chunk.data

    async def _start_pytest(self, bundle: Path) -> tuple[list[str], dict[str, Any], list[Any]]:
        c = self.request.config
        env = build_env(self.request)
        extra = [str(bundle / p) for p in c.get("pythonpath") or []]
        if extra:
            old = env.get("PYTHONPATH")
            env["PYTHONPATH"] = os.pathsep.join(extra + ([old] if old else []))
        log_path = self.request.work_dir / ".mesh-logs" / f"pytest-{self.attempt_id}.log"
        proc = PytestProcess(python=c.get("python") or sys.executable, args=list(c.get("args") or []),
                             cwd=bundle, env=env, log_path=log_path)
        self.proc = proc
        await proc.start()
        asyncio.get_running_loop().create_task(self._pump(proc), name=f"pytest-events-{self.attempt_id}")
        while True:
            msg = await self._get(1.0)
            if isinstance(msg, _Event) and msg.data.get("t") == "collected":
                self.idle = True
                data = msg.data
                return list(data["ids"]), dict(data["requirements"]), list(data["errors"])
            if isinstance(msg, _Exited) and msg.proc is proc:
                status = await proc.wait(5)
                raise LeaseFailed(f"pytest on worker {self.worker} {exit_verb_phrase(status)} before "
                                  f"collecting:\n{proc.stderr_tail()}")
            if isinstance(msg, TestWork):
                self._on_work(msg)

    async def _pump(self, proc: PytestProcess) -> None:
        async for event in proc.events():
            self.inbox.put_nowait(_Event(event))
        self.inbox.put_nowait(_Exited(proc))

    async def _stop_pytest(self) -> None:
        """Tell pytest to finish (session fixtures torn down, reported) and wait for it to exit."""
        proc = self.proc
        assert proc is not None
        if proc.proc is not None and proc.proc.returncode is not None:
            return  # it died on the last test and was not started again
        proc.stop()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = await self._get(deadline - time.monotonic())
            if isinstance(msg, _Event):
                self._on_event(msg.data)
            elif isinstance(msg, TestWork):
                self._on_work(msg)
            elif isinstance(msg, _Exited) and msg.proc is proc:
                break
        await proc.wait(1.0)

    async def _hello(self, ids: list[str], requirements: dict[str, Any], errors: list[Any]) -> None:
        from mesh.hardware import capabilities

        hello = TestHello(self.run_id, self.attempt_id, self.request.task_id, self.worker, capabilities(),
                          tuple(ids), requirements, tuple(errors))
        work = await self._ask(hello, lambda m: isinstance(m, TestWork), OWNER_TRIES, REPLY_TIMEOUT_S)
        if work is None:
            raise LeaseFailed(f"the mesh test process at {self.owner} did not answer")
        self._on_work(work)

    def _on_event(self, event: dict[str, Any]) -> None:
        kind = event.get("t")
        if kind == "done":
            nodeid = event["id"]
            reports = event["r"] or [
                mesh_report(nodeid, "error", "pytest ran this test's protocol but reported nothing for it")]
            reports[-1]["last"] = True  # the test is over, teardown report or not
            for report in reports:
                self._report(report)
            if self.fed and self.fed[0] == nodeid:
                self.fed.popleft()
            else:
                self.fed = deque(n for n in self.fed if n != nodeid)
            now = time.monotonic()
            took = now - self.running_since
            self.mean_test_s = took if self.mean_test_s is None else 0.8 * self.mean_test_s + 0.2 * took
            self.running_since = now  # the next test in `fed` starts now
        elif kind == "report":
            self._report(event["r"])
        elif kind == "idle":
            self.idle = True
            self.fed.clear()

    @property
    def running(self) -> str | None:
        """The test pytest is running now: the first one handed to it and not done."""
        return self.fed[0] if self.fed and not self.idle else None

    def _report(self, report: dict[str, Any]) -> None:
        report["worker"] = self.worker
        if not self.pending:
            self.pending_since = time.monotonic()
        self.pending.append(report)
        entry = self.outcomes.setdefault(report["nodeid"], [[], 0.0])
        entry[1] += float(report.get("duration_s") or 0.0)
        cat = category(report)
        if cat is not None:
            entry[0].append(cat)

    async def _on_exit(self, bundle: Path) -> None:
        """The pytest process ended without being told to: blame the running test, start again."""
        assert self.proc is not None
        status = await self.proc.wait(5)
        what = f"worker {self.worker}: the pytest process {exit_verb_phrase(status)}"
        running = self.running
        if running is not None:
            if running != self.timed_out:  # a timeout was reported when it was killed
                self._synthetic(running, "error", f"{what} while running this test")
            self.fed.popleft()
            self.crashes_without_progress = 0
        else:
            self.crashes_without_progress += 1
            if self.crashes_without_progress >= MAX_IDLE_CRASHES:
                raise LeaseFailed(f"{what}, {MAX_IDLE_CRASHES} times with no test running:\n"
                                  f"{self.proc.stderr_tail()}")
        self.queue.extendleft(reversed(self.fed))
        self.fed.clear()
        self.idle = True
        self.timed_out = None
        if self.done and not self.queue:
            log.warning("%s; the run is over, so it is not started again", what)
            return
        self.restarts += 1
        log.warning("%s; starting it again (%d queued)", what, len(self.queue))
        await self._start_pytest(bundle)

    def _synthetic(self, nodeid: str, cat: str, text: str) -> None:
        self._report(mesh_report(nodeid, cat, text, duration_s=time.monotonic() - self.running_since))

    def _check_timeout(self) -> None:
        if self.timeout_s and self.running not in (None, self.timed_out) and self.proc is not None:
            took = time.monotonic() - self.running_since
            if took > self.timeout_s:
                nodeid = self.running
                self._synthetic(nodeid, "failed", f"Timeout: the test ran for more than {self.timeout_s:g} s "
                                                  f"on worker {self.worker} and was killed")
                self.timed_out = nodeid
                self.proc.kill()  # the event stream ends; _on_exit starts pytest again

    def _check_owner(self) -> None:
        if time.monotonic() - self.last_owner > OWNER_TIMEOUT_S:
            raise LeaseFailed(f"the mesh test process at {self.owner} stopped answering")

    # --- work from the owner, reports to it ------------------------------------------------------

    def _on_work(self, msg: TestWork) -> None:
        self.last_owner = time.monotonic()
        while self.unacked and self.unacked[0][0] <= msg.ack:
            self.unacked.popleft()
        if msg.work_seq == self.work_seen + 1:
            self.work_seen = msg.work_seq
            self.queue.extend(msg.node_ids)
        if msg.revoke:  # work stealing: give back what pytest has not been handed yet
            wanted = set(msg.revoke)
            given = [n for n in self.queue if n in wanted]
            if given:
                self.queue = deque(n for n in self.queue if n not in wanted)
                self.revoked.extend(given)
                self.revoked_due = True
        self.asked = False  # answered: with work, or with none for now (ask again when low)
        self.done = self.done or msg.done

    def _feed(self) -> None:
        if self.idle and self.queue and self.proc is not None:
            # about FEED_AHEAD_S of tests per command: what pytest holds cannot be stolen back
            size = 2 if self.mean_test_s is None else int(FEED_AHEAD_S / max(self.mean_test_s, 1e-4))
            batch = [self.queue.popleft() for _ in range(max(1, min(FEED_MAX, size, len(self.queue))))]
            if self.proc.run(batch, self.queue[0] if self.queue else None):
                self.fed.extend(batch)
                self.idle = False
                self.running_since = time.monotonic()
            else:
                self.queue.extendleft(reversed(batch))

    def _maybe_send(self) -> None:
        now = time.monotonic()
        queued = len(self.queue) + len(self.fed)
        low = 2 if self.mean_test_s is None else max(2, int(QUEUE_AHEAD_S / max(self.mean_test_s, 1e-4)))
        want = not self.done and not self.asked and queued <= low
        due = bool(self.pending) and (now - self.pending_since >= FLUSH_S or len(self.pending) >= MAX_BATCH
                                      or (self.idle and not self.queue))
        if want or due or self.revoked_due or now - self.last_sent >= KEEPALIVE_S:
            self._send_batch(want)
        elif self.unacked and now - self.unacked[0][2] >= RESEND_S:
            self._resend()

    def _send_batch(self, want: bool, final: bool = False) -> None:
        now = time.monotonic()
        reports, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
        self.pending_since = now
        self.seq += 1
        revoked, self.revoked, self.revoked_due = tuple(self.revoked), [], False
        msg = TestReports(self.run_id, self.attempt_id, self.worker, self.seq, tuple(reports),
                          self.running or "", len(self.queue) + len(self.fed), want, self.work_seen, final,
                          revoked)
        self.unacked.append((self.seq, msg, now))
        self.messenger.send(self.owner, msg)
        self.asked = self.asked or want
        self.last_sent = now

    def _resend(self) -> None:
        now = time.monotonic()
        for _, msg, _ in list(self.unacked):
            self.messenger.send(self.owner, msg)
        self.unacked = deque((seq, msg, now) for seq, msg, _ in self.unacked)
        self.last_sent = now

    async def _finish(self) -> None:
        """Send what is left with `final` set, and wait (briefly) for the owner to have it all."""
        while self.pending:
            self._send_batch(False)
        self._send_batch(False, final=True)
        deadline = time.monotonic() + 5.0
        while self.unacked and time.monotonic() < deadline:
            msg = await self._get(RESEND_S)
            if isinstance(msg, TestWork):
                self._on_work(msg)
            elif msg is None:
                self._resend()

    # --- results ---------------------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """One row per test for the result store: its main outcome and total duration."""
        rows = []
        for nodeid, (cats, duration) in self.outcomes.items():
            rows.append({"nodeid": nodeid, "outcome": row_outcome(cats), "duration_s": round(duration, 6)})
        return rows

    def stderr_tail(self) -> str:
        return self.proc.stderr_tail() if self.proc is not None else ""

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()

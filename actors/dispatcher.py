"""The tasks side of a coordinator: the task API on every replica, and the leader's duties.

Every replica turns applied task events into DuckDB rows and answers task queries from its
state. The leader also validates submissions (ids chosen and names resolved before proposing),
schedules ready tasks onto workers (assignments committed in batches before any `RunTask` is
sent), batches worker reports into few log entries (acknowledging a result only once it is
committed), and declares silent workers lost. Worker heartbeats are soft state on the leader,
never logged; a new leader gives every known worker a full timeout to reattach.

Client requests are handled in `dispatch_clients`, worker messages in `dispatch_workers`: mixins
of `Dispatcher`, which holds the state and the leader's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from functools import partial
from typing import TYPE_CHECKING, Any

from actors import test_history
from actors.dispatch_clients import ClientApi
from actors.dispatch_workers import WorkerApi
from actors.results_writer import FLUSH_ROWS, FLUSH_S, ResultsWriter
from mesh.hardware import matchable
from mesh.raft import ProposalDropped
from mesh.replica import NotLeaderError, Replica
from mesh.scheduler import schedule
from mesh.state import Command, decode_result, encode_command
from transports.protocol import (
    CancelTaskRequest,
    RegisterWorkerRequest,
    RunTask,
    RunTasks,
    SubmitTasksRequest,
    TaskFinished,
    TaskFinishedAck,
    TaskQueryRequest,
    TasksFinished,
    TasksFinishedAck,
    TaskStarted,
    WorkerHeartbeat,
)
from transports.zmq_transport import Origin

if TYPE_CHECKING:
    from actors.coordinator import CoordinatorRole

log = logging.getLogger("mesh.dispatch")

SCHEDULE_EVERY_S = 0.005  # how often the leader batches reports and schedules
LIVENESS_EVERY_S = 0.5
RESEND_RUN_AFTER_S = 1.0  # an assignment the worker has not confirmed is sent again (idempotent)


class Dispatcher(WorkerApi, ClientApi):
    def __init__(self, coordinator: CoordinatorRole) -> None:
        self.coord = coordinator
        self.node = coordinator.node
        self.writer = ResultsWriter(self.node.config.db_path)
        self.changed = asyncio.Event()  # set whenever applied entries changed some task
        self._last_seen: dict[str, float] = {}
        self._run_sent: dict[str, float] = {}  # attempt id -> when RunTask last went out
        self._was_leader = False
        # Assignments proposed but not applied yet: the slots they take and the tasks they place,
        # so the next plan can be made (and ride in the same fsync) before they commit.
        self._held: Counter[str] = Counter()
        self._placing: set[str] = set()
        self._open_submits = 0  # submissions in flight with tasks not placed at submit time
        # Slots that FINISH batches proposed but not applied yet will free, per worker: the next
        # plan may fill them in an ASSIGN that shares the FINISH's fsync (the table refuses an
        # assignment to a worker still full when it is applied, and it is planned again).
        self._releasing: Counter[str] = Counter()
        self._release_at: dict[int, Counter[str]] = {}  # FINISH log index -> slots it frees
        self._starts: list[str] = []
        self._finishes: dict[str, tuple[TaskFinished, Origin]] = {}
        self._finishing: set[str] = set()
        self._last_flush = time.monotonic()
        self._needs_schedule = True  # something changed since the last scheduling pass
        self._last_schedule = 0.0
        self._tick_soon = False
        self._flush_future: asyncio.Future[int] | None = None

    @property
    def replica(self) -> Any:
        return self.coord.replica

    @property
    def table(self) -> Any:
        assert self.coord.replica is not None
        return self.coord.replica.state.tasks

    def start(self) -> None:
        node = self.node
        for msg_cls, handler in (
            (SubmitTasksRequest, self._on_submit), (TaskQueryRequest, self._on_query),
            (CancelTaskRequest, self._on_cancel), (RegisterWorkerRequest, self._on_register),
            (WorkerHeartbeat, self._on_heartbeat), (TaskStarted, self._on_started),
            (TaskFinished, self._on_finished), (TasksFinished, self._on_finished_batch),
        ):
            node.register(msg_cls, handler)
        node.add_status_section(self._status)
        test_history.install(node, self.writer)
        node.every(SCHEDULE_EVERY_S, self._tick, "dispatch")
        node.every(LIVENESS_EVERY_S, self._check_liveness, "liveness")

    async def close(self) -> None:
        if self._flush_future is not None:
            with contextlib.suppress(Exception):
                await self._flush_future
        self.writer.close()

    def _start_flush(self) -> None:
        """Write pending rows in a worker thread: a bulk insert must not stall the loop (workers
        would take a slow leader for a dead one). One write at a time keeps rows in order."""
        if self._flush_future is not None:
            return
        taken = self.writer.take()
        if taken is None:
            return
        fut = asyncio.get_running_loop().run_in_executor(None, self.writer.write, taken)
        self._flush_future = fut
        fut.add_done_callback(partial(self._flushed, taken))

    def _flushed(self, taken: list[list[Any]], fut: asyncio.Future[int]) -> None:
        self._flush_future = None
        err = fut.exception()
        if err is not None:
            self.writer.errors += 1
            log.error("writing results to %s failed (will retry): %s", self.writer.path, err)
            self.writer.give_back(taken)
        else:
            self.writer.rows_written += fut.result()

    def on_applied(self, index: int, command: bytes, result: bytes) -> None:
        """Called by the replica after each applied entry: events -> rows, wake waiters."""
        if self._release_at:
            self._release(index)  # the table has freed them now, before any plan sees it
        events = self.table.drain_events()
        if not events:
            return
        self._needs_schedule = True
        if self._was_leader:
            self._request_tick()
        self.writer.add(events, self.table, replayed=index <= self.replica.recovered_through)
        self._wake_waiters()
        if self.writer.pending >= FLUSH_ROWS:
            self._start_flush()

    def on_restored(self, replica: Replica) -> None:
        """`replica`'s table now comes from a snapshot (it may not be `self.replica` yet, at
        start): derive its rows again, for what the results file may lack (a snapshot sent by
        the leader, rows of the last second before a crash)."""
        table = replica.state.tasks
        self.writer.add(table.history_events(), table, replayed=True)
        self._needs_schedule = True
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Wake every query waiting for tasks to change; later ones wait on a fresh event."""
        self.changed.set()
        self.changed = asyncio.Event()

    def _status(self) -> dict[str, Any]:
        if self.replica is None:
            return {}
        workers = self.table.workers()
        return {"task_counts": self.table.counts(),
                "workers": [{"worker_id": w["id"], "status": w["status"], "slots": w["slots"],
                             "running": len(w["running"]), "address": w["address"],
                             "capabilities": matchable(w.get("capabilities"))}
                            for w in workers],
                "results_db": str(self.writer.path), "results_rows": self.writer.rows_written}

    # --- the leader's loop ---------------------------------------------------------------------

    def _is_leader(self) -> bool:
        return self.replica is not None and self.replica.raw is not None and self.replica.raw.is_leader

    def _request_tick(self) -> None:
        """Run the leader's loop at the end of this loop iteration: everything the transport
        drained meanwhile (reports, new results) goes into one batch, without waiting for the
        timer."""
        if not self._tick_soon:
            self._tick_soon = True
            asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self._tick_soon = False
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_S:
            self._last_flush = now
            self._start_flush()
        leader = self._is_leader()
        if leader and not self._was_leader:
            self._become_leader()
        self._was_leader = leader
        if not leader:
            return
        self._flush_reports()
        # Schedule when the table changed, and every 100 ms for retry delays that came due.
        if self._needs_schedule or now - self._last_schedule > 0.1:
            self._needs_schedule = False
            self._last_schedule = now
            self._schedule()

    def _become_leader(self) -> None:
        """Give every known worker a full timeout to find us, and resend what may never have
        left the old leader (RunTask is idempotent at the worker)."""
        now = time.monotonic()
        for worker in self.table.workers():
            if worker["status"] == "active":
                self._last_seen[worker["id"]] = now
        for task in self.table.tasks("assigned"):
            attempt = task.get("current_attempt")
            if attempt:
                self._send_run(attempt)

    def _propose(self, command: bytes) -> asyncio.Future[bytes] | None:
        proposed = self._propose_at(command)
        return None if proposed is None else proposed[1]

    def _propose_at(self, command: bytes) -> tuple[int, asyncio.Future[bytes]] | None:
        """(log index, future) of a proposal, or None when this node cannot propose."""
        try:
            index, fut = self.replica.propose(command)
        except (NotLeaderError, ProposalDropped):
            return None
        return index, fut

    def _claimed(self) -> dict[str, int]:
        """Slots per worker taken by assignments in flight, less those finishes in flight free."""
        if not self._releasing:
            return self._held
        claimed = dict(self._held)  # may go below zero: a Counter difference would drop those
        for worker_id, n in self._releasing.items():
            claimed[worker_id] = claimed.get(worker_id, 0) - n
        return claimed

    def _schedule(self) -> None:
        now = time.time()
        self._propose_assign(schedule(self.table, now, held=self._claimed(), placing=self._placing), now)

    def _propose_assign(self, plan: list[tuple[str, str]], now: float) -> None:
        """Propose one ASSIGN for `plan`; its slots stay held until it is applied. RunTask goes
        out only for what the table accepted, after the commit."""
        if not plan:
            return
        assignments = [[task_id, worker_id, f"a-{uuid.uuid4().hex[:12]}"] for task_id, worker_id in plan]
        fut = self._propose(encode_command(Command.ASSIGN, assignments, now))
        if fut is None:
            return
        self._placing.update(task_id for task_id, _ in plan)
        self._held.update(worker_id for _, worker_id in plan)
        fut.add_done_callback(partial(self._assigned, plan))

    def _assigned(self, plan: list[tuple[str, str]], fut: asyncio.Future[bytes]) -> None:
        self._placing.difference_update(task_id for task_id, _ in plan)
        self._held -= Counter(worker_id for _, worker_id in plan)  # keeps positive counts only
        accepted = [] if fut.exception() is not None else decode_result(fut.result())[1] or []
        if len(accepted) < len(plan):
            self._needs_schedule = True  # what was refused is still queued: plan it again
            if self._was_leader:
                self._request_tick()
        self._send_runs(accepted)

    def _send_run(self, attempt_id: str) -> None:
        self._send_runs([attempt_id])

    def _send_runs(self, attempt_ids: list[str]) -> None:
        """RunTask for each attempt; the ones for one worker go in one `RunTasks` frame."""
        by_address: dict[str, list[RunTask]] = {}
        sent_at = time.monotonic()
        table = self.table
        for attempt_id in attempt_ids:
            attempt = table.attempt_record(attempt_id)
            if attempt is None:
                continue
            spec, address = table.spec(attempt.task_id), table.worker_address(attempt.worker_id)
            if spec is None or address is None:
                continue
            self._run_sent[attempt_id] = sent_at
            by_address.setdefault(address, []).append(RunTask(
                attempt_id, attempt.task_id, spec["type"], spec.get("config") or {},
                spec.get("timeout_seconds")))
        assert self.node.transport is not None
        for address, runs in by_address.items():
            self.node.transport.send(address, runs[0] if len(runs) == 1 else RunTasks(tuple(runs)))

    def _flush_reports(self) -> None:
        if self._starts:
            starts, self._starts = self._starts, []
            self._propose(encode_command(Command.START, starts, time.time()))
        if self._finishes:
            batch, self._finishes = self._finishes, {}
            results = [[m.attempt_id, m.outcome, m.result] for m, _ in batch.values()]
            proposed = self._propose_at(encode_command(Command.FINISH, results, time.time()))
            if proposed is None:
                return
            index, fut = proposed
            self._finishing.update(batch)
            records = (self.table.attempt_record(attempt_id) for attempt_id in batch)
            freeing = Counter(a.worker_id for a in records if a is not None and a.outcome is None)
            if freeing:
                self._release_at[index] = freeing
                self._releasing += freeing
            self._needs_schedule = True  # what this batch frees can be planned into its fsync
            fut.add_done_callback(partial(self._finished_committed, batch, index))

    def _release(self, index: int) -> None:
        """The FINISH at `index` was applied (or will never be): its slots are no longer ahead."""
        freeing = self._release_at.pop(index, None)
        if freeing:
            self._releasing -= freeing  # keeps positive counts only

    def _finished_committed(self, batch: dict[str, tuple[TaskFinished, Origin]], index: int,
                            fut: asyncio.Future[bytes]) -> None:
        self._finishing.difference_update(batch)
        self._release(index)  # already done when it was applied; this covers a failed proposal
        if fut.exception() is not None:
            return  # not committed: the workers resend, the next leader records them
        assert self.node.transport is not None
        by_address: dict[str, list[str]] = {}
        for attempt_id, (msg, origin) in batch.items():
            target = self.table.worker_address(msg.worker_id)
            if target:
                by_address.setdefault(target, []).append(attempt_id)
            else:
                self.node.transport.reply(origin, TaskFinishedAck(attempt_id))
        for target, acked in by_address.items():
            ack = TaskFinishedAck(acked[0]) if len(acked) == 1 else TasksFinishedAck(tuple(acked))
            self.node.transport.send(target, ack)

    def _resend_unconfirmed(self) -> None:
        """A RunTask can be lost (a fresh connection, a worker restarting): send again what no
        worker has confirmed starting. Workers key attempts by id, so a duplicate is ignored."""
        now = time.monotonic()
        for task in self.table.tasks("assigned"):
            attempt = task.get("current_attempt")
            if attempt and now - self._run_sent.get(attempt, 0.0) >= RESEND_RUN_AFTER_S:
                self._send_run(attempt)
        for attempt in [a for a, t in self._run_sent.items() if now - t > 60]:
            del self._run_sent[attempt]

    def _check_liveness(self) -> None:
        if not self._is_leader():
            return
        self._resend_unconfirmed()
        timeout = self.node.config.heartbeat_timeout_s
        now = time.monotonic()
        for worker in self.table.workers():
            if worker["status"] != "active":
                continue
            seen = self._last_seen.setdefault(worker["id"], now)
            if now - seen > timeout:
                log.warning("worker %s silent for %.1f s: declaring it lost", worker["id"], now - seen)
                self._last_seen.pop(worker["id"], None)
                self._propose(encode_command(Command.WORKER_LOST, worker["id"], time.time()))

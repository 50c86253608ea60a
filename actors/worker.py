"""The worker role: attach to the leader, run the attempts it sends, report each one until acknowledged.

A worker is not in Raft. It finds the leader through the coordinators it was given (following
NOT_LEADER answers), registers with what it can do and what it is running, and heartbeats. When
the leader goes quiet it registers again with whoever leads next, reporting its running attempts,
so a coordinator failover neither loses nor repeats work. Every message is keyed by attempt id:
a RunTask received twice starts one process; a result is resent until the leader says it is
committed.

A start is reported `START_REPORT_DELAY_S` after the attempt arrives, and only if it is still
running then: a short attempt's result says it started, so it costs the leader no START entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.executors import ExecutionRequest, ExecutionResult, executor_for
from mesh.hardware import capabilities
from mesh.health import health_snapshot
from transports.errors import ErrorCode
from transports.protocol import (
    AckReply,
    CancelAttempt,
    ErrorReply,
    RegisterWorkerReply,
    RegisterWorkerRequest,
    RunTask,
    RunTasks,
    TaskFinished,
    TaskFinishedAck,
    TasksFinished,
    TasksFinishedAck,
    TaskStarted,
    TestBundleChunk,
    TestWork,
    WorkerHeartbeat,
)
from transports.zmq_transport import Origin

if TYPE_CHECKING:
    from mesh.node import Node

log = logging.getLogger("mesh.worker")

QUIET_INTERVALS = 3  # heartbeats without an answer before the worker looks for a new leader
RESEND_S = 1.0  # unacknowledged results are sent again this often
# An attempt still running this long after it arrived is reported started (assigned -> running);
# one that finished sooner is not: its result implies the start. Well under the leader's 1 s
# resend of unconfirmed RunTasks, which the worker ignores for attempts it already runs.
START_REPORT_DELAY_S = 0.05


class WorkerRole:
    """Runs task attempts for the cluster on this node."""

    def __init__(self, node: Node, *, slots: int, work_dir: Path, coordinators: list[str]) -> None:
        self.node = node
        self.slots = slots
        self.work_dir = work_dir
        self.coordinators = coordinators or [node.address]
        self.leader: str | None = None
        self.registered = False
        self.interval = node.config.heartbeat_interval_s
        self._last_answer = 0.0
        self._hint_at = 0.0  # when `leader` was last set from a NOT_LEADER hint
        self._next_coordinator = 0
        self._running: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._unacked: dict[str, tuple[TaskFinished, float]] = {}
        self._finished: dict[str, float] = {}  # attempt id -> when acknowledged (dedup of RunTask)
        self._outbox: list[TaskFinished] = []  # results of this loop turn, sent together at its end
        self._unreported: dict[str, float] = {}  # attempt id -> loop time it arrived, not yet reported
        self._report_timer: asyncio.TimerHandle | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._inboxes: dict[str, asyncio.Queue[Any]] = {}  # attempt id -> messages from a run's owner

    @property
    def roles(self) -> tuple[str, ...]:
        return ("worker",)

    async def start(self) -> None:
        node = self.node
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for msg_cls, handler in ((RunTask, self._on_run), (RunTasks, self._on_runs),
                                 (CancelAttempt, self._on_cancel),
                                 (RegisterWorkerReply, self._on_registered),
                                 (TaskFinishedAck, self._on_finished_ack),
                                 (TasksFinishedAck, self._on_finished_acks), (AckReply, self._on_ack),
                                 (ErrorReply, self._on_error), (TestWork, self._to_inbox),
                                 (TestBundleChunk, self._to_inbox)):
            node.register(msg_cls, handler)
        node.add_status_section(lambda: {"worker": {
            "leader": self.leader, "registered": self.registered, "slots": self.slots,
            "running": sorted(self._running), "unacknowledged": len(self._unacked)}})
        self._loop_task = asyncio.get_running_loop().create_task(self._attach_loop(), name="worker")

    async def stop(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
        if self._report_timer is not None:
            self._report_timer.cancel()
        for _, cancel in self._running.values():
            cancel.set()
        if self._running:
            await asyncio.wait([t for t, _ in self._running.values()], timeout=5)
        with contextlib.suppress(Exception):
            executor = executor_for("callable")
            close = getattr(executor, "close", None)
            if close is not None:
                await close()

    # --- finding and keeping the leader --------------------------------------------------------

    def _send(self, address: str, msg: Any) -> None:
        assert self.node.transport is not None
        self.node.transport.send(address, msg)

    def _target(self) -> str:
        if self.leader is not None:
            return self.leader
        address = self.coordinators[self._next_coordinator % len(self.coordinators)]
        self._next_coordinator += 1
        return address

    async def _attach_loop(self) -> None:
        while True:
            now = time.monotonic()
            if self.registered and now - self._last_answer > QUIET_INTERVALS * self.interval:
                log.warning("leader %s went quiet; looking for the new one", self.leader)
                self.registered, self.leader = False, None
            elif not self.registered and self.leader is not None and now - self._hint_at > 1.0:
                self.leader = None  # the hint was stale (that leader is gone too): ask around again
            target = self._target()
            if not self.registered:
                # Finished-but-unacknowledged attempts count as ours: their results are coming.
                self._send(target, RegisterWorkerRequest(
                    self.node.node_id, self.node.address, capabilities(), self.slots,
                    tuple(sorted(set(self._running) | set(self._unacked)))))
            else:
                self._send(target, WorkerHeartbeat(self.node.node_id, tuple(sorted(self._running)),
                                                   health_snapshot(self.work_dir)))
            for attempt_id, (msg, sent_at) in list(self._unacked.items()):
                if self.registered and now - sent_at >= RESEND_S:
                    self._send(target, msg)
                    self._unacked[attempt_id] = (msg, now)
            cutoff = now - 600
            for attempt_id in [a for a, t in self._finished.items() if t < cutoff]:
                del self._finished[attempt_id]
            await asyncio.sleep(self.interval if self.registered else min(self.interval, 0.2))

    def _on_registered(self, origin: Origin, corr_id: int, msg: RegisterWorkerReply) -> None:
        log.debug("registration answered by %s: %s", origin, msg)
        if not msg.accepted or origin.peer is None:
            return
        if not self.registered:
            log.info("registered with leader at %s (%d slots)", origin.peer, self.slots)
        self.leader, self.registered = origin.peer, True
        self._last_answer = time.monotonic()
        self.interval = msg.heartbeat_interval_s or self.interval
        for attempt_id in msg.cancel:
            self._cancel(attempt_id)
        for finished, _ in list(self._unacked.values()):  # results that waited for a leader
            self._send(origin.peer, finished)

    def _on_ack(self, origin: Origin, corr_id: int, msg: AckReply) -> None:
        if origin.peer is not None and origin.peer == self.leader:
            self._last_answer = time.monotonic()

    def _on_error(self, origin: Origin, corr_id: int, msg: ErrorReply) -> None:
        log.debug("error from %s: %s", origin, msg)
        if msg.code is ErrorCode.NOT_LEADER:
            self.registered = False
            self.leader = msg.leader_address if msg.leader_address else None
            self._hint_at = time.monotonic()
        elif msg.code is ErrorCode.NOT_FOUND and origin.peer == self.leader:
            self.registered = False  # the leader does not know us (yet): register again
        else:
            log.warning("error from %s: %s %s", origin, msg.code.name, msg.message)

    # --- running attempts ----------------------------------------------------------------------

    def _on_run(self, origin: Origin, corr_id: int, msg: RunTask) -> None:
        self._on_runs(origin, corr_id, RunTasks((msg,)))

    def _on_runs(self, origin: Origin, corr_id: int, msg: RunTasks) -> None:
        """Start every attempt not already known; those still running `START_REPORT_DELAY_S`
        later are reported in one TaskStarted. A RunTask sent again (the leader resends what it
        has not seen start, a new leader what the old one assigned) is answered on its own
        connection, so it reaches whoever leads now: the start, or the result not acknowledged."""
        assert self.node.transport is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        again: list[str] = []
        for run in msg.runs:
            attempt_id = run.attempt_id
            if attempt_id in self._running:
                if attempt_id not in self._unreported:
                    again.append(attempt_id)
                continue
            if attempt_id in self._unacked or attempt_id in self._finished:
                pending = self._unacked.get(attempt_id)
                if pending is not None:
                    self.node.transport.reply(origin, pending[0])
                continue
            cancel = asyncio.Event()
            task = loop.create_task(self._run(run, cancel), name=f"attempt-{attempt_id}")
            self._running[attempt_id] = (task, cancel)
            self._unreported[attempt_id] = now
        if again:
            self.node.transport.reply(origin, TaskStarted(self.node.node_id, tuple(again)))
        if self._unreported and self._report_timer is None:
            self._report_timer = loop.call_later(START_REPORT_DELAY_S, self._report_started)

    def _report_started(self) -> None:
        """Report, in one frame, the attempts that arrived `START_REPORT_DELAY_S` ago or more and
        are still running; look again when the next one is due."""
        self._report_timer = None
        loop = asyncio.get_running_loop()
        due_before = loop.time() - START_REPORT_DELAY_S + 0.001  # timers may fire a hair early
        due: list[str] = []
        for attempt_id, arrived in self._unreported.items():  # in arrival order
            if arrived > due_before:
                break
            due.append(attempt_id)
        for attempt_id in due:
            del self._unreported[attempt_id]
        running = tuple(a for a in due if a in self._running)
        if running and self.leader:
            self._send(self.leader, TaskStarted(self.node.node_id, running))
        if self._unreported:
            next_due = next(iter(self._unreported.values())) + START_REPORT_DELAY_S
            self._report_timer = loop.call_later(max(next_due - loop.time(), 0.001), self._report_started)

    async def _run(self, msg: RunTask, cancel: asyncio.Event) -> None:
        request = ExecutionRequest(msg.task_id, msg.attempt_id, msg.type, _as_json(msg.config), msg.timeout_s,
                                   self.work_dir, messenger=self)
        try:
            result = await executor_for(msg.type).run(request, cancel)
        except Exception as err:  # an executor bug must fail the attempt, not the worker
            log.exception("executor for %s failed", msg.type)
            result = ExecutionResult("error", error=f"{type(err).__name__}: {err}")
        finally:
            self._running.pop(msg.attempt_id, None)
        finished = TaskFinished(self.node.node_id, msg.attempt_id, msg.task_id, result.outcome,
                                _wire_safe(result.to_dict()))
        self._unacked[msg.attempt_id] = (finished, time.monotonic())
        log.debug("attempt %s of %s: %s", msg.attempt_id, msg.task_id, result.outcome)
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._send_results)
        self._outbox.append(finished)

    def _send_results(self) -> None:
        """Results that came in during one loop turn go to the leader in one frame."""
        results, self._outbox = self._outbox, []
        if not self.leader or not results:
            return  # kept in _unacked: sent again once a leader is known
        msg = results[0] if len(results) == 1 else TasksFinished(self.node.node_id, tuple(results))
        self._send(self.leader, msg)

    def _on_finished_ack(self, origin: Origin, corr_id: int, msg: TaskFinishedAck) -> None:
        self._acknowledged(msg.attempt_id)

    def _on_finished_acks(self, origin: Origin, corr_id: int, msg: TasksFinishedAck) -> None:
        for attempt_id in msg.attempt_ids:
            self._acknowledged(attempt_id)

    def _acknowledged(self, attempt_id: str) -> None:
        if self._unacked.pop(attempt_id, None) is not None:
            self._finished[attempt_id] = time.monotonic()

    # --- the Messenger an executor may use to talk to a peer (a `mesh test` run's owner) -----

    @property
    def worker_id(self) -> str:
        return self.node.node_id

    def connect(self, address: str) -> None:
        assert self.node.transport is not None
        self.node.transport.connect(address)

    def send(self, address: str, msg: Any) -> bool:
        assert self.node.transport is not None
        return self.node.transport.send(address, msg)

    def inbox(self, attempt_id: str) -> asyncio.Queue[Any]:
        return self._inboxes.setdefault(attempt_id, asyncio.Queue())

    def close_inbox(self, attempt_id: str) -> None:
        self._inboxes.pop(attempt_id, None)

    def _to_inbox(self, origin: Origin, corr_id: int, msg: Any) -> None:
        inbox = self._inboxes.get(msg.attempt_id)
        if inbox is not None:  # else: that attempt is over; late messages are dropped
            inbox.put_nowait(msg)

    def _on_cancel(self, origin: Origin, corr_id: int, msg: CancelAttempt) -> None:
        self._cancel(msg.attempt_id)

    def _cancel(self, attempt_id: str) -> None:
        running = self._running.get(attempt_id)
        if running is not None:
            running[1].set()


def _as_json(value: Any) -> Any:
    """The wire decodes arrays as tuples; executors take the task's JSON config (lists)."""
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    return value


def _wire_safe(value: Any) -> Any:
    """Results travel as msgpack: keep plain data, turn anything else into its repr."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return value
    if isinstance(value, dict):
        return {str(k): _wire_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire_safe(v) for v in value]
    return repr(value)

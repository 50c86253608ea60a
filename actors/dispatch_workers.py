"""The leader's side of the worker protocol: registration, heartbeats, started and finished reports.

A mixin of `actors.dispatcher.Dispatcher` (split out to keep each file readable): reports are
only collected here; the dispatcher's tick batches them into log entries."""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from mesh.state import Command, encode_command
from transports.errors import ErrorCode
from transports.protocol import (
    AckReply,
    ErrorReply,
    RegisterWorkerReply,
    RegisterWorkerRequest,
    TaskFinished,
    TaskFinishedAck,
    TasksFinished,
    TaskStarted,
    WorkerHeartbeat,
)
from transports.zmq_transport import Origin

if TYPE_CHECKING:
    from actors.coordinator import CoordinatorRole
    from mesh.node import Node

log = logging.getLogger("mesh.dispatch")


class WorkerApi:
    """Handlers for messages from workers; state lives on the `Dispatcher`."""

    if TYPE_CHECKING:  # provided by Dispatcher
        coord: CoordinatorRole
        node: Node
        table: Any
        replica: Any
        _last_seen: dict[str, float]
        _starts: list[str]
        _finishes: dict[str, tuple[TaskFinished, Origin]]
        _finishing: set[str]

        def _is_leader(self) -> bool: ...
        def _propose(self, command: bytes) -> asyncio.Future[bytes] | None: ...
        def _request_tick(self) -> None: ...

    def _not_leader(self, origin: Origin, corr_id: int) -> bool:
        if self._is_leader():
            return False
        assert self.node.transport is not None
        self.node.transport.reply(origin, ErrorReply(ErrorCode.NOT_LEADER, "not the leader",
                                                     self.replica.leader_address if self.replica else None),
                                  corr_id)
        return True

    def _on_register(self, origin: Origin, corr_id: int, msg: RegisterWorkerRequest) -> None:
        if self._not_leader(origin, corr_id):
            return
        self._last_seen[msg.worker_id] = time.monotonic()
        assert self.node.transport is not None
        self.node.transport.connect(msg.address)  # so the first RunTask finds the link up
        worker = self.table.worker(msg.worker_id)
        vanished = set(self.table.running_on(msg.worker_id)) - set(msg.running)
        started = [a for a in vanished if (self.table.attempt(a) or {}).get("started_at") is not None]
        if worker is not None and worker["status"] == "active" and started and not msg.running:
            # It came back running nothing although it had started attempts: it restarted and
            # they died with it. (Attempts only assigned are sent again by the resend timer.)
            log.warning("worker %s restarted without %d started attempts: requeueing them",
                        msg.worker_id, len(started))
            self._propose(encode_command(Command.WORKER_LOST, msg.worker_id, time.time()))
        command = encode_command(Command.REGISTER_WORKER, msg.worker_id, msg.address, msg.capabilities,
                                 msg.slots, time.time())
        fut = self._propose(command)
        if fut is None:
            log.debug("registration of %s not proposed (no longer leader)", msg.worker_id)
            return
        fut.add_done_callback(partial(self._registered, origin, corr_id, msg))

    def _registered(self, origin: Origin, corr_id: int, msg: RegisterWorkerRequest,
                    fut: asyncio.Future[bytes]) -> None:
        if fut.exception() is not None:
            log.debug("registration of %s failed: %s", msg.worker_id, fut.exception())
            return  # the worker asks again
        log.debug("registered %s", msg.worker_id)
        open_here = set(self.table.running_on(msg.worker_id))
        cancel = tuple(a for a in msg.running if a not in open_here)
        assigned = [a for a in msg.running if a in open_here
                    and (self.table.attempt(a) or {}).get("started_at") is None]
        if assigned:
            self._starts.extend(assigned)
        assert self.node.transport is not None
        self.node.transport.reply(origin, RegisterWorkerReply(True, self.node.config.heartbeat_interval_s,
                                                              cancel), corr_id)

    def _on_heartbeat(self, origin: Origin, corr_id: int, msg: WorkerHeartbeat) -> None:
        if self._not_leader(origin, corr_id):
            return
        worker = self.table.worker(msg.worker_id)
        assert self.node.transport is not None
        if worker is None or worker["status"] == "lost":
            self.node.transport.reply(origin, ErrorReply(ErrorCode.NOT_FOUND, "register again"), corr_id)
            return
        self._last_seen[msg.worker_id] = time.monotonic()
        self.node.transport.reply(origin, AckReply(), corr_id)

    def _on_started(self, origin: Origin, corr_id: int, msg: TaskStarted) -> None:
        if self._is_leader():
            # No tick of its own: START rides with the next FINISH batch (a short task's start
            # and end share one fsync) or goes out with the periodic tick, within 5 ms.
            self._last_seen[msg.worker_id] = time.monotonic()
            self._starts.extend(msg.attempt_ids)

    def _on_finished(self, origin: Origin, corr_id: int, msg: TaskFinished) -> None:
        if self._not_leader(origin, corr_id):
            return
        self._last_seen[msg.worker_id] = time.monotonic()
        self._take_finished(origin, corr_id, msg)
        self._request_tick()

    def _on_finished_batch(self, origin: Origin, corr_id: int, msg: TasksFinished) -> None:
        if self._not_leader(origin, corr_id):
            return
        self._last_seen[msg.worker_id] = time.monotonic()
        for finished in msg.results:
            self._take_finished(origin, corr_id, finished)
        self._request_tick()

    def _take_finished(self, origin: Origin, corr_id: int, msg: TaskFinished) -> None:
        """Queue a result for the next FINISH batch; one already recorded is acknowledged again."""
        attempt = self.table.attempt_record(msg.attempt_id)
        if attempt is not None and attempt.outcome is not None:
            assert self.node.transport is not None  # already recorded: just acknowledge again
            self.node.transport.reply(origin, TaskFinishedAck(msg.attempt_id), corr_id)
            return
        if msg.attempt_id not in self._finishing:
            self._finishes[msg.attempt_id] = (msg, origin)

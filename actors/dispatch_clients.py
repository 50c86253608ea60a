"""The task API every client uses: submit, query and cancel tasks.

A mixin of `actors.dispatcher.Dispatcher` (split out to keep each file readable). A submission is
validated here, proposed, and answered once committed; its tasks are placed in the same fsync."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any

from mesh.raft import ClientRequest, ProposalDropped, encode_request
from mesh.replica import NotLeaderError
from mesh.scheduler import schedule
from mesh.state import Command, encode_command
from mesh.tasks import TaskSpec, TaskValidationError, parse_tasks, resolve_dependencies, topological_order
from mesh.tasktable import TERMINAL
from transports.errors import ErrorCode
from transports.protocol import (
    AckReply,
    CancelAttempt,
    CancelTaskRequest,
    ErrorReply,
    SubmitTasksReply,
    SubmitTasksRequest,
    TaskQueryReply,
    TaskQueryRequest,
)
from transports.zmq_transport import Origin

if TYPE_CHECKING:
    from actors.coordinator import CoordinatorRole
    from mesh.node import Node


class ClientApi:
    """Handlers for client requests; state lives on the `Dispatcher`."""

    if TYPE_CHECKING:  # provided by Dispatcher
        coord: CoordinatorRole
        node: Node
        changed: asyncio.Event
        _placing: set[str]
        _open_submits: int
        table: Any
        replica: Any

        def _not_leader(self, origin: Origin, corr_id: int) -> bool: ...
        def _propose_assign(self, plan: list[tuple[str, str]], now: float) -> None: ...
        def _claimed(self) -> dict[str, int]: ...

    def _on_submit(self, origin: Origin, corr_id: int, msg: SubmitTasksRequest) -> None:
        if self._not_leader(origin, corr_id):
            return
        assert self.node.transport is not None
        table = self.table

        def known(ref: str) -> str | None:
            return ref if table.spec(ref) is not None else table.by_name(ref)
        try:
            specs = parse_tasks(list(msg.tasks), priority_override=msg.priority, known=known)
        except TaskValidationError as err:
            self.node.transport.reply(origin, ErrorReply(ErrorCode.REJECTED, str(err)), corr_id)
            return
        ids = [f"t-{uuid.uuid4().hex[:12]}" for _ in specs]
        deps = resolve_dependencies(specs, ids, known)
        order = topological_order(specs)
        dicts = []
        for i in order:
            # the normalised form replicas store without validating again; only packed below
            d = specs[i].to_dict(copy_config=False)
            if deps[i]:
                d["dependencies"] = list(deps[i])
            else:
                d.pop("dependencies", None)
            dicts.append(d)
        now = time.time()
        command = encode_command(Command.SUBMIT_TASKS, dicts, [ids[i] for i in order], now)
        try:
            _, fut = self.replica.propose(encode_request(ClientRequest(msg.client_id, msg.seq, command)))
        except (NotLeaderError, ProposalDropped) as err:
            self.coord.reply_error(origin, corr_id, err)
            return
        self._assign_on_submit([(ids[i], specs[i], deps[i]) for i in order], now, fut)
        fut.add_done_callback(partial(self._submitted, origin, corr_id, order))

    def _assign_on_submit(self, tasks: list[tuple[str, TaskSpec, tuple[str, ...]]], now: float,
                          submitted: asyncio.Future[bytes]) -> None:
        """Place the new tasks now, in an ASSIGN proposed right behind their SUBMIT: both share
        one fsync, and RunTask leaves when both are committed. It is only a plan: the table
        refuses whatever the SUBMIT did not store as queued. While an earlier submission's tasks
        wait to be applied unplaced, this waits too, so that they are placed first (FIFO)."""
        if self._open_submits:
            return
        incoming = [(task_id, spec.priority, spec.requirements) for task_id, spec, deps in tasks
                    if all((self.table.task_status(d) or "") == "completed" for d in deps)]
        plan = schedule(self.table, now, held=self._claimed(), placing=self._placing, incoming=incoming)
        self._propose_assign(plan, now)
        placed = {task_id for task_id, _ in plan}
        if len(placed.intersection(t for t, _, _ in incoming)) < len(tasks):
            self._open_submits += 1
            submitted.add_done_callback(self._submit_applied)

    def _submit_applied(self, fut: asyncio.Future[bytes]) -> None:
        self._open_submits -= 1

    def _submitted(self, origin: Origin, corr_id: int, order: list[int], fut: asyncio.Future[bytes]) -> None:
        ok, accepted = self.coord.committed(origin, corr_id, fut)
        if not ok:
            return
        assert self.node.transport is not None
        if len(accepted) != len(order):  # the leader validated the batch: only a bug lands here
            self.node.transport.reply(origin, ErrorReply(
                ErrorCode.INTERNAL, f"stored {len(accepted)} of {len(order)} tasks"), corr_id)
            return
        # Ids come back in log (dependency) order; answer in the order submitted. A retried
        # request gets the session's cached answer: the ids of the first try, same order.
        ids = [""] * len(order)
        for position, index in enumerate(order):
            ids[index] = accepted[position]
        self.node.transport.reply(origin, SubmitTasksReply(tuple(ids)), corr_id)

    def _on_query(self, origin: Origin, corr_id: int, msg: TaskQueryRequest) -> None:
        self.coord.spawn(self._query(origin, corr_id, msg))

    async def _query(self, origin: Origin, corr_id: int, msg: TaskQueryRequest) -> None:
        if msg.task_ids and msg.wait_s > 0:
            await self._until_ended(msg.task_ids, time.monotonic() + msg.wait_s)
        tasks = ([t for t in (self.table.task(i) for i in msg.task_ids) if t is not None]
                 if msg.task_ids else self.table.tasks(msg.status, limit=max(msg.limit, 0)))
        if msg.status is not None:
            tasks = [t for t in tasks if t["status"] == msg.status]
        assert self.node.transport is not None
        self.node.transport.reply(origin, TaskQueryReply(tuple(tasks[: msg.limit]), self.table.counts()),
                                  corr_id)

    async def _until_ended(self, task_ids: tuple[str, ...], deadline: float) -> None:
        """Return once every task named has ended, or at `deadline` (an unknown id never ends).
        Checks statuses only (no task views), so a wait on many tasks stays cheap."""
        while not all((self.table.task_status(i) or "") in TERMINAL for i in task_ids):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(remaining, 1.0)):
                    await self.changed.wait()

    def _on_cancel(self, origin: Origin, corr_id: int, msg: CancelTaskRequest) -> None:
        if self._not_leader(origin, corr_id):
            return
        command = encode_command(Command.CANCEL_TASK, msg.task_id, time.time())
        try:
            _, fut = self.replica.propose(encode_request(ClientRequest(msg.client_id, msg.seq, command)))
        except (NotLeaderError, ProposalDropped) as err:
            self.coord.reply_error(origin, corr_id, err)
            return
        fut.add_done_callback(partial(self._cancelled, origin, corr_id))

    def _cancelled(self, origin: Origin, corr_id: int, fut: asyncio.Future[bytes]) -> None:
        ok, payload = self.coord.committed(origin, corr_id, fut)
        if not ok:
            return
        assert self.node.transport is not None
        worker = self.table.worker(payload.get("worker_id") or "") if payload.get("attempt_id") else None
        if worker is not None:
            self.node.transport.send(worker["address"], CancelAttempt(payload["attempt_id"]))
        self.node.transport.reply(origin, AckReply(f"cancelled {payload['task_id']}"), corr_id)

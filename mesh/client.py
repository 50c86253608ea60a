"""The Python client: the public msgpack API of a node, as blocking calls with timeouts.

    with MeshClient("127.0.0.1:8080", timeout=5) as client:
        print(client.status().node_id, client.ping())

Errors: `MeshTimeout` when nothing answers in time, `MeshRemoteError` when the node
answers with an `ErrorReply` (its `code` says why), `MeshError` for both.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from dataclasses import asdict
from typing import Any

import zmq

from transports.address import Address, parse_address
from transports.codec import Codec
from transports.errors import ErrorCode, RemoteProtocolError
from transports.protocol import (
    AckReply,
    CancelTaskRequest,
    ConfigDumpReply,
    ConfigDumpRequest,
    ConfigGetReply,
    ConfigGetRequest,
    ConfigSetReply,
    ConfigSetRequest,
    ErrorReply,
    PingReply,
    PingRequest,
    StatusReply,
    StatusRequest,
    SubmitTasksReply,
    SubmitTasksRequest,
    TaskQueryReply,
    TaskQueryRequest,
)

DEFAULT_TIMEOUT_S = 5.0


class MeshError(Exception):
    """Any failure of a client call."""


class MeshTimeout(MeshError):
    """No answer within the timeout."""


class MeshRemoteError(MeshError):
    """The node answered with an error."""

    def __init__(self, code: ErrorCode, message: str, leader_address: str | None = None) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.leader_address = leader_address


class MeshClient:
    """A connection to one node. Not thread-safe: use one client per thread."""

    def __init__(self, address: str | Address, timeout: float = DEFAULT_TIMEOUT_S,
                 context: zmq.Context[Any] | None = None) -> None:
        self.address = address if isinstance(address, Address) else parse_address(address)
        self.timeout = timeout
        self._ctx = context or zmq.Context.instance()
        self._codec = Codec()
        self._corr = itertools.count(random.randrange(1, 2**31))
        self._sock: zmq.Socket[Any] | None = None
        # Exactly-once writes: every write carries (client_id, seq); a retry reuses its seq.
        self.client_id = f"client-{uuid.uuid4().hex[:16]}"
        self._seq = itertools.count(1)
        self._known: list[Address] = [self.address]  # nodes to fall back on when one goes quiet

    def _socket(self) -> zmq.Socket[Any]:
        if self._sock is None:
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.address.endpoint)
            self._sock = sock
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close(linger=0)
            self._sock = None

    def __enter__(self) -> MeshClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, msg: Any, timeout: float | None = None) -> Any:
        """Send `msg`, wait for the reply with the same correlation id, return it.

        Raises `MeshRemoteError` if the reply is an `ErrorReply`, `MeshTimeout` if none comes.
        """
        timeout = self.timeout if timeout is None else timeout
        corr_id = next(self._corr)
        sock = self._socket()
        sock.send(self._codec.encode(msg, corr_id))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sock.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                # The socket may now hold a late reply; a fresh one keeps later calls clean.
                self.close()
                raise MeshTimeout(f"no answer from {self.address} within {timeout:g} s")
            try:
                reply_corr, reply = self._codec.decode(sock.recv())
            except RemoteProtocolError as err:
                raise MeshError(f"{self.address} sent an invalid reply: {err.message}") from None
            if reply_corr != corr_id:
                continue  # a late answer to an earlier request that timed out
            if isinstance(reply, ErrorReply):
                raise MeshRemoteError(reply.code, reply.message, reply.leader_address)
            return reply

    def ping(self, payload: bytes = b"", timeout: float | None = None) -> float:
        """Round-trip time in milliseconds."""
        sent = time.monotonic_ns()
        reply = self.request(PingRequest(sent, payload), timeout)
        if not isinstance(reply, PingReply) or reply.sent_ns != sent:
            raise MeshError(f"{self.address} answered a ping with {type(reply).__name__}")
        return (time.monotonic_ns() - sent) / 1e6

    def leader_request(self, msg: Any, timeout: float | None = None, per_try: float | None = None) -> Any:
        """Send `msg` to the Raft leader: follow NOT_LEADER redirects and retry through elections
        (UNAVAILABLE, no answer) until `timeout` passes. Requests must be safe to repeat: writes
        carry (client_id, seq), so a retried write is applied once."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        delay = 0.02
        last_error: MeshError | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise last_error or MeshTimeout(f"no leader answered within {timeout:g} s")
            try:
                return self.request(msg, min(remaining, per_try or max(1.0, timeout / 4)))
            except MeshRemoteError as err:
                if err.code is ErrorCode.NOT_LEADER and err.leader_address:
                    self._switch(parse_address(err.leader_address))
                    last_error = err
                    continue
                if err.code not in (ErrorCode.NOT_LEADER, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT):
                    raise
                last_error = err
            except MeshTimeout as err:
                # The node may be the old leader, dead: go round the other nodes we know of.
                last_error = err
                self._switch(self._known[(self._known.index(self.address) + 1) % len(self._known)])
            time.sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.5)

    def _switch(self, address: Address) -> None:
        if address not in self._known:
            self._known.append(address)
        if address != self.address:
            self.close()
            self.address = address

    def config_set(self, key: str, value: bytes, timeout: float | None = None) -> int:
        """Set a replicated cluster setting; returns the log index it was committed at."""
        reply = self.leader_request(ConfigSetRequest(key, value, self.client_id, next(self._seq)), timeout)
        assert isinstance(reply, ConfigSetReply)
        return reply.index

    def config_delete(self, key: str, timeout: float | None = None) -> int:
        msg = ConfigSetRequest(key, b"", self.client_id, next(self._seq), delete=True)
        reply = self.leader_request(msg, timeout)
        assert isinstance(reply, ConfigSetReply)
        return reply.index

    def config_get(self, key: str, linearizable: bool = True, timeout: float | None = None) -> bytes | None:
        """Read a setting; linearizable reads see every write acknowledged before the call."""
        reply = self.request(ConfigGetRequest(key, linearizable), timeout)
        assert isinstance(reply, ConfigGetReply)
        return reply.value

    def config_dump(self, linearizable: bool = False, timeout: float | None = None) -> ConfigDumpReply:
        """Every setting this node has applied, with its applied and commit index."""
        reply = self.request(ConfigDumpRequest(linearizable), timeout)
        assert isinstance(reply, ConfigDumpReply)
        return reply

    def submit(self, tasks: list[dict[str, Any]], priority: int | None = None,
               timeout: float | None = None) -> list[str]:
        """Submit tasks (the JSON task format); returns their ids once committed. Raises
        `MeshRemoteError` with code REJECTED (every bad field named) if any task is invalid."""
        msg = SubmitTasksRequest(tuple(tasks), self.client_id, next(self._seq), priority)
        reply = self.leader_request(msg, timeout)
        assert isinstance(reply, SubmitTasksReply)
        return list(reply.task_ids)

    def tasks(self, task_ids: list[str] | None = None, status: str | None = None, wait_s: float = 0.0,
              limit: int = 1000, timeout: float | None = None) -> TaskQueryReply:
        """Tasks as the node sees them; with `wait_s`, once all named tasks finished (or it passed)."""
        base = self.timeout if timeout is None else timeout
        msg = TaskQueryRequest(tuple(task_ids or ()), status, wait_s, limit)
        reply = self.leader_request(msg, base + wait_s, per_try=wait_s + max(1.0, base / 4))
        assert isinstance(reply, TaskQueryReply)
        return reply

    def cancel(self, task_id: str, timeout: float | None = None) -> str:
        reply = self.leader_request(CancelTaskRequest(task_id, self.client_id, next(self._seq)), timeout)
        assert isinstance(reply, AckReply)
        return reply.detail

    def status(self, timeout: float | None = None) -> StatusReply:
        reply = self.request(StatusRequest(), timeout)
        if not isinstance(reply, StatusReply):
            raise MeshError(f"{self.address} answered status with {type(reply).__name__}")
        return reply


def status_dict(reply: StatusReply) -> dict[str, Any]:
    """A `StatusReply` as plain JSON-ready data (the shape `mesh status --json` prints)."""
    data = asdict(reply)
    extra = data.pop("extra") or {}
    data.update(extra)
    return data

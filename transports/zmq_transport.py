"""All of a node's ZeroMQ sockets: one ROUTER bound for everything inbound, one DEALER per peer out.

The transport moves typed messages (via `transports.codec`) and knows nothing of
what they mean. Inbound frames from the ROUTER and from every DEALER go to one
handler, `handler(origin, corr_id, message)`, called on the event loop; `reply`
answers on the connection a message came in on. After one await per wake-up the
receive loops drain what is already queued with non-blocking reads (one await
per message caps a loop at a few thousand messages per second). Sends are
non-blocking; a ROUTER reply to a peer whose pipe is full waits in a bounded
backlog, a DEALER send to an unreachable peer is dropped and counted (Raft and
the worker protocol retry). Bad frames get an `ErrorReply` and are counted; no
bytes a peer sends can raise out of a receive loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import zmq
import zmq.asyncio

from transports.codec import DEFAULT_MAX_MESSAGE_BYTES, Codec
from transports.errors import ErrorCode, RemoteProtocolError
from transports.protocol import ErrorReply

log = logging.getLogger("mesh.transport")

# The hot path calls libzmq through pyzmq's Cython backend with int flags: the friendlier
# `Socket.send_multipart`/`recv_multipart` cost ten times more per message (measured:
# 2.1 us against 0.2 us per frame), which is the whole difference at 100k messages/s.
_zsend = zmq.backend.Socket.send
_zrecv = zmq.backend.Socket.recv
_zget = zmq.backend.Socket.get
_NOBLOCK = int(zmq.NOBLOCK)
_SNDMORE = int(zmq.SNDMORE)
_RCVMORE = int(zmq.RCVMORE)


class Origin(NamedTuple):
    """Where a message came from. Pass it to `ZmqTransport.reply` to answer on the same connection.

    `identity` is set for messages that arrived on our ROUTER (with `envelope`, the
    delimiter frames of REQ-style clients to echo back); `peer` is the endpoint of
    our DEALER a message arrived on (a reply from a node we called).
    """

    identity: bytes | None = None
    peer: str | None = None
    envelope: tuple[bytes, ...] = ()

    def __str__(self) -> str:
        return self.peer if self.peer is not None else f"client {self.identity!r}"


Handler = Callable[[Origin, int, Any], None]


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Socket options and queue bounds. Defaults suit a LAN."""

    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    hwm: int = 20_000  # messages queued per connection before sends fail
    recv_batch: int = 1024  # messages handled per wake-up before yielding to the loop
    send_backlog: int = 20_000  # replies held while a client's pipe is full
    backlog_timeout_s: float = 5.0  # a backlog older than this is dropped, the client is gone
    reconnect_ivl_ms: int = 50
    reconnect_ivl_max_ms: int = 1000
    heartbeat_ivl_ms: int = 1000  # ZMTP heartbeats: a silently dead peer is noticed in seconds
    heartbeat_timeout_ms: int = 3000


@dataclass
class TransportStats:
    """Counters a node exposes in `status` and metrics."""

    frames_in: int = 0
    frames_out: int = 0
    protocol_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    dropped_unroutable: int = 0  # reply to a client that has disconnected
    dropped_unreachable: int = 0  # DEALER send while the peer is down or its queue is full
    dropped_backlog: int = 0  # replies given up after `backlog_timeout_s`
    handler_errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "protocol_errors": dict(self.protocol_errors),
            "dropped_unroutable": self.dropped_unroutable,
            "dropped_unreachable": self.dropped_unreachable,
            "dropped_backlog": self.dropped_backlog,
            "handler_errors": self.handler_errors,
        }


def _configure(sock: zmq.Socket[Any], limits: TransportLimits) -> None:
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, limits.hwm)
    sock.setsockopt(zmq.RCVHWM, limits.hwm)
    # The hard limit: a peer sending more than this is disconnected by libzmq. Frames between
    # the codec's limit and this one still arrive and get an OVERSIZED error reply.
    sock.setsockopt(zmq.MAXMSGSIZE, 2 * limits.max_message_bytes)
    sock.setsockopt(zmq.HEARTBEAT_IVL, limits.heartbeat_ivl_ms)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, limits.heartbeat_timeout_ms)
    sock.setsockopt(zmq.TCP_KEEPALIVE, 1)


class ZmqTransport:
    """One node's sockets. Create, `await start()`, use `send`/`reply`, `await close()`."""

    def __init__(self, node_id: str, bind_endpoint: str, handler: Handler, *,
                 limits: TransportLimits | None = None, codec: Codec | None = None) -> None:
        self.node_id = node_id
        self.bind_endpoint = bind_endpoint
        self.handler = handler
        self.limits = limits or TransportLimits()
        self.codec = codec or Codec(max_message_bytes=self.limits.max_message_bytes)
        self.stats = TransportStats()
        self.endpoint = ""  # the bound endpoint, with the real port when bound to port 0
        self._ctx = zmq.asyncio.Context()
        self._router: zmq.asyncio.Socket | None = None
        self._router_sync: zmq.Socket[Any] | None = None
        self._dealers: dict[str, tuple[zmq.asyncio.Socket, zmq.Socket[Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: collections.deque[tuple[float, list[bytes]]] = collections.deque()
        self._backlog_task: asyncio.Task[None] | None = None
        self._closed = False
        self._noisy_logged = 0
        self._dirty: set[zmq.asyncio.Socket] = set()  # sockets sent on since the last kick
        self._async_of: dict[int, zmq.asyncio.Socket] = {}  # id(sync shadow) -> its async socket
        self._kick_scheduled = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> str:
        """Bind the ROUTER and start its receive loop. Returns the bound endpoint."""
        router = self._ctx.socket(zmq.ROUTER)
        _configure(router, self.limits)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # unknown identity -> error, not a silent drop
        router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a restarted node takes its identity back
        endpoint = self.bind_endpoint
        if endpoint.endswith(":0"):
            endpoint = endpoint[:-2] + ":*"
        router.bind(endpoint)
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self._router = router
        self._router_sync = zmq.Socket.shadow(router.underlying)
        self._async_of[id(self._router_sync)] = router
        self._spawn(self._recv_loop(router, None))
        return self.endpoint

    async def close(self) -> None:
        """Stop every loop and close every socket without lingering."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        if self._backlog_task is not None:
            tasks.append(self._backlog_task)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for sock, _ in self._dealers.values():
            sock.close(linger=0)
        self._dealers.clear()
        if self._router is not None:
            self._router.close(linger=0)
        self._ctx.term()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- outbound --------------------------------------------------------------------------------

    def connect(self, endpoint: str, *, immediate: bool = True) -> None:
        """Open the DEALER to `endpoint` now (sends open it on demand too).

        With `immediate`, messages are only queued on a live connection, so a send to a
        down peer fails at once instead of arriving late and stale after it comes back.
        """
        if endpoint in self._dealers or self._closed:
            return
        sock = self._ctx.socket(zmq.DEALER)
        _configure(sock, self.limits)
        sock.setsockopt(zmq.IDENTITY, self.node_id.encode())
        sock.setsockopt(zmq.IMMEDIATE, 1 if immediate else 0)
        sock.setsockopt(zmq.RECONNECT_IVL, self.limits.reconnect_ivl_ms)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, self.limits.reconnect_ivl_max_ms)
        sock.connect(endpoint)
        shadow: zmq.Socket[Any] = zmq.Socket.shadow(sock.underlying)
        self._dealers[endpoint] = (sock, shadow)
        self._async_of[id(shadow)] = sock
        self._spawn(self._recv_loop(sock, endpoint))

    def disconnect(self, endpoint: str) -> None:
        """Close the DEALER to `endpoint` (a peer that left the cluster)."""
        pair = self._dealers.pop(endpoint, None)
        if pair is not None:
            pair[0].close(linger=0)

    def send(self, endpoint: str, msg: Any, corr_id: int = 0) -> bool:
        """Send `msg` to the node at `endpoint`. Returns False if it was dropped (peer down or full).

        Raises `LocalProtocolError` if `msg` cannot be encoded.
        """
        frame = self.codec.encode(msg, corr_id)
        return self.send_frame(endpoint, frame)

    def send_frame(self, endpoint: str, frame: bytes) -> bool:
        """Send an already encoded frame (to encode once and send to many peers)."""
        if endpoint not in self._dealers:
            self.connect(endpoint)
        pair = self._dealers.get(endpoint)
        if pair is None:
            return False
        self._mark_sent(pair[0])
        try:
            _zsend(pair[1], frame, _NOBLOCK)
        except zmq.Again:
            self.stats.dropped_unreachable += 1
            return False
        except zmq.ZMQError as err:
            self.stats.dropped_unreachable += 1
            log.debug("send to %s failed: %s", endpoint, err)
            return False
        self.stats.frames_out += 1
        return True

    def reply(self, origin: Origin, msg: Any, corr_id: int = 0) -> bool:
        """Answer `origin` on the connection its message came in on."""
        frame = self.codec.encode(msg, corr_id)
        if origin.peer is not None:
            return self.send_frame(origin.peer, frame)
        if origin.identity is None or self._router_sync is None:
            return False
        return self._send_router([origin.identity, *origin.envelope, frame])

    def _send_router(self, frames: list[bytes]) -> bool:
        if self._backlog:  # keep order: while anything waits, everything waits
            return self._enqueue_backlog(frames)
        assert self._router_sync is not None
        try:
            self._send_parts(self._router_sync, frames)
        except zmq.Again:
            return self._enqueue_backlog(frames)
        except zmq.ZMQError as err:
            if err.errno == zmq.EHOSTUNREACH:
                self.stats.dropped_unroutable += 1
                return False
            raise
        self.stats.frames_out += 1
        return True

    def _mark_sent(self, sock: zmq.asyncio.Socket) -> None:
        """A send on a socket whose async recv is pending can swallow the edge of its descriptor
        (libzmq processes incoming commands during the send), and the pending recv would then
        sleep on a message already queued. pyzmq's own sends re-check after sending; ours go
        through the shadow socket, so re-check every socket sent on, once per loop iteration."""
        self._dirty.add(sock)
        if not self._kick_scheduled:
            self._kick_scheduled = True
            asyncio.get_running_loop().call_soon(self._kick)

    def _kick(self) -> None:
        self._kick_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for sock in dirty:
            if not sock.closed:
                # pyzmq's private hook: re-read EVENTS and wake a pending recv if a message waits.
                reschedule: Any = sock._schedule_remaining_events
                reschedule()

    def _send_parts(self, sock: zmq.Socket[Any], frames: list[bytes]) -> None:
        # A multipart message is atomic: if the first part is accepted, the rest are too.
        self._mark_sent(self._async_of[id(sock)])
        last = len(frames) - 1
        for i, part in enumerate(frames):
            _zsend(sock, part, _NOBLOCK | _SNDMORE if i < last else _NOBLOCK)

    def _enqueue_backlog(self, frames: list[bytes]) -> bool:
        if len(self._backlog) >= self.limits.send_backlog:
            self.stats.dropped_backlog += 1
            return False
        self._backlog.append((time.monotonic(), frames))
        if self._backlog_task is None or self._backlog_task.done():
            self._backlog_task = asyncio.get_running_loop().create_task(self._flush_backlog())
        return True

    async def _flush_backlog(self) -> None:
        delay = 0.0005
        while self._backlog and not self._closed:
            queued_at, frames = self._backlog[0]
            if time.monotonic() - queued_at > self.limits.backlog_timeout_s:
                self._backlog.popleft()
                self.stats.dropped_backlog += 1
                continue
            assert self._router_sync is not None
            try:
                self._send_parts(self._router_sync, frames)
            except zmq.Again:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            except zmq.ZMQError:
                self.stats.dropped_unroutable += 1
            else:
                self.stats.frames_out += 1
            self._backlog.popleft()
            delay = 0.0005

    # --- inbound ---------------------------------------------------------------------------------

    async def _recv_loop(self, sock: zmq.asyncio.Socket, peer: str | None) -> None:
        """Await one message, then drain what is queued without awaiting, then yield."""
        sync: zmq.Socket[Any] = zmq.Socket.shadow(sock.underlying)
        batch = self.limits.recv_batch
        on_router, on_dealer = self._on_router_message, self._on_dealer_message
        while not self._closed:
            try:
                frames = await sock.recv_multipart()
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError as err:
                if self._closed or err.errno in (zmq.ENOTSOCK, zmq.ETERM):
                    return
                log.warning("receive on %s failed: %s", peer or "router", err)
                await asyncio.sleep(0.01)
                continue
            if peer is None:
                on_router(frames[0], frames[1:])
            else:
                on_dealer(peer, frames)
            try:
                for _ in range(batch):
                    first = _zrecv(sync, _NOBLOCK)
                    if peer is None:
                        # ROUTER: [identity, payload...]; the identity always has a next part
                        # and parts of one message arrive together, so this recv cannot block.
                        body = [_zrecv(sync, _NOBLOCK)]
                        while _zget(sync, _RCVMORE):
                            body.append(_zrecv(sync, _NOBLOCK))
                        on_router(first, body)
                    else:
                        body = [first]
                        while _zget(sync, _RCVMORE):
                            body.append(_zrecv(sync, _NOBLOCK))
                        on_dealer(peer, body)
            except zmq.Again:
                pass
            except zmq.ZMQError as err:
                if self._closed or err.errno in (zmq.ENOTSOCK, zmq.ETERM):
                    return
                log.warning("receive on %s failed: %s", peer or "router", err)
            # A done future does not yield; give other tasks their turn between batches.
            await asyncio.sleep(0)

    def _on_router_message(self, identity: bytes, body: list[bytes]) -> None:
        envelope: tuple[bytes, ...] = ()
        # REQ-style clients put an empty delimiter frame first; echo it back in replies.
        if len(body) == 2 and body[0] == b"":
            envelope, body = (b"",), body[1:]
        self._on_message(Origin(identity, None, envelope), body)

    def _on_dealer_message(self, peer: str, body: list[bytes]) -> None:
        self._on_message(Origin(None, peer), body)

    def _on_message(self, origin: Origin, body: list[bytes]) -> None:
        self.stats.frames_in += 1
        if len(body) != 1:
            self._protocol_error(origin, RemoteProtocolError(
                ErrorCode.MALFORMED_FRAME, f"expected one payload frame, got {len(body)}"))
            return
        try:
            corr_id, msg = self.codec.decode(body[0])
        except RemoteProtocolError as err:
            self._protocol_error(origin, err)
            return
        try:
            self.handler(origin, corr_id, msg)
        except Exception:
            self.stats.handler_errors += 1
            log.exception("handler failed on %s from %s", type(msg).__name__, origin)
            if origin.identity is not None and not isinstance(msg, ErrorReply):
                self._safe_reply(origin, ErrorReply(ErrorCode.INTERNAL, "internal error, see node log"),
                                 corr_id)

    def _protocol_error(self, origin: Origin, err: RemoteProtocolError) -> None:
        self.stats.protocol_errors[err.code.name] += 1
        self._noisy_logged += 1
        loud = self._noisy_logged <= 10 or self._noisy_logged % 1000 == 0
        level = logging.WARNING if loud else logging.DEBUG
        log.log(level, "bad frame from %s: %s: %s", origin, err.code.name, err.message)
        # Answer clients on our ROUTER. Never answer a peer's reply with an error: two nodes
        # could otherwise bounce errors at each other forever.
        if origin.identity is not None:
            self._safe_reply(origin, ErrorReply(err.code, err.message), err.corr_id)

    def _safe_reply(self, origin: Origin, msg: Any, corr_id: int) -> None:
        try:
            self.reply(origin, msg, corr_id)
        except Exception:  # never let an error reply take the receive loop down
            log.exception("could not send error reply to %s", origin)

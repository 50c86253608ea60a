"""Two transports in one event loop over real loopback sockets: messages both ways, pipelining,
and error replies for everything a misbehaving peer can send."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgpack
import uvloop
import zmq
import zmq.asyncio

from tests.support.processes import free_port
from transports.codec import Codec
from transports.errors import ErrorCode
from transports.protocol import PROTOCOL_VERSION, ErrorReply, PingReply, PingRequest
from transports.zmq_transport import Origin, ZmqTransport

T = TypeVar("T")
codec = Codec()


def run(coro_fn: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro_fn(), timeout)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(bounded())


class Recorder:
    """A handler that answers pings and records everything else."""

    def __init__(self) -> None:
        self.transport: ZmqTransport | None = None
        self.received: list[tuple[Origin, int, Any]] = []
        self.event = asyncio.Event()
        self.expect = 1

    def __call__(self, origin: Origin, corr_id: int, msg: Any) -> None:
        if isinstance(msg, PingRequest) and self.transport is not None:
            self.transport.reply(origin, PingReply(msg.sent_ns, msg.payload, self.transport.node_id), corr_id)
            return
        self.received.append((origin, corr_id, msg))
        if len(self.received) >= self.expect:
            self.event.set()


async def pair() -> tuple[ZmqTransport, Recorder, ZmqTransport, Recorder]:
    rec_a, rec_b = Recorder(), Recorder()
    a = ZmqTransport("node-a", "tcp://127.0.0.1:0", rec_a)
    b = ZmqTransport("node-b", "tcp://127.0.0.1:0", rec_b)
    rec_a.transport, rec_b.transport = a, b
    await a.start()
    await b.start()
    a.connect(b.endpoint, immediate=False)
    b.connect(a.endpoint, immediate=False)
    return a, rec_a, b, rec_b


def test_two_transports_exchange_messages_both_ways() -> None:
    async def scenario() -> None:
        a, rec_a, b, rec_b = await pair()
        try:
            assert a.send(b.endpoint, PingRequest(11, b"from-a"), corr_id=1)
            assert b.send(a.endpoint, PingRequest(22, b"from-b"), corr_id=2)
            await asyncio.wait_for(rec_a.event.wait(), 5)
            await asyncio.wait_for(rec_b.event.wait(), 5)
        finally:
            await a.close()
            await b.close()
        origin, corr, reply = rec_a.received[0]
        # b answered on the connection a's message came in on: it arrives on a's DEALER to b.
        assert (origin.peer, corr, reply) == (b.endpoint, 1, PingReply(11, b"from-a", "node-b"))
        origin, corr, reply = rec_b.received[0]
        assert (origin.peer, corr, reply) == (a.endpoint, 2, PingReply(22, b"from-b", "node-a"))
    run(scenario)


def test_pipelined_burst_is_answered_completely_and_in_order() -> None:
    count = 20_000

    async def scenario() -> list[int]:
        a, rec_a, b, _ = await pair()
        rec_a.expect = count
        try:
            for i in range(count):
                assert a.send(b.endpoint, PingRequest(i), corr_id=i)
            await asyncio.wait_for(rec_a.event.wait(), 20)
        finally:
            await a.close()
            await b.close()
        return [corr for _, corr, _ in rec_a.received]
    assert run(scenario) == list(range(count))


async def raw_dealer(endpoint: str, ctx: zmq.asyncio.Context, socket_type: int = zmq.DEALER
                     ) -> zmq.asyncio.Socket:
    sock = ctx.socket(socket_type)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def test_garbage_gets_error_replies_and_the_loop_keeps_serving() -> None:
    garbage = [
        (b"\xc1", ErrorCode.MALFORMED_FRAME),
        (msgpack.packb([PROTOCOL_VERSION + 5, 2, 9, 1]), ErrorCode.UNSUPPORTED_VERSION),
        (msgpack.packb([PROTOCOL_VERSION, 4242, 9]), ErrorCode.UNKNOWN_TYPE),
        (msgpack.packb([PROTOCOL_VERSION, 2, 9, "x"]), ErrorCode.INVALID_FIELD),
    ]

    async def scenario() -> None:
        rec = Recorder()
        server = ZmqTransport("server", "tcp://127.0.0.1:0", rec)
        rec.transport = server
        await server.start()
        ctx = zmq.asyncio.Context()
        sock = await raw_dealer(server.endpoint, ctx)
        try:
            for frame, code in garbage:
                await sock.send(frame)
                corr, reply = codec.decode(await asyncio.wait_for(sock.recv(), 5))
                assert isinstance(reply, ErrorReply) and reply.code is code, reply
            await sock.send_multipart([b"one", b"two"])
            _, reply = codec.decode(await asyncio.wait_for(sock.recv(), 5))
            assert reply.code is ErrorCode.MALFORMED_FRAME and "2" in reply.message
            await sock.send(codec.encode(PingRequest(5), 77))
            corr, reply = codec.decode(await asyncio.wait_for(sock.recv(), 5))
            assert (corr, reply) == (77, PingReply(5, b"", "server"))
            errors = server.stats.protocol_errors
            assert errors["MALFORMED_FRAME"] == 2 and errors["INVALID_FIELD"] == 1
            assert errors["UNKNOWN_TYPE"] == 1 and errors["UNSUPPORTED_VERSION"] == 1
        finally:
            sock.close(0)
            ctx.term()
            await server.close()
    run(scenario)


def test_req_socket_clients_are_answered_through_their_envelope() -> None:
    async def scenario() -> None:
        rec = Recorder()
        server = ZmqTransport("server", "tcp://127.0.0.1:0", rec)
        rec.transport = server
        await server.start()
        ctx = zmq.asyncio.Context()
        sock = await raw_dealer(server.endpoint, ctx, zmq.REQ)
        try:
            await sock.send(codec.encode(PingRequest(3), 4))
            assert codec.decode(await asyncio.wait_for(sock.recv(), 5)) == (4, PingReply(3, b"", "server"))
        finally:
            sock.close(0)
            ctx.term()
            await server.close()
    run(scenario)


def test_a_failing_handler_answers_internal_error_and_keeps_receiving() -> None:
    calls: list[int] = []

    def handler(origin: Origin, corr_id: int, msg: Any) -> None:
        calls.append(corr_id)
        if corr_id == 1:
            raise RuntimeError("boom")
        server.reply(origin, PingReply(0), corr_id)

    async def scenario() -> None:
        await server.start()
        ctx = zmq.asyncio.Context()
        sock = await raw_dealer(server.endpoint, ctx)
        try:
            await sock.send(codec.encode(PingRequest(0), 1))
            _, reply = codec.decode(await asyncio.wait_for(sock.recv(), 5))
            assert isinstance(reply, ErrorReply) and reply.code is ErrorCode.INTERNAL
            await sock.send(codec.encode(PingRequest(0), 2))
            assert codec.decode(await asyncio.wait_for(sock.recv(), 5))[0] == 2
        finally:
            sock.close(0)
            ctx.term()
            await server.close()

    server = ZmqTransport("server", "tcp://127.0.0.1:0", handler)
    run(scenario)
    assert calls == [1, 2] and server.stats.handler_errors == 1


def test_send_to_a_down_peer_is_dropped_and_counted_not_queued() -> None:
    async def scenario() -> ZmqTransport:
        a = ZmqTransport("a", "tcp://127.0.0.1:0", Recorder())
        await a.start()
        try:
            dead = f"tcp://127.0.0.1:{free_port()}"
            results = [a.send(dead, PingRequest(i)) for i in range(10)]
        finally:
            await a.close()
        assert results == [False] * 10
        return a
    assert run(scenario).stats.dropped_unreachable == 10


def test_reply_to_a_client_that_went_away_is_counted_not_raised() -> None:
    async def scenario() -> None:
        server = ZmqTransport("server", "tcp://127.0.0.1:0", Recorder())
        await server.start()
        try:
            assert server.reply(Origin(identity=b"\x00gone"), PingReply(1), 1) is False
            assert server.stats.dropped_unroutable == 1
        finally:
            await server.close()
    run(scenario)

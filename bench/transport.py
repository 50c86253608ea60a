"""Pipelined request/reply throughput: mesh's transport + codec against raw pyzmq + msgpack.

Both sides run as separate processes on 127.0.0.1, in the same run, alternating:
- mesh: a real `mesh node` answers `PingRequest`s; the client is a `ZmqTransport`
  on uvloop keeping WINDOW requests in flight, every frame through the codec;
- raw: a blocking pyzmq ROUTER echoing msgpack arrays, and a blocking pyzmq DEALER
  client with the same window: the ceiling for Python on this machine.

Prints each round, the medians and the ratio mesh/raw (goal: >= 0.5).

    python bench/transport.py [--messages 200000] [--window 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import uvloop
import zmq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transports.protocol import PingReply, PingRequest  # noqa: E402
from transports.zmq_transport import Origin, ZmqTransport  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raw_server(port: int) -> None:
    """A raw pyzmq ROUTER that decodes each request and encodes a reply, as a node would."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.bind(f"tcp://127.0.0.1:{port}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    packb, unpackb = msgpack.packb, msgpack.unpackb
    while True:
        ident, frame = sock.recv_multipart()
        version, _tag, corr, sent, payload = unpackb(frame)
        sock.send_multipart([ident, packb([version, 3, corr, sent, payload, "raw"])])


def raw_client(port: int, messages: int, window: int) -> float:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 100_000)
    sock.setsockopt(zmq.RCVHWM, 100_000)
    sock.connect(f"tcp://127.0.0.1:{port}")
    packb, unpackb = msgpack.packb, msgpack.unpackb
    sock.send(packb([1, 2, 0, 0, b""]))
    sock.recv()  # connected and warm
    start = time.perf_counter()
    sent = received = 0
    while received < messages:
        while sent < messages and sent - received < window:
            sock.send(packb([1, 2, sent, time.monotonic_ns(), b""]))
            sent += 1
        reply = unpackb(sock.recv())
        assert reply[1] == 3
        received += 1
    elapsed = time.perf_counter() - start
    sock.close()
    ctx.term()
    return messages / elapsed


async def mesh_client_async(endpoint: str, messages: int, window: int) -> float:
    done = asyncio.Event()
    state = {"received": 0, "sent": 0}
    transport: ZmqTransport

    def refill() -> None:
        while state["sent"] < messages and state["sent"] - state["received"] < window:
            transport.send(endpoint, PingRequest(time.monotonic_ns()), state["sent"])
            state["sent"] += 1

    def on_message(origin: Origin, corr_id: int, msg: object) -> None:
        assert isinstance(msg, PingReply)
        state["received"] += 1
        if state["received"] >= messages:
            done.set()
        else:
            refill()

    transport = ZmqTransport(f"bench-client-{os.getpid()}", "tcp://127.0.0.1:0", on_message)
    await transport.start()
    transport.connect(endpoint, immediate=False)
    warm = asyncio.Event()
    transport.handler = lambda o, c, m: warm.set()
    transport.send(endpoint, PingRequest(0))
    await asyncio.wait_for(warm.wait(), 10)
    transport.handler = on_message
    start = time.perf_counter()
    refill()
    await asyncio.wait_for(done.wait(), 300)
    elapsed = time.perf_counter() - start
    await transport.close()
    return messages / elapsed


def mesh_client(endpoint: str, messages: int, window: int) -> float:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(mesh_client_async(endpoint, messages, window))


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def run_child(kind: str, port: int, messages: int, window: int) -> float:
    """Run one client in a fresh process so neither side warms the other's caches."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--port", str(port),
                          "--messages", str(messages), "--window", str(window)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{kind} client failed:\n{out.stderr[-3000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=["mesh", "raw", "raw-server"])
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.child == "raw-server":
        raw_server(args.port)
        return
    if args.child:
        endpoint = f"tcp://127.0.0.1:{args.port}"
        rate = (mesh_client(endpoint, args.messages, args.window) if args.child == "mesh"
                else raw_client(args.port, args.messages, args.window))
        print(json.dumps({"rate": rate}))
        return

    data_dir = Path(tempfile.mkdtemp(prefix="mesh-bench-"))
    mesh_port, raw_port = free_port(), free_port()
    mesh_bin = shutil.which("mesh") or "mesh"
    node = subprocess.Popen([mesh_bin, "node", "--role", "coordinator", "--host", "127.0.0.1",
                             "--port", str(mesh_port), "--data-dir", str(data_dir / "node")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = subprocess.Popen([sys.executable, __file__, "--child", "raw-server", "--port", str(raw_port)])
    rates: dict[str, list[float]] = {"mesh": [], "raw": []}
    try:
        wait_port(mesh_port)
        wait_port(raw_port)
        print(f"pipelined request/reply, {args.messages} messages, window {args.window}, "
              f"{os.cpu_count()} cpus")
        for round_no in range(1, args.rounds + 1):
            for kind, port in (("raw", raw_port), ("mesh", mesh_port)):
                rate = run_child(kind, port, args.messages, args.window)
                rates[kind].append(rate)
                print(f"  round {round_no}: {kind:<4} {rate:>10,.0f} msg/s")
    finally:
        for proc in (node, raw):
            proc.send_signal(signal.SIGTERM)
        for proc in (node, raw):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    mesh_med, raw_med = statistics.median(rates["mesh"]), statistics.median(rates["raw"])
    print(f"median mesh {mesh_med:,.0f} msg/s   raw pyzmq+msgpack {raw_med:,.0f} msg/s   "
          f"ratio mesh/raw {mesh_med / raw_med:.2f}  (goal >= 0.50)")


if __name__ == "__main__":
    main()

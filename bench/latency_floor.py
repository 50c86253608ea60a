"""The least a durable submit -> result round trip can cost here, with no scheduling logic at all.

mesh's single-task latency (`bench/dispatch.py`) crosses these hops, all required by the design
(DESIGN.md "How a task flows"): the client sends the task to the leader, which commits it to its
fsynced log before it sends `RunTask` to a worker; the worker runs it in a warm child process
(a crash must fail the task, not the worker), sends the result to the leader, which commits it
before it answers the client. This script builds exactly that pipeline from the same parts
(pyzmq ROUTER/DEALER on asyncio + uvloop, msgpack, SQLite WAL with synchronous=FULL, a child
process on pipes) and nothing else: no Raft, no validation, no scheduler, no state machine.
Whatever p50 it measures is a floor under mesh's p50 on this machine; the difference is what
mesh's own logic costs.

    python bench/latency_floor.py [--n 1000]

Prints p50/p99 of the whole pipeline, and the same with the commits made without fsync (the
part the two fsyncs cost), next to a bare client <-> leader round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import uvloop
import zmq
import zmq.asyncio

CHILD = "import sys\nr, w = sys.stdin.buffer, sys.stdout.buffer\nwhile line := r.readline():\n" \
        "    w.write(line); w.flush()\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _drain(sock: zmq.asyncio.Socket, handle: Callable[[list[bytes]], None]) -> None:
    """One await per wake-up, then drain without awaiting (as mesh's transport does)."""
    sync: zmq.Socket[Any] = zmq.Socket.shadow(sock.underlying)
    while True:
        handle(await sock.recv_multipart())
        try:
            while True:
                handle(sync.recv_multipart(zmq.NOBLOCK))
        except zmq.Again:
            pass


async def leader(port: int, db: str, sync: bool) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if sync else 'OFF'}")
    conn.execute("CREATE TABLE IF NOT EXISTS log (i INTEGER PRIMARY KEY, data BLOB)")
    ctx = zmq.asyncio.Context()
    router = ctx.socket(zmq.ROUTER)
    router.bind(f"tcp://127.0.0.1:{port}")
    workers: list[bytes] = []
    clients: dict[int, bytes] = {}

    def commit(data: bytes) -> None:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO log (data) VALUES (?)", (data,))
        conn.execute("COMMIT")

    def on_message(frames: list[bytes]) -> None:
        identity, body = frames[0], frames[1]
        kind, task_id, payload = msgpack.unpackb(body)
        if kind == "hello":
            workers.append(identity)
        elif kind == "ping":
            router.send_multipart([identity, body])
        elif kind == "submit":
            commit(body)
            clients[task_id] = identity
            router.send_multipart([workers[0], msgpack.packb(["run", task_id, payload])])
        elif kind == "done":
            commit(body)
            router.send_multipart([clients.pop(task_id), msgpack.packb(["result", task_id, payload])])

    await _drain(router, on_message)


async def worker(port: int) -> None:
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", CHILD, stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    ctx = zmq.asyncio.Context()
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(f"tcp://127.0.0.1:{port}")
    await dealer.send(msgpack.packb(["hello", 0, None]))
    queue: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
    receiver = asyncio.ensure_future(_drain(dealer, lambda f: queue.put_nowait(msgpack.unpackb(f[0])[1:])))
    while not receiver.done():
        task_id, payload = await queue.get()
        child.stdin.write(payload + b"\n")
        answer = await child.stdout.readline()
        await dealer.send(msgpack.packb(["done", task_id, answer.rstrip(b"\n")]))


def serve(role: str, port: int, db: str, sync: bool) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(leader(port, db, sync) if role == "leader" else worker(port))


def measure(n: int, sync: bool) -> dict[str, float]:
    tmp = tempfile.mkdtemp(prefix="latency-floor-")
    with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as probe:
        probe.bind("tcp://127.0.0.1:0")
        port = int(probe.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])
        probe.close(0)
        here = str(Path(__file__).resolve())
        procs = [subprocess.Popen([sys.executable, here, "--serve", role, "--port", str(port), "--db",
                                   os.path.join(tmp, "log.db")] + ([] if sync else ["--no-sync"]))
                 for role in ("leader", "worker")]
        try:
            client = ctx.socket(zmq.DEALER)
            client.connect(f"tcp://127.0.0.1:{port}")
            time.sleep(1.0)  # the worker's hello and its child start
            pings, trips = [], []
            for i in range(n + 50):
                start = time.perf_counter()
                client.send(msgpack.packb(["ping", i, None]))
                client.recv()
                ping = time.perf_counter() - start
                start = time.perf_counter()
                client.send(msgpack.packb(["submit", i, b"noop"]))
                kind, task_id, _ = msgpack.unpackb(client.recv())
                assert kind == "result" and task_id == i
                if i >= 50:  # warm-up
                    pings.append(ping)
                    trips.append(time.perf_counter() - start)
            client.close(0)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
            shutil.rmtree(tmp, ignore_errors=True)
    return {"p50": percentile(trips, 0.5) * 1e3, "p99": percentile(trips, 0.99) * 1e3,
            "ping": percentile(pings, 0.5) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--serve", choices=["leader", "worker"])
    ap.add_argument("--port", type=int)
    ap.add_argument("--db")
    ap.add_argument("--no-sync", action="store_true")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db, not args.no_sync)
        return
    synced, unsynced = measure(args.n, True), measure(args.n, False)
    print(f"{args.n} single tasks through client -> leader -> worker -> child -> worker -> leader -> client, "
          f"{os.cpu_count()} cpus")
    print(f"  with both commits fsynced  p50 {synced['p50']:.3f} ms  p99 {synced['p99']:.3f} ms")
    print(f"  commits without fsync      p50 {unsynced['p50']:.3f} ms  p99 {unsynced['p99']:.3f} ms")
    print(f"  bare client <-> leader round trip p50 {synced['ping']:.3f} ms")


if __name__ == "__main__":
    main()

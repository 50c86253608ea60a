"""Raft over three local processes: mesh against PySyncObj, measured the same way in the same run.

For each system, three processes on 127.0.0.1 replicate a key-value map:
- sequential: one client writes one key at a time, waiting for each commit;
- pipelined: one client keeps WINDOW writes in flight;
- failover: SIGKILL the leader, then time until a survivor commits a write (median and max
  over TRIALS; the killed node is restarted between trials).

mesh fsyncs every Ready (SQLite WAL, synchronous=FULL) and answers only after a majority has
the write on disk and the leader applied it. PySyncObj keeps its log in memory (no fsync), its
client runs inside a node process (no extra hop). Goals: mesh >= 2x PySyncObj writes/s;
failover median <= 0.4 s and max <= 1 s with default timeouts.

    pip install -e '.[bench]'; python bench/raft.py [--writes 500] [--pipelined 20000] [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYSYNCOBJ_NODE = str(Path(__file__).resolve().parent / "raft_pysyncobj_node.py")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


# --- mesh --------------------------------------------------------------------------------------


class MeshCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.addresses: dict[str, str] = {}
        self.ports = dict(zip(("m1", "m2", "m3"), free_ports(3), strict=True))

    def start(self, node: str) -> None:
        args = [sys.executable, "-m", "mesh", "node", "--role", "coordinator", "--host", "127.0.0.1",
                "--port", str(self.ports[node]), "--node-id", node, "--data-dir", str(self.root / node)]
        if node != "m1" or (self.root / node / "raft.db").exists():
            args += ["--join", f"127.0.0.1:{self.ports['m1']}"]
        log = open(self.root / f"{node}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[node] = subprocess.Popen(args, stdout=log, stderr=log)
        self.addresses[node] = f"127.0.0.1:{self.ports[node]}"

    def wait_agreed(self, timeout: float = 30) -> str:
        from mesh.client import MeshClient, MeshError
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                leaders, sizes = set(), set()
                for node in self.procs:
                    with MeshClient(self.addresses[node], timeout=1) as c:
                        st = c.status()
                    leaders.add(st.leader)
                    sizes.add(sum(1 for m in st.members if m.role in ("leader", "follower")))
                if len(leaders) == 1 and None not in leaders and sizes == {3}:
                    return str(leaders.pop())
            except MeshError:
                pass
            time.sleep(0.05)
        raise RuntimeError("mesh cluster did not agree on a leader")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def mesh_sequential(address: str, writes: int) -> float:
    from mesh.client import MeshClient
    with MeshClient(address, timeout=10) as client:
        client.config_set("warm", b"x")
        start = time.perf_counter()
        for i in range(writes):
            client.config_set(f"s{i}", b"v" * 16)
        return writes / (time.perf_counter() - start)


def mesh_pipelined(address: str, writes: int, window: int) -> float:
    import uuid

    import zmq

    from transports.codec import Codec
    from transports.protocol import ConfigSetReply, ConfigSetRequest, ErrorReply
    codec, ctx = Codec(), zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://{address}")
    client_id = f"bench-{uuid.uuid4().hex[:8]}"
    sent = done = 0
    start = time.perf_counter()
    while done < writes:
        while sent < writes and sent - done < window:
            sock.send(codec.encode(ConfigSetRequest(f"p{sent}", b"v" * 16, client_id, sent + 1), sent))
            sent += 1
        if not sock.poll(10_000):
            raise RuntimeError("mesh stopped answering")
        _, reply = codec.decode(sock.recv())
        if isinstance(reply, ErrorReply):
            raise RuntimeError(f"mesh refused a write: {reply}")
        assert isinstance(reply, ConfigSetReply)
        done += 1
    rate = writes / (time.perf_counter() - start)
    sock.close()
    ctx.term()
    return rate


def mesh_failover(cluster: MeshCluster, trials: int) -> list[float]:
    from mesh.client import MeshClient, MeshError
    from transports.protocol import ConfigSetRequest
    times = []
    for _ in range(trials):
        leader = cluster.wait_agreed()
        survivors = [n for n in cluster.procs if n != leader]
        with MeshClient(cluster.addresses[survivors[0]], timeout=5) as c:
            c.config_set("pre", b"x")  # warm connections
        killed_at = time.monotonic()
        cluster.procs[leader].send_signal(signal.SIGKILL)
        cluster.procs[leader].wait()
        committed = None
        client = MeshClient(cluster.addresses[survivors[0]], timeout=0.05)
        while committed is None and time.monotonic() - killed_at < 10:
            try:
                client.leader_request(ConfigSetRequest("failover", b"x", client.client_id, 1), timeout=0.05)
                committed = time.monotonic()
            except MeshError:
                pass
        client.close()
        if committed is None:
            raise RuntimeError("no commit within 10 s of killing the leader")
        times.append(committed - killed_at)
        cluster.start(leader)
    cluster.wait_agreed()
    return times


def run_mesh(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="bench-raft-mesh-"))
    cluster = MeshCluster(root)
    try:
        cluster.start("m1")
        time.sleep(0.5)
        cluster.start("m2")
        cluster.start("m3")
        leader = cluster.wait_agreed()
        address = cluster.addresses[leader]
        return {
            "sequential": mesh_sequential(address, args.writes),
            "pipelined": mesh_pipelined(address, args.pipelined, args.window),
            "failover": mesh_failover(cluster, args.trials),
        }
    finally:
        cluster.stop()


# --- PySyncObj -----------------------------------------------------------------------------------


class PySyncObjCluster:
    def __init__(self) -> None:
        self.ports = free_ports(3)
        self.procs: dict[int, subprocess.Popen[str]] = {}

    def start(self, i: int) -> None:
        others = [f"127.0.0.1:{p}" for j, p in enumerate(self.ports) if j != i]
        self.procs[i] = subprocess.Popen(
            [sys.executable, PYSYNCOBJ_NODE, f"127.0.0.1:{self.ports[i]}", *others],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def ask(self, i: int, command: str) -> dict[str, Any]:
        proc = self.procs[i]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(command + "\n")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"pysyncobj node {i} died on {command!r}")
        return json.loads(line)  # type: ignore[no-any-return]

    def leader(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answers = {self.ask(i, "leader")["leader"] for i in self.procs}
            if len(answers) == 1 and None not in answers:
                return self.ports.index(int(str(answers.pop()).rsplit(":", 1)[1]))
            time.sleep(0.05)
        raise RuntimeError("pysyncobj did not elect a leader")

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()
            proc.wait()


def run_pysyncobj(args: argparse.Namespace) -> dict[str, Any]:
    cluster = PySyncObjCluster()
    try:
        for i in range(3):
            cluster.start(i)
        # The client runs inside the leader's process: PySyncObj's best case (a call made on a
        # follower is forwarded and waits for its poll loop: ~5 writes/s measured here).
        leader = cluster.leader()
        result: dict[str, Any] = {
            "sequential": cluster.ask(leader, f"seq {args.writes}")["rate"],
            "pipelined": cluster.ask(leader, f"pipe {args.pipelined} {args.window}")["rate"],
        }
        times = []
        for _ in range(args.trials):
            leader = cluster.leader()
            survivor = (leader + 1) % 3
            cluster.ask(survivor, "seq 5")
            killed_at = time.monotonic()
            cluster.procs[leader].kill()
            cluster.procs[leader].wait()
            answer = cluster.ask(survivor, "firstcommit")
            times.append(answer["at"] - killed_at)
            cluster.start(leader)
        result["failover"] = times
        return result
    finally:
        cluster.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--writes", type=int, default=500, help="sequential writes")
    ap.add_argument("--pipelined", type=int, default=20_000, help="pipelined writes")
    ap.add_argument("--window", type=int, default=256)
    ap.add_argument("--trials", type=int, default=10, help="failover trials")
    args = ap.parse_args()
    print(f"3 local processes each, {os.cpu_count()} cpus; mesh fsyncs, PySyncObj does not")
    mesh = run_mesh(args)
    peer = run_pysyncobj(args)
    for kind in ("sequential", "pipelined"):
        print(f"{kind:<11} writes/s   mesh {mesh[kind]:>9,.0f}   PySyncObj {peer[kind]:>9,.0f}   "
              f"ratio {mesh[kind] / peer[kind]:.2f}  (goal >= 2)")
    for name, data in (("mesh", mesh), ("PySyncObj", peer)):
        f = data["failover"]
        print(f"failover   {name:<10} median {statistics.median(f):.3f} s   max {max(f):.3f} s   "
              f"over {len(f)} trials" + ("  (goal median <= 0.4, max <= 1.0)" if name == "mesh" else ""))


if __name__ == "__main__":
    main()

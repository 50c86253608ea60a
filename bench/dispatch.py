"""Task dispatch: no-op `callable` tasks through mesh against Dask distributed and Ray, same run.

- mesh: `mesh up --workers 2` (a coordinator and two worker processes on 127.0.0.1); every
  submission and every result is committed to the Raft log (fsynced) before it counts.
- Dask: `LocalCluster(n_workers=2, threads_per_worker=1)`.
- Ray: `ray.init(num_cpus=2)`, kept on loopback.

Prints tasks/s for N tasks (submitted in batches, all results collected) and single-task
submit -> result latency p50/p99, and the ratios. Goals: mesh >= 3x Ray's tasks/s; p50 <= 1 ms
(`bench/latency_floor.py` measures what the durable pipeline costs here with no logic at all).

    pip install -e '.[bench]'; python bench/dispatch.py [--tasks 20000] [--latency 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NOOP = {"type": "callable", "config": {"function": "mesh.benchmarks:noop"}}


def noop(*args: Any) -> None:
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_mesh(n: int, latency_n: int, batch: int, slots: int) -> dict[str, Any]:
    from mesh.client import MeshClient, MeshError

    port, root = free_port(), Path(tempfile.mkdtemp(prefix="bench-dispatch-"))
    up = subprocess.Popen([sys.executable, "-m", "mesh", "up", "--workers", "2", "--host", "127.0.0.1",
                           "--port", str(port), "--data-dir", str(root), "--slots", str(slots)],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          start_new_session=True)
    try:
        assert up.stdout is not None
        line = up.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"mesh up did not start: {line!r}")
        client = MeshClient(f"127.0.0.1:{port}", timeout=30)
        client.tasks(client.submit([NOOP]), wait_s=30)  # warm: worker pools started
        latencies = []
        for _ in range(latency_n):
            start = time.perf_counter()
            [task_id] = client.submit([NOOP])
            done = client.tasks([task_id], wait_s=30).tasks[0]
            latencies.append(time.perf_counter() - start)
            assert done["status"] == "completed", done
        base = client.tasks(limit=0).counts["completed"]
        start = time.perf_counter()
        for i in range(0, n, batch):
            client.submit([NOOP] * min(batch, n - i))
        while True:
            try:
                counts = client.tasks(limit=0).counts
            except MeshError:
                continue
            if counts["completed"] - base >= n:
                break
            if counts["failed"]:
                raise RuntimeError(f"mesh tasks failed: {counts}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
        client.close()
        return {"rate": n / elapsed, "p50_ms": percentile(latencies, 0.5) * 1e3,
                "p99_ms": percentile(latencies, 0.99) * 1e3}
    finally:
        with_signal(up)
        shutil.rmtree(root, ignore_errors=True)


def with_signal(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def run_dask(n: int, latency_n: int) -> dict[str, Any]:
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(noop, 0, pure=False).result()
        latencies = []
        for i in range(latency_n):
            start = time.perf_counter()
            client.submit(noop, i, pure=False).result()
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        client.gather(client.map(noop, range(n), pure=False))
        elapsed = time.perf_counter() - start
    return {"rate": n / elapsed, "p50_ms": percentile(latencies, 0.5) * 1e3,
            "p99_ms": percentile(latencies, 0.99) * 1e3}


def run_ray(n: int, latency_n: int) -> dict[str, Any]:
    os.environ.update({"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0",
                       "RAY_AUTH_MODE": "disabled"})
    import ray

    tmp = tempfile.mkdtemp(prefix="ray-")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=tmp, _node_ip_address="127.0.0.1",
             logging_level="ERROR")
    try:
        remote_noop = ray.remote(noop)
        ray.get(remote_noop.remote())
        latencies = []
        for _ in range(latency_n):
            start = time.perf_counter()
            ray.get(remote_noop.remote())
            latencies.append(time.perf_counter() - start)
        start = time.perf_counter()
        ray.get([remote_noop.remote() for _ in range(n)])
        elapsed = time.perf_counter() - start
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"rate": n / elapsed, "p50_ms": percentile(latencies, 0.5) * 1e3,
            "p99_ms": percentile(latencies, 0.99) * 1e3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=20_000)
    ap.add_argument("--latency", type=int, default=200, help="single tasks timed one by one")
    ap.add_argument("--batch", type=int, default=1000, help="mesh tasks per submission")
    ap.add_argument("--peers", default="dask,ray")
    ap.add_argument("--slots", type=int, default=32,
                    help="attempts in flight per mesh worker (its prefetch depth; the no-ops run in "
                         "a warm process pool either way)")
    args = ap.parse_args()
    results = {"mesh": run_mesh(args.tasks, args.latency, args.batch, args.slots)}
    for peer in args.peers.split(","):
        if peer:
            results[peer] = (run_dask if peer == "dask" else run_ray)(args.tasks, args.latency)
    print(f"{args.tasks} no-op tasks, 2 workers, {os.cpu_count()} cpus; mesh commits every "
          "submission and result to its fsynced Raft log")
    for name, r in results.items():
        print(f"  {name:<5} {r['rate']:>9,.0f} tasks/s   latency p50 {r['p50_ms']:7.2f} ms   "
              f"p99 {r['p99_ms']:7.2f} ms")
    for peer in results:
        if peer != "mesh":
            print(f"  mesh/{peer} tasks/s ratio {results['mesh']['rate'] / results[peer]['rate']:.2f}"
                  + ("  (goal >= 3)" if peer == "ray" else ""))
    print(f"  mesh p50 latency {results['mesh']['p50_ms']:.2f} ms (goal <= 1 ms)")


if __name__ == "__main__":
    main()

"""`mesh up`: a whole mesh on this machine: one coordinator node and N worker processes."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mesh.config import DEFAULT_HEARTBEAT_TIMEOUT_S, DEFAULT_PORT

HELP = "run a coordinator and N workers on this machine"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workers", type=int, default=2, metavar="N", help="worker processes (default 2)")
    p.add_argument("--host", default="localhost", help="interface to bind (default localhost)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"coordinator port (default {DEFAULT_PORT})")
    p.add_argument("--db-path", metavar="FILE", help="DuckDB result store (default DATA_DIR/results.duckdb)")
    p.add_argument("--data-dir", metavar="DIR", help="state of every process (default $MESH_HOME/up-PORT)")
    p.add_argument("--heartbeat-timeout", type=float, default=DEFAULT_HEARTBEAT_TIMEOUT_S, metavar="S",
                   help=f"seconds before a silent worker is lost (default {DEFAULT_HEARTBEAT_TIMEOUT_S:g})")
    p.add_argument("--slots", type=int, metavar="N", help="attempts per worker at once (default: cores / N)")
    p.add_argument("-v", "--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    from mesh.client import MeshClient, MeshError

    if args.workers < 0:
        print("mesh up: error: --workers must be >= 0", file=sys.stderr)
        return 2
    home = Path(os.environ.get("MESH_HOME", Path.home() / ".mesh"))
    data_dir = Path(args.data_dir).expanduser() if args.data_dir else home / f"up-{args.port}"
    db_path = Path(args.db_path).expanduser() if args.db_path else data_dir / "results.duckdb"
    address = f"{args.host}:{args.port}"
    slots = args.slots or max(1, (os.cpu_count() or 1) // max(args.workers, 1))
    interval = min(1.0, args.heartbeat_timeout / 4)
    common = ["--heartbeat-timeout", str(args.heartbeat_timeout), "--heartbeat-interval", str(interval)]
    if args.verbose:
        common.append("--verbose")
    argv = [sys.executable, "-m", "mesh", "node"]
    procs: list[tuple[str, subprocess.Popen[bytes]]] = [("coordinator", subprocess.Popen(
        [*argv, "--role", "coordinator", "--host", args.host, "--port", str(args.port),
         "--data-dir", str(data_dir / "coordinator"), "--db-path", str(db_path), *common]))]
    stop: dict[str, Any] = {"signal": None}

    def on_signal(signum: int, frame: object) -> None:
        stop["signal"] = signum
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ready = _wait_for(lambda: MeshClient(address, timeout=0.5).status().leader is not None, procs, stop)
        if not ready:
            return _stop(procs, "the coordinator did not start (see its log above)")
        def start_worker(i: int) -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [*argv, "--role", "worker", "--host", args.host, "--port", "0", "--join", address,
                 "--data-dir", str(data_dir / f"worker-{i}"), "--slots", str(slots), *common])
        for i in range(args.workers):
            procs.append((f"worker-{i + 1}", start_worker(i + 1)))

        def workers_attached() -> bool:
            extra = MeshClient(address, timeout=0.5).status().extra or {}
            return sum(1 for w in extra.get("workers", []) if w["status"] == "active") >= args.workers
        if not _wait_for(workers_attached, procs, stop):
            return _stop(procs, "workers did not attach")
        print(f"mesh up: coordinator listening on tcp://{address} with {args.workers} workers "
              f"({slots} slots each); results in {db_path}; Ctrl-C to stop", flush=True)
        # A dead worker is restarted once the coordinator has had time to declare it lost and
        # requeue its tasks; a dead coordinator ends the whole mesh.
        died: dict[int, float] = {}
        while stop["signal"] is None:
            now = time.monotonic()
            for i, (name, proc) in enumerate(procs):
                if proc.poll() is None:
                    continue
                if i == 0:
                    return _stop(procs, f"the coordinator exited with {proc.returncode}")
                if i not in died:
                    died[i] = now
                    print(f"mesh up: {name} exited with {proc.returncode}; restarting it in "
                          f"{args.heartbeat_timeout + 1:g} s", file=sys.stderr, flush=True)
                elif now - died[i] > args.heartbeat_timeout + 1:
                    del died[i]
                    procs[i] = (name, start_worker(i))
            time.sleep(0.2)
        return _stop(procs, None)
    except MeshError as err:
        return _stop(procs, str(err))


def _wait_for(check: Any, procs: list[tuple[str, subprocess.Popen[bytes]]], stop: dict[str, Any],
              timeout: float = 60.0) -> bool:
    from mesh.client import MeshError
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and stop["signal"] is None:
        if any(proc.poll() is not None for _, proc in procs):
            return False
        try:
            if check():
                return True
        except MeshError:
            pass
        time.sleep(0.1)
    return False


def _stop(procs: list[tuple[str, subprocess.Popen[bytes]]], problem: str | None) -> int:
    """Stop workers first (they report what they finished), then the coordinator."""
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for _, proc in reversed(procs):
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if problem:
        print(f"mesh up: {problem}", file=sys.stderr)
        return 1
    print("mesh up: stopped", flush=True)
    return 0

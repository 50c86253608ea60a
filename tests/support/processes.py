"""Start real `mesh` processes on 127.0.0.1 and always clean them up.

`MeshProcesses` is used through the `mesh_procs` fixture: every process it starts
is killed (SIGKILL after a grace period) when the test ends, pass or fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mesh.client import MeshClient, MeshError

MESH = [sys.executable, "-m", "mesh"]
START_TIMEOUT_S = 20.0


@dataclass
class NodeProcess:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    address: str = ""
    node_id: str = ""
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, timeout: float = 5.0) -> MeshClient:
        return MeshClient(self.address, timeout=timeout)

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)


class MeshProcesses:
    """Starts `mesh node` processes and knows how to stop every one of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.nodes: list[NodeProcess] = []
        self._count = 0

    def start_node(self, *args: str, name: str | None = None, wait: bool = True,
                   data_dir: Path | None = None, env: dict[str, str] | None = None) -> NodeProcess:
        """Start `mesh node --host 127.0.0.1 --port 0 ARGS` with a fresh (or the given) data dir."""
        self._count += 1
        name = name or f"node{self._count}"
        data_dir = data_dir or self.root / name
        log_path = self.root / f"{name}.log"
        argv = [*MESH, "node", "--host", "127.0.0.1", "--data-dir", str(data_dir)]
        if "--port" not in args:
            argv += ["--port", "0"]
        argv += list(args)
        proc_env = {**os.environ, **(env or {})}
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=proc_env,
                                    start_new_session=True)
        node = NodeProcess(proc, data_dir, log_path)
        self.nodes.append(node)
        if wait:
            self.wait_ready(node)
        return node

    def wait_ready(self, node: NodeProcess, timeout: float = START_TIMEOUT_S) -> None:
        """Wait for node.json, then for the node to answer status."""
        deadline = time.monotonic() + timeout
        info_path = node.data_dir / "node.json"
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                raise RuntimeError(f"node exited with {node.proc.returncode}:\n{node.log()}")
            if info_path.exists():
                try:
                    info = json.loads(info_path.read_text())
                except json.JSONDecodeError:
                    info = None
                if info:
                    node.address, node.node_id = info["address"], info["node_id"]
                    try:
                        with node.client(timeout=1.0) as client:
                            client.status()
                        return
                    except MeshError:
                        pass
            time.sleep(0.05)
        raise TimeoutError(f"node in {node.data_dir} not ready after {timeout} s:\n{node.log()}")

    def cleanup(self) -> None:
        for node in self.nodes:
            node.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        for node in self.nodes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(max(deadline - time.monotonic(), 0.1))
            if node.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait(5)


def run_mesh(*args: str, timeout: float = 60.0, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """Run a short `mesh` command and capture its output."""
    return subprocess.run([*MESH, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


def eventually(check: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    """Poll `check` (a question to other processes: nothing here to wait on) until it holds;
    a node that does not answer yet counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(MeshError):
            if check():
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not hold within {timeout} s")


def free_port() -> int:
    """A port free right now on 127.0.0.1 (for nodes that must know each other's ports up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


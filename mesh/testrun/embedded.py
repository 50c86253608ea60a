"""The local mesh `mesh test` starts when it is given no `--coordinator`: one `mesh node --role
auto` process (a one-voter coordinator that also works) with N slots on 127.0.0.1, stopped with
SIGTERM after the run. Its data dir persists per project (duration history, bundle cache); if
another run holds it, the run uses a fresh temporary one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

from mesh.client import MeshClient, MeshError
from transports.address import parse_address

log = logging.getLogger("mesh.test")

START_TIMEOUT_S = 60.0


class EmbeddedMesh:
    def __init__(self, slots: int, data_dir: Path, verbose: bool = False) -> None:
        self.slots = max(1, slots)
        self.verbose = verbose
        self.data_dir = data_dir
        self.proc: asyncio.subprocess.Process | None = None
        self._temp: Path | None = None
        self.address = ""

    async def start(self) -> str:
        try:
            return await self._start(self.data_dir)
        except _Locked:
            self._temp = Path(tempfile.mkdtemp(prefix="mesh-test-"))
            return await self._start(self._temp)

    async def _start(self, data_dir: Path) -> str:
        data_dir.mkdir(parents=True, exist_ok=True)
        info_path = data_dir / "node.json"
        with contextlib.suppress(FileNotFoundError):
            info_path.unlink()
        log_path = data_dir / "node.log"
        with open(log_path, "ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "mesh", "node", "--role", "auto", "--host", "127.0.0.1",
                "--port", "0", "--data-dir", str(data_dir), "--slots", str(self.slots),
                "--work-dir", str(data_dir / "work"), "--exit-with-parent",
                *(["--verbose"] if self.verbose else []),
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.returncode is not None:
                text = log_path.read_text(errors="replace")[-2000:]
                if "in use by another mesh node" in text and self._temp is None:
                    raise _Locked()
                raise MeshError(f"the embedded mesh node exited ({self.proc.returncode}):\n{text}")
            address = _address(info_path)
            ready = bool(address) and await asyncio.to_thread(_has_worker, str(address))
            if ready and address:
                self.address = address
                log.debug("embedded mesh at %s ready after %.3f s", address,
                          time.monotonic() - deadline + START_TIMEOUT_S)
                return address
            await asyncio.sleep(0.02)
        raise MeshError(f"the embedded mesh did not start within {START_TIMEOUT_S:g} s (log: {log_path})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def cancel_stale_leases(self) -> None:
        """Leases of earlier runs still open in this mesh's state (a run that was killed): their
        owners are gone, so they are cancelled before they take a slot."""
        address = self.address
        if not address or self._temp is not None:  # a fresh temporary mesh has no earlier runs
            return

        def cancel() -> int:
            with MeshClient(address, timeout=5) as client:
                stale = [t["id"] for status in ("queued", "assigned", "running")
                         for t in client.tasks(status=status, limit=10_000).tasks
                         if t["type"] == "pytest_session"]
                for task_id in stale:
                    client.cancel(task_id)
                return len(stale)

        try:
            count = await asyncio.to_thread(cancel)
        except MeshError as err:
            log.warning("could not cancel leases of earlier runs: %s", err)
            return
        if count:
            log.info("cancelled %d lease(s) left by an earlier run", count)

    async def stop(self) -> None:
        t0 = time.monotonic()
        proc = self.proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        log.debug("embedded mesh stopped in %.3f s", time.monotonic() - t0)
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)


class _Locked(Exception):
    pass


def _address(info_path: Path) -> str | None:
    try:
        return str(json.loads(info_path.read_text())["address"])
    except (OSError, ValueError, KeyError):
        return None


def _has_worker(address: str) -> bool:
    try:
        with MeshClient(address, timeout=0.5) as client:
            status = client.status()
    except MeshError:
        return False
    workers = (status.extra or {}).get("workers", [])
    # the worker record must be this process's (a persisted one from an earlier run has an old port)
    return status.leader is not None and any(w.get("status") == "active" and w.get("address") == address
                                             for w in workers)


def listen_host_for(coordinator: str) -> str:
    """The local address a worker can reach us on: loopback for a local mesh, else the address
    this machine uses to reach the coordinator."""
    host = parse_address(coordinator).host
    if host in ("127.0.0.1", "localhost", "::1"):
        return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, 9))
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostname()

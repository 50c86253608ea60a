"""Tests about the process they run in: one kills its own process and one hangs, each only when
asked through the environment (otherwise they pass, so the suite runs serially), and one that
asks mesh for a CUDA worker with 16 GB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

SELF_KILL_ENV = "MESH_SAMPLE_SELF_KILL"
HANG_ENV = "MESH_SAMPLE_HANG"


def test_self_kill() -> None:
    """With MESH_SAMPLE_SELF_KILL=1 the worker's pytest process dies here (SIGKILL, no report)."""
    if os.environ.get(SELF_KILL_ENV) == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), 0)  # signal 0: only checks that this process exists


def test_hang() -> None:
    """With MESH_SAMPLE_HANG=1 this sleeps 60 s, for timeouts to catch."""
    if os.environ.get(HANG_ENV) == "1":
        time.sleep(60)
    before = time.monotonic()
    time.sleep(0.01)
    assert time.monotonic() - before >= 0.01


@pytest.mark.mesh(hardware=["cuda"], min_memory_gb=16)
def test_needs_cuda_worker(request: pytest.FixtureRequest) -> None:
    """Under `mesh test` only a worker with CUDA and >= 16 GB may run this; plain pytest runs it."""
    marker = request.node.get_closest_marker("mesh")
    assert marker is not None
    assert marker.kwargs == {"hardware": ["cuda"], "min_memory_gb": 16}


def test_child_process_output() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import sys; print(sys.argv[1][::-1])", "hsem"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout == "mesh\n"


def test_environment_is_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_SAMPLE_PROBE", "42")
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ['MESH_SAMPLE_PROBE'])"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert out.stdout.strip() == "42"

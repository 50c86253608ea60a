"""Shared test setup: a writable numba cache, and helpers every test module may use."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"mesh-numba-cache-{os.getuid()}")
)

from collections.abc import Iterator

import pytest

from tests.support.processes import MeshProcesses


@pytest.fixture
def mesh_procs(tmp_path: Path) -> Iterator[MeshProcesses]:
    """Real mesh processes for one test; all of them are stopped when it ends."""
    procs = MeshProcesses(tmp_path)
    try:
        yield procs
    finally:
        procs.cleanup()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run in which nothing passed is a failure, even if nothing failed (CI must not pass on
    zero tests, nor on a suite that was skipped away)."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = len(reporter.stats.get("passed", [])) if reporter is not None else 0
    if exitstatus == 0 and passed == 0 and not session.config.option.collectonly:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED

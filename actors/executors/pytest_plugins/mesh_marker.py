"""Registers the `mesh` marker in every pytest run where mesh is installed (a `pytest11` entry
point), so a suite that uses `@pytest.mark.mesh(...)` also runs under plain pytest with
`--strict-markers`. Plain pytest ignores the marker; `mesh test` routes tests by it."""

from __future__ import annotations

from typing import Any

MARKER_HELP = ("mesh(hardware=[...], min_memory_gb=N, min_cuda_compute=X, browser=NAME, "
               "device_type=KIND): under `mesh test`, run only on workers that meet these requirements")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", MARKER_HELP)

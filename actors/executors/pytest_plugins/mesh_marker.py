"""Registers the `mesh` marker in every pytest run where mesh is installed (a `pytest11` entry
point), so a suite that uses `@pytest.mark.mesh(...)` also runs under plain pytest with
`--strict-markers`. Plain pytest ignores the marker; `mesh test` routes tests by it."""

from __future__ import annotations

from typing import Any

# mesh_session is also loaded as a top-level module, so the text lives there, not here
from actors.executors.pytest_plugins.mesh_session import MARKER_HELP


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", MARKER_HELP)

"""Imports flow one way (DESIGN.md): the pure cores know nothing of sockets, roles or the UI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# package or module -> top-level packages it must never import
RULES: dict[str, tuple[str, ...]] = {
    "mesh/raft": ("transports", "actors", "ui", "zmq", "asyncio", "uvloop"),
    "mesh/state.py": ("transports", "actors", "ui", "zmq", "asyncio"),
    "mesh/scheduler": ("transports", "actors", "ui", "zmq", "asyncio"),
    "mesh/tasktable": ("transports", "actors", "ui", "zmq", "asyncio"),
    "mesh/tasks": ("transports", "actors", "ui", "zmq", "asyncio"),
    "analytics/kernels": ("transports", "actors", "ui", "zmq", "asyncio", "duckdb"),
    "transports": ("actors", "ui", "analytics"),
}


def imported_modules(source: str) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def violations(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    files = [path] if path.is_file() else sorted(path.rglob("*.py"))
    out = []
    for file in files:
        for module in imported_modules(file.read_text()):
            if module.split(".")[0] in forbidden:
                out.append(f"{file} imports {module}")
    return out


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "core.py"
    bad.write_text("import os\nfrom transports.zmq_transport import ZmqTransport\n")
    assert violations(bad, ("transports",)) == [f"{bad} imports transports.zmq_transport"]
    assert violations(bad, ("ui",)) == []


@pytest.mark.parametrize("target", sorted(RULES))
def test_imports_flow_one_way(target: str) -> None:
    path = ROOT / target
    if not path.exists():
        pytest.skip(f"{target} does not exist yet")
    assert violations(path, RULES[target]) == []

"""A pytest plugin that writes one NDJSON line per finished test to the file named by the
MESH_PYTEST_REPORT environment variable. Loaded in the test subprocess via
`-p actors.executors.pytest_plugin`; each line is flushed when the test's teardown ends, so the
lines of finished tests survive a kill mid-run. Imports only the standard library and mesh's
pure report rules (the package root is on the test process's PYTHONPATH)."""

from __future__ import annotations

import json
import os
from typing import IO, Any

from mesh.testrun.reports import category, row_outcome

REPORT_ENV = "MESH_PYTEST_REPORT"
LONGREPR_LIMIT_ENV = "MESH_PYTEST_LONGREPR_LIMIT"
DEFAULT_LONGREPR_LIMIT = 4000

_out: IO[str] | None = None
_pending: dict[str, dict[str, Any]] = {}
_phases: dict[str, list[tuple[str, Any]]] = {}  # nodeid -> (category, report) of phases that counted


def _limit() -> int:
    try:
        return int(os.environ.get(LONGREPR_LIMIT_ENV, DEFAULT_LONGREPR_LIMIT))
    except ValueError:
        return DEFAULT_LONGREPR_LIMIT


def _longrepr(report: Any) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    # a skip's longrepr is (file, line, reason)
    text = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    limit = _limit()
    return text if len(text) <= limit else text[: limit - 16] + "\n...[truncated]"


def _write(entry: dict[str, Any]) -> None:
    if _out is not None:
        _out.write(json.dumps(entry) + "\n")
        _out.flush()


def pytest_configure(config: Any) -> None:
    global _out
    path = os.environ.get(REPORT_ENV)
    if path:
        _out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives for the whole session


def pytest_unconfigure(config: Any) -> None:
    global _out
    if _out is not None:
        _out.close()
        _out = None


def pytest_runtest_logreport(report: Any) -> None:
    """Gather a test's phases; at its teardown write its one line: the outcome of
    `mesh.testrun.reports.row_outcome`, with the text of the first phase that counted so."""
    entry = _pending.setdefault(
        report.nodeid,
        {"nodeid": report.nodeid, "outcome": "passed", "duration_s": 0.0, "longrepr": ""},
    )
    entry["duration_s"] += float(getattr(report, "duration", 0.0) or 0.0)
    phase = {"when": report.when, "outcome": report.outcome, "wasxfail": getattr(report, "wasxfail", None)}
    counted = category(phase)
    if counted is not None:
        _phases.setdefault(report.nodeid, []).append((counted, report))
    if report.when == "teardown":
        phases = _phases.pop(report.nodeid, [])
        entry["outcome"] = row_outcome([counted for counted, _ in phases])
        if entry["outcome"] not in ("passed", "xpassed"):
            entry["longrepr"] = next(_longrepr(r) for c, r in phases if c == entry["outcome"])
        _write(_pending.pop(report.nodeid))


def pytest_collectreport(report: Any) -> None:
    if report.failed:  # a module that cannot be imported: its tests never run
        _write(
            {"nodeid": report.nodeid, "outcome": "error", "duration_s": 0.0, "longrepr": _longrepr(report)}
        )

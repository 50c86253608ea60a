"""Per-test reports as they travel from a worker's pytest process to `mesh test`, and how they
are counted the way pytest counts them.

A *phase report* is one pytest `TestReport` (or a failed `CollectReport`) reduced to plain data:

    {"nodeid": str,                  # pytest's node id, e.g. "tests/test_a.py::TestX::test_y[1]"
     "when": "setup" | "call" | "teardown" | "collect",
     "outcome": "passed" | "failed" | "skipped",
     "wasxfail": str | None,         # set when the test is marked xfail (the reason, maybe "")
     "duration_s": float,
     "longrepr": str,                # traceback text; for a skip, the reason
     "message": str | None,          # the exception message (pytest's "FAILED x - message")
     "sections": [[title, text], ...],   # captured output, e.g. ["Captured stdout call", "hi\n"]
     "location": [path, lineno | None, domain],
     "worker": str,                  # which mesh worker ran it (filled in by the worker side)
     "category": str | None,         # only on reports mesh makes itself (a crash, a timeout,
                                     # a test no worker can run): overrides the pytest rules
     "last": bool}                   # set on a test's last report: it is over

`category()` maps a phase report to what pytest's summary line counts it as, or None when the
phase counts for nothing (a passing setup or teardown). One test may count twice, as pytest
does: a test that fails in call and errors in teardown is "1 failed, 1 error".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

Report = dict[str, Any]

# pytest's order in the summary line
CATEGORIES = ("failed", "passed", "skipped", "deselected", "xfailed", "xpassed", "warnings", "error")


def category(report: Report) -> str | None:
    """What pytest's terminal summary counts this phase report as (None: nothing)."""
    explicit = report.get("category")
    if explicit:
        return str(explicit)
    when, outcome = report.get("when"), report.get("outcome")
    xfail = report.get("wasxfail") is not None
    if when == "collect":  # an import error; or a module skipped as a whole (importorskip)
        return "error" if outcome == "failed" else "skipped" if outcome == "skipped" else None
    if when == "call":
        if outcome == "passed":
            return "xpassed" if xfail else "passed"
        if outcome == "skipped":
            return "xfailed" if xfail else "skipped"
        return "failed"
    if outcome == "failed":
        return "error"
    if outcome == "skipped":
        return "xfailed" if xfail else "skipped"
    return None


def row_outcome(categories: Sequence[str]) -> str:
    """One test's outcome, for a one-row-per-test record, from the categories its phase reports
    counted as (setup, call, teardown order; a passing setup or teardown counts as nothing):
    a failure wins, then an error (a setup or teardown that failed), else the first that
    counted; a test whose phases counted nothing passed."""
    if "failed" in categories:
        return "failed"
    if "error" in categories:
        return "error"
    return categories[0] if categories else "passed"


def mesh_report(nodeid: str, category: str, text: str, *, when: str = "call", worker: str = "",
                duration_s: float = 0.0) -> Report:
    """A report mesh makes itself (a crash, a timeout, a test no worker can run): `category`
    says how it counts, `text` why."""
    return {"nodeid": nodeid, "when": when, "outcome": "failed", "wasxfail": None, "category": category,
            "duration_s": duration_s, "longrepr": text, "message": text, "sections": [],
            "location": [nodeid.split("::")[0], None, nodeid], "worker": worker}


def counts(reports: Iterable[Report]) -> Counter[str]:
    """Category -> number of phase reports in it, as pytest's summary line counts."""
    return Counter(c for c in map(category, reports) if c is not None)

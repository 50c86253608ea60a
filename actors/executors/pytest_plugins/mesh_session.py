"""The pytest plugin inside a long-lived worker pytest process (`mesh test`).

The `pytest_session` executor starts `python -m pytest -p mesh_session ...` in
the unpacked bundle with two pipes: commands come in on the fd named by MESH_PYTEST_CMD_FD, events
go out on MESH_PYTEST_OUT_FD, one JSON object per line. The process collects once, then runs the
tests it is told to, in the order given, for as long as the run lasts:

    out: {"t": "collected", "ids": [...], "requirements": {nodeid: {...}}, "errors": [report...]}
         ("errors": failed collect reports, and skipped ones for modules skipped as a whole)
    in:  {"run": [nodeid...], "next": nodeid | null}   out: {"t": "done", "id": nodeid, "r": [phase
                                                             reports of its setup, call, teardown]}
                                                       ... one per test, in the order given
                                                       out: {"t": "idle"}  (the batch is done)
    out (any time): {"t": "report", "r": phase report}   (a teardown error found between tests,
                                                          a test this process did not collect)
    in:  {"stop": true}   -> pytest finishes the session (session fixtures torn down) and exits

Fixture scopes follow pytest's own rule: each test is torn down against the test that runs next
here (the batch's next one, the hint `next`, or else the next in collection order); module and
class fixtures left set up for a test that went elsewhere are torn down before the next batch.
Phase reports have the shape documented in `mesh.testrun.reports`. Standard library + pytest only.
"""

from __future__ import annotations

import io
import json
import os
from typing import IO, Any

import pytest
from _pytest._io import TerminalWriter
from _pytest.reports import TestReport
from _pytest.runner import CallInfo

CMD_FD_ENV = "MESH_PYTEST_CMD_FD"
OUT_FD_ENV = "MESH_PYTEST_OUT_FD"
LONGREPR_LIMIT = 64 * 1024
MARKER_HELP = ("mesh(hardware=[...], min_memory_gb=N, min_cuda_compute=X, browser=NAME, "
               "device_type=KIND): under `mesh test`, run only on workers that meet these requirements")
PLUGIN_NAME = "mesh-session"


def _clip(text: str) -> str:
    return text if len(text) <= LONGREPR_LIMIT else text[: LONGREPR_LIMIT - 20] + "\n...[truncated]"


def phase_report(report: Any) -> dict[str, Any]:
    """A pytest TestReport or failed CollectReport as a plain-data phase report."""
    longrepr = report.longrepr
    message = None
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = message = str(longrepr[2])
    elif longrepr is None:
        text = ""
    elif hasattr(longrepr, "toterminal"):
        out = io.StringIO()
        writer = TerminalWriter(out)
        writer.hasmarkup = False
        longrepr.toterminal(writer)
        text = out.getvalue().rstrip()  # pytest's longreprtext also strips the first line's indent
        crash = getattr(longrepr, "reprcrash", None)
        message = getattr(crash, "message", None)
    else:
        text = message = str(longrepr)
    location = getattr(report, "location", None)
    return {
        "nodeid": report.nodeid,
        "when": getattr(report, "when", None) or "collect",
        "outcome": report.outcome,
        "wasxfail": getattr(report, "wasxfail", None),
        "duration_s": float(getattr(report, "duration", 0.0) or 0.0),
        "longrepr": _clip(text),
        "message": _clip(message) if message is not None else None,
        "sections": [[title, _clip(content)] for title, content in report.sections],
        "location": list(location) if location else [report.nodeid.split("::")[0], None, report.nodeid],
    }


def _requirements(item: Any) -> dict[str, Any] | None:
    marker = item.get_closest_marker("mesh")
    if marker is None:
        return None
    return json.loads(json.dumps(dict(marker.kwargs), default=str))


class MeshSessionPlugin:
    """Reads commands, runs tests, writes events. One per pytest process."""

    def __init__(self, cmd: IO[str], out: IO[str]) -> None:
        self._cmd = cmd
        self._out = out
        self._errors: list[dict[str, Any]] = []
        self._running: list[dict[str, Any]] | None = None  # phase reports of the test running now

    def _send(self, event: dict[str, Any]) -> None:
        self._out.write(json.dumps(event, separators=(",", ":"), default=str) + "\n")
        self._out.flush()

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed or report.skipped:  # errors, and modules skipped as a whole
            self._errors.append(phase_report(report))

    def pytest_runtest_logreport(self, report: Any) -> None:
        if self._running is not None:  # one event per test, sent when its protocol ends
            self._running.append(phase_report(report))
        else:
            self._send({"t": "report", "r": phase_report(report)})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> bool:
        items = session.items
        index = {item.nodeid: i for i, item in enumerate(items)}
        requirements = {item.nodeid: req for item in items if (req := _requirements(item)) is not None}
        self._send({"t": "collected", "ids": [item.nodeid for item in items],
                    "requirements": requirements, "errors": self._errors})
        last: Any = None  # the item run last here, whose teardown may still be owed
        for line in self._cmd:
            command = json.loads(line)
            if command.get("stop"):
                break
            wanted = command.get("run", ())
            for missing in (n for n in wanted if n not in index):
                self._send({"t": "report", "r": {
                    "nodeid": missing, "when": "setup", "outcome": "failed", "category": "error",
                    "wasxfail": None, "duration_s": 0.0, "sections": [], "location": [missing, None, missing],
                    "longrepr": "this worker's pytest did not collect this test",
                    "message": "this worker's pytest did not collect this test"}})
            batch = [items[index[n]] for n in wanted if n in index]
            hint = command.get("next")
            for i, item in enumerate(batch):
                if last is not None and _stale(session, item):
                    # module/class fixtures kept for a test that ran elsewhere: tear them down now,
                    # reporting any error against the test that set them up last
                    self._teardown(session, last, item)
                if i + 1 < len(batch):
                    nextitem = batch[i + 1]
                elif hint in index:
                    nextitem = items[index[hint]]
                else:
                    following = index[item.nodeid] + 1
                    nextitem = items[following] if following < len(items) else None
                self._running = []
                try:
                    item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                finally:
                    reports, self._running = self._running, None
                    self._send({"t": "done", "id": item.nodeid, "r": reports})
                last = item
            self._send({"t": "idle"})
        if last is not None and session._setupstate.stack:
            self._teardown(session, last, None)  # session fixtures, reported
        return True

    def _teardown(self, session: Any, last: Any, nextitem: Any) -> None:
        """Tear fixtures down towards `nextitem` outside a test's own protocol (its own teardown
        already ran and reported); an error becomes a teardown report of the test run last."""
        call = CallInfo.from_call(lambda: session._setupstate.teardown_exact(nextitem), "teardown")
        if call.excinfo is not None:
            report = TestReport.from_item_and_call(last, call)
            self._send({"t": "report", "r": phase_report(report)})


def _stale(session: Any, item: Any) -> bool:
    """Whether fixtures are set up for collectors that `item` does not descend from."""
    needed = item.listchain()
    stack = list(session._setupstate.stack)
    return stack != needed[: len(stack)]


@pytest.hookimpl(trylast=True)  # after the terminal plugin has made its reporter
def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    cmd_fd, out_fd = os.environ.get(CMD_FD_ENV), os.environ.get(OUT_FD_ENV)
    if cmd_fd is None or out_fd is None or config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    cmd = os.fdopen(int(cmd_fd), "r", encoding="utf-8")
    out = os.fdopen(int(out_fd), "w", encoding="utf-8")
    config.pluginmanager.register(MeshSessionPlugin(cmd, out), PLUGIN_NAME)
    # Nobody reads this process's terminal output (mesh test prints pytest's report itself), and
    # end-of-session summaries (hypothesis's takes 0.65 s) cost more than short tests. The
    # reporter goes, its options (-q, -v, -r, --tb ...) stay, so the user's pytest args still parse.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        config.pluginmanager.unregister(reporter, "terminalreporter")

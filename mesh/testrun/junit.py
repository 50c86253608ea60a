"""JUnit XML for `mesh test`: the document pytest's junitxml (family xunit2) writes, built from
phase reports (`mesh.testrun.reports`), so CI systems read `mesh test --junitxml` as they read
pytest's. No I/O beyond the file it is handed."""

from __future__ import annotations

import datetime
import platform
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable

from mesh.testrun.output import crash_message
from mesh.testrun.reports import Report, category

_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\x80-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    return _NOT_XML.sub(lambda m: f"#x{ord(m.group()):02X}", str(value))


def junit_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) as pytest's junitxml derives them: `a/test_b.py::TestC::test_d[x::y]`
    -> ("a.test_b.TestC", "test_d[x::y]")."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


class _JunitCase:
    __slots__ = ("children", "duration", "name", "report")

    def __init__(self, report: Report) -> None:
        self.name = junit_names(str(report.get("nodeid", "")))
        self.duration = 0.0
        self.children: list[ET.Element] = []
        self.report = report  # the latest one: its sections hold all the captured output

    def element(self, with_output: bool) -> ET.Element:
        case = ET.Element("testcase", classname=xml_text(self.name[0]), name=xml_text(self.name[1]))
        case.set("time", f"{self.duration:.3f}")
        case.extend(self.children)
        if with_output:
            for tag, prefix, header in (
                ("system-out", "Captured stdout", " Captured Out "),
                ("system-err", "Captured stderr", " Captured Err "),
            ):
                text = "".join(c for t, c in self.report.get("sections") or () if t.startswith(prefix))
                if text:
                    ET.SubElement(case, tag).text = xml_text(f"{header.center(80, '-')}\n{text}\n")
        return case


class _JunitLog:
    """pytest's LogXML replayed over phase reports (one testcase per (node id, worker); a test
    that fails in call and errors in teardown gets a second testcase for the error, as pytest)."""

    def __init__(self) -> None:
        self.cases: list[_JunitCase] = []
        self.open: dict[tuple[str, str], _JunitCase] = {}
        self.failed_calls: set[tuple[str, str]] = set()
        self.stats = dict.fromkeys(("error", "failure", "skipped", "passed"), 0)
        self.double_failures = 0

    def case(self, report: Report) -> _JunitCase:
        key = (str(report.get("nodeid", "")), str(report.get("worker") or ""))
        case = self.open.get(key)
        if case is None:
            case = self.open[key] = _JunitCase(report)
            self.cases.append(case)
        case.report = report
        return case

    def close(self, report: Report) -> None:
        key = (str(report.get("nodeid", "")), str(report.get("worker") or ""))
        self.open.pop(key, None)
        self.failed_calls.discard(key)

    def add(self, case: _JunitCase, tag: str, message: str, text: str | None = None, **attrs: str) -> None:
        if tag in self.stats:
            self.stats[tag] += 1
        node = ET.Element(tag, attrs, message=xml_text(message))
        if text is not None:
            node.text = xml_text(text)
        case.children.append(node)

    def record(self, report: Report) -> None:
        when, outcome = report.get("when"), report.get("outcome")
        text = str(report.get("longrepr") or "").strip()
        if when == "collect":
            if outcome == "failed" or report.get("category") == "error":
                self.add(self.case(report), "error", "collection failure", text)
            elif outcome == "skipped":
                self.add(self.case(report), "skipped", "collection skipped", text)
            return
        if report.get("category"):
            self.record_verdict(report, text)
            return
        key = (str(report.get("nodeid", "")), str(report.get("worker") or ""))
        if outcome == "passed" and when == "call":
            self.case(report)
            self.stats["passed"] += 1
        elif outcome == "failed":
            if when == "teardown" and key in self.failed_calls:
                self.close(report)  # the call's failure keeps its testcase, the error gets one
                self.double_failures += 1
            case = self.case(report)
            message = crash_message(report)
            if when == "call":
                self.add(case, "failure", text if message is None else message, text)
                self.failed_calls.add(key)
            else:
                phase = "teardown" if when == "teardown" else "setup"
                reason = text if message is None else message
                self.add(case, "error", f'failed on {phase} with "{reason}"', text)
        elif outcome == "skipped":
            self.skipped(self.case(report), report)
        self.case(report).duration += float(report.get("duration_s") or 0.0)
        if when == "teardown":
            self.close(report)

    def skipped(self, case: _JunitCase, report: Report) -> None:
        wasxfail = report.get("wasxfail")
        if wasxfail is not None:
            self.add(case, "skipped", str(wasxfail).removeprefix("reason: "), type="pytest.xfail")
            return
        reason = str(report.get("longrepr") or "").removeprefix("Skipped: ")
        path, lineno = [*(report.get("location") or ()), None, None][:2]
        where = f"{path}:{lineno + 1}: " if path and lineno is not None else ""
        self.add(case, "skipped", reason, where + reason, type="pytest.skip")

    def record_verdict(self, report: Report, text: str) -> None:
        """A report mesh made itself (crash, timeout, no worker): its category decides."""
        case = self.case(report)
        case.duration += float(report.get("duration_s") or 0.0)
        cat = category(report)
        message = crash_message(report) or text
        if cat in ("passed", "xpassed"):
            self.stats["passed"] += 1
        elif cat == "skipped":
            self.add(case, "skipped", message, text, type="pytest.skip")
        elif cat == "xfailed":
            self.add(case, "skipped", str(report.get("wasxfail") or message), type="pytest.xfail")
        elif cat == "failed":
            self.add(case, "failure", message, text)
        else:
            self.add(case, "error", message, text)
        self.close(report)


def render_junit(
    reports: Iterable[Report],
    *,
    duration_s: float,
    collection_errors: Iterable[Report] = (),
    hostname: str | None = None,
    suite_name: str = "pytest",
    started_at: float | None = None,
    with_output: bool = True,
) -> str:
    """The JUnit XML document pytest's junitxml (family xunit2) writes for these reports.

    xunit2 allows no per-testcase `<properties>` nor file/line attributes, so the worker that ran
    a test is not recorded. `with_output`: captured stdout/stderr as `<system-out>`/`<system-err>`
    (pytest's `junit_logging=out-err` layout, written only when not empty). `started_at`: epoch
    seconds (default: now less `duration_s`)."""
    log = _JunitLog()
    for report in [*collection_errors, *reports]:
        log.record(report)
    stats = log.stats
    started = time.time() - duration_s if started_at is None else started_at
    suite = ET.Element(
        "testsuite",
        name=suite_name,
        errors=str(stats["error"]),
        failures=str(stats["failure"]),
        skipped=str(stats["skipped"]),
        tests=str(sum(stats.values()) - log.double_failures),
        time=f"{duration_s:.3f}",
        timestamp=datetime.datetime.fromtimestamp(started).astimezone().isoformat(),
        hostname=platform.node() if hostname is None else hostname,
    )
    suite.extend(case.element(with_output) for case in log.cases)
    suites = ET.Element("testsuites", name="pytest tests")
    suites.append(suite)
    return '<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(suites, encoding="unicode")


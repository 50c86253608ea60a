"""`mesh.testrun.output` against pytest itself: the sample suite is run by plain pytest, and again
with a small plugin that writes our phase reports; what output.py makes of those reports must
read as what pytest printed and wrote (summary, JUnit XML, exit code, -q progress)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from actors.executors.pytest_process import PLUGIN_DIR
from mesh.testrun.junit import junit_names, render_junit
from mesh.testrun.output import Progress, crash_message, exit_code, render_summary, sep_line
from mesh.testrun.reports import Report, counts, row_outcome

SAMPLE_SUITE = Path(__file__).parent / "sample_suite"
SAMPLE_TESTS = 47  # sample_suite/README.md
SAMPLE_SERIAL = {"failed": 7, "passed": 28, "skipped": 6, "xfailed": 4, "xpassed": 1, "error": 3}

# Loaded with `-p mesh_phase_dump`: each TestReport and failed CollectReport as the phase report
# a `mesh test` lease's pytest makes of it (mesh_session.phase_report, on the PYTHONPATH).
DUMP_PLUGIN = """
import json, os
from mesh_session import phase_report

_out = None


def pytest_configure(config):
    global _out
    _out = open(os.environ["MESH_PHASE_REPORTS"], "w", encoding="utf-8")


def pytest_unconfigure(config):
    if _out is not None:
        _out.close()


def _write(report):
    _out.write(json.dumps({**phase_report(report), "worker": "local"}) + "\\n")
    _out.flush()


def pytest_runtest_logreport(report):
    _write(report)


def pytest_collectreport(report):
    if report.failed or (report.skipped and os.environ.get("MESH_PHASE_COLLECT_SKIPS") == "1"):
        _write(report)
"""

BROKEN_SUITE = {
    "pytest.ini": "[pytest]\n",
    "test_imp.py": "import nope_not_installed_anywhere\n",
    "test_rt.py": 'raise RuntimeError("boom at import")\n',
    "test_syn.py": "def test_x(:\n    pass\n",
    "test_ok.py": "def test_ok():\n    assert 1 + 1 == 2\n",
}


@dataclass
class PytestRun:
    returncode: int
    stdout: str
    junit: ET.Element
    reports: list[Report]


def run_pytest(
    suite: Path, tmp: Path, *args: str, dump: bool, env: dict[str, str] | None = None
) -> PytestRun:
    (tmp / "mesh_phase_dump.py").write_text(DUMP_PLUGIN, encoding="utf-8")
    reports_path, junit_path = tmp / "reports.jsonl", tmp / "junit.xml"
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "MESH_SAMPLE_")) and k not in ("CI", "BUILD_NUMBER", "COLUMNS")
    }
    clean.update(
        COLUMNS="80",
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join([str(tmp), str(PLUGIN_DIR)]),
        MESH_PHASE_REPORTS=str(reports_path),
        **(env or {}),
    )
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit_path}", *args]
    if dump:
        command += ["-p", "mesh_phase_dump"]
    done = subprocess.run(command, cwd=suite, env=clean, capture_output=True, text=True, timeout=120)
    reports = []
    if dump:
        reports = [json.loads(line) for line in reports_path.read_text(encoding="utf-8").splitlines()]
    return PytestRun(done.returncode, done.stdout, ET.parse(junit_path).getroot(), reports)


@pytest.fixture(scope="module")
def sample_plain(tmp_path_factory: pytest.TempPathFactory) -> PytestRun:
    """Plain pytest on the sample suite (default verbosity, so the summary has its `===`)."""
    return run_pytest(SAMPLE_SUITE, tmp_path_factory.mktemp("plain"), dump=False)


@pytest.fixture(scope="module")
def sample_dumped(tmp_path_factory: pytest.TempPathFactory) -> PytestRun:
    """The same suite under `pytest -q` with the phase-report plugin."""
    return run_pytest(SAMPLE_SUITE, tmp_path_factory.mktemp("dumped"), "-q", dump=True)


@pytest.fixture(scope="module")
def broken_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[PytestRun, PytestRun]:
    suite = tmp_path_factory.mktemp("broken_suite")
    for name, text in BROKEN_SUITE.items():
        (suite / name).write_text(text, encoding="utf-8")
    plain = run_pytest(suite, tmp_path_factory.mktemp("broken_plain"), dump=False)
    dumped = run_pytest(suite, tmp_path_factory.mktemp("broken_dumped"), "-q", dump=True)
    return plain, dumped


def final_line(stdout: str) -> str:
    return stdout.rstrip("\n").rsplit("\n", 1)[-1]


def parse_final_line(line: str) -> tuple[dict[str, int], float]:
    """`=== 1 failed, 2 errors in 0.12s ===` -> ({"failed": 1, "error": 2}, 0.12)."""
    text, duration = re.fullmatch(r"=* ?(.*) in (\d+\.\d+)s ?=*", line).groups()  # type: ignore[union-attr]
    found = {}
    for part in text.split(", "):
        n, noun = part.split(" ", 1)
        found[{"errors": "error", "warning": "warnings"}.get(noun, noun)] = int(n)
    return found, float(duration)


def summary_part(stdout: str) -> list[str]:
    """pytest's output from its first summary section on, less junitxml's own line, with object
    addresses (which differ from run to run) blanked."""
    lines = stdout.rstrip("\n").split("\n")
    starts = {sep_line("=", t) for t in ("ERRORS", "FAILURES", "short test summary info")}
    first = next(i for i, line in enumerate(lines) if line in starts)
    return [re.sub(r"0x[0-9a-f]+", "0x?", line) for line in lines[first:] if "generated xml file" not in line]


def junit_digest(root: ET.Element) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    suite = root.find("testsuite")
    assert suite is not None
    totals = {k: suite.get(k, "") for k in ("errors", "failures", "skipped", "tests")}
    cases = []
    for case in suite.iter("testcase"):
        outcomes = [
            (c.tag, c.get("type"), c.get("message"), re.sub(r"0x[0-9a-f]+", "0x?", c.text or ""))
            for c in case
            if c.tag in ("failure", "error", "skipped")
        ]
        # a skip's text names the absolute path of the skip; phase reports keep the relative one
        outcomes = [o if o[0] != "skipped" else o[:3] for o in outcomes]
        cases.append((case.get("classname"), case.get("name"), outcomes))
    return totals, cases


def collect_errors(reports: list[Report]) -> list[Report]:
    return [r for r in reports if r["when"] == "collect"]


def test_sample_suite_counts_match_pytest_summary_line(
    sample_plain: PytestRun, sample_dumped: PytestRun
) -> None:
    pytest_counts, _ = parse_final_line(final_line(sample_plain.stdout))
    assert pytest_counts == SAMPLE_SERIAL
    assert dict(counts(sample_dumped.reports)) == pytest_counts
    assert f"collected {SAMPLE_TESTS} items" in sample_plain.stdout


def test_final_line_matches_pytest_but_for_the_time(
    sample_plain: PytestRun, sample_dumped: PytestRun
) -> None:
    theirs = final_line(sample_plain.stdout)
    _, duration = parse_final_line(theirs)
    assert final_line(render_summary(sample_dumped.reports, duration_s=duration)) == theirs
    slower = final_line(render_summary(sample_dumped.reports, duration_s=12.5))
    assert slower.strip("= ") == re.sub(r"in \d+\.\d+s", "in 12.50s", theirs.strip("= "))
    assert len(slower) == 80


def test_summary_reads_as_pytest_printed_it(sample_plain: PytestRun, sample_dumped: PytestRun) -> None:
    _, duration = parse_final_line(final_line(sample_plain.stdout))
    ours = render_summary(sample_dumped.reports, duration_s=duration)
    assert summary_part(ours) == summary_part(sample_plain.stdout)
    # what the comparison covers, spelled out
    assert "___ ERROR at setup of test_error_in_fixture_setup ___" in ours
    assert "___ ERROR at teardown of test_error_in_fixture_teardown ___" in ours
    assert "___ TestTextUtils.test_title_case[x-ray-X-ray] ___" in ours
    assert "--- Captured stderr call ---" in ours and "stderr from the test" in ours
    assert "FAILED test_outcomes.py::test_xpass_strict - [XPASS(strict)] must fail until ..." in ours


def test_junit_matches_pytest_junitxml(sample_plain: PytestRun, sample_dumped: PytestRun) -> None:
    ours = ET.fromstring(render_junit(sample_dumped.reports, duration_s=1.0).encode())
    ours_totals, ours_cases = junit_digest(ours)
    theirs_totals, theirs_cases = junit_digest(sample_plain.junit)
    assert ours_totals == theirs_totals
    assert ours_cases == theirs_cases
    # a failing call and an erroring teardown: two testcases, as pytest writes them
    names = [name for _, name, _ in ours_cases]
    assert names.count("test_failure_then_error_in_teardown") == 2
    skip_types = {o[1] for _, _, outcomes in ours_cases for o in outcomes if o[0] == "skipped"}
    assert skip_types == {"pytest.skip", "pytest.xfail"}


def test_junit_captured_output_as_pytest_out_err(tmp_path: Path, sample_dumped: PytestRun) -> None:
    out = run_pytest(SAMPLE_SUITE, tmp_path, "-q", "-o", "junit_logging=out-err", dump=False)

    def captured(root: ET.Element) -> dict[tuple[str | None, str], str]:
        # pytest writes an empty section (just its header) for every test; ours only non-empty ones
        return {
            (case.get("name"), c.tag): c.text or ""
            for case in root.iter("testcase")
            for c in case
            if c.tag in ("system-out", "system-err") and (c.text or "").strip("\n").count("\n")
        }

    ours = captured(ET.fromstring(render_junit(sample_dumped.reports, duration_s=1.0).encode()))
    assert ours == captured(out.junit)
    assert "stdout from the test" in ours[("test_failure_with_captured_output", "system-out")]


def test_exit_code_matches_pytest(sample_plain: PytestRun, sample_dumped: PytestRun) -> None:
    assert sample_plain.returncode == 1
    assert exit_code(sample_dumped.reports, collection_errors=0) == sample_plain.returncode


def test_progress_off_a_terminal_prints_what_pytest_q_prints(sample_dumped: PytestRun) -> None:
    stream = io.StringIO()
    progress = Progress(stream, SAMPLE_TESTS, tty=False)
    for report in sample_dumped.reports:
        progress.update(report)
    progress.close()
    pytest_progress = sample_dumped.stdout.split("\n=", 1)[0] + "\n"
    assert stream.getvalue() == pytest_progress
    assert pytest_progress.endswith("[100%]\n")


def test_collection_errors_read_as_pytest(broken_runs: tuple[PytestRun, PytestRun]) -> None:
    plain, dumped = broken_runs
    errors = collect_errors(dumped.reports)
    assert [r["nodeid"] for r in errors] == ["test_imp.py", "test_rt.py", "test_syn.py"]
    _, duration = parse_final_line(final_line(plain.stdout))
    interrupted = "Interrupted: 3 errors during collection"
    ours = render_summary([], duration_s=duration, collection_errors=errors, interrupted=interrupted)
    assert summary_part(ours) == summary_part(plain.stdout)
    assert "ERROR test_rt.py - RuntimeError: boom at import" in ours.splitlines()
    assert "ERROR test_imp.py" in ours.splitlines()  # pytest shows no message for import errors
    junit = ET.fromstring(render_junit([], collection_errors=errors, duration_s=1.0).encode())
    assert junit_digest(junit) == junit_digest(plain.junit)
    assert exit_code([], collection_errors=len(errors)) == plain.returncode == 2


def test_module_level_skip_counts_as_pytest(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (suite / "test_skipmod.py").write_text(
        'import pytest\npytest.importorskip("nope_not_installed_anywhere")\n\ndef test_a():\n    pass\n',
        encoding="utf-8",
    )
    (suite / "test_ok.py").write_text("def test_ok():\n    pass\n", encoding="utf-8")
    run = run_pytest(suite, tmp_path, dump=True, env={"MESH_PHASE_COLLECT_SKIPS": "1"})
    pytest_counts, _ = parse_final_line(final_line(run.stdout))
    assert pytest_counts == {"passed": 1, "skipped": 1}
    assert dict(counts(run.reports)) == pytest_counts


# --- Progress on its own ---------------------------------------------------------------------


def phases(nodeid: str, call: str = "passed", **extra: Any) -> list[Report]:
    base = {"nodeid": nodeid, "wasxfail": None, "duration_s": 0.001, "longrepr": "", "sections": []}
    return [
        {**base, "when": "setup", "outcome": "passed"},
        {**base, "when": "call", "outcome": call, **extra},
        {**base, "when": "teardown", "outcome": "passed"},
    ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_wraps_like_pytest_q() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 100, tty=False)
    for i in range(100):
        for report in phases(f"t.py::test_{i}"):
            progress.update(report)
    progress.close()
    lines = stream.getvalue().split("\n")
    assert lines[0] == "." * 72 + " [ 72%]"
    assert lines[1] == "." * 28 + " " * 44 + " [100%]"
    assert lines[2:] == [""]


def test_progress_letters_for_each_outcome() -> None:
    stream = io.StringIO()
    progress = Progress(stream, 7, tty=False)
    reports = [
        *phases("t.py::ok"),
        *phases("t.py::bad", "failed"),
        *phases("t.py::gone", "skipped"),
        *phases("t.py::xf", "skipped", wasxfail="bug"),
        *phases("t.py::xp", "passed", wasxfail="bug"),
        {"nodeid": "t.py::setup_err", "when": "setup", "outcome": "failed", "longrepr": "boom"},
        {"nodeid": "t.py::crash", "when": "call", "outcome": "failed", "category": "error"},
    ]
    for report in reports:
        progress.update(report)
    progress.close()
    assert stream.getvalue() == ".FsxXEE".ljust(72) + " [100%]\n"


def test_progress_bar_on_a_terminal_counts_finished_tests() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(stream, 10, tty=True, clock=clock)
    setup, call, teardown = phases("t.py::a", "failed")
    progress.update(setup)
    progress.update(call)
    assert progress.finished == 0  # a call report alone does not finish a test
    clock.now += 4.2
    progress.update(teardown)
    assert progress.finished == 1
    assert stream.getvalue().rsplit("\r", 1)[-1] == "[##..................] 1/10  1 failed  0 errors  0:04"
    clock.now += 61
    crash = {"nodeid": "t.py::b", "when": "call", "outcome": "failed", "category": "error"}
    progress.update(crash)  # mesh's verdict on a crashed test finishes it too
    progress.close()
    assert stream.getvalue().endswith("\r[####................] 2/10  1 failed  1 error  1:05\n")


def test_progress_bar_redraws_at_most_ten_times_a_second() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(stream, 10_000, tty=True, clock=clock)
    for i in range(1000):
        for report in phases(f"t.py::test_{i}"):
            progress.update(report)
    assert stream.getvalue().count("\r") == 1
    clock.now += 0.05
    progress.update(phases("t.py::late")[2])
    assert stream.getvalue().count("\r") == 1
    clock.now += 0.06
    progress.update(phases("t.py::later")[2])
    assert stream.getvalue().count("\r") == 2
    assert stream.getvalue().endswith(" 1002/10000  0 failed  0 errors  0:00")


def test_progress_message_goes_above_the_bar() -> None:
    stream, clock = io.StringIO(), FakeClock()
    progress = Progress(stream, 2, tty=True, clock=clock)
    progress.update(phases("t.py::a")[2])
    progress.message("worker w3 lost")
    before, after = stream.getvalue().rsplit("worker w3 lost\n", 1)
    assert before.endswith("\r")
    assert after == "\r[##########..........] 1/2  0 failed  0 errors  0:00"


@pytest.mark.parametrize("tty", [False, True])
def test_progress_update_is_cheap(tty: bool) -> None:
    reports = [r for i in range(20_000) for r in phases(f"tests/test_mod.py::test_{i}")]
    progress = Progress(io.StringIO(), 20_000, tty=tty)
    started = time.perf_counter()
    for report in reports:
        progress.update(report)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"{len(reports)} updates took {elapsed:.2f}s"  # ~0.1 s here


# --- summary, exit code and JUnit for what only mesh makes --------------------------------------

CRASH = {
    "nodeid": "tests/test_gpu.py::test_kernel[big]",
    "when": "call",
    "outcome": "failed",
    "wasxfail": None,
    "duration_s": 3.5,
    "longrepr": "worker w2 died (SIGKILL) while running this test\nlast output: allocating 12 GiB",
    "sections": [],
    "location": ["tests/test_gpu.py", 10, "test_kernel[big]"],
    "worker": "w2",
    "category": "error",
}
TIMEOUT = {
    **CRASH,
    "nodeid": "tests/test_io.py::test_slow",
    "category": "failed",
    "location": None,
    "longrepr": "timed out after 30s",
}


def test_summary_of_mesh_made_reports() -> None:
    text = render_summary(
        [*phases("tests/test_a.py::test_ok"), CRASH, TIMEOUT],
        duration_s=61.0,
        no_worker={"tests/test_gpu.py::test_h100": "needs hardware=['cuda'], min_memory_gb=80"},
        worker_summary={"w2": "gpu-box (cuda)"},
    )
    lines = text.splitlines()
    assert sep_line("_", "ERROR at call of test_kernel[big]") in lines
    assert sep_line("_", "tests/test_io.py::test_slow") in lines  # no location: the node id
    assert "tests/test_gpu.py::test_h100: needs hardware=['cuda'], min_memory_gb=80" in lines
    assert "w2: 2 tests, 2 failing, 7.00s busy - gpu-box (cuda)" in lines
    assert "FAILED tests/test_io.py::test_slow - timed out after 30s" in lines
    # the first line of the message, cut to 80 columns as pytest cuts it off CI
    assert "ERROR tests/test_gpu.py::test_kernel[big] - worker w2 died (SIGKILL) while ru..." in lines
    assert lines[-1] == sep_line("=", "1 failed, 1 passed, 1 error in 61.00s (0:01:01)")
    assert lines.index(sep_line("=", "short test summary info")) > lines.index(sep_line("=", "mesh workers"))


def test_summary_lists_unplaced_tests_and_workers_as_given() -> None:
    text = render_summary(
        [], duration_s=0.5, no_worker=["t.py::test_gpu"], worker_summary="w1: 0 tests\nw2: 0 tests\n"
    )
    assert text.splitlines() == [
        sep_line("=", "tests no worker can run"),
        "t.py::test_gpu",
        sep_line("=", "mesh workers"),
        "w1: 0 tests",
        "w2: 0 tests",
        sep_line("=", "no tests ran in 0.50s"),
    ]


def test_summary_when_nothing_ran() -> None:
    assert render_summary([], duration_s=0.01) == sep_line("=", "no tests ran in 0.01s") + "\n"
    assert sep_line("=", "no tests ran in 0.01s") == "=" * 28 + " no tests ran in 0.01s " + "=" * 29


def test_summary_pluralizes_errors_only() -> None:
    errs = [{**CRASH, "nodeid": f"t.py::e{i}"} for i in range(2)]
    assert "2 errors in" in render_summary(errs, duration_s=1)
    assert "1 error in" in render_summary(errs[:1], duration_s=1)
    fails = [{**TIMEOUT, "nodeid": f"t.py::f{i}"} for i in range(2)]
    assert "2 failed in" in render_summary(fails, duration_s=1)


def test_crash_message_reads_the_last_exception_block() -> None:
    longrepr = (
        "    def test_x():\n>       f()\n\nt.py:2: \n_ _ _\n\n    def f():\n>       raise KeyError('a')\n"
        "E       KeyError: 'a'\n\nt.py:5: KeyError\n\nThe above exception was the direct cause of the "
        "following exception:\n\n>   raise ValueError('two\\nlines')\n"
        "E   ValueError: two\nE   lines\n\nt.py:9: ValueError"
    )
    assert crash_message({"when": "call", "longrepr": longrepr}) == "ValueError: two\nlines"
    assert crash_message({"when": "call", "longrepr": "[XPASS(strict)] why"}) is None
    assert crash_message({"when": "call", "longrepr": longrepr, "message": "exact"}) == "exact"


@pytest.mark.parametrize(
    ("reports", "collection_errors", "interrupted", "code"),
    [
        ([], 0, False, 5),
        (phases("t.py::a", "skipped"), 0, False, 0),
        (phases("t.py::a", "skipped", wasxfail="") + phases("t.py::b", "passed", wasxfail=""), 0, False, 0),
        (phases("t.py::a"), 0, False, 0),
        ([*phases("t.py::a"), CRASH], 0, False, 1),
        (phases("t.py::a", "failed"), 0, True, 2),
        (phases("t.py::a"), 1, False, 2),
        ([{"nodeid": "t.py::a", "when": "call", "category": "deselected"}], 0, False, 5),
    ],
    ids=["none", "skipped", "xfails", "passed", "mesh-error", "interrupted", "collect-err", "deselected"],
)
def test_exit_code_follows_pytest(
    reports: list[Report], collection_errors: int, interrupted: bool, code: int
) -> None:
    assert exit_code(reports, collection_errors=collection_errors, interrupted=interrupted) == code


@pytest.mark.parametrize(
    ("nodeid", "names"),
    [
        ("tests/test_a.py::test_b", ("tests.test_a", "test_b")),
        ("tests/test_a.py::TestX::test_y[1-a::b]", ("tests.test_a.TestX", "test_y[1-a::b]")),
        ("test_mod.py", ("", "test_mod")),
    ],
)
def test_junit_names_follow_pytest(nodeid: str, names: tuple[str, str]) -> None:
    assert junit_names(nodeid) == names


def test_junit_of_mesh_made_reports_escapes_what_xml_forbids(tmp_path: Path) -> None:
    bell = {**CRASH, "longrepr": "worker w2 died\x07 while running this test"}
    path = tmp_path / "out" / "junit.xml"
    path.parent.mkdir()
    path.write_text(render_junit([*phases("t.py::ok"), bell, TIMEOUT], duration_s=2.0, hostname="ci-1",
                                 started_at=0.0), encoding="utf-8")
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("errors", "failures", "tests", "hostname", "time")} == {
        "errors": "1",
        "failures": "1",
        "tests": "3",
        "hostname": "ci-1",
        "time": "2.000",
    }
    assert suite.get("timestamp", "").startswith(("1970-01-01T", "1969-12-31T"))
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    error = cases["test_kernel[big]"].find("error")
    assert error is not None and error.get("message") == "worker w2 died#x07 while running this test"
    failure = cases["test_slow"].find("failure")
    assert failure is not None and failure.get("message") == "timed out after 30s"
    assert cases["test_kernel[big]"].get("classname") == "tests.test_gpu"
    assert cases["test_kernel[big]"].find("properties") is None  # xunit2 has no per-test properties


@pytest.mark.parametrize(("categories", "outcome"), [
    ([], "passed"), (["passed"], "passed"), (["passed", "error"], "error"), (["failed", "error"], "failed"),
    (["error"], "error"), (["skipped"], "skipped"), (["xfailed"], "xfailed"), (["xpassed"], "xpassed"),
])
def test_one_row_per_test_takes_the_outcome_that_matters(categories: list[str], outcome: str) -> None:
    """The result store's row of a test (both the `test` executor and `mesh test` leases): a
    teardown that errors after a passing call makes the test an error, as pytest counts it."""
    assert row_outcome(categories) == outcome

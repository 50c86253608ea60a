"""The test executor: exact per-test outcomes from a real pytest subprocess, even when killed."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from actors.executors.base import ExecutionResult, executor_for
from tests.executors.conftest import make_request, run_async

pytestmark = pytest.mark.timeout(60)

SUITE = """
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture exploded")

@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")

def test_pass():
    assert sorted([3, 1, 2]) == [1, 2, 3]

def test_fail():
    assert 1 == 2, "one is not two"

def test_fixture_error(broken):
    pass

def test_teardown_error(bad_teardown):
    pass

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    assert "mesh".upper() == "MESH"

@pytest.mark.parametrize("n", [1, 2, 3])
def test_param(n):
    assert n != 2
"""

EXPECTED = {
    "test_suite.py::test_pass": "passed",
    "test_suite.py::test_fail": "failed",
    "test_suite.py::test_fixture_error": "error",
    "test_suite.py::test_teardown_error": "error",
    "test_suite.py::test_skip": "skipped",
    "test_suite.py::test_xfail": "xfailed",
    "test_suite.py::test_xpass": "xpassed",
    "test_suite.py::test_param[1]": "passed",
    "test_suite.py::test_param[2]": "failed",
    "test_suite.py::test_param[3]": "passed",
}


def run_tests(work_dir: Path, config: dict, timeout_s: float | None = 30.0) -> ExecutionResult:
    request = make_request(work_dir, "test", config, timeout_s)
    return run_async(executor_for("test").run(request, asyncio.Event()))


def write(work_dir: Path, name: str, source: str) -> None:
    (work_dir / name).write_text(textwrap.dedent(source))


def test_every_kind_of_outcome_is_reported_exactly(work_dir: Path) -> None:
    write(work_dir, "test_suite.py", SUITE)
    result = run_tests(work_dir, {"test_file": "test_suite.py", "test_args": ["-q"]})
    assert result.outcome == "failed"
    assert result.exit_code == 1
    outcomes = {o["nodeid"]: o["outcome"] for o in result.test_outcomes}
    assert outcomes == EXPECTED
    assert len(result.test_outcomes) == len(EXPECTED)  # one line per test
    by_id = {o["nodeid"]: o for o in result.test_outcomes}
    assert "one is not two" in by_id["test_suite.py::test_fail"]["longrepr"]
    assert "fixture exploded" in by_id["test_suite.py::test_fixture_error"]["longrepr"]
    assert "teardown exploded" in by_id["test_suite.py::test_teardown_error"]["longrepr"]
    assert "not today" in by_id["test_suite.py::test_skip"]["longrepr"]
    assert all(o["duration_s"] >= 0 for o in result.test_outcomes)
    assert "failed" in result.stdout_tail  # pytest's own summary is captured


def test_all_passing_is_completed_and_args_are_passed(work_dir: Path) -> None:
    write(work_dir, "test_suite.py", SUITE)
    result = run_tests(
        work_dir, {"test_file": "test_suite.py", "test_args": ["-k", "test_pass or param and 1"]}
    )
    assert result.outcome == "completed", result.stdout_tail
    assert result.exit_code == 0
    assert {o["nodeid"]: o["outcome"] for o in result.test_outcomes} == {
        "test_suite.py::test_pass": "passed",
        "test_suite.py::test_param[1]": "passed",
    }


def test_longrepr_is_truncated(work_dir: Path) -> None:
    write(work_dir, "test_long.py", "def test_long():\n    assert 'x' * 5000 == 'y'\n")
    result = run_tests(work_dir, {"test_file": "test_long.py", "longrepr_limit": 300})
    (entry,) = result.test_outcomes
    assert entry["outcome"] == "failed"
    assert len(entry["longrepr"]) <= 300
    assert entry["longrepr"].endswith("[truncated]")


def test_no_tests_collected_is_failed_with_a_clear_error(work_dir: Path) -> None:
    write(work_dir, "test_empty.py", "x = 1\n")
    result = run_tests(work_dir, {"test_file": "test_empty.py"})
    assert result.outcome == "failed"
    assert result.exit_code == 5
    assert result.error == "no tests collected"
    assert result.test_outcomes == []


def test_collection_error_is_reported_as_error(work_dir: Path) -> None:
    write(work_dir, "test_broken.py", "import no_such_module_here\n\ndef test_x():\n    pass\n")
    result = run_tests(work_dir, {"test_file": "test_broken.py"})
    assert result.outcome == "failed"
    assert [o["outcome"] for o in result.test_outcomes] == ["error"]
    assert "no_such_module_here" in result.test_outcomes[0]["longrepr"]


def test_killed_mid_run_still_returns_finished_tests(work_dir: Path) -> None:
    write(
        work_dir,
        "test_slow.py",
        """
        import time

        def test_first():
            pass

        def test_second():
            assert False

        def test_hangs():
            time.sleep(30)

        def test_never_reached():
            pass
        """,
    )
    result = run_tests(work_dir, {"test_file": "test_slow.py", "kill_grace_s": 0.5}, timeout_s=4.0)
    assert result.outcome == "timed_out"
    assert {o["nodeid"]: o["outcome"] for o in result.test_outcomes} == {
        "test_slow.py::test_first": "passed",
        "test_slow.py::test_second": "failed",
    }


def test_missing_test_file_config_is_an_error(work_dir: Path) -> None:
    assert run_tests(work_dir, {}).outcome == "error"

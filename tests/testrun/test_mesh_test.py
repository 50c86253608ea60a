"""`mesh test` end to end with real processes: an embedded mesh (or a mesh of separate nodes), the
sample suite, and plain pytest on the same suite as the reference."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.processes import MeshProcesses, eventually
from transports.protocol import TestDurationsRequest

SAMPLE = Path(__file__).resolve().parent / "sample_suite"
CUDA_TEST = "system/test_process.py::test_needs_cuda_worker"


def junit_outcomes(path: Path) -> dict[str, list[str]]:
    """classname::name -> the outcomes its testcase elements say (pytest's xunit2 encoding)."""
    out: dict[str, list[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        key = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag if child.tag != "skipped" else child.get("type", "pytest.skip")
                 for child in case if child.tag in ("failure", "error", "skipped")]
        out.setdefault(key, []).extend(kinds or ["passed"])
    return {k: sorted(v) for k, v in out.items()}


def slow_suite(tmp_path: Path, *, tests: int, sleep_s: float, mark: str) -> tuple[Path, Path]:
    """A suite of `tests` tests that each sleep, and touch a file named by `mark` (an expression:
    "i" for the test's index, "os.getpid()" for its process) in the folder MESH_TEST_MARKS names."""
    suite, marks = tmp_path / "slow", tmp_path / "marks"
    suite.mkdir()
    marks.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_slow.py").write_text(
        f"import os, time\nimport pytest\n\n@pytest.mark.parametrize('i', range({tests}))\n"
        f"def test_slow(i):\n    open(os.environ['MESH_TEST_MARKS'] + f'/{{{mark}}}', 'w').close()\n"
        f"    time.sleep({sleep_s})\n")
    return suite, marks


def mesh_test(tmp_path: Path, *args: str, env: dict[str, str] | None = None, cwd: Path = SAMPLE,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "MESH_HOME": str(tmp_path / "mesh-home"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "mesh", "test", "--no-progress", *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def plain_pytest(tmp_path: Path, *args: str, cwd: Path = SAMPLE) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


def test_same_outcomes_as_pytest_and_the_unrunnable_test_is_named(tmp_path: Path) -> None:
    serial = plain_pytest(tmp_path, f"--junitxml={tmp_path / 'serial.xml'}")
    # loadfile: the suite has tests that check their module fixture was set up once per process
    run = mesh_test(tmp_path, "-n", "2", "--dist", "loadfile", "--junitxml", str(tmp_path / "mesh.xml"))
    assert run.returncode == serial.returncode == 1, run.stdout + run.stderr
    want, got = junit_outcomes(tmp_path / "serial.xml"), junit_outcomes(tmp_path / "mesh.xml")
    cuda = "system.test_process::test_needs_cuda_worker"
    assert want.pop(cuda) == ["passed"]  # plain pytest ignores the marker
    assert got.pop(cuda) == ["error"]  # no worker here has a CUDA GPU: said so, not skipped
    assert got == want
    assert "no worker in the mesh can run this test" in run.stdout
    assert "needs hardware cuda" in run.stdout
    # pytest's own summary line, with the one test no worker can run counted as an error
    last_line = run.stdout.strip().splitlines()[-1]
    assert "7 failed, 27 passed, 6 skipped, 4 xfailed, 1 xpassed, 4 errors in" in last_line
    # failures come with their traceback and captured output, as pytest prints them
    assert "Captured stdout call" in run.stdout and "stderr from the test" in run.stdout


@pytest.mark.parametrize("dist", ["loadfile", "loadscope"])
def test_grouping_keeps_module_and_class_fixtures_together(tmp_path: Path, dist: str) -> None:
    serial = plain_pytest(tmp_path, "test_fixtures.py", f"--junitxml={tmp_path / 'serial.xml'}")
    run = mesh_test(tmp_path, "-n", "2", "--dist", dist, "--junitxml", str(tmp_path / "mesh.xml"),
                    "test_fixtures.py")
    if dist == "loadscope":
        # a class is its own unit (as in pytest-xdist), so a class test that also leans on the
        # module fixture (test_c) may see it set up a second time in its process
        got = junit_outcomes(tmp_path / "mesh.xml")
        assert got["test_fixtures.TestClassScope::test_a"] == got["test_fixtures.TestClassScope::test_b"]
        assert got["test_fixtures.TestClassScope::test_b"] == ["passed"]
        assert got["test_fixtures::test_module_resource_second"] == ["passed"]
        return
    assert run.returncode == serial.returncode, run.stdout + run.stderr
    got = junit_outcomes(tmp_path / "mesh.xml")
    assert got == junit_outcomes(tmp_path / "serial.xml")
    assert got["test_fixtures::test_module_resource_second"] == ["passed"]
    assert all(v == ["passed"] for k, v in got.items() if "TestClassScope" in k)  # test_c too


def test_a_test_that_kills_its_process_is_an_error_and_the_rest_still_run(tmp_path: Path) -> None:
    run = mesh_test(tmp_path, "-n", "2", "--junitxml", str(tmp_path / "mesh.xml"),
                    env={"MESH_SAMPLE_SELF_KILL": "1"})
    assert run.returncode == 1
    got = junit_outcomes(tmp_path / "mesh.xml")
    assert got["system.test_process::test_self_kill"] == ["error"]
    assert "the pytest process died with SIGKILL while running this test" in run.stdout
    assert len(got) == 47  # every other test still ran (in a restarted pytest process)
    assert got["system.test_process::test_child_process_output"] == ["passed"]


def test_a_hanging_test_is_killed_at_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    run = mesh_test(tmp_path, "-n", "2", "--timeout", "2", "--junitxml", str(tmp_path / "mesh.xml"),
                    "system", env={"MESH_SAMPLE_HANG": "1"})
    assert time.monotonic() - started < 45  # not the 60 s the test sleeps
    got = junit_outcomes(tmp_path / "mesh.xml")
    assert got["system.test_process::test_hang"] == ["failure"]
    assert "Timeout: the test ran for more than 2 s" in run.stdout
    assert got["system.test_process::test_child_process_output"] == ["passed"]


@pytest.mark.parametrize(("args", "code"), [
    (["test_basics.py", "--", "-k", "reverse", "-v", "--tb=short"], 0),  # terminal options parse
    (["test_basics.py", "--", "-k", "no_test_has_this_name"], 5),
])
def test_exit_codes_are_pytests(tmp_path: Path, args: list[str], code: int) -> None:
    plain = plain_pytest(tmp_path, *[a for a in args if a != "--"])
    run = mesh_test(tmp_path, "-n", "1", *args)
    assert run.returncode == plain.returncode == code, run.stdout + run.stderr
    assert ("Interrupted" in run.stdout) == ("Interrupted" in plain.stdout), run.stdout  # as pytest banners


def test_a_collection_error_interrupts_like_pytest(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    (suite / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    (suite / "test_broken.py").write_text("def test_broken(:\n    pass\n")
    plain = plain_pytest(tmp_path, cwd=suite)
    run = mesh_test(tmp_path, "-n", "1", cwd=suite)
    assert run.returncode == plain.returncode == 2
    assert "ERROR collecting test_broken.py" in run.stdout
    assert "Interrupted: 1 error" in run.stdout


def test_a_lost_worker_s_tests_run_elsewhere_and_results_land_in_duckdb(
        tmp_path: Path, mesh_procs: MeshProcesses) -> None:
    suite, marks = slow_suite(tmp_path, tests=24, sleep_s=0.25, mark="os.getpid()")
    coordinator = mesh_procs.start_node("--role", "coordinator", "--heartbeat-timeout", "1.5",
                                        "--heartbeat-interval", "0.3")
    env = {"MESH_TEST_MARKS": str(marks)}
    workers = [mesh_procs.start_node("--role", "worker", "--join", coordinator.address, "--slots", "1",
                                     "--heartbeat-interval", "0.3", env=env) for _ in range(2)]
    with coordinator.client() as client:
        eventually(lambda: sum(w["status"] == "active" for w in client.status().extra["workers"]) == 2,
                   20, "two workers")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mesh", "test", "--no-progress", "-c", coordinator.address, "--suite", "slow",
         "--junitxml", str(tmp_path / "mesh.xml")], cwd=suite, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        eventually(lambda: len(list(marks.iterdir())) >= 2, 60, "both workers running tests")
        workers[0].signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    got = junit_outcomes(tmp_path / "mesh.xml")
    assert len(got) == 24, out
    errors = [k for k, v in got.items() if v != ["passed"]]
    assert len(errors) <= 1 and all(got[k] == ["error"] for k in errors), out
    if errors:  # the test that was running when the worker died, named with the worker
        assert f"worker {workers[0].node_id} died while running this test" in out
    assert proc.returncode == (1 if errors else 0)
    with coordinator.client() as client:  # the surviving lease's per-test rows reach DuckDB
        leases = [t for t in client.tasks(status="completed").tasks if t["type"] == "pytest_session"]
        survived = {row["nodeid"] for t in leases for row in (t["result"] or {}).get("test_outcomes", [])}
        assert len(survived) >= 1
        durations: dict[str, float] = {}

        def stored() -> bool:
            durations.update(client.request(TestDurationsRequest("slow")).durations)
            return survived <= set(durations)
        eventually(stored, 20, "per-test rows in DuckDB")
    assert all(0.2 < durations[n] < 5 for n in survived)


def test_a_killed_run_leaves_no_node_and_does_not_slow_the_next(tmp_path: Path) -> None:
    suite, marks = slow_suite(tmp_path, tests=40, sleep_s=0.2, mark="i")
    env = {**os.environ, "MESH_HOME": str(tmp_path / "mesh-home"), "MESH_TEST_MARKS": str(marks)}
    first = subprocess.Popen([sys.executable, "-m", "mesh", "test", "--no-progress", "-n", "1"], cwd=suite,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: len(list(marks.iterdir())) >= 2, 60, "the first run running tests")
    finally:
        first.kill()
        first.wait(10)
    node_files = list((tmp_path / "mesh-home" / "test").glob("*/node.json"))
    assert len(node_files) == 1
    eventually(lambda: not node_files[0].exists(), 15, "the orphaned embedded node to stop")
    started = time.monotonic()
    second = mesh_test(tmp_path, "-n", "1", cwd=suite, env={"MESH_TEST_MARKS": str(marks)},
                       timeout=60)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "40 passed" in second.stdout
    # the first run's lease, still open in the mesh's state, was cancelled, not left to hold the slot
    assert time.monotonic() - started < 30


def test_markers_route_tests_and_a_bad_marker_is_named(tmp_path: Path) -> None:
    suite = tmp_path / "marked"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\naddopts = --strict-markers\n")
    (suite / "test_marked.py").write_text(
        "import pytest\n\n@pytest.mark.mesh(hardware=['cpu'])\n"
        "def test_on_cpu():\n    assert True is not False\n\n"
        "@pytest.mark.mesh(hardware=['quantum'])\ndef test_bad_marker():\n    pass\n\n"
        "def test_plain():\n    assert [1, 2][::-1] == [2, 1]\n")
    plain = plain_pytest(tmp_path, cwd=suite)  # the mesh marker is registered for plain pytest too
    assert plain.returncode == 0, plain.stdout
    run = mesh_test(tmp_path, "-n", "2", "--junitxml", str(tmp_path / "mesh.xml"), cwd=suite)
    assert run.returncode == 1
    got = junit_outcomes(tmp_path / "mesh.xml")
    assert got == {"test_marked::test_on_cpu": ["passed"], "test_marked::test_plain": ["passed"],
                   "test_marked::test_bad_marker": ["error"]}
    assert "invalid mesh marker" in run.stdout and "quantum" in run.stdout


def test_duration_runs_the_longest_tests_first_from_past_runs(tmp_path: Path) -> None:
    suite = tmp_path / "timed"
    suite.mkdir()
    (suite / "pytest.ini").write_text("[pytest]\n")
    sleeps = {"a": 0.05, "b": 0.45, "c": 0.15, "d": 0.3, "e": 0.0}  # gaps of 50 ms or more
    (suite / "test_timed.py").write_text(
        "import os, time\nimport pytest\n\nSLEEPS = " + repr(sleeps) + "\n\n"
        "@pytest.mark.parametrize('name', sorted(SLEEPS))\n"
        "def test_timed(name):\n"
        "    with open(os.environ['MESH_TEST_ORDER'], 'a') as f:\n        f.write(name + '\\n')\n"
        "    time.sleep(SLEEPS[name])\n")
    order = tmp_path / "order.txt"
    env = {"MESH_TEST_ORDER": str(order)}
    first = mesh_test(tmp_path, "-n", "1", cwd=suite, env=env)  # load: collection order
    assert first.returncode == 0, first.stdout + first.stderr
    assert order.read_text().split() == sorted(sleeps)
    order.unlink()
    second = mesh_test(tmp_path, "-n", "1", "--dist", "duration", cwd=suite, env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert order.read_text().split() == sorted(sleeps, key=lambda n: -sleeps[n])  # longest first

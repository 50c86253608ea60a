"""The command executor: exit codes, shell and argv forms, output tails, env, cwd, timeout, cancel."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from actors.executors.base import ExecutionResult, executor_for
from tests.executors.conftest import make_request, pid_gone, run_async

pytestmark = pytest.mark.timeout(30)


def run_command(work_dir: Path, config: dict, timeout_s: float | None = 10.0, **kw) -> ExecutionResult:
    request = make_request(work_dir, "command", config, timeout_s, **kw)
    return run_async(executor_for("command").run(request, asyncio.Event()))


def test_exit_zero_is_completed_with_output(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": "echo hello; echo oops >&2"})
    assert result.outcome == "completed"
    assert result.exit_code == 0
    assert result.stdout_tail == "hello\n"
    assert result.stderr_tail == "oops\n"
    assert result.error is None
    assert result.duration_s > 0


def test_nonzero_exit_is_failed_with_its_code(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": "exit 3"})
    assert result.outcome == "failed"
    assert result.exit_code == 3
    assert "exit code 3" in (result.error or "")


def test_argv_form_is_not_run_by_a_shell(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": ["echo", "$HOME", "a b"]})
    assert result.outcome == "completed"
    assert result.stdout_tail == "$HOME a b\n"


def test_shell_form_expands(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": "X=5; echo $((X * 2))"})
    assert result.stdout_tail == "10\n"


def test_missing_program_is_an_error_outcome(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": ["/nonexistent/program"]})
    assert result.outcome == "error"
    assert "/nonexistent/program" in (result.error or "")


def test_output_keeps_only_the_last_bytes(work_dir: Path) -> None:
    # 200 kB of output, a 1000-byte limit: the tail ends with the last line
    script = "i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done"
    result = run_command(work_dir, {"command": script, "output_limit_bytes": 1000})
    assert result.outcome == "completed"
    assert len(result.stdout_tail) == 1000
    assert result.stdout_tail.endswith("line19999\n")


def test_invalid_utf8_is_decoded_with_replacement(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": "printf 'a\\377b'"})
    assert result.stdout_tail == "a\ufffdb"


def test_env_layers_request_then_config(work_dir: Path) -> None:
    config = {"command": "echo $A-$B-$C", "env": {"B": "config", "C": 3}}
    result = run_command(work_dir, config, env={"A": "request", "B": "request"})
    assert result.stdout_tail == "request-config-3\n"


def test_inherits_the_worker_environment(work_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_TEST_INHERITED", "yes")
    result = run_command(work_dir, {"command": "echo $MESH_TEST_INHERITED"})
    assert result.stdout_tail == "yes\n"


def test_cwd_is_created_inside_the_work_dir(work_dir: Path) -> None:
    result = run_command(work_dir, {"command": "pwd", "cwd": "a/b"})
    assert result.outcome == "completed"
    assert Path(result.stdout_tail.strip()) == (work_dir / "a" / "b").resolve()


@pytest.mark.parametrize("cwd", ["..", "../elsewhere", "/tmp", "a/../../x"])
def test_cwd_escaping_the_work_dir_is_refused(work_dir: Path, cwd: str) -> None:
    result = run_command(work_dir, {"command": "touch escaped", "cwd": cwd})
    assert result.outcome == "error"
    assert "escapes the work dir" in (result.error or "")


def test_bad_command_config_is_an_error(work_dir: Path) -> None:
    assert run_command(work_dir, {"command": ""}).outcome == "error"
    assert run_command(work_dir, {"command": [1, 2]}).outcome == "error"


def test_timeout_kills_the_whole_process_group(work_dir: Path) -> None:
    script = "sleep 30 & echo $! > grandchild.pid; echo $$ > child.pid; sleep 30"
    started = time.monotonic()
    result = run_command(work_dir, {"command": script, "kill_grace_s": 0.5}, timeout_s=1.0)
    assert result.outcome == "timed_out"
    assert time.monotonic() - started < 5
    assert "timed out" in (result.error or "")
    for name in ("child.pid", "grandchild.pid"):
        pid = int((work_dir / name).read_text())
        assert pid_gone(pid), f"{name} {pid} survived the timeout"


def test_sigterm_ignoring_group_is_killed_after_the_grace(work_dir: Path) -> None:
    script = "trap '' TERM; sh -c \"trap '' TERM; sleep 30\" & echo $! > grandchild.pid; sleep 30"
    result = run_command(work_dir, {"command": script, "kill_grace_s": 0.3}, timeout_s=0.7)
    assert result.outcome == "timed_out"
    assert pid_gone(int((work_dir / "grandchild.pid").read_text()))


def test_background_leftovers_are_killed_when_the_command_exits(work_dir: Path) -> None:
    script = "sleep 30 >/dev/null 2>&1 & echo $! > daemon.pid"
    result = run_command(work_dir, {"command": script})
    assert result.outcome == "completed"
    assert pid_gone(int((work_dir / "daemon.pid").read_text()))


def test_cancel_kills_the_process_group(work_dir: Path) -> None:
    async def scenario() -> ExecutionResult:
        cancel = asyncio.Event()
        request = make_request(
            work_dir, "command", {"command": "sleep 30 & echo $! > gc.pid; sleep 30", "kill_grace_s": 0.5}
        )
        task = asyncio.ensure_future(executor_for("command").run(request, cancel))
        for _ in range(100):  # wait until the grandchild exists, at most 5 s
            if (work_dir / "gc.pid").exists() and (work_dir / "gc.pid").read_text().strip():
                break
            await asyncio.sleep(0.05)
        cancel.set()
        return await asyncio.wait_for(task, 5)

    result = run_async(scenario())
    assert result.outcome == "cancelled"
    assert pid_gone(int((work_dir / "gc.pid").read_text()))


def test_result_is_plain_data(work_dir: Path) -> None:
    import msgpack

    data = run_command(work_dir, {"command": "echo hi"}).to_dict()
    assert msgpack.unpackb(msgpack.packb(data))["stdout_tail"] == "hi\n"


def test_unknown_task_type_is_refused() -> None:
    with pytest.raises(ValueError, match="no executor"):
        executor_for("teleport")

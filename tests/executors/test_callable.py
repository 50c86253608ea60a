"""The callable pool and executor: warm children, pipelining, crashes, timeouts and restarts."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from actors.executors.base import ExecutionResult
from actors.executors.callable_executor import CallableExecutor
from actors.executors.callable_pool import CallablePool, CallTimeout
from tests.executors.conftest import make_request, pid_gone, run_async, wait_for_file

pytestmark = pytest.mark.timeout(30)
M = "tests.executors.callables"


def with_pool(scenario: Any, size: int = 1) -> Any:
    async def main() -> Any:
        pool = CallablePool(size)
        await pool.start()
        try:
            return await scenario(pool)
        finally:
            await pool.close()

    return run_async(main())


def test_call_returns_the_value() -> None:
    async def scenario(pool: CallablePool) -> Any:
        return await pool.call(f"{M}:add", [2], {"b": 3}, timeout=5)

    assert with_pool(scenario) == (True, 5)


def test_dotted_class_attribute_target() -> None:
    async def scenario(pool: CallablePool) -> Any:
        return await pool.call(f"{M}:Shapes.area", [3, 4], timeout=5)

    assert with_pool(scenario) == (True, 12)


def test_prints_do_not_break_the_protocol_and_values_round_trip() -> None:
    async def scenario(pool: CallablePool) -> Any:
        return await pool.call(f"{M}:echo", [1, "x", [2.5]], {"k": {"n": None}}, timeout=5)

    assert with_pool(scenario) == (True, {"args": [1, "x", [2.5]], "kwargs": {"k": {"n": None}}})


def test_unencodable_value_comes_back_as_its_repr() -> None:
    async def scenario(pool: CallablePool) -> Any:
        return await pool.call(f"{M}:unencodable", timeout=5)

    ok, value = with_pool(scenario)
    assert ok and value.startswith("<object object at")


def test_exception_fails_the_call_with_its_traceback_and_the_child_lives() -> None:
    async def scenario(pool: CallablePool) -> Any:
        pid_before = await pool.call(f"{M}:pid", timeout=5)
        failed = await pool.call(f"{M}:boom", ["kaput"], timeout=5)
        exited = await pool.call(f"{M}:call_sys_exit", timeout=5)
        pid_after = await pool.call(f"{M}:pid", timeout=5)
        return pid_before, failed, exited, pid_after

    pid_before, failed, exited, pid_after = with_pool(scenario)
    assert failed[0] is False
    assert "Traceback" in failed[1] and "ValueError: kaput" in failed[1]
    assert exited[0] is False and "SystemExit: 4" in exited[1]
    assert pid_before == pid_after


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("exit_hard", "worker process died: exit code 3"),
        ("kill_self", f"worker process died: signal {signal.SIGKILL}"),
    ],
)
def test_child_death_fails_the_call_and_the_child_is_restarted(function: str, message: str) -> None:
    async def scenario(pool: CallablePool) -> Any:
        pid_before = (await pool.call(f"{M}:pid", timeout=5))[1]
        died = await pool.call(f"{M}:{function}", timeout=5)
        after = await pool.call(f"{M}:add", [1, 1], timeout=5)
        pid_after = (await pool.call(f"{M}:pid", timeout=5))[1]
        return pid_before, died, after, pid_after, pool.restarts

    pid_before, died, after, pid_after, restarts = with_pool(scenario)
    assert died == (False, message)
    assert after == (True, 2)
    assert pid_after != pid_before and restarts == 1
    assert pid_gone(pid_before)


def test_calls_queued_behind_a_crash_are_replayed_on_the_new_child() -> None:
    async def scenario(pool: CallablePool) -> Any:
        calls = [pool.call(f"{M}:add", [i], timeout=5) for i in range(3)]
        calls.insert(1, pool.call(f"{M}:kill_self", timeout=5))
        return await asyncio.gather(*calls)

    results = with_pool(scenario)
    assert results[0] == (True, 0)
    assert results[1] == (False, f"worker process died: signal {signal.SIGKILL}")
    assert results[2:] == [(True, 1), (True, 2)]


def test_timeout_kills_and_restarts_the_child() -> None:
    async def scenario(pool: CallablePool) -> Any:
        pid_before = (await pool.call(f"{M}:pid", timeout=5))[1]
        started = time.monotonic()
        with pytest.raises(CallTimeout):
            await pool.call(f"{M}:sleep", [30], timeout=0.5)
        elapsed = time.monotonic() - started
        after = await pool.call(f"{M}:add", [4, 4], timeout=5)
        return pid_before, elapsed, after

    pid_before, elapsed, after = with_pool(scenario)
    assert elapsed < 3
    assert after == (True, 8)
    assert pid_gone(pid_before)


def test_queued_call_that_times_out_does_not_kill_the_running_one(tmp_path: Path) -> None:
    marker = tmp_path / "started"

    async def scenario(pool: CallablePool) -> Any:
        running = asyncio.ensure_future(pool.call(f"{M}:announce_then_sleep", [str(marker), 0.6], timeout=5))
        await wait_for_file(marker)
        with pytest.raises(CallTimeout):
            await pool.call(f"{M}:add", [1], timeout=0.1)  # queued behind the sleep
        return await running, pool.restarts

    assert with_pool(scenario) == ((True, 0.6), 0)


def test_pipelined_calls_spread_over_the_pool() -> None:
    async def scenario(pool: CallablePool) -> Any:
        results = await asyncio.gather(*(pool.call(f"{M}:add", [i, 1], timeout=10) for i in range(500)))
        pids = await asyncio.gather(*(pool.call(f"{M}:sleep", [0.05], timeout=5) for _ in range(4)))
        return results, pids

    results, _ = with_pool(scenario, size=2)
    assert results == [(True, i + 1) for i in range(500)]


def test_noop_throughput_is_measured(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a speed assertion: measures calls/s of mesh.benchmarks:noop, reported with -s."""
    n = 2000

    async def scenario(pool: CallablePool) -> Any:
        await pool.call("mesh.benchmarks:noop", timeout=5)  # import once
        t0 = time.perf_counter()
        for _ in range(n):
            await pool.call("mesh.benchmarks:noop", timeout=5)
        sequential = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        results = await asyncio.gather(*(pool.call("mesh.benchmarks:noop", timeout=10) for _ in range(n)))
        pipelined = n / (time.perf_counter() - t0)
        assert all(r == (True, None) for r in results)
        return sequential, pipelined

    sequential, pipelined = with_pool(scenario)
    with capsys.disabled():
        print(f"\ncallable pool noop: sequential {sequential:.0f} calls/s, pipelined {pipelined:.0f} calls/s")


def run_callable(executor: CallableExecutor, work_dir: Path, config: dict, timeout_s: float | None) -> Any:
    return executor.run(make_request(work_dir, "callable", config, timeout_s), asyncio.Event())


def test_executor_outcomes(work_dir: Path) -> None:
    async def main() -> list[ExecutionResult]:
        executor = CallableExecutor(pool_size=1)
        try:
            return [
                await run_callable(executor, work_dir, {"function": f"{M}:add", "args": [1, 2]}, 5),
                await run_callable(executor, work_dir, {"function": f"{M}:boom"}, 5),
                await run_callable(executor, work_dir, {"function": f"{M}:exit_hard"}, 5),
                await run_callable(executor, work_dir, {"function": f"{M}:sleep", "args": [30]}, 0.5),
                await run_callable(executor, work_dir, {"function": "no_such_mod_q:f"}, 5),
                await run_callable(executor, work_dir, {"function": "not a function"}, 5),
                await run_callable(executor, work_dir, {"function": "mesh.benchmarks:noop"}, 5),
            ]
        finally:
            await executor.close()

    ok, raised, died, timed_out, missing, invalid, noop = run_async(main())
    assert (ok.outcome, ok.value, ok.error) == ("completed", 3, None)
    assert raised.outcome == "failed" and "ValueError: boom" in (raised.error or "")
    assert died.outcome == "failed" and died.error == "worker process died: exit code 3"
    assert timed_out.outcome == "timed_out"
    assert missing.outcome == "error" and "cannot import module 'no_such_mod_q'" in (missing.error or "")
    assert invalid.outcome == "error"
    assert noop.outcome == "completed" and noop.value is None


def test_executor_cancel_kills_the_running_call(work_dir: Path) -> None:
    async def main() -> tuple[ExecutionResult, ExecutionResult, float]:
        executor = CallableExecutor(pool_size=1)
        try:
            cancel = asyncio.Event()
            marker = work_dir / "started"
            config = {"function": f"{M}:announce_then_sleep", "args": [str(marker), 30]}
            task = asyncio.ensure_future(executor.run(make_request(work_dir, "callable", config, 20), cancel))
            await wait_for_file(marker)
            started = time.monotonic()
            cancel.set()
            cancelled = await asyncio.wait_for(task, 5)
            elapsed = time.monotonic() - started
            after = await run_callable(executor, work_dir, {"function": f"{M}:add", "args": [5]}, 5)
            return cancelled, after, elapsed
        finally:
            await executor.close()

    cancelled, after, elapsed = run_async(main())
    assert cancelled.outcome == "cancelled"
    assert elapsed < 2
    assert after.outcome == "completed" and after.value == 5

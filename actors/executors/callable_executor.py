"""The callable executor: runs `module:function(*args, **kwargs)` in a warm `CallablePool` child.

Config keys: function ("module:function"), args (list), kwargs (dict). The pool is started on the
first call, in the worker's work dir, with the environment of that moment (a warm process cannot
take a per-task environment). Outcome: completed with `value` when the function returns; failed
with the traceback when it raises or its process dies; error when it cannot be loaded."""

from __future__ import annotations

import asyncio
import os
import re
import time
from typing import Any

from actors.executors.base import (
    CANCELLED,
    COMPLETED,
    ERROR,
    FAILED,
    TIMED_OUT,
    ExecutionRequest,
    ExecutionResult,
    resolve_cwd,
)
from actors.executors.callable_pool import CallablePool, CallTimeout, call_failure_is_load_error

FUNCTION = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
POOL_SIZE_ENV = "MESH_CALLABLE_POOL_SIZE"


def _config_error(config: dict[str, Any]) -> str | None:
    function = config.get("function")
    if not isinstance(function, str) or not FUNCTION.match(function):
        return f"config.function must be 'module:function', not {function!r}"
    if not isinstance(config.get("args", []), list):
        return "config.args must be a list"
    if not isinstance(config.get("kwargs", {}), dict):
        return "config.kwargs must be a mapping"
    return None


class CallableExecutor:
    """Owns one pool (per event loop); call `close()` when the worker stops."""

    def __init__(self, pool_size: int | None = None, pool: CallablePool | None = None) -> None:
        self.pool_size = pool_size or int(os.environ.get(POOL_SIZE_ENV, "1"))
        self._pool = pool
        self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop() if pool else None

    async def pool(self, request: ExecutionRequest) -> CallablePool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            self._pool = CallablePool(self.pool_size, cwd=resolve_cwd(request.work_dir, None))
            self._loop = loop
        await self._pool.start()
        return self._pool

    async def run(self, request: ExecutionRequest, cancel: asyncio.Event) -> ExecutionResult:
        config = request.config
        problem = _config_error(config)
        if problem is not None:
            return ExecutionResult(outcome=ERROR, error=problem)
        started = time.perf_counter()
        try:
            pool = await self.pool(request)
        except (OSError, ValueError) as exc:
            return ExecutionResult(outcome=ERROR, error=f"cannot start the callable pool: {exc}")
        call = asyncio.ensure_future(
            pool.call(config["function"], config.get("args", []), config.get("kwargs", {}), request.timeout_s)
        )
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            await asyncio.wait({call, cancelled}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cancelled.cancel()
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            return ExecutionResult(
                outcome=CANCELLED, duration_s=time.perf_counter() - started, error="cancelled"
            )
        duration = time.perf_counter() - started
        try:
            ok, payload = call.result()
        except CallTimeout as exc:
            return ExecutionResult(outcome=TIMED_OUT, duration_s=duration, error=str(exc))
        if ok:
            return ExecutionResult(outcome=COMPLETED, duration_s=duration, value=payload)
        outcome = ERROR if call_failure_is_load_error(payload) else FAILED
        return ExecutionResult(outcome=outcome, duration_s=duration, error=str(payload))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

"""A pool of warm child Python processes (`actors.executors.callable_worker`) that run
`module:function` calls, speaking length-prefixed msgpack frames over their stdin/stdout pipes.

Calls may be pipelined: each child answers in order, so the oldest unanswered call of a child is the
one it is running. A child that dies (os._exit, segfault, SIGKILL) fails only that running call
("worker process died: signal N"); it is restarted at once and the calls queued behind it are sent
again to the new process. A timed-out or cancelled call that is running kills and restarts its
child; one still queued is just dropped (the child skips its answer)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from actors.executors.base import python_path_env
from actors.executors.callable_worker import HEADER, LOAD_FAILED, OK, frame

WORKER_MODULE = "actors.executors.callable_worker"
LOAD_ERROR_PREFIX = "cannot load function"


DRAIN_ABOVE = 256 * 1024  # bytes queued to a child before a caller waits for the pipe to drain
_EXPIRED: Any = object()  # what a call's future holds when its timer fired first


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_EXPIRED)


class CallTimeout(TimeoutError):
    """A call ran past its timeout (its child was killed and restarted if it was running it)."""


@dataclass(slots=True)
class _Call:
    call_id: int
    data: bytes  # the whole frame, kept so it can be sent again to a restarted child
    future: asyncio.Future[tuple[bool, Any]]
    abandoned: bool = False  # timed out or cancelled while queued; its answer is dropped


def death_message(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        return f"worker process died: signal {-returncode}"
    return f"worker process died: exit code {returncode}"


@dataclass(slots=True)
class _Child:
    """One child process and the calls it owes answers to, oldest first."""

    proc: asyncio.subprocess.Process | None = None
    pending: dict[int, _Call] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    reader: asyncio.Task[None] | None = None

    def send(self, call: _Call) -> None:
        self.pending[call.call_id] = call
        assert self.proc is not None and self.proc.stdin is not None
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.proc.stdin.write(call.data)  # if the child is dead, the reader replays it

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)


class CallablePool:
    """`size` warm child processes; `call` runs one function in one of them."""

    def __init__(
        self,
        size: int = 1,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        python: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"pool size must be >= 1, not {size}")
        self.size = size
        self.cwd = cwd
        self.env = python_path_env(dict(os.environ if env is None else env))
        self.python = python or sys.executable
        self._children = [_Child() for _ in range(size)]
        self._ids = itertools.count(1)
        self._closing = False
        self._started = False
        self._broken: str | None = None  # why the pool cannot run calls any more
        self._start_lock = asyncio.Lock()
        self.restarts = 0  # children started again after a death, timeout or cancel

    async def start(self) -> None:
        """Start the children (idempotent; `call` starts the pool itself if needed)."""
        async with self._start_lock:
            if self._started:
                return
            for child in self._children:
                await self._spawn(child)
            self._started = True

    async def _spawn(self, child: _Child) -> None:
        child.proc = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            WORKER_MODULE,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=None if self.cwd is None else str(self.cwd),
            env=self.env,
            start_new_session=True,
        )
        child.reader = asyncio.ensure_future(self._read(child, child.proc))
        child.ready.set()

    async def _read(self, child: _Child, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        buf = bytearray()
        while data := await proc.stdout.read(1 << 16):
            buf += data
            pos = 0
            while len(buf) - pos >= HEADER:
                size = int.from_bytes(buf[pos : pos + HEADER], "big")
                if len(buf) - pos - HEADER < size:
                    break
                call_id, status, payload = msgpack.unpackb(buf[pos + HEADER : pos + HEADER + size], raw=False)
                pos += HEADER + size
                call = child.pending.pop(call_id, None)
                if call is not None and not call.future.done():
                    call.future.set_result((status == OK, payload))
            del buf[:pos]
        child.ready.clear()  # no await before this: new calls now wait for the restart
        await self._on_death(child, proc)

    async def _on_death(self, child: _Child, proc: asyncio.subprocess.Process) -> None:
        returncode = await proc.wait()
        calls = list(child.pending.values())
        child.pending.clear()
        head = calls[0] if calls else None
        if head is not None and not head.abandoned and not head.future.done():  # it was running this
            head.future.set_result((False, death_message(returncode)))
        queued = [c for c in calls[1:] if not c.abandoned and not c.future.done()]
        if self._closing:
            for call in queued:
                call.future.set_result((False, "callable pool closed"))
            return
        self.restarts += 1
        try:
            await self._spawn(child)
        except OSError as exc:
            self._broken = f"cannot restart worker process: {exc}"
            for call in queued:
                call.future.set_result((False, self._broken))
            child.ready.set()  # callers waiting for the restart must not wait forever
            return
        for call in queued:
            child.send(call)

    async def call(
        self,
        function: str,
        args: list[Any] | tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> tuple[bool, Any]:
        """Run `function` ("module:function") in a child; (True, value) or (False, error text).

        Raises CallTimeout past `timeout` seconds (counted from the call, queueing included).
        """
        if self._closing:
            raise RuntimeError("callable pool is closed")
        if not self._started:
            await self.start()
        child = min(self._children, key=lambda c: len(c.pending))
        if not child.ready.is_set():
            await child.ready.wait()
        if self._broken is not None:
            return False, self._broken
        call_id = next(self._ids)
        body = msgpack.packb([call_id, function, list(args), kwargs or {}], use_bin_type=True)
        loop = asyncio.get_running_loop()
        call = _Call(call_id, frame(body), loop.create_future())
        child.send(call)
        stdin = child.proc.stdin if child.proc is not None else None
        if stdin is not None and stdin.transport.get_write_buffer_size() > DRAIN_ABOVE:
            with contextlib.suppress(ConnectionError):
                await stdin.drain()
        # a bare timer instead of wait_for(shield(...)): this path sets the pool's throughput
        timer = None if timeout is None else loop.call_later(timeout, _expire, call.future)
        try:
            result = await call.future
        except asyncio.CancelledError:
            self._abort(child, call)
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if result is _EXPIRED:
            self._abort(child, call)
            raise CallTimeout(f"call to {function} timed out after {timeout}s")
        return result

    def _abort(self, child: _Child, call: _Call) -> None:
        """Give up on a call: kill its child if the child is running it (or another abandoned call)."""
        if call.call_id not in child.pending:
            return
        call.abandoned = True
        head = next(iter(child.pending.values()))
        if head.abandoned:  # the child is busy with a call nobody waits for any more
            child.kill()  # the reader sees EOF, restarts the child, replays the live queue

    async def close(self) -> None:
        """Stop every child (closing stdin first, then SIGKILL after a short wait)."""
        self._closing = True
        for child in self._children:
            if child.proc is not None and child.proc.stdin is not None:
                child.proc.stdin.close()
        for child in self._children:
            if child.proc is None:
                continue
            try:
                await asyncio.wait_for(child.proc.wait(), 1.0)
            except TimeoutError:
                child.kill()
            if child.reader is not None:
                with contextlib.suppress(Exception):
                    await child.reader


def call_failure_is_load_error(error: Any) -> bool:
    """True for a failure that means the function could not even be loaded (outcome "error")."""
    return isinstance(error, str) and error.startswith(LOAD_ERROR_PREFIX)


__all__ = ["LOAD_FAILED", "CallTimeout", "CallablePool", "call_failure_is_load_error"]

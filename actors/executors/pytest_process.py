"""One long-lived pytest process on a worker, as the `pytest_session` executor drives it.

`PytestProcess.start()` launches `python -m pytest -p mesh_session <args>` in the unpacked bundle
with a command pipe and an event pipe (see `pytest_plugins/mesh_session.py` for the protocol), in
its own process group so a timeout can kill everything the tests started. `events()` yields the
decoded events; it ends when the process closes its event pipe (it exited or was killed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from actors.executors.process import signal_name
from actors.executors.pytest_plugins.mesh_session import CMD_FD_ENV, OUT_FD_ENV

PLUGIN_DIR = Path(__file__).resolve().parent / "pytest_plugins"
STDERR_TAIL_BYTES = 16 * 1024
LINE_LIMIT = 64 * 1024 * 1024  # one event line (a "collected" event lists every node id)


class PytestProcess:
    """Start, feed, stop or kill one pytest process; read its events."""

    def __init__(self, *, python: str, args: list[str], cwd: Path, env: dict[str, str],
                 log_path: Path) -> None:
        self.python = python
        self.args = args
        self.cwd = cwd
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._cmd: Any = None  # the write end of the command pipe (a file object)
        self._events: asyncio.StreamReader | None = None

    async def start(self) -> None:
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        env = dict(self.env)
        env[CMD_FD_ENV], env[OUT_FD_ENV] = str(cmd_r), str(out_w)
        old = env.get("PYTHONPATH")
        env["PYTHONPATH"] = str(PLUGIN_DIR) + (os.pathsep + old if old else "")
        argv = [self.python, "-m", "pytest", "-p", "mesh_session", "-p", "no:cacheprovider", *self.args]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_path, "ab") as log:
                self.proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=self.cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.DEVNULL, stderr=log, pass_fds=(cmd_r, out_w),
                    start_new_session=True)
        finally:
            os.close(cmd_r)
            os.close(out_w)
        self._cmd = os.fdopen(cmd_w, "w", encoding="utf-8")
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     os.fdopen(out_r, "rb", buffering=0))
        self._events = reader

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """Events until the event pipe closes. A torn or garbled line ends the stream too."""
        assert self._events is not None
        while True:
            try:
                line = await self._events.readline()
            except (ValueError, asyncio.LimitOverrunError):
                return
            if not line:
                return
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                return

    def _command(self, command: dict[str, Any]) -> bool:
        """Write one command line. The pipe holds what one batch needs; False if the process is gone."""
        try:
            self._cmd.write(json.dumps(command, separators=(",", ":")) + "\n")
            self._cmd.flush()
            return True
        except (BrokenPipeError, ValueError, OSError):
            return False

    def run(self, node_ids: list[str], next_hint: str | None) -> bool:
        return self._command({"run": node_ids, "next": next_hint})

    def stop(self) -> None:
        self._command({"stop": True})
        with contextlib.suppress(OSError, ValueError):
            self._cmd.close()

    def kill(self) -> None:
        """SIGKILL the whole process group (what a hung test started goes too)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    async def wait(self, timeout_s: float) -> int | None:
        """The exit status (negative: killed by that signal); kills the group after `timeout_s`."""
        if self.proc is None:
            return None
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            self.kill()
            return await self.proc.wait()
        finally:
            with contextlib.suppress(OSError, ValueError):
                self._cmd.close()

    def stderr_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - STDERR_TAIL_BYTES))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def exit_verb_phrase(status: int | None) -> str:
    """"died with SIGKILL" / "exited with code 3": a verb phrase for a process exit status
    (`process.describe_exit` gives the noun phrase task results use)."""
    if status is None:
        return "vanished"
    if status < 0:
        return f"died with {signal_name(status)}"
    return f"exited with code {status}"

"""The `mesh` command as a user types it: help, version, flag validation, exit codes."""

from __future__ import annotations

import re
import time

import pytest

from mesh import __version__
from mesh.cli import COMMANDS
from tests.support.processes import run_mesh


def test_help_lists_every_command_with_one_line() -> None:
    out = run_mesh("--help")
    assert out.returncode == 0
    listed = re.findall(r"^    (\S+)\s{2,}\S", out.stdout, flags=re.M)
    assert listed == list(COMMANDS)


def test_version() -> None:
    out = run_mesh("--version")
    assert (out.returncode, out.stdout.strip()) == (0, f"mesh {__version__}")


@pytest.mark.parametrize(("args", "needle"), [
    (["--role", "boss"], "--role"),
    (["--port", "70000"], "--port: 70000 is outside"),
    (["--join", "a:b"], "--join"),
    (["--node-id", "has space"], "--node-id"),
    (["--heartbeat-interval", "0"], "--heartbeat-interval"),
    (["--heartbeat-interval", "5", "--heartbeat-timeout", "6"], "--heartbeat-timeout"),
    (["--host", "bad host!"], "--host"),
])
def test_node_rejects_invalid_flags_naming_the_flag(args: list[str], needle: str) -> None:
    out = run_mesh("node", *args)
    assert out.returncode == 2
    assert needle in out.stderr


def test_status_without_a_node_fails_fast_with_one_line() -> None:
    start = time.monotonic()
    out = run_mesh("status", "--coordinator", "127.0.0.1:1", "--timeout", "0.5")
    assert time.monotonic() - start < 10
    assert out.returncode == 1
    assert out.stderr.strip().count("\n") == 0
    assert "no answer from tcp://127.0.0.1:1 within 0.5 s" in out.stderr


def test_status_with_a_bad_address_is_a_usage_error() -> None:
    out = run_mesh("status", "--coordinator", "ftp://x:1")
    assert out.returncode == 2 and "unsupported scheme" in out.stderr


def test_ping_to_nothing_reports_loss_and_fails() -> None:
    out = run_mesh("ping", "127.0.0.1:1", "--count", "2", "--interval", "0", "--timeout", "0.2")
    assert out.returncode == 1 and "2 sent, 0 received, 100% loss" in out.stdout


def test_cli_start_up_imports_no_heavy_libraries() -> None:
    code = ("import sys, mesh.cli; mesh.cli.build_parser(); "
            "print(sorted(m for m in ('numba', 'duckdb', 'bokeh', 'pandas') if m in sys.modules))")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_node_never_imports_numba() -> None:
    """Kernels compile on first use in `mesh analyze`; a node must start without paying for it."""
    import subprocess
    import sys
    code = ("import sys, mesh.node, actors.coordinator, actors.dispatcher, actors.worker; "
            "print('numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

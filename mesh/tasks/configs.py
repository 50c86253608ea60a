"""The `config` object of each task type: which keys it takes, their rules and their defaults.

Each checker returns a fresh, normalised config dict (defaults filled in) or None after recording
every problem it found. Paths given to a worker are relative and stay under its work directory.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mesh.tasks.fields import INT_MAX, Issues, child

# `package.module:function` or `package.module:Class.method`.
CALLABLE_REF = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\Z", re.ASCII)
_ENV_NAME = re.compile(r"[^=\0]+\Z")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:")

PRECISIONS = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4")
BENCHMARK_DEFAULTS: dict[str, Any] = {"iterations": 100, "warmup": 10, "batch_sizes": [1]}
BENCHMARK_EXAMPLE = "mesh.benchmarks:numpy_matmul"
MAX_ITERATIONS = 10**9

_COMMON = ("cwd", "env")
COMMAND_FIELDS = ("command", *_COMMON, "output_limit_bytes")
TEST_FIELDS = ("test_file", "test_args", *_COMMON, "output_limit_bytes")
CALLABLE_FIELDS = ("function", "args", "kwargs")
PYTEST_SESSION_FIELDS = ("run_id", "client", "bundle", "args", "pythonpath", "env", "test_timeout_s",
                         "python", "suite")
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_HOST_PORT = re.compile(r"[^\s:]+:\d{1,5}\Z|\[[0-9A-Fa-f:.]+\]:\d{1,5}\Z")


def check_relative_path(issues: Issues, path: str, value: Any, what: str) -> str | None:
    """A path under the worker's work dir: not absolute, and no `..` that climbs out of it."""
    text = issues.string(path, value, what, no_nul=True)
    if text is None:
        return None
    parts = text.replace("\\", "/").split("/")
    if text.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(text) or text.startswith("~"):
        issues.add(path, f"must be relative to the worker's work directory, got {text!r}")
        return None
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 0 if part in ("", ".") else 1
        if depth < 0:
            issues.add(path, f"must stay under the worker's work directory; {text!r} climbs out with '..'")
            return None
    return text


def _env(issues: Issues, path: str, value: Any) -> dict[str, str] | None:
    data = issues.obj(path, value, None, "an object of environment variables (string -> string)")
    if data is None:
        return None
    good = True
    for key, val in data.items():
        if not _ENV_NAME.match(key):
            issues.add(child(path, key), "environment variable names must be non-empty, without '=' or NUL")
            good = False
        elif issues.string(child(path, key), val, "a string", allow_empty=True, no_nul=True) is None:
            good = False
    return data if good else None


def _common(issues: Issues, path: str, data: dict[str, Any], out: dict[str, Any]) -> None:
    if "cwd" in data:
        out["cwd"] = check_relative_path(issues, child(path, "cwd"), data["cwd"], "a relative directory")
    if "env" in data:
        out["env"] = _env(issues, child(path, "env"), data["env"])
    if "output_limit_bytes" in data:
        out["output_limit_bytes"] = issues.integer(child(path, "output_limit_bytes"),
                                                   data["output_limit_bytes"], "a positive integer",
                                                   1, INT_MAX)


def check_command_config(issues: Issues, path: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    where = child(path, "command")
    if "command" not in data:
        issues.add(where, 'required: a shell command string, or an argv list such as ["echo", "hi"]')
    elif isinstance(data["command"], str):
        out["command"] = issues.string(where, data["command"], "a non-empty command string", no_nul=True)
    else:
        argv = issues.str_list(where, data["command"], "a command string or a non-empty list of strings",
                               non_empty=True, allow_empty_items=True)
        if argv is not None and not argv[0]:
            issues.add(child(path, "command") + "[0]", "the program name must not be empty")
            argv = None
        out["command"] = argv
    _common(issues, path, data, out)
    return out


def check_test_config(issues: Issues, path: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "test_file" not in data:
        issues.add(child(path, "test_file"), "required: the test file (or pytest node id) to run")
    else:
        out["test_file"] = check_relative_path(issues, child(path, "test_file"), data["test_file"],
                                               "a relative path to a test file")
    if "test_args" in data:
        out["test_args"] = issues.str_list(child(path, "test_args"), data["test_args"],
                                           "a list of strings", allow_empty_items=True)
    _common(issues, path, data, out)
    return out


def check_benchmark_config(issues: Issues, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """Known keys are checked; any other key is passed through to the benchmark as JSON data."""
    out: dict[str, Any] = {}
    where = child(path, "benchmark")
    hint = (f'name the benchmark to run: a module:function such as "{BENCHMARK_EXAMPLE}", '
            "or a command string")
    if "benchmark" not in data:
        issues.add(where, f"required: {hint}")
    elif not isinstance(data["benchmark"], str) or not data["benchmark"].strip():
        issues.add(where, f"expected a non-empty string; {hint}")
    else:
        out["benchmark"] = issues.string(where, data["benchmark"], no_nul=True)
    get = data.get
    out["iterations"] = issues.integer(child(path, "iterations"), get("iterations", 100),
                                       "a positive integer", 1, MAX_ITERATIONS)
    out["warmup"] = issues.integer(child(path, "warmup"), get("warmup", 10),
                                   "a non-negative integer", 0, MAX_ITERATIONS)
    sizes = get("batch_sizes", [1])
    if not isinstance(sizes, list | tuple) or not sizes:
        issues.expected(child(path, "batch_sizes"), "a non-empty list of positive integers", sizes)
        out["batch_sizes"] = None
    else:
        checked = [issues.integer(f"{child(path, 'batch_sizes')}[{i}]", s, "a positive integer", 1, INT_MAX)
                   for i, s in enumerate(sizes)]
        out["batch_sizes"] = None if None in checked else checked
    if "model" in data:
        out["model"] = issues.string(child(path, "model"), data["model"], "a non-empty model name")
    if "precision" in data:
        out["precision"] = issues.choice(child(path, "precision"), data["precision"], PRECISIONS)
    _common(issues, path, data, out)
    for key, value in data.items():
        if key not in out and key not in ("cwd", "env", "output_limit_bytes"):
            ok, copied = issues.json_value(child(path, key), value)
            out[key] = copied if ok else None
    return out


def check_callable_config(issues: Issues, path: str, data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    where = child(path, "function")
    if "function" not in data:
        issues.add(where, 'required: a "module:function" reference such as "mesh.benchmarks:noop"')
    else:
        ref = data["function"]
        if not isinstance(ref, str) or not CALLABLE_REF.match(ref):
            issues.expected(where, 'a "module:function" reference such as "mesh.benchmarks:noop"', ref)
        else:
            out["function"] = ref
    args = data.get("args", [])
    if not isinstance(args, list | tuple):
        issues.expected(child(path, "args"), "a list of positional arguments", args)
        out["args"] = None
    else:
        ok, copied = issues.json_value(child(path, "args"), list(args))
        out["args"] = copied if ok else None
    kwargs = data.get("kwargs", {})
    checked = issues.obj(child(path, "kwargs"), kwargs, None, "an object of keyword arguments")
    out["kwargs"] = None
    if checked is not None:
        bad = [k for k in checked if not k.isidentifier()]
        for key in bad:
            issues.add(child(child(path, "kwargs"), key), "keyword argument names must be Python identifiers")
        ok, copied = issues.json_value(child(path, "kwargs"), checked)
        out["kwargs"] = copied if ok and not bad else None
    return out


def check_pytest_session_config(issues: Issues, path: str, data: dict[str, Any]) -> dict[str, Any]:
    """A `mesh test` lease: which run, where its owner listens, which code bundle, pytest's args."""
    out: dict[str, Any] = {}
    for key in ("run_id", "client", "bundle"):
        if key not in data:
            issues.add(child(path, key), "required (mesh test fills it in)")
    if "run_id" in data:
        out["run_id"] = issues.string(child(path, "run_id"), data["run_id"], "a run id", no_nul=True)
    if "client" in data:
        client = data["client"]
        if not isinstance(client, str) or not _HOST_PORT.match(client):
            issues.expected(child(path, "client"), "the address of the mesh test process, host:port", client)
        else:
            out["client"] = client
    if "bundle" in data:
        bundle = data["bundle"]
        if not isinstance(bundle, str) or not _SHA256.match(bundle):
            issues.expected(child(path, "bundle"), "the code bundle's sha256 (64 hex digits)", bundle)
        else:
            out["bundle"] = bundle
    out["args"] = issues.str_list(child(path, "args"), data.get("args", []), "a list of pytest arguments",
                                  allow_empty_items=True)
    paths = data.get("pythonpath", [])
    if not isinstance(paths, list | tuple):
        issues.expected(child(path, "pythonpath"), "a list of folders inside the bundle", paths)
    else:
        out["pythonpath"] = [check_relative_path(issues, f"{child(path, 'pythonpath')}[{i}]", p,
                                                 "a folder inside the bundle") for i, p in enumerate(paths)]
    if data.get("test_timeout_s") is not None:
        out["test_timeout_s"] = issues.number(child(path, "test_timeout_s"), data["test_timeout_s"],
                                              "a positive number of seconds", 0.001, 7 * 24 * 3600.0)
    for key in ("python", "suite"):
        if key in data:
            out[key] = issues.string(child(path, key), data[key], "a non-empty string", no_nul=True)
    if "env" in data:
        out["env"] = _env(issues, child(path, "env"), data["env"])
    return out


# type name -> (allowed keys or None for "any", checker)
ConfigChecker = Callable[[Issues, str, dict[str, Any]], dict[str, Any]]
CONFIGS: dict[str, tuple[tuple[str, ...] | None, ConfigChecker]] = {
    "command": (COMMAND_FIELDS, check_command_config),
    "test": (TEST_FIELDS, check_test_config),
    "benchmark": (None, check_benchmark_config),
    "callable": (CALLABLE_FIELDS, check_callable_config),
    "pytest_session": (PYTEST_SESSION_FIELDS, check_pytest_session_config),
}


def check_config(issues: Issues, path: str, task_type: str, value: Any) -> dict[str, Any] | None:
    """The normalised config for `task_type`, or None when anything in it is invalid."""
    allowed, checker = CONFIGS[task_type]
    data = issues.obj(path, value, allowed)
    if data is None:
        return None
    before = len(issues.errors)
    out = checker(issues, path, data)
    return out if len(issues.errors) == before else None

"""Turning submitted JSON into `TaskSpec`s: every rule, every error, all-or-nothing.

`parse_tasks` checks a whole batch and raises one `TaskValidationError` listing every problem with
its JSON path; it returns specs only when the whole batch is valid. `load_task_file` is the only
I/O in this package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from mesh.tasks.configs import check_config
from mesh.tasks.fields import FieldError, Issues, TaskValidationError, child, item
from mesh.tasks.graph import Known, Node, check_graph, lookup_for
from mesh.tasks.model import (
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT_S,
    MAX_NAME_LENGTH,
    MAX_PRIORITY,
    MAX_RETRIES,
    MAX_RETRY_DELAY_S,
    MAX_TIMEOUT_S,
    MIN_PRIORITY,
    SUPPORTED_TYPES,
    RetryPolicy,
    TaskSpec,
    TaskType,
)
from mesh.tasks.requirements import Requirements, parse_requirements

TASK_FIELDS = ("type", "name", "priority", "config", "requirements", "timeout_seconds", "retry_policy",
               "dependencies")
RETRY_FIELDS = ("max_retries", "retry_delay_seconds")
_PRIORITY = f"an integer from {MIN_PRIORITY} to {MAX_PRIORITY} (lower runs first)"


def parse_tasks(data: Any, *, priority_override: int | None = None,
                known: Known | None = None) -> list[TaskSpec]:
    """Validate one task object or a list of them; all valid, or `TaskValidationError` with all errors.

    `known` describes tasks already in the cluster (name-or-id -> id mapping, a set of ids, or a
    lookup function). When None, references outside the batch are not checked here (the leader,
    which knows the cluster, checks them again).
    """
    issues = Issues()
    if priority_override is not None:
        issues.integer("priority_override", priority_override, _PRIORITY, MIN_PRIORITY, MAX_PRIORITY)
    if isinstance(data, Mapping):
        entries = [("$", data)]
    elif isinstance(data, list | tuple):
        entries = [(item("$", i), task) for i, task in enumerate(data)]
        if not entries:
            issues.add("$", "expected at least one task, got an empty list")
    else:
        issues.expected("$", "a task object or a list of task objects", data)
        entries = []
    specs: list[TaskSpec | None] = []
    nodes: list[Node] = []
    for path, task in entries:
        spec, node = _parse_one(issues, path, task, priority_override)
        specs.append(spec)
        nodes.append(node)
    check_graph(issues, nodes, lookup_for(known))
    issues.raise_if_any()
    return [spec for spec in specs if spec is not None]


def parse_task(data: Any) -> TaskSpec:
    """Validate exactly one task object (paths rooted at `$`); dependencies are not looked up."""
    issues = Issues()
    spec, node = _parse_one(issues, "$", data, None)
    check_graph(issues, [node], None)
    issues.raise_if_any()
    assert spec is not None
    return spec


def _parse_one(issues: Issues, path: str, value: Any,
               priority_override: int | None) -> tuple[TaskSpec | None, Node]:
    data = issues.obj(path, value, TASK_FIELDS, "a task object")
    spec_ok = data is not None
    if not isinstance(value, Mapping):
        return None, Node(path, None, ())
    if data is None:
        # Unknown fields: still check the rest, so one pass reports every problem of the task.
        data = {k: v for k, v in value.items() if isinstance(k, str)}
    before = len(issues.errors)
    name = None
    if "name" in data:
        name = issues.string(child(path, "name"), data["name"],
                             f"a non-empty name of at most {MAX_NAME_LENGTH} characters",
                             max_len=MAX_NAME_LENGTH, no_nul=True)
    dependencies: tuple[str, ...] = ()
    if "dependencies" in data:
        deps = issues.str_list(child(path, "dependencies"), data["dependencies"],
                               "a list of task names or ids")
        dependencies = tuple(deps or ())
    node = Node(path, name, dependencies)
    task_type = _task_type(issues, path, data)
    config = None
    if task_type is not None:
        if "config" not in data:
            issues.add(child(path, "config"),
                       f"required: an object with the {task_type.value} task's settings")
        else:
            config = check_config(issues, child(path, "config"), task_type.value, data["config"])
    priority = DEFAULT_PRIORITY
    if "priority" in data:
        priority = issues.integer(child(path, "priority"), data["priority"], _PRIORITY,
                                  MIN_PRIORITY, MAX_PRIORITY) or 0
    requirements = Requirements()
    if "requirements" in data:
        requirements = parse_requirements(issues, child(path, "requirements"), data["requirements"]) \
            or Requirements()
    timeout = DEFAULT_TIMEOUT_S
    if "timeout_seconds" in data:
        timeout = issues.number(child(path, "timeout_seconds"), data["timeout_seconds"],
                                f"a positive number of seconds (at most {MAX_TIMEOUT_S:g})",
                                0, MAX_TIMEOUT_S, low_exclusive=True) or timeout
    retry = RetryPolicy()
    if "retry_policy" in data:
        retry = _retry_policy(issues, child(path, "retry_policy"), data["retry_policy"]) or retry
    if not spec_ok or len(issues.errors) > before or task_type is None or config is None:
        return None, node
    if priority_override is not None:
        priority = priority_override
    return TaskSpec(task_type, config, name, priority, requirements, timeout, retry, dependencies), node


# pytest_session is accepted but not advertised: `mesh test` makes those tasks itself
_ADVERTISED = ", ".join(t.value for t in SUPPORTED_TYPES if t is not TaskType.PYTEST_SESSION)
_BY_VALUE = {t.value: t for t in SUPPORTED_TYPES}


def _task_type(issues: Issues, path: str, data: dict[str, Any]) -> TaskType | None:
    raw = data.get("type")
    found = _BY_VALUE.get(raw) if isinstance(raw, str) else None
    if found is not None:
        return found
    where = child(path, "type")
    if "type" not in data:
        issues.add(where, f"required: one of {_ADVERTISED}")
    elif raw == TaskType.MULTI_DEVICE_ORCHESTRATION.value:
        issues.add(where, f"multi_device_orchestration tasks are not yet supported; use one of {_ADVERTISED}")
    else:
        issues.expected(where, f"one of {_ADVERTISED}", raw)
    return None


def _retry_policy(issues: Issues, path: str, value: Any) -> RetryPolicy | None:
    data = issues.obj(path, value, RETRY_FIELDS)
    if data is None:
        return None
    retries = issues.integer(child(path, "max_retries"), data.get("max_retries", 0),
                             f"a non-negative integer (at most {MAX_RETRIES})", 0, MAX_RETRIES)
    delay = issues.number(child(path, "retry_delay_seconds"), data.get("retry_delay_seconds", 0.0),
                          f"a non-negative number of seconds (at most {MAX_RETRY_DELAY_S:g})",
                          0, MAX_RETRY_DELAY_S)
    if retries is None or delay is None:
        return None
    return RetryPolicy(retries, delay)


def load_task_file(path: str | os.PathLike[str]) -> Any:
    """Read a JSON task file. Unreadable files, invalid JSON (with line and column), duplicate keys
    and NaN/Infinity raise `TaskValidationError`; the content is not validated here."""
    shown = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as err:
        raise TaskValidationError([FieldError("$", f"cannot read {shown}: {err}")]) from err
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
    except json.JSONDecodeError as err:
        reason = f"invalid JSON in {shown} at line {err.lineno}, column {err.colno}: {err.msg}"
        raise TaskValidationError([FieldError("$", reason)]) from err
    except _BadJson as err:
        raise TaskValidationError([FieldError("$", f"invalid JSON in {shown}: {err}")]) from err
    except RecursionError as err:
        raise TaskValidationError([FieldError("$", f"invalid JSON in {shown}: nested too deeply")]) from err


class _BadJson(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _BadJson(f"duplicate key {key!r} in an object")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise _BadJson(f"{name} is not a JSON number")

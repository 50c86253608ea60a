"""SUBMIT entries in the leader's normalised form are stored without re-validation; anything else is
validated in full, and no entry, however malformed, makes `submit` raise."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from mesh.tasks import TaskSpec
from mesh.tasktable import EventKind, TaskTable
from mesh.tasktable.specs import NO_REQUIREMENTS, normalized_spec
from tests.tasktable.helpers import spec


def normal(data: dict[str, Any]) -> dict[str, Any]:
    return TaskSpec.from_dict(data).to_dict()


NORMALISED = [
    normal({"type": "callable", "config": {"function": "mesh.benchmarks:noop"}}),
    normal({"type": "command", "name": "build", "priority": 0, "config": {"command": ["make", "-j"]},
            "timeout_seconds": 30, "retry_policy": {"max_retries": 3, "retry_delay_seconds": 1.5}}),
    normal({"type": "benchmark", "config": {"benchmark": "mesh.benchmarks:numpy_matmul", "size": 64},
            "requirements": {"hardware": ["cuda"], "min_cuda_compute": 7.5, "min_memory_gb": 8}}),
    normal({"type": "test", "config": {"test_file": "tests/test_x.py"}, "dependencies": ["t-0"],
            "requirements": {"browser": "chromium", "device_type": "server"}}),
]


@pytest.mark.parametrize("data", NORMALISED, ids=lambda d: d["type"])
def test_the_normalised_form_is_taken_as_is(data: dict[str, Any]) -> None:
    trusted = normalized_spec(data)
    assert trusted is not None
    stored, requirements = trusted
    assert stored is data
    assert requirements == TaskSpec.from_dict(data).requirements


def test_a_task_without_requirements_shares_one_requirements_object() -> None:
    trusted = normalized_spec(NORMALISED[0])
    assert trusted is not None and trusted[1] is NO_REQUIREMENTS


def test_the_trusted_path_stores_what_full_validation_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    def submit_all(table: TaskTable) -> list[str]:
        table.submit([spec("first")], ["t-0"], 0.0)
        entries = [copy.deepcopy(d) for d in NORMALISED]
        return table.submit(entries, [f"t-{i + 1}" for i in range(len(entries))], 1.0)

    fast = TaskTable()
    assert submit_all(fast) == ["t-1", "t-2", "t-3", "t-4"]
    monkeypatch.setattr("mesh.tasktable.table.normalized_spec", lambda raw: None)
    slow = TaskTable()
    assert submit_all(slow) == ["t-1", "t-2", "t-3", "t-4"]
    assert fast == slow
    for task_id in ("t-0", "t-1", "t-3", "t-4"):
        assert fast.requirements(task_id) == slow.requirements(task_id)
    assert fast.drain_events() == slow.drain_events()


def _mutations() -> list[tuple[str, dict[str, Any]]]:
    base = spec("n")
    out: list[tuple[str, dict[str, Any]]] = []

    def variant(label: str, **changes: Any) -> None:
        data = copy.deepcopy(base)
        for key, value in changes.items():
            if value is _DROP:
                data.pop(key, None)
            else:
                data[key] = value
        out.append((label, data))

    for value in (True, 101, -1, 3.0, "5", None):
        variant(f"priority={value!r}", priority=value)
    for value in (0, -1.0, math.nan, math.inf, 10**9, True, "60", None):
        variant(f"timeout={value!r}", timeout_seconds=value)
    for value in ("nope", "multi_device_orchestration", ["command"], None, 3):
        variant(f"type={value!r}", type=value)
    for value in ([], "true", None, 1):
        variant(f"config={value!r}", config=value)
    for value in ({"max_retries": 1}, {"max_retries": -1, "retry_delay_seconds": 0},
                  {"max_retries": 1, "retry_delay_seconds": math.nan},
                  {"max_retries": True, "retry_delay_seconds": 0}, [1, 2], None,
                  {"max_retries": 1, "retry_delay_seconds": 0, "x": 1}):
        variant(f"retry={value!r}", retry_policy=value)
    for value in ("", 5, "a\0b", "x" * 201, None):
        variant(f"name={value!r}", name=value)
    for value in ("t-1", [1], [["t-1"]], {"t-1": 1}, None):
        variant(f"deps={value!r}", dependencies=value)
    for value in ({"hardware": "cuda"}, {"hardware": ["quantum"]}, [], "cpu", None,
                  {"hardware": ["cpu"], "min_cuda_compute": 7.0}, {"min_memory_gb": -1}):
        variant(f"requirements={value!r}", requirements=value)
    variant("unknown key", surprise=1)
    for key in ("type", "config", "priority", "timeout_seconds", "retry_policy"):
        variant(f"without {key}", **{key: _DROP})
    return out


_DROP = object()
MUTATIONS = _mutations()


@pytest.mark.parametrize("data", [d for _, d in MUTATIONS], ids=[label for label, _ in MUTATIONS])
def test_a_bad_or_loose_entry_is_validated_in_full_and_never_raises(data: dict[str, Any]) -> None:
    assert normalized_spec(data) is None
    table = TaskTable()
    accepted = table.submit([data], ["t-1"], now=0.0)
    events = table.drain_events()
    if accepted:
        # A loose but valid spelling is stored in the normal form, as before.
        view = table.task("t-1")
        assert view is not None and view["spec"] == normal(data)
    else:
        assert [e[0] for e in events] == [EventKind.TASK_REJECTED]
        assert events[0][1]["reason"]


@pytest.mark.parametrize("raw", [None, [], "task", 7, b"x", {"type": {"a": 1}}, {1: 2}])
def test_entries_that_are_not_task_objects_fail_the_item_cleanly(raw: Any) -> None:
    table = TaskTable()
    assert table.submit([raw, spec()], ["t-1", "t-2"], now=0.0) == ["t-2"]
    kinds = [e[0] for e in table.drain_events()]
    assert kinds[0] == EventKind.TASK_REJECTED or raw is None

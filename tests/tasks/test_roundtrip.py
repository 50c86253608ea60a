"""Properties: valid specs survive to_dict/from_dict, JSON and msgpack; any JSON at all is either
accepted or refused with TaskValidationError, never another exception."""

from __future__ import annotations

import json
from typing import Any

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.tasks import TaskSpec, TaskValidationError, parse_tasks

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(min_size=1, max_size=12).filter(lambda s: bool(s.strip()) and "\0" not in s)
plain = st.text(max_size=8).filter(lambda s: "\0" not in s)
json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=12)
seconds = st.integers(1, 10**6) | st.floats(0.001, 10**6)
env = st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,6}", fullmatch=True), plain, max_size=3)
rel_dir = st.lists(st.sampled_from(["a", "b", "dir", "."]), min_size=1, max_size=3).map("/".join)

command_configs = st.fixed_dictionaries(
    {"command": texts | st.tuples(texts, st.lists(plain, max_size=3)).map(lambda t: [t[0], *t[1]])},
    optional={"cwd": rel_dir, "env": env, "output_limit_bytes": st.integers(1, 2**40)})
test_configs = st.fixed_dictionaries(
    {"test_file": rel_dir.map(lambda d: d + "/test_x.py")},
    optional={"test_args": st.lists(plain, max_size=3), "env": env})
benchmark_configs = st.fixed_dictionaries(
    {"benchmark": st.sampled_from(["mesh.benchmarks:numpy_matmul", "python bench.py --fast"])},
    optional={"iterations": st.integers(1, 1000), "warmup": st.integers(0, 100),
              "batch_sizes": st.lists(st.integers(1, 512), min_size=1, max_size=4),
              "model": texts, "precision": st.sampled_from(["fp32", "fp16", "bf16", "int8"]),
              "x_extra": json_values})
callable_configs = st.fixed_dictionaries(
    {"function": st.sampled_from(["mesh.benchmarks:noop", "pkg.mod:Class.method"])},
    optional={"args": st.lists(json_values, max_size=3),
              "kwargs": st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True), json_values,
                                        max_size=3)})
typed_configs = (st.tuples(st.just("command"), command_configs) | st.tuples(st.just("test"), test_configs)
                 | st.tuples(st.just("benchmark"), benchmark_configs)
                 | st.tuples(st.just("callable"), callable_configs))
requirements = st.fixed_dictionaries({}, optional={
    "hardware": st.lists(st.sampled_from(["cpu", "cuda", "rocm", "mps", "webgpu", "webnn"]),
                         min_size=1, max_size=3, unique=True),
    "min_memory_gb": st.floats(0, 1024),
    "browser": st.sampled_from(["chromium", "chrome", "firefox", "edge"]),
    "device_type": st.sampled_from(["desktop", "laptop", "server", "tablet", "handheld", "mobile"]),
})


@st.composite
def task_dicts(draw: st.DrawFn) -> dict[str, Any]:
    task_type, config = draw(typed_configs)
    task: dict[str, Any] = {"type": task_type, "config": config}
    optional = draw(st.fixed_dictionaries({}, optional={
        "name": texts, "priority": st.integers(0, 100), "timeout_seconds": seconds,
        "retry_policy": st.fixed_dictionaries({}, optional={"max_retries": st.integers(0, 100),
                                                            "retry_delay_seconds": st.integers(0, 60)}),
        "dependencies": st.lists(texts, max_size=3), "requirements": requirements}))
    task.update(optional)
    reqs = task.get("requirements", {})
    if draw(st.booleans()) and "cuda" in reqs.get("hardware", ["cuda"]):
        reqs["min_cuda_compute"] = draw(st.floats(1, 10))
    if "name" in task and task["name"] in task.get("dependencies", []):
        task["dependencies"] = [d for d in task["dependencies"] if d != task["name"]]  # no self-cycle
    return task


@SETTINGS
@given(task_dicts())
def test_a_valid_spec_survives_to_dict_and_from_dict(task: dict[str, Any]) -> None:
    [spec] = parse_tasks(task)
    assert TaskSpec.from_dict(spec.to_dict()) == spec
    assert spec.to_dict() == TaskSpec.from_dict(spec.to_dict()).to_dict()


@SETTINGS
@given(task_dicts())
def test_a_valid_spec_survives_json_and_msgpack(task: dict[str, Any]) -> None:
    [spec] = parse_tasks(task)
    assert TaskSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert TaskSpec.from_dict(msgpack.unpackb(msgpack.packb(spec.to_dict()))) == spec


@SETTINGS
@given(st.lists(task_dicts(), min_size=1, max_size=4))
def test_a_list_of_unnamed_tasks_parses_task_by_task(tasks: list[dict[str, Any]]) -> None:
    for task in tasks:
        task.pop("name", None)
    assert parse_tasks(tasks) == [parse_tasks(task)[0] for task in tasks]


def _accepted_or_refused(data: Any, **kwargs: Any) -> None:
    try:
        specs = parse_tasks(data, **kwargs)
    except TaskValidationError as err:
        assert err.errors and all(e.path.startswith(("$", "priority_override")) for e in err.errors)
    else:
        assert specs and all(isinstance(s, TaskSpec) for s in specs)


@SETTINGS
@given(json_values)
def test_random_json_is_accepted_or_refused_with_task_validation_error(data: Any) -> None:
    _accepted_or_refused(data)
    _accepted_or_refused([data], known={})


FIELDS = ["type", "name", "priority", "config", "requirements", "timeout_seconds", "retry_policy",
          "dependencies", "command", "cwd", "env", "benchmark", "batch_sizes", "function", "args", "kwargs",
          "hardware", "min_cuda_compute", "max_retries"]


@SETTINGS
@given(st.lists(task_dicts(), min_size=1, max_size=3), st.data())
def test_mutated_valid_tasks_are_accepted_or_refused_cleanly(tasks: list[dict[str, Any]],
                                                             data: st.DataObject) -> None:
    for task in tasks:
        target = task if data.draw(st.booleans()) else task["config"]
        target[data.draw(st.sampled_from(FIELDS))] = data.draw(json_values | st.sampled_from(
            ["command", "multi_device_orchestration", "a", "../x", "/abs", "m:f"]))
    _accepted_or_refused(tasks, known=data.draw(st.none() | st.just({})))
    _accepted_or_refused(tasks, priority_override=data.draw(st.integers(-5, 105)))

"""Each field rule of the task format, and the path + reason of each error it gives."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.tasks import (
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT_S,
    FieldError,
    TaskType,
    TaskValidationError,
    parse_tasks,
)
from tests.tasks.helpers import command, errors_of


def test_a_minimal_command_gets_the_documented_defaults() -> None:
    [spec] = parse_tasks(command())
    assert spec.type is TaskType.COMMAND
    assert spec.name is None
    assert spec.priority == DEFAULT_PRIORITY == 5
    assert spec.timeout_s == DEFAULT_TIMEOUT_S == 3600.0
    assert (spec.retry.max_retries, spec.retry.retry_delay_seconds) == (0, 0.0)
    assert spec.dependencies == ()
    assert spec.config == {"command": "true"}


def test_a_single_object_reports_paths_from_the_root_and_a_list_by_index() -> None:
    assert errors_of(command(priority=-1)) == [
        "$.priority: expected an integer from 0 to 100 (lower runs first), got -1"]
    assert errors_of([command(), command(priority="1")]) == [
        '$[1].priority: expected an integer from 0 to 100 (lower runs first), got "1"']


@pytest.mark.parametrize(("data", "expected"), [
    ("tasks", '$: expected a task object or a list of task objects, got "tasks"'),
    ([], "$: expected at least one task, got an empty list"),
    ([3], "$[0]: expected a task object, got 3"),
    ({"config": {}}, "$.type: required: one of command, test, benchmark, callable"),
    ({"type": "shell", "config": {}},
     '$.type: expected one of command, test, benchmark, callable, got "shell"'),
    ({"type": "command"}, "$.config: required: an object with the command task's settings"),
    ({"type": "command", "config": []}, "$.config: expected an object, got a list"),
])
def test_the_shape_of_a_submission_is_checked(data: Any, expected: str) -> None:
    assert errors_of(data) == [expected]


def test_multi_device_orchestration_parses_but_is_rejected_as_not_yet_supported() -> None:
    [error] = errors_of({"type": "multi_device_orchestration", "config": {"devices": 2}})
    assert error.startswith("$.type: multi_device_orchestration tasks are not yet supported")


def test_unknown_fields_are_rejected_at_every_level() -> None:
    task = command(colour="red", retry_policy={"max_retries": 1, "backoff": 2},
                   requirements={"gpu": True})
    task["config"]["shell"] = "bash"
    errors = errors_of([task])
    assert "$[0].colour: unknown field; expected one of config, dependencies, name, priority, " \
           "requirements, retry_policy, timeout_seconds, type" in errors
    assert any(e.startswith("$[0].retry_policy.backoff: unknown field; expected one of max_retries")
               for e in errors)
    assert any(e.startswith("$[0].requirements.gpu: unknown field; expected one of browser") for e in errors)
    assert any(e.startswith("$[0].config.shell: unknown field; expected one of command, cwd") for e in errors)
    assert len(errors) == 4


@pytest.mark.parametrize(("value", "shown"), [
    (0, "0"), (-5, "-5"), (float("nan"), "NaN"), (float("inf"), "Infinity"), (True, "true"),
    ("60", '"60"'), (None, "null"), (31 * 24 * 3600, str(31 * 24 * 3600)),
])
def test_timeout_must_be_a_positive_finite_number(value: Any, shown: str) -> None:
    assert errors_of(command(timeout_seconds=value)) == [
        f"$.timeout_seconds: expected a positive number of seconds (at most 2.592e+06), got {shown}"]


def test_timeout_accepts_ints_and_floats_as_seconds() -> None:
    assert parse_tasks(command(timeout_seconds=1))[0].timeout_s == 1.0
    assert parse_tasks(command(timeout_seconds=0.25))[0].timeout_s == 0.25


def test_retry_policy_rules_and_messages() -> None:
    assert errors_of([command(), command(), command(retry_policy={"max_retries": -1})]) == [
        "$[2].retry_policy.max_retries: expected a non-negative integer (at most 100), got -1"]
    assert errors_of(command(retry_policy={"max_retries": True, "retry_delay_seconds": -1})) == [
        "$.retry_policy.max_retries: expected a non-negative integer (at most 100), got true",
        "$.retry_policy.retry_delay_seconds: expected a non-negative number of seconds (at most 86400), "
        "got -1"]
    assert errors_of(command(retry_policy=2)) == ["$.retry_policy: expected an object, got 2"]
    [spec] = parse_tasks(command(retry_policy={"max_retries": 3, "retry_delay_seconds": 1.5}))
    assert (spec.retry.max_retries, spec.retry.retry_delay_seconds) == (3, 1.5)


def test_priority_is_an_integer_and_the_override_replaces_it() -> None:
    assert errors_of(command(priority=2.0)) == [
        "$.priority: expected an integer from 0 to 100 (lower runs first), got 2.0"]
    specs = parse_tasks([command(priority=9), command()], priority_override=1)
    assert [s.priority for s in specs] == [1, 1]
    assert errors_of(command(), priority_override=-3) == [
        "priority_override: expected an integer from 0 to 100 (lower runs first), got -3"]


@pytest.mark.parametrize(("name", "expected"), [
    ("", '$.name: expected a non-empty name of at most 200 characters, got ""'),
    (7, "$.name: expected a non-empty name of at most 200 characters, got 7"),
    ("a\0b", "$.name: must not contain a NUL character"),
    ("x\ud800", "$.name: string is not valid Unicode (lone surrogate)"),
])
def test_names_are_non_empty_strings(name: Any, expected: str) -> None:
    assert errors_of(command(name=name)) == [expected]


def test_command_accepts_a_shell_string_or_an_argv_list() -> None:
    [shell, argv] = parse_tasks([command(config={"command": "echo hi | wc"}),
                                 command(config={"command": ["echo", ""]})])
    assert shell.config["command"] == "echo hi | wc"
    assert argv.config["command"] == ["echo", ""]


@pytest.mark.parametrize(("config", "expected"), [
    ({}, '$.config.command: required: a shell command string, or an argv list such as ["echo", "hi"]'),
    ({"command": "  "}, '$.config.command: expected a non-empty command string, got "  "'),
    ({"command": []},
     "$.config.command: expected a command string or a non-empty list of strings, got a list"),
    ({"command": ["ls", 3]}, "$.config.command[1]: expected a string, got 3"),
    ({"command": [""]}, "$.config.command[0]: the program name must not be empty"),
    ({"command": "ls", "cwd": "/etc"},
     "$.config.cwd: must be relative to the worker's work directory, got '/etc'"),
    ({"command": "ls", "cwd": "C:\\temp"},
     "$.config.cwd: must be relative to the worker's work directory, got 'C:\\\\temp'"),
    ({"command": "ls", "cwd": "a/../../b"},
     "$.config.cwd: must stay under the worker's work directory; 'a/../../b' climbs out with '..'"),
    ({"command": "ls", "env": {"A": 1}}, "$.config.env.A: expected a string, got 1"),
    ({"command": "ls", "env": {"A=B": "x"}},
     '$.config.env["A=B"]: environment variable names must be non-empty, without \'=\' or NUL'),
    ({"command": "ls", "env": ["A"]},
     "$.config.env: expected an object of environment variables (string -> string), got a list"),
    ({"command": "ls", "output_limit_bytes": 0},
     "$.config.output_limit_bytes: expected a positive integer, got 0"),
])
def test_command_config_rules(config: dict[str, Any], expected: str) -> None:
    assert errors_of({"type": "command", "config": config}) == [expected]


def test_a_cwd_may_wander_inside_the_work_dir() -> None:
    [spec] = parse_tasks(command(config={"command": "ls", "cwd": "a/../b/./c", "env": {"X": ""}}))
    assert spec.config == {"command": "ls", "cwd": "a/../b/./c", "env": {"X": ""}}


def test_test_tasks_need_a_relative_test_file() -> None:
    [spec] = parse_tasks({"type": "test", "config": {"test_file": "tests/test_x.py::test_y",
                                                     "test_args": ["-q"]}})
    assert spec.config == {"test_file": "tests/test_x.py::test_y", "test_args": ["-q"]}
    assert errors_of({"type": "test", "config": {"test_args": "-q"}}) == [
        "$.config.test_file: required: the test file (or pytest node id) to run",
        '$.config.test_args: expected a list of strings, got "-q"']
    assert errors_of({"type": "test", "config": {"test_file": "../secret.py"}}) == [
        "$.config.test_file: must stay under the worker's work directory; "
        "'../secret.py' climbs out with '..'"]


def test_a_benchmark_that_names_no_benchmark_says_what_to_put_there() -> None:
    expected = ('$.config.benchmark: required: name the benchmark to run: a module:function such as '
                '"mesh.benchmarks:numpy_matmul", or a command string')
    assert errors_of({"type": "benchmark", "config": {"iterations": 5}}) == [expected]
    [error] = errors_of({"type": "benchmark", "config": {"benchmark": ""}})
    assert error.startswith("$.config.benchmark: expected a non-empty string; name the benchmark to run")
    assert "mesh.benchmarks:numpy_matmul" in error


def test_benchmark_defaults_and_pass_through_keys() -> None:
    [spec] = parse_tasks({"type": "benchmark", "config": {"benchmark": "python bench.py",
                                                          "matrix": {"n": [512, 1024]}}})
    assert spec.config == {"benchmark": "python bench.py", "iterations": 100, "warmup": 10,
                           "batch_sizes": [1], "matrix": {"n": [512, 1024]}}


@pytest.mark.parametrize(("extra", "expected"), [
    ({"iterations": 0}, "$.config.iterations: expected a positive integer, got 0"),
    ({"warmup": -1}, "$.config.warmup: expected a non-negative integer, got -1"),
    ({"batch_sizes": []}, "$.config.batch_sizes: expected a non-empty list of positive integers, got a list"),
    ({"batch_sizes": [1, 0]}, "$.config.batch_sizes[1]: expected a positive integer, got 0"),
    ({"precision": "fp7"}, '$.config.precision: expected one of "fp64", "fp32", "tf32", "fp16", "bf16", '
                           '"fp8", "int8", "int4", got "fp7"'),
    ({"model": ""}, '$.config.model: expected a non-empty model name, got ""'),
    ({"knob": float("nan")}, "$.config.knob: expected a finite number, got NaN"),
    ({"knob": [2**70]}, "$.config.knob[0]: integer out of the 64-bit range, got 1180591620717411303424"),
])
def test_benchmark_config_rules(extra: dict[str, Any], expected: str) -> None:
    config = {"benchmark": "mesh.benchmarks:numpy_matmul", **extra}
    assert errors_of({"type": "benchmark", "config": config}) == [expected]


@pytest.mark.parametrize("ref", ["mesh.benchmarks:noop", "m:f", "pkg.mod:Class.method", "_a:_b"])
def test_callable_references_that_are_accepted(ref: str) -> None:
    [spec] = parse_tasks({"type": "callable", "config": {"function": ref}})
    assert spec.config == {"function": ref, "args": [], "kwargs": {}}


@pytest.mark.parametrize("ref", ["noop", "mesh.benchmarks:", ":noop", "a b:c", "a:b:c", "1mod:f", "a..b:c",
                                 "m:f\n", 5])
def test_callable_references_that_are_rejected(ref: Any) -> None:
    [error] = errors_of({"type": "callable", "config": {"function": ref}})
    assert error.startswith('$.config.function: expected a "module:function" reference such as '
                            '"mesh.benchmarks:noop", got')


def test_callable_args_and_kwargs() -> None:
    config = {"function": "m:f", "args": {}, "kwargs": {"bad-key": 1}}
    assert errors_of({"type": "callable", "config": config}) == [
        "$.config.args: expected a list of positional arguments, got an object",
        '$.config.kwargs["bad-key"]: keyword argument names must be Python identifiers']
    good: dict[str, Any] = {"function": "m:f", "args": [1, [2]], "kwargs": {"n": 3}}
    [spec] = parse_tasks({"type": "callable", "config": good})
    assert spec.config["args"] == [1, [2]] and spec.config["kwargs"] == {"n": 3}


def test_every_error_of_a_batch_is_reported_at_once() -> None:
    errors = errors_of([command(priority=-1, timeout_seconds=0), {"type": "test", "config": {}},
                        command(retry_policy={"max_retries": -1})])
    assert [e.split(":")[0] for e in errors] == [
        "$[0].priority", "$[0].timeout_seconds", "$[1].config.test_file", "$[2].retry_policy.max_retries"]


def test_the_error_lists_every_problem_in_its_message() -> None:
    with pytest.raises(TaskValidationError) as caught:
        parse_tasks([command(priority=-1), command(timeout_seconds=-1)])
    text = str(caught.value)
    assert text.splitlines()[0] == "invalid tasks: 2 errors"
    assert "$[0].priority:" in text and "$[1].timeout_seconds:" in text
    assert isinstance(caught.value, ValueError)
    assert caught.value.errors[0] == FieldError(
        "$[0].priority", "expected an integer from 0 to 100 (lower runs first), got -1")


def test_parsing_does_not_keep_references_to_the_callers_data() -> None:
    data = {"type": "benchmark", "config": {"benchmark": "b:c", "extra": {"n": [1]}}}
    [spec] = parse_tasks(data)
    data["config"]["extra"]["n"].append(2)  # type: ignore[index]
    assert spec.config["extra"] == {"n": [1]}

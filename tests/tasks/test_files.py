"""The example files, `load_task_file`'s errors, and the package's purity (what it must not import)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from mesh.tasks import TaskType, TaskValidationError, load_task_file, parse_tasks

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
FORBIDDEN = ("transports", "actors", "ui", "asyncio", "zmq", "uvloop", "socket", "time", "threading",
             "subprocess", "random")


def test_the_five_examples_exist() -> None:
    assert {"command.json", "test.json", "benchmark.json", "pipeline.json", "callable.json"} <= \
        {p.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_validates(path: Path) -> None:
    assert parse_tasks(load_task_file(path), known={})


def test_the_pipeline_example_is_a_chain_with_a_retried_failing_step() -> None:
    specs = parse_tasks(load_task_file(ROOT / "examples" / "pipeline.json"), known={})
    assert [s.type for s in specs] == [TaskType.COMMAND] * 3
    assert [s.dependencies for s in specs] == [(), ("prepare",), ("flaky-step",)]
    assert specs[1].retry.max_retries > 0 and "exit 1" in " ".join(specs[1].config["command"])


def test_the_benchmark_and_callable_examples_name_their_functions() -> None:
    [bench] = parse_tasks(load_task_file(ROOT / "examples" / "benchmark.json"))
    [call] = parse_tasks(load_task_file(ROOT / "examples" / "callable.json"))
    assert bench.config["benchmark"] == "mesh.benchmarks:numpy_matmul"
    assert call.config["function"] == "mesh.benchmarks:noop"


def _load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tasks.json"
    path.write_text(text)
    with pytest.raises(TaskValidationError) as caught:
        load_task_file(path)
    [error] = caught.value.errors
    return str(error).replace(str(path), "tasks.json")


def test_invalid_json_is_reported_with_line_and_column(tmp_path: Path) -> None:
    assert _load_error(tmp_path, '{\n  "type": "command",\n  "name" "x"\n}') == \
        "$: invalid JSON in tasks.json at line 3, column 10: Expecting ':' delimiter"


def test_duplicate_keys_and_non_standard_numbers_are_refused(tmp_path: Path) -> None:
    assert _load_error(tmp_path, '{"type": "command", "type": "test"}') == \
        "$: invalid JSON in tasks.json: duplicate key 'type' in an object"
    assert _load_error(tmp_path, '{"timeout_seconds": NaN}') == \
        "$: invalid JSON in tasks.json: NaN is not a JSON number"


def test_a_missing_file_is_a_validation_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TaskValidationError, match=r"cannot read .*nope\.json"):
        load_task_file(tmp_path / "nope.json")


def test_load_task_file_returns_the_data_without_validating_it(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"type": "shell"}]')
    assert load_task_file(str(path)) == [{"type": "shell"}]


def test_the_task_model_imports_no_io_runtime_or_other_layers() -> None:
    bad = []
    for file in sorted((ROOT / "mesh" / "tasks").glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
            bad += [f"{file.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("mesh.") and not module.startswith("mesh.tasks"):
                bad.append(f"{file.name}: {module}")
    assert bad == []


def test_the_json_in_the_tasks_doc_is_valid() -> None:
    text = (ROOT / "docs" / "TASKS.md").read_text()
    blocks = [block.split("```", 1)[0] for block in text.split("```json")[1:]]
    assert blocks
    for block in blocks:
        assert parse_tasks(json.loads(block), known={})

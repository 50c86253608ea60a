"""Dependencies: batch names, existing tasks, unknown references, cycles, order and id resolution."""

from __future__ import annotations

import pytest

from mesh.tasks import TaskValidationError, parse_tasks, resolve_dependencies, topological_order
from tests.tasks.helpers import command, errors_of

NOWHERE = "no task in this batch or in the cluster has that name or id"


def test_dependencies_may_name_batch_tasks_or_existing_ids_and_names() -> None:
    known = {"t-17": "t-17", "nightly-build": "t-9"}
    batch = [command("a"), command("b", dependencies=["a", "t-17", "nightly-build"])]
    specs = parse_tasks(batch, known=known)
    assert specs[1].dependencies == ("a", "t-17", "nightly-build")
    assert resolve_dependencies(specs, ["id-a", "id-b"], known) == [(), ("id-a", "t-17", "t-9")]


def test_known_may_be_a_set_of_ids_or_a_lookup_function() -> None:
    assert parse_tasks(command(dependencies=["t-1"]), known={"t-1"})
    assert parse_tasks(command(dependencies=["t-1"]), known=lambda ref: "t-1" if ref == "t-1" else None)
    assert errors_of(command(dependencies=["t-2"]), known={"t-1"}) == [
        "$.dependencies[0]: unknown dependency 't-2': " + NOWHERE]


def test_without_known_only_batch_references_are_checked() -> None:
    assert parse_tasks(command(dependencies=["made-elsewhere"]))[0].dependencies == ("made-elsewhere",)
    assert errors_of(command(dependencies=["x"]), known={}) == [
        "$.dependencies[0]: unknown dependency 'x': " + NOWHERE]


def test_dependencies_must_be_a_list_of_non_empty_strings() -> None:
    assert errors_of(command(dependencies="a")) == [
        '$.dependencies: expected a list of task names or ids, got "a"']
    assert errors_of(command(dependencies=["a", 1, ""])) == [
        "$.dependencies[1]: expected a non-empty string, got 1",
        '$.dependencies[2]: expected a non-empty string, got ""']


def test_duplicate_names_in_a_batch_are_rejected() -> None:
    assert errors_of([command("x"), command("y"), command("x")]) == [
        "$[2].name: duplicate name 'x'; $[0] already uses it"]


def test_a_two_task_cycle_is_reported_with_its_path() -> None:
    assert errors_of([command("a", dependencies=["b"]), command("b", dependencies=["a"])]) == [
        "$[0].dependencies: dependency cycle: a -> b -> a"]


def test_a_self_dependency_is_a_cycle() -> None:
    assert errors_of([command("solo", dependencies=["solo"])]) == [
        "$[0].dependencies: dependency cycle: solo -> solo"]


def test_a_long_cycle_behind_a_chain_is_reported_once_from_its_first_task() -> None:
    batch = [command("start", dependencies=["c"]), command("c", dependencies=["d"]),
             command("d", dependencies=["e"]), command("e", dependencies=["c"])]
    assert errors_of(batch) == ["$[1].dependencies: dependency cycle: c -> d -> e -> c"]


def test_separate_cycles_are_all_reported() -> None:
    batch = [command("a", dependencies=["b"]), command("b", dependencies=["a"]),
             command("c", dependencies=["c"]), command("d", dependencies=["a"])]
    assert errors_of(batch) == ["$[0].dependencies: dependency cycle: a -> b -> a",
                                "$[2].dependencies: dependency cycle: c -> c"]


def test_a_batch_name_wins_over_an_existing_task_of_that_name() -> None:
    specs = parse_tasks([command("build"), command("test", dependencies=["build"])], known={"build": "old"})
    assert resolve_dependencies(specs, ["new-1", "new-2"], {"build": "old"})[1] == ("new-1",)


def test_a_diamond_is_not_a_cycle_and_orders_dependencies_first() -> None:
    batch = [command("join", dependencies=["left", "right"]), command("left", dependencies=["root"]),
             command("right", dependencies=["root"]), command("root")]
    specs = parse_tasks(batch)
    order = topological_order(specs)
    assert order == [3, 1, 2, 0]
    assert topological_order(parse_tasks([command("x"), command("y")])) == [0, 1]


def test_topological_order_refuses_a_cycle_built_by_hand() -> None:
    [a] = parse_tasks(command("a", dependencies=["b"]))
    [b] = parse_tasks(command("b", dependencies=["a"]))
    with pytest.raises(TaskValidationError, match="a -> b -> a"):
        topological_order([a, b])


def test_resolution_drops_duplicates_and_refuses_unknown_references() -> None:
    specs = parse_tasks([command("a"), command(dependencies=["a", "a", "t-1"])])
    assert resolve_dependencies(specs, ["i0", "i1"], {"t-1"}) == [(), ("i0", "t-1")]
    with pytest.raises(TaskValidationError, match=r"\$\[1\]\.dependencies\[2\]: unknown dependency 't-1'"):
        resolve_dependencies(specs, ["i0", "i1"], {})
    with pytest.raises(ValueError, match="2 specs but 1 ids"):
        resolve_dependencies(specs, ["i0"], {})


def test_a_batch_is_all_or_nothing() -> None:
    stored: list[object] = []
    batch = [command("ok-1"), command("ok-2"), command("bad", timeout_seconds=-1)]
    with pytest.raises(TaskValidationError) as caught:
        stored.extend(parse_tasks(batch))
    assert stored == []
    assert [str(e) for e in caught.value.errors] == [
        "$[2].timeout_seconds: expected a positive number of seconds (at most 2.592e+06), got -1"]


def test_graph_problems_are_reported_alongside_field_problems() -> None:
    errors = errors_of([command("a", dependencies=["a"], priority=-1), command("a", timeout_seconds=0)])
    assert [e.split(":")[0] for e in errors] == [
        "$[0].priority", "$[1].timeout_seconds", "$[1].name", "$[0].dependencies"]

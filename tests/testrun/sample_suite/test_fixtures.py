"""Fixture scopes whose setups are observable, and errors in fixture setup and teardown.

Scope grouping: the `test_module_resource_*` tests and the `TestClassScope` tests count how often
their module- or class-scoped fixture was set up *in this process*. They pass serially and when
the whole module runs in one process (mesh's loadfile or loadscope). Spread test by test across
processes that interleave other modules (plain load), a module fixture may be torn down and set
up again between them, and these tests fail — by design: they tell grouping apart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

module_setups: list[object] = []
class_setups: list[str] = []


@pytest.fixture(scope="module")
def module_resource() -> Iterator[object]:
    resource = object()
    module_setups.append(resource)
    yield resource


def test_module_resource_first(module_resource: object) -> None:
    assert module_setups == [module_resource]


def test_module_resource_second(module_resource: object) -> None:
    assert module_setups == [module_resource]


class TestClassScope:
    @pytest.fixture(scope="class")
    def class_resource(self) -> str:
        class_setups.append("TestClassScope")
        return "class-resource"

    def test_a(self, class_resource: str) -> None:
        assert class_setups == ["TestClassScope"]

    def test_b(self, class_resource: str) -> None:
        assert class_setups == ["TestClassScope"]

    def test_c(self, class_resource: str, module_resource: object) -> None:
        assert class_setups == ["TestClassScope"]
        assert module_setups == [module_resource]


@pytest.fixture
def fresh_list() -> list[int]:
    return []


def test_function_fixture_is_fresh_first(fresh_list: list[int]) -> None:
    assert fresh_list == []
    fresh_list.append(1)


def test_function_fixture_is_fresh_second(fresh_list: list[int]) -> None:
    assert fresh_list == []
    fresh_list.append(2)


def test_tmp_path_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_text("payload\n", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == "payload\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.txt"]


@pytest.fixture
def broken_setup() -> None:
    raise RuntimeError("database unavailable")


def test_error_in_fixture_setup(broken_setup: None) -> None:
    raise AssertionError("must not run: its fixture failed")


@pytest.fixture
def broken_teardown() -> Iterator[str]:
    yield "connection"
    raise OSError("connection reset while closing")


def test_error_in_fixture_teardown(broken_teardown: str) -> None:
    assert broken_teardown == "connection"


def test_failure_then_error_in_teardown(broken_teardown: str) -> None:
    assert broken_teardown == "another connection"

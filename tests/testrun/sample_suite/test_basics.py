"""Plain passes, parametrized tests with ids, and failures whose assertion shows a diff."""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import pytest


def is_prime(n: int) -> bool:
    return n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))


def test_json_round_trip() -> None:
    doc = {"name": "mesh", "ports": [8080, 8081], "nested": {"ok": True, "none": None}}
    assert json.loads(json.dumps(doc)) == doc


def test_sorted_is_stable() -> None:
    pairs = [(1, "b"), (0, "a"), (1, "a"), (0, "b")]
    assert sorted(pairs, key=lambda p: p[0]) == [(0, "a"), (0, "b"), (1, "b"), (1, "a")]


def test_fraction_arithmetic() -> None:
    assert Fraction(1, 3) + Fraction(1, 6) == Fraction(1, 2)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(2, True), (9, False), (97, True), (1, False)],
    ids=["two", "nine", "prime-97", "one"],
)
def test_is_prime(n: int, expected: bool) -> None:
    assert is_prime(n) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a b c", "c b a"), ("one", "one"), ("", "")],
    ids=["three-words", "single", "empty"],
)
def test_reverse_words(text: str, expected: str) -> None:
    assert " ".join(reversed(text.split())) == expected


def test_list_diff_fails() -> None:
    assert [1, 2, 3, 4] == [1, 2, 30, 4]


def test_dict_diff_fails() -> None:
    got = {"host": "a", "port": 8080, "role": "worker"}
    assert got == {"host": "a", "port": 8081, "role": "worker"}


def test_multiline_text_diff_fails() -> None:
    got = "alpha\nbeta\ngamma\n"
    assert got == "alpha\nBETA\ngamma\n"


@pytest.fixture
def noisy() -> object:
    print("noisy fixture: setting up")
    yield "resource"
    print("noisy fixture: tearing down")


def test_failure_with_captured_output(noisy: object) -> None:
    print(f"stdout from the test, using {noisy}")
    print("stderr from the test", file=sys.stderr)
    assert noisy == "other resource", "the fixture handed over the wrong resource"


class TestTextUtils:
    def test_upper(self) -> None:
        assert "mesh".upper() == "MESH"

    def test_split_limits(self) -> None:
        path = "a:b:c"
        assert path.split(":", 1) == ["a", "b:c"]

    def test_strip_only_ends(self) -> None:
        assert "  a b  ".strip() == "a b"

    @pytest.mark.parametrize(("raw", "titled"), [("mesh node", "Mesh Node"), ("x-ray", "X-ray")])
    def test_title_case(self, raw: str, titled: str) -> None:
        # "x-ray".title() is "X-Ray": the second case fails on purpose
        assert raw.title() == titled

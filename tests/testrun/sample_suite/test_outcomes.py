"""Skips (marker, skipif, imperative, from a fixture, a whole class) and xfail in every form:
failing as expected, imperative, xpass (not strict) and a strict xpass (which fails)."""

from __future__ import annotations

import sys

import pytest


@pytest.mark.skip(reason="not implemented on this platform")
def test_skip_marker() -> None:
    raise AssertionError("a skipped test must not run")


@pytest.mark.skipif(sys.version_info >= (3, 0), reason="only for python 2")
def test_skipif_marker() -> None:
    raise AssertionError("a skipped test must not run")


def test_skip_imperative() -> None:
    pytest.skip("decided at run time")


@pytest.fixture
def unavailable_service() -> None:
    pytest.skip("service not reachable")


def test_skip_from_fixture(unavailable_service: None) -> None:
    raise AssertionError("a skipped test must not run")


@pytest.mark.xfail(reason="known bug #12")
def test_xfail_marker() -> None:
    assert sum([0.1] * 10) == 1.0


@pytest.mark.xfail(raises=ZeroDivisionError, reason="division by zero not handled")
def test_xfail_raises() -> None:
    assert 1 / 0


@pytest.mark.xfail
def test_xfail_without_reason() -> None:
    raise ValueError("broken")


def test_xfail_imperative() -> None:
    pytest.xfail("flaky backend, marked at run time")


@pytest.mark.xfail(reason="was fixed upstream", strict=False)
def test_xpass_not_strict() -> None:
    assert round(2.675, 2) in (2.67, 2.68)


@pytest.mark.xfail(reason="must fail until #34 lands", strict=True)
def test_xpass_strict() -> None:
    assert sorted([3, 1, 2]) == [1, 2, 3]  # passes, so strict xfail turns it into a failure


@pytest.mark.skip(reason="whole class disabled")
class TestDisabled:
    def test_one(self) -> None:
        raise AssertionError("a skipped test must not run")

    def test_two(self) -> None:
        raise AssertionError("a skipped test must not run")

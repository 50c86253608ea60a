"""Hypothesis strategies derived from the wire annotations, so every message type is covered
by construction: a new message in `transports.protocol` is round-tripped without a new test."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from hypothesis import strategies as st

_INT64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)

json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def strategy_for(tp: Any) -> st.SearchStrategy[Any]:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy_for(a) for a in args))
    if tp is type(None):
        return st.none()
    if tp is Any:
        return json_like
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _INT64
    if tp is float:
        return st.floats(allow_nan=False)
    if tp is str:
        return st.text(max_size=40)
    if tp is bytes:
        return st.binary(max_size=64)
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        return st.sampled_from(list(tp))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return message_strategy(tp)
    if origin in (tuple, list):
        return st.lists(strategy_for(args[0]), max_size=5).map(tuple)
    if origin is dict:
        return st.dictionaries(st.text(max_size=10), strategy_for(args[1]), max_size=5)
    raise TypeError(f"no strategy for {tp!r}")


def message_strategy(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: strategy_for(hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)

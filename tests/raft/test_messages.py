"""The wire contract: every Raft type the transport serializes is a frozen, slotted dataclass of
plain fields whose annotations resolve, so a generic codec can carry it (one is written here)."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

import msgpack
import pytest

from mesh.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    LocalProtocolError,
    Message,
    MessageType,
    Snapshot,
    decode_conf_change,
    encode_conf_change,
)

from .helpers import new_node

WIRE_TYPES = [Message, Entry, Snapshot, HardState, ConfState, ConfChange]
SCALARS = (int, float, str, bytes, bool)


def _check_annotation(tp: Any, where: str) -> None:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        assert type(None) in args and len(args) == 2, f"{where}: only X | None unions"
        _check_annotation(next(a for a in args if a is not type(None)), where)
    elif origin is tuple:
        args = typing.get_args(tp)
        assert len(args) == 2 and args[1] is Ellipsis, f"{where}: only tuple[X, ...]"
        _check_annotation(args[0], where)
    elif isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        pass
    elif dataclasses.is_dataclass(tp):
        _check_dataclass(tp)  # type: ignore[arg-type]
    else:
        assert tp in SCALARS, f"{where}: {tp!r} is not a wire-safe type"


def _check_dataclass(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen, f"{cls.__name__} must be frozen"
    assert hasattr(cls, "__slots__"), f"{cls.__name__} must use slots"
    for name, tp in typing.get_type_hints(cls).items():
        _check_annotation(tp, f"{cls.__name__}.{name}")


@pytest.mark.parametrize("cls", WIRE_TYPES, ids=lambda c: c.__name__)
def test_wire_types_are_frozen_slotted_dataclasses_of_plain_fields(cls: type) -> None:
    _check_dataclass(cls)


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return [_encode(getattr(value, f.name)) for f in dataclasses.fields(value)]
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    if isinstance(value, enum.IntEnum):
        return int(value)
    return value


def _decode(tp: Any, raw: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        return _decode(next(a for a in typing.get_args(tp) if a is not type(None)), raw)
    if origin is tuple:
        return tuple(_decode(typing.get_args(tp)[0], v) for v in raw)
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = dataclasses.fields(tp)
        return tp(*(_decode(hints[f.name], v) for f, v in zip(fields, raw, strict=True)))  # type: ignore[operator]
    return tp(raw)


def test_messages_round_trip_through_a_generic_msgpack_codec() -> None:
    m = Message(MessageType.SNAP, to="b", frm="a", term=7, log_term=6, index=41,
                entries=(Entry(7, 42, EntryType.CONF_CHANGE, b"\x00cc"), Entry(7, 43)),
                commit=40, reject=True, reject_hint=39,
                snapshot=Snapshot(30, 5, ConfState(("a", "b"), ("l",)), b"chunk"),
                snapshot_offset=1024, snapshot_done=True, context=b"ctx")
    wire = msgpack.packb(_encode(m), use_bin_type=True)
    back = _decode(Message, msgpack.unpackb(wire, raw=False))
    assert back == m and isinstance(back.type, MessageType)
    assert isinstance(back.entries[0].type, EntryType)


@pytest.mark.parametrize("kind", list(ConfChangeType))
def test_conf_change_entry_data_round_trips(kind: ConfChangeType) -> None:
    cc = ConfChange(kind, "node-ä", b"\x01ctx")
    assert decode_conf_change(encode_conf_change(cc)) == cc


@pytest.mark.parametrize("kind", [MessageType.HUP, MessageType.BEAT, MessageType.PROP,
                                  MessageType.CHECK_QUORUM])
def test_peers_cannot_send_local_messages(kind: MessageType) -> None:
    raw = new_node("a", ["a", "b", "c"])
    with pytest.raises(LocalProtocolError):
        raw.step(Message(kind, to="a", frm="b", term=1))


def test_network_input_that_is_refused_is_dropped_not_raised() -> None:
    raw = new_node("a", ["a", "b", "c"])  # no leader known: cannot forward a read
    raw.step(Message(MessageType.READ_INDEX, to="a", frm="b", context=b"r"))
    raw.step(Message(MessageType.APP, to="a", frm="b", term=0))  # term-less append: ignored
    raw.step(Message(MessageType.APP_RESP, to="a", frm="stranger", term=9))  # not a member
    assert raw.term == 0 and not raw.raft.msgs

"""The wire protocol: every message round-trips, and no bytes make the decoder do anything
but return a message or raise `RemoteProtocolError` with the right code."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.strategies import message_strategy
from transports.codec import Codec
from transports.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from transports.protocol import (
    MESSAGES,
    PROTOCOL_VERSION,
    ErrorReply,
    MsgType,
    PingReply,
    PingRequest,
    StatusReply,
)

codec = Codec()


@pytest.mark.parametrize("tag", list(MESSAGES), ids=lambda t: t.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data(), corr_id=st.integers(0, 2**64 - 1))
def test_every_message_type_round_trips(tag: MsgType, data: st.DataObject, corr_id: int) -> None:
    msg = data.draw(message_strategy(MESSAGES[tag]))
    frame = codec.encode(msg, corr_id)
    assert msgpack.unpackb(frame)[:2] == [PROTOCOL_VERSION, int(tag)]
    assert codec.decode(frame) == (corr_id, msg)


def test_every_message_class_is_registered_once() -> None:
    classes = list(MESSAGES.values())
    assert len(classes) == len(set(classes))
    for cls in classes:
        assert cls.__dataclass_params__.frozen, f"{cls.__name__} must be frozen"
        assert hasattr(cls, "__slots__"), f"{cls.__name__} must use slots"


def expect(code: ErrorCode, frame: bytes) -> RemoteProtocolError:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(frame)
    assert info.value.code is code, info.value
    return info.value


def test_wrong_version_is_named_and_keeps_corr_id() -> None:
    err = expect(ErrorCode.UNSUPPORTED_VERSION, msgpack.packb([PROTOCOL_VERSION + 1, 2, 42, 1]))
    assert err.corr_id == 42
    assert "version" in err.message


def test_unknown_type_is_named() -> None:
    err = expect(ErrorCode.UNKNOWN_TYPE, msgpack.packb([PROTOCOL_VERSION, 9999, 7]))
    assert "9999" in err.message and err.corr_id == 7


def test_wrong_field_type_names_message_and_field() -> None:
    frame = msgpack.packb([PROTOCOL_VERSION, int(MsgType.PING_REQUEST), 1, "not-an-int"])
    err = expect(ErrorCode.INVALID_FIELD, frame)
    assert err.message == "PingRequest.sent_ns: expected int, got str"


def test_bool_is_not_accepted_as_int() -> None:
    expect(ErrorCode.INVALID_FIELD, msgpack.packb([PROTOCOL_VERSION, int(MsgType.PING_REQUEST), 1, True]))


def test_nested_field_error_names_the_path() -> None:
    reply = StatusReply("n", "v", ("worker",), "a", 1.0, {}, {})
    values = msgpack.unpackb(codec.encode(reply, 3))
    values[5] = ["worker", 5]  # roles
    err = expect(ErrorCode.INVALID_FIELD, msgpack.packb(values))
    assert err.message == "StatusReply.roles[1]: expected str, got int"


def test_missing_required_field_is_named() -> None:
    err = expect(ErrorCode.INVALID_FIELD, msgpack.packb([PROTOCOL_VERSION, int(MsgType.PING_REQUEST), 1]))
    assert err.message == "PingRequest.sent_ns: missing field"


def test_invalid_enum_value_is_rejected() -> None:
    err = expect(ErrorCode.INVALID_FIELD,
                 msgpack.packb([PROTOCOL_VERSION, int(MsgType.ERROR_REPLY), 1, 12345, "x"]))
    assert "ErrorCode" in err.message


def test_trailing_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    frame = msgpack.packb([PROTOCOL_VERSION, int(MsgType.PING_REQUEST), 5, 10, b"p", "future", 1])
    assert codec.decode(frame) == (5, PingRequest(10, b"p"))


def test_omitted_optional_fields_take_their_defaults() -> None:
    frame = msgpack.packb([PROTOCOL_VERSION, int(MsgType.PING_REPLY), 5, 10])
    assert codec.decode(frame) == (5, PingReply(10, b"", ""))


def test_oversized_frame_is_rejected_before_parsing() -> None:
    small = Codec(max_message_bytes=100)
    frame = codec.encode(PingRequest(1, b"x" * 200))
    with pytest.raises(RemoteProtocolError) as info:
        small.decode(frame)
    assert info.value.code is ErrorCode.OVERSIZED


@pytest.mark.parametrize("frame", [
    b"",
    b"\xc1",  # never-used msgpack byte
    msgpack.packb([PROTOCOL_VERSION, 2, 1, 5])[:-1],  # truncated
    b"\x91" * 100_000 + b"\xc0",  # nested deeper than any stack
    b"\xdd\xff\xff\xff\xff",  # array32 declaring 4 billion items
    b"\xdb\xff\xff\xff\xff" + b"a",  # str32 declaring 4 GiB
    b"\xc6\x7f\xff\xff\xff",  # bin32 declaring 2 GiB
    msgpack.packb({"v": 1}),
    msgpack.packb([PROTOCOL_VERSION, 2]),
    msgpack.packb([PROTOCOL_VERSION, 2, -1, 5]),  # negative corr_id
    msgpack.packb(msgpack.ExtType(5, b"xx")),
    msgpack.packb([PROTOCOL_VERSION, 2, 1, 5]) + b"trailing",
    b"\xa2\xff\xfe",  # invalid utf-8 in a str
], ids=lambda f: f[:12].hex() or "empty")
def test_malformed_frames_are_remote_errors(frame: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        codec.decode(frame)
    assert info.value.code in (ErrorCode.MALFORMED_FRAME, ErrorCode.INVALID_FIELD)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_escape_as_anything_but_remote_errors(frame: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        codec.decode(frame)


valid_headers = st.tuples(st.just(PROTOCOL_VERSION), st.sampled_from([int(t) for t in MESSAGES]),
                          st.integers(0, 2**32))
msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(valid_headers, st.lists(msgpack_values, max_size=16))
def test_valid_header_with_random_fields_is_decoded_or_rejected_by_field(
        header: tuple[int, int, int], fields: list[object]) -> None:
    frame = msgpack.packb([*header, *fields])
    try:
        corr_id, msg = codec.decode(frame)
    except RemoteProtocolError as err:
        assert err.code is ErrorCode.INVALID_FIELD
        assert err.corr_id == header[2]
    else:
        assert corr_id == header[2]
        assert type(msg) is MESSAGES[MsgType(header[1])]


def test_encoding_an_unregistered_type_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError):
        codec.encode(object())


def test_encoding_over_the_limit_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="over the 64-byte limit"):
        Codec(max_message_bytes=64).encode(PingRequest(1, b"x" * 100))


def test_error_messages_are_bounded_in_size() -> None:
    frame = msgpack.packb([PROTOCOL_VERSION, "x" * 100_000, 1])
    err = expect(ErrorCode.UNKNOWN_TYPE, frame)
    assert len(err.message) <= RemoteProtocolError.MAX_MESSAGE_CHARS
    assert len(codec.encode(ErrorReply(err.code, err.message))) < 400


def test_protocol_doc_lists_every_message_and_field() -> None:
    """docs/PROTOCOL.md is what clients in other languages are written from: it must not drift."""
    import dataclasses
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text()
    for tag, cls in MESSAGES.items():
        heading = re.search(rf"^### {int(tag)} `{cls.__name__}`", doc, flags=re.M)
        assert heading, f"docs/PROTOCOL.md has no heading for {int(tag)} {cls.__name__}"
        section = doc[heading.end():].split("\n### ", 1)[0]
        for position, field in enumerate(dataclasses.fields(cls)):
            assert re.search(rf"^\| {position} \| {field.name} \|", section, flags=re.M), (
                f"{cls.__name__}.{field.name} is not documented as field {position}")
    for code in ErrorCode:
        assert f"| {int(code)} | {code.name} |" in doc, f"ErrorCode.{code.name} is not documented"

"""msgpack codec for the messages declared in `transports.protocol`.

A frame is one msgpack array: `[version, tag, corr_id, field0, field1, ...]`;
nested structs are arrays of their fields in declaration order. Decoding
checks the header, then every field against the dataclass annotations, and
raises `RemoteProtocolError` naming the message, the field and the reason.
Encoding raises `LocalProtocolError`. The per-class encoders and decoders are
compiled once from the annotations, so the hot path is a few closures deep.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import msgpack

from transports.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from transports.protocol import MESSAGES, PROTOCOL_VERSION, MsgType

DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
"""Frames above this get an OVERSIZED error reply. The socket's hard limit is twice this."""

Decoder = Callable[[Any], Any]


class _FieldError(Exception):
    """Raised inside compiled decoders; carries the path from the message down to the bad value."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def _type_name(value: Any) -> str:
    return "nil" if value is None else type(value).__name__


def _scalar(expected: type) -> Decoder:
    name = {int: "int", str: "str", bytes: "bytes", bool: "bool"}[expected]

    def decode(value: Any) -> Any:
        # `type(...) is` rather than isinstance: a bool must not pass as an int.
        if type(value) is expected:
            return value
        raise _FieldError("", f"expected {name}, got {_type_name(value)}")

    return decode


def _float(value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value
    if kind is int:
        return float(value)
    raise _FieldError("", f"expected float, got {_type_name(value)}")


def _any(value: Any) -> Any:
    return value


def _enum(cls: type[enum.IntEnum]) -> Decoder:
    members = {int(m): m for m in cls}

    def decode(value: Any) -> Any:
        if type(value) is not int:
            raise _FieldError("", f"expected {cls.__name__} (int), got {_type_name(value)}")
        try:
            return members[value]
        except KeyError:
            raise _FieldError("", f"{value} is not a valid {cls.__name__}") from None

    return decode


def _optional(inner: Decoder) -> Decoder:
    def decode(value: Any) -> Any:
        return None if value is None else inner(value)

    return decode


def _sequence(inner: Decoder) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not tuple and type(value) is not list:
            raise _FieldError("", f"expected array, got {_type_name(value)}")
        try:
            return tuple([inner(item) for item in value])
        except _FieldError:
            for i, item in enumerate(value):  # slow path only to name the bad index
                try:
                    inner(item)
                except _FieldError as err:
                    raise _FieldError(f"[{i}]{err.path}", err.reason) from None
            raise

    return decode


def _mapping(value_decoder: Decoder) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not dict:
            raise _FieldError("", f"expected map, got {_type_name(value)}")
        for key, item in value.items():
            if type(key) is not str:
                raise _FieldError("", f"map key {key!r} is not a str")
            if value_decoder is not _any:
                try:
                    value[key] = value_decoder(item)
                except _FieldError as err:
                    raise _FieldError(f"[{key!r}]{err.path}", err.reason) from None
        return value

    return decode


_SCALAR_NAMES = {int: "int", str: "str", bytes: "bytes", bool: "bool"}


class _StructCodec:
    """Compiled field list of one dataclass: decode from an array, encode to a list.

    The decoder is generated source (as attrs and msgspec do): scalar checks are
    inlined, so decoding a small message costs about one Python call.
    """

    def __init__(self, cls: type) -> None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        self.cls = cls
        self.names = tuple(f.name for f in fields)
        self.required = sum(
            1 for f in fields
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        )
        self.encoders = tuple(_compile_encoder(hints[f.name]) for f in fields)
        self.flat = all(e is None for e in self.encoders)
        self.getter = attrgetter(*self.names) if len(self.names) > 1 else None
        self.decode_fields: Callable[[Any, int], Any] = self._generate_decoder(fields, hints)

    def _generate_decoder(self, fields: tuple[dataclasses.Field[Any], ...],
                          hints: dict[str, Any]) -> Callable[[Any, int], Any]:
        env: dict[str, Any] = {"cls": self.cls, "FieldError": _FieldError, "tname": _type_name}
        lines = ["def decode_fields(values, start):", "    n = len(values) - start"]
        if self.required:
            lines.append(f"    if n < {self.required}:")
            lines.append("        raise FieldError('.' + NAMES[max(n, 0)], 'missing field')")
            env["NAMES"] = self.names
        for i, f in enumerate(fields):
            v = f"v{i}"
            if i < self.required:
                lines.append(f"    {v} = values[start + {i}]")
            else:
                if f.default is not dataclasses.MISSING:
                    env[f"default{i}"] = f.default
                    fallback = f"default{i}"
                else:
                    env[f"factory{i}"] = f.default_factory
                    fallback = f"factory{i}()"
                lines.append(f"    {v} = values[start + {i}] if n > {i} else {fallback}")
                if f.default is not dataclasses.MISSING:
                    # A default is trusted as it is; only values that came off the wire are checked.
                    lines.append(f"    if n > {i}:")
                else:
                    lines.append("    if True:")
            indent = "    " if i < self.required else "        "
            lines.extend(indent + line for line in self._check(i, f.name, hints[f.name], env))
        lines.append("    return cls(" + ", ".join(f"v{i}" for i in range(len(fields))) + ")")
        namespace: dict[str, Any] = {}
        exec("\n".join(lines), env, namespace)  # source built above from annotations only
        return namespace["decode_fields"]

    @staticmethod
    def _check(i: int, name: str, tp: Any, env: dict[str, Any]) -> list[str]:
        """Source lines validating (and converting) `v{i}` against annotation `tp`."""
        v = f"v{i}"
        inner, optional = _unwrap_optional(tp)
        guard = f"{v} is not None and " if optional else ""
        if inner in _SCALAR_NAMES:
            env[f"T{i}"] = inner
            expected = _SCALAR_NAMES[inner] + (" or nil" if optional else "")
            return [f"if {guard}type({v}) is not T{i}:",
                    f"    raise FieldError('.{name}', 'expected {expected}, got ' + tname({v}))"]
        if inner is Any:
            return []
        env[f"d{i}"] = _compile(tp)
        return ["try:",
                f"    {v} = d{i}({v})",
                "except FieldError as err:",
                f"    raise FieldError('.{name}' + err.path, err.reason) from None"]

    def encode_fields(self, msg: Any) -> list[Any]:
        values = list(self.getter(msg)) if self.getter else [getattr(msg, n) for n in self.names]
        if not self.flat:
            for i, encoder in enumerate(self.encoders):
                if encoder is not None and values[i] is not None:
                    values[i] = encoder(values[i])
        return values


_STRUCTS: dict[type, _StructCodec] = {}


def _struct(cls: type) -> _StructCodec:
    codec = _STRUCTS.get(cls)
    if codec is None:
        codec = _STRUCTS[cls] = _StructCodec(cls)
    return codec


def _nested(cls: type) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not tuple and type(value) is not list:
            raise _FieldError("", f"expected {cls.__name__} (array), got {_type_name(value)}")
        return _struct(cls).decode_fields(value, 0)

    return decode


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
        raise TypeError(f"unsupported union {tp!r}: only `X | None` is allowed on the wire")
    return tp, False


def _compile(tp: Any) -> Decoder:
    """Build a decoder (validate + convert) for one annotation."""
    inner, optional = _unwrap_optional(tp)
    if optional:
        return _optional(_compile(inner))
    if tp is Any:
        return _any
    if tp in (int, str, bytes, bool):
        return _scalar(tp)
    if tp is float:
        return _float
    if isinstance(tp, type) and issubclass(tp, enum.IntEnum):
        return _enum(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _nested(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (tuple, list) and (origin is list or (len(args) == 2 and args[1] is Ellipsis)):
        return _sequence(_compile(args[0]))
    if origin is dict and args and args[0] is str:
        return _mapping(_compile(args[1]))
    raise TypeError(f"annotation {tp!r} cannot be carried on the wire")


def _compile_encoder(tp: Any) -> Callable[[Any], Any] | None:
    """Encoder for one annotation, or None when msgpack packs the value as it is."""
    inner, _ = _unwrap_optional(tp)
    if isinstance(inner, type) and dataclasses.is_dataclass(inner):
        struct_codec = _struct(inner)
        return struct_codec.encode_fields
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin in (tuple, list) and args:
        item = _compile_encoder(args[0])
        if item is None:
            return None
        return lambda seq: [None if v is None else item(v) for v in seq]
    return None


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not part of the protocol")


class Codec:
    """Encodes and decodes protocol frames; one per transport (stateless apart from its tables)."""

    def __init__(self, messages: dict[MsgType, type] | None = None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.messages = dict(MESSAGES if messages is None else messages)
        self.max_message_bytes = max_message_bytes
        self._by_tag: dict[int, _StructCodec] = {int(t): _struct(c) for t, c in self.messages.items()}
        self._tag_of: dict[type, int] = {c: int(t) for t, c in self.messages.items()}
        self._packer = msgpack.Packer(use_bin_type=True, autoreset=True)

    def encode(self, msg: Any, corr_id: int = 0) -> bytes:
        tag = self._tag_of.get(type(msg))
        if tag is None:
            raise LocalProtocolError(f"{type(msg).__name__} is not a registered wire message")
        struct_codec = self._by_tag[tag]
        try:
            frame = self._packer.pack([PROTOCOL_VERSION, tag, corr_id, *struct_codec.encode_fields(msg)])
        except (TypeError, ValueError, OverflowError) as err:
            raise LocalProtocolError(f"cannot encode {type(msg).__name__}: {err}") from err
        if len(frame) > self.max_message_bytes:
            raise LocalProtocolError(
                f"{type(msg).__name__} is {len(frame)} bytes, over the {self.max_message_bytes}-byte limit"
            )
        return frame

    def decode(self, frame: bytes) -> tuple[int, Any]:
        """Return `(corr_id, message)` or raise `RemoteProtocolError`."""
        if len(frame) > self.max_message_bytes:
            raise RemoteProtocolError(
                ErrorCode.OVERSIZED,
                f"frame is {len(frame)} bytes, over the {self.max_message_bytes}-byte limit",
            )
        try:
            values = msgpack.unpackb(frame, use_list=False, raw=False, ext_hook=_reject_ext)
        except Exception as err:  # msgpack raises a zoo of ValueError/TypeError subclasses
            raise RemoteProtocolError(ErrorCode.MALFORMED_FRAME, f"not a msgpack frame: {err}") from None
        if type(values) is not tuple or len(values) < 3:
            raise RemoteProtocolError(
                ErrorCode.MALFORMED_FRAME, "frame must be an array [version, type, corr_id, fields...]"
            )
        version, tag, corr_id = values[0], values[1], values[2]
        if type(corr_id) is not int or not 0 <= corr_id < 2**64:
            raise RemoteProtocolError(ErrorCode.MALFORMED_FRAME, "corr_id must be an unsigned integer")
        if version != PROTOCOL_VERSION or type(version) is not int:
            raise RemoteProtocolError(
                ErrorCode.UNSUPPORTED_VERSION,
                f"protocol version {version!r} is not supported (this node speaks {PROTOCOL_VERSION})",
                corr_id,
            )
        struct_codec = self._by_tag.get(tag) if type(tag) is int else None
        if struct_codec is None:
            raise RemoteProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {tag!r}", corr_id)
        try:
            return corr_id, struct_codec.decode_fields(values, 3)
        except _FieldError as err:
            name = struct_codec.cls.__name__
            raise RemoteProtocolError(
                ErrorCode.INVALID_FIELD, f"{name}{err.path}: {err.reason}", corr_id
            ) from None
        except (TypeError, ValueError) as err:  # raised by a message's own __post_init__ checks
            name = struct_codec.cls.__name__
            raise RemoteProtocolError(ErrorCode.INVALID_FIELD, f"{name}: {err}", corr_id) from None

    def tag_of(self, msg_type: type) -> int | None:
        return self._tag_of.get(msg_type)

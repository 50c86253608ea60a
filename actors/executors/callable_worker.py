"""The child side of the callable pool: a long-lived Python process that runs `module:function` calls
read from stdin and answers on stdout, one call at a time, in the order received.

Frames are a 4-byte big-endian length then a msgpack body. Request: [call_id, "module:function",
args, kwargs]. Response: [call_id, status, payload] with status 0 = returned (payload: the value, or
its repr if msgpack cannot encode it), 1 = raised (payload: traceback text), 2 = the function could
not be loaded (payload: why). User code printing to stdout cannot corrupt the frames: fd 1 is pointed
at stderr and the protocol uses a private duplicate of the original stdout.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import msgpack

OK, RAISED, LOAD_FAILED = 0, 1, 2
HEADER = 4
MAX_FRAME = 256 * 1024 * 1024


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(HEADER, "big") + body


def encode_response(call_id: int, status: int, payload: Any) -> bytes:
    try:
        return frame(msgpack.packb([call_id, status, payload], use_bin_type=True))
    except (TypeError, ValueError, OverflowError):
        return frame(msgpack.packb([call_id, status, repr(payload)], use_bin_type=True))


def resolve_attribute(obj: Any, dotted: str) -> Any:
    """`obj.a.b` for "a.b" (so `pkg.mod:Class.method` works); None when a link is missing."""
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


class Loader:
    """Imports each module:function once and keeps it."""

    def __init__(self) -> None:
        self._cache: dict[str, Callable[..., Any]] = {}

    def get(self, target: str) -> Callable[..., Any]:
        fn = self._cache.get(target)
        if fn is None:
            module_name, sep, name = target.partition(":")
            if not sep or not module_name or not name:
                raise LookupError(f"{target!r} is not of the form module:function")
            try:
                module = importlib.import_module(module_name)
            except Exception as exc:
                raise LookupError(f"cannot import module {module_name!r}: {exc!r}") from exc
            fn = resolve_attribute(module, name)
            if not callable(fn):
                raise LookupError(f"module {module_name!r} has no callable {name!r}")
            self._cache[target] = fn
        return fn


def handle(loader: Loader, body: bytes) -> bytes:
    call_id, target, args, kwargs = msgpack.unpackb(body, raw=False)
    try:
        fn = loader.get(target)
    except LookupError as exc:
        return encode_response(call_id, LOAD_FAILED, f"cannot load function {target!r}: {exc}")
    try:
        value = fn(*args, **kwargs)
    except BaseException:  # SystemExit included: the call failed, the process lives on
        return encode_response(call_id, RAISED, traceback.format_exc())
    return encode_response(call_id, OK, value)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def serve(in_fd: int, out_fd: int) -> None:
    loader = Loader()
    buf = bytearray()
    while chunk := os.read(in_fd, 1 << 16):
        buf += chunk
        pos = 0
        while len(buf) - pos >= HEADER:
            size = int.from_bytes(buf[pos : pos + HEADER], "big")
            if size > MAX_FRAME:
                sys.exit(f"callable worker: frame of {size} bytes is too large")
            if len(buf) - pos - HEADER < size:
                break
            body = bytes(buf[pos + HEADER : pos + HEADER + size])
            pos += HEADER + size
            # answer each call at once, so the parent always knows which call is running
            write_all(out_fd, handle(loader, body))
        del buf[:pos]


def main() -> None:
    out_fd = os.dup(1)
    os.dup2(2, 1)  # prints from user code go to stderr, never into the protocol
    serve(0, out_fd)


if __name__ == "__main__":
    main()

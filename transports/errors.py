"""Protocol errors, split by whose fault they are (as in h11).

`LocalProtocolError` means this process misused the protocol (tried to send an
unregistered type, a value msgpack cannot carry, a message over the size limit):
it is a bug here and may propagate. `RemoteProtocolError` means a peer sent
bytes that are not a valid message: it is answered with an error reply and
counted, and never propagates out of a receive loop.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Why a request failed; carried by `ErrorReply.code` on the wire."""

    MALFORMED_FRAME = 1  # not msgpack, not an array, wrong multipart framing
    UNSUPPORTED_VERSION = 2  # header version is not one this node speaks
    UNKNOWN_TYPE = 3  # header type tag names no message
    INVALID_FIELD = 4  # a field is missing, of the wrong type or out of range
    OVERSIZED = 5  # the frame is larger than the receiver accepts
    UNEXPECTED_MESSAGE = 6  # a valid message this node does not take (e.g. a reply)
    NOT_LEADER = 7  # the request needs the leader; `ErrorReply.leader_address` says where it is
    UNAVAILABLE = 8  # the node cannot serve this now (no quorum, shutting down)
    TIMEOUT = 9  # the node gave up waiting (e.g. for a commit)
    UNAUTHORIZED = 10  # missing or wrong credentials
    REJECTED = 11  # the request is well-formed but its content is invalid (e.g. a bad task)
    NOT_FOUND = 12  # the request names something that does not exist
    INTERNAL = 99  # a bug on the receiving node; the node keeps running


class ProtocolError(Exception):
    """Base of every protocol error."""


class LocalProtocolError(ProtocolError):
    """We tried to put something on the wire that the protocol does not allow."""


class RemoteProtocolError(ProtocolError):
    """A peer sent bytes that are not a valid message.

    `corr_id` is the request's correlation id when the header could be read, so
    the error reply can be matched to the request; otherwise 0.
    """

    MAX_MESSAGE_CHARS = 300  # garbage can be large; the reply that names it must not be

    def __init__(self, code: ErrorCode, message: str, corr_id: int = 0) -> None:
        if len(message) > self.MAX_MESSAGE_CHARS:
            message = message[: self.MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(message)
        self.code = code
        self.message = message
        self.corr_id = corr_id

    def __repr__(self) -> str:
        return f"RemoteProtocolError({self.code.name}, {self.message!r}, corr_id={self.corr_id})"

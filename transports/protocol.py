"""Every message mesh puts on the wire, in one place.

A reader sees the whole protocol here: each message is a frozen, slotted
dataclass registered under a `MsgType` tag. The codec (`transports.codec`)
turns them into msgpack frames `[version, tag, corr_id, field...]` and back,
validating every field against the annotations below. `docs/PROTOCOL.md`
describes the same thing for clients in other languages.

Rules for changing this file: a new message gets a new tag; an existing
message only grows by appending fields that have defaults (old readers ignore
trailing fields they do not know); anything else bumps `PROTOCOL_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from transports.errors import ErrorCode

PROTOCOL_VERSION = 1
"""The only wire version this build speaks. Frames with another version get UNSUPPORTED_VERSION."""


class MsgType(IntEnum):
    """Wire tags. Ranges: 1-19 node and API basics, 20-39 Raft, 40-79 tasks and workers."""

    ERROR_REPLY = 1
    PING_REQUEST = 2
    PING_REPLY = 3
    STATUS_REQUEST = 4
    STATUS_REPLY = 5


# --- basics -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """The answer to any request that failed. `leader_address` is set with NOT_LEADER."""

    code: ErrorCode
    message: str
    leader_address: str | None = None


@dataclass(frozen=True, slots=True)
class PingRequest:
    """Liveness and round-trip probe. The reply echoes `sent_ns` and `payload` unchanged."""

    sent_ns: int
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class PingReply:
    sent_ns: int
    payload: bytes = b""
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask a node what it knows about itself and the cluster."""


@dataclass(frozen=True, slots=True)
class Member:
    """One member of the cluster as the answering node sees it."""

    node_id: str
    address: str
    role: str  # leader | follower | candidate | learner | worker | observer


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A node this node talks to, with what it last heard from it."""

    address: str
    node_id: str | None
    reachable: bool
    rtt_ms: float | None
    last_seen_s: float | None  # seconds since the last message from it


@dataclass(frozen=True, slots=True)
class StatusReply:
    """What a node says about itself. Raft fields stay at their defaults on a node without Raft."""

    node_id: str
    version: str
    roles: tuple[str, ...]
    address: str
    uptime_s: float
    health: dict[str, Any]
    capabilities: dict[str, Any]
    leader: str | None = None
    term: int = 0
    commit_index: int = 0
    members: tuple[Member, ...] = ()
    peers: tuple[PeerInfo, ...] = ()
    protocol_errors: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None  # role-specific sections (workers, task counts, ...)


MESSAGES: dict[MsgType, type] = {
    MsgType.ERROR_REPLY: ErrorReply,
    MsgType.PING_REQUEST: PingRequest,
    MsgType.PING_REPLY: PingReply,
    MsgType.STATUS_REQUEST: StatusRequest,
    MsgType.STATUS_REPLY: StatusReply,
}
"""Tag -> message class: the whole protocol. The codec builds its tables from this."""

Message = Any  # any instance of a class in MESSAGES

"""The Raft wire and storage types: messages, entries, snapshots, hard/conf state.

Every type here is a frozen, slotted dataclass built from plain scalars, IntEnums, optionals,
tuples and other such dataclasses, so `transports/` can serialize them generically. Nothing here
knows about sockets or disks. Node ids are `str`; `NONE` ("") means "no node".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

NONE = ""
"""The empty node id: "no leader", "voted for nobody"."""

CAMPAIGN_PRE_ELECTION = b"CampaignPreElection"
CAMPAIGN_ELECTION = b"CampaignElection"
CAMPAIGN_TRANSFER = b"CampaignTransfer"
"""Campaign kinds; CAMPAIGN_TRANSFER is also the vote `context` that overrides leader leases."""


class MessageType(IntEnum):
    """Every message kind. LOCAL ones never leave the node (see `LOCAL_MESSAGES`)."""

    HUP = 0  # local: start an election (pre-vote first when enabled)
    BEAT = 1  # local: leader should broadcast heartbeats
    PROP = 2  # local: append entries to the leader's log
    APP = 3  # AppendEntries request
    APP_RESP = 4  # AppendEntries response (also the reply to a restored snapshot)
    VOTE = 5  # RequestVote
    VOTE_RESP = 6
    SNAP = 7  # one chunk of InstallSnapshot (snapshot_offset / snapshot_done)
    SNAP_RESP = 8  # acknowledges a chunk: snapshot_offset = bytes held; reject = restart there
    HEARTBEAT = 9
    HEARTBEAT_RESP = 10
    UNREACHABLE = 11  # local: the driver could not reach `frm`
    SNAP_STATUS = 12  # local: the driver reports a snapshot transfer outcome (reject = failed)
    CHECK_QUORUM = 13  # local: leader checks it heard from a quorum in the last election timeout
    TRANSFER_LEADER = 14  # frm = the transferee; followers forward it to the leader
    TIMEOUT_NOW = 15  # leader tells the transferee to campaign at once
    READ_INDEX = 16  # context = request id; followers forward it to the leader
    READ_INDEX_RESP = 17
    PRE_VOTE = 18
    PRE_VOTE_RESP = 19


LOCAL_MESSAGES = frozenset(
    {MessageType.HUP, MessageType.BEAT, MessageType.PROP, MessageType.UNREACHABLE,
     MessageType.SNAP_STATUS, MessageType.CHECK_QUORUM}
)
"""Message types that only the local node may step; `RawNode.step` refuses them from peers."""

RESPONSE_MESSAGES = frozenset(
    {MessageType.APP_RESP, MessageType.VOTE_RESP, MessageType.HEARTBEAT_RESP,
     MessageType.PRE_VOTE_RESP, MessageType.SNAP_RESP, MessageType.UNREACHABLE,
     MessageType.SNAP_STATUS}
)


class EntryType(IntEnum):
    NORMAL = 0  # data is an application command
    CONF_CHANGE = 1  # data is an encoded `ConfChange`
    NOOP = 2  # the empty entry a new leader appends to commit its term


class StateRole(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


class ConfChangeType(IntEnum):
    ADD_VOTER = 0
    ADD_LEARNER = 1
    REMOVE_NODE = 2
    PROMOTE_LEARNER = 3


@dataclass(frozen=True, slots=True)
class Entry:
    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ConfState:
    """Cluster membership. Sorted tuples so equal memberships compare equal."""

    voters: tuple[str, ...] = ()
    learners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """State machine image up to `index` (whose entry had `term`), with the membership then.

    Inside a SNAP message `data` is one chunk; everywhere else it is the whole image.
    An index of 0 means "no snapshot" (a bootstrap may still carry a conf_state there).
    """

    index: int = 0
    term: int = 0
    conf_state: ConfState = ConfState()
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before a message that depends on it is sent."""

    term: int = 0
    vote: str = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class ConfChange:
    type: ConfChangeType
    node_id: str
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class Message:
    """One Raft message, etcd style: the fields a type does not use keep their defaults.

    - APP: index/log_term = the entry preceding `entries`; commit = leader commit.
    - APP_RESP: index = last matching index; on reject, reject_hint/log_term = the follower's
      guess of the conflict (largest index <= the probe whose term <= the leader's term).
    - SNAP: snapshot holds metadata + one chunk at snapshot_offset; snapshot_done on the last.
    - HEARTBEAT(_RESP)/READ_INDEX(_RESP): context carries the ReadIndex request id.
    """

    type: MessageType
    to: str = NONE
    frm: str = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    snapshot_offset: int = 0
    snapshot_done: bool = False
    context: bytes = b""


ENTRY_OVERHEAD = 16
"""Bytes charged per entry on top of its data when sizing messages and Ready batches."""


def entry_size(entry: Entry) -> int:
    return len(entry.data) + ENTRY_OVERHEAD


def payload_size(entries: tuple[Entry, ...] | list[Entry]) -> int:
    """Bytes of application data (what max_uncommitted_entries_size limits)."""
    return sum(len(e.data) for e in entries)


_CC_HEADER = struct.Struct(">BH")


def encode_conf_change(cc: ConfChange) -> bytes:
    """Entry data for a CONF_CHANGE entry: type byte, u16 id length, id, context."""
    node = cc.node_id.encode()
    return _CC_HEADER.pack(int(cc.type), len(node)) + node + cc.context


def decode_conf_change(data: bytes) -> ConfChange:
    kind, size = _CC_HEADER.unpack_from(data)
    start = _CC_HEADER.size
    node = data[start:start + size].decode()
    return ConfChange(ConfChangeType(kind), node, bytes(data[start + size:]))

"""Raft as a pure state machine: `step(msg)`, `tick()` -> `Ready`; no sockets, clocks or threads.

Start at `RawNode` (the driver API), `Config`, `Storage`/`MemoryStorage`/`SQLiteStorage`, and
`SessionStateMachine` (exactly-once client commands). docs/RAFT.md describes the contract.
"""

from typing import TYPE_CHECKING

from .config import Config
from .errors import (
    CompactedError,
    LocalProtocolError,
    NotLeader,
    ProposalDropped,
    RaftError,
    RaftInvariantError,
    SnapshotOutOfDateError,
    SnapshotTemporarilyUnavailable,
    StorageCorruptError,
    StorageError,
    UnavailableError,
)
from .fsm import StateMachine
from .messages import (
    NONE,
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    Snapshot,
    StateRole,
    decode_conf_change,
    encode_conf_change,
)
from .rawnode import RawNode
from .read_only import ReadState
from .ready import PeerProgress, Ready, SoftState, Status
from .session import ClientRequest, SessionStateMachine, decode_request, encode_request
from .storage import MemoryStorage, Storage

if TYPE_CHECKING:
    from .sqlite_storage import SQLiteStorage


def __getattr__(name: str) -> object:
    # SQLiteStorage pulls in sqlite-utils: load it only when asked for.
    if name == "SQLiteStorage":
        from .sqlite_storage import SQLiteStorage

        return SQLiteStorage
    raise AttributeError(f"module 'mesh.raft' has no attribute {name!r}")


__all__ = [
    "NONE",
    "ClientRequest",
    "CompactedError",
    "ConfChange",
    "ConfChangeType",
    "ConfState",
    "Config",
    "Entry",
    "EntryType",
    "HardState",
    "LocalProtocolError",
    "MemoryStorage",
    "Message",
    "MessageType",
    "NotLeader",
    "PeerProgress",
    "ProposalDropped",
    "RaftError",
    "RaftInvariantError",
    "RawNode",
    "ReadState",
    "Ready",
    "SQLiteStorage",
    "SessionStateMachine",
    "Snapshot",
    "SnapshotOutOfDateError",
    "SnapshotTemporarilyUnavailable",
    "SoftState",
    "StateMachine",
    "StateRole",
    "Status",
    "Storage",
    "StorageCorruptError",
    "StorageError",
    "UnavailableError",
    "decode_conf_change",
    "decode_request",
    "encode_conf_change",
    "encode_request",
]

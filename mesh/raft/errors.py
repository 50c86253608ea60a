"""Errors raised by the Raft package, split by whose fault they are.

`LocalProtocolError`s come from the caller misusing the API (never from network input);
`ProposalDropped` means "not now" (no leader, transfer in progress, ...) and is retryable;
`RaftInvariantError` means an internal invariant broke (a bug or corrupted state: stop the node);
storage errors say what the log can or cannot give.
"""

from __future__ import annotations


class RaftError(Exception):
    """Base class of every error raised by `mesh.raft`."""


class LocalProtocolError(RaftError):
    """The caller broke the API contract (bad config, advance without ready, ...)."""


class ProposalDropped(RaftError):
    """A proposal (or conf change, transfer, read) was refused; the caller may retry elsewhere/later."""


class NotLeader(ProposalDropped):
    """This node is not the leader; `leader` is the known leader id or "" when unknown."""

    def __init__(self, leader: str, message: str = "") -> None:
        super().__init__(message or f"not the leader (leader is {leader or 'unknown'})")
        self.leader = leader


class RaftInvariantError(RaftError):
    """A safety invariant would be broken (e.g. truncating committed entries). Never retry."""


class StorageError(RaftError):
    """Base class for errors reported by a `Storage`."""


class CompactedError(StorageError):
    """The requested index is older than the first index kept (it lives in a snapshot)."""


class UnavailableError(StorageError):
    """The requested index is newer than the last index stored."""


class SnapshotOutOfDateError(StorageError):
    """A snapshot older than the one already held was offered."""


class SnapshotTemporarilyUnavailable(StorageError):
    """The storage is producing a snapshot; ask again later."""


class StorageCorruptError(StorageError):
    """The durable state is damaged in a way that cannot be repaired safely.

    The message always names the file and what is wrong; the node must not start on it.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

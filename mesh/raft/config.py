"""`Config`: everything a Raft node is started with, with defaults and validation.

Times are in ticks. The node loop ticks every 15 ms, so the defaults mean: heartbeat every
2 ticks = 30 ms; election timeout randomized in [10, 20) ticks = 150-300 ms; a leader that has
not heard from a quorum for 10 ticks (150 ms) steps down (check-quorum).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import LocalProtocolError

MiB = 1024 * 1024


@dataclass(slots=True)
class Config:
    id: str
    election_tick: int = 10
    """Ticks without hearing from a leader before campaigning (randomized to [n, 2n))."""
    heartbeat_tick: int = 2
    """Ticks between leader heartbeats; must be < election_tick."""
    max_size_per_msg: int = 1 * MiB
    """Byte budget of one append message (at least one entry is always sent)."""
    max_inflight_msgs: int = 256
    """Appends a leader pipelines to one follower before waiting for acks."""
    max_inflight_bytes: int = 0
    """Byte bound on a follower's inflight appends (0 = count bound only)."""
    max_committed_size_per_ready: int = 8 * MiB
    """Byte budget of committed entries handed out in one Ready."""
    max_uncommitted_entries_size: int = 64 * MiB
    """Leader refuses proposals while this many payload bytes are uncommitted (0 = no limit)."""
    snapshot_chunk_size: int = 1 * MiB
    """Snapshot bytes per InstallSnapshot (SNAP) message."""
    check_quorum: bool = True
    pre_vote: bool = True
    step_down_on_removal: bool = True
    seed: int | None = None
    """Seed of the election-timeout RNG; None draws from the OS (tests always pass one)."""
    applied: int = 0
    """Index the state machine has already applied (on restart), 0 = from the snapshot."""

    def validate(self) -> None:
        if not self.id:
            raise LocalProtocolError("config.id must be a non-empty node id")
        if self.heartbeat_tick <= 0:
            raise LocalProtocolError("heartbeat_tick must be > 0")
        if self.election_tick <= self.heartbeat_tick:
            raise LocalProtocolError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise LocalProtocolError("max_inflight_msgs must be > 0")
        if self.max_size_per_msg <= 0 or self.snapshot_chunk_size <= 0:
            raise LocalProtocolError("message and chunk sizes must be > 0")
        if self.max_uncommitted_entries_size < 0 or self.max_inflight_bytes < 0:
            raise LocalProtocolError("size limits must be >= 0")

"""Snapshots and log compaction; chunked InstallSnapshot (offset/done), reassembly, and clean
restarts after lost, duplicated or reordered chunks."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.raft import CompactedError, ConfState, MessageType, Snapshot
from mesh.raft.progress import ProgressState

from .helpers import drain, msg, new_node
from .network import Network

T = MessageType
ABC = ["a", "b", "c"]
IMAGE = bytes(range(256)) * 2  # 512 bytes of state machine image


def lagging_follower_network(**config: Any) -> Network:
    """a leads; c missed 10 entries that a then compacted into a snapshot."""
    net = Network(ABC, snapshot_chunk_size=50, **config)
    net.elect("a")
    net.isolate("c")
    for i in range(10):
        net.propose("a", f"x{i}".encode())
    snap = net.nodes["a"].compact(IMAGE)
    assert snap.index == net.raft("a").log.committed
    assert net.raft("a").log.first_index() == snap.index + 1
    net.heal()
    return net


def snap_chunks(net: Network, to: str = "c") -> list:
    return [m for m in net.sent if m.type == T.SNAP and m.to == to]


def test_compaction_drops_log_prefix_and_keeps_the_snapshot() -> None:
    net = Network(["solo"])
    net.nodes["solo"].campaign()
    for i in range(5):
        net.propose("solo", f"x{i}".encode())
    raw = net.nodes["solo"]
    snap = raw.compact(b"image", keep_entries=2)
    storage = net.storages["solo"]
    assert storage.snapshot() == snap and snap.data == b"image"
    assert snap.conf_state == ConfState(("solo",), ())
    assert storage.first_index() == snap.index - 1  # two entries kept for slow followers
    with pytest.raises(CompactedError):
        storage.entries(1, 2)


def test_follower_behind_compacted_log_receives_snapshot_in_chunks() -> None:
    net = lagging_follower_network()
    net.tick_all(3)
    chunks = snap_chunks(net)
    assert len(chunks) >= len(IMAGE) // 50
    assert [m.snapshot_offset for m in chunks] == sorted(m.snapshot_offset for m in chunks)
    assert chunks[-1].snapshot_done and not any(m.snapshot_done for m in chunks[:-1])
    installed = net.storages["c"].snapshot()
    assert installed.data == IMAGE and installed.index == net.storages["a"].snapshot().index


def test_follower_catches_up_with_entries_after_installing_snapshot() -> None:
    net = lagging_follower_network()
    net.tick_all(3)
    net.propose("a", b"after")
    assert net.applied_data("c")[-1] == b"after"
    pr = net.raft("a").tracker.progress["c"]
    assert pr.state == ProgressState.REPLICATE and pr.match == net.raft("a").log.last_index()


def test_lost_snapshot_chunk_restarts_transfer_cleanly() -> None:
    net = lagging_follower_network()
    dropped: list[int] = []

    def lose_third_chunk_once(m) -> bool:
        if m.type == T.SNAP and m.snapshot_offset == 100 and not dropped:
            dropped.append(m.snapshot_offset)
            return False
        return True

    net.filters.append(lose_third_chunk_once)
    net.tick_all(2)
    assert dropped and net.storages["c"].snapshot().index == 0  # stalled at the lost chunk
    net.tick_all(6)  # a heartbeat round without an ack: the chunk is sent again
    assert net.storages["c"].snapshot().data == IMAGE
    assert [m.snapshot_offset for m in snap_chunks(net)].count(100) == 2


def test_duplicated_and_reordered_chunks_do_not_corrupt_the_snapshot() -> None:
    leader_snapshot = Snapshot(20, 3, ConfState(tuple(ABC)), IMAGE)
    raw = new_node("c", ABC)

    def chunk(offset: int, size: int = 100) -> object:
        part = Snapshot(20, 3, leader_snapshot.conf_state, IMAGE[offset:offset + size])
        return msg(T.SNAP, "a", "c", 3, snapshot=part, snapshot_offset=offset,
                   snapshot_done=offset + size >= len(IMAGE))

    acks = []
    for offset in [0, 0, 200, 100, 100, 200, 300, 400, 500]:  # dup, skip ahead, in order
        raw.step(chunk(offset))  # type: ignore[arg-type]
        acks += [(m.snapshot_offset, m.reject) for m in drain(raw).of_type(T.SNAP_RESP)]
    # A refused chunk is answered with the offset to resume from.
    assert acks == [(100, False), (100, True), (100, True), (200, False), (200, True),
                    (300, False), (400, False), (500, False)]
    assert raw.raft.log.storage.snapshot().data == IMAGE


def test_chunk_of_a_different_snapshot_restarts_reassembly_from_zero() -> None:
    raw = new_node("c", ABC)
    first = Snapshot(20, 3, ConfState(tuple(ABC)), IMAGE[:100])
    raw.step(msg(T.SNAP, "a", "c", 3, snapshot=first, snapshot_offset=0))
    other = Snapshot(25, 3, ConfState(tuple(ABC)), IMAGE[100:200])
    raw.step(msg(T.SNAP, "a", "c", 3, snapshot=other, snapshot_offset=100))
    ack = drain(raw).of_type(T.SNAP_RESP)[-1]
    assert ack.reject and ack.snapshot_offset == 0 and ack.index == 25


def test_follower_ignores_snapshot_it_already_has_committed() -> None:
    raw = new_node("c", ABC, [1, 1, 1], commit=3)
    snap = Snapshot(2, 1, ConfState(tuple(ABC)), b"old")
    raw.step(msg(T.SNAP, "a", "c", 1, snapshot=snap, snapshot_offset=0, snapshot_done=True))
    out = drain(raw)
    assert [(m.type, m.index) for m in out.messages] == [(T.APP_RESP, 3)]
    assert raw.raft.log.first_index() == 1


def test_failed_snapshot_report_returns_follower_to_probe() -> None:
    net = lagging_follower_network()
    net.drop_type(T.SNAP)
    net.tick_all(3)
    pr = net.raft("a").tracker.progress["c"]
    assert pr.state == ProgressState.SNAPSHOT
    net.nodes["a"].report_snapshot("c", ok=False)
    assert pr.state == ProgressState.PROBE


def test_restart_from_snapshot_restores_membership_and_applied_index() -> None:
    net = lagging_follower_network()
    net.tick_all(3)
    snap = net.storages["c"].snapshot()
    net.start("c")
    status = net.nodes["c"].status()
    assert status.conf_state == ConfState(tuple(ABC), ())
    assert status.applied >= snap.index and status.commit >= snap.index

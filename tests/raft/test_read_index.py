"""Linearizable reads with ReadIndex (thesis §6.4): the leader records its commit index, proves
it is still leader with a heartbeat round acknowledged by a majority, and only then answers —
and only once it has committed an entry of its own term. Followers and learners forward."""

from __future__ import annotations

import pytest

from mesh.raft import MessageType, NotLeader, ReadState

from .helpers import drain, elect, msg, new_node
from .network import Network

T = MessageType
ABC = ["a", "b", "c"]


def committed_leader():
    raw = new_node("a", ABC)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    drain(raw)
    return raw


def test_leader_answers_read_index_only_after_heartbeat_quorum_acknowledges() -> None:
    raw = committed_leader()
    raw.read_index(b"r1")
    rd = raw.ready()
    beats = [m for m in rd.messages if m.type == T.HEARTBEAT]
    assert sorted(m.to for m in beats) == ["b", "c"] and all(m.context == b"r1" for m in beats)
    assert rd.read_states == []
    raw.advance(rd)
    raw.step(msg(T.HEARTBEAT_RESP, "b", "a", raw.term, context=b"r1"))
    assert raw.ready().read_states == [ReadState(raw.raft.log.committed, b"r1")]


def test_partitioned_leader_never_serves_a_read() -> None:
    net = Network(ABC)
    net.elect("a")
    net.isolate("a")
    net.nodes["a"].read_index(b"stale?")
    net.deliver()
    for _ in range(30):
        net.tick("a")
        assert not net.raft("a").read_states


def test_read_index_waits_until_leader_commits_an_entry_of_its_term() -> None:
    raw = new_node("a", ABC)
    elect(raw)
    raw.read_index(b"early")
    assert not [m for m in drain(raw).messages if m.context == b"early"]
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    beats = [m for m in drain(raw).messages if m.type == T.HEARTBEAT and m.context == b"early"]
    assert len(beats) == 2
    raw.step(msg(T.HEARTBEAT_RESP, "c", "a", raw.term, context=b"early"))
    assert [rs.context for rs in raw.ready().read_states] == [b"early"]


def test_one_acknowledged_round_answers_every_earlier_request_in_order() -> None:
    raw = committed_leader()
    for ctx in [b"r1", b"r2", b"r3"]:
        raw.read_index(ctx)
    drain(raw)
    raw.step(msg(T.HEARTBEAT_RESP, "b", "a", raw.term, context=b"r3"))
    assert [rs.context for rs in raw.ready().read_states] == [b"r1", b"r2", b"r3"]


def test_follower_read_index_is_forwarded_and_answered_with_leader_commit() -> None:
    net = Network(ABC)
    net.elect("a")
    net.propose("a", b"x")
    net.nodes["c"].read_index(b"from-c")
    net.deliver()
    forwarded = [m for m in net.sent if m.type == T.READ_INDEX]
    assert [(m.frm, m.to, m.context) for m in forwarded] == [("c", "a", b"from-c")]
    assert net.read_states["c"] == [ReadState(net.raft("a").log.committed, b"from-c")]
    assert net.read_states["a"] == []


def test_learner_can_serve_linearizable_reads_through_the_leader() -> None:
    net = Network(ABC, learners=["l"])
    net.elect("a")
    net.nodes["l"].read_index(b"obs")
    net.deliver()
    assert [rs.context for rs in net.read_states["l"]] == [b"obs"]


def test_single_voter_answers_read_index_at_once() -> None:
    raw = new_node("solo", ["solo"])
    raw.campaign()
    drain(raw)
    raw.read_index(b"r")
    assert raw.ready().read_states == [ReadState(raw.raft.log.committed, b"r")]


def test_read_index_without_a_known_leader_is_refused() -> None:
    raw = new_node("b", ABC)
    with pytest.raises(NotLeader):
        raw.read_index(b"r")

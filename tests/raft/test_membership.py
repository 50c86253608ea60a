"""Membership changes one server at a time (thesis §4.1): in force once appended, rolled back
with a truncated log, proposed only after the leader committed in its term and only when the
previous change is committed; learners, their catch-up check and promotion; joining nodes;
bootstrap of a brand-new cluster."""

from __future__ import annotations

import pytest

from mesh.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    EntryType,
    MemoryStorage,
    MessageType,
    ProposalDropped,
    StateRole,
    encode_conf_change,
)

from .helpers import drain, elect, msg, new_node
from .network import Network

T = MessageType
CC = ConfChangeType
ABC = ["a", "b", "c"]


def add(net: Network, leader: str, kind: ConfChangeType, node: str) -> None:
    net.nodes[leader].propose_conf_change(ConfChange(kind, node))
    net.deliver()


def test_joining_node_starts_empty_and_never_campaigns_before_it_is_added() -> None:
    net = Network(ABC, joining=["d"])
    for _ in range(100):
        net.tick("d")
    assert net.nodes["d"].term == 0 and net.nodes["d"].role == StateRole.FOLLOWER
    assert net.nodes["d"].conf_state() == ConfState()


def test_added_node_learns_bootstrap_membership_and_whole_log() -> None:
    net = Network(ABC, joining=["d"])
    net.elect("a")
    net.propose("a", b"before")
    add(net, "a", CC.ADD_VOTER, "d")
    net.tick_all(3)
    assert net.nodes["d"].conf_state() == ConfState(("a", "b", "c", "d"), ())
    assert net.applied_data("d") == [b"before"]


def test_membership_change_takes_effect_as_soon_as_it_is_appended() -> None:
    net = Network(ABC, joining=["d"])
    net.elect("a")
    net.cut.update({("a", "b"), ("a", "c"), ("a", "d")})
    index = net.nodes["a"].propose_conf_change(ConfChange(CC.ADD_VOTER, "d"))
    net.deliver()
    assert net.raft("a").log.committed < index
    assert net.nodes["a"].conf_state().voters == ("a", "b", "c", "d")
    assert "d" in net.raft("a").tracker.progress


def test_new_voter_counts_toward_quorum() -> None:
    net = Network(ABC, joining=["d", "e"])
    net.elect("a")
    add(net, "a", CC.ADD_VOTER, "d")
    add(net, "a", CC.ADD_VOTER, "e")
    net.tick_all(3)
    net.isolate("b")
    net.isolate("c")  # a, d, e are 3 of 5
    index = net.nodes["a"].propose(b"x")
    net.deliver()
    assert net.raft("a").log.committed >= index


def test_removed_voter_no_longer_counts_and_stops_participating() -> None:
    net = Network(ABC)
    net.elect("a")
    add(net, "a", CC.REMOVE_NODE, "c")
    assert net.nodes["a"].conf_state().voters == ("a", "b")
    net.isolate("c")
    net.propose("a", b"x")
    assert b"x" in net.applied_data("b")
    for _ in range(100):
        net.tick("c")
    assert net.nodes["c"].role != StateRole.LEADER and net.nodes["c"].term == 2
    assert not net.raft("c").promotable()


def test_leader_removing_itself_steps_down_once_the_change_commits() -> None:
    net = Network(ABC)
    net.elect("a")
    add(net, "a", CC.REMOVE_NODE, "a")
    assert net.nodes["a"].role == StateRole.FOLLOWER
    assert net.nodes["b"].conf_state().voters == ("b", "c")
    net.tick_all(40)
    assert net.leader() in ("b", "c")


def test_conf_change_refused_until_leader_has_committed_an_entry_of_its_term() -> None:
    raw = new_node("a", ABC)
    elect(raw)  # the no-op is appended but not yet acknowledged
    with pytest.raises(ProposalDropped, match="committed an entry of its term"):
        raw.propose_conf_change(ConfChange(CC.ADD_VOTER, "d"))
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    raw.propose_conf_change(ConfChange(CC.ADD_VOTER, "d"))


def test_second_conf_change_refused_while_first_is_uncommitted() -> None:
    raw = new_node("a", ABC)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    index = raw.propose_conf_change(ConfChange(CC.ADD_VOTER, "d"))
    with pytest.raises(ProposalDropped, match="not committed yet"):
        raw.propose_conf_change(ConfChange(CC.ADD_LEARNER, "e"))
    for peer in ["b", "c"]:
        raw.step(msg(T.APP_RESP, peer, "a", raw.term, index=index))
    raw.propose_conf_change(ConfChange(CC.ADD_LEARNER, "e"))


@pytest.mark.parametrize("cc", [
    ConfChange(CC.ADD_VOTER, "b"),
    ConfChange(CC.REMOVE_NODE, "zz"),
    ConfChange(CC.PROMOTE_LEARNER, "b"),
    ConfChange(CC.ADD_LEARNER, "c"),
])
def test_invalid_conf_change_is_refused(cc: ConfChange) -> None:
    raw = new_node("a", ABC)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    with pytest.raises(ProposalDropped, match="invalid conf change"):
        raw.propose_conf_change(cc)


def test_uncommitted_membership_change_rolls_back_when_its_entry_is_overwritten() -> None:
    raw = new_node("c", ABC, [1])
    cc = encode_conf_change(ConfChange(CC.ADD_VOTER, "d"))
    from mesh.raft import Entry
    raw.step(msg(T.APP, "a", "c", 2, index=1, log_term=1, entries=(Entry(2, 2, EntryType.CONF_CHANGE, cc),)))
    assert raw.conf_state().voters == ("a", "b", "c", "d")
    # b won term 3 without that entry and overwrites index 2.
    raw.step(msg(T.APP, "b", "c", 3, index=1, log_term=1, entries=(Entry(3, 2, EntryType.NOOP),)))
    assert raw.conf_state().voters == ("a", "b", "c")
    assert "d" not in raw.raft.tracker.progress


def test_learner_replicates_but_neither_votes_nor_counts_for_commit() -> None:
    net = Network(ABC, joining=["l"])
    net.elect("a")
    add(net, "a", CC.ADD_LEARNER, "l")
    net.propose("a", b"x")
    assert net.applied_data("l") == [b"x"]
    net.isolate("b")
    net.isolate("c")
    index = net.nodes["a"].propose(b"y")
    net.deliver()
    assert net.raft("a").log.committed < index  # a + learner is not a majority of 3
    votes = [m for m in net.sent if m.type in (T.VOTE, T.PRE_VOTE) and m.to == "l"]
    assert votes == []


def test_learner_caught_up_check_then_promotion_to_voter() -> None:
    net = Network(ABC, joining=["l"])
    net.elect("a")
    for i in range(5):
        net.propose("a", f"x{i}".encode())
    net.cut.update({("a", "l")})
    add(net, "a", CC.ADD_LEARNER, "l")
    assert not net.nodes["a"].learner_caught_up("l")
    net.heal()
    net.tick_all(3)
    assert net.nodes["a"].learner_caught_up("l")
    assert not net.nodes["a"].learner_caught_up("b")  # voters are not learners
    add(net, "a", CC.PROMOTE_LEARNER, "l")
    assert net.nodes["l"].conf_state().voters == ("a", "b", "c", "l")
    assert net.raft("l").promotable()


def test_bootstrap_single_voter_cluster_then_grow_to_three() -> None:
    net = Network(["a"], joining=["b", "c"])
    net.nodes["a"].campaign()
    net.propose("a", b"first")
    add(net, "a", CC.ADD_VOTER, "b")
    net.tick_all(3)
    add(net, "a", CC.ADD_VOTER, "c")
    net.tick_all(3)
    for node in ["a", "b", "c"]:
        assert net.nodes[node].conf_state().voters == ("a", "b", "c")
        assert net.applied_data(node) == [b"first"]


def test_bootstrap_writes_one_committed_add_entry_per_member() -> None:
    storage = MemoryStorage()
    storage.bootstrap(ConfState(("a", "b"), ("l",)))
    entries = storage.entries(1, storage.last_index() + 1)
    assert [e.type for e in entries] == [EntryType.CONF_CHANGE] * 3
    assert storage.hard_state.commit == 3 and storage.hard_state.term == 1
    raw = new_node("x", [])  # any node reading this storage sees the membership
    del raw
    from mesh.raft import Config, RawNode
    node = RawNode(Config(id="a", seed=1), storage)
    assert node.conf_state() == ConfState(("a", "b"), ("l",))
    assert [e.index for e in drain(node).committed] == [1, 2, 3]

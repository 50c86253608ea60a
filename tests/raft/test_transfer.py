"""Leadership transfer (thesis §3.10): catch the target up, send TimeoutNow, refuse proposals
meanwhile, give up after an election timeout."""

from __future__ import annotations

import pytest

from mesh.raft import ConfChange, ConfChangeType, MessageType, ProposalDropped, StateRole

from .network import Network

T = MessageType
ABC = ["a", "b", "c"]


def test_transfer_to_up_to_date_follower_makes_it_leader() -> None:
    net = Network(ABC)
    net.elect("a")
    net.propose("a", b"x")
    net.nodes["a"].transfer_leadership("b")
    net.deliver()
    assert net.leader() == "b"
    assert net.nodes["a"].role == StateRole.FOLLOWER and net.nodes["a"].lead == "b"
    timeout_now = [m for m in net.sent if m.type == T.TIMEOUT_NOW]
    assert [(m.frm, m.to) for m in timeout_now] == [("a", "b")]


def test_transfer_target_wins_even_though_followers_are_in_a_leader_lease() -> None:
    net = Network(ABC)  # check-quorum on: followers ignore ordinary vote requests now
    net.elect("a")
    net.nodes["a"].transfer_leadership("c")
    net.deliver()
    assert net.leader() == "c"
    votes = [m for m in net.sent if m.type == T.VOTE and m.frm == "c"]
    assert votes and all(m.context == b"CampaignTransfer" for m in votes)


def test_transfer_to_lagging_follower_first_catches_it_up() -> None:
    net = Network(ABC)
    net.elect("a")
    net.cut.add(("a", "c"))
    for i in range(5):
        net.propose("a", f"x{i}".encode())
    net.sent.clear()
    net.heal()
    net.nodes["a"].transfer_leadership("c")
    net.deliver()
    kinds = [m.type for m in net.sent if m.frm == "a" and m.to == "c"]
    assert T.APP in kinds and kinds.index(T.APP) < kinds.index(T.TIMEOUT_NOW)
    assert net.leader() == "c"
    assert net.applied_data("c")[:5] == [f"x{i}".encode() for i in range(5)]


def test_proposals_are_refused_while_transfer_is_in_progress() -> None:
    net = Network(ABC)
    net.elect("a")
    net.isolate("b")
    net.nodes["a"].transfer_leadership("b")
    net.deliver()
    with pytest.raises(ProposalDropped, match="transfer"):
        net.nodes["a"].propose(b"x")
    with pytest.raises(ProposalDropped, match="transfer"):
        net.nodes["a"].propose_conf_change(ConfChange(ConfChangeType.ADD_VOTER, "d"))


def test_transfer_is_abandoned_after_an_election_timeout() -> None:
    net = Network(ABC)
    net.elect("a")
    net.isolate("b")
    net.nodes["a"].transfer_leadership("b")
    net.deliver()
    for _ in range(net.raft("a").election_timeout):
        net.tick("a")
    net.deliver()
    assert net.leader() == "a" and net.raft("a").lead_transferee == ""
    net.propose("a", b"accepted again")
    assert b"accepted again" in net.applied_data("c")


def test_follower_forwards_transfer_request_to_leader() -> None:
    net = Network(ABC)
    net.elect("a")
    net.nodes["c"].transfer_leadership("c")
    net.deliver()
    assert net.leader() == "c"


def test_transfer_to_non_voter_is_refused() -> None:
    net = Network(ABC, learners=["l"])
    net.elect("a")
    with pytest.raises(ProposalDropped):
        net.nodes["a"].transfer_leadership("l")
    with pytest.raises(ProposalDropped):
        net.nodes["a"].transfer_leadership("nobody")

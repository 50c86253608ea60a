"""Elections beyond the paper: pre-vote, check-quorum, lease-based vote rejection,
single-voter bootstrap, learners never campaigning (Ongaro thesis §9.6, §6.2)."""

from __future__ import annotations

from mesh.raft import MessageType, StateRole

from .helpers import drain, msg, new_node
from .network import Network

T = MessageType
ABC = ["a", "b", "c"]


def test_pre_vote_keeps_partitioned_node_from_inflating_its_term() -> None:
    net = Network(ABC)
    net.elect("a")
    term = net.nodes["a"].term
    net.isolate("c")
    for _ in range(100):
        net.tick("c")
    assert net.nodes["c"].term == term
    assert net.nodes["c"].role == StateRole.PRE_CANDIDATE


def test_pre_vote_lets_rejoining_node_leave_leader_undisturbed() -> None:
    net = Network(ABC)
    net.elect("a")
    term = net.nodes["a"].term
    net.isolate("c")
    net.tick_all(50)
    net.heal()
    net.tick_all(10)
    assert net.leader() == "a" and net.nodes["a"].term == term
    assert net.nodes["c"].role == StateRole.FOLLOWER and net.nodes["c"].lead == "a"


def test_without_pre_vote_rejoining_node_deposes_leader() -> None:
    """The disruption pre-vote prevents (the control for the two tests above)."""
    net = Network(ABC, pre_vote=False, check_quorum=False)
    net.elect("a")
    term = net.nodes["a"].term
    net.isolate("c")
    for _ in range(100):
        net.tick("c")
    assert net.nodes["c"].term > term + 3
    net.heal()
    net.tick_all(net.raft("a").heartbeat_timeout)
    assert net.nodes["a"].term > term


def test_pre_vote_does_not_change_voter_term_or_vote() -> None:
    raw = new_node("a", ABC, term=2)
    raw.step(msg(T.PRE_VOTE, "b", "a", 3, index=0, log_term=0))
    resp = drain(raw).of_type(T.PRE_VOTE_RESP)
    assert resp and not resp[0].reject and resp[0].term == 3
    assert (raw.term, raw.raft.vote) == (2, "")


def test_pre_vote_win_starts_a_real_election_with_term_plus_one() -> None:
    raw = new_node("a", ABC, term=4)
    raw.campaign()
    assert raw.role == StateRole.PRE_CANDIDATE and raw.term == 4
    raw.step(msg(T.PRE_VOTE_RESP, "b", "a", 5))
    assert raw.role == StateRole.CANDIDATE and raw.term == 5
    votes = drain(raw).of_type(T.VOTE)
    assert {m.term for m in votes} == {5}


def test_pre_candidate_lost_pre_vote_returns_to_follower_at_same_term() -> None:
    raw = new_node("a", ABC, term=4)
    raw.campaign()
    raw.step(msg(T.PRE_VOTE_RESP, "b", "a", 4, reject=True))
    raw.step(msg(T.PRE_VOTE_RESP, "c", "a", 4, reject=True))
    assert raw.role == StateRole.FOLLOWER and raw.term == 4


def test_leader_steps_down_without_quorum() -> None:
    net = Network(ABC)
    net.elect("a")
    net.isolate("a")
    for _ in range(2 * net.raft("a").election_timeout):
        net.tick("a")
    assert net.nodes["a"].role == StateRole.FOLLOWER


def test_leader_without_check_quorum_keeps_leading_alone() -> None:
    """Control: the step-down above is check-quorum's doing."""
    net = Network(ABC, check_quorum=False)
    net.elect("a")
    net.isolate("a")
    for _ in range(10 * net.raft("a").election_timeout):
        net.tick("a")
    assert net.nodes["a"].role == StateRole.LEADER


def test_leader_hearing_from_quorum_keeps_leading() -> None:
    net = Network(ABC)
    net.elect("a")
    net.isolate("c")
    net.tick_all(10 * net.raft("a").election_timeout)
    assert net.leader() == "a"


def test_follower_within_leader_lease_ignores_vote_requests() -> None:
    raw = new_node("a", ABC)
    raw.step(msg(T.HEARTBEAT, "b", "a", 1))
    drain(raw)
    raw.step(msg(T.VOTE, "c", "a", 2, index=5, log_term=1))
    raw.step(msg(T.PRE_VOTE, "c", "a", 2, index=5, log_term=1))
    assert drain(raw).messages == []
    assert (raw.term, raw.lead) == (1, "b")


def test_follower_past_leader_lease_grants_vote() -> None:
    raw = new_node("a", ABC)
    raw.step(msg(T.HEARTBEAT, "b", "a", 1))
    for _ in range(raw.raft.election_timeout):
        raw.tick()  # the randomized timeout is >= this, so we stay a follower
    drain(raw)
    raw.step(msg(T.VOTE, "c", "a", 2, index=5, log_term=1))
    resp = drain(raw).of_type(T.VOTE_RESP)
    assert resp and not resp[0].reject and raw.term == 2


def test_follower_without_check_quorum_grants_vote_within_lease() -> None:
    """Control: lease rejection comes with check-quorum."""
    raw = new_node("a", ABC, check_quorum=False)
    raw.step(msg(T.HEARTBEAT, "b", "a", 1))
    raw.step(msg(T.VOTE, "c", "a", 2, index=5, log_term=1))
    assert not drain(raw).of_type(T.VOTE_RESP)[0].reject


def test_stale_leader_steps_down_when_follower_answers_with_newer_term() -> None:
    raw = new_node("a", ABC)
    raw.campaign()
    raw.step(msg(T.PRE_VOTE_RESP, "b", "a", 1))
    raw.step(msg(T.VOTE_RESP, "b", "a", 1))
    assert raw.is_leader
    raw.step(msg(T.APP_RESP, "c", "a", 7))
    assert raw.role == StateRole.FOLLOWER and raw.term == 7


def test_single_voter_becomes_leader_as_soon_as_it_campaigns() -> None:
    net = Network(["solo"])
    net.nodes["solo"].campaign()
    assert net.nodes["solo"].is_leader
    net.propose("solo", b"x")
    assert net.applied_data("solo") == [b"x"]


def test_learner_never_campaigns() -> None:
    net = Network(["a", "b"], learners=["l"])
    for _ in range(100):
        net.tick("l")
    assert net.nodes["l"].role == StateRole.FOLLOWER and net.nodes["l"].term == 1
    net.nodes["l"].campaign()
    assert net.nodes["l"].role == StateRole.FOLLOWER


def test_default_timeouts_mean_150_to_300_ms_at_a_15_ms_tick() -> None:
    raw = new_node("a", ABC, seed=None)
    cfg_election, cfg_heartbeat = raw.raft.election_timeout, raw.raft.heartbeat_timeout
    assert (cfg_election * 15, 2 * cfg_election * 15) == (150, 300)
    assert cfg_heartbeat * 15 == 30
    assert 150 <= raw.raft.randomized_election_timeout * 15 < 300

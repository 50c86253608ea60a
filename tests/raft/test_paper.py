"""The sentences of the Raft paper, one test each: Figure 2 (rules for all servers, followers,
candidates, leaders; RequestVote and AppendEntries receiver rules) and §5.4 (election
restriction, committing entries from previous terms, leader completeness).

Pre-vote and check-quorum are extensions (tested in test_election.py); they are switched off
here so each test reads as the paper's rule.
"""

from __future__ import annotations

from typing import Any

import pytest

from mesh.raft import EntryType, MessageType, RawNode, StateRole

from .helpers import drain, elect, ents, log_terms, msg, new_node
from .network import Network

PAPER: dict[str, Any] = {"pre_vote": False, "check_quorum": False}
ABC = ["a", "b", "c"]
T = MessageType


def paper_node(node: str = "a", voters: list[str] = ABC, terms: list[int] | None = None,
               **kw: Any) -> RawNode:
    return new_node(node, voters, terms, **{**PAPER, **kw})


# -- Rules for all servers ------------------------------------------------------------------

def test_all_servers_apply_committed_entries_in_log_order() -> None:
    net = Network(ABC, **PAPER)
    net.elect("a")
    for i in range(5):
        net.propose("a", f"cmd{i}".encode())
    for node in ABC:
        applied = net.applied[node]
        assert [e.index for e in applied] == list(range(1, len(applied) + 1))
        assert net.applied_data(node) == [f"cmd{i}".encode() for i in range(5)]
        status = net.nodes[node].status()
        assert status.applied == status.commit == applied[-1].index


@pytest.mark.parametrize("role", ["follower", "candidate", "leader"])
@pytest.mark.parametrize("kind", [T.APP, T.HEARTBEAT, T.APP_RESP])
def test_higher_term_in_any_rpc_converts_server_to_follower(role: str, kind: MessageType) -> None:
    raw = paper_node()
    if role == "candidate":
        raw.campaign()
    elif role == "leader":
        elect(raw)
    drain(raw)
    term = raw.term
    raw.step(msg(kind, "b", "a", term + 5))
    assert raw.role == StateRole.FOLLOWER
    assert raw.term == term + 5
    assert raw.raft.vote == ""


# -- Followers --------------------------------------------------------------------------------

def test_follower_responds_to_append_entries_and_request_vote() -> None:
    raw = paper_node()
    raw.step(msg(T.VOTE, "b", "a", 1, index=0, log_term=0))
    raw.step(msg(T.APP, "c", "a", 2, index=0, log_term=0, entries=ents((2, 1))))
    out = drain(raw)
    assert [(m.type, m.to, m.reject) for m in out.messages] == [
        (T.VOTE_RESP, "b", False), (T.APP_RESP, "c", False)]


def test_follower_becomes_candidate_after_election_timeout_without_leader_contact() -> None:
    raw = paper_node()
    for _ in range(raw.raft.randomized_election_timeout - 1):
        raw.tick()
    assert raw.role == StateRole.FOLLOWER
    raw.tick()
    assert raw.role == StateRole.CANDIDATE


def test_follower_hearing_from_leader_or_granting_vote_resets_election_timer() -> None:
    raw = paper_node()
    timeout = raw.raft.randomized_election_timeout
    for round_ in range(10):
        for _ in range(timeout - 1):
            raw.tick()
        if round_ % 2:
            raw.step(msg(T.HEARTBEAT, "b", "a", 1))
        else:
            raw.step(msg(T.VOTE, "c", "a", 1, index=0, log_term=0))
        drain(raw)
    assert raw.role == StateRole.FOLLOWER


# -- Candidates -------------------------------------------------------------------------------

def test_candidate_increments_term_votes_for_itself_and_requests_votes_from_all() -> None:
    raw = paper_node(terms=[1, 1])
    raw.campaign()
    out = drain(raw)
    assert raw.role == StateRole.CANDIDATE
    assert (raw.term, raw.raft.vote) == (2, "a")
    votes = out.of_type(T.VOTE)
    assert sorted(m.to for m in votes) == ["b", "c"]
    assert all((m.term, m.index, m.log_term) == (2, 2, 1) for m in votes)
    assert out.persisted == [] and raw.raft.log.storage.initial_state()[0].vote == "a"


def test_candidate_with_votes_from_majority_becomes_leader() -> None:
    raw = paper_node(voters=["a", "b", "c", "d", "e"])
    raw.campaign()
    raw.step(msg(T.VOTE_RESP, "b", "a", 1))
    assert raw.role == StateRole.CANDIDATE  # 2 of 5
    raw.step(msg(T.VOTE_RESP, "c", "a", 1, reject=True))
    raw.step(msg(T.VOTE_RESP, "d", "a", 1))
    assert raw.role == StateRole.LEADER  # 3 of 5


def test_candidate_loses_when_majority_rejects() -> None:
    raw = paper_node()
    raw.campaign()
    raw.step(msg(T.VOTE_RESP, "b", "a", 1, reject=True))
    raw.step(msg(T.VOTE_RESP, "c", "a", 1, reject=True))
    assert raw.role == StateRole.FOLLOWER


@pytest.mark.parametrize("kind", [T.APP, T.HEARTBEAT])
def test_candidate_receiving_append_from_leader_of_its_term_becomes_follower(kind: MessageType) -> None:
    raw = paper_node()
    raw.campaign()
    raw.step(msg(kind, "b", "a", raw.term))
    assert raw.role == StateRole.FOLLOWER
    assert raw.lead == "b"


def test_candidate_starts_new_election_when_election_times_out() -> None:
    raw = paper_node()
    raw.campaign()
    drain(raw)
    for _ in range(2 * raw.raft.election_timeout):
        raw.tick()
    out = drain(raw)
    assert raw.role == StateRole.CANDIDATE and raw.term == 2
    assert sorted(m.to for m in out.of_type(T.VOTE) if m.term == 2) == ["b", "c"]


def test_election_timeouts_are_randomized_per_node_and_seed() -> None:
    timeouts = {paper_node(seed=s).raft.randomized_election_timeout for s in range(30)}
    assert len(timeouts) > 1
    assert all(10 <= t < 20 for t in timeouts)


# -- Leaders ----------------------------------------------------------------------------------

def test_leader_sends_heartbeats_on_election_and_every_heartbeat_interval() -> None:
    raw = paper_node()
    out = elect(raw)
    assert sorted(m.to for m in out.of_type(T.APP)) == ["b", "c"]  # the initial empty append
    for _ in range(raw.raft.heartbeat_timeout):
        raw.tick()
    out = drain(raw)
    assert sorted(m.to for m in out.of_type(T.HEARTBEAT)) == ["b", "c"]


def test_leader_appends_command_to_its_log_and_replies_after_it_is_applied() -> None:
    net = Network(ABC, **PAPER)
    net.elect("a")
    net.cut.update({("a", "b"), ("a", "c")})
    index = net.nodes["a"].propose(b"x")
    net.deliver()
    assert net.raft("a").log.last_index() == index
    assert b"x" not in net.applied_data("a")  # not committed: no reply yet
    net.heal()
    net.tick("a", net.raft("a").heartbeat_timeout)
    net.deliver()
    assert net.applied_data("a") == [b"x"]


def test_leader_sends_follower_entries_starting_at_its_next_index() -> None:
    raw = paper_node(terms=[1, 1, 1])
    elect(raw)
    pr = raw.raft.tracker.progress["b"]
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=2))  # b holds up to 2
    out = drain(raw)
    apps = [m for m in out.to("b") if m.type == T.APP and m.entries]
    assert apps and apps[0].index == 2 and [e.index for e in apps[0].entries] == [3, 4]
    assert pr.match == 2


def test_leader_decrements_next_index_on_rejection_and_retries() -> None:
    raw = paper_node(terms=[1, 1, 1, 1])
    elect(raw)
    pr = raw.raft.tracker.progress["b"]
    assert pr.next == 5
    # b rejects the probe at 4 without a hint beyond "my log ends at 2"
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=4, reject=True, reject_hint=2))
    out = drain(raw)
    retry = [m for m in out.to("b") if m.type == T.APP]
    assert retry and retry[0].index == 2 and retry[0].log_term == 1
    assert pr.next == 3


def test_leader_commits_entry_once_majority_stores_it_and_it_is_of_current_term() -> None:
    raw = paper_node(voters=["a", "b", "c", "d", "e"])
    elect(raw)
    index = raw.propose(b"x")
    drain(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=index))
    assert raw.raft.log.committed < index
    raw.step(msg(T.APP_RESP, "c", "a", raw.term, index=index))
    assert raw.raft.log.committed == index
    out = drain(raw)
    assert [e.data for e in out.committed if e.type == EntryType.NORMAL] == [b"x"]


# -- RequestVote receiver ---------------------------------------------------------------------

def test_request_vote_receiver_rejects_candidate_with_stale_term() -> None:
    raw = paper_node(term=3)
    raw.step(msg(T.VOTE, "b", "a", 2, index=5, log_term=2))
    resp = drain(raw).of_type(T.VOTE_RESP)
    assert resp and resp[0].reject and resp[0].term == 3


def test_request_vote_receiver_grants_at_most_one_vote_per_term() -> None:
    raw = paper_node()
    raw.step(msg(T.VOTE, "b", "a", 1, index=0, log_term=0))
    raw.step(msg(T.VOTE, "c", "a", 1, index=0, log_term=0))
    raw.step(msg(T.VOTE, "b", "a", 1, index=0, log_term=0))  # a retry from the same candidate
    resp = drain(raw).of_type(T.VOTE_RESP)
    assert [(m.to, m.reject) for m in resp] == [("b", False), ("c", True), ("b", False)]
    assert raw.raft.log.storage.initial_state()[0].vote == "b"  # persisted before the grant was sent


@pytest.mark.parametrize(("cand_index", "cand_term", "granted"), [
    (3, 2, True),   # same last term, same length
    (4, 2, True),   # same last term, longer
    (2, 2, False),  # same last term, shorter
    (1, 3, True),   # higher last term wins even if shorter
    (9, 1, False),  # lower last term loses even if longer
])
def test_request_vote_receiver_grants_only_if_candidate_log_is_at_least_as_up_to_date(
        cand_index: int, cand_term: int, granted: bool) -> None:
    raw = paper_node(terms=[1, 2, 2])
    raw.step(msg(T.VOTE, "b", "a", 5, index=cand_index, log_term=cand_term))
    resp = drain(raw).of_type(T.VOTE_RESP)
    assert resp[0].reject is not granted


# -- AppendEntries receiver -------------------------------------------------------------------

def test_append_entries_receiver_rejects_leader_with_stale_term() -> None:
    raw = paper_node(terms=[1, 2], term=3)
    raw.step(msg(T.APP, "b", "a", 2, index=2, log_term=2, entries=ents((2, 3))))
    out = drain(raw)
    assert log_terms(raw) == [1, 2]
    assert [(m.type, m.term) for m in out.messages] == [(T.APP_RESP, 3)]  # tells it the new term


@pytest.mark.parametrize(("prev_index", "prev_term"), [(3, 2), (2, 1)])
def test_append_entries_receiver_rejects_when_prev_entry_missing_or_term_differs(
        prev_index: int, prev_term: int) -> None:
    raw = paper_node(terms=[1, 2])
    raw.step(msg(T.APP, "b", "a", 3, index=prev_index, log_term=prev_term, entries=ents((3, prev_index + 1))))
    resp = drain(raw).of_type(T.APP_RESP)
    assert resp[0].reject and resp[0].index == prev_index
    assert log_terms(raw) == [1, 2]


def test_append_entries_receiver_deletes_conflicting_entry_and_all_that_follow() -> None:
    raw = paper_node(terms=[1, 1, 2, 2])
    raw.step(msg(T.APP, "b", "a", 3, index=2, log_term=1, entries=ents((3, 3))))
    drain(raw)
    assert log_terms(raw) == [1, 1, 3]


def test_append_entries_receiver_appends_new_entries_and_keeps_matching_ones() -> None:
    raw = paper_node(terms=[1, 1, 1])
    # A stale, shorter duplicate must not truncate entries after it (rule 3 only on conflict).
    raw.step(msg(T.APP, "b", "a", 1, index=0, log_term=0, entries=ents((1, 1), (1, 2))))
    assert log_terms(raw) == [1, 1, 1]
    raw.step(msg(T.APP, "b", "a", 1, index=3, log_term=1, entries=ents((1, 4), (1, 5))))
    drain(raw)
    assert log_terms(raw) == [1, 1, 1, 1, 1]


@pytest.mark.parametrize(("leader_commit", "n_entries", "expected"), [
    (5, 1, 3),  # leader commit beyond the last new entry: stop at the last new entry
    (2, 1, 2),  # leader commit within: take it
])
def test_append_entries_receiver_sets_commit_to_min_of_leader_commit_and_last_new_entry(
        leader_commit: int, n_entries: int, expected: int) -> None:
    raw = paper_node(terms=[1, 1, 1, 1, 1])  # entries 4 and 5 are stale; only the probe counts
    raw.step(msg(T.APP, "b", "a", 1, index=2, log_term=1, entries=ents((1, 3)), commit=leader_commit))
    assert raw.raft.log.committed == expected


# -- §5.4 Safety ------------------------------------------------------------------------------

def test_election_restriction_candidate_missing_committed_entries_cannot_win() -> None:
    net = Network(ABC, **PAPER)
    net.elect("a")
    net.isolate("c")
    net.propose("a", b"committed")  # a and b have it; c does not
    assert b"committed" in net.applied_data("b")
    net.heal()
    net.isolate("a")  # the leader is gone; c is behind, b is up to date
    net.nodes["c"].campaign()
    net.deliver()
    assert net.nodes["c"].role != StateRole.LEADER
    net.nodes["b"].campaign()
    net.deliver()
    assert net.nodes["b"].role == StateRole.LEADER


def test_leader_never_commits_entry_from_previous_term_by_counting_replicas() -> None:
    """Figure 8: a replica count is not enough for an old-term entry."""
    voters = ["s1", "s2", "s3", "s4", "s5"]
    # s1 led term 2 and wrote index 2 (term 2) to s2 only; s5 led term 3 writing index 2 (term 3).
    s1 = new_node("s1", voters, [1, 2], term=3, commit=1, **PAPER)
    s1.campaign()  # term 4
    assert s1.term == 4
    for peer in ["s2", "s3"]:
        s1.step(msg(T.VOTE_RESP, peer, "s1", 4))
    assert s1.is_leader
    drain(s1)
    # The noop (index 3, term 4) has not reached anyone yet; s3 now also stores index 2 (term 2).
    s1.step(msg(T.APP_RESP, "s2", "s1", 4, index=2))
    s1.step(msg(T.APP_RESP, "s3", "s1", 4, index=2))
    assert s1.raft.log.committed == 1  # majority holds index 2, but it is from term 2
    # Once an entry of the current term is on a majority, everything before it commits.
    s1.step(msg(T.APP_RESP, "s2", "s1", 4, index=3))
    s1.step(msg(T.APP_RESP, "s3", "s1", 4, index=3))
    assert s1.raft.log.committed == 3


def test_leader_completeness_every_new_leader_holds_all_committed_entries() -> None:
    net = Network(["a", "b", "c", "d", "e"], **PAPER)
    net.elect("a")
    committed: list[bytes] = []
    for round_, leader in enumerate(["b", "c", "d", "e", "a"]):
        data = f"r{round_}".encode()
        net.propose(net.leader() or "a", data)
        committed.append(data)
        net.isolate(net.leader() or "a")
        net.nodes[leader].campaign()
        net.deliver()
        if not net.nodes[leader].is_leader:
            continue  # its log was behind: the election restriction stopped it
        entries = [e.data for e in net.raft(leader).log.all_entries() if e.type == EntryType.NORMAL]
        assert entries[:len(committed)] == committed
        net.heal()
        net.tick_all(3)

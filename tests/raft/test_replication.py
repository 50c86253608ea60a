"""Log replication mechanics: the no-op on election, batching per Ready and per message,
pipelining bounded by inflights, probe vs replicate, fast conflict back-off, limits, and the
Ready contract (what must be durable before messages leave)."""

from __future__ import annotations

import pytest

from mesh.raft import EntryType, HardState, MessageType, ProposalDropped
from mesh.raft.progress import ProgressState

from .helpers import drain, elect, ents, msg, new_node

T = MessageType
ABC = ["a", "b", "c"]


def test_new_leader_appends_noop_entry_of_its_term() -> None:
    raw = new_node("a", ABC, [1, 1], term=1)
    elect(raw)
    last = raw.raft.log.all_entries()[-1]
    assert (last.index, last.term, last.type, last.data) == (3, raw.term, EntryType.NOOP, b"")


def test_noop_commit_commits_entries_of_previous_terms() -> None:
    raw = new_node("a", ABC, [1, 1], term=1, pre_vote=False)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=3))
    assert raw.raft.log.committed == 3


def test_proposals_made_before_one_ready_go_out_as_one_append_per_follower() -> None:
    raw = new_node("a", ABC)
    elect(raw)
    for p in ["b", "c"]:
        raw.step(msg(T.APP_RESP, p, "a", raw.term, index=raw.raft.log.last_index()))
    drain(raw)
    for i in range(50):
        raw.propose(f"cmd{i}".encode())
    rd = raw.ready()
    apps = [m for m in rd.messages if m.type == T.APP]
    assert sorted(m.to for m in apps) == ["b", "c"]
    assert all(len(m.entries) == 50 for m in apps)
    assert len(rd.entries) == 50 and rd.must_sync  # and one write to persist them


def test_propose_batch_appends_all_commands_in_one_call() -> None:
    raw = new_node("solo", ["solo"])
    raw.campaign()
    drain(raw)
    first = raw.propose_batch([b"x", b"y", b"z"])
    out = drain(raw)
    assert [(e.index, e.data) for e in out.committed if e.type == EntryType.NORMAL] == [
        (first, b"x"), (first + 1, b"y"), (first + 2, b"z")]


def test_append_messages_respect_max_size_per_msg() -> None:
    raw = new_node("a", ABC, max_size_per_msg=100, max_inflight_msgs=1000)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    drain(raw)
    for i in range(20):
        raw.propose(bytes(30) + bytes([i]))
    apps = [m for m in drain(raw).to("b") if m.type == T.APP]
    assert len(apps) > 1
    assert sum(len(m.entries) for m in apps) == 20
    assert all(sum(len(e.data) + 16 for e in m.entries) <= 100 or len(m.entries) == 1 for m in apps)


def test_leader_pipelines_appends_up_to_max_inflight_then_waits_for_acks() -> None:
    raw = new_node("a", ABC, max_inflight_msgs=3)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    drain(raw)
    pr = raw.raft.tracker.progress["b"]
    assert pr.state == ProgressState.REPLICATE
    sent = []
    for i in range(6):
        raw.propose(f"x{i}".encode())
        sent += [m for m in drain(raw).to("b") if m.type == T.APP]
    assert len(sent) == 3 and pr.is_paused()  # three in flight, nothing acked
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=sent[0].entries[-1].index))
    more = [m for m in drain(raw).to("b") if m.type == T.APP]
    assert [e.data for m in more for e in m.entries] == [b"x3", b"x4", b"x5"]


def test_probing_follower_gets_one_append_until_it_answers() -> None:
    raw = new_node("a", ABC)
    elect(raw)
    pr = raw.raft.tracker.progress["b"]
    assert pr.state == ProgressState.PROBE
    for i in range(5):
        raw.propose(f"x{i}".encode())
        assert not [m for m in drain(raw).to("b") if m.type == T.APP]
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=1))
    assert pr.state == ProgressState.REPLICATE
    apps = [m for m in drain(raw).to("b") if m.type == T.APP]
    assert [e.data for m in apps for e in m.entries][-5:] == [f"x{i}".encode() for i in range(5)]


def test_heartbeat_response_unpauses_a_probing_follower() -> None:
    raw = new_node("a", ABC)
    elect(raw)
    raw.propose(b"x")
    drain(raw)
    raw.step(msg(T.HEARTBEAT_RESP, "b", "a", raw.term))
    assert [m for m in drain(raw).to("b") if m.type == T.APP]


def test_follower_reject_hint_names_largest_index_whose_term_is_at_most_the_probe_term() -> None:
    raw = new_node("b", ABC, [1, 1, 2, 2, 2, 2])
    raw.step(msg(T.APP, "a", "b", 5, index=6, log_term=4, entries=ents((5, 7))))
    resp = drain(raw).of_type(T.APP_RESP)[0]
    assert resp.reject and (resp.reject_hint, resp.log_term) == (6, 2)
    raw.step(msg(T.APP, "a", "b", 5, index=6, log_term=1, entries=ents((5, 7))))
    resp = drain(raw).of_type(T.APP_RESP)[-1]
    assert (resp.reject_hint, resp.log_term) == (2, 1)  # skips the whole term-2 run


def test_fast_backoff_skips_a_conflicting_term_per_round_trip() -> None:
    leader = new_node("a", ABC, [1] + [3] * 30, term=3)
    follower = new_node("c", ABC, [1] + [2] * 30, term=3)  # 30 uncommitted entries of term 2
    rejects = 0
    pending = [m for m in elect(leader).messages if m.to == "c"]
    for _ in range(50):
        if not pending:
            break
        for m in pending:
            follower.step(m)
        replies = drain(follower).messages
        rejects += sum(1 for r in replies if r.type == T.APP_RESP and r.reject)
        for r in replies:
            leader.step(r)
        pending = [m for m in drain(leader).messages if m.to == "c"]
    assert rejects <= 2  # one entry per round trip would take 30
    assert [leader.raft.log.term(i) for i in range(1, 33)] == [
        follower.raft.log.term(i) for i in range(1, 33)]


def test_leader_refuses_proposals_beyond_max_uncommitted_size() -> None:
    raw = new_node("a", ABC, max_uncommitted_entries_size=100)
    elect(raw)
    raw.propose(bytes(60))
    raw.propose(bytes(30))
    with pytest.raises(ProposalDropped):
        raw.propose(bytes(20))
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    drain(raw)  # commit and apply release the budget
    raw.propose(bytes(20))


def test_unreachable_report_moves_replicating_follower_back_to_probe() -> None:
    raw = new_node("a", ABC)
    elect(raw)
    raw.step(msg(T.APP_RESP, "b", "a", raw.term, index=raw.raft.log.last_index()))
    assert raw.raft.tracker.progress["b"].state == ProgressState.REPLICATE
    raw.report_unreachable("b")
    assert raw.raft.tracker.progress["b"].state == ProgressState.PROBE


def test_ready_carries_entries_and_vote_with_the_messages_that_depend_on_them() -> None:
    raw = new_node("b", ABC)
    raw.step(msg(T.VOTE, "a", "b", 1, index=0, log_term=0))
    rd = raw.ready()
    assert rd.hard_state == HardState(1, "a", 0) and rd.must_sync
    assert [m.type for m in rd.messages] == [T.VOTE_RESP]
    raw.advance(rd)
    raw.step(msg(T.APP, "a", "b", 1, index=0, log_term=0, entries=ents((1, 1))))
    rd = raw.ready()
    assert [e.index for e in rd.entries] == [1] and rd.must_sync
    assert rd.messages[0].type == T.APP_RESP and rd.messages[0].index == 1


def test_commit_index_alone_does_not_require_sync() -> None:
    raw = new_node("b", ABC, [1], term=1)
    raw.step(msg(T.HEARTBEAT, "a", "b", 1, commit=1))
    rd = raw.ready()
    assert rd.hard_state is not None and rd.hard_state.commit == 1
    assert not rd.must_sync and [e.index for e in rd.committed_entries] == [1]


def test_advance_moves_entries_to_stable_storage_and_applied_index() -> None:
    raw = new_node("solo", ["solo"])
    raw.campaign()
    rd = raw.ready()
    assert rd.entries and rd.committed_entries
    raw.raft.log.storage.save(rd.hard_state, rd.entries, rd.snapshot)
    raw.advance(rd)
    assert not raw.raft.log.unstable.entries
    assert raw.status().applied == rd.committed_entries[-1].index
    assert not raw.has_ready()

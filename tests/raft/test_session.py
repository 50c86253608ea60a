"""Client sessions (thesis §6.3): a retried (client_id, seq) is applied once and answered from
the cache; sessions travel in snapshots; forgotten results never lead to a second apply."""

from __future__ import annotations

from mesh.raft import EntryType, StateMachine
from mesh.raft.session import (
    SESSION_EXPIRED,
    ClientRequest,
    SessionStateMachine,
    decode_request,
    encode_request,
)

from .network import Network


class Counter:
    """A state machine whose results reveal how often it was applied."""

    def __init__(self) -> None:
        self.value = 0

    def apply(self, command: bytes) -> bytes:
        self.value += int(command)
        return str(self.value).encode()

    def snapshot(self) -> bytes:
        return str(self.value).encode()

    def restore(self, data: bytes) -> None:
        self.value = int(data)


def req(client: str, seq: int, cmd: bytes = b"1", ack: int = 0) -> bytes:
    return encode_request(ClientRequest(client, seq, cmd, ack))


def test_envelope_round_trips_and_plain_commands_are_not_envelopes() -> None:
    r = ClientRequest("client-7", 42, b"payload", 40)
    assert decode_request(encode_request(r)) == r
    assert decode_request(b"plain command") is None


def test_session_state_machine_is_a_state_machine() -> None:
    assert isinstance(SessionStateMachine(Counter()), StateMachine)


def test_retried_request_is_applied_once_and_answered_from_cache() -> None:
    fsm = SessionStateMachine(Counter())
    assert fsm.apply(req("c", 1)) == b"1"
    assert fsm.apply(req("c", 1)) == b"1"  # the retry: same answer, not applied again
    assert fsm.fsm.value == 1  # type: ignore[attr-defined]
    assert fsm.apply(req("c", 2)) == b"2"
    assert fsm.apply_request(ClientRequest("c", 2, b"1", 2)).duplicate


def test_pipelined_requests_keep_results_until_acknowledged() -> None:
    fsm = SessionStateMachine(Counter())
    for seq in (1, 2, 3):
        fsm.apply(req("c", seq, ack=1))
    assert fsm.apply(req("c", 2, ack=1)) == b"2"
    fsm.apply(req("c", 4, ack=3))  # the client has the answers to 1 and 2
    assert fsm.apply(req("c", 2, ack=3)) == SESSION_EXPIRED  # never applied twice
    assert fsm.apply(req("c", 3, ack=3)) == b"3"
    assert fsm.fsm.value == 4  # type: ignore[attr-defined]


def test_plain_commands_bypass_sessions() -> None:
    fsm = SessionStateMachine(Counter())
    fsm.apply(b"5")
    fsm.apply(b"5")
    assert fsm.fsm.value == 10  # type: ignore[attr-defined]


def test_sessions_are_part_of_the_snapshot() -> None:
    fsm = SessionStateMachine(Counter())
    fsm.apply(req("c", 1))
    image = fsm.snapshot()
    other = SessionStateMachine(Counter())
    other.restore(image)
    assert other.snapshot() == image
    assert other.apply(req("c", 1)) == b"1"
    assert other.fsm.value == 1  # type: ignore[attr-defined]


def test_evicted_client_that_saw_results_gets_expired_not_a_second_apply() -> None:
    fsm = SessionStateMachine(Counter(), max_sessions=2)
    fsm.apply(req("old", 1))
    fsm.apply(req("b", 1))
    fsm.apply(req("c", 1))  # evicts the least recently used: "old"
    assert "old" not in fsm.sessions
    assert fsm.apply(req("old", 2)) == SESSION_EXPIRED
    assert fsm.fsm.value == 3  # type: ignore[attr-defined]


def test_retry_at_new_leader_after_failover_is_applied_once_on_every_replica() -> None:
    net = Network(["a", "b", "c"])
    fsms = {n: SessionStateMachine(Counter()) for n in net.nodes}
    net.elect("a")
    data = req("client", 1, b"10")
    net.nodes["a"].propose(data)
    net.deliver()  # committed, but pretend the reply to the client was lost
    net.isolate("a")
    net.tick_all(40)
    leader = net.leader()
    assert leader in ("b", "c")
    net.propose(leader, data)  # the client retries the same (client_id, seq)
    net.heal()
    net.tick_all(5)
    for node, fsm in fsms.items():
        results = [fsm.apply(e.data) for e in net.applied[node] if e.type == EntryType.NORMAL]
        assert results == [b"10", b"10"]
        assert fsm.fsm.value == 10  # type: ignore[attr-defined]

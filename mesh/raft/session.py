"""Exactly-once client commands (Ongaro thesis §6.3): sessions in the replicated state.

A client wraps each command in a `ClientRequest` (client_id, seq, ack) and retries with the
SAME seq until it gets an answer. `SessionStateMachine` applies a given (client_id, seq) once,
caches its result, and answers retries from the cache. `ack` says "I have every result below
this seq", letting replicas forget those results. Sessions live inside the state machine image,
so snapshots carry them and every replica makes the same decisions.

Session eviction is deterministic (least recently used, by apply counter) once `max_sessions`
is exceeded; a request from an evicted client that had already acknowledged results (ack > 1)
gets `SESSION_EXPIRED` instead of running twice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import msgpack

from .fsm import StateMachine

SESSION_EXPIRED = b"\x00mesh.raft:session-expired"
"""Result of a request whose outcome the session table no longer knows (never applied twice)."""

_MAGIC = b"\xcaR"
_HEADER = struct.Struct(">2sHQQ")


@dataclass(frozen=True, slots=True)
class ClientRequest:
    client_id: str
    seq: int  # 1, 2, 3, ... per client; a retry reuses its seq
    command: bytes
    ack: int = 0  # every result with seq < ack has reached the client (0: same as seq)


def encode_request(req: ClientRequest) -> bytes:
    cid = req.client_id.encode()
    ack = req.ack or req.seq
    return _HEADER.pack(_MAGIC, len(cid), req.seq, ack) + cid + req.command


def decode_request(data: bytes) -> ClientRequest | None:
    """The request in `data`, or None if `data` is not a session envelope (a plain command)."""
    if len(data) < _HEADER.size or data[:2] != _MAGIC:
        return None
    _, n, seq, ack = _HEADER.unpack_from(data)
    start = _HEADER.size
    return ClientRequest(data[start:start + n].decode(), seq, bytes(data[start + n:]), ack)


@dataclass(slots=True)
class _Session:
    ack: int = 0  # results below this seq are forgotten
    results: dict[int, bytes] = field(default_factory=dict)
    last_used: int = 0


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    result: bytes
    duplicate: bool  # answered from the cache, not applied again
    expired: bool = False


class SessionStateMachine:
    """Wraps a `StateMachine`; itself a `StateMachine` whose commands are session envelopes.

    Commands that are not envelopes are applied as they are (no de-duplication).
    """

    def __init__(self, fsm: StateMachine, max_sessions: int = 10_000,
                 max_results_per_session: int = 1024) -> None:
        self.fsm = fsm
        self.max_sessions = max_sessions
        self.max_results_per_session = max_results_per_session
        self.sessions: dict[str, _Session] = {}
        self._clock = 0  # counts applied requests; deterministic across replicas

    def apply(self, command: bytes) -> bytes:
        req = decode_request(command)
        if req is None:
            return self.fsm.apply(command)
        return self.apply_request(req).result

    def apply_request(self, req: ClientRequest) -> SessionOutcome:
        self._clock += 1
        session = self.sessions.get(req.client_id)
        ack = req.ack or req.seq
        if session is None:
            if ack > 1:
                # It has seen results we no longer know about: its session was evicted.
                return SessionOutcome(SESSION_EXPIRED, False, True)
            session = self.sessions[req.client_id] = _Session(last_used=self._clock)
            self._evict()
        session.last_used = self._clock
        if ack > session.ack:
            session.ack = ack
            for seq in [s for s in session.results if s < ack]:
                del session.results[seq]
        cached = session.results.get(req.seq)
        if cached is not None:
            return SessionOutcome(cached, True)
        if req.seq < session.ack:
            return SessionOutcome(SESSION_EXPIRED, False, True)
        result = self.fsm.apply(req.command)
        session.results[req.seq] = result
        if len(session.results) > self.max_results_per_session:
            oldest = min(session.results)
            del session.results[oldest]
            session.ack = max(session.ack, oldest + 1)
        return SessionOutcome(result, False)

    def _evict(self) -> None:
        while len(self.sessions) > self.max_sessions:
            victim = min(self.sessions, key=lambda c: (self.sessions[c].last_used, c))
            del self.sessions[victim]

    def snapshot(self) -> bytes:
        table = {cid: [s.ack, s.last_used, sorted(s.results.items())]
                 for cid, s in sorted(self.sessions.items())}
        packed = msgpack.packb([1, self._clock, table, self.fsm.snapshot()], use_bin_type=True)
        assert isinstance(packed, bytes)
        return packed

    def restore(self, data: bytes) -> None:
        version, clock, table, inner = msgpack.unpackb(data, raw=False, strict_map_key=False)
        if version != 1:
            raise ValueError(f"unknown session snapshot version {version}")
        self._clock = clock
        self.sessions = {cid: _Session(ack, {seq: bytes(r) for seq, r in results}, used)
                         for cid, (ack, used, results) in table.items()}
        self.fsm.restore(inner)

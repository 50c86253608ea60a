"""The simulated clients: a key-value workload with retries, and the history it records.

Each client runs one operation at a time: put/append (unique values) and get through the log
with a session envelope (client_id, seq) so retries are applied once, or get through ReadIndex.
A submission refused by a non-leader is retried elsewhere; one that times out is abandoned and
retried with the same seq; one still unanswered at the end has an unknown outcome. Times in the
history are a global event counter, so real-time order is exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from mesh.raft import NotLeader, ProposalDropped
from mesh.raft.session import ClientRequest, encode_request

from . import kv
from .cluster import Driver, PendingRead, Proposal
from .linearizability import INFINITY, Operation

ATTEMPT_TIMEOUT = 80
MAX_ATTEMPTS = 8
MAX_FAILURES = 40


@dataclass(slots=True)
class ClientOp:
    op_id: int
    client: str
    kind: str  # put | append | get (through the log) | read (ReadIndex)
    key: str
    value: str | None
    seq: int
    call: int
    attempts: int = 0
    failures: int = 0  # submissions refused (no leader there)
    deadline: int = 0
    node: str | None = None
    handle: int | bytes | None = None  # proposal index or read context of the attempt


@dataclass(slots=True)
class SimClient:
    id: str
    seq: int = 0
    op: ClientOp | None = None
    hint: str = ""


class Workload:
    def __init__(self, rng: random.Random, driver: Driver, n_clients: int, keys: int,
                 now: Callable[[], int], trace: Callable[[str], None]) -> None:
        self.rng = rng
        self.driver = driver
        self.keys = keys
        self.now = now
        self.trace = trace
        self.clients = [SimClient(f"c{i}") for i in range(n_clients)]
        self.history: list[Operation] = []
        self.ops: dict[int, ClientOp] = {}
        self.next_op = 0
        self.clock = 0

    def _event(self) -> int:
        self.clock += 1
        return self.clock

    def action(self, new_ops: bool) -> None:
        client = self.rng.choice(self.clients)
        op = client.op
        if op is None:
            if not new_ops:
                return
            op = self._new_op(client)
        elif op.node is not None:
            if self.now() < op.deadline:
                return
            self._abandon_attempt(op)
        if op.attempts >= MAX_ATTEMPTS or op.failures >= MAX_FAILURES:
            self._give_up(client, op)
            return
        self._attempt(client, op)

    def _new_op(self, client: SimClient) -> ClientOp:
        kind = self.rng.choices(["append", "put", "get", "read"], [35, 15, 15, 35])[0]
        key = f"k{self.rng.randrange(self.keys)}"
        value = None
        seq = 0
        if kind != "read":
            client.seq += 1
            seq = client.seq
            if kind != "get":
                value = f"{client.id}.{seq}"
        self.next_op += 1
        op = ClientOp(self.next_op, client.id, kind, key, value, seq, self._event())
        client.op = op
        self.ops[op.op_id] = op
        self.trace(f"{client.id} invokes #{op.op_id} {kind} {key} {value or ''}")
        return op

    def _attempt(self, client: SimClient, op: ClientOp) -> None:
        up = [n for n in self.driver.nodes.values() if n.up]
        if not up:
            return
        target = self.driver.nodes.get(client.hint)
        if target is None or not target.up or self.rng.random() < 0.2:
            target = self.rng.choice(up)
        raw = target.raw
        assert raw is not None
        try:
            if op.kind == "read":
                ctx = f"{op.op_id}.{op.attempts}.{op.failures}".encode()
                raw.read_index(ctx)
                target.reads[ctx] = PendingRead(op.op_id, op.key)
                op.handle = ctx
            else:
                cmd = kv.encode(op.kind, op.key, op.value)
                data = encode_request(ClientRequest(client.id, op.seq, cmd, op.seq))
                index = raw.propose(data)
                target.proposals[index] = Proposal(op.op_id, raw.term)
                op.handle = index
        except NotLeader as exc:
            client.hint = exc.leader
            op.failures += 1
            return
        except ProposalDropped:
            op.failures += 1
            return
        op.attempts += 1
        op.node = target.id
        op.deadline = self.now() + ATTEMPT_TIMEOUT
        self.trace(f"  #{op.op_id} attempt {op.attempts} at {target.id}")
        if self.rng.random() < 0.5:
            self.driver.process(target)  # else: batch with later proposals

    def _abandon_attempt(self, op: ClientOp) -> None:
        node = self.driver.nodes.get(op.node or "")
        if node is not None:
            if isinstance(op.handle, int):
                prop = node.proposals.get(op.handle)
                if prop is not None and prop.op_id == op.op_id:
                    del node.proposals[op.handle]
            elif isinstance(op.handle, bytes):
                node.reads.pop(op.handle, None)
        op.node = None
        op.handle = None

    def _give_up(self, client: SimClient, op: ClientOp) -> None:
        self._abandon_attempt(op)
        client.op = None
        del self.ops[op.op_id]
        if op.kind in ("put", "append"):
            self._record(op, None, INFINITY)  # may or may not have happened
        self.trace(f"{client.id} gives up on #{op.op_id}")

    def _client(self, name: str) -> SimClient:
        return self.clients[int(name[1:])]

    def _complete(self, op: ClientOp, output: tuple[str, ...] | None) -> None:
        client = self._client(op.client)
        client.op = None
        client.hint = op.node or client.hint
        del self.ops[op.op_id]
        self._record(op, output, self._event())
        self.trace(f"{op.client} completes #{op.op_id} {op.kind} {op.key} -> {output}")

    def _record(self, op: ClientOp, output: tuple[str, ...] | None, ret: float) -> None:
        op_name = "get" if op.kind == "read" else op.kind
        self.history.append(Operation(op.client, kv.KVInput(op_name, op.value), output,
                                      op.call, ret, op.key))

    def on_result(self, op_id: int, result: bytes) -> None:
        op = self.ops.get(op_id)
        if op is not None and op.node is not None:
            self._complete(op, kv.decode_result(op.kind, result))

    def on_read(self, op_id: int, value: tuple[str, ...]) -> None:
        op = self.ops.get(op_id)
        if op is not None and op.node is not None:
            self.driver.bump("read_index_served")
            self._complete(op, value)

    def on_lost(self, op_id: int) -> None:
        op = self.ops.get(op_id)
        if op is not None:
            op.node = None
            op.handle = None

    def finish(self) -> None:
        for client in self.clients:
            if client.op is not None:
                self._give_up(client, client.op)

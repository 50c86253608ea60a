"""One simulation run: a seed picks the cluster shape and fault mix, then a random schedule of
deliveries, ticks, client requests, crashes, partitions, membership changes, leadership
transfers and compactions runs, with invariants checked after every step. A heal phase follows
(no new faults, no new ops) so lagging nodes catch up, then client histories are checked for
linearizability. Everything flows from `random.Random(seed)`: a seed replays exactly.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, field

from mesh.raft import ConfChange, ConfChangeType, MemoryStorage, ProposalDropped
from mesh.raft.messages import ConfState

from . import kv
from .clients import Workload
from .cluster import Driver, SimNode
from .invariants import Invariants, InvariantViolation
from .linearizability import INFINITY, check
from .network import SimNetwork

REPLAY = "MESH_RAFT_SEED={seed} python -m pytest tests/raft/test_simulation.py -k replay -s"


@dataclass(slots=True)
class SimParams:
    seed: int
    steps: int
    heal_steps: int
    voters: int
    max_nodes: int
    clients: int
    keys: int
    drop: float
    duplicate: float
    reorder_window: int
    fault_rate: float
    backlog: int  # ticks wait while more messages than this are in flight (network latency)
    config: dict[str, object]

    @staticmethod
    def for_seed(seed: int, steps: int = 300, heal_steps: int = 150) -> SimParams:
        rng = random.Random(f"params-{seed}")
        return SimParams(
            seed=seed, steps=steps, heal_steps=heal_steps,
            voters=rng.choice([3, 3, 3, 5]), max_nodes=7, clients=rng.choice([2, 3, 4]),
            keys=rng.choice([1, 2, 3]), drop=rng.choice([0.0, 0.02, 0.05]),
            duplicate=rng.choice([0.0, 0.02]), reorder_window=rng.choice([1, 3, 8]),
            fault_rate=rng.choice([0.03, 0.06, 0.10]), backlog=rng.choice([2, 4, 8, 16]),
            config={
                "election_tick": rng.choice([5, 6]), "heartbeat_tick": 1,
                "max_size_per_msg": rng.choice([64, 256, 4096]),
                "max_inflight_msgs": rng.choice([1, 2, 8, 256]),
                "snapshot_chunk_size": rng.choice([32, 128, 1 << 20]),
                "check_quorum": rng.random() < 0.8, "pre_vote": rng.random() < 0.8,
            })


@dataclass(slots=True)
class SimResult:
    seed: int
    ok: bool
    error: str = ""
    step: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    trace: list[str] = field(default_factory=list)

    def replay_command(self) -> str:
        return REPLAY.format(seed=self.seed)




class Simulation:
    def __init__(self, params: SimParams, trace: bool = False) -> None:
        self.p = params
        self.rng = random.Random(params.seed)
        self.trace_lines: list[str] = []
        self.tracing = trace
        self.now = 0
        self.inv = Invariants()
        self.net = SimNetwork(self.rng, params.drop, params.duplicate, params.reorder_window)
        self.driver = Driver(self.rng, self.net, self.inv, params.config, self._on_result,
                             self._on_lost, self._on_read, self._trace if trace else None)
        self.work = Workload(self.rng, self.driver, params.clients, params.keys,
                             lambda: self.now, self._trace)
        self.next_node = params.voters + 1
        voters = tuple(f"n{i}" for i in range(1, params.voters + 1))
        for node_id in voters:
            storage = MemoryStorage()
            storage.bootstrap(ConfState(voters))
            self._add_node(node_id, storage)

    # -- plumbing ---------------------------------------------------------------------
    def _trace(self, line: str) -> None:
        self.trace_lines.append(f"[{self.now}] {line}")

    def _add_node(self, node_id: str, storage: MemoryStorage) -> SimNode:
        node = SimNode(node_id, storage, rate=self.rng.choice([1, 1, 1, 2]))
        self.driver.nodes[node_id] = node
        self.driver.start(node)
        return node

    def _on_result(self, op_id: int, result: bytes) -> None:
        self.work.on_result(op_id, result)

    def _on_lost(self, op_id: int) -> None:
        self.work.on_lost(op_id)

    def _on_read(self, op_id: int, value: tuple[str, ...]) -> None:
        self.work.on_read(op_id, value)

    def _up_nodes(self) -> list[SimNode]:
        return [n for n in self.driver.nodes.values() if n.up]

    # -- run --------------------------------------------------------------------------
    def run(self) -> SimResult:
        phase = "faults"
        try:
            for _ in range(self.p.steps):
                self.now += 1
                self._step(heal=False)
                self.inv.check_step(self.driver.live())
            phase = "heal"
            self._heal_all()
            for _ in range(self.p.heal_steps):
                self.now += 1
                self._step(heal=True)
                self.inv.check_step(self.driver.live())
            phase = "linearizability"
            self.work.finish()
            bad = check(self.work.history, (), kv.model_step)
            if bad:
                ops = [o for o in self.work.history if o.partition == bad[0]]
                lines = "\n".join(f"  {o.client} {o.input} -> {o.output} [{o.call}, {o.ret}]"
                                  for o in sorted(ops, key=lambda o: o.call))
                raise InvariantViolation(f"history of key {bad[0]!r} is not linearizable:\n{lines}")
        except (InvariantViolation, Exception) as exc:
            err = f"{type(exc).__name__} in {phase} phase: {exc}"
            if not isinstance(exc, InvariantViolation):
                err += "\n" + traceback.format_exc()
            return SimResult(self.p.seed, False, err, self.now, self._stats(), self.trace_lines)
        return SimResult(self.p.seed, True, "", self.now, self._stats(), self.trace_lines)

    def _stats(self) -> dict[str, int]:
        stats = dict(self.driver.stats)
        stats["leaders"] = len(self.inv.leader_of_term)
        stats["committed"] = len(self.inv.committed)
        stats["ops_ok"] = sum(1 for o in self.work.history if o.ret != INFINITY)
        stats["ops_unknown"] = sum(1 for o in self.work.history if o.ret == INFINITY)
        stats["messages"] = self.net.delivered
        return stats

    # -- one step ---------------------------------------------------------------------
    def _step(self, heal: bool) -> None:
        x = self.rng.random()
        fault = 0.0 if heal else self.p.fault_rate
        if x < fault:
            self._fault()
        elif x < fault + 0.18:
            self.work.action(new_ops=not heal)
        elif x < fault + 0.28 and len(self.net.in_flight) <= self.p.backlog:
            self._tick_round()
        elif x < fault + 0.31:
            pending = [n for n in self._up_nodes() if n.raw is not None and n.raw.has_ready()]
            if pending:
                self.driver.process(self.rng.choice(pending))
        else:
            m = self.net.next_message()
            if m is None:
                self._tick_round()
            else:
                if self.tracing:
                    self._trace(f"deliver {m.type.name} {m.frm}->{m.to} t{m.term} i{m.index} "
                                f"lt{m.log_term} c{m.commit} n{len(m.entries)}"
                                f"{' reject' if m.reject else ''}")
                self.driver.deliver(m, process_prob=0.85)

    def _tick_round(self) -> None:
        for node in self._up_nodes():
            ticks = 1
            if self.rng.random() < 0.1:
                ticks = 0  # skew: this node's clock is slow this round
            elif node.rate > 1 and self.rng.random() < 0.5:
                ticks = 2  # skew: a fast clock
            assert node.raw is not None
            for _ in range(ticks):
                node.raw.tick()
            self.driver.process(node)

    def _heal_all(self) -> None:
        self.net.heal()
        for node in self.driver.nodes.values():
            if node.raw is None and not node.retired:
                self.driver.start(node)
        self._trace("heal: network healed, crashed nodes restarted")

    # -- faults and administration ----------------------------------------------------
    def _fault(self) -> None:
        x = self.rng.random()
        nodes = self.driver.nodes
        up = self._up_nodes()
        down = [n for n in nodes.values() if n.raw is None and not n.retired]
        alive_ids = [n.id for n in nodes.values() if not n.retired]
        if x < 0.12 and up:
            node = self.rng.choice(up)
            self._trace(f"crash {node.id}")
            self.driver.crash(node)
        elif x < 0.16 and up:
            node = self.rng.choice(up)
            self._trace(f"crash {node.id} between persisting a Ready and sending it")
            self.driver.process(node, crash_mid_ready=True)
            if node.raw is not None:
                self.driver.crash(node)
        elif x < 0.32 and down:
            node = self.rng.choice(down)
            self._trace(f"restart {node.id}")
            self.driver.start(node)
        elif x < 0.42:
            how = self.rng.choice(["split", "one_way", "ring", "isolate"])
            if how == "isolate":
                self.net.isolate(self.rng.choice(alive_ids), alive_ids)
            else:
                getattr(self.net, how)(alive_ids)
            self.driver.bump("partitions")
            self._trace(f"partition: {self.net.partition_desc}")
        elif x < 0.56:
            self.net.heal()
            self._trace("heal network")
        elif x < 0.72:
            self._membership_change()
        elif x < 0.80:
            self._transfer()
        else:
            self._compact()

    def _membership_change(self) -> None:
        leader = self.driver.leader()
        if leader is None or leader.raw is None:
            return
        cs = leader.raw.status().conf_state
        choices: list[ConfChange] = []
        learners_caught_up = [n for n in cs.learners if leader.raw.learner_caught_up(n, max_lag=2)]
        for n in learners_caught_up:
            choices.append(ConfChange(ConfChangeType.PROMOTE_LEARNER, n))
        if self.next_node <= self.p.max_nodes and len(cs.voters) + len(cs.learners) < 6:
            new_id = f"n{self.next_node}"
            choices.append(ConfChange(ConfChangeType.ADD_LEARNER, new_id))
            if len(cs.voters) < 5:
                choices.append(ConfChange(ConfChangeType.ADD_VOTER, new_id))
        for n in cs.learners:
            choices.append(ConfChange(ConfChangeType.REMOVE_NODE, n))
        if len(cs.voters) > 3:
            for n in cs.voters:
                choices.append(ConfChange(ConfChangeType.REMOVE_NODE, n))
        if not choices:
            return
        cc = self.rng.choice(choices)
        self._trace(f"{leader.id} proposes {cc.type.name} {cc.node_id}")
        if self.driver.conf_change(leader, cc) and cc.node_id not in self.driver.nodes:
            self.next_node += 1
            self._add_node(cc.node_id, MemoryStorage())  # joins empty, waits to be caught up
        self.driver.process(leader)

    def _transfer(self) -> None:
        leader = self.driver.leader()
        if leader is None or leader.raw is None:
            return
        voters = [v for v in leader.raw.status().conf_state.voters if v != leader.id]
        if not voters:
            return
        to = self.rng.choice(voters)
        asked = leader
        if self.rng.random() < 0.3:  # ask a follower, which forwards to its leader
            asked = self.rng.choice(self._up_nodes())
        assert asked.raw is not None
        self._trace(f"{asked.id} asked to transfer leadership to {to}")
        try:
            asked.raw.transfer_leadership(to)
            self.driver.bump("transfers")
        except ProposalDropped as exc:
            self._trace(f"  refused: {exc}")
        self.driver.process(asked)

    def _compact(self) -> None:
        up = self._up_nodes()
        if not up:
            return
        node = self.rng.choice(up)
        raw = node.raw
        assert raw is not None and node.fsm is not None
        self.driver.process(node)  # compaction happens between advance() and ready()
        if node.raw is None or node.retired:
            return
        if raw.raft.log.applied <= node.storage.snapshot().index:
            return
        keep = self.rng.choice([0, 0, 2, 5])
        snap = raw.compact(node.fsm.snapshot(), keep_entries=keep)
        self.driver.bump("compactions")
        self._trace(f"{node.id} compacts: snapshot at {snap.index}, keeps {keep} entries")


def run_seed(seed: int, steps: int = 300, heal_steps: int = 150, trace: bool = False) -> SimResult:
    return Simulation(SimParams.for_seed(seed, steps, heal_steps), trace=trace).run()

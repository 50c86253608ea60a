"""Three real `mesh node --role coordinator` processes on 127.0.0.1: they form one cluster, agree
on a leader, replace a killed leader, and lose no acknowledged write through SIGKILL and
SIGSTOP/SIGCONT of leaders and followers."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from mesh.client import MeshClient, MeshError
from tests.support.processes import MeshProcesses, NodeProcess, eventually, free_port, run_mesh

FAST = ("--heartbeat-interval", "0.2", "--heartbeat-timeout", "2")


def views(nodes: list[NodeProcess]) -> list[tuple[str | None, tuple[tuple[str, str], ...]]]:
    out = []
    for node in nodes:
        with node.client(timeout=2) as client:
            st = client.status()
        out.append((st.leader, tuple(sorted((m.node_id, m.role) for m in st.members))))
    return out


def agreed(nodes: list[NodeProcess], voters: int) -> bool:
    seen = views(nodes)
    leaders = {leader for leader, _ in seen}
    if len(leaders) != 1 or None in leaders:
        return False
    members = seen[0][1]
    roles = sorted(role for _, role in members)
    return all(v[1] == members for v in seen) and roles == ["follower"] * (voters - 1) + ["leader"]


def start_cluster(procs: MeshProcesses) -> list[NodeProcess]:
    first = procs.start_node("--role", "coordinator", "--node-id", "c1", *FAST)
    rest = [procs.start_node("--role", "coordinator", "--node-id", f"c{i}", "--join", first.address, *FAST)
            for i in (2, 3)]
    nodes = [first, *rest]
    eventually(lambda: agreed(nodes, 3), what="three nodes agreeing on one leader")
    return nodes


def leader_of(nodes: list[NodeProcess]) -> NodeProcess:
    for node in nodes:
        if node.proc.poll() is None:
            try:
                with node.client(timeout=2) as client:
                    leader = client.status().leader
            except MeshError:
                continue
            for candidate in nodes:
                if candidate.node_id == leader:
                    return candidate
    raise AssertionError("no node knows a leader")


def test_three_coordinators_form_one_cluster(mesh_procs: MeshProcesses) -> None:
    import json

    nodes = start_cluster(mesh_procs)
    for node in nodes:
        out = run_mesh("status", "--coordinator", node.address, "--json")
        data = json.loads(out.stdout)
        assert data["leader"] in {"c1", "c2", "c3"} and data["term"] >= 1
        assert data["commit_index"] >= 3
        assert sorted(m["node_id"] for m in data["members"]) == ["c1", "c2", "c3"]
        assert {m["address"] for m in data["members"]} == {n.address for n in nodes}


def test_nodes_started_together_naming_each_other_form_one_cluster(mesh_procs: MeshProcesses) -> None:
    ports = [free_port() for _ in range(3)]
    addresses = [f"127.0.0.1:{p}" for p in ports]
    nodes = []
    for i, port in enumerate(ports):
        others = ",".join(a for j, a in enumerate(addresses) if j != i)
        nodes.append(mesh_procs.start_node("--role", "coordinator", "--port", str(port), "--join", others,
                                           *FAST, wait=False))
    for node in nodes:
        mesh_procs.wait_ready(node)
    eventually(lambda: agreed(nodes, 3), timeout=20, what="one cluster from a simultaneous start")


def test_killing_the_leader_elects_a_new_one_that_takes_writes(mesh_procs: MeshProcesses) -> None:
    nodes = start_cluster(mesh_procs)
    old = leader_of(nodes)
    with old.client() as client:
        client.config_set("before", b"1")
    old.signal(signal.SIGKILL)
    old.wait(5)
    survivors = [n for n in nodes if n is not old]
    eventually(lambda: agreed_without(survivors, old.node_id), what="a new leader among the survivors")
    new = leader_of(survivors)
    assert new.node_id != old.node_id
    with new.client() as client:
        client.config_set("after", b"2")
        assert client.config_get("before") == b"1"


def agreed_without(nodes: list[NodeProcess], dead: str) -> bool:
    seen = views(nodes)
    leaders = {leader for leader, _ in seen}
    return len(leaders) == 1 and None not in leaders and dead not in leaders


class Writer(threading.Thread):
    """Writes unique keys through whichever node leads; records what was acknowledged."""

    def __init__(self, seed_address: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.client = MeshClient(seed_address, timeout=8)
        self.stop_event = stop
        self.acknowledged: dict[str, bytes] = {}
        self.unknown = 0

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set() and i < 5000:
            key, value = f"k{i:05d}", f"v{i}".encode()
            try:
                self.client.config_set(key, value)
                self.acknowledged[key] = value
            except MeshError:
                self.unknown += 1
            i += 1
        self.client.close()


def test_no_acknowledged_write_is_lost_through_kills_and_pauses(mesh_procs: MeshProcesses) -> None:
    nodes = start_cluster(mesh_procs)
    stop = threading.Event()
    writer = Writer(nodes[0].address, stop)
    writer.start()
    faults = []
    try:
        time.sleep(0.5)
        for round_no in range(4):
            victim = leader_of(nodes) if round_no % 2 == 0 else next(
                n for n in nodes if n.node_id != leader_of(nodes).node_id)
            if round_no < 2:
                faults.append(f"SIGKILL {victim.node_id}")
                victim.signal(signal.SIGKILL)
                victim.wait(5)
                time.sleep(1.0)
                restarted = mesh_procs.start_node("--role", "coordinator", *FAST, data_dir=victim.data_dir)
                nodes[nodes.index(victim)] = restarted
            else:
                faults.append(f"SIGSTOP {victim.node_id}")
                victim.signal(signal.SIGSTOP)
                time.sleep(1.0)
                victim.signal(signal.SIGCONT)
            time.sleep(0.7)
    finally:
        stop.set()
        writer.join(30)
    assert len(writer.acknowledged) > 50, f"too few writes acknowledged ({faults})"
    eventually(lambda: agreed(nodes, 3), timeout=20, what="the cluster healing")

    def converged() -> bool:
        dumps = []
        for node in nodes:
            with node.client() as client:
                dumps.append(client.config_dump())
        return (len({d.applied_index for d in dumps}) == 1
                and all(d.applied_index == d.commit_index for d in dumps))
    eventually(converged, timeout=20, what="every node applying the same prefix")
    dumps = []
    for node in nodes:
        with node.client() as client:
            dumps.append(client.config_dump().items)
    assert dumps[0] == dumps[1] == dumps[2], "replicas applied different prefixes"
    missing = {k for k, v in writer.acknowledged.items() if dumps[0].get(k) != v}
    assert not missing, f"acknowledged writes lost after {faults}: {sorted(missing)[:10]}"


@pytest.mark.parametrize("target", ["leader", "follower"])
def test_a_paused_node_rejoins_without_disturbing_the_cluster(mesh_procs: MeshProcesses, target: str) -> None:
    nodes = start_cluster(mesh_procs)
    leader = leader_of(nodes)
    victim = leader if target == "leader" else next(n for n in nodes if n is not leader)
    victim.signal(signal.SIGSTOP)
    try:
        survivors = [n for n in nodes if n is not victim]
        eventually(lambda: agreed_without(survivors, victim.node_id) if target == "leader"
                   else leader_of(survivors) is not None, what="the others carrying on")
        with leader_of(survivors).client() as client:
            client.config_set("while-paused", b"x")
    finally:
        victim.signal(signal.SIGCONT)
    eventually(lambda: agreed(nodes, 3), what="the paused node rejoining")
    with victim.client() as client:
        assert client.config_get("while-paused") == b"x"

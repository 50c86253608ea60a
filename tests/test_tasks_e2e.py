"""Tasks end to end with real processes: `mesh up`, the seed's examples, dependencies, retries,
timeouts, a worker SIGKILLed mid-task, and a coordinator leader SIGKILLed with 200 tasks in flight
(every acknowledged task ends completed exactly once in DuckDB)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from mesh.client import MeshClient
from tests.support.processes import MeshProcesses, NodeProcess, eventually, free_port, run_mesh

ROOT = Path(__file__).resolve().parent.parent


class Up:
    """A `mesh up` process group, stopped (and killed if need be) when the test ends."""

    def __init__(self, tmp: Path, workers: int = 2, timeout_s: float = 3.0) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.data_dir = tmp / "up"
        self.log_path = tmp / "up.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mesh", "up", "--workers", str(workers), "--host", "127.0.0.1",
                 "--port", str(self.port), "--data-dir", str(self.data_dir), "--slots", "1",
                 "--heartbeat-timeout", str(timeout_s)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        eventually(lambda: "mesh up: coordinator listening" in self.log(), 60, "mesh up to start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    cluster = Up(tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


def submit_wait(address: str, *files: str, timeout: float = 60) -> tuple[int, list[dict[str, object]]]:
    out = run_mesh("submit", *files, "--coordinator", address, "--wait", "--json", "--timeout", str(timeout),
                   timeout=timeout + 30)
    assert out.stderr.strip() == "" or out.returncode != 0, out.stderr
    return out.returncode, [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_mesh_up_runs_the_seed_examples_and_keeps_every_result(up: Up) -> None:
    files = [str(ROOT / "examples" / f) for f in ("command.json", "benchmark.json", "callable.json",
                                                   "pipeline.json")]
    code, tasks = submit_wait(up.address, *files)
    by_name = {t["name"]: t for t in tasks}
    assert code == 1  # flaky-step fails on purpose, so not everything completed
    assert {n: by_name[n]["status"] for n in by_name} == {
        "disk-usage": "completed", "matmul-fp32": "completed", "noop": "completed", "prepare": "completed",
        "flaky-step": "failed", "report": "upstream_failed"}
    assert by_name["flaky-step"]["attempts"] == 3  # max_retries 2: three attempts in all
    bench = by_name["matmul-fp32"]["result"]["benchmark"]  # type: ignore[index]
    assert [row["batch_size"] for row in bench] == [1, 8, 32]
    assert all(row["latency_p50_ms"] <= row["latency_p99_ms"] for row in bench)
    results = run_mesh("results", "--coordinator", up.address, "--status", "completed", "--json")
    assert len(results.stdout.splitlines()) == 4
    assert up.stop() == 0
    with duckdb.connect(str(up.data_dir / "results.duckdb"), read_only=True) as db:
        assert db.execute("select count(*) from tasks").fetchone() == (6,)
        assert db.execute("select count(*) from attempts where outcome = 'failed'").fetchone() == (3,)
        assert db.execute("select count(*) from benchmark_measurements").fetchone() == (3,)
        statuses = dict(db.execute("select name, status from tasks").fetchall())
    assert statuses["report"] == "upstream_failed" and statuses["noop"] == "completed"


def write(tmp: Path, name: str, tasks: object) -> str:
    path = tmp / name
    path.write_text(json.dumps(tasks))
    return str(path)


def test_dependency_chain_runs_in_order_and_a_hung_task_times_out(up: Up, tmp_path: Path) -> None:
    chain = [{"type": "command", "name": f"step{i}", "config": {"command": f"echo {i} >> ../chain.txt"},
              **({"dependencies": [f"step{i - 1}"]} if i else {})} for i in range(4)]
    hung = {"type": "command", "name": "hung", "config": {"command": "sleep 30"}, "timeout_seconds": 1}
    code, tasks = submit_wait(up.address, write(tmp_path, "chain.json", [*chain, hung]))
    statuses = {t["name"]: t["status"] for t in tasks}
    assert statuses == {"step0": "completed", "step1": "completed", "step2": "completed",
                        "step3": "completed", "hung": "timed_out"}
    assert code == 1


def worker_pids(up: Up) -> dict[str, int]:
    out = {}
    for info in up.data_dir.glob("worker-*/node.json"):
        data = json.loads(info.read_text())
        out[data["node_id"]] = data["pid"]
    return out


def test_a_worker_killed_mid_task_has_its_task_finish_on_the_other(up: Up, tmp_path: Path) -> None:
    task = {"type": "command", "name": "slow", "config": {"command": "sleep 2; echo finished"}}
    with MeshClient(up.address, timeout=10) as client:
        [task_id] = client.submit([task])

        def running_worker() -> str | None:
            attempts = client.tasks([task_id]).tasks[0]["attempts"]
            return attempts[-1]["worker_id"] if attempts and attempts[-1].get("started_at") else None
        eventually(lambda: running_worker() is not None, 30, "the task starting")
        victim = running_worker()
        assert victim is not None
        os.kill(worker_pids(up)[victim], signal.SIGKILL)
        final = client.tasks([task_id], wait_s=40, timeout=10).tasks[0]
    assert final["status"] == "completed"
    attempts = final["attempts"]
    assert [a["outcome"] for a in attempts] == ["lost", "completed"]
    assert attempts[0]["worker_id"] == victim and attempts[1]["worker_id"] != victim
    assert "finished" in final["result"]["stdout_tail"]


def test_leader_killed_with_200_tasks_in_flight_loses_and_repeats_nothing(mesh_procs: MeshProcesses,
                                                                        tmp_path: Path) -> None:
    fast = ("--heartbeat-interval", "0.3", "--heartbeat-timeout", "5")
    first = mesh_procs.start_node("--role", "coordinator", "--node-id", "c1", *fast)
    coordinators = [first] + [mesh_procs.start_node("--role", "coordinator", "--node-id", f"c{i}",
                                                    "--join", first.address, *fast) for i in (2, 3)]
    joins = ",".join(c.address for c in coordinators)
    for i in (1, 2):
        mesh_procs.start_node("--role", "worker", "--node-id", f"w{i}", "--join", joins, "--slots", "4",
                              *fast)

    def ready() -> bool:
        with first.client() as c:
            st = c.status()
        extra = st.extra or {}
        voters = [m for m in st.members if m.role in ("leader", "follower")]
        return len(voters) == 3 and sum(w["status"] == "active" for w in extra.get("workers", [])) == 2
    eventually(ready, 30, "three coordinators and two workers")
    tasks = [{"type": "command", "name": f"job{i}", "config": {"command": "sleep 0.05"}} for i in range(200)]
    with MeshClient(first.address, timeout=20) as client:
        ids = client.submit(tasks)
        leader_id = client.status().leader
    leader = next(c for c in coordinators if c.node_id == leader_id)
    leader.signal(signal.SIGKILL)
    leader.wait(5)
    survivors = [c for c in coordinators if c is not leader]
    with MeshClient(survivors[0].address, timeout=20) as client:
        final = client.tasks(ids, wait_s=90, timeout=20, limit=1000)
    statuses = [t["status"] for t in final.tasks]
    summary = {s: statuses.count(s) for s in set(statuses)}
    errors = {t["error"] for t in final.tasks if t["status"] != "completed"}
    assert len(statuses) == 200 and set(statuses) == {"completed"}, (summary, errors)
    for t in final.tasks:
        assert [a["outcome"] for a in t["attempts"]].count("completed") == 1
    check_duckdb_exactly_once(survivors[0], ids)


def check_duckdb_exactly_once(node: NodeProcess, ids: list[str]) -> None:
    node.signal(signal.SIGTERM)
    node.wait(20)
    with duckdb.connect(str(node.data_dir / "results.duckdb"), read_only=True) as db:
        rows = db.execute("select task_id, count(*) from attempts where outcome = 'completed' "
                          "group by task_id").fetchall()
        statuses = db.execute("select status, count(*) from tasks group by status").fetchall()
    assert dict(rows) == {task_id: 1 for task_id in ids}
    assert statuses == [("completed", 200)]


def finished_rows(node: NodeProcess) -> tuple[int, int]:
    """(completed attempts, task_duration_s metric samples) in the node's DuckDB file."""
    with duckdb.connect(str(node.data_dir / "results.duckdb"), read_only=True) as db:
        [(attempts,)] = db.execute("select count(*) from attempts where outcome = 'completed'").fetchall()
        [(samples,)] = db.execute("select count(*) from metrics where metric = 'task_duration_s'").fetchall()
    return int(attempts), int(samples)


def test_a_restarted_node_writes_each_result_row_once(mesh_procs: MeshProcesses) -> None:
    """A restart re-applies the log behind the last snapshot: the rows it derives must not be
    appended a second time (upserted tables never could; the metrics samples must not either)."""
    node = mesh_procs.start_node("--role", "auto", "--slots", "4")
    with node.client(timeout=20) as client:
        ids = client.submit([{"type": "callable", "config": {"function": "mesh.benchmarks:noop"}}] * 20)
        final = client.tasks(ids, wait_s=30, timeout=20)
    assert {t["status"] for t in final.tasks} == {"completed"}
    node.signal(signal.SIGTERM)
    node.wait(20)
    assert finished_rows(node) == (20, 20)
    again = mesh_procs.start_node("--role", "auto", "--slots", "4", data_dir=node.data_dir)
    with again.client(timeout=20) as client:
        eventually(lambda: client.tasks(ids).counts.get("completed") == 20, 30, "the log replayed")
    again.signal(signal.SIGTERM)
    again.wait(20)
    assert finished_rows(again) == (20, 20)


def test_a_node_killed_before_its_results_flush_recovers_them_from_its_snapshot(
        mesh_procs: MeshProcesses) -> None:
    """Rows are written to DuckDB once a second. A SIGKILL inside that second loses the rows
    pending in memory; when a snapshot already covers their entries, a restart does not apply
    them again, so the rows must come from the snapshot's table instead: every finished attempt,
    with its metric sample, once."""
    args = ("--role", "auto", "--slots", "4", "--snapshot-every", "5")
    noop = {"type": "callable", "config": {"function": "mesh.benchmarks:noop"}}
    node = mesh_procs.start_node(*args)
    submitted = 0
    for _ in range(4):  # until a kill lands before a flush (each round misses with p ~ 0.1)
        with node.client(timeout=20) as client:
            ids = client.submit([noop] * 20)
            final = client.tasks(ids, wait_s=30, timeout=20)
        node.signal(signal.SIGKILL)
        node.wait(10)
        assert {t["status"] for t in final.tasks} == {"completed"}
        submitted += 20
        if finished_rows(node)[0] < submitted:
            break
        node = mesh_procs.start_node(*args, data_dir=node.data_dir)
    assert finished_rows(node)[0] < submitted, "every kill came after a flush"
    again = mesh_procs.start_node(*args, data_dir=node.data_dir)
    with again.client(timeout=20) as client:
        eventually(lambda: client.tasks(limit=0).counts.get("completed") == submitted, 30,
                   "the state restored")
    again.signal(signal.SIGTERM)
    again.wait(20)
    assert finished_rows(again) == (submitted, submitted)

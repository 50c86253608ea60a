"""Random command sequences (hypothesis): replicas stay byte-equal and invariants hold at every step.

Commands are drawn as plain data first, then applied to several tables, as Raft applies one log to
every replica. After each command: the tables' snapshots are equal, `violations` is empty, and no
terminal task changed status.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.scheduler import schedule
from mesh.tasktable import TERMINAL, TaskTable, violations
from tests.tasktable.helpers import CPU, GPU, spec

WORKERS = ["w0", "w1", "w2", "w3"]
OUTCOMES = ["completed", "failed", "timed_out", "cancelled", "error", "bogus"]

Command = tuple[Any, ...]

index = st.integers(min_value=0, max_value=30)
task_draw = st.tuples(st.lists(index, max_size=3), st.integers(0, 3), st.integers(0, 2),
                      st.sampled_from([0.0, 1.0, 5.0]), st.booleans())
start_draw = st.tuples(st.just("start"), st.lists(index, max_size=3))
finish_draw = st.tuples(st.just("finish"), st.lists(st.tuples(index, st.sampled_from(OUTCOMES)), max_size=3))
schedule_draw = st.tuples(st.just("schedule"), st.integers(1, 6))
# Start, finish and schedule are drawn more often than the rest so that tasks get somewhere.
command_draw = st.one_of(
    start_draw, finish_draw, schedule_draw, start_draw, finish_draw, schedule_draw,
    st.tuples(st.just("submit"), st.lists(task_draw, min_size=1, max_size=4)),
    st.tuples(st.just("register"), st.integers(0, 3)),
    st.tuples(st.just("assign"), st.lists(st.tuples(index, st.integers(0, 3)), max_size=4)),
    st.tuples(st.just("schedule"), st.integers(1, 6)),
    st.tuples(st.just("start"), st.lists(index, max_size=3)),
    st.tuples(st.just("finish"), st.lists(st.tuples(index, st.sampled_from(OUTCOMES)), max_size=3)),
    st.tuples(st.just("lost"), st.integers(0, 3)),
    st.tuples(st.just("quarantine"), st.integers(0, 3)),
    st.tuples(st.just("cancel"), index),
    st.tuples(st.just("tick"), st.sampled_from([0.5, 1.0, 5.0])),
)


def pick(prefix: str, i: int, count: int) -> str:
    """An existing id most of the time (index modulo how many exist), else one that never existed."""
    return f"{prefix}{i % count}" if count and i < 28 else f"{prefix}ghost{i}"


def apply(table: TaskTable, command: Command, now: float, counters: dict[str, int]) -> None:
    """Apply one drawn command; ids are derived from counters so every replica sees the same ids."""
    kind = command[0]
    tasks, attempts = counters["task"], counters["attempt"]
    if kind == "submit":
        ids, specs = [], []
        for deps, priority, retries, delay, cuda in command[1]:
            task_id = f"t{counters['task']}"
            existing = counters["task"]
            dep_ids = sorted({f"t{d % existing}" for d in deps}) if existing else []
            counters["task"] += 1
            ids.append(task_id)
            specs.append(spec(deps=dep_ids, priority=priority, retries=retries, delay=delay, cuda=cuda))
        table.submit(specs, ids, now)
    elif kind == "register":
        n = command[1]
        table.register_worker(WORKERS[n], f"tcp://w{n}", GPU if n % 2 else CPU, n + 1, now)
    elif kind == "assign":
        triples = []
        for task_index, worker in command[1]:
            triples.append((pick("t", task_index, tasks), WORKERS[worker], f"a{counters['attempt']}"))
            counters["attempt"] += 1
        table.assign(triples, now)
    elif kind == "schedule":
        plan = schedule(table, now, max_assignments=command[1])
        triples = []
        for task_id, worker_id in plan:
            triples.append((task_id, worker_id, f"a{counters['attempt']}"))
            counters["attempt"] += 1
        assert len(table.assign(triples, now)) == len(plan), "the table refused a scheduler plan"
    elif kind == "start":
        table.start([pick("a", i, attempts) for i in command[1]], now)
    elif kind == "finish":
        table.finish([(pick("a", i, attempts), outcome, {"i": i}) for i, outcome in command[1]], now)
    elif kind == "lost":
        table.worker_lost(WORKERS[command[1]], now)
    elif kind == "quarantine":
        table.quarantine(WORKERS[command[1]], "test", now)
    elif kind == "cancel":
        table.cancel(pick("t", command[1], tasks), now)

# Every run starts with a CPU worker and a GPU worker, so drawn commands spend no time getting there.
PRELUDE: list[Command] = [("register", 0), ("register", 1)]


def terminal_statuses(table: TaskTable) -> dict[str, str]:
    return {t["id"]: t["status"] for t in table.tasks() if t["status"] in TERMINAL}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(command_draw, min_size=20, max_size=80), st.integers(0, 60))
def test_replicas_agree_and_invariants_hold(commands: list[Command], restore_at: int) -> None:
    leader, follower = TaskTable(), TaskTable()
    late: TaskTable | None = None  # joins from a snapshot part-way, as a restarted replica does
    counters = [{"task": 0, "attempt": 0} for _ in range(3)]
    now = 0.0
    for step, command in enumerate([*PRELUDE, *commands]):
        if command[0] == "tick":
            now += command[1]
            continue
        before = terminal_statuses(leader)
        apply(leader, command, now, counters[0])
        apply(follower, command, now, counters[1])
        if late is not None:
            apply(late, command, now, counters[2])
        if step == restore_at:
            late = TaskTable()
            late.restore(leader.snapshot())
            counters[2] = dict(counters[0])
        assert violations(leader) == []
        assert leader.snapshot() == follower.snapshot()
        assert leader.drain_events() == follower.drain_events()
        if late is not None:
            assert late.snapshot() == leader.snapshot()
            late.drain_events()
        after = terminal_statuses(leader)
        assert {t: after[t] for t in before} == before, "a terminal task changed status"
        for worker in leader.workers():
            assert len(worker["running"]) <= worker["slots"]

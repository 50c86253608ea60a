"""The ready heap gives what sorting the queue gave, whatever happened to the tasks, and stays small."""

from __future__ import annotations

import random

from mesh.tasktable import TaskTable, violations
from mesh.tasktable.ready import COMPACT_SLACK, ReadyQueue
from tests.tasktable.helpers import spec, table_with_worker


def sorted_ready(table: TaskTable, now: float) -> list[str]:
    """The reference: every queued task that is due, sorted by (priority, seq)."""
    queued = [t for t in table.tasks("queued") if t["not_before"] <= now]
    return [t["id"] for t in sorted(queued, key=lambda t: (t["priority"], t["seq"]))]


def test_random_histories_read_in_priority_then_submission_order() -> None:
    rng = random.Random(4)
    table = table_with_worker(slots=6)
    ids = 0
    now = 0.0
    for step in range(600):
        now += rng.choice([0.0, 0.5, 1.0])
        action = rng.random()
        if action < 0.3:
            batch = []
            for _ in range(rng.randint(1, 4)):
                ids += 1
                deps = [f"t{rng.randint(1, ids - 1)}"] if ids > 1 and rng.random() < 0.2 else None
                batch.append((spec(priority=rng.randint(0, 3), deps=deps, retries=2,
                                   delay=rng.choice([0.0, 2.0])), f"t{ids}"))
            table.submit([s for s, _ in batch], [i for _, i in batch], now)
        elif action < 0.55:
            ready = table.ready_tasks(now)
            picked = rng.sample(ready, min(len(ready), rng.randint(0, 3)))
            table.assign([(t, "w1", f"a{step}-{t}") for t in picked], now)
        elif action < 0.85:
            running = table.running_on("w1")
            if running:
                attempt = rng.choice(running)
                table.finish([(attempt, rng.choice(["completed", "failed"]), {})], now)
        elif action < 0.93:
            queued = table.tasks("queued")
            if queued:
                table.cancel(rng.choice(queued)["id"], now)
        else:
            table.worker_lost("w1", now)
            table.register_worker("w1", "tcp://10.0.0.1:8080", {"hardware": ["cpu"]}, 6, now)
        for when in (now, now - 3.0, now + 3.0):
            assert table.ready_tasks(when) == sorted_ready(table, when), (step, when)
        assert violations(table) == []
        assert table._ready.size_with_stale() <= 2 * len(table._ready) + COMPACT_SLACK


def test_a_read_with_an_earlier_now_does_not_see_tasks_a_later_read_made_due() -> None:
    table = table_with_worker()
    table.submit([spec(retries=1, delay=10.0)], ["t1"], now=0.0)
    table.assign([("t1", "w1", "a1")], now=0.0)
    table.finish([("a1", "failed", {})], now=1.0)  # retry after 11.0
    assert table.ready_tasks(20.0) == ["t1"]
    assert table.ready_tasks(5.0) == []
    assert table.ready_tasks(11.0) == ["t1"]


def test_a_restored_table_rebuilds_the_queue() -> None:
    table = table_with_worker()
    table.submit([spec(priority=p) for p in (3, 1, 2, 1)], ["t1", "t2", "t3", "t4"], now=0.0)
    table.assign([("t2", "w1", "a1")], now=0.0)
    copy = TaskTable()
    copy.restore(table.snapshot())
    assert copy.ready_tasks(1.0) == table.ready_tasks(1.0) == ["t4", "t3", "t1"]
    assert violations(copy) == []


def test_iteration_is_lazy_and_ordered_over_a_deep_queue() -> None:
    queue = ReadyQueue()
    rng = random.Random(7)
    entries = [(rng.randint(0, 100), seq) for seq in range(5000)]
    for priority, seq in entries:
        queue.add(f"t{seq}", priority, seq, 0.0)
    for seq in range(0, 5000, 3):
        queue.discard(f"t{seq}")
    expected = [f"t{s}" for p, s in sorted(entries) if s % 3]
    first = queue.due(1.0)
    assert [next(first) for _ in range(10)] == expected[:10]
    assert list(queue.due(1.0)) == expected
    assert queue.size_with_stale() <= 2 * len(queue) + COMPACT_SLACK


def test_a_task_queued_again_has_one_entry() -> None:
    queue = ReadyQueue()
    queue.add("t1", 5, 1, 0.0)
    queue.add("t1", 5, 1, 0.0)  # queued again (e.g. requeued after its worker was lost)
    queue.add("t2", 5, 2, 0.0)
    assert list(queue.due(0.0)) == ["t1", "t2"]
    queue.discard("t1")
    assert list(queue.due(0.0)) == ["t2"]

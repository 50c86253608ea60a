"""`mesh submit`: send task files to the mesh; with `--wait`, report how each ended."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mesh.client import MeshClient, MeshError, MeshRemoteError

HELP = "submit tasks from JSON files (and wait for their results)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="JSON task files (one task or a list each)")
    p.add_argument("--coordinator", "-c", default="localhost:8080", metavar="H:P")
    p.add_argument("--priority", type=int, help="override every task's priority (lower runs first)")
    p.add_argument("--wait", action="store_true", help="wait until every task has finished")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="with --wait, give up after this many seconds (default 3600)")
    p.add_argument("--json", action="store_true", help="print one JSON object per task")


def run(args: argparse.Namespace) -> int:
    from mesh.tasks import TaskValidationError, load_task_file, parse_tasks

    tasks: list[Any] = []
    try:
        for path in args.files:
            data = load_task_file(path)
            tasks.extend(data if isinstance(data, list) else [data])
        parse_tasks(tasks, priority_override=args.priority)  # fail fast, before the network
    except TaskValidationError as err:
        print(f"mesh submit: {err}", file=sys.stderr)
        return 2
    try:
        with MeshClient(args.coordinator, timeout=10) as client:
            ids = client.submit(tasks, args.priority, timeout=30)
            if not args.wait:
                for task_id in ids:
                    print(task_id)
                return 0
            reply = client.tasks(ids, wait_s=args.timeout)
    except MeshRemoteError as err:
        print(f"mesh submit: {err.message}", file=sys.stderr)
        return 2 if err.code.name == "REJECTED" else 1
    except MeshError as err:
        print(f"mesh submit: {err}", file=sys.stderr)
        return 1
    by_id = {t["id"]: t for t in reply.tasks}
    ok = True
    for task_id in ids:
        task = by_id.get(task_id, {"id": task_id, "status": "unknown"})
        ok = ok and task.get("status") == "completed"
        print(json.dumps(summary(task), default=str) if args.json else render(task))
    return 0 if ok else 1


def summary(task: dict[str, Any]) -> dict[str, Any]:
    attempts = task.get("attempts") or []
    return {"id": task.get("id"), "name": task.get("name"), "type": task.get("type"),
            "status": task.get("status"), "attempts": len(attempts),
            "worker": attempts[-1].get("worker_id") if attempts else None,
            "error": task.get("error"), "result": task.get("result")}


def render(task: dict[str, Any]) -> str:
    s = summary(task)
    result = s["result"] or {}
    line = (f"{s['id']}  {s['name'] or '-':<20} {s['type'] or '-':<10} {s['status']:<16} "
            f"attempts={s['attempts']}")
    if s["worker"]:
        line += f" worker={s['worker']}"
    if result.get("exit_code") is not None:
        line += f" exit={result['exit_code']}"
    if s["error"]:
        line += f"\n    error: {s['error']}"
    tests = result.get("test_outcomes") or []
    if tests:
        counts: dict[str, int] = {}
        for t in tests:
            counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
        line += "\n    tests: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    for row in result.get("benchmark") or []:
        line += (f"\n    batch {row.get('batch_size')}: p50 {row.get('latency_p50_ms'):.3f} ms, "
                 f"{row.get('throughput_per_s'):.1f}/s")
    return line

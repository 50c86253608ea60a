"""`mesh results`: tasks and their results as the cluster recorded them."""

from __future__ import annotations

import argparse
import json
import sys

from mesh.client import MeshClient, MeshError
from mesh.commands.submit import render, summary

HELP = "show tasks and their results"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coordinator", "-c", default="localhost:8080", metavar="H:P")
    p.add_argument("--task", action="append", default=[], metavar="ID", help="only this task (repeatable)")
    p.add_argument("--status", help="only tasks in this status (completed, failed, queued, ...)")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--json", action="store_true", help="print one JSON object per task")


def run(args: argparse.Namespace) -> int:
    try:
        with MeshClient(args.coordinator, timeout=10) as client:
            reply = client.tasks(args.task, args.status, limit=args.limit)
    except MeshError as err:
        print(f"mesh results: {err}", file=sys.stderr)
        return 1
    for task in reply.tasks:
        print(json.dumps(summary(task), default=str) if args.json else render(task))
    if not args.json:
        counts = ", ".join(f"{n} {k}" for k, n in reply.counts.items() if n)
        print(f"-- {len(reply.tasks)} shown; cluster: {counts or 'no tasks'}")
    return 0

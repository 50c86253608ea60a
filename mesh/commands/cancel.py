"""`mesh cancel`: stop a task (its running attempt is killed, its dependents fail)."""

from __future__ import annotations

import argparse
import sys

from mesh.client import MeshClient, MeshError, MeshRemoteError

HELP = "cancel a task"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("task_id", metavar="ID")
    p.add_argument("--coordinator", "-c", default="localhost:8080", metavar="H:P")


def run(args: argparse.Namespace) -> int:
    try:
        with MeshClient(args.coordinator, timeout=10) as client:
            print(client.cancel(args.task_id))
    except MeshRemoteError as err:
        print(f"mesh cancel: {err.message}", file=sys.stderr)
        return 1
    except MeshError as err:
        print(f"mesh cancel: {err}", file=sys.stderr)
        return 1
    return 0

"""`mesh worker`: the seed's entry point, an alias of `mesh node --role worker --join ...`."""

from __future__ import annotations

import argparse
import sys

from mesh.commands import node

HELP = "run a worker (alias of mesh node --role worker --join ...)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coordinator", required=True, metavar="URL[,URL...]",
                   help="coordinators to attach to: host:port, tcp://host:port or http://host:port")
    p.add_argument("--worker-id", metavar="ID", help="this worker's id (default: stored in the data dir)")
    p.add_argument("--api-key", help="accepted for compatibility; authentication is not enforced yet")
    p.add_argument("--reconnect-interval", type=float, default=None, metavar="S",
                   help="accepted for compatibility; a worker retries every heartbeat interval")
    node.add_node_flags(p)
    p.set_defaults(port=0)


def run(args: argparse.Namespace) -> int:
    if args.api_key:
        print("mesh worker: note: --api-key is accepted but not enforced yet", file=sys.stderr)
    args.role = "worker"
    args.join = args.coordinator
    if args.worker_id:
        args.node_id = args.worker_id
    return node.run(args)

"""`mesh status`: what a node says about itself and the cluster."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mesh.client import DEFAULT_TIMEOUT_S, MeshClient, MeshError, status_dict
from transports.address import AddressError

HELP = "show what a node says about itself and the cluster"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coordinator", "-c", default="localhost:8080", metavar="H:P",
                   help="node to ask (default localhost:8080)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                   help=f"seconds to wait for an answer (default {DEFAULT_TIMEOUT_S:g})")


def run(args: argparse.Namespace) -> int:
    try:
        with MeshClient(args.coordinator, timeout=args.timeout) as client:
            data = status_dict(client.status())
    except AddressError as err:
        print(f"mesh status: error: --coordinator: {err}", file=sys.stderr)
        return 2
    except MeshError as err:
        print(f"mesh status: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(render(data))
    return 0


def render(data: dict[str, Any]) -> str:
    """A short human summary; `--json` has everything."""
    caps, health = data.get("capabilities") or {}, data.get("health") or {}
    cpu = caps.get("cpu") or {}
    lines = [
        f"node      {data['node_id']}  ({', '.join(data['roles'])})  v{data['version']}",
        f"address   {data['address']}",
        f"uptime    {data['uptime_s']:.1f} s",
        f"hardware  {', '.join(caps.get('hardware', []))}; {cpu.get('logical_cores')} cpus "
        f"({cpu.get('model')}), {caps.get('memory_gb')} GB",
        f"health    cpu {health.get('cpu_percent')}%  mem {health.get('memory', {}).get('percent')}%  "
        f"load {health.get('load_avg')}",
    ]
    for gpu in caps.get("cuda", []):
        lines.append(f"gpu       {gpu['name']} {gpu['memory_gb']} GB cc {gpu['compute_capability']}")
    if caps.get("browsers"):
        lines.append("browsers  " + ", ".join(f"{k} {v['version']}" for k, v in caps["browsers"].items()))
    if data.get("leader") is not None or data.get("members"):
        lines.append(f"raft      leader {data.get('leader')}  term {data.get('term')}  "
                     f"commit {data.get('commit_index')}")
        for member in data.get("members", []):
            lines.append(f"  member  {member['node_id']:<20} {member['role']:<10} {member['address']}")
    counts = data.get("task_counts")
    if counts:
        lines.append("tasks     " + (", ".join(f"{n} {k}" for k, n in counts.items() if n) or "none"))
    for worker in data.get("workers", []):
        lines.append(f"  worker  {worker['worker_id']:<20} {worker['status']:<10} "
                     f"{worker['running']}/{worker['slots']} running  {worker['address']}")
    for peer in data.get("peers", []):
        state = f"rtt {peer['rtt_ms']:.2f} ms" if peer["reachable"] else "unreachable"
        lines.append(f"peer      {peer['address']} ({peer['node_id'] or '?'}) {state}")
    return "\n".join(lines)

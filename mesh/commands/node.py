"""`mesh node`: run one node of the mesh in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from mesh.config import (
    DEFAULT_ELECTION_TICKS,
    DEFAULT_HEARTBEAT_INTERVAL_S,
    DEFAULT_HEARTBEAT_TICKS,
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_RAFT_TICK_S,
    DEFAULT_SNAPSHOT_EVERY,
    ConfigError,
    Role,
    build_config,
)

HELP = "run a node (coordinator, worker, observer, or auto) in the foreground"


def add_node_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST, help=f"interface to bind (default {DEFAULT_HOST})")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port to bind (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--join", metavar="H:P[,H:P...]", help="addresses of nodes already in the cluster")
    p.add_argument("--data-dir", metavar="DIR",
                   help="where the node keeps its identity, Raft log and results "
                        "(default $MESH_HOME/node-PORT, MESH_HOME defaults to ~/.mesh)")
    p.add_argument("--node-id", metavar="ID", help="this node's id (default: stored in the data dir, "
                   "else HOSTNAME-PORT)")
    p.add_argument("--heartbeat-interval", type=float, default=DEFAULT_HEARTBEAT_INTERVAL_S, metavar="S",
                   help=f"seconds between heartbeats (default {DEFAULT_HEARTBEAT_INTERVAL_S:g})")
    p.add_argument("--heartbeat-timeout", type=float, default=DEFAULT_HEARTBEAT_TIMEOUT_S, metavar="S",
                   help="seconds of silence after which a worker is declared lost "
                        f"(default {DEFAULT_HEARTBEAT_TIMEOUT_S:g})")
    p.add_argument("--raft-tick-ms", type=float, default=DEFAULT_RAFT_TICK_S * 1000, metavar="MS",
                   help=f"Raft tick length (default {DEFAULT_RAFT_TICK_S * 1000:g} ms)")
    p.add_argument("--election-ticks", type=int, default=DEFAULT_ELECTION_TICKS, metavar="N",
                   help=f"ticks without a leader before an election, randomized to [N, 2N) "
                        f"(default {DEFAULT_ELECTION_TICKS})")
    p.add_argument("--heartbeat-ticks", type=int, default=DEFAULT_HEARTBEAT_TICKS, metavar="N",
                   help=f"ticks between leader heartbeats (default {DEFAULT_HEARTBEAT_TICKS})")
    p.add_argument("--db-path", metavar="FILE",
                   help="DuckDB result store of a coordinator (default DATA_DIR/results.duckdb)")
    p.add_argument("--work-dir", metavar="DIR", help="where a worker runs tasks (default DATA_DIR/work)")
    p.add_argument("--slots", type=int, metavar="N",
                   help="attempts a worker runs at once (default: the number of cores)")
    p.add_argument("--snapshot-every", type=int, default=DEFAULT_SNAPSHOT_EVERY, metavar="N",
                   help="applied log entries between snapshots of the cluster state (log "
                        f"compaction; default {DEFAULT_SNAPSHOT_EVERY})")
    p.add_argument("-v", "--verbose", action="store_true", help="log at debug level")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", default=Role.AUTO.value, choices=[r.value for r in Role],
                   help="what this node does (default auto: the cluster decides)")
    add_node_flags(p)
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop (as on SIGTERM) when the process that started this one exits "
                        "(used by the local mesh of `mesh test`)")


def _exit_with_parent() -> None:
    """SIGTERM ourselves once our parent is gone (we were re-parented): a clean stop."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run(args: argparse.Namespace) -> int:
    from mesh.logs import setup_logging
    from mesh.node import run_node

    try:
        config = build_config(
            role=args.role, host=args.host, port=args.port, join=args.join, data_dir=args.data_dir,
            node_id=args.node_id, heartbeat_interval=args.heartbeat_interval,
            heartbeat_timeout=args.heartbeat_timeout, verbose=args.verbose,
            raft_tick_ms=args.raft_tick_ms, election_ticks=args.election_ticks,
            heartbeat_ticks=args.heartbeat_ticks, db_path=args.db_path, work_dir=args.work_dir,
            slots=args.slots, snapshot_every=args.snapshot_every,
        )
    except ConfigError as err:
        print(f"mesh node: error: {err}", file=sys.stderr)
        return 2
    setup_logging(config.verbose)
    if getattr(args, "exit_with_parent", False):
        _exit_with_parent()
    try:
        return run_node(config)
    except ConfigError as err:  # raised while opening the data dir
        print(f"mesh node: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"mesh node: error: {err}", file=sys.stderr)
        return 1

"""A node's configuration: the `mesh node` flags, validated, plus the on-disk identity in its data dir.

Validation errors raise `ConfigError` with a message naming the flag and the reason;
the CLI prints it and exits 2, like argparse does for its own errors.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO

from transports.address import Address, AddressError, parse_address, parse_address_list

NODE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

DEFAULT_HOST = "localhost"
DEFAULT_PORT = 8080
DEFAULT_HEARTBEAT_INTERVAL_S = 1.0
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0
# Raft timing, suited to a LAN: a 15 ms tick, elections after 10-20 ticks (150-300 ms) of
# silence from the leader, leader heartbeats every 2 ticks (30 ms).
DEFAULT_RAFT_TICK_S = 0.015
DEFAULT_ELECTION_TICKS = 10
DEFAULT_HEARTBEAT_TICKS = 2
DEFAULT_SNAPSHOT_EVERY = 20_000  # applied entries between snapshots (log compaction)


class Role(StrEnum):
    AUTO = "auto"
    COORDINATOR = "coordinator"
    WORKER = "worker"
    OBSERVER = "observer"


class ConfigError(ValueError):
    """A flag value is invalid; the message names the flag."""


def default_data_dir(port: int) -> Path:
    home = os.environ.get("MESH_HOME")
    base = Path(home) if home else Path.home() / ".mesh"
    return base / f"node-{port}"


@dataclass(frozen=True)
class NodeConfig:
    role: Role = Role.AUTO
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    join: tuple[Address, ...] = ()
    data_dir: Path = field(default_factory=lambda: default_data_dir(DEFAULT_PORT))
    node_id: str | None = None
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S
    verbose: bool = False
    raft_tick_s: float = DEFAULT_RAFT_TICK_S
    election_ticks: int = DEFAULT_ELECTION_TICKS
    heartbeat_ticks: int = DEFAULT_HEARTBEAT_TICKS
    db_path_override: Path | None = None
    work_dir_override: Path | None = None
    slots: int = field(default_factory=lambda: os.cpu_count() or 1)
    snapshot_every: int = DEFAULT_SNAPSHOT_EVERY

    @property
    def db_path(self) -> Path:
        """The DuckDB result store (`--db-path`, default results.duckdb in the data dir)."""
        return self.db_path_override or self.data_dir / "results.duckdb"

    @property
    def work_dir(self) -> Path:
        """Where a worker runs tasks (`--work-dir`, default work/ in the data dir)."""
        return self.work_dir_override or self.data_dir / "work"

    @property
    def bind_endpoint(self) -> str:
        return Address(self.host, self.port).endpoint if self.port else f"tcp://{_bracket(self.host)}:0"


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def build_config(*, role: str, host: str, port: int, join: str | None, data_dir: str | None,
                 node_id: str | None, heartbeat_interval: float, heartbeat_timeout: float,
                 verbose: bool, raft_tick_ms: float = DEFAULT_RAFT_TICK_S * 1000,
                 election_ticks: int = DEFAULT_ELECTION_TICKS,
                 heartbeat_ticks: int = DEFAULT_HEARTBEAT_TICKS, db_path: str | None = None,
                 work_dir: str | None = None, slots: int | None = None,
                 snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> NodeConfig:
    """Validate raw flag values into a `NodeConfig`."""
    try:
        role_value = Role(role)
    except ValueError:
        raise ConfigError(f"--role: {role!r} is not one of {', '.join(r.value for r in Role)}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"--port: {port} is outside 0-65535 (0 picks a free port)")
    try:
        parse_address(f"{host}:1")
    except AddressError as err:
        raise ConfigError(f"--host: {err}") from None
    joins: tuple[Address, ...] = ()
    if join:
        try:
            joins = tuple(parse_address_list(join))
        except AddressError as err:
            raise ConfigError(f"--join: {err}") from None
    if node_id is not None and not NODE_ID.match(node_id):
        raise ConfigError(f"--node-id: {node_id!r} must be 1-64 letters, digits, '.', '_' or '-'"
                          " and start with a letter or digit")
    if not heartbeat_interval > 0:
        raise ConfigError(f"--heartbeat-interval: {heartbeat_interval} must be positive")
    if not heartbeat_timeout >= 2 * heartbeat_interval:
        raise ConfigError(f"--heartbeat-timeout: {heartbeat_timeout} must be at least twice "
                          f"--heartbeat-interval ({heartbeat_interval})")
    if not 1 <= raft_tick_ms <= 1000:
        raise ConfigError(f"--raft-tick-ms: {raft_tick_ms} must be within 1-1000")
    if not heartbeat_ticks >= 1:
        raise ConfigError(f"--heartbeat-ticks: {heartbeat_ticks} must be at least 1")
    if not election_ticks > heartbeat_ticks:
        raise ConfigError(f"--election-ticks: {election_ticks} must be greater than --heartbeat-ticks")
    if slots is not None and not 1 <= slots <= 4096:
        raise ConfigError(f"--slots: {slots} must be within 1-4096")
    if snapshot_every < 1:
        raise ConfigError(f"--snapshot-every: {snapshot_every} must be at least 1")
    return NodeConfig(
        db_path_override=Path(db_path).expanduser() if db_path else None,
        work_dir_override=Path(work_dir).expanduser() if work_dir else None,
        slots=slots or (os.cpu_count() or 1), snapshot_every=snapshot_every,
        raft_tick_s=raft_tick_ms / 1000, election_ticks=election_ticks, heartbeat_ticks=heartbeat_ticks,
        role=role_value, host=host, port=port, join=joins,
        data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(port),
        node_id=node_id, heartbeat_interval_s=heartbeat_interval,
        heartbeat_timeout_s=heartbeat_timeout, verbose=verbose,
    )


class DataDir:
    """A node's data directory, locked for the life of the process so two nodes never share one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: IO[str] | None = None

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(f"--data-dir: cannot create {self.path}: {err.strerror}") from None
        lock = open(self.path / "LOCK", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise ConfigError(f"--data-dir: {self.path} is in use by another mesh node") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock

    def close(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def resolve_node_id(self, requested: str | None, port: int) -> str:
        """The node id stored here; on first start the requested one (or a new one) is stored.

        A data dir keeps its identity: starting it under another id is an error, because
        the Raft log and results in it belong to the id that wrote them.
        """
        id_file = self.path / "node_id"
        if id_file.exists():
            stored = id_file.read_text().strip()
            if requested is not None and requested != stored:
                raise ConfigError(f"--node-id: {self.path} belongs to node {stored!r}, not {requested!r}")
            return stored
        node_id = requested or _new_node_id(port)
        tmp = id_file.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(node_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, id_file)
        return node_id


def _new_node_id(port: int) -> str:
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname().split(".")[0]) or "node"
    suffix = str(port) if port else secrets.token_hex(3)
    return f"{host[:40]}-{suffix}"

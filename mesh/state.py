"""The cluster state machine: what every coordinator and observer replicates through Raft.

`ClusterState.apply(command) -> result` is deterministic: no clocks, no randomness, no I/O
(timestamps and ids arrive inside commands, chosen by the leader before proposing).
`snapshot()`/`restore()` carry the whole state. Commands and results are msgpack arrays
whose first element is a `Command` / `Outcome` tag; `encode_command` builds them.

It holds the members directory (who is in the cluster, where, in which role), a small
replicated key-value store for cluster settings, and the task table (tasks, attempts,
workers: `mesh.tasktable`). Each command has its own entry in the apply table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgpack

from mesh.raft import ConfChange, ConfChangeType
from mesh.tasktable import TaskTable

SNAPSHOT_VERSION = 2
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 64 * 1024


class Command(IntEnum):
    """Tags of replicated commands."""

    CONFIG_SET = 1
    CONFIG_DELETE = 2
    MEMBER_UPDATE = 3  # (node_id, address, raft, roles): where a member listens, what it does
    SUBMIT_TASKS = 10  # (task dicts with dependencies resolved to ids, ids, now)
    REGISTER_WORKER = 11  # (worker_id, address, capabilities, slots, now)
    ASSIGN = 12  # ([(task_id, worker_id, attempt_id)], now)
    START = 13  # ([attempt_id], now)
    FINISH = 14  # ([(attempt_id, outcome, result)], now)
    WORKER_LOST = 15  # (worker_id, now)
    CANCEL_TASK = 16  # (task_id, now)


class Outcome(IntEnum):
    OK = 0
    REJECTED = 1  # the command is valid msgpack but breaks a rule; the payload says which
    NOT_FOUND = 2


@dataclass(slots=True)
class MemberInfo:
    node_id: str
    address: str
    raft: str  # voter | learner
    roles: tuple[str, ...] = ()

    def as_list(self) -> list[Any]:
        return [self.node_id, self.address, self.raft, list(self.roles)]


def encode_command(kind: Command, *fields: Any) -> bytes:
    return msgpack.packb([int(kind), *fields], use_bin_type=True)


def decode_result(data: bytes) -> tuple[Outcome, Any]:
    tag, payload = msgpack.unpackb(data, raw=False)
    return Outcome(tag), payload


def member_context(address: str, roles: tuple[str, ...]) -> bytes:
    """The `ConfChange.context` a joining node carries: where it listens and what it does."""
    return msgpack.packb([address, list(roles)], use_bin_type=True)


def parse_member_context(context: bytes) -> tuple[str, tuple[str, ...]]:
    if not context:
        return "", ()
    address, roles = msgpack.unpackb(context, raw=False)
    return str(address), tuple(str(r) for r in roles)


def _result(outcome: Outcome, payload: Any = None) -> bytes:
    return msgpack.packb([int(outcome), payload], use_bin_type=True)


@dataclass
class ClusterState:
    """The replicated state. Mutate only through `apply` and `apply_conf_change`."""

    members: dict[str, MemberInfo] = field(default_factory=dict)
    config: dict[str, bytes] = field(default_factory=dict)
    tasks: TaskTable = field(default_factory=TaskTable)
    applied_commands: int = 0

    # --- the StateMachine interface -------------------------------------------------------

    def apply(self, command: bytes) -> bytes:
        try:
            kind, *fields = msgpack.unpackb(command, raw=False)
            handler = _HANDLERS[Command(kind)]
        except (ValueError, TypeError, KeyError) as err:
            # A leader validates before proposing, so this is a bug or a newer peer's command;
            # every replica rejects it the same way, which keeps them equal.
            return _result(Outcome.REJECTED, f"undecodable command: {err}")
        self.applied_commands += 1
        try:
            return handler(self, *fields)
        except TypeError as err:  # wrong arity: handlers check their fields before mutating
            return _result(Outcome.REJECTED, f"malformed {Command(kind).name}: {err}")

    def snapshot(self) -> bytes:
        members = [m.as_list() for _, m in sorted(self.members.items())]
        config = sorted(self.config.items())
        return msgpack.packb([SNAPSHOT_VERSION, self.applied_commands, members, config,
                              self.tasks.snapshot()], use_bin_type=True)

    def restore(self, data: bytes) -> None:
        version, applied, members, config, tasks = msgpack.unpackb(data, raw=False)
        if version != SNAPSHOT_VERSION:
            raise ValueError(f"cluster state snapshot version {version} is not {SNAPSHOT_VERSION}")
        self.tasks = TaskTable()
        self.tasks.restore(tasks)
        self.applied_commands = applied
        self.members = {m[0]: MemberInfo(m[0], m[1], m[2], tuple(m[3])) for m in members}
        self.config = {k: v for k, v in config}

    # --- membership, from committed CONF_CHANGE entries ------------------------------------

    def apply_conf_change(self, cc: ConfChange) -> None:
        address, roles = parse_member_context(cc.context)
        current = self.members.get(cc.node_id)
        if cc.type is ConfChangeType.REMOVE_NODE:
            self.members.pop(cc.node_id, None)
            return
        raft = "learner" if cc.type is ConfChangeType.ADD_LEARNER else "voter"
        if current is None:
            self.members[cc.node_id] = MemberInfo(cc.node_id, address, raft, roles)
            return
        current.raft = raft
        if address:
            current.address = address
        if roles:
            current.roles = roles

    # --- commands ---------------------------------------------------------------------------

    def _config_set(self, key: str, value: bytes) -> bytes:
        if not isinstance(key, str) or not isinstance(value, bytes):
            return _result(Outcome.REJECTED, "config key must be str and value bytes")
        if len(key.encode()) > MAX_KEY_BYTES or len(value) > MAX_VALUE_BYTES:
            return _result(Outcome.REJECTED, "config key or value too large")
        self.config[key] = value
        return _result(Outcome.OK, None)

    def _config_delete(self, key: str) -> bytes:
        if self.config.pop(key, None) is None:
            return _result(Outcome.NOT_FOUND, key)
        return _result(Outcome.OK, None)

    def _member_update(self, node_id: str, address: str, raft: str, roles: list[str]) -> bytes:
        """Record where a member listens and what it does (created if the directory lacks it,
        as for the founding voter, whose bootstrap entry carries no address)."""
        if raft not in ("voter", "learner"):
            return _result(Outcome.REJECTED, f"raft role {raft!r} is not voter or learner")
        member = self.members.get(node_id)
        if member is None:
            self.members[node_id] = MemberInfo(node_id, address, raft, tuple(roles))
        else:
            member.address = address
            member.roles = tuple(roles)
        return _result(Outcome.OK, None)


    # --- tasks (every replica applies the same; `now` comes from the leader) ----------------

    def _submit_tasks(self, tasks: list[dict[str, Any]], ids: list[str], now: float) -> bytes:
        return _result(Outcome.OK, self.tasks.submit(tasks, ids, now))

    def _register_worker(self, worker_id: str, address: str, capabilities: dict[str, Any],
                         slots: int, now: float) -> bytes:
        return _result(Outcome.OK, self.tasks.register_worker(worker_id, address, capabilities, slots, now))

    def _assign(self, assignments: list[list[str]], now: float) -> bytes:
        items = [(a[0], a[1], a[2]) for a in assignments if isinstance(a, list | tuple) and len(a) == 3]
        return _result(Outcome.OK, self.tasks.assign(items, now))

    def _start(self, attempt_ids: list[str], now: float) -> bytes:
        return _result(Outcome.OK, self.tasks.start(attempt_ids, now))

    def _finish(self, results: list[list[Any]], now: float) -> bytes:
        items = [(r[0], r[1], r[2]) for r in results if isinstance(r, list | tuple) and len(r) == 3]
        return _result(Outcome.OK, self.tasks.finish(items, now))

    def _worker_lost(self, worker_id: str, now: float) -> bytes:
        return _result(Outcome.OK, self.tasks.worker_lost(worker_id, now))

    def _cancel_task(self, task_id: str, now: float) -> bytes:
        cancelled = self.tasks.cancel(task_id, now)
        if cancelled is None:
            return _result(Outcome.NOT_FOUND, f"task {task_id} is unknown or already finished")
        return _result(Outcome.OK, cancelled)


_HANDLERS: dict[Command, Callable[..., bytes]] = {
    Command.CONFIG_SET: ClusterState._config_set,
    Command.CONFIG_DELETE: ClusterState._config_delete,
    Command.MEMBER_UPDATE: ClusterState._member_update,
    Command.SUBMIT_TASKS: ClusterState._submit_tasks,
    Command.REGISTER_WORKER: ClusterState._register_worker,
    Command.ASSIGN: ClusterState._assign,
    Command.START: ClusterState._start,
    Command.FINISH: ClusterState._finish,
    Command.WORKER_LOST: ClusterState._worker_lost,
    Command.CANCEL_TASK: ClusterState._cancel_task,
}

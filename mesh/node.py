"""The node process: the one loop that wires the transport to the roles a node plays.

`Node` owns the event loop's view of the world: the transport, a table of
handlers keyed by message class, periodic timers, and clean shutdown on
SIGINT/SIGTERM. Everything it knows about itself is answered to `StatusRequest`.
Roles (Raft coordinator, worker, observer) plug in through `register`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvloop

from mesh import __version__
from mesh.config import DataDir, NodeConfig, Role
from mesh.hardware import capabilities
from mesh.health import health_snapshot
from transports.errors import ErrorCode
from transports.protocol import (
    ErrorReply,
    Member,
    PeerInfo,
    PingReply,
    PingRequest,
    StatusReply,
    StatusRequest,
)
from transports.zmq_transport import Origin, ZmqTransport

log = logging.getLogger("mesh.node")

MessageHandler = Callable[[Origin, int, Any], None]
RaftView = tuple[str | None, int, int, tuple[Member, ...], dict[str, Any]]
"""(leader, term, commit index, members, extra status fields), from the coordinator role."""


@dataclass
class _Peer:
    """What this node has heard from one address it was told to join."""

    endpoint: str
    node_id: str | None = None
    rtt_ms: float | None = None
    last_seen: float | None = None  # monotonic


class Node:
    """A mesh node. `await node.run(stop)` serves until `stop` is set, then closes everything."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.data_dir = DataDir(config.data_dir)
        self.node_id = ""
        self.address = ""
        self.started = time.monotonic()
        self.transport: ZmqTransport | None = None
        self._handlers: dict[type, MessageHandler] = {
            PingRequest: self._on_ping,
            PingReply: self._on_ping_reply,
            StatusRequest: self._on_status,
            ErrorReply: self._on_error_reply,
        }
        self._peers: dict[str, _Peer] = {a.endpoint: _Peer(a.endpoint) for a in config.join}
        self._status_sections: list[Callable[[], dict[str, Any]]] = []
        self._timers: list[asyncio.Task[None]] = []
        self._roles: list[Any] = []  # role objects with async start()/stop()
        # Set by the coordinator role: (leader, term, commit, members, extra).
        self.raft_view: Callable[[], RaftView] | None = None

    # --- extension points for roles ----------------------------------------------------------

    def register(self, msg_cls: type, handler: MessageHandler) -> None:
        """Route messages of `msg_cls` to `handler(origin, corr_id, msg)`."""
        self._handlers[msg_cls] = handler

    def add_status_section(self, section: Callable[[], dict[str, Any]]) -> None:
        """Add role-specific data to `StatusReply.extra`."""
        self._status_sections.append(section)

    def every(self, interval_s: float, callback: Callable[[], None], name: str) -> None:
        """Run `callback` every `interval_s` on the loop; an exception is logged, the timer goes on."""
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    callback()
                except Exception:
                    log.exception("timer %s failed", name)
        self._timers.append(asyncio.get_running_loop().create_task(loop(), name=name))

    @property
    def roles(self) -> tuple[str, ...]:
        if self._roles:
            return tuple(r for role_obj in self._roles for r in role_obj.roles)
        return (self.config.role.value,)

    def _create_roles(self) -> None:
        from actors.coordinator import CoordinatorRole
        from actors.worker import WorkerRole
        from mesh.replica import RaftTiming

        role, cfg = self.config.role, self.config
        timing = RaftTiming(cfg.raft_tick_s, cfg.election_ticks, cfg.heartbeat_ticks)
        if role in (Role.COORDINATOR, Role.AUTO):
            self._roles.append(CoordinatorRole(self, voter=True, auto=role is Role.AUTO, timing=timing))
        elif role is Role.OBSERVER:
            self._roles.append(CoordinatorRole(self, voter=False, timing=timing))
        if role in (Role.WORKER, Role.AUTO):
            # A lone `auto` node is coordinator and worker at once (`mesh up` on a laptop).
            coordinators = [a.endpoint for a in cfg.join] or [self.address]
            self._roles.append(WorkerRole(self, slots=cfg.slots, work_dir=cfg.work_dir,
                                          coordinators=coordinators))

    # --- lifecycle ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self.data_dir.open()
        try:
            self.node_id = self.data_dir.resolve_node_id(self.config.node_id, self.config.port)
            self.transport = ZmqTransport(self.node_id, self.config.bind_endpoint, self._dispatch)
            bound = await self.transport.start()
            self.address = _advertised(bound, self.config.host)
            self._create_roles()
            for role_obj in self._roles:
                await role_obj.start()
            self._write_node_file()
            log.info("node %s (%s) listening on %s, data in %s", self.node_id,
                     ",".join(self.roles), self.address, self.config.data_dir)
            if self._peers:
                self.every(self.config.heartbeat_interval_s, self._probe_peers, "probe-peers")
                self._probe_peers()
            await stop.wait()
            log.info("node %s stopping", self.node_id)
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for role_obj in reversed(self._roles):
            try:
                await role_obj.stop()
            except Exception:
                log.exception("stopping %s failed", type(role_obj).__name__)
        for task in self._timers:
            task.cancel()
        for task in self._timers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.transport is not None:
            await self.transport.close()
        with contextlib.suppress(FileNotFoundError):
            (self.config.data_dir / "node.json").unlink()
        self.data_dir.close()
        log.info("node %s stopped", self.node_id)
        for handler in logging.getLogger().handlers:
            handler.flush()

    def _write_node_file(self) -> None:
        """`node.json` in the data dir tells scripts and tests where a node listens (port 0 too)."""
        info = {"node_id": self.node_id, "address": self.address, "pid": os.getpid(),
                "roles": list(self.roles), "version": __version__}
        path = self.config.data_dir / "node.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info) + "\n")
        os.replace(tmp, path)

    # --- dispatch ----------------------------------------------------------------------------

    def _dispatch(self, origin: Origin, corr_id: int, msg: Any) -> None:
        handler = self._handlers.get(type(msg))
        if handler is None:
            assert self.transport is not None
            if origin.identity is not None:
                self.transport.reply(origin, ErrorReply(
                    ErrorCode.UNEXPECTED_MESSAGE,
                    f"{type(msg).__name__} is not accepted by this node"), corr_id)
            return
        handler(origin, corr_id, msg)

    def _on_ping(self, origin: Origin, corr_id: int, msg: PingRequest) -> None:
        assert self.transport is not None
        self.transport.reply(origin, PingReply(msg.sent_ns, msg.payload, self.node_id), corr_id)

    def _on_ping_reply(self, origin: Origin, corr_id: int, msg: PingReply) -> None:
        peer = self._peers.get(origin.peer or "")
        if peer is None:
            return
        now = time.monotonic_ns()
        peer.node_id = msg.node_id or peer.node_id
        peer.rtt_ms = max(now - msg.sent_ns, 0) / 1e6
        peer.last_seen = now / 1e9

    def _on_error_reply(self, origin: Origin, corr_id: int, msg: ErrorReply) -> None:
        log.debug("error reply from %s: %s %s", origin, msg.code.name, msg.message)

    def _probe_peers(self) -> None:
        assert self.transport is not None
        for peer in self._peers.values():
            self.transport.send(peer.endpoint, PingRequest(time.monotonic_ns()))

    # --- status ------------------------------------------------------------------------------

    def _on_status(self, origin: Origin, corr_id: int, msg: StatusRequest) -> None:
        assert self.transport is not None
        self.transport.reply(origin, self.status(), corr_id)

    def status(self) -> StatusReply:
        assert self.transport is not None
        now = time.monotonic()
        stale_after = 3 * self.config.heartbeat_interval_s
        peers = tuple(
            PeerInfo(
                address=p.endpoint, node_id=p.node_id,
                reachable=p.last_seen is not None and now - p.last_seen < stale_after,
                rtt_ms=p.rtt_ms,
                last_seen_s=None if p.last_seen is None else round(now - p.last_seen, 3),
            )
            for p in self._peers.values()
        )
        extra: dict[str, Any] = {}
        for section in self._status_sections:
            extra.update(section())
        leader: str | None = None
        term, commit, members = 0, 0, tuple[Member, ...]()
        if self.raft_view is not None:
            leader, term, commit, members, raft_extra = self.raft_view()
            extra.update(raft_extra)
        return StatusReply(
            node_id=self.node_id, version=__version__, roles=self.roles, address=self.address,
            uptime_s=round(now - self.started, 3),
            health=health_snapshot(self.config.data_dir), capabilities=capabilities(),
            leader=leader, term=term, commit_index=commit, members=members,
            peers=peers, protocol_errors=self.transport.stats.as_dict(), extra=extra or None,
        )


def _advertised(bound: str, host: str) -> str:
    """The address peers should use: the bound one, or this host's name for a wildcard bind."""
    if host in ("0.0.0.0", "::", "*"):
        port = bound.rsplit(":", 1)[1]
        return f"tcp://{socket.getfqdn()}:{port}"
    if host == "localhost":
        return bound  # zmq reports the resolved 127.0.0.1
    port = bound.rsplit(":", 1)[1]
    return f"tcp://{'[' + host + ']' if ':' in host else host}:{port}"


GIL_SWITCH_INTERVAL_S = 0.0005
"""How long a thread may keep the GIL while another waits (Python's default: 5 ms). The loop gives
the GIL up on every fsync and socket send; with the results writer's thread busy in Python, each
of those could cost the loop up to the whole interval before it got the GIL back."""


def run_node(config: NodeConfig) -> int:
    """Run a node until SIGINT/SIGTERM. Returns the process exit code."""
    capabilities()  # detect hardware before the loop exists: it runs subprocesses
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    stop_signals = (signal.SIGINT, signal.SIGTERM)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in stop_signals:
            loop.add_signal_handler(sig, stop.set)
        await Node(config).run(stop)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return 0

"""The coordinator role: a Raft replica of the cluster state, its public API, and membership.

Voters (`--role coordinator`) and learners (`--role observer`) both run this role; the leader
among the voters is the active coordinator. A node started without `--join` on an empty data
dir founds a cluster; one started with `--join` asks the nodes it names to take it in, and the
leader adds it as a learner, promoting coordinators to voters once they have caught up.
If every node named in `--join` is itself waiting (a fleet started all at once, each naming
the others), the one with the lowest address founds the cluster and the others join it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from actors.dispatcher import Dispatcher
from mesh.raft import ClientRequest, ConfChange, ConfChangeType, ProposalDropped, encode_request
from mesh.raft import Message as RaftMessage
from mesh.replica import NotLeaderError, OutcomeUnknownError, RaftTiming, Replica
from mesh.state import Command, Outcome, decode_result, encode_command, member_context
from transports.errors import ErrorCode
from transports.protocol import (
    AckReply,
    ConfigDumpReply,
    ConfigDumpRequest,
    ConfigGetReply,
    ConfigGetRequest,
    ConfigSetReply,
    ConfigSetRequest,
    ErrorReply,
    JoinReply,
    JoinRequest,
    JoinStatus,
    Member,
    RaftEnvelope,
    TransferLeadershipRequest,
)
from transports.zmq_transport import Origin

if TYPE_CHECKING:
    from mesh.node import Node

log = logging.getLogger("mesh.coordinator")

MAX_VOTERS = 5  # more voters only slow commits down; further coordinators stay hot learners
AUTO_VOTERS = 3  # `--role auto` nodes become voters until the cluster has this many
JOIN_RETRY_S = 0.2
BOOTSTRAP_AFTER_S = 1.0  # all join peers unformed for this long -> the lowest address founds
PROMOTE_EVERY_S = 0.1
REQUEST_TIMEOUT_S = 10.0


class CoordinatorRole:
    """Runs a `Replica` on a node and answers the cluster API with it."""

    def __init__(self, node: Node, *, voter: bool, auto: bool = False,
                 timing: RaftTiming | None = None) -> None:
        self.node = node
        self.voter = voter
        self.auto = auto
        self.timing = timing or RaftTiming()
        self.replica: Replica | None = None
        self.joined = asyncio.Event()
        self._unformed: dict[str, float] = {}  # join peer address -> when it last said UNFORMED
        self._join_started = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self.dispatcher: Dispatcher | None = None

    @property
    def requested_roles(self) -> tuple[str, ...]:
        if self.auto:
            return ("auto",)
        return ("coordinator",) if self.voter else ("observer",)

    @property
    def roles(self) -> tuple[str, ...]:
        """What this node is now: a voter coordinates, a learner observes."""
        if self.replica is None or self.replica.raw is None:
            return self.requested_roles
        conf = self.replica.raw.status().conf_state
        if self.node.node_id in conf.voters:
            return ("coordinator",)
        if self.node.node_id in conf.learners:
            return ("observer",)
        return self.requested_roles

    # --- lifecycle ---------------------------------------------------------------------------

    def _new_replica(self, *, found: bool) -> Replica:
        """Open this node's replica and start it; with `found`, an empty one first founds a
        one-voter cluster."""
        assert self.dispatcher is not None
        node = self.node
        replica = Replica(node.node_id, node.address, node.config.data_dir, self._send_raft, self.timing,
                          snapshot_every=node.config.snapshot_every)
        if found and replica.is_new:
            replica.bootstrap()
        replica.on_apply.append(self.dispatcher.on_applied)
        replica.on_restore.append(partial(self.dispatcher.on_restored, replica))
        replica.start()
        return replica

    async def start(self) -> None:
        node = self.node
        assert node.transport is not None
        self.dispatcher = Dispatcher(self)
        self.replica = replica = self._new_replica(found=not node.config.join)
        for msg_cls, handler in (
            (RaftEnvelope, self._on_raft), (JoinRequest, self._on_join), (JoinReply, self._on_join_reply),
            (ConfigSetRequest, self._on_config_set), (ConfigGetRequest, self._on_config_get),
            (ConfigDumpRequest, self._on_config_dump),
            (TransferLeadershipRequest, self._on_transfer),
        ):
            node.register(msg_cls, handler)
        node.raft_view = self._raft_view
        self.dispatcher.start()
        if replica.is_new or not self._in_conf():
            self._join_started = time.monotonic()
            self._tasks.append(asyncio.get_running_loop().create_task(self._join_loop(), name="join"))
        else:
            self.joined.set()
        node.every(PROMOTE_EVERY_S, self._promote_learners, "promote-learners")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.replica is not None:
            await self.replica.stop()
        if self.dispatcher is not None:
            await self.dispatcher.close()

    def _in_conf(self) -> bool:
        assert self.replica is not None and self.replica.raw is not None
        conf = self.replica.raw.status().conf_state
        return self.node.node_id in conf.voters or self.node.node_id in conf.learners

    # --- Raft traffic ------------------------------------------------------------------------

    def _send_raft(self, address: str, msg: RaftMessage) -> bool:
        assert self.node.transport is not None
        return self.node.transport.send(address, RaftEnvelope(self.node.address, msg))

    def _on_raft(self, origin: Origin, corr_id: int, msg: RaftEnvelope) -> None:
        if self.replica is not None:
            self.replica.step(msg.sender_address, msg.message)

    def _raft_view(self) -> tuple[str | None, int, int, tuple[Member, ...], dict[str, Any]]:
        assert self.replica is not None
        fields = self.replica.status_fields()
        members = tuple(Member(n, a, r) for n, a, r in self.replica.members())
        return (fields.get("leader"), fields.get("term", 0), fields.get("commit_index", 0), members,
                {"applied_index": fields.get("applied_index", 0), "raft_role": fields.get("raft_role")})

    # --- joining -----------------------------------------------------------------------------

    async def _join_loop(self) -> None:
        assert self.node.transport is not None and self.replica is not None
        request = JoinRequest(self.node.node_id, self.node.address, self.requested_roles)
        targets = [a.endpoint for a in self.node.config.join]
        while not self._in_conf():
            leader = self.replica.leader_address
            for address in ([leader] if leader else []) + targets:
                if address != self.node.address:
                    self.node.transport.send(address, request)
            self._maybe_found_cluster(targets)
            await asyncio.sleep(JOIN_RETRY_S)
        log.info("joined the cluster as %s", "voter-to-be" if self.voter else "learner")
        self.joined.set()

    def _on_join_reply(self, origin: Origin, corr_id: int, msg: JoinReply) -> None:
        if msg.status is JoinStatus.UNFORMED and origin.peer is not None:
            self._unformed[origin.peer] = time.monotonic()
        elif msg.status is JoinStatus.REJECTED:
            log.error("cluster at %s refused to take this node in: %s", origin, msg.detail)

    def _maybe_found_cluster(self, targets: list[str]) -> None:
        """Everyone we were told to join is waiting too: the lowest address founds the cluster."""
        assert self.replica is not None
        now = time.monotonic()
        if not self.voter or now - self._join_started < BOOTSTRAP_AFTER_S:
            return
        others = [t for t in targets if t != self.node.address]
        fresh = all(now - self._unformed.get(t, -1e9) < 3 * JOIN_RETRY_S + 0.5 for t in others)
        if others and fresh and self.node.address < min(others) and self.replica.is_new:
            self.replica.halt()
            self.replica = self._new_replica(found=True)
            log.info("no cluster among %s: founded one", ", ".join(others))

    def _on_join(self, origin: Origin, corr_id: int, msg: JoinRequest) -> None:
        replica = self.replica
        assert replica is not None and replica.raw is not None and self.node.transport is not None
        reply = partial(self.node.transport.reply, origin, corr_id=corr_id)
        if not replica.raw.is_leader:
            if replica.leader_address:
                reply(JoinReply(JoinStatus.NOT_LEADER, replica.leader_address, address=self.node.address))
            elif not self._in_conf():
                reply(JoinReply(JoinStatus.UNFORMED, address=self.node.address))
            else:
                reply(JoinReply(JoinStatus.PENDING, detail="election in progress", address=self.node.address))
            return
        if "coordinator" not in msg.roles and "observer" not in msg.roles and "auto" not in msg.roles:
            reply(JoinReply(JoinStatus.REJECTED, detail=f"roles {list(msg.roles)} do not take part in Raft"))
            return
        conf = replica.raw.status().conf_state
        replica.addresses[msg.node_id] = msg.address
        if msg.node_id in conf.voters or msg.node_id in conf.learners:
            member = replica.state.members.get(msg.node_id)
            if member is not None and member.address != msg.address:
                replica.propose(encode_command(Command.MEMBER_UPDATE, msg.node_id, msg.address,
                                               member.raft, list(msg.roles)))
            reply(JoinReply(JoinStatus.ACCEPTED, address=self.node.address))
            return
        cc = ConfChange(ConfChangeType.ADD_LEARNER, msg.node_id, member_context(msg.address, msg.roles))
        try:
            fut = replica.propose_conf_change(cc)
        except ProposalDropped as err:
            reply(JoinReply(JoinStatus.PENDING, detail=str(err), address=self.node.address))
            return
        log.info("adding %s (%s) at %s as a learner", msg.node_id, ",".join(msg.roles), msg.address)
        fut.add_done_callback(lambda f: reply(JoinReply(
            JoinStatus.ACCEPTED if not f.exception() else JoinStatus.PENDING, address=self.node.address)))

    def _promote_learners(self) -> None:
        replica = self.replica
        if replica is None or replica.raw is None or not replica.raw.is_leader:
            return
        conf = replica.raw.status().conf_state
        if len(conf.voters) >= MAX_VOTERS:
            return
        for node_id in conf.learners:
            member = replica.state.members.get(node_id)
            if member is None:
                continue
            wants = "coordinator" in member.roles or (
                "auto" in member.roles and len(conf.voters) < AUTO_VOTERS)
            if wants and replica.raw.learner_caught_up(node_id, max_lag=64):
                try:
                    context = member_context(member.address, member.roles)
                    replica.propose_conf_change(ConfChange(ConfChangeType.PROMOTE_LEARNER, node_id, context))
                    log.info("promoting %s to voter", node_id)
                except ProposalDropped:
                    pass
                return  # one membership change at a time

    # --- cluster settings (the linearizable key-value API) -----------------------------------

    def reply_error(self, origin: Origin, corr_id: int, err: BaseException) -> None:
        assert self.node.transport is not None
        if isinstance(err, NotLeaderError):
            msg = ErrorReply(ErrorCode.NOT_LEADER, str(err), err.leader_address)
        elif isinstance(err, OutcomeUnknownError | ProposalDropped):
            msg = ErrorReply(ErrorCode.UNAVAILABLE, f"{err}; retry with the same client_id and seq")
        elif isinstance(err, TimeoutError):
            msg = ErrorReply(ErrorCode.TIMEOUT, "no quorum answered in time")
        else:
            log.exception("request failed", exc_info=err)
            msg = ErrorReply(ErrorCode.INTERNAL, f"{type(err).__name__}: {err}")
        self.node.transport.reply(origin, msg, corr_id)

    def committed(self, origin: Origin, corr_id: int, fut: asyncio.Future[bytes]) -> tuple[bool, Any]:
        """(True, the state machine's payload) of a client command that was committed and
        accepted; otherwise the client has been answered with why not, and (False, None)."""
        err = fut.exception()
        if err is not None:
            self.reply_error(origin, corr_id, err)
            return False, None
        outcome, payload = decode_result(fut.result())
        if outcome is Outcome.OK:
            return True, payload
        code = ErrorCode.NOT_FOUND if outcome is Outcome.NOT_FOUND else ErrorCode.REJECTED
        assert self.node.transport is not None
        self.node.transport.reply(origin, ErrorReply(code, str(payload)), corr_id)
        return False, None

    def _on_config_set(self, origin: Origin, corr_id: int, msg: ConfigSetRequest) -> None:
        assert self.replica is not None
        command = (encode_command(Command.CONFIG_DELETE, msg.key) if msg.delete
                   else encode_command(Command.CONFIG_SET, msg.key, msg.value))
        try:
            index, fut = self.replica.propose(encode_request(ClientRequest(msg.client_id, msg.seq, command)))
        except (NotLeaderError, ProposalDropped) as err:
            self.reply_error(origin, corr_id, err)
            return
        fut.add_done_callback(partial(self._answer_set, origin, corr_id, index))

    def _answer_set(self, origin: Origin, corr_id: int, index: int, fut: asyncio.Future[bytes]) -> None:
        ok, _ = self.committed(origin, corr_id, fut)
        if ok:
            assert self.node.transport is not None
            self.node.transport.reply(origin, ConfigSetReply(index), corr_id)

    def _on_config_get(self, origin: Origin, corr_id: int, msg: ConfigGetRequest) -> None:
        self.spawn(self._read(origin, corr_id, msg.linearizable, lambda applied: ConfigGetReply(
            msg.key, self._state().config.get(msg.key), applied)))

    def _on_config_dump(self, origin: Origin, corr_id: int, msg: ConfigDumpRequest) -> None:
        def build(applied: int) -> ConfigDumpReply:
            assert self.replica is not None and self.replica.raw is not None
            return ConfigDumpReply(dict(self._state().config), applied, self.replica.raw.status().commit)
        self.spawn(self._read(origin, corr_id, msg.linearizable, build))

    async def _read(self, origin: Origin, corr_id: int, linearizable: bool, build: Any) -> None:
        assert self.replica is not None and self.replica.raw is not None and self.node.transport is not None
        try:
            if linearizable:
                await asyncio.wait_for(self.replica.read_barrier(), REQUEST_TIMEOUT_S)
        except Exception as err:
            self.reply_error(origin, corr_id, err)
            return
        self.node.transport.reply(origin, build(self.replica.raw.status().applied), corr_id)

    def _on_transfer(self, origin: Origin, corr_id: int, msg: TransferLeadershipRequest) -> None:
        assert self.replica is not None and self.replica.raw is not None and self.node.transport is not None
        raw = self.replica.raw
        if not raw.is_leader:
            self.reply_error(origin, corr_id, NotLeaderError(self.replica.leader_address))
            return
        target = msg.to
        if target is None:
            followers = [(pr.match, n) for n, pr in raw.status().progress.items()
                         if n != self.node.node_id and not pr.is_learner]
            if not followers:
                unavailable = ErrorReply(ErrorCode.UNAVAILABLE, "no other voter")
                self.node.transport.reply(origin, unavailable, corr_id)
                return
            target = max(followers)[1]
        self.replica.transfer_leadership(target)
        self.node.transport.reply(origin, AckReply(f"transferring leadership to {target}"), corr_id)

    def _state(self) -> Any:
        assert self.replica is not None
        return self.replica.state

    def spawn(self, coro: Any) -> None:
        """Run a request's coroutine; it is cancelled when the role stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

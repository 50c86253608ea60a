"""Every message mesh puts on the wire, in one place.

A reader sees the whole protocol here: each message is a frozen, slotted
dataclass registered under a `MsgType` tag. The codec (`transports.codec`)
turns them into msgpack frames `[version, tag, corr_id, field...]` and back,
validating every field against the annotations below. `docs/PROTOCOL.md`
describes the same thing for clients in other languages.

Rules for changing this file: a new message gets a new tag; an existing
message only grows by appending fields that have defaults (old readers ignore
trailing fields they do not know); anything else bumps `PROTOCOL_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from mesh.raft.messages import Message as RaftMessage
from transports.errors import ErrorCode

PROTOCOL_VERSION = 1
"""The only wire version this build speaks. Frames with another version get UNSUPPORTED_VERSION."""


class MsgType(IntEnum):
    """Wire tags. Ranges: 1-19 node and API basics, 20-39 Raft, 40-69 tasks and workers, 70-79 `mesh test`."""

    ERROR_REPLY = 1
    PING_REQUEST = 2
    PING_REPLY = 3
    STATUS_REQUEST = 4
    STATUS_REPLY = 5
    ACK_REPLY = 6
    RAFT_ENVELOPE = 20
    JOIN_REQUEST = 21
    JOIN_REPLY = 22
    TRANSFER_LEADERSHIP_REQUEST = 23
    CONFIG_SET_REQUEST = 30
    CONFIG_SET_REPLY = 31
    CONFIG_GET_REQUEST = 32
    CONFIG_GET_REPLY = 33
    CONFIG_DUMP_REQUEST = 34
    CONFIG_DUMP_REPLY = 35
    SUBMIT_TASKS_REQUEST = 40
    SUBMIT_TASKS_REPLY = 41
    TASK_QUERY_REQUEST = 42
    TASK_QUERY_REPLY = 43
    CANCEL_TASK_REQUEST = 44
    REGISTER_WORKER_REQUEST = 50
    REGISTER_WORKER_REPLY = 51
    WORKER_HEARTBEAT = 52
    RUN_TASK = 53
    TASK_STARTED = 54
    TASK_FINISHED = 55
    TASK_FINISHED_ACK = 56
    CANCEL_ATTEMPT = 57
    RUN_TASKS = 58
    TASKS_FINISHED = 59
    TASKS_FINISHED_ACK = 60
    TEST_BUNDLE_REQUEST = 70
    TEST_BUNDLE_CHUNK = 71
    TEST_HELLO = 72
    TEST_WORK = 73
    TEST_REPORTS = 74
    TEST_DURATIONS_REQUEST = 77
    TEST_DURATIONS_REPLY = 78


# --- basics -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """The answer to any request that failed. `leader_address` is set with NOT_LEADER."""

    code: ErrorCode
    message: str
    leader_address: str | None = None


@dataclass(frozen=True, slots=True)
class PingRequest:
    """Liveness and round-trip probe. The reply echoes `sent_ns` and `payload` unchanged."""

    sent_ns: int
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class PingReply:
    sent_ns: int
    payload: bytes = b""
    node_id: str = ""


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """Ask a node what it knows about itself and the cluster."""


@dataclass(frozen=True, slots=True)
class Member:
    """One member of the cluster as the answering node sees it."""

    node_id: str
    address: str
    role: str  # leader | follower | candidate | learner | worker | observer


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A node this node talks to, with what it last heard from it."""

    address: str
    node_id: str | None
    reachable: bool
    rtt_ms: float | None
    last_seen_s: float | None  # seconds since the last message from it


@dataclass(frozen=True, slots=True)
class StatusReply:
    """What a node says about itself. Raft fields stay at their defaults on a node without Raft."""

    node_id: str
    version: str
    roles: tuple[str, ...]
    address: str
    uptime_s: float
    health: dict[str, Any]
    capabilities: dict[str, Any]
    leader: str | None = None
    term: int = 0
    commit_index: int = 0
    members: tuple[Member, ...] = ()
    peers: tuple[PeerInfo, ...] = ()
    protocol_errors: dict[str, Any] | None = None
    extra: dict[str, Any] | None = None  # role-specific sections (workers, task counts, ...)


@dataclass(frozen=True, slots=True)
class AckReply:
    """A request was carried out and there is nothing more to say."""

    detail: str = ""


# --- Raft and membership ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RaftEnvelope:
    """One Raft message between coordinators; `sender_address` lets the receiver answer.

    Old-term or duplicated envelopes (a reconnecting DEALER delivers late) are harmless:
    the Raft core ignores messages of past terms and repeated appends.
    """

    sender_address: str
    message: RaftMessage


class JoinStatus(IntEnum):
    ACCEPTED = 1  # the node is (now) a member; Raft traffic from the leader follows
    PENDING = 2  # another membership change is in flight; ask again shortly
    NOT_LEADER = 3  # ask `leader_address` instead
    UNFORMED = 4  # the asked node has no cluster yet either (see bootstrap rules in RAFT.md)
    REJECTED = 5  # `detail` says why


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """A node asks the cluster to take it in (as a Raft learner, then a voter for coordinators)."""

    node_id: str
    address: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JoinReply:
    status: JoinStatus
    leader_address: str | None = None
    detail: str = ""
    address: str = ""  # the answering node's own address


@dataclass(frozen=True, slots=True)
class TransferLeadershipRequest:
    """Ask the leader to hand over leadership (to `to`, or to the most caught-up voter)."""

    to: str | None = None


# --- replicated cluster settings (a small linearizable key-value store) -----------------------


@dataclass(frozen=True, slots=True)
class ConfigSetRequest:
    """Set (or with `delete`, remove) a cluster setting. Answered once committed by a majority.

    `client_id` and `seq` make retries safe: a retried (client_id, seq) is applied once.
    """

    key: str
    value: bytes
    client_id: str
    seq: int
    delete: bool = False


@dataclass(frozen=True, slots=True)
class ConfigSetReply:
    index: int  # the Raft log index the change was committed at


@dataclass(frozen=True, slots=True)
class ConfigGetRequest:
    """Read one setting; `linearizable` reads go through the leader's ReadIndex."""

    key: str
    linearizable: bool = True


@dataclass(frozen=True, slots=True)
class ConfigGetReply:
    key: str
    value: bytes | None
    applied_index: int


@dataclass(frozen=True, slots=True)
class ConfigDumpRequest:
    """Every setting this node has applied (`linearizable`: after a ReadIndex round)."""

    linearizable: bool = False


@dataclass(frozen=True, slots=True)
class ConfigDumpReply:
    items: dict[str, bytes]
    applied_index: int
    commit_index: int


# --- tasks: the client API ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubmitTasksRequest:
    """Submit a batch of tasks (the JSON task format, see docs/TASKS.md); all or nothing.

    Answered with the new task ids once the batch is committed by a majority. A retried
    (client_id, seq) is applied once and answered with the same ids.
    """

    tasks: tuple[dict[str, Any], ...]
    client_id: str
    seq: int
    priority: int | None = None  # overrides every task's priority


@dataclass(frozen=True, slots=True)
class SubmitTasksReply:
    task_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskQueryRequest:
    """Tasks by id (empty: all), optionally by status. With `wait_s` > 0 the answer waits until
    every named task has finished, or `wait_s` passes (then it says how far they got)."""

    task_ids: tuple[str, ...] = ()
    status: str | None = None
    wait_s: float = 0.0
    limit: int = 1000


@dataclass(frozen=True, slots=True)
class TaskQueryReply:
    tasks: tuple[dict[str, Any], ...]
    counts: dict[str, Any]  # tasks per status, over the whole cluster


@dataclass(frozen=True, slots=True)
class CancelTaskRequest:
    task_id: str
    client_id: str
    seq: int


# --- tasks: the worker protocol ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterWorkerRequest:
    """A worker (re)attaches to the leader, with what it is running right now (after a failover
    the new leader learns them, so nothing runs twice)."""

    worker_id: str
    address: str
    capabilities: dict[str, Any]
    slots: int
    running: tuple[str, ...] = ()  # attempt ids


@dataclass(frozen=True, slots=True)
class RegisterWorkerReply:
    accepted: bool
    heartbeat_interval_s: float
    cancel: tuple[str, ...] = ()  # attempts the worker runs that the cluster has given up on


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    """Soft state, never logged: the leader declares a silent worker lost after the timeout."""

    worker_id: str
    running: tuple[str, ...]
    health: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunTask:
    """Leader -> worker: run one attempt. Safe to receive twice: the attempt id is the key."""

    attempt_id: str
    task_id: str
    type: str
    config: dict[str, Any]
    timeout_s: float | None


@dataclass(frozen=True, slots=True)
class TaskStarted:
    worker_id: str
    attempt_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskFinished:
    """Worker -> leader, repeated until acknowledged; recorded once per attempt."""

    worker_id: str
    attempt_id: str
    task_id: str
    outcome: str
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TaskFinishedAck:
    attempt_id: str


@dataclass(frozen=True, slots=True)
class CancelAttempt:
    attempt_id: str


@dataclass(frozen=True, slots=True)
class RunTasks:
    """Leader -> worker: several attempts at once (one frame per worker per assignment), each
    handled exactly as if it came in its own `RunTask`."""

    runs: tuple[RunTask, ...]


@dataclass(frozen=True, slots=True)
class TasksFinished:
    """Worker -> leader: results that came in together; each is recorded (and acknowledged,
    resent until then) exactly as if it came in its own `TaskFinished`."""

    worker_id: str
    results: tuple[TaskFinished, ...]


@dataclass(frozen=True, slots=True)
class TasksFinishedAck:
    """Leader -> worker: `TaskFinishedAck` for several attempts."""

    attempt_ids: tuple[str, ...]
# --- `mesh test`: a worker's pytest session <-> the `mesh test` process that owns the run --------
# The run's lease tasks go through Raft like any task; these messages go straight between the
# worker and the run's owner (its address is in the lease's config). Keyed by run and attempt id.


@dataclass(frozen=True, slots=True)
class TestBundleRequest:
    """Worker -> run owner: bytes [offset, offset+length) of the code bundle with this sha256."""

    __test__ = False
    run_id: str
    attempt_id: str
    bundle: str
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class TestBundleChunk:
    __test__ = False
    run_id: str
    attempt_id: str
    bundle: str
    offset: int
    total: int  # the bundle's size in bytes
    data: bytes


@dataclass(frozen=True, slots=True)
class TestHello:
    """Worker -> run owner: a lease's pytest process has collected; what it found and can run."""

    __test__ = False
    run_id: str
    attempt_id: str
    task_id: str
    worker_id: str
    capabilities: dict[str, Any]
    collected: tuple[str, ...]  # node ids in collection order
    requirements: dict[str, Any]  # node id -> kwargs of its @pytest.mark.mesh (only marked tests)
    errors: tuple[dict[str, Any], ...] = ()  # collection errors as phase reports


@dataclass(frozen=True, slots=True)
class TestWork:
    """Run owner -> worker, the answer to a TestHello or TestReports: `ack` is the last report
    batch received in order; `node_ids` (work number `work_seq`) are tests to run next, in this
    order; `done`: no more will come, finish up. Resent until the worker says it has it.
    `revoke`: give these back if they have not been handed to pytest yet (work stealing); the
    lease answers in its next batch's `revoked`."""

    __test__ = False
    run_id: str
    attempt_id: str
    ack: int
    work_seq: int
    node_ids: tuple[str, ...]
    done: bool
    revoke: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TestReports:
    """Worker -> run owner: phase reports since the last batch, what runs now, whether it wants work."""

    __test__ = False
    run_id: str
    attempt_id: str
    worker_id: str
    seq: int  # batches are numbered from 1; resent until acknowledged (go-back-N)
    reports: tuple[dict[str, Any], ...]
    running: str  # node id running now, "" when none
    queued: int  # tests handed to this lease and not started yet
    want_more: bool
    work_seen: int  # the last TestWork applied
    final: bool = False  # the lease has stopped its pytest process: nothing follows
    revoked: tuple[str, ...] = ()  # revoked tests given back: they will not run here


@dataclass(frozen=True, slots=True)
class TestDurationsRequest:
    """Client -> any coordinator or observer: past durations of these tests (for --dist duration)."""

    __test__ = False
    suite: str
    node_ids: tuple[str, ...] = ()  # empty: every test of the suite


@dataclass(frozen=True, slots=True)
class TestDurationsReply:
    __test__ = False
    durations: dict[str, float]  # node id -> median seconds over its recent runs


MESSAGES: dict[MsgType, type] = {
    MsgType.ERROR_REPLY: ErrorReply,
    MsgType.PING_REQUEST: PingRequest,
    MsgType.PING_REPLY: PingReply,
    MsgType.STATUS_REQUEST: StatusRequest,
    MsgType.STATUS_REPLY: StatusReply,
    MsgType.ACK_REPLY: AckReply,
    MsgType.RAFT_ENVELOPE: RaftEnvelope,
    MsgType.JOIN_REQUEST: JoinRequest,
    MsgType.JOIN_REPLY: JoinReply,
    MsgType.TRANSFER_LEADERSHIP_REQUEST: TransferLeadershipRequest,
    MsgType.CONFIG_SET_REQUEST: ConfigSetRequest,
    MsgType.CONFIG_SET_REPLY: ConfigSetReply,
    MsgType.CONFIG_GET_REQUEST: ConfigGetRequest,
    MsgType.CONFIG_GET_REPLY: ConfigGetReply,
    MsgType.CONFIG_DUMP_REQUEST: ConfigDumpRequest,
    MsgType.CONFIG_DUMP_REPLY: ConfigDumpReply,
    MsgType.SUBMIT_TASKS_REQUEST: SubmitTasksRequest,
    MsgType.SUBMIT_TASKS_REPLY: SubmitTasksReply,
    MsgType.TASK_QUERY_REQUEST: TaskQueryRequest,
    MsgType.TASK_QUERY_REPLY: TaskQueryReply,
    MsgType.CANCEL_TASK_REQUEST: CancelTaskRequest,
    MsgType.REGISTER_WORKER_REQUEST: RegisterWorkerRequest,
    MsgType.REGISTER_WORKER_REPLY: RegisterWorkerReply,
    MsgType.WORKER_HEARTBEAT: WorkerHeartbeat,
    MsgType.RUN_TASK: RunTask,
    MsgType.TASK_STARTED: TaskStarted,
    MsgType.TASK_FINISHED: TaskFinished,
    MsgType.TASK_FINISHED_ACK: TaskFinishedAck,
    MsgType.CANCEL_ATTEMPT: CancelAttempt,
    MsgType.RUN_TASKS: RunTasks,
    MsgType.TASKS_FINISHED: TasksFinished,
    MsgType.TASKS_FINISHED_ACK: TasksFinishedAck,
    MsgType.TEST_BUNDLE_REQUEST: TestBundleRequest,
    MsgType.TEST_BUNDLE_CHUNK: TestBundleChunk,
    MsgType.TEST_HELLO: TestHello,
    MsgType.TEST_WORK: TestWork,
    MsgType.TEST_REPORTS: TestReports,
    MsgType.TEST_DURATIONS_REQUEST: TestDurationsRequest,
    MsgType.TEST_DURATIONS_REPLY: TestDurationsReply,
}
"""Tag -> message class: the whole protocol. The codec builds its tables from this."""

Message = Any  # any instance of a class in MESSAGES

"""A real `mesh node` process on 127.0.0.1: it answers the public API, survives any bytes a peer
sends it, talks to the nodes it joins, and stops cleanly on SIGINT and SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.processes import MeshProcesses, NodeProcess, run_mesh
from transports.codec import DEFAULT_MAX_MESSAGE_BYTES, Codec
from transports.errors import ErrorCode
from transports.protocol import MESSAGES, PROTOCOL_VERSION, ErrorReply, PingRequest

codec = Codec()


@pytest.fixture(scope="module")
def live_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    procs = MeshProcesses(tmp_path_factory.mktemp("live"))
    try:
        yield procs.start_node("--role", "coordinator")
    finally:
        procs.cleanup()


@pytest.fixture(scope="module")
def raw_socket(live_node: NodeProcess) -> Iterator[zmq.Socket[bytes]]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(live_node.address)
    yield sock
    sock.close(0)
    ctx.term()


def assert_answers_status(node: NodeProcess) -> None:
    with node.client(timeout=5) as client:
        assert client.status().node_id == node.node_id


def drain(sock: zmq.Socket[bytes]) -> list[object]:
    """Read every reply already queued (error replies to garbage)."""
    out = []
    while sock.poll(20):
        # A request sent REQ-style ([b"", payload]) is answered the same way: the payload is last.
        out.append(codec.decode(sock.recv_multipart()[-1])[1])
    return out


garbage_frames = st.one_of(
    st.binary(max_size=512),
    st.builds(lambda n: b"\x91" * n + b"\xc0", st.integers(1, 200_000)),  # deep nesting
    st.sampled_from([b"\xdd\xff\xff\xff\xff", b"\xdb\x7f\xff\xff\xff", b"\xc6\xff\xff\xff\xff",
                     b"\xdf\xff\xff\xff\xff"]),  # huge declared lengths
    st.builds(lambda tag, corr, fields: msgpack.packb([PROTOCOL_VERSION, tag, corr, *fields]),
              st.sampled_from([int(t) for t in MESSAGES]), st.integers(0, 2**32),
              st.lists(st.one_of(st.integers(-(2**63), 2**64 - 1), st.text(max_size=5), st.none(),
                                 st.binary(max_size=5), st.lists(st.integers(0, 2**32), max_size=3)),
                       max_size=12)),  # wrong field types
    st.builds(lambda data, cut: data[:cut], st.just(codec.encode(PingRequest(1, b"abc"), 5)),
              st.integers(0, 10)),  # truncated
    st.integers(-(2**63), 2**64 - 1).map(lambda v: msgpack.packb([v, 2, 1, 1])),  # wrong versions
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames=st.lists(garbage_frames, min_size=1, max_size=3))
def test_node_survives_garbage_and_still_answers_status(live_node: NodeProcess,
                                                        raw_socket: zmq.Socket[bytes],
                                                        frames: list[bytes]) -> None:
    raw_socket.send_multipart(frames)
    # Garbage is answered with ErrorReply; frames that happen to be valid requests get real answers.
    replies = drain(raw_socket)
    assert all(type(r) in MESSAGES.values() for r in replies), replies
    assert_answers_status(live_node)


def test_every_bad_frame_is_answered_and_counted(live_node: NodeProcess,
                                                 raw_socket: zmq.Socket[bytes]) -> None:
    drain(raw_socket)
    with live_node.client() as client:
        before = client.status().protocol_errors or {}
    raw_socket.send(b"\xc1")
    raw_socket.send(msgpack.packb([PROTOCOL_VERSION, 4242, 1]))
    replies = [codec.decode(raw_socket.recv())[1] for _ in range(2)]
    assert [r.code for r in replies] == [ErrorCode.MALFORMED_FRAME, ErrorCode.UNKNOWN_TYPE]
    with live_node.client() as client:
        after = client.status().protocol_errors or {}
    delta = {k: after["protocol_errors"].get(k, 0) - before.get("protocol_errors", {}).get(k, 0)
             for k in ("MALFORMED_FRAME", "UNKNOWN_TYPE")}
    assert delta == {"MALFORMED_FRAME": 1, "UNKNOWN_TYPE": 1}


def test_oversized_frame_gets_an_error_reply(live_node: NodeProcess, raw_socket: zmq.Socket[bytes]) -> None:
    drain(raw_socket)
    raw_socket.send(b"\x00" * (DEFAULT_MAX_MESSAGE_BYTES + 1))
    reply = codec.decode(raw_socket.recv())[1]
    assert isinstance(reply, ErrorReply) and reply.code is ErrorCode.OVERSIZED
    assert_answers_status(live_node)


def test_raw_tcp_garbage_does_not_disturb_the_node(live_node: NodeProcess) -> None:
    host, port = live_node.address.removeprefix("tcp://").rsplit(":", 1)
    for payload in (b"GET / HTTP/1.1\r\n\r\n", bytes(range(256)) * 40, b"\xff" * 10 + b"\x00" * 54):
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(payload)
    assert_answers_status(live_node)


def test_status_json_has_the_documented_fields(live_node: NodeProcess) -> None:
    out = run_mesh("status", "--coordinator", live_node.address, "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    for key in ("node_id", "version", "roles", "address", "uptime_s", "health", "capabilities",
                "leader", "term", "commit_index", "members"):
        assert key in data, key
    assert data["node_id"] == live_node.node_id and data["address"] == live_node.address
    assert data["roles"] == ["coordinator"]
    assert data["capabilities"]["cpu"]["logical_cores"] >= 1
    assert {"cpu_percent", "memory", "disk", "network", "load_avg"} <= set(data["health"])


def test_ping_reports_round_trips(live_node: NodeProcess) -> None:
    out = run_mesh("ping", live_node.address, "--count", "3", "--interval", "0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("seq=") == 3 and "3 received, 0% loss" in out.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_node_stops_cleanly_on_signal(mesh_procs: MeshProcesses, sig: int) -> None:
    node = mesh_procs.start_node("--role", "worker")
    node.signal(sig)
    assert node.wait(10) == 0
    assert not (node.data_dir / "node.json").exists()
    assert "stopped" in node.log()
    # The data dir lock is released: the same directory starts again, with the same identity.
    again = mesh_procs.start_node("--role", "worker", data_dir=node.data_dir)
    assert again.node_id == node.node_id


def test_two_nodes_cannot_share_a_data_dir(mesh_procs: MeshProcesses) -> None:
    first = mesh_procs.start_node()
    second = mesh_procs.start_node(data_dir=first.data_dir, wait=False)
    assert second.wait(20) == 2
    assert "in use by another mesh node" in second.log()
    assert_answers_status(first)


def test_a_data_dir_keeps_its_node_id(mesh_procs: MeshProcesses, tmp_path: Path) -> None:
    node = mesh_procs.start_node("--node-id", "alpha")
    node.signal(signal.SIGTERM)
    node.wait(10)
    wrong = mesh_procs.start_node("--node-id", "beta", data_dir=node.data_dir, wait=False)
    assert wrong.wait(20) == 2
    assert "belongs to node 'alpha'" in wrong.log()


def test_joined_nodes_exchange_messages(mesh_procs: MeshProcesses) -> None:
    a = mesh_procs.start_node("--node-id", "a", "--heartbeat-interval", "0.1", "--heartbeat-timeout", "1")
    b = mesh_procs.start_node("--node-id", "b", "--join", a.address, "--heartbeat-interval", "0.1",
                              "--heartbeat-timeout", "1")
    deadline = time.monotonic() + 10
    peers: tuple[object, ...] = ()
    while time.monotonic() < deadline:
        with b.client() as client:
            peers = client.status().peers
        if peers and peers[0].reachable:  # type: ignore[attr-defined]
            break
        time.sleep(0.1)
    assert len(peers) == 1
    peer = peers[0]
    assert (peer.address, peer.node_id, peer.reachable) == (a.address, "a", True)  # type: ignore[attr-defined]
    assert peer.rtt_ms is not None and peer.rtt_ms < 1000  # type: ignore[attr-defined]
    # And when a goes away, b says so.
    a.signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with b.client() as client:
            if not client.status().peers[0].reachable:
                return
        time.sleep(0.1)
    pytest.fail("b still reports a reachable after a was killed")

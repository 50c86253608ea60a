"""Past test durations from this replica's result store, for `mesh test --dist duration`.

Answers `TestDurationsRequest` on any coordinator or observer: the median duration of each test
over its last runs under the same suite name (lease tasks are named `mesh-test:<suite>:...`). The
query runs in a worker thread on its own DuckDB cursor, so it never stalls the node's loop nor
races the writer thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from transports.errors import ErrorCode
from transports.protocol import ErrorReply, TestDurationsReply, TestDurationsRequest
from transports.zmq_transport import Origin

if TYPE_CHECKING:
    from actors.results_writer import ResultsWriter
    from mesh.node import Node

log = logging.getLogger("mesh.test_history")

LEASE_NAME_PREFIX = "mesh-test:"
RECENT_RUNS = 5  # a test's duration is the median of its last this-many runs
QUERY = f"""
WITH runs AS (
    SELECT o.nodeid, o.duration_s,
           row_number() OVER (PARTITION BY o.nodeid ORDER BY o.recorded_at DESC) AS n
    FROM test_outcomes o JOIN tasks t ON t.task_id = o.task_id
    WHERE t.name LIKE ? ESCAPE '\\' AND o.duration_s IS NOT NULL)
SELECT nodeid, median(duration_s) FROM runs WHERE n <= {RECENT_RUNS} GROUP BY nodeid
"""


def lease_name(suite: str, run_id: str, index: int) -> str:
    return f"{LEASE_NAME_PREFIX}{suite}:{run_id}:{index}"


def _like_prefix(suite: str) -> str:
    escaped = suite.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{LEASE_NAME_PREFIX}{escaped}:%"


def query_durations(writer: ResultsWriter, suite: str, node_ids: tuple[str, ...]) -> dict[str, float]:
    cursor = writer.store.connection.cursor()
    try:
        rows = cursor.execute(QUERY, [_like_prefix(suite)]).fetchall()
    finally:
        cursor.close()
    wanted = set(node_ids)
    return {str(n): float(d) for n, d in rows if d is not None and (not wanted or n in wanted)}


def install(node: Node, writer: ResultsWriter) -> None:
    """Answer duration queries on this node."""

    def on_request(origin: Origin, corr_id: int, msg: TestDurationsRequest) -> None:
        asyncio.get_running_loop().create_task(answer(origin, corr_id, msg))

    async def answer(origin: Origin, corr_id: int, msg: TestDurationsRequest) -> None:
        assert node.transport is not None
        try:
            durations = await asyncio.to_thread(query_durations, writer, msg.suite, msg.node_ids)
        except Exception as err:  # a store problem is reported, not swallowed
            log.warning("test duration query failed: %s", err)
            node.transport.reply(origin, ErrorReply(ErrorCode.INTERNAL, f"result store: {err}"), corr_id)
            return
        node.transport.reply(origin, TestDurationsReply(durations), corr_id)

    node.register(TestDurationsRequest, on_request)

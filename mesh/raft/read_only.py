"""ReadIndex bookkeeping on the leader (Ongaro thesis §6.4, etcd read_only.go).

A read request records the commit index at arrival; it is answered once a heartbeat round that
carries its context has been acknowledged by a majority, proving we were still leader then.
Requests are answered in arrival order, so one quorum ack answers every earlier request too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .messages import Message


@dataclass(frozen=True, slots=True)
class ReadState:
    """A ReadIndex answer: serve the read once applied >= index. `context` is the request id."""

    index: int
    context: bytes


@dataclass(slots=True)
class _ReadIndexStatus:
    request: Message
    index: int
    acks: set[str] = field(default_factory=set)


class ReadOnly:
    __slots__ = ("_pending", "_queue")

    def __init__(self) -> None:
        self._pending: dict[bytes, _ReadIndexStatus] = {}
        self._queue: list[bytes] = []

    def __len__(self) -> int:
        return len(self._queue)

    def add_request(self, index: int, request: Message) -> bool:
        """Queue a request; False (and ignored) if its context is already pending."""
        ctx = request.context
        if ctx in self._pending:
            return False
        self._pending[ctx] = _ReadIndexStatus(request, index)
        self._queue.append(ctx)
        return True

    def recv_ack(self, node: str, context: bytes) -> set[str] | None:
        """Record that `node` acknowledged the heartbeat carrying `context`; the ackers so far."""
        status = self._pending.get(context)
        if status is None:
            return None
        status.acks.add(node)
        return status.acks

    def advance(self, context: bytes) -> list[tuple[Message, int]]:
        """Pop every request up to and including `context`: (request, read index) pairs."""
        if context not in self._pending:
            return []
        out: list[tuple[Message, int]] = []
        for i, ctx in enumerate(self._queue):
            status = self._pending.pop(ctx)
            out.append((status.request, status.index))
            if ctx == context:
                del self._queue[:i + 1]
                break
        return out

    def last_pending_context(self) -> bytes:
        return self._queue[-1] if self._queue else b""

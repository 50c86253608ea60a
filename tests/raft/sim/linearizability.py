"""Wing-Gong-Lowe linearizability checker with Lowe's memoization (as in porcupine).

A history is a list of `Operation`s with call/return times (return = INFINITY when the outcome
is unknown: the op may or may not have taken effect, and its output is unconstrained). The
checker searches for a total order consistent with real time and the sequential model,
caching (set of linearized ops, model state) pairs it has already explored. Histories are
checked per partition (per key): linearizability is compositional.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

INFINITY = float("inf")

Step = Callable[[Any, Any, Any], tuple[bool, Any]]


@dataclass(slots=True)
class Operation:
    client: str
    input: Any
    output: Any  # None = unknown / unconstrained
    call: float
    ret: float  # INFINITY = never returned
    partition: Hashable = None


class _Entry:
    __slots__ = ("id", "is_call", "match", "next", "op", "prev", "time")

    def __init__(self, id_: int, is_call: bool, time: float, op: Operation | None) -> None:
        self.id = id_
        self.is_call = is_call
        self.time = time
        self.op = op
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _build(ops: list[Operation]) -> _Entry:
    events: list[tuple[float, int, int, _Entry]] = []
    for i, op in enumerate(ops):
        call = _Entry(i, True, op.call, op)
        ret = _Entry(i, False, op.ret, None)
        call.match = ret
        # At equal times returns sort before calls: an op that returned "at" t precedes one
        # called at t (our times are unique counters anyway).
        events.append((op.call, 1, i, call))
        events.append((op.ret, 0, i, ret))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    head = _Entry(-1, False, -INFINITY, None)
    prev = head
    for *_, entry in events:
        prev.next = entry
        entry.prev = prev
        prev = entry
    return head


def _lift(entry: _Entry) -> None:
    assert entry.prev is not None and entry.match is not None
    entry.prev.next = entry.next
    if entry.next is not None:
        entry.next.prev = entry.prev
    match = entry.match
    assert match.prev is not None
    match.prev.next = match.next
    if match.next is not None:
        match.next.prev = match.prev


def _unlift(entry: _Entry) -> None:
    match = entry.match
    assert match is not None and match.prev is not None and entry.prev is not None
    match.prev.next = match
    if match.next is not None:
        match.next.prev = match
    entry.prev.next = entry
    if entry.next is not None:
        entry.next.prev = entry


def check_partition(ops: list[Operation], init: Any, step: Step,
                    max_states: int = 2_000_000) -> bool:
    """True if `ops` (one partition) is linearizable w.r.t. the model (init, step)."""
    if not ops:
        return True
    head = _build(ops)
    cache: set[tuple[int, Any]] = set()
    calls: list[tuple[_Entry, Any]] = []
    linearized = 0
    state = init
    entry = head.next
    while head.next is not None:
        assert entry is not None
        if entry.is_call:
            op = entry.op
            assert op is not None
            ok, new_state = step(state, op.input, op.output)
            if ok:
                new_lin = linearized | (1 << entry.id)
                key = (new_lin, new_state)
                if key not in cache:
                    if len(cache) >= max_states:
                        raise RuntimeError("linearizability search too large")
                    cache.add(key)
                    calls.append((entry, state))
                    state = new_state
                    linearized = new_lin
                    _lift(entry)
                    entry = head.next
                    continue
            entry = entry.next
        else:
            # A return with its call not linearized yet: backtrack.
            if not calls:
                return False
            top, state = calls.pop()
            linearized &= ~(1 << top.id)
            _unlift(top)
            entry = top.next
    return True


def check(ops: Iterable[Operation], init: Any, step: Step) -> list[Hashable]:
    """Check every partition; returns the partitions that are NOT linearizable."""
    parts: dict[Hashable, list[Operation]] = {}
    for op in ops:
        parts.setdefault(op.partition, []).append(op)
    return [p for p, part in sorted(parts.items(), key=lambda kv: str(kv[0]))
            if not check_partition(part, init, step)]

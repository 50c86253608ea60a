"""Which tests a lease gets next: the `--dist` modes of `mesh test`, as a pure planner.

No sockets, clocks or threads: the run controller asks `take()` whenever a lease wants work and
`give_back()` when a lease died with tests it had not finished. Work is handed out in *units*
that stay together on one lease:

- `load`:      each test is a unit; tests keep collection order.
- `loadfile`:  all tests of a file form a unit.
- `loadscope`: all tests of a module (or of a class, for tests in a class) form a unit, so
               module- and class-scoped fixtures are set up once per unit.
- `duration`:  each test is a unit, longest past duration first (LPT list scheduling); tests
               with no past duration follow, in collection order, as in `load`.

Chunks shrink as the run drains (guided self-scheduling): a chunk holds about
remaining / (GUIDE * leases) tests (or that share of the remaining known duration), so the
first chunks are large and cheap to hand out and the last ones small, which keeps the tail even.
Units are also split by requirement (the `mesh` marker's kwargs): a lease only gets units whose
requirement key its worker meets (`can_run(key)`).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

DIST_MODES = ("load", "loadfile", "loadscope", "duration")
GUIDE = 4
MAX_CHUNK = 256


def requirement_key(requirements: Mapping[str, Any] | None) -> str:
    """A stable key for a test's `mesh` marker kwargs ("" when it has none)."""
    return json.dumps(dict(requirements), sort_keys=True, default=str) if requirements else ""


def scope_of(nodeid: str, dist: str) -> str:
    """The unit a test belongs to under `dist` (its own id for load and duration)."""
    parts = nodeid.split("::")
    if dist == "loadfile":
        return parts[0]
    if dist == "loadscope":
        # "a.py::Class::test[x]" -> "a.py::Class"; "a.py::test" -> "a.py"
        return "::".join(parts[:-1]) if len(parts) > 1 else parts[0]
    return nodeid


class Plan:
    """The tests not handed out yet, in the order they should go."""

    def __init__(self, node_ids: Iterable[str], *, dist: str = "load",
                 requirements: Mapping[str, Mapping[str, Any]] | None = None,
                 durations: Mapping[str, float] | None = None) -> None:
        if dist not in DIST_MODES:
            raise ValueError(f"unknown --dist {dist!r}; choose from {', '.join(DIST_MODES)}")
        self.dist = dist
        requirements = requirements or {}
        self.durations = dict(durations or {})
        self.key_of: dict[str, str] = {}
        # requirement key -> units (each a list of node ids), in hand-out order
        self.queues: dict[str, deque[list[str]]] = {}
        ordered = list(node_ids)
        if dist == "duration":
            known = sorted((n for n in ordered if n in self.durations), key=lambda n: -self.durations[n])
            ordered = known + [n for n in ordered if n not in self.durations]
        units: dict[tuple[str, str], list[str]] = {}
        for nodeid in ordered:
            key = requirement_key(requirements.get(nodeid))
            self.key_of[nodeid] = key
            units.setdefault((key, scope_of(nodeid, dist)), []).append(nodeid)
        for (key, _), unit in units.items():
            self.queues.setdefault(key, deque()).append(unit)
        self.remaining = len(ordered)
        self.remaining_s = sum(self.durations.get(n, 0.0) for n in ordered)

    def open_keys(self) -> list[str]:
        """Requirement keys that still have work."""
        return [k for k, q in self.queues.items() if q]

    def take(self, can_run: Callable[[str], bool], leases: int) -> list[str]:
        """The next chunk for a lease that can run the requirement keys `can_run` accepts."""
        keys = [k for k, q in self.queues.items() if q and can_run(k)]
        if not keys:
            return []
        # marked tests first: fewer leases can run them
        keys.sort(key=lambda k: k == "")
        queue = self.queues[keys[0]]
        share = max(1, GUIDE * max(leases, 1))
        want_n = max(1, min(MAX_CHUNK, math.ceil(self.remaining / share)))
        want_s = self.remaining_s / share if self.dist == "duration" else 0.0
        chunk: list[str] = []
        took_s = 0.0
        while queue:
            if chunk and (len(chunk) + len(queue[0]) > want_n or (want_s and took_s >= want_s)):
                break
            unit = queue.popleft()
            chunk.extend(unit)
            took_s += sum(self.durations.get(n, 0.0) for n in unit)
        self.remaining -= len(chunk)
        self.remaining_s = max(0.0, self.remaining_s - took_s)
        return chunk

    def give_back(self, node_ids: Iterable[str]) -> None:
        """Tests a lost lease never finished: they go first, grouped as they were handed out."""
        back: dict[str, list[str]] = {}
        for nodeid in node_ids:
            back.setdefault(self.key_of.get(nodeid, ""), []).append(nodeid)
        for key, ids in back.items():
            queue = self.queues.setdefault(key, deque())
            if self.dist in ("load", "duration"):  # single tests again, to be chunked as usual
                queue.extendleft([n] for n in reversed(ids))
            else:  # what was handed out together stays together
                queue.appendleft(ids)
            self.remaining += len(ids)
            self.remaining_s += sum(self.durations.get(n, 0.0) for n in ids)

    def drop(self, key: str) -> list[str]:
        """Remove every test with this requirement key (no worker can run them)."""
        queue = self.queues.pop(key, deque())
        dropped = [n for unit in queue for n in unit]
        self.remaining -= len(dropped)
        self.remaining_s = max(0.0, self.remaining_s - sum(self.durations.get(n, 0.0) for n in dropped))
        return dropped

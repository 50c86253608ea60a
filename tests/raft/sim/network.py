"""Simulated network: messages in flight, delivered in a seeded random order.

Faults: drop, duplicate, reorder (delivery picks among the oldest few), delay (a message waits
while others pass), and partitions given as a set of cut directed links, so symmetric, one-way
and ring partitions are all the same mechanism. A link cut when a message is delivered drops it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from mesh.raft import Message


class SimNetwork:
    def __init__(self, rng: random.Random, drop: float, duplicate: float, reorder_window: int) -> None:
        self.rng = rng
        self.drop = drop
        self.duplicate = duplicate
        self.reorder_window = reorder_window
        self.in_flight: list[Message] = []
        self.cut: set[tuple[str, str]] = set()
        self.partition_desc = "none"
        self.delivered = self.dropped = self.duplicated = 0

    def send(self, m: Message) -> bool:
        """Queue `m`; False when the link is cut (a transport would notice), True otherwise
        (including silent random drops, which nobody notices)."""
        if (m.frm, m.to) in self.cut:
            self.dropped += 1
            return False
        if self.rng.random() < self.drop:
            self.dropped += 1
        else:
            self.in_flight.append(m)
        return True

    def next_message(self) -> Message | None:
        """Pick a message to deliver (or None if nothing deliverable)."""
        while self.in_flight:
            window = min(len(self.in_flight), self.rng.randint(1, self.reorder_window))
            i = self.rng.randrange(window)
            m = self.in_flight.pop(i)
            if (m.frm, m.to) in self.cut:
                self.dropped += 1
                continue
            if self.rng.random() < self.duplicate:
                self.duplicated += 1
                pos = self.rng.randint(0, len(self.in_flight))
                self.in_flight.insert(pos, m)  # a copy arrives again later
            self.delivered += 1
            return m
        return None

    def drop_to(self, node: str) -> None:
        """A crashed node loses what was in flight to it (its socket buffers)."""
        self.in_flight = [m for m in self.in_flight if m.to != node]

    # -- partitions -------------------------------------------------------------------
    def heal(self) -> None:
        self.cut.clear()
        self.partition_desc = "none"

    def split(self, nodes: list[str]) -> None:
        """Symmetric partition into two random sides."""
        nodes = list(nodes)
        self.rng.shuffle(nodes)
        k = self.rng.randint(1, max(1, len(nodes) // 2))
        side = set(nodes[:k])
        self.cut = {(a, b) for a in nodes for b in nodes
                    if a != b and ((a in side) != (b in side))}
        self.partition_desc = f"split {sorted(side)} | {sorted(set(nodes) - side)}"

    def one_way(self, nodes: list[str]) -> None:
        """One node cannot send to (some of) the others but still receives."""
        src = self.rng.choice(nodes)
        dsts = [n for n in nodes if n != src and self.rng.random() < 0.7] or \
            [n for n in nodes if n != src][:1]
        self.cut = {(src, d) for d in dsts}
        self.partition_desc = f"one-way {src} -/-> {dsts}"

    def ring(self, nodes: list[str]) -> None:
        """Each node talks only to its two ring neighbours."""
        order = list(nodes)
        self.rng.shuffle(order)
        n = len(order)
        allowed: set[tuple[str, str]] = set()
        for i, a in enumerate(order):
            for b in (order[(i + 1) % n], order[(i - 1) % n]):
                allowed.add((a, b))
        self.cut = {(a, b) for a in order for b in order if a != b and (a, b) not in allowed}
        self.partition_desc = f"ring {order}"

    def isolate(self, node: str, nodes: Iterable[str]) -> None:
        self.cut = {(a, b) for a in nodes for b in nodes
                    if a != b and node in (a, b)}
        self.partition_desc = f"isolate {node}"

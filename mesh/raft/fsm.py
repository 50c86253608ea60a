"""`StateMachine`: what the apply layer drives with committed commands.

Implementations must be deterministic: the same commands in the same order give the same
results and the same snapshot bytes on every replica.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class StateMachine(Protocol):
    def apply(self, command: bytes) -> bytes:
        """Apply one committed command; return its result (sent back to the client)."""
        ...

    def snapshot(self) -> bytes:
        """The full state as bytes (restored with `restore`)."""
        ...

    def restore(self, data: bytes) -> None:
        """Replace the whole state by a `snapshot()` image."""
        ...

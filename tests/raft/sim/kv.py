"""The key-value state machine the simulated clients use, and its model for the checker.

Commands are JSON: {"o": "put"|"append"|"get", "k": key, "v": value}. A key's value is the list
of values put/appended (unique per write), so a duplicated append is visible to readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


def encode(op: str, key: str, value: str | None = None) -> bytes:
    return json.dumps({"o": op, "k": key, "v": value}, separators=(",", ":")).encode()


class KV:
    """Deterministic; implements mesh.raft.fsm.StateMachine."""

    def __init__(self) -> None:
        self.data: dict[str, list[str]] = {}

    def apply(self, command: bytes) -> bytes:
        cmd = json.loads(command)
        key = cmd["k"]
        if cmd["o"] == "put":
            self.data[key] = [cmd["v"]]
            return b"ok"
        if cmd["o"] == "append":
            self.data.setdefault(key, []).append(cmd["v"])
            return json.dumps(self.data[key]).encode()
        return json.dumps(self.data.get(key, [])).encode()

    def read(self, key: str) -> tuple[str, ...]:
        return tuple(self.data.get(key, []))

    def snapshot(self) -> bytes:
        return json.dumps(self.data, sort_keys=True).encode()

    def restore(self, data: bytes) -> None:
        self.data = json.loads(data) if data else {}


@dataclass(frozen=True, slots=True)
class KVInput:
    op: str  # put | append | get
    value: str | None = None


def model_step(state: tuple[str, ...], inp: KVInput, output: tuple[str, ...] | None
               ) -> tuple[bool, tuple[str, ...]]:
    """Sequential spec of one key. output None = unknown (any output is acceptable)."""
    if inp.op == "put":
        assert inp.value is not None
        return True, (inp.value,)
    if inp.op == "append":
        assert inp.value is not None
        new = (*state, inp.value)
        return output is None or output == new, new
    return output is None or output == state, state


def decode_result(op: str, result: bytes) -> tuple[str, ...] | None:
    if op == "put":
        return None
    return tuple(json.loads(result))

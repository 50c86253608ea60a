"""Validation errors and the field checkers every task rule is built from.

A checker records a `FieldError(path, reason)` and returns None instead of raising, so one pass over
a batch reports every problem. Pure: no I/O, no clocks. Paths are JSON paths (`$[2].config.env.HOME`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

# Deeper than this, a pass-through value is refused rather than walked (no RecursionError on input).
MAX_DEPTH = 32
# msgpack carries integers in 64 bits; anything wider could not travel in the Raft log.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem: where it is (a JSON path) and what is wrong there."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class TaskValidationError(ValueError):
    """Every problem found in a task batch; nothing of the batch may be stored."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        header = f"invalid task{'s' if count != 1 else ''}: {count} error{'s' if count != 1 else ''}"
        super().__init__("\n".join([header, *(f"  {error}" for error in self.errors)]))


def child(path: str, key: str) -> str:
    """The JSON path of `key` inside the object at `path`."""
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def describe(value: Any) -> str:
    """A short, JSON-flavoured rendering of a bad value for an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value)
        return text if len(text) <= 24 else text[:20] + "..."
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else {"nan": "NaN", "inf": "Infinity"}.get(
            repr(value), "-Infinity")
    if isinstance(value, str):
        text = json.dumps(value[:40])
        return text if len(value) <= 40 else text[:-1] + '..."'
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return f"a {type(value).__name__}"


def is_int(value: Any) -> bool:
    """JSON integers only: a bool is not an integer here, nor is 3.0."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


class Issues:
    """Collects FieldErrors while a batch is checked."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, reason: str) -> None:
        self.errors.append(FieldError(path, reason))

    def expected(self, path: str, what: str, value: Any) -> None:
        self.add(path, f"expected {what}, got {describe(value)}")

    def raise_if_any(self) -> None:
        if self.errors:
            raise TaskValidationError(self.errors)

    def integer(self, path: str, value: Any, what: str, low: int, high: int) -> int | None:
        if not is_int(value) or not low <= value <= high:
            self.expected(path, what, value)
            return None
        return int(value)

    def number(self, path: str, value: Any, what: str, low: float, high: float, *,
               low_exclusive: bool = False) -> float | None:
        ok = is_number(value) and (value > low if low_exclusive else value >= low) and value <= high
        if not ok:
            self.expected(path, what, value)
            return None
        return float(value)

    def string(self, path: str, value: Any, what: str = "a non-empty string", *,
               allow_empty: bool = False, max_len: int = 1 << 20, no_nul: bool = False) -> str | None:
        if not isinstance(value, str) or (not allow_empty and not value.strip()) or len(value) > max_len:
            self.expected(path, what, value)
            return None
        if not self.encodable(path, value):
            return None
        if no_nul and "\0" in value:
            self.add(path, "must not contain a NUL character")
            return None
        return value

    def encodable(self, path: str, text: str) -> bool:
        """Lone surrogates cannot be UTF-8 encoded, so could not travel through msgpack."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.add(path, "string is not valid Unicode (lone surrogate)")
            return False
        return True

    def choice(self, path: str, value: Any, options: Collection[str]) -> str | None:
        if not isinstance(value, str) or value not in options:
            self.expected(path, "one of " + ", ".join(json.dumps(o) for o in options), value)
            return None
        return value

    def obj(self, path: str, value: Any, allowed: Collection[str] | None,
            what: str = "an object") -> dict[str, Any] | None:
        """A JSON object; every key must be a string and, when `allowed` is given, one of them."""
        if not isinstance(value, Mapping):
            self.expected(path, what, value)
            return None
        good = True
        for key in value:
            if not isinstance(key, str):
                self.add(path, f"object keys must be strings, got {describe(key)}")
                good = False
            elif allowed is not None and key not in allowed:
                self.add(child(path, key), "unknown field; expected one of " + ", ".join(sorted(allowed)))
                good = False
        return dict(value) if good else None

    def str_list(self, path: str, value: Any, what: str, *, non_empty: bool = False,
                 allow_empty_items: bool = False) -> list[str] | None:
        if not isinstance(value, list | tuple) or (non_empty and not value):
            self.expected(path, what, value)
            return None
        out = [self.string(item(path, i), v, "a string" if allow_empty_items else "a non-empty string",
                           allow_empty=allow_empty_items, no_nul=True) for i, v in enumerate(value)]
        return None if any(v is None for v in out) else [v for v in out if v is not None]

    def json_value(self, path: str, value: Any, depth: int = 0) -> tuple[bool, Any]:
        """Check `value` is plain JSON data msgpack can carry; return (ok, a deep copy)."""
        if depth > MAX_DEPTH:
            self.add(path, f"nested more than {MAX_DEPTH} levels deep")
            return False, None
        if value is None or isinstance(value, bool):
            return True, value
        if is_int(value):
            if not INT_MIN <= value <= INT_MAX:
                self.add(path, f"integer out of the 64-bit range, got {describe(value)}")
                return False, None
            return True, int(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                self.expected(path, "a finite number", value)
                return False, None
            return True, value
        if isinstance(value, str):
            return self.encodable(path, value), value
        if isinstance(value, list | tuple):
            results = [self.json_value(item(path, i), v, depth + 1) for i, v in enumerate(value)]
            return all(ok for ok, _ in results), [v for _, v in results]
        if isinstance(value, Mapping):
            copied: dict[str, Any] = {}
            good = True
            for key, inner in value.items():
                if not isinstance(key, str) or not self.encodable(path, key):
                    if not isinstance(key, str):
                        self.add(path, f"object keys must be strings, got {describe(key)}")
                    good = False
                    continue
                ok, copied[key] = self.json_value(child(path, key), inner, depth + 1)
                good = good and ok
            return good, copied
        self.expected(path, "a JSON value", value)
        return False, None

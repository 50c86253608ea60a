"""Reading a task spec out of a SUBMIT entry without validating it a second time.

The leader validates every submission (`mesh.tasks.parse_tasks`) and puts the normalised form
(`TaskSpec.to_dict()`, dependencies resolved to ids) in the log, so every replica applying the entry
would only repeat work the leader already did. `normalized_spec` is the cheap path: a structural
check that the dict has exactly that shape and that every field the table reads itself (type, name,
priority, timeout, retry policy, dependencies, requirements) has a type and range that cannot make
a later command crash. The `config` is stored as it came: the table never reads it, and executors
check their own config before running anything.

Anything else (a hand-built dict, an older leader's looser form, a corrupt or hostile entry) returns
None and the table falls back to the full validation of `TaskSpec.from_dict`, which normalises it or
fails the item with every reason. Both paths are pure, so every replica decides the same.
"""

from __future__ import annotations

import math
from typing import Any

from mesh.tasks.fields import Issues
from mesh.tasks.model import (
    MAX_NAME_LENGTH,
    MAX_PRIORITY,
    MAX_RETRIES,
    MAX_RETRY_DELAY_S,
    MAX_TIMEOUT_S,
    MIN_PRIORITY,
    SUPPORTED_TYPES,
)
from mesh.tasks.requirements import Requirements, parse_requirements

NO_REQUIREMENTS = Requirements()
"""Shared by every task that states none (most of them): one object, one scheduler cache entry."""

_REQUIRED = frozenset({"type", "priority", "config", "timeout_seconds", "retry_policy"})
_KEYS = _REQUIRED | {"name", "requirements", "dependencies"}
_RETRY_KEYS = frozenset({"max_retries", "retry_delay_seconds"})
_TYPES = frozenset(t.value for t in SUPPORTED_TYPES)


def _number(value: Any) -> bool:
    """A real int or float (not a bool), finite."""
    kind = type(value)
    return kind is int or (kind is float and math.isfinite(value))


def normalized_spec(raw: Any) -> tuple[dict[str, Any], Requirements] | None:
    """`(raw, its requirements)` when `raw` is in the leader's normalised form, else None.

    Never raises, whatever `raw` is. The dict is returned as is (not copied): it is the table's to
    keep, freshly decoded from the log.
    """
    if type(raw) is not dict:
        return None
    keys = raw.keys()
    if not (keys >= _REQUIRED and keys <= _KEYS):
        return None
    kind, priority, timeout = raw["type"], raw["priority"], raw["timeout_seconds"]
    if type(kind) is not str or kind not in _TYPES or type(raw["config"]) is not dict:
        return None
    if type(priority) is not int or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        return None
    if not _number(timeout) or not 0 < timeout <= MAX_TIMEOUT_S:
        return None
    retry = raw["retry_policy"]
    if type(retry) is not dict or retry.keys() != _RETRY_KEYS:
        return None
    retries, delay = retry["max_retries"], retry["retry_delay_seconds"]
    if type(retries) is not int or not 0 <= retries <= MAX_RETRIES:
        return None
    if not _number(delay) or not 0 <= delay <= MAX_RETRY_DELAY_S:
        return None
    if "name" in raw:
        name = raw["name"]
        if type(name) is not str or not 0 < len(name) <= MAX_NAME_LENGTH or "\0" in name:
            return None
    if "dependencies" in raw:
        deps = raw["dependencies"]
        # `to_dict` leaves the key out when there are none; an empty list is not the normal form.
        if type(deps) is not list or not deps or not all(type(d) is str for d in deps):
            return None
    if "requirements" not in raw:
        return raw, NO_REQUIREMENTS
    requirements = raw["requirements"]
    if type(requirements) is not dict or not requirements:
        return None
    parsed = parse_requirements(Issues(), "$.requirements", requirements)
    if parsed is None or parsed.to_dict() != requirements:
        return None
    return raw, parsed

"""Majority arithmetic: the committed index of a voter set and the outcome of a vote.

Pure functions over ids and numbers; learners never appear here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from enum import IntEnum


class VoteResult(IntEnum):
    PENDING = 0
    LOST = 1
    WON = 2


def majority(n: int) -> int:
    return n // 2 + 1


def committed_index(voters: Collection[str], acked: Callable[[str], int]) -> int:
    """Largest index acknowledged by a majority of `voters` (0 with no voters: nothing commits)."""
    n = len(voters)
    if n == 0:
        return 0
    if n == 1:
        for v in voters:
            return acked(v)
    matched = sorted((acked(v) for v in voters), reverse=True)
    return matched[majority(n) - 1]


def vote_result(voters: Collection[str], votes: Mapping[str, bool]) -> VoteResult:
    """WON when a majority granted, LOST when a majority can no longer grant."""
    if not voters:
        return VoteResult.WON  # an empty config wins trivially (etcd semantics; never campaigns)
    granted = missing = 0
    for v in voters:
        got = votes.get(v)
        if got is None:
            missing += 1
        elif got:
            granted += 1
    need = majority(len(voters))
    if granted >= need:
        return VoteResult.WON
    if granted + missing >= need:
        return VoteResult.PENDING
    return VoteResult.LOST

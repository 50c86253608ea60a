"""`ProgressTracker`: the membership in force (voters, learners), per-peer `Progress`, votes.

It validates a single-server `ConfChange` against the membership in force; which membership is
in force is decided by `membership.py`, and who may propose a change, when, by `core.py`.
"""

from __future__ import annotations

from . import quorum
from .messages import ConfChange, ConfChangeType, ConfState
from .progress import Inflights, Progress


class ProgressTracker:
    __slots__ = ("learners", "max_inflight", "max_inflight_bytes", "progress", "voters", "votes")

    def __init__(self, max_inflight: int, max_inflight_bytes: int = 0) -> None:
        self.voters: set[str] = set()
        self.learners: set[str] = set()
        self.progress: dict[str, Progress] = {}
        self.votes: dict[str, bool] = {}
        self.max_inflight = max_inflight
        self.max_inflight_bytes = max_inflight_bytes

    def conf_state(self) -> ConfState:
        return ConfState(tuple(sorted(self.voters)), tuple(sorted(self.learners)))

    def committed(self) -> int:
        prs = self.progress
        return quorum.committed_index(self.voters, lambda v: prs[v].match)

    def quorum_active(self, self_id: str) -> bool:
        """Did a majority of voters (counting ourselves) talk to us recently?"""
        votes = {v: (v == self_id or self.progress[v].recent_active) for v in self.voters}
        return quorum.vote_result(self.voters, votes) == quorum.VoteResult.WON

    # -- votes ------------------------------------------------------------------------
    def reset_votes(self) -> None:
        self.votes = {}

    def record_vote(self, node: str, granted: bool) -> None:
        self.votes.setdefault(node, granted)

    def tally_votes(self) -> tuple[int, int, quorum.VoteResult]:
        granted = sum(1 for v in self.voters if self.votes.get(v) is True)
        rejected = sum(1 for v in self.voters if self.votes.get(v) is False)
        return granted, rejected, quorum.vote_result(self.voters, self.votes)

    # -- membership -------------------------------------------------------------------
    def new_progress(self, next_index: int, is_learner: bool) -> Progress:
        # A fresh peer is presumed active so check-quorum does not depose the leader at once.
        return Progress(0, max(next_index, 1), Inflights(self.max_inflight, self.max_inflight_bytes),
                        is_learner=is_learner, recent_active=True)

    def set_conf_state(self, conf_state: ConfState, next_index: int,
                       departing_at: int = 0, self_id: str = "") -> None:
        """Make `conf_state` the membership: keep progress of staying peers, add fresh progress
        (probing from next_index) for new ones. Removed peers are dropped, or, with
        departing_at > 0 (a leader), kept as departing until they hold that entry."""
        self.voters = set(conf_state.voters)
        self.learners = set(conf_state.learners)
        members = self.voters | self.learners
        old = self.progress
        self.progress = {}
        for node in sorted(members | set(old)):  # sorted: replays must not hash-order
            pr = old.get(node)
            if node in members:
                if pr is None:
                    pr = self.new_progress(next_index, node in self.learners)
                pr.is_learner = node in self.learners
                pr.departing = 0
            elif pr is None or node == self_id or not (departing_at or pr.departing):
                continue
            elif not pr.departing:
                pr.departing = departing_at
            self.progress[node] = pr
        for node in [n for n in self.votes if n not in self.voters]:
            del self.votes[node]

    def check_conf_change(self, cc: ConfChange) -> str | None:
        """Why `cc` is not a valid single-server change of the current config, or None."""
        node = cc.node_id
        if not node:
            return "conf change without a node id"
        if cc.type == ConfChangeType.ADD_VOTER:
            if node in self.voters:
                return f"{node} is already a voter"
        elif cc.type == ConfChangeType.ADD_LEARNER:
            if node in self.voters:
                return f"{node} is a voter (demotion is not supported)"
            if node in self.learners:
                return f"{node} is already a learner"
        elif cc.type == ConfChangeType.PROMOTE_LEARNER:
            if node not in self.learners:
                return f"{node} is not a learner"
        elif cc.type == ConfChangeType.REMOVE_NODE:
            if node not in self.voters and node not in self.learners:
                return f"{node} is not a member"
            if node in self.voters and len(self.voters) == 1:
                return "cannot remove the last voter"
        return None

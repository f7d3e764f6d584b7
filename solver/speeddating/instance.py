"""The planning instance in numbers: the allowed pairs of the people who take part, and what a plan is worth.

The criteria of the objective (README, "Speed-dating kick-off") are computed here from a set of meetings, once,
for the solvers, the plan's report and the tests alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solver.candidates import BoolArray, IntArray
from solver.model import SolveStatus

STAGES = ("breaks", "best_pairs", "alternative_pairs", "mentee_coverage", "mentor_share", "meetings", "score")
"""The objective's criteria in lexicographic order."""


@dataclass(frozen=True)
class PlanInstance:
    """The allowed pairs of the people who take part, as arrays (pair k = mentee[k], mentor[k])."""

    n_mentees: int
    n_mentors: int
    mentee: IntArray
    mentor: IntArray
    score: IntArray
    best: BoolArray  # the pair is in the best matching
    alternative: BoolArray  # ... in an alternative matching and not in the best
    top: BoolArray  # the mentor is among the mentee's top `rounds` allowed mentors
    rounds: int
    tables: int | None
    mentee_break_target: IntArray  # L(v) = min(R - k, allowed partners) per person; 0 without a break limit
    mentor_break_target: IntArray

    @property
    def n_pairs(self) -> int:
        return len(self.mentee)


@dataclass(frozen=True)
class Selection:
    """The pairs that meet, and how the search ended."""

    chosen: BoolArray
    status: SolveStatus  # OPTIMAL: every stage proven; FEASIBLE: the time limit or a stop cut it short
    stages_proven: int
    stages: int
    model_s: float


def level_points(rounds: int, count: IntArray) -> IntArray:
    """f(c) = R + (R - 1) + ... + (R + 1 - c): the i-th unit is worth R + 1 - i (mentee coverage, mentor share)."""
    count = np.minimum(np.asarray(count, dtype=np.int64), rounds)
    return np.asarray(count * (2 * rounds + 1 - count) // 2, dtype=np.int64)


def greedy_fill(instance: PlanInstance, chosen: BoolArray) -> BoolArray:
    """Add every allowed pair, in pair order, whose two people and the tables still have room: nobody is idle
    while a useful meeting is possible, even when a limit cut the search short (at an optimum it adds nothing)."""
    chosen = chosen.copy()
    mentee_load = np.bincount(instance.mentee[chosen], minlength=instance.n_mentees)
    mentor_load = np.bincount(instance.mentor[chosen], minlength=instance.n_mentors)
    total = int(chosen.sum())
    limit = instance.rounds * instance.tables if instance.tables is not None else None
    for p in np.flatnonzero(~chosen).tolist():
        if limit is not None and total >= limit:
            break
        a, b = int(instance.mentee[p]), int(instance.mentor[p])
        if mentee_load[a] < instance.rounds and mentor_load[b] < instance.rounds:
            chosen[p] = True
            mentee_load[a] += 1
            mentor_load[b] += 1
            total += 1
    return chosen


def objective_parts(instance: PlanInstance, chosen: npt.NDArray[np.bool_]) -> dict[str, int]:
    """Each criterion's value for a set of meetings, in the order of `STAGES`."""
    inst = instance
    mentee_meets = np.bincount(inst.mentee[chosen], minlength=inst.n_mentees)
    mentor_meets = np.bincount(inst.mentor[chosen], minlength=inst.n_mentors)
    covered = np.bincount(inst.mentee[chosen & inst.top], minlength=inst.n_mentees)
    return {
        "breaks": int(np.minimum(mentee_meets, inst.mentee_break_target).sum()
                      + np.minimum(mentor_meets, inst.mentor_break_target).sum()),
        "best_pairs": int((chosen & inst.best).sum()),
        "alternative_pairs": int((chosen & inst.alternative).sum()),
        "mentee_coverage": int(level_points(inst.rounds, covered).sum()),
        "mentor_share": int(level_points(inst.rounds, mentor_meets).sum()),
        "meetings": int(chosen.sum()),
        "score": int(inst.score[chosen].sum()),
    }

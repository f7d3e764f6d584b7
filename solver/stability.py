"""Stability against the speed-dating rankings: blocking pairs, and CP-SAT constraints that forbid them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from solver.candidates import CohortArrays, IntArray, allowed
from solver.domain import Cohort
from solver.scores import NO_RANK, CandidatePairs

if TYPE_CHECKING:  # CP-SAT takes ~0.2-0.4 s to import: the audit (explanations) does not need it
    from ortools.sat.python import cp_model

UNRANKED = 1 << 30  # the rank an unranked partner (or no partner) has when comparing preferences


class StabilityRows(Protocol):
    """What the stability constraints read of the solver's model (`solver.solve.AssignmentModel` has it):
    candidate pairs as rows. A protocol, so that this module needs nothing from `solver.solve`."""

    @property
    def candidates(self) -> CandidatePairs: ...
    @property
    def mentee(self) -> IntArray: ...
    @property
    def mentor(self) -> IntArray: ...
    @property
    def mentee_rank(self) -> IntArray: ...
    @property
    def capacity(self) -> IntArray: ...  # per mentor


@dataclass(frozen=True)
class BlockingPair:
    """A mentee and a mentor who both prefer each other to what the matching gave them (docs/explanations.md).

    Rankings are partial: a partner someone did not rank is not acceptable to them, so any ranked partner is
    preferred to an unranked one and to none. Lower ranks are better; equal ranks are no strict preference.
    Mentee i and mentor j block when (1) both ranked each other, (2) the pair is allowed by the hard rules
    (only candidate pairs can block), (3) i is unmatched, or matched to a mentor she did not rank or ranked
    strictly lower than j, and (4) j has free capacity, or an assigned mentee he did not rank or ranked
    strictly lower than i. A mentor with capacity 0 never blocks; pinned pairs count like any other.
    """

    mentee_id: str
    mentor_id: str
    mentee_rank: int  # how the mentee ranked the mentor (1 = first choice)
    mentor_rank: int  # how the mentor ranked the mentee
    mentee_partner: str | None  # the mentee's mentor in the matching; None = unmatched
    mentee_partner_rank: int  # how she ranked that mentor; 0 = unranked or unmatched
    mentor_free_capacity: int  # > 0: the mentor has room, so he need not drop anyone
    mentor_worst_mentee: str | None  # the assigned mentee he likes least; None when he has none
    mentor_worst_rank: int  # how he ranked that mentee; 0 = unranked or none

    def to_dict(self) -> dict[str, Any]:
        return {
            "mentee": self.mentee_id,
            "mentor": self.mentor_id,
            "mentee_rank": self.mentee_rank,
            "mentor_rank": self.mentor_rank,
            "mentee_partner": self.mentee_partner,
            "mentee_partner_rank": self.mentee_partner_rank,
            "mentor_free_capacity": self.mentor_free_capacity,
            "mentor_worst_mentee": self.mentor_worst_mentee,
            "mentor_worst_rank": self.mentor_worst_rank,
        }


@dataclass(frozen=True)
class StabilityAudit:
    """The blocking pairs of one matching."""

    count: int
    pairs: tuple[BlockingPair, ...]
    ranked_pairs: int  # allowed pairs where both ranked each other: the only pairs that can block

    @property
    def stable(self) -> bool:
        return self.count == 0

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        shown = self.pairs if limit is None else self.pairs[:limit]
        return {
            "count": self.count,
            "stable": self.stable,
            "ranked_pairs": self.ranked_pairs,
            "pairs": [p.to_dict() for p in shown],
            "pairs_left_out": self.count - len(shown),
        }


def mutual_candidate_pairs(cohort: Cohort, arrays: CohortArrays) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """(mentee, mentor, mentee's rank of mentor, mentor's rank of mentee) for allowed pairs both sides ranked.

    Read from the rankings and the hard rules, not from a candidate table, so that a table restricted to
    some rows (the fairness mode) still sees every pair that could block.
    """
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    by_mentee: dict[tuple[int, int], int] = {}
    by_mentor: dict[tuple[int, int], int] = {}
    for r in cohort.rankings:
        if r.rank < 1:
            continue
        if r.from_id in mentee_index and r.to_id in mentor_index:
            key = (mentee_index[r.from_id], mentor_index[r.to_id])
            by_mentee[key] = min(by_mentee.get(key, r.rank), r.rank)
        elif r.from_id in mentor_index and r.to_id in mentee_index:
            key = (mentee_index[r.to_id], mentor_index[r.from_id])
            by_mentor[key] = min(by_mentor.get(key, r.rank), r.rank)
    keys = sorted(set(by_mentee) & set(by_mentor))
    mentee = np.array([k[0] for k in keys], dtype=np.int64)
    mentor = np.array([k[1] for k in keys], dtype=np.int64)
    mentee_rank = np.array([by_mentee[k] for k in keys], dtype=np.int64)
    mentor_rank = np.array([by_mentor[k] for k in keys], dtype=np.int64)
    if len(keys):
        ok = allowed(arrays, mentee, mentor)
        mentee, mentor, mentee_rank, mentor_rank = mentee[ok], mentor[ok], mentee_rank[ok], mentor_rank[ok]
    return mentee, mentor, mentee_rank, mentor_rank


def _as_preference(rank: IntArray) -> IntArray:
    return np.where(rank == NO_RANK, UNRANKED, rank).astype(np.int64)


def blocking_pairs(candidates: CandidatePairs, rows: IntArray | Sequence[int],
                   mutual: tuple[IntArray, IntArray, IntArray, IntArray] | None = None) -> list[BlockingPair]:
    """Every blocking pair of the matching given as rows of the candidate table, by mentee then mentor (`mutual`:
    `mutual_candidate_pairs` of its cohort, when the caller has them)."""
    cohort = candidates.cohort
    n, m = len(cohort.mentees), len(cohort.mentors)
    rows = np.asarray(rows, dtype=np.int64)
    # The candidate columns as numpy (`CandidatePairs.column`): no polars table built for four columns' rows.
    assigned_mentee = candidates.mentee[rows]
    assigned_mentor = candidates.mentor[rows]
    assigned_mentee_rank = candidates.column("mentee_rank")[rows].astype(np.int64)
    assigned_mentor_rank = candidates.column("mentor_rank")[rows].astype(np.int64)
    partner = np.full(n, -1, dtype=np.int64)
    partner[assigned_mentee] = assigned_mentor
    partner_rank = np.full(n, NO_RANK, dtype=np.int64)
    partner_rank[assigned_mentee] = assigned_mentee_rank
    load = np.bincount(assigned_mentor, minlength=m).astype(np.int64)
    capacity = np.array([max(p.capacity, 0) for p in cohort.mentors], dtype=np.int64)
    # The worst assigned mentee per mentor: the highest preference value, the lowest index on ties.
    worst = np.full(m, -1, dtype=np.int64)
    worst_value = np.full(m, -1, dtype=np.int64)
    preference = _as_preference(assigned_mentor_rank)
    for k in np.lexsort((assigned_mentee, -preference)).tolist():
        j = int(assigned_mentor[k])
        if worst[j] < 0:
            worst[j], worst_value[j] = assigned_mentee[k], preference[k]
    mentee, mentor, mentee_rank, mentor_rank = mutual or mutual_candidate_pairs(cohort, candidates.arrays)
    mentee_prefers = mentee_rank < _as_preference(partner_rank)[mentee]
    free = capacity[mentor] - load[mentor]
    mentor_takes = (capacity[mentor] > 0) & ((free > 0) | ((load[mentor] > 0) & (mentor_rank < worst_value[mentor])))
    out = []
    for k in np.flatnonzero(mentee_prefers & mentor_takes).tolist():
        i, j = int(mentee[k]), int(mentor[k])
        worst_mentee = int(worst[j])
        worst_rank = int(worst_value[j]) if worst_mentee >= 0 and worst_value[j] != UNRANKED else 0
        out.append(BlockingPair(
            mentee_id=cohort.mentees[i].id,
            mentor_id=cohort.mentors[j].id,
            mentee_rank=int(mentee_rank[k]),
            mentor_rank=int(mentor_rank[k]),
            mentee_partner=cohort.mentors[int(partner[i])].id if partner[i] >= 0 else None,
            mentee_partner_rank=int(partner_rank[i]),
            mentor_free_capacity=int(max(free[k], 0)),
            mentor_worst_mentee=cohort.mentees[worst_mentee].id if worst_mentee >= 0 else None,
            mentor_worst_rank=worst_rank,
        ))
    return out


def audit(candidates: CandidatePairs, rows: IntArray | Sequence[int]) -> StabilityAudit:
    """The blocking pairs of a matching with their count."""
    mutual = mutual_candidate_pairs(candidates.cohort, candidates.arrays)
    pairs = blocking_pairs(candidates, rows, mutual)
    ranked = len(mutual[0])
    return StabilityAudit(count=len(pairs), pairs=tuple(pairs), ranked_pairs=ranked)


def add_stability_constraints(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], model: StabilityRows) -> None:
    """Forbid every blocking pair: for each allowed mutually-ranked pair (i, j) with j's capacity c > 0,

        c * [i has a mentor she ranks at least as high as j] + #[mentees j ranks at least as high as i] >= c,

    i.e. the mentee is matched at least as well, or the mentor is full of mentees at least as good.
    """
    from ortools.sat.python import cp_model

    for _, _, cap, mentee_side, mentor_side in stability_terms(x, model):
        cp.add(cap * cp_model.LinearExpr.sum(mentee_side) + cp_model.LinearExpr.sum(mentor_side) >= cap)


def stability_terms(x: Sequence[cp_model.IntVar], model: StabilityRows
                    ) -> list[tuple[int, int, int, list[cp_model.IntVar], list[cp_model.IntVar]]]:
    """Per allowed mutually-ranked pair (i, j) with j's capacity c > 0: (i, j, c, the pair variables of i's mentors
    at least as good as j, those of j's mentees at least as good as i); the pair blocks unless
    c * sum(first) + sum(second) >= c. (`solver.infeasibility` counts the pairs that block with these.)"""
    candidates = model.candidates
    cohort = candidates.cohort
    row_mentee = np.asarray(model.mentee, dtype=np.int64)
    row_mentor = np.asarray(model.mentor, dtype=np.int64)
    row_mentee_rank = np.asarray(model.mentee_rank, dtype=np.int64)
    row_mentor_rank = candidates.column("mentor_rank").astype(np.int64)
    capacity = np.asarray(model.capacity, dtype=np.int64)
    mentee, mentor, mentee_rank, mentor_rank = mutual_candidate_pairs(cohort, candidates.arrays)
    if len(mentee) == 0:
        return []
    # Ranked rows per person, sorted by rank: the rows "at least as good as rank r" are a prefix.
    by_mentee: dict[int, tuple[list[int], list[int]]] = {}
    by_mentor: dict[int, tuple[list[int], list[int]]] = {}
    for r in np.lexsort((np.arange(len(row_mentee)), row_mentee_rank)).tolist():
        if row_mentee_rank[r] != NO_RANK:
            ranks, vars_ = by_mentee.setdefault(int(row_mentee[r]), ([], []))
            ranks.append(int(row_mentee_rank[r]))
            vars_.append(r)
    for r in np.lexsort((np.arange(len(row_mentor)), row_mentor_rank)).tolist():
        if row_mentor_rank[r] != NO_RANK:
            ranks, vars_ = by_mentor.setdefault(int(row_mentor[r]), ([], []))
            ranks.append(int(row_mentor_rank[r]))
            vars_.append(r)

    def at_least_as_good(index: dict[int, tuple[list[int], list[int]]], person: int, rank: int) -> list[int]:
        ranks, rows = index.get(person, ([], []))
        return rows[:int(np.searchsorted(np.asarray(ranks, dtype=np.int64), rank, side="right"))]

    out = []
    for i, j, ri, rj in zip(mentee.tolist(), mentor.tolist(), mentee_rank.tolist(), mentor_rank.tolist(),
                            strict=True):
        cap = int(capacity[j])
        if cap <= 0:
            continue
        out.append((i, j, cap, [x[r] for r in at_least_as_good(by_mentee, i, ri)],
                    [x[r] for r in at_least_as_good(by_mentor, j, rj)]))
    return out

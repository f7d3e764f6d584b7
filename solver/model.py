"""The numeric matching model: candidate pairs as arrays, matchings, their objective, and each mode's order."""

from __future__ import annotations

import operator
from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from solver.candidates import IntArray
from solver.domain import ObjectiveMode
from solver.scores import CandidatePairs


class SolveStatus(StrEnum):
    OPTIMAL = "OPTIMAL"  # proven best
    FEASIBLE = "FEASIBLE"  # a valid matching; the limit or a cancellation stopped the proof (see bound)
    INFEASIBLE = "INFEASIBLE"  # the side constraints (quotas, pins) cannot all hold
    UNKNOWN = "UNKNOWN"  # stopped before any valid matching was found


@dataclass(frozen=True)
class Progress:
    """An improving solution during a solve, for streaming."""

    matching_rank: int
    objective: int
    bound: int
    elapsed_s: float


@dataclass(frozen=True)
class AssignmentModel:
    """The numeric model: candidate pairs as rows, with everything the solvers need as arrays."""

    candidates: CandidatePairs
    mentee: IntArray
    mentor: IntArray
    score: IntArray
    mentee_rank: IntArray
    capacity: IntArray  # per mentor, clamped to the number of mentees
    priority: IntArray  # per mentee
    pinned_rows: IntArray
    mentor_org: IntArray  # organisation index per mentor, -1 = none or uncapped
    org_caps: IntArray  # per organisation index
    mentor_gender: IntArray  # "" / f / m / x as 0..3
    quotas: tuple[tuple[int, int, int | None], ...]  # (gender code, min pairs, max pairs)
    big: int  # weight of one matched mentee (priority 1): more than any total score (less seat costs) can add
    seat_cost: int = 0  # points a mentor's k-th seat costs, times k - 1 (Rules.extra_seat_cost)
    max_seat_cost: int = 0  # the most any matching's seat costs can come to

    @property
    def n_rows(self) -> int:
        return len(self.mentee)

    def seat_costs(self, rows: IntArray, seat_cost: int | None = None) -> int:
        """What a matching's seats cost: per mentor with L mentees, seat_cost x (1 + 2 + ... + (L - 1)). `seat_cost`:
        another price of a seat than the model's (k-best's scaled one). A small matching's (`SMALL_ROWS`) mentors are
        read from the model's lists (`lists`)."""
        cost = self.seat_cost if seat_cost is None else seat_cost
        rows = np.asarray(rows, dtype=np.int64)
        if not cost or len(rows) == 0:
            return 0
        if len(rows) <= SMALL_ROWS:
            return _listed_seat_costs(cost, list(map(self.lists().mentor.__getitem__, rows.tolist())))
        load = np.bincount(self.mentor[rows])
        return int(cost * (load * (load - 1) // 2).sum())

    def mentor_seat_costs(self, mentors: IntArray) -> int:
        """`seat_costs` of a matching given as the mentor index of each of its pairs."""
        if not self.seat_cost or len(mentors) == 0:
            return 0
        load = np.bincount(np.asarray(mentors, dtype=np.int64))
        return int(self.seat_cost * (load * (load - 1) // 2).sum())

    def weight(self, weights: IntArray, rows: IntArray) -> int:
        """A matching's total of per-row `weights`, less its seat costs: what every solver maximises."""
        rows = np.asarray(rows, dtype=np.int64)
        return int(np.add.reduce(weights[rows])) - self.seat_costs(rows)

    def lists(self) -> ModelLists:
        """The columns a matching's objective reads, as Python lists, made once per model (`SMALL_ROWS`): `evaluate`
        reads them for each matching a solve returns."""
        found: ModelLists | None = self.__dict__.get("_lists")
        if found is None:
            found = ModelLists(self.mentee.tolist(), self.mentor.tolist(), self.score.tolist(),
                               self.mentee_rank.tolist(), self.priority.tolist(),
                               int(self.mentee_rank.max()) if self.n_rows else 0)
            self.__dict__["_lists"] = found
        return found


SMALL_ROWS = 64
"""Pairs of a matching up to which its objective is summed in Python over the model's columns as
lists (`AssignmentModel.lists`): numpy's ~1-2 us per call, ~20 calls per objective, is most of a small matching's
(15 pairs: ~15 us by numpy, ~4 us by lists; each solve evaluates every matching it returns)."""


@dataclass(frozen=True)
class ModelLists:
    mentee: list[int]
    mentor: list[int]
    score: list[int]
    mentee_rank: list[int]
    priority: list[int]  # per mentee
    top_rank: int  # the largest rank given (0: none)


def _listed_seat_costs(seat_cost: int, mentors: list[int]) -> int:
    if len(set(mentors)) == len(mentors):  # one seat each (the usual matching): nothing beyond first seats
        return 0
    return seat_cost * sum(k * (k - 1) // 2 for k in Counter(mentors).values())  # counted in C


@dataclass(frozen=True)
class Objective:
    matched: int  # mentees matched
    matched_priority: int  # sum of their priorities (the first criterion)
    total_score: int
    worst_score: int  # the lowest pair score (0 when nobody is matched)
    rank_profile: tuple[int, ...]  # pairs where the mentee ranked the mentor 1st, 2nd, ... (up to the top rank)
    value: int  # big * matched_priority + total_score - seat_cost: the score mode's lexicographic scalar
    seat_cost: int = 0  # what the mentors' seats beyond their first cost (Rules.extra_seat_cost)


@dataclass(frozen=True)
class Matching:
    rank: int  # 1 = best
    rows: IntArray  # rows of the candidate table, sorted
    objective: Objective
    status: SolveStatus
    pairs_changed_vs_best: int = 0

    def pairs(self, candidates: CandidatePairs) -> list[tuple[str, str]]:
        cohort = candidates.cohort
        return [(cohort.mentees[int(a)].id, cohort.mentors[int(b)].id)
                for a, b in zip(candidates.mentee[self.rows], candidates.mentor[self.rows], strict=True)]


def matching_span(mentee: IntArray, n_mentees: int, weights: IntArray, max_seat_cost: int) -> int:
    """More than the spread of any matching's total of non-negative per-row `weights` less its seat costs: each
    mentee's best row, summed, plus one, plus the most the seats can cost. `big` is this for the scores."""
    best = np.zeros(n_mentees, dtype=np.int64)
    np.maximum.at(best, mentee, weights)
    return int(best.sum()) + 1 + max_seat_cost


def most_seat_cost(mentee: IntArray, mentor: IntArray, capacity: IntArray, seat_cost: int) -> int:
    """The most any matching's seat costs can come to: its loads L (each at most the mentor's capacity and allowed
    pairs, together at most the mentees with a pair) cost seat_cost x (1 + ... + (L - 1)) each, a convex sum, largest
    when the mentors that can take most take all they can, in turn. At most `AssignmentModel.max_seat_cost`, which
    lets every mentor fill every seat at once (the README's `big`)."""
    if not seat_cost or len(mentee) == 0:
        return 0
    most = np.sort(np.minimum(capacity, np.bincount(mentor, minlength=len(capacity))))[::-1].tolist()
    left, total = int(np.count_nonzero(np.bincount(mentee))), 0
    for seats in most:
        load = min(seats, left)
        if load <= 1:
            break
        total += load * (load - 1) // 2
        left -= load
    return seat_cost * total


def flow_big(model: AssignmentModel) -> int:
    """A weight of one matched mentee (priority 1) for the flows that is still more than any matching's total less
    its seat costs can vary by, as `big` is, but from the seats a matching can fill (`most_seat_cost`): the same
    optimum in the flow with smaller costs (`solver.solve` uses it where `big`'s costs overflow the flow)."""
    return matching_span(model.mentee, model.candidates.arrays.n_mentees, model.score,
                         most_seat_cost(model.mentee, model.mentor, model.capacity, model.seat_cost))


_NO_ROWS = np.zeros(0, dtype=np.int64)
_NO_ROWS.setflags(write=False)
_FEW_PINS = 8


def _none_of(count: int) -> IntArray:
    """-1 for each of `count` mentors: no capped organisation (np.full's wrapper costs more at a few dozen)."""
    found = np.empty(count, dtype=np.int64)
    found.fill(-1)
    return found


def build_model(candidates: CandidatePairs) -> AssignmentModel:
    cohort = candidates.cohort
    n = len(cohort.mentees)
    mentee, mentor = candidates.mentee, candidates.mentor
    pinned_rows, pins = _NO_ROWS, cohort.rules.pins
    if pins:
        keys = mentee * max(1, len(cohort.mentors)) + mentor
        mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
        pin_keys = {mentee_index[a] * max(1, len(cohort.mentors)) + mentor_index[b] for a, b in pins}
        if len(pin_keys) <= _FEW_PINS:  # one comparison per pin: np.isin's own cost is ~20 us
            pinned = np.zeros(len(keys), dtype=np.bool_)
            for key in pin_keys:
                pinned |= keys == key
        else:
            pinned = np.isin(keys, np.array(sorted(pin_keys), dtype=np.int64))
        pinned_rows = np.flatnonzero(pinned).astype(np.int64)
        if len(pinned_rows) != len(pin_keys):
            # Validation refuses a pin that breaks a hard rule, so a pin missing here is an engine fault: never
            # drop it.
            raise RuntimeError("a pinned pair is missing from the candidate pairs")
    caps = cohort.rules.organisation_cap_map
    orgs = sorted(caps)
    org_code = {org: k for k, org in enumerate(orgs)}
    gender_code = {"f": 1, "m": 2, "x": 3}
    capacity = np.array([min(max(m.capacity, 0), n) for m in cohort.mentors], dtype=np.int64)
    seat_cost = max(cohort.rules.extra_seat_cost, 0)
    # The most seats a mentor can fill is her capacity or her candidate pairs, whichever is fewer.
    most = np.minimum(capacity, np.bincount(mentor, minlength=len(capacity))) if len(capacity) else capacity
    max_seat_cost = int(seat_cost * (most * (most - 1) // 2).sum())
    return AssignmentModel(
        candidates=candidates,
        mentee=mentee,
        mentor=mentor,
        score=candidates.score,
        mentee_rank=candidates.column("mentee_rank").astype(np.int64),
        capacity=capacity,
        priority=np.array(cohort.priorities(), dtype=np.int64),  # waiting included
        pinned_rows=pinned_rows,
        mentor_org=(np.array([org_code.get(m.organisation, -1) for m in cohort.mentors], dtype=np.int64) if caps
                    else _none_of(len(cohort.mentors))),
        org_caps=np.array([caps[o] for o in orgs], dtype=np.int64),
        mentor_gender=np.array([gender_code.get(m.gender, 0) for m in cohort.mentors], dtype=np.int64),
        quotas=tuple((gender_code.get(q.gender, 0), q.min_pairs, q.max_pairs) for q in cohort.rules.gender_quotas),
        big=matching_span(mentee, n, candidates.score, max_seat_cost),
        seat_cost=seat_cost,
        max_seat_cost=max_seat_cost,
    )


def evaluate(model: AssignmentModel, rows: IntArray, mode: ObjectiveMode = ObjectiveMode.SCORE) -> Objective:
    """The objective parts of any set of candidate rows (a matching)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= SMALL_ROWS:
        return _listed_objective(model, rows.tolist())
    score = model.score[rows]
    ranks = model.mentee_rank[rows]
    top = int(model.mentee_rank.max()) if model.n_rows else 0
    # Ranks are 0 (unranked) or 1..top: one count per rank.
    profile = tuple(np.bincount(ranks, minlength=top + 1)[1:top + 1].tolist()) if top > 0 else ()
    matched_priority = int(model.priority[model.mentee[rows]].sum())
    worst = int(score.min()) if len(rows) else 0
    seats = model.seat_costs(rows)
    return Objective(
        matched=len(rows),
        matched_priority=matched_priority,
        total_score=int(score.sum()),
        worst_score=worst,
        rank_profile=profile,
        value=model.big * matched_priority + int(score.sum()) - seats,
        seat_cost=seats,
    )


def _listed_objective(model: AssignmentModel, rows: list[int]) -> Objective:
    """`evaluate` of a small matching (`SMALL_ROWS`) over the model's columns as lists: the same sums."""
    lists = model.lists()
    score = list(map(lists.score.__getitem__, rows))  # the rows' values by C-level maps, no Python frame a row
    profile: tuple[int, ...] = ()
    if lists.top_rank > 0:
        counts = [0] * (lists.top_rank + 1)
        for rank in map(lists.mentee_rank.__getitem__, rows):
            counts[rank] += 1
        profile = tuple(counts[1:])
    matched_priority = sum(map(lists.priority.__getitem__, map(lists.mentee.__getitem__, rows)))
    seats = (_listed_seat_costs(model.seat_cost, list(map(lists.mentor.__getitem__, rows))) if model.seat_cost
             else 0)
    total = sum(score)
    return Objective(matched=len(rows), matched_priority=matched_priority, total_score=total,
                     worst_score=min(score) if rows else 0, rank_profile=profile,
                     value=model.big * matched_priority + total - seats, seat_cost=seats)


def check_matching(model: AssignmentModel, rows: IntArray) -> list[str]:
    """Violations of the hard side of the model by a set of rows; empty when the matching is valid."""
    out = []
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= SMALL_ROWS:
        return _listed_violations(model, rows.tolist())
    mentees = model.mentee[rows]
    if len(np.unique(mentees)) != len(mentees):
        out.append("a mentee is matched twice")
    load = np.bincount(model.mentor[rows], minlength=len(model.capacity))
    if (load > model.capacity).any():
        out.append("a mentor is over capacity")
    if not set(model.pinned_rows.tolist()) <= set(rows.tolist()):
        out.append("a pinned pair is missing")
    for k, cap in enumerate(model.org_caps.tolist()):
        if int((model.mentor_org[model.mentor[rows]] == k).sum()) > cap:
            out.append(f"organisation cap {k} exceeded")
    for gender, low, high in model.quotas:
        count = int((model.mentor_gender[model.mentor[rows]] == gender).sum())
        if count < low or (high is not None and count > high):
            out.append(f"gender quota {gender} not met ({count})")
    return out


def _listed_violations(model: AssignmentModel, rows: list[int]) -> list[str]:
    """`check_matching` of a small set of rows (`SMALL_ROWS`) over the model's columns as lists: the same checks."""
    out = []
    lists = model.lists()
    if len(set(map(lists.mentee.__getitem__, rows))) != len(rows):
        out.append("a mentee is matched twice")
    mentors = list(map(lists.mentor.__getitem__, rows))
    capacity = model.capacity.tolist()
    load = [0] * len(capacity)
    for b in mentors:
        load[b] += 1
    if any(map(operator.gt, load, capacity)):  # load and capacity: one per mentor
        out.append("a mentor is over capacity")
    if not set(model.pinned_rows.tolist()) <= set(rows):
        out.append("a pinned pair is missing")
    if len(model.org_caps):
        org = model.mentor_org.tolist()
        for k, cap in enumerate(model.org_caps.tolist()):
            if sum(1 for b in mentors if org[b] == k) > cap:
                out.append(f"organisation cap {k} exceeded")
    if model.quotas:
        gender_of = model.mentor_gender.tolist()
        for gender, low, high in model.quotas:
            count = sum(1 for b in mentors if gender_of[b] == gender)
            if count < low or (high is not None and count > high):
                out.append(f"gender quota {gender} not met ({count})")
    return out


def mode_key(objective: Objective, mode: ObjectiveMode) -> tuple[int, ...]:
    """What each mode maximises, lexicographically: a larger tuple is a better matching.

    All modes first maximise the priority-weighted matched count. Then `score`: the total score; `fairness`: the
    worst pair's score (every matched pair counts, pins included), then the total; `rank_maximal`: the pairs whose
    mentee ranked the mentor 1st, then 2nd, ..., then the total. "The total" is the total score less seat costs.
    """
    net = objective.total_score - objective.seat_cost
    if mode is ObjectiveMode.FAIRNESS:
        return (objective.matched_priority, objective.worst_score, net)
    if mode is ObjectiveMode.RANK_MAXIMAL:
        return (objective.matched_priority, *objective.rank_profile, net)
    return (objective.matched_priority, net)

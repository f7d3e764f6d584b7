"""The engine's optimum on pure assignments against an independent oracle: scipy's linear_sum_assignment.

For cohorts of up to a few hundred people with mixed capacities (1-3) and priorities (1-2), the best
matching's `objective.value` (big * matched priority + total score - seat cost) must equal the optimum of the
dense assignment problem built here from the candidate table alone: one row per mentee, one column per mentor
seat (a mentor of capacity k is k columns, the j-th costing extra_seat_cost * (j - 1)), the pair's weight less
the seat's cost in its cells, 0 for a forbidden cell (the same as leaving the mentee out, since every allowed
weight on a seat an optimum can use is at least big - seat cost > 0).

This checks the optimisation (min-cost flow, split into independent parts, organisation-free) and not the
hard rules or the scores, which `tests/test_solver_oracle.py` checks against hand-written rules.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from scenarios.generate import national_pool
from solver import candidates as candidates_module
from solver import flow as solve_module
from solver.domain import Cohort
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveStatus, solve
from tests.oracle import random_cohort


def lsa_optimum(cohort: Cohort, big: int) -> tuple[int, int, int]:
    """(value, matched priority, the total) of the best assignment, by scipy on the expanded matrix, where the
    total is total score − seat cost (README, Objective): seat k of a mentor (column copy k − 1) costs
    extra_seat_cost × (k − 1). Seat costs grow with k, so an optimum fills each mentor's cheaper seats first and
    the columns' costs add up to exactly the README's 1 + 2 + ... + (L − 1) times the cost."""
    table = candidate_pairs(cohort).table
    mentee = table["mentee"].to_numpy()
    mentor = table["mentor"].to_numpy()
    score = table["score"].to_numpy().astype(np.int64)
    priority = np.array([m.priority for m in cohort.mentees], dtype=np.int64)
    capacity = np.array([max(0, m.capacity) for m in cohort.mentors], dtype=np.int64)
    first_seat = np.concatenate([[0], np.cumsum(capacity)[:-1]]).astype(np.int64)
    n = len(cohort.mentees)
    weight = big * priority[mentee] + score
    matrix = np.zeros((n, max(int(capacity.sum()), n)), dtype=np.float64)
    extra = cohort.rules.extra_seat_cost
    for copy in range(int(capacity.max(initial=0))):
        seat = capacity[mentor] > copy
        # A seat no optimum takes (beyond the mentor's allowed pairs) may cost more than big: left at 0, unused.
        matrix[mentee[seat], first_seat[mentor[seat]] + copy] = np.maximum(weight[seat] - extra * copy, 0)
    rows, cols = linear_sum_assignment(matrix, maximize=True)
    chosen = matrix[rows, cols] > 0
    value = int(matrix[rows, cols][chosen].sum())
    matched_priority = int(priority[rows[chosen]].sum())
    return value, matched_priority, value - big * matched_priority


def cohorts() -> list[tuple[str, Cohort]]:
    out: list[tuple[str, Cohort]] = []
    for seed in range(16):
        rng = random.Random(1000 + seed)
        cohort = random_cohort(rng, rng.randint(20, 220), rng.randint(15, 200), rankings=seed % 3 == 0)
        # Pure assignments: no organisation caps, quotas or pins (bans are fine: they only remove pairs).
        cohort = replace(cohort, rules=replace(cohort.rules, organisation_caps=(), gender_quotas=(), pins=()))
        out.append((f"random-{seed}", cohort))
    for seed in range(4):
        out.append((f"national-{seed}", national_pool(500 + seed, 180, 160, with_rankings=seed % 2 == 1)))
    # Seat costs off, and one that is not a round number (the default is 100).
    for name, extra in (("random-0", 0), ("random-4", 0), ("random-6", 37)):
        cohort = dict(out)[name]
        out.append((f"seat-cost-{extra}-{name}", replace(cohort, rules=replace(cohort.rules, extra_seat_cost=extra))))
    return out


@pytest.mark.parametrize(("name", "cohort"), cohorts(), ids=lambda v: v if isinstance(v, str) else "")
def test_best_objective_equals_the_assignment_optimum(name: str, cohort: Cohort,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if name.endswith(("-1", "-5", "-9", "-13", "national-2")):
        monkeypatch.setattr(candidates_module, "CROSS_PRODUCT_LIMIT", 0)  # the join path, on a few cohorts
    if name.endswith(("-2", "-3", "-7", "-11", "national-0", "national-1", "national-2")):
        monkeypatch.setattr(solve_module, "SPLIT_MIN_ROWS", 0)  # independent parts solved apart, however small
    assert all(1 <= m.capacity <= 3 for m in cohort.mentors)
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.status is SolveStatus.OPTIMAL
    best = result.matchings[0].objective
    value, matched_priority, total_score = lsa_optimum(cohort, result.model.big)
    assert best.value == value
    assert (best.matched_priority, best.total_score - best.seat_cost) == (matched_priority, total_score)
    assert result.bound == value


def test_the_oracle_sees_mixed_capacities_and_priorities() -> None:
    people = [c for _, c in cohorts()]
    assert {m.capacity for c in people for m in c.mentors} >= {1, 2, 3}
    assert {m.priority for c in people for m in c.mentees} >= {1, 2}
    assert max(len(c.mentees) + len(c.mentors) for c in people) >= 300
    assert {c.rules.extra_seat_cost for c in people} == {0, 37, 100}

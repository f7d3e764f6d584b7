"""Alternatives through the exact dual of "differs from each better matching" (solver.pricing.exact_distinct),
against brute force over every valid matching and against CP-SAT without the dual's range.

README, Alternatives: matching k is the best valid matching that differs from each better matching M in at least
D pairs. Small cohorts are ranked by k-best or go straight to CP-SAT; here both are switched off (their size
settings) so that every alternative takes the path a large cohort takes: the dual's bound and priced matching
(OPTIMAL at once when the matching reaches the bound), else CP-SAT from that matching within [its value, bound].
The oracle enumerates every valid matching (tests/oracle.py, from the README's rules), so every value is checked
for the matchings the engine actually chose before (ties may be broken otherwise than the ranking would).
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import numpy as np
import pytest

import solver.kbest
import solver.pricing
import solver.solve
from solver.cpsat import CpSearch, cp_stages
from solver.domain import Cohort, ObjectiveMode
from solver.flow import quota_flow_optimum, quota_groups
from solver.model import AssignmentModel
from solver.pricing import PricingFlow, distinct_constraints, exact_distinct
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import SolveOptions, SolveStatus, build_model, primary_weights, solve
from tests.oracle import all_matchings_by_brute_force, score_key
from tests.rules_oracle import RulesOracle
from tests.test_kbest import _cohort as _caps_cohort
from tests.test_kbest import _scores
from tests.test_quota_flow import _cohort as _quota_cohort
from tests.test_quota_flow import _valid


@pytest.fixture
def priced_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every alternative through the dual and, when unproven, CP-SAT: no ranking, no small-model shortcut."""
    monkeypatch.setattr(solver.kbest, "DENSE_CELL_LIMIT", 0)
    monkeypatch.setattr(solver.kbest, "FLOW_ROW_LIMIT", 0)
    monkeypatch.setattr(solver.solve, "SMALL_MODEL_ROWS", 0)


def _cohorts() -> list[tuple[str, Cohort]]:
    """Seat costs, pins, binding organisation caps (test_kbest's), and gender quotas, nested or not (test_quota_flow's)."""
    out = [(f"caps-{seed}", _caps_cohort(seed)) for seed in range(12)]
    out += [(f"quotas-{seed}", _quota_cohort(seed)) for seed in range(12)]
    out += [(f"quotas-across-{seed}", _quota_cohort(seed, laminar=False)) for seed in range(6)]
    return out


COHORTS = _cohorts()


def _rows(candidates: CandidatePairs, pairs: set[tuple[str, str]]) -> np.ndarray:
    cohort = candidates.cohort
    index = {(cohort.mentees[int(a)].id, cohort.mentors[int(b)].id): r
             for r, (a, b) in enumerate(zip(candidates.mentee.tolist(), candidates.mentor.tolist(), strict=True))}
    return np.array(sorted(index[p] for p in pairs), dtype=np.int64)


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize(("name", "cohort"), COHORTS, ids=[name for name, _ in COHORTS])
def test_each_alternative_is_the_best_that_differs_enough_from_the_ones_chosen(
        name: str, cohort: Cohort, d: int, priced_path: None) -> None:
    _check_against_brute_force(cohort, d)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize(("name", "cohort"), COHORTS[::2], ids=[name for name, _ in COHORTS[::2]])
def test_cut_short_the_dual_hands_over_to_cp_sat_and_stays_exact(
        name: str, cohort: Cohort, d: int, priced_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """One flow for the dual, one for the old pricing, no swaps: CP-SAT finds what they could not, the same values."""
    monkeypatch.setattr(solver.solve, "DISTINCT_EVALUATIONS", 1)
    monkeypatch.setattr(solver.solve, "ALTERNATIVE_EVALUATIONS", 1)
    monkeypatch.setattr(solver.pricing, "SWAP_CELLS", 0)
    _check_against_brute_force(cohort, d)


@pytest.mark.parametrize(("name", "cohort"), COHORTS[1::3], ids=[name for name, _ in COHORTS[1::3]])
def test_alternatives_stay_exact_when_the_memory_of_priced_optima_is_full(
        name: str, cohort: Cohort, priced_path: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past `MEMO_CELLS` no optimum is remembered: every price is a flow again, the same best matchings."""
    monkeypatch.setattr(solver.pricing, "MEMO_CELLS", 0)
    _check_against_brute_force(cohort, 2)


def _check_against_brute_force(cohort: Cohort, d: int) -> None:
    """Four matchings with D = d: each OPTIMAL and the brute-force best among the valid matchings that differ enough
    from the ones the engine chose before; fewer only when none further exists."""
    scores = _scores(cohort)
    everything = all_matchings_by_brute_force(cohort, scores)
    result = solve(cohort, SolveOptions(alternatives=4, min_difference=d))
    if not everything:
        assert result.matchings == []
        return
    chosen: list[set[tuple[str, str]]] = []
    for matching in result.matchings:
        allowed = [key for key, pairs in everything if all(len(before - pairs) >= d for before in chosen)]
        assert allowed, f"matching {matching.rank} should not exist"
        pairs = set(matching.pairs(result.candidates))
        assert all(len(before - pairs) >= d for before in chosen)
        assert matching.status is SolveStatus.OPTIMAL
        assert score_key(cohort, scores, pairs) == allowed[0], f"matching {matching.rank} is not the best allowed"
        chosen.append(pairs)
    if len(result.matchings) < 4:  # none further exists
        assert not [p for _, p in everything if all(len(before - p) >= d for before in chosen)]


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize(("name", "cohort"), COHORTS[::3], ids=[name for name, _ in COHORTS[::3]])
def test_fairness_alternatives_through_the_dual_equal_a_second_solver(
        name: str, cohort: Cohort, d: int, priced_path: None) -> None:
    """Fairness probes solve on the pairs above a threshold only (the dual's allowed rows): each alternative's
    (priority matched, worst pair, total) is the rules oracle's optimum (its own CP-SAT model) given the matchings the
    engine chose before; fewer than asked only when the oracle finds none further."""
    oracle = RulesOracle(cohort)
    result = solve(cohort, SolveOptions(mode=ObjectiveMode.FAIRNESS, alternatives=3, min_difference=d))
    chosen: list[set[tuple[str, str]]] = []
    for matching in result.matchings:
        expected = oracle.best(ObjectiveMode.FAIRNESS, differ_from=chosen, min_difference=d)
        assert expected is not None, f"matching {matching.rank} should not exist"
        pairs = set(matching.pairs(result.candidates))
        assert matching.status is SolveStatus.OPTIMAL
        assert oracle.solution(pairs, ObjectiveMode.FAIRNESS).key == expected.key
        chosen.append(pairs)
    if chosen and len(result.matchings) < 3:
        assert oracle.best(ObjectiveMode.FAIRNESS, differ_from=chosen, min_difference=d) is None


def _flow(model: AssignmentModel) -> PricingFlow | None:
    groups = quota_groups(model)
    if groups is None:
        return None
    return lambda priced_model, priced, rows, stop: quota_flow_optimum(priced_model, priced, groups, rows, stop=stop)


def _brute_force_and_model(cohort: Cohort) -> tuple[list[tuple[tuple[int, int], set[tuple[str, str]]]], CandidatePairs,
                                                    AssignmentModel, np.ndarray, PricingFlow | None]:
    """Every valid matching, best first (skips the test when there is none), and the engine's model, weights and
    pricing flow of the cohort."""
    everything = all_matchings_by_brute_force(cohort, _scores(cohort))
    if not everything:
        pytest.skip("no valid matching")
    model = build_model(candidate_pairs(cohort.canonical()))
    return everything, model.candidates, model, primary_weights(model), _flow(model)


def _pairs(candidates: CandidatePairs, rows: np.ndarray) -> set[tuple[str, str]]:
    cohort = candidates.cohort
    return {(cohort.mentees[int(candidates.mentee[r])].id, cohort.mentors[int(candidates.mentor[r])].id)
            for r in rows.tolist()}


@pytest.mark.parametrize("d", [1, 2, 3, 4])
@pytest.mark.parametrize(("name", "cohort"), COHORTS, ids=[name for name, _ in COHORTS])
def test_the_dual_bounds_every_valid_matching_and_proves_only_the_optimum(name: str, cohort: Cohort, d: int) -> None:
    """For the best matching (and then the best two) as the earlier ones: the dual's bound is at least the brute-force
    optimum of the alternative; a priced matching meets every constraint; proven means it is the optimum; CP-SAT
    within [priced, bound] and CP-SAT alone both reach the brute-force optimum."""
    everything, candidates, model, weights, flow = _brute_force_and_model(cohort)
    if flow is None and model.quotas:
        return  # quotas priced with the distinctness: `lagrangian`'s, covered by the solve test above
    earlier = [everything[0][1]]
    for _ in range(2):
        allowed = [(key, pairs) for key, pairs in everything if all(len(b - pairs) >= d for b in earlier)]
        previous = [_rows(candidates, pairs) for pairs in earlier]
        constraints = distinct_constraints(model, previous, d)
        dual = exact_distinct(model, weights, constraints, time.monotonic() + 30, flow=flow)
        if not allowed:
            assert dual.rows is None
            return
        optimum = model.weight(weights, _rows(candidates, allowed[0][1]))
        assert dual.bound >= optimum
        if dual.rows is not None:  # a valid matching (README's hard side), different enough from each earlier one
            assert _valid(model, tuple(dual.rows.tolist()))
            assert all(len(pairs - _pairs(candidates, dual.rows)) >= d for pairs in earlier)
            assert model.weight(weights, dual.rows) == dual.value <= optimum
        if dual.proven:
            assert dual.value == optimum
        for within in ([(dual.value, dual.bound)] if dual.rows is not None else []) + [None]:
            outcome = cp_stages(model, [weights], CpSearch(time.monotonic() + 30, presolve=within is None),
                                distinct_from=previous, min_difference=d, hint=dual.rows, within=within)
            assert outcome.status is SolveStatus.OPTIMAL and outcome.rows is not None
            assert model.weight(weights, outcome.rows) == optimum
        earlier.append(allowed[0][1])


def test_the_dual_proves_some_alternatives_without_cp_sat_and_not_others() -> None:
    """Both outcomes occur on the cohorts above: a priced matching that reaches the bound, and a gap CP-SAT closes."""
    proven = unproven = 0
    for _, cohort in COHORTS[:12]:
        candidates = candidate_pairs(cohort.canonical())
        model = build_model(candidates)
        weights = primary_weights(model)
        best = solve(cohort, SolveOptions(alternatives=1)).best
        if best is None:
            continue
        for d in (1, 2, 3):
            dual = exact_distinct(model, weights, distinct_constraints(model, [best.rows], d), time.monotonic() + 30)
            proven += dual.proven
            unproven += dual.rows is not None and not dual.proven
    assert proven and unproven


@pytest.mark.parametrize("seed", range(6))
def test_the_same_cohort_in_another_row_order_gets_the_same_alternatives(seed: int, priced_path: None) -> None:
    """README, determinism: the order of the input's rows decides no tie, on the dual's path too."""
    _, cohort = COHORTS[seed * 4]
    rng = random.Random(seed)
    mentees, mentors = list(cohort.mentees), list(cohort.mentors)
    rng.shuffle(mentees)
    rng.shuffle(mentors)
    other = replace(cohort, mentees=tuple(mentees), mentors=tuple(mentors))
    options = SolveOptions(alternatives=4, min_difference=2 + seed % 2)
    first, second = solve(cohort, options), solve(other, options)
    assert [m.pairs(first.candidates) for m in first.matchings] == [m.pairs(second.candidates)
                                                                      for m in second.matchings]


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize(("name", "cohort"), COHORTS[::2], ids=[name for name, _ in COHORTS[::2]])
def test_optima_remembered_from_earlier_alternatives_keep_the_dual_exact(name: str, cohort: Cohort, d: int) -> None:
    """One solve's alternatives share their priced optima (solver.pricing.PricedMemo): the third matching's dual,
    walking the second's prices again from memory, still bounds the brute-force optimum and proves only it; asked
    again, it spends no flow and says the same."""
    everything, candidates, model, weights, flow = _brute_force_and_model(cohort)
    if flow is None and model.quotas:
        pytest.skip("quotas priced with the distinctness: `lagrangian`'s")
    memo = solver.pricing.PricedMemo()
    earlier = [everything[0][1]]
    for _ in range(2):
        allowed = [pairs for _, pairs in everything if all(len(b - pairs) >= d for b in earlier)]
        constraints = distinct_constraints(model, [_rows(candidates, pairs) for pairs in earlier], d)
        dual = exact_distinct(model, weights, constraints, time.monotonic() + 30, flow=flow, memo=memo)
        again = exact_distinct(model, weights, constraints, time.monotonic() + 30, flow=flow, memo=memo)
        assert again.evaluations == 0 and (again.value, again.bound) == (dual.value, dual.bound)
        if not allowed:
            assert dual.rows is None
            return
        optimum = model.weight(weights, _rows(candidates, allowed[0]))
        assert dual.bound >= optimum
        if dual.rows is not None:
            assert _valid(model, tuple(dual.rows.tolist()))
            assert all(len(pairs - _pairs(candidates, dual.rows)) >= d for pairs in earlier)
            assert model.weight(weights, dual.rows) == dual.value <= optimum
        if dual.proven:
            assert dual.value == optimum
        earlier.append(allowed[0])

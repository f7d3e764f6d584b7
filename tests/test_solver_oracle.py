"""The engine against independent oracles: hand-written hard rules and brute force over every matching."""

from __future__ import annotations

import dataclasses
import random
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver import candidates as candidates_module
from solver.domain import Cohort, ObjectiveMode
from solver.model import Matching
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import SolveOptions, SolveStatus, build_model, check_matching, solve
from tests.oracle import (
    all_matchings_by_brute_force,
    allowed_pairs,
    best_by_brute_force,
    random_cohort,
    score_key,
)


def _scores(cohort: Cohort) -> dict[tuple[str, str], int]:
    pairs = candidate_pairs(cohort)
    return {(cohort.mentees[a].id, cohort.mentors[b].id): int(s)
            for a, b, s in zip(pairs.mentee.tolist(), pairs.mentor.tolist(), pairs.score.tolist(), strict=True)}


def _reported_key(cohort: Cohort, scores: dict[tuple[str, str], int], matching: Matching,
                  candidates: CandidatePairs) -> tuple[int, int]:
    """The score mode's tuple (matched priority, total score − seat cost) of an engine matching, as reported; it
    must equal the tuple the README gives its pairs (the seat cost recomputed from them)."""
    objective = matching.objective
    reported = (objective.matched_priority, objective.total_score - objective.seat_cost)
    assert reported == score_key(cohort, scores, matching.pairs(candidates))
    return reported


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), n=st.integers(1, 12), m=st.integers(1, 12))
def test_candidate_pairs_are_exactly_the_pairs_every_hard_rule_allows(seed: int, n: int, m: int) -> None:
    cohort = random_cohort(random.Random(seed), n, m)
    assert set(_scores(cohort)) == allowed_pairs(cohort)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6))
def test_join_prefilter_finds_the_same_pairs_as_the_full_product(seed: int) -> None:
    cohort = random_cohort(random.Random(seed), 40, 35)
    full = _scores(cohort)
    limit = candidates_module.CROSS_PRODUCT_LIMIT
    candidates_module.CROSS_PRODUCT_LIMIT = 0  # force the join path
    try:
        joined = _scores(cohort)
    finally:
        candidates_module.CROSS_PRODUCT_LIMIT = limit
    assert joined == full


@pytest.mark.parametrize("seed", range(40))
def test_best_matching_equals_brute_force_optimum(seed: int) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, rng.randint(1, 7), rng.randint(1, 7), side_constraints=seed % 2 == 0,
                           pins=seed % 3 == 0)
    scores = _scores(cohort)
    expected = best_by_brute_force(cohort, scores)
    result = solve(cohort, SolveOptions(alternatives=1))
    if expected is None:
        assert result.status is SolveStatus.INFEASIBLE
        assert result.matchings == []
        return
    assert result.status is SolveStatus.OPTIMAL
    assert _reported_key(cohort, scores, result.matchings[0], result.candidates) == expected
    assert result.bound == result.matchings[0].objective.value


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("seed", range(24))
def test_alternatives_equal_the_brute_force_sequence(seed: int, d: int) -> None:
    """Matching k is the best of all valid matchings that differ from each of matchings 1..k-1 in at least D of
    their pairs, whichever way (k-best flows, pricing, CP-SAT) it was found; fewer only when no such one exists."""
    rng = random.Random(500 + seed)
    cohort = random_cohort(rng, rng.randint(2, 5), rng.randint(2, 5), side_constraints=seed % 2 == 0,
                           pins=seed % 3 == 0)
    # Loose rules, so that there are many matchings to rank (a pin allowed before stays allowed).
    cohort = dataclasses.replace(cohort, rules=dataclasses.replace(
        cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1, min_mentor_years=0,
        eligible_municipalities=()))
    scores = _scores(cohort)
    everything = all_matchings_by_brute_force(cohort, scores)
    result = solve(cohort, SolveOptions(alternatives=3, min_difference=d))
    if not everything:
        assert result.matchings == []
        return
    chosen: list[set[tuple[str, str]]] = []
    for matching in result.matchings:
        allowed = [value for value, pairs in everything if all(len(before - pairs) >= d for before in chosen)]
        assert _reported_key(cohort, scores, matching, result.candidates) == allowed[0]
        assert matching.status is SolveStatus.OPTIMAL
        chosen.append(set(matching.pairs(result.candidates)))
    if len(result.matchings) < 3:
        assert not [pairs for _, pairs in everything if all(len(before - pairs) >= d for before in chosen)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), k=st.integers(1, 4), d=st.integers(1, 3))
def test_every_matching_obeys_every_rule_and_alternatives_are_ranked_and_distinct(seed: int, k: int, d: int) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, rng.randint(2, 10), rng.randint(2, 8), side_constraints=rng.random() < 0.5,
                           pins=rng.random() < 0.5)
    result = solve(cohort, SolveOptions(alternatives=k, min_difference=d))
    allowed = allowed_pairs(cohort)
    model = build_model(result.candidates)
    values = []
    for matching in result.matchings:
        pairs = matching.pairs(result.candidates)
        assert set(pairs) <= allowed
        assert check_matching(model, matching.rows) == []
        assert set(cohort.rules.pins) <= set(pairs)
        assert not set(cohort.rules.bans) & set(pairs)
        values.append(matching.objective.value)
    assert values == sorted(values, reverse=True)
    for i, later in enumerate(result.matchings):
        for earlier in result.matchings[:i]:
            assert len(set(earlier.rows.tolist()) - set(later.rows.tolist())) >= d
    if len(result.matchings) < k and result.status is SolveStatus.OPTIMAL:
        assert any("differ" in note for note in result.notes)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), mode=st.sampled_from(list(ObjectiveMode)))
def test_same_input_and_seed_give_the_same_answer(seed: int, mode: ObjectiveMode) -> None:
    cohort = random_cohort(random.Random(seed), 10, 8, side_constraints=True, rankings=True)
    first = solve(cohort, SolveOptions(alternatives=3, mode=mode, seed=7))
    second = solve(cohort, SolveOptions(alternatives=3, mode=mode, seed=7))
    assert [m.pairs(first.candidates) for m in first.matchings] == \
        [m.pairs(second.candidates) for m in second.matchings]


def test_fewer_alternatives_than_asked_are_said_so() -> None:
    cohort = random_cohort(random.Random(3), 2, 1)
    result = solve(cohort, SolveOptions(alternatives=5, min_difference=3))
    assert len(result.matchings) < 5
    assert result.notes


@pytest.mark.parametrize("seed", range(12))
def test_fairness_maximises_the_worst_pair_among_maximum_matchings(seed: int) -> None:
    rng = random.Random(100 + seed)
    cohort = random_cohort(rng, rng.randint(2, 6), rng.randint(2, 5))
    scores = _scores(cohort)
    score_result = solve(cohort, SolveOptions(alternatives=1))
    fair = solve(cohort, SolveOptions(alternatives=1, mode=ObjectiveMode.FAIRNESS))
    if not score_result.matchings:
        return
    top = score_result.matchings[0].objective
    got = fair.matchings[0].objective
    assert got.matched_priority == top.matched_priority
    # Brute force: the best worst-score over all matchings with the top matched priority.
    best_worst = -1
    for threshold in sorted(set(scores.values())):
        kept = {p: s for p, s in scores.items() if s >= threshold}
        restricted = replace(cohort, rules=replace(cohort.rules, bans=tuple(
            set(cohort.rules.bans) | (set(scores) - set(kept)))))
        found = best_by_brute_force(restricted, kept)
        if found is not None and found[0] == top.matched_priority:
            best_worst = threshold
    assert got.worst_score == best_worst or (top.matched == 0)


@pytest.mark.parametrize("seed", range(10))
def test_rank_maximal_gets_the_most_first_choices(seed: int) -> None:
    rng = random.Random(200 + seed)
    cohort = random_cohort(rng, rng.randint(2, 6), rng.randint(2, 5), rankings=True)
    score_result = solve(cohort, SolveOptions(alternatives=1))
    ranked = solve(cohort, SolveOptions(alternatives=1, mode=ObjectiveMode.RANK_MAXIMAL))
    if not score_result.matchings:
        return
    a, b = score_result.matchings[0].objective, ranked.matchings[0].objective
    assert b.matched_priority == a.matched_priority
    assert b.rank_profile >= a.rank_profile  # lexicographic on (first choices, second choices, ...)


def test_flow_alone_proves_pure_cohorts_and_cp_sat_takes_quotas() -> None:
    cohort = random_cohort(random.Random(5), 30, 25)
    pure = solve(cohort, SolveOptions(alternatives=1))
    assert pure.stats.backend == "min_cost_flow"
    assert pure.status is SolveStatus.OPTIMAL
    rows = pure.matchings[0].rows
    assert np.all(np.diff(rows) > 0)

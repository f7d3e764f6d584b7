"""Ranked alternatives without CP-SAT (solver.kbest) against brute force over every valid matching.

README, Alternatives: matching k is the best valid matching that differs from each better matching M in at least
D pairs (at least D of M's pairs are not in it). The oracle enumerates every valid matching of small random
cohorts (tests/rules_oracle.py) and takes, in turn, the best one that differs enough from those chosen before.
Among equally good ones the engine picks one that keeps the most pairs of the best matching (then the search's
own order): checked too. Seat costs, pins and binding organisation caps (then every node is a min-cost flow)
are mixed in; D = 3 and more goes through the priced search.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from solver import kbest
from solver.domain import Cohort
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveStatus, build_model, solve
from tests.oracle import all_matchings_by_brute_force, random_cohort, score_key


def _scores(cohort: Cohort) -> dict[tuple[str, str], int]:
    pairs = candidate_pairs(cohort)
    return {(cohort.mentees[a].id, cohort.mentors[b].id): int(s)
            for a, b, s in zip(pairs.mentee.tolist(), pairs.mentor.tolist(), pairs.score.tolist(), strict=True)}


def _cohort(seed: int) -> Cohort:
    """A small cohort with loose rules (many matchings to rank); every third with a pin, every other with a cap
    on one organisation, seat costs from none to more than most pairs' score differences."""
    rng = random.Random(9000 + seed)
    cohort = random_cohort(rng, rng.randint(2, 6), rng.randint(2, 5), pins=seed % 3 == 0)
    rules = replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1, min_mentor_years=0,
                    eligible_municipalities=(), extra_seat_cost=rng.choice([0, 0, 40, 100, 400]))
    if seed % 2:
        rules = replace(rules, organisation_caps=(("O1", rng.randint(0, 2)),))
    return replace(cohort, rules=rules)


def _check_against_brute_force(cohort: Cohort, k: int, d: int) -> str:
    """Solve with k matchings and D = d; assert each equals the oracle's; returns the backends used ("" when no
    matching is valid)."""
    scores = _scores(cohort)
    everything = all_matchings_by_brute_force(cohort, scores)
    result = solve(cohort, SolveOptions(alternatives=k, min_difference=d))
    assert result.stats.min_difference == d
    if not everything:
        assert result.matchings == []
        return ""
    chosen: list[set[tuple[str, str]]] = []
    for matching in result.matchings:
        allowed = [(key, pairs) for key, pairs in everything if all(len(before - pairs) >= d for before in chosen)]
        assert allowed, f"matching {matching.rank} should not exist"
        pairs = set(matching.pairs(result.candidates))
        key = score_key(cohort, scores, pairs)
        assert key == allowed[0][0], f"matching {matching.rank}: {key}, the best allowed is {allowed[0][0]}"
        assert matching.status is SolveStatus.OPTIMAL
        if chosen:
            most_kept = max(len(chosen[0] & other) for value, other in allowed if value == key)
            assert len(chosen[0] & pairs) == most_kept, "a tie kept fewer of the best's pairs than another"
            assert matching.pairs_changed_vs_best == len(chosen[0] - pairs)
        chosen.append(pairs)
    if len(result.matchings) < k:
        assert not [p for _, p in everything if all(len(before - p) >= d for before in chosen)]
        assert any("differ" in note for note in result.notes)
    return result.stats.backend


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", range(30))
def test_ranked_alternatives_equal_the_brute_force_sequence(seed: int, d: int) -> None:
    cohort = _cohort(seed)
    backend = _check_against_brute_force(cohort, 4, d)
    if backend:  # a pure assignment: ranked without CP-SAT, whatever D
        assert "k_best" in backend and "cp_sat" not in backend


def test_both_node_solvers_are_exercised() -> None:
    """The cohorts above include binding organisation caps (flow nodes) and cohorts without (dense nodes)."""
    binding = [kbest._caps_bind(build_model(candidate_pairs(_cohort(seed).canonical()))) for seed in range(30)]
    assert any(binding) and not all(binding)


@pytest.mark.parametrize("seed", range(12))
def test_past_its_budget_the_search_hands_over_to_cp_sat_and_stays_exact(seed: int, monkeypatch: pytest.MonkeyPatch
                                                                         ) -> None:
    """With a budget of one node evaluation per alternative, CP-SAT finds what the ranking could not: the same
    sequence of values."""
    monkeypatch.setattr(kbest, "MIN_EVALUATIONS", 1)
    monkeypatch.setattr(kbest, "MAX_EVALUATIONS", 1)
    backend = _check_against_brute_force(_cohort(seed), 3, 1 + seed % 3)
    assert not backend or "cp_sat" in backend or "only" in " ".join(solve(_cohort(seed), SolveOptions(
        alternatives=3, min_difference=1 + seed % 3)).notes)


@pytest.mark.parametrize("seed", range(8))
def test_the_same_cohort_in_another_row_order_gets_the_same_alternatives(seed: int) -> None:
    rng = random.Random(seed)
    cohort = random_cohort(rng, 9, 7)
    cohort = replace(cohort, rules=replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1))
    shuffled = list(cohort.mentees), list(cohort.mentors)
    rng.shuffle(shuffled[0])
    rng.shuffle(shuffled[1])
    other = replace(cohort, mentees=tuple(shuffled[0]), mentors=tuple(shuffled[1]))
    options = SolveOptions(alternatives=4, min_difference=1 + seed % 3)
    first, second = solve(cohort, options), solve(other, options)
    assert "k_best" in first.stats.backend
    assert [m.pairs(first.candidates) for m in first.matchings] == [m.pairs(second.candidates)
                                                                      for m in second.matchings]

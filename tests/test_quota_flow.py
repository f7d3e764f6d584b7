"""Gender quotas as a layer of the min-cost flow (solver.flow.quota_flow_optimum), against independent answers.

README, Programme rules: a gender quota bounds how many matched pairs have a mentor of that gender (pins count);
organisation caps bound the pairs per mentor organisation. Where the groupings nest (no binding cap, or every
capped organisation's mentors share one gender) the engine proves the best matching and the ranked alternatives
by flows alone. The oracles: every valid matching enumerated from the rules (tests/rules_oracle.py) on small
random cohorts, in every mode and for the alternatives' "differs in at least D pairs" sequence; every row subset
of a small model checked against the rules written out here, for any weights (the k-best and pricing flows use
weights <= 0); and the CP-SAT path, forced, on larger cohorts.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import replace

import numpy as np
import pytest

import solver.flow
import solver.kbest
import solver.solve
from solver.domain import Cohort, GenderQuota, ObjectiveMode
from solver.flow import quota_flow_optimum, quota_groups
from solver.model import AssignmentModel
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveStatus, build_model, solve
from tests.oracle import random_cohort
from tests.rules_oracle import RulesOracle, brute_force
from tests.test_kbest import _check_against_brute_force


def _cohort(seed: int, *, laminar: bool = True) -> Cohort:
    """A small cohort with loose rules and a gender quota on one or both genders (bounds drawn around the pairs
    each gender can take; on some a second quota on the same gender); every third with a cap on organisation O1,
    whose mentors then share one gender (laminar) or not (`laminar=False`: both genders)."""
    rng = random.Random(31_000 + seed)
    cohort = random_cohort(rng, rng.randint(3, 7), rng.randint(3, 5), pins=seed % 4 == 0, rankings=seed % 2 == 0)
    rules = replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1, min_mentor_years=0,
                    eligible_municipalities=(), extra_seat_cost=rng.choice([0, 0, 40, 400]))
    mentors = list(cohort.mentors)
    if seed % 3 == 1 or not laminar:
        rules = replace(rules, organisation_caps=(("O1", rng.randint(0, 1)),))
        gender = rng.choice("fm")
        mentors[:2] = [replace(b, organisation="O1") for b in mentors[:2]]
        in_o1 = [k for k, b in enumerate(mentors) if b.organisation == "O1"]
        for n, k in enumerate(in_o1):
            other = "m" if gender == "f" else "f"
            mentors[k] = replace(mentors[k], gender=gender if laminar or n % 2 == 0 else other)
    cohort = replace(cohort, mentors=tuple(mentors), rules=rules)
    model = _model(cohort)
    quotas = []
    for code, gender in rng.sample([(1, "f"), (2, "m")], rng.randint(1, 2)):
        pairs = len(np.unique(model.mentee[model.mentor_gender[model.mentor] == code]))
        low = rng.randint(0, min(3, pairs)) if seed % 8 != 7 else pairs + 1  # pairs + 1: nothing valid
        high = rng.choice([None, low, low + 1]) if low else rng.choice([0, 1, 2])
        quotas.append(GenderQuota(gender, low, high))
        if seed % 5 == 0:
            quotas.append(GenderQuota(gender, max(0, low - 1), None if high is None else high + 1))
    return replace(cohort, rules=replace(rules, gender_quotas=tuple(quotas)))


def _model(cohort: Cohort) -> AssignmentModel:
    return build_model(candidate_pairs(cohort.canonical()))


@pytest.mark.parametrize("mode", [ObjectiveMode.SCORE, ObjectiveMode.FAIRNESS, ObjectiveMode.RANK_MAXIMAL])
@pytest.mark.parametrize("seed", range(40))
def test_the_best_matching_under_nested_quotas_is_the_brute_force_optimum_without_cp_sat(
        seed: int, mode: ObjectiveMode) -> None:
    cohort = _cohort(seed)
    assert quota_groups(_model(cohort)) is not None
    result = solve(cohort, SolveOptions(mode=mode, alternatives=1))
    expected = brute_force(cohort, mode)
    if not expected:  # no matching meets the quotas: reported and explained as before
        assert result.matchings == [] and result.status is SolveStatus.INFEASIBLE
        assert any("cannot all hold" in note for note in result.notes)
        return
    best = result.best
    assert best is not None and best.status is SolveStatus.OPTIMAL
    got = RulesOracle(cohort).solution(frozenset(best.pairs(result.candidates)), mode)
    assert got.key == expected[0].key
    assert "cp_sat" not in result.stats.backend and "lagrangian" not in result.stats.backend


def test_the_cohorts_above_bind_their_quotas_and_some_cannot_meet_them() -> None:
    """The quotas matter: on many cohorts the best matching without them breaks them, and some have none valid."""
    broken = infeasible = 0
    for seed in range(40):
        cohort = _cohort(seed)
        plain = replace(cohort, rules=replace(cohort.rules, gender_quotas=()))
        with_quotas, without = brute_force(cohort), brute_force(plain)
        infeasible += not with_quotas
        broken += bool(with_quotas) and with_quotas[0].key != without[0].key
    assert broken >= 5 and infeasible >= 3


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", range(30))
def test_alternatives_under_nested_quotas_equal_the_brute_force_sequence(seed: int, d: int) -> None:
    """Best first, then each the best valid matching differing from every earlier one in >= D pairs (ties: the
    one keeping most of the best's pairs), ranked by flows over the quota groups, without CP-SAT."""
    backend = _check_against_brute_force(_cohort(seed), 4, d)
    if backend:
        assert "k_best" in backend and "cp_sat" not in backend


@pytest.mark.parametrize("seed", range(12))
def test_quotas_across_a_capped_organisation_of_both_genders_keep_the_priced_path(seed: int) -> None:
    """Not laminar: the flow cannot carry both groupings, so pricing and CP-SAT answer, exactly as before."""
    cohort = _cohort(seed, laminar=False)
    model = _model(cohort)
    if not solver.kbest._caps_bind(model) or len({b.gender for b in cohort.mentors if b.organisation == "O1"}) < 2:
        pytest.skip("the cap does not bind here")
    assert quota_groups(model) is None
    _check_against_brute_force(cohort, 3, 1 + seed % 3)


def _valid(model: AssignmentModel, rows: tuple[int, ...]) -> bool:
    """README's hard side, written out: a mentee at most once, capacities, every pin, caps, quotas (pins count)."""
    mentees = [int(model.mentee[r]) for r in rows]
    if len(set(mentees)) != len(mentees) or not set(model.pinned_rows.tolist()) <= set(rows):
        return False
    load: dict[int, int] = {}
    for r in rows:
        load[int(model.mentor[r])] = load.get(int(model.mentor[r]), 0) + 1
    if any(count > model.capacity[b] for b, count in load.items()):
        return False
    for k, cap in enumerate(model.org_caps.tolist()):
        if sum(count for b, count in load.items() if model.mentor_org[b] == k) > cap:
            return False
    for gender, low, high in model.quotas:
        count = sum(c for b, c in load.items() if model.mentor_gender[b] == gender)
        if count < low or (high is not None and count > high):
            return False
    return True


@pytest.mark.parametrize("seed", range(60))
def test_the_quota_flow_is_the_best_row_set_for_any_weights_and_allowed_rows(seed: int) -> None:
    """Weights of any sign (pricing and ranking flows use them): the flow's total equals the best over every
    valid set of allowed rows (pins always), and it is None exactly when no set is valid."""
    rng = np.random.default_rng(seed)
    model = _model(_cohort(seed))
    if model.n_rows > 14:
        model = _model(_cohort(seed % 7 * 3 + 2))  # small enough to enumerate
    groups = quota_groups(model)
    assert groups is not None
    weights = rng.integers(-20, 60, size=model.n_rows).astype(np.int64)
    allowed = np.flatnonzero(rng.random(model.n_rows) < 0.8).astype(np.int64) if seed % 2 else None
    usable = sorted(set(range(model.n_rows) if allowed is None else allowed.tolist()) | set(model.pinned_rows.tolist()))
    best: int | None = None
    for size in range(len(usable) + 1):
        for rows in itertools.combinations(usable, size):
            if _valid(model, rows):
                value = model.weight(weights, np.array(rows, dtype=np.int64))
                best = value if best is None else max(best, value)
    found = quota_flow_optimum(model, weights, groups, allowed)
    if best is None:
        assert found is None
        return
    assert found is not None and _valid(model, tuple(found.tolist()))
    assert set(found.tolist()) <= set(usable)
    assert model.weight(weights, found) == best


def _larger(seed: int) -> Cohort:
    """30 x 22 with a quota the best matching without it breaks: two more pairs with a woman mentor than it has
    (odd seeds), or two fewer with a man."""
    rng = random.Random(47_000 + seed)
    cohort = random_cohort(rng, 30, 22, pins=True)
    rules = replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1, min_mentor_years=0,
                    eligible_municipalities=(), extra_seat_cost=rng.choice([0, 50]))
    cohort = replace(cohort, rules=rules)
    plain = solve(cohort, SolveOptions(alternatives=1)).best
    assert plain is not None
    gender = {b.id: b.gender for b in cohort.mentors}
    count = sum(gender[b] == ("f" if seed % 2 else "m") for _, b in plain.pairs(candidate_pairs(cohort.canonical())))
    quota = GenderQuota("f", count + 2, None) if seed % 2 else GenderQuota("m", 0, max(0, count - 2))
    return replace(cohort, rules=replace(rules, gender_quotas=(quota,)))


@pytest.mark.parametrize("seed", range(6))
def test_larger_cohorts_get_the_values_of_the_cp_sat_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """30 x 22 with a binding quota: the flows' best and two alternatives have the objective values of the path
    before them (pricing, then CP-SAT), forced by hiding the quota groups."""
    cohort = _larger(seed)
    assert quota_groups(_model(cohort)) is not None
    options = SolveOptions(alternatives=3, min_difference=2)
    fast = solve(cohort, options)
    monkeypatch.setattr(solver.solve, "quota_groups", lambda model: None)
    monkeypatch.setattr(solver.kbest, "quota_groups", lambda model: None)
    slow = solve(cohort, options)
    assert fast.status is slow.status
    assert [m.objective.value for m in fast.matchings] == [m.objective.value for m in slow.matchings]
    assert all(m.status is SolveStatus.OPTIMAL for m in fast.matchings)
    if fast.matchings:
        assert "cp_sat" not in fast.stats.backend and "cp_sat" in slow.stats.backend


@pytest.mark.parametrize("seed", [3, 11, 15, 23])
def test_a_quota_flow_in_a_child_process_gives_the_same_answer(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big flows run in a forked child (solver.flow.CHILD_MIN_ARCS): the same rows, or the same None when the
    quotas cannot hold (seeds 15 and 23: minimums above what their pairs allow)."""
    model = _model(_cohort(seed))
    groups = quota_groups(model)
    assert groups is not None
    weights = np.asarray(model.score + 1, dtype=np.int64)
    here = quota_flow_optimum(model, weights, groups)
    monkeypatch.setattr(solver.flow, "CHILD_MIN_ARCS", 0)
    there = quota_flow_optimum(model, weights, groups, stop=threading.Event())
    assert (here is None) == (there is None) == (seed in (15, 23))
    assert here is None or there is None or here.tolist() == there.tolist()

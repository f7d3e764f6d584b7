"""Re-solves of explanations re-optimised from the best matching's flow (solver.reopt, solver.explain.relaxed).

Every counterfactual, forced-in cost and why-not that an explanation answers by re-optimising is solved again
here, independently: by the full solve of the changed cohort (its own candidate pairs, model and solver), and on
small cohorts by brute force over the README's rules (tests/rules_oracle.py). Each must have the same objective,
and be a valid matching of the changed cohort.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solver.explain.counterfactual as counterfactual
import solver.explain.pair_verdict as pair_verdict
from solver.domain import Cohort, GenderQuota, ObjectiveMode
from solver.explain import ExplainOptions, explain, why_not
from solver.explain.codes import Side, apply_relaxation
from solver.explain.context import ExplainContext, matching_state, person_view
from solver.explain.counterfactual import Resolved, _relaxation_steps
from solver.explain.relaxed import Relaxer
from solver.ingest import load_cohort
from solver.model import check_matching, evaluate
from solver.reopt import FlowChange
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import SolveOptions, SolveResult, solve
from tests.oracle import random_cohort
from tests.rules_oracle import RulesOracle, valid_matchings
from tests.test_explain import small_cohorts

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
ONE = SolveOptions(alternatives=1)


@dataclass
class Call:
    """One re-solve an explanation made: what was re-solved, and what came back."""

    ctx: ExplainContext
    target: Cohort | CandidatePairs
    extra: Any
    change: FlowChange | None
    found: Resolved

    @property
    def cohort(self) -> Cohort:
        return self.target.cohort if isinstance(self.target, CandidatePairs) else self.target

    def pairs(self) -> set[tuple[str, str]]:
        assert self.found.mentee is not None and self.found.mentor is not None
        cohort = self.ctx.cohort
        return {(cohort.mentees[a].id, cohort.mentors[b].id)
                for a, b in zip(self.found.mentee.tolist(), self.found.mentor.tolist(), strict=True)}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Call]]:
    """Records every re-solve of the explanations made in the test."""
    made: list[Call] = []
    original = counterfactual.resolve_within_budget

    def recording(ctx: ExplainContext, target: Cohort | CandidatePairs, budget: Any, extra: Any = None,
                  change: FlowChange | None = None, **kw: Any) -> Resolved | None:
        found = original(ctx, target, budget, extra, change, **kw)
        if found is not None:
            made.append(Call(ctx, target, extra, change, found))
        return found

    monkeypatch.setattr(counterfactual, "resolve_within_budget", recording)
    monkeypatch.setattr(pair_verdict, "resolve_within_budget", recording)
    yield made


def check_against_full_solves(calls: Sequence[Call]) -> int:
    """Each re-optimised re-solve against a solve from scratch of the changed cohort; how many were checked."""
    checked = 0
    for call in calls:
        if not call.found.reoptimised:
            continue
        full = solve(call.cohort, replace(ONE, extra_constraints=call.extra))
        if call.found.mentee is None:
            assert full.best is None, f"re-optimised: no matching; the full solve has one ({call.change})"
        else:
            assert full.best is not None, f"the full solve has no matching ({full.status}); re-optimised has one"
            rows = rows_of(full, call.pairs())
            assert check_matching(full.model, rows) == [], call.change
            assert evaluate(full.model, rows).value == full.best.objective.value, call.change
        checked += 1
    return checked


def rows_of(result: SolveResult, pairs: set[tuple[str, str]]) -> np.ndarray:
    """The candidate rows of these pairs in a solve result; each must be an allowed pair of its cohort."""
    cohort, candidates = result.candidates.cohort, result.candidates
    index = {(cohort.mentees[a].id, cohort.mentors[b].id): k
             for k, (a, b) in enumerate(zip(candidates.mentee.tolist(), candidates.mentor.tolist(), strict=True))}
    assert pairs <= set(index), f"not allowed in the changed cohort: {sorted(pairs - set(index))}"
    return np.array(sorted(index[p] for p in pairs), dtype=np.int64)


def explain_everything(cohort: Cohort, pairs_asked: int = 6, seed: int = 0) -> SolveResult:
    """Every explanation with re-solves: the best matching's unmatched people (forced in, counterfactuals), and
    why-not for some allowed pairs that are not chosen."""
    result = solve(cohort, ONE)
    explain(result, ExplainOptions(max_people=20))
    if result.best is None:  # infeasible: nothing to re-solve
        return result
    chosen = set(result.best.pairs(result.candidates))
    canonical = result.candidates.cohort
    allowed = [(canonical.mentees[a].id, canonical.mentors[b].id)
               for a, b in zip(result.candidates.mentee.tolist(), result.candidates.mentor.tolist(), strict=True)]
    others = [p for p in allowed if p not in chosen]
    for mentee_id, mentor_id in random.Random(seed).sample(others, min(pairs_asked, len(others))):
        why_not(cohort, mentee_id, mentor_id, result=result)
    return result


# Bundled scenarios: every re-optimised re-solve against the full solve --------------------------------------


@pytest.mark.parametrize("scenario", ["lyngby_career", "copenhagen_business", "copenhagen_career", "ibm_refugees"])
def test_every_reoptimised_resolve_of_a_bundled_scenario_has_the_full_solves_objective(
        scenario: str, calls: list[Call]) -> None:
    explain_everything(load_cohort(SCENARIOS / scenario))
    checked = check_against_full_solves(calls)
    assert checked > 0 and checked >= 0.8 * len(calls), "most re-solves are re-optimised"


@pytest.mark.slow
def test_every_reoptimised_resolve_of_kvinfo_has_the_full_solves_objective(calls: list[Call]) -> None:
    """300 x 280 with a gender quota and seat costs; two forced-in mentors go to CP-SAT in the full solve."""
    explain_everything(load_cohort(SCENARIOS / "kvinfo_network"))
    assert check_against_full_solves(calls) >= 0.8 * len(calls)


@pytest.mark.parametrize("seed", range(4))
def test_random_cohorts_with_pins_and_caps(seed: int, calls: list[Call]) -> None:
    rng = random.Random(seed)
    result = explain_everything(random_cohort(rng, 30, 26, side_constraints=seed % 2 == 0, rankings=True, pins=True),
                                seed=seed)
    checked = check_against_full_solves(calls)
    # A quota the flow optimum breaks (seed 0) leaves nothing to re-optimise from: every re-solve is a full one.
    assert (checked > 0) is (ExplainContext(result, ExplainOptions()).reoptimiser() is not None)


# Small cohorts: against brute force over the README's rules ------------------------------------------------


def check_against_brute_force(calls: Sequence[Call]) -> int:
    """Each re-optimised re-solve against the best of every valid matching of the changed cohort; how many."""
    checked = 0
    for call in calls:
        if not call.found.reoptimised:
            continue
        cohort = call.cohort
        oracle = RulesOracle(cohort)
        force_mentor = call.change.force_mentor if call.change is not None else None
        mentor_id = call.ctx.cohort.mentors[force_mentor].id if force_mentor is not None else None
        values = [oracle.parts(m).value for m in valid_matchings(cohort, oracle.pairs)
                  if mentor_id is None or any(b == mentor_id for _, b in m)]
        checked += 1
        if call.found.mentee is None:
            assert not values, call.change
            continue
        pairs = call.pairs()
        assert oracle.violations(pairs) == [], call.change
        assert oracle.parts(pairs).value == max(values), call.change
    return checked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(cohort=small_cohorts(), seed=st.integers(0, 3))
def test_small_cohorts_against_brute_force(cohort: Cohort, seed: int, calls: list[Call]) -> None:
    calls.clear()
    explain_everything(cohort, pairs_asked=3, seed=seed)
    check_against_brute_force(calls)


@pytest.mark.parametrize("seed", range(6))
def test_small_random_cohorts_with_side_constraints_against_brute_force(seed: int, calls: list[Call]) -> None:
    rng = random.Random(100 + seed)
    cohort = random_cohort(rng, 6, 5, side_constraints=True, rankings=True, pins=seed % 2 == 1)
    result = explain_everything(cohort, pairs_asked=4, seed=seed)
    checked = check_against_brute_force(calls)
    if result.best is not None and ExplainContext(result, ExplainOptions()).reoptimiser() is not None:
        assert checked > 0


# The relaxed candidate pairs, read off the baseline ----------------------------------------------------------


@pytest.mark.parametrize("scenario", ["copenhagen_business", "copenhagen_career", "ibm_refugees"])
def test_relaxed_pairs_read_off_the_baseline_are_the_relaxed_cohorts_own(scenario: str) -> None:
    """For every relaxation an explanation tries: the pairs it allows anew and every pair's score, as
    `candidate_pairs` of the relaxed cohort gives them."""
    result = solve(load_cohort(SCENARIOS / scenario), ONE)
    assert result.best is not None
    ctx = ExplainContext(result, ExplainOptions())
    relaxer = Relaxer(ctx)
    state = matching_state(ctx, result.best)
    tried = 0
    for i in np.flatnonzero(state.partner_of_mentee < 0).tolist():
        view = person_view(ctx, Side.MENTEE, i)
        for relaxation, steps in _relaxation_steps(ctx, view, state).items():
            for step in steps[:2]:
                relaxed = apply_relaxation(ctx.cohort, relaxation, step.subject_id, step.value)
                read = relaxer.change(relaxed)
                assert read is not None, relaxation
                own, mine = candidate_pairs(relaxed.canonical()), read.candidates(ctx.candidates)
                for column in ("mentee", "mentor", "score", "mentee_rank"):
                    assert own.column(column).tolist() == mine.column(column).tolist(), (relaxation, column)
                tried += 1
    assert tried > 0


# Where the flow cannot answer: full solves, as before ------------------------------------------------------


def test_stability_and_other_modes_are_solved_in_full() -> None:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    for options in (SolveOptions(alternatives=1, stable=True),
                    SolveOptions(alternatives=1, mode=ObjectiveMode.FAIRNESS)):
        result = solve(cohort, options)
        if result.best is None:
            continue
        assert ExplainContext(result, ExplainOptions()).reoptimiser() is None


def test_a_binding_gender_quota_is_solved_in_full(calls: list[Call]) -> None:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    free = solve(cohort, ONE)
    assert free.best is not None
    women = sum(1 for _, b in free.best.pairs(free.candidates)
                if next(m for m in cohort.mentors if m.id == b).gender == "f")
    bound = replace(cohort, rules=replace(cohort.rules, gender_quotas=(GenderQuota("f", max_pairs=max(0, women - 2)),)))
    result = solve(bound, ONE)
    assert result.best is not None
    assert ExplainContext(result, ExplainOptions()).reoptimiser() is None  # the flow optimum breaks the quota
    explain(result, ExplainOptions(max_people=3))
    assert calls and not any(call.found.reoptimised for call in calls)


def test_a_quota_the_reoptimum_would_break_is_solved_in_full() -> None:
    """A quota that does not bind the baseline: the re-optimiser is built; a forced pair that would break it is
    not answered by the flow (None), so the caller solves in full."""
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    free = solve(cohort, ONE)
    assert free.best is not None
    women = sum(1 for _, b in free.best.pairs(free.candidates)
                if next(m for m in cohort.mentors if m.id == b).gender == "f")
    exact = replace(cohort, rules=replace(cohort.rules, gender_quotas=(GenderQuota("f", max_pairs=women),)))
    result = solve(exact, ONE)
    ctx = ExplainContext(result, ExplainOptions())
    reoptimiser = ctx.reoptimiser()
    assert reoptimiser is not None
    model = result.model
    chosen = set(result.best.rows.tolist()) if result.best is not None else set()
    for row in range(model.n_rows):
        a, b = int(model.mentee[row]), int(model.mentor[row])
        if row in chosen or model.mentor_gender[b] != 1 or model.capacity[b] == 0:
            continue
        found = reoptimiser.reoptimise(FlowChange(pin=(a, b)))
        if found is not None and found.feasible:
            count = int((model.mentor_gender[found.mentor] == 1).sum())
            assert count <= women  # what it answers keeps the quota

"""Why not these two: the hard rules that forbid a pair, or what forcing it would cost."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.explain.context import ExplainContext
from solver.explain.counterfactual import ResolveBudget, measure_impact, resolve_within_budget
from solver.explain.facts import explain_rows, pair_checks
from solver.explain.types import ExplainOptions, Impact, PairVerdict
from solver.explain.wording import id_list
from solver.reopt import FlowChange
from solver.scores import score_pairs
from solver.solve import SolveOptions, SolveResult, solve

# Why not these two? -----------------------------------------------------------------------------------


def why_not(cohort: Cohort, mentee_id: str, mentor_id: str, options: SolveOptions | None = None, *,
            result: SolveResult | None = None) -> PairVerdict:
    """Why this mentee and this mentor are not a pair in the best matching.

    Names the hard rules that forbid the pair, with the facts; when it is allowed, re-solves with the pair
    pinned and reports what forcing it costs: `forcing_cost` = objective(best) - objective(best with the pin).
    Pass the baseline `result` of the same cohort and options to save one solve.
    """
    problems = []
    if mentee_id not in cohort.mentee_index():
        problems.append(Problem(ProblemCode.UNKNOWN_ID, "mentee_id", f"'{mentee_id}' is no mentee of the cohort"))
    if mentor_id not in cohort.mentor_index():
        problems.append(Problem(ProblemCode.UNKNOWN_ID, "mentor_id", f"'{mentor_id}' is no mentor of the cohort"))
    if problems:
        raise CohortInvalid(problems)
    if result is None:
        result = solve(cohort, replace(options or SolveOptions(), alternatives=1))
    ctx = ExplainContext(result, ExplainOptions())
    cohort = ctx.cohort  # the solved (canonical, id-ordered) cohort: every index below refers to it
    a, b = ctx.mentee_index[mentee_id], ctx.mentor_index[mentor_id]
    checks = pair_checks(ctx, a, b)
    failed = tuple(c.rule for c in checks if not c.passed)
    scored = score_pairs(cohort, ctx.arrays, np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    explanation = explain_rows(cohort, ctx.arrays, scored, not failed)[0]
    partner = next((m for t, m in ctx.best_pairs if t == mentee_id), None)
    mentor_mentees = tuple(sorted(t for t, m in ctx.best_pairs if m == mentor_id))
    already = partner == mentor_id
    forced: Impact | None = None
    cost: int | None = None
    if failed:
        sentence = (f"{mentee_id} and {mentor_id} cannot be matched: "
                    + "; ".join(f"{c.rule.value}: {c.shortfall.detail if c.shortfall else ''}"
                                for c in checks if not c.passed) + ".")
    elif already:
        sentence = f"{mentee_id} and {mentor_id} are already matched together (score {explanation.score})."
    elif result.best is None:
        sentence = f"{mentee_id} and {mentor_id} are allowed, but there is no matching to compare with."
    else:
        pins = (*(p for p in cohort.rules.pins if p[0] != mentee_id), (mentee_id, mentor_id))
        budget = ResolveBudget(1, ctx.solve_options.time_limit_s, ctx.solve_options.time_limit_s)
        after = resolve_within_budget(ctx, replace(cohort, rules=replace(cohort.rules, pins=pins)), budget,
                                      change=FlowChange(pin=(a, b)))
        assert after is not None
        forced = measure_impact(ctx, after, None)
        if forced.objective_after is None:
            pinned = [t for t, m in cohort.rules.pins if m == mentor_id and t != mentee_id]
            capacity = cohort.mentors[b].capacity
            why = (f"{mentor_id}'s capacity ({capacity}) is taken by pinned mentee(s) {id_list(pinned)}"
                   if len(pinned) >= capacity else "pins, capacities or side constraints rule it out")
            sentence = (f"{mentee_id} and {mentor_id} are allowed, but forcing them together leaves no valid "
                        f"matching ({forced.status.value}): {why}.")
        else:
            cost = ctx.objective_value - forced.objective_after
            now = (f"{mentee_id} is matched with {partner}" if partner else f"{mentee_id} is unmatched")
            if any(p[0] == mentee_id for p in cohort.rules.pins):
                now += " (by a pin, which forcing replaces)"
            sentence = (f"{mentee_id} and {mentor_id} are allowed (score {explanation.score}) but not chosen: {now}, "
                        f"{mentor_id} has {id_list(list(mentor_mentees)) or 'no mentee'}. Forcing the pair costs "
                        f"{cost} in the objective: {forced.summary()}.")
    return PairVerdict(mentee_id, mentor_id, not failed, failed, checks, already, partner, mentor_mentees,
                       explanation, forced, cost, sentence)

"""Solving: the optimal matching and ranked, distinct alternatives, exact and deterministic.

Every mode is lexicographic (`solver.model.mode_key`): first the priority-weighted number of matched mentees,
then the mode's own criteria. A pure capacitated assignment (organisation caps included: each mentor belongs
to one organisation, so they nest as a flow layer) is solved exactly by min-cost flow (`solver.flow`); the
fairness mode by a threshold search over flows. Gender quotas whose groupings nest (no binding organisation cap
spans two quota groups) are a layer of that flow too (`solver.flow.quota_flow_optimum`: exact, infeasibility
included). Other gender quotas and distinctness are priced into the flow first (`solver.pricing`); CP-SAT (`solver.cpsat`) carries the rest (stages that cannot be folded into one weight, the
worst pair under side constraints, stability, extra constraints), hinted from and bounded by the flows.
Every matching that leaves here has been re-checked against the rules by `solver.verify`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from solver import kbest
from solver.budget import check_cp_sat_objective, check_magnitudes, magnitude_problem
from solver.candidates import IntArray
from solver.cpsat import WORST, CpOutcome, CpSearch, ExtraConstraints, Stage, cp_stages
from solver.domain import Cohort, ObjectiveMode
from solver.errors import CohortInvalid
from solver.flow import FlowCostRange, QuotaGroups, flow_optimum, quota_flow_optimum, quota_groups
from solver.model import (
    AssignmentModel,
    Matching,
    Objective,
    Progress,
    SolveStatus,
    build_model,
    check_matching,
    evaluate,
    flow_big,
    matching_span,
    mode_key,
)
from solver.pricing import (
    Lagrangian,
    PricedMemo,
    distinct_constraints,
    exact_distinct,
    lagrangian,
    meets,
    quota_constraints,
)
from solver.scores import CandidatePairs, candidate_pairs
from solver.stop import Stopped, StopToken, ambient
from solver.verify import AnswerChecker, verify_matchings

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

__all__ = [
    "AssignmentModel", "Matching", "Objective", "Progress", "SolveOptions", "SolveResult", "SolveStats",
    "SolveStatus", "build_model", "chain_constraints", "check_matching", "default_min_difference", "evaluate",
    "flow_optimum", "mode_key", "primary_weights", "solve",
]


@dataclass(frozen=True)
class SolveOptions:
    mode: ObjectiveMode = ObjectiveMode.SCORE
    alternatives: int = 3  # matchings wanted in all, the best included
    min_difference: int | None = None  # pairs by which each differs from every better one; None = max(1, 10 %)
    time_limit_s: float = 30.0
    seed: int = 0
    # Set it to cancel: the solver stops and returns what it has. A `solver.stop.StopToken` also brings its deadline.
    stop: threading.Event | StopToken | None = None
    on_progress: Callable[[Progress], None] | None = None
    stable: bool = False  # only matchings with no blocking pair under the speed-dating rankings
    # Further constraints over the pair variables; forces CP-SAT.
    extra_constraints: ExtraConstraints | None = None
    # The candidates' scores are not the rules' (re-matching's penalty weights): the answer check skips the scores
    # and objective, and the caller checks its own answer in real scores.
    synthetic_scores: bool = False


@dataclass(frozen=True)
class SolveStats:
    backend: str  # "min_cost_flow", "cp_sat" or both joined by "+"
    candidate_pairs: int
    wall_s: float
    build_s: float
    solve_s: float
    min_difference: int


@dataclass(frozen=True)
class SolveResult:
    status: SolveStatus
    matchings: list[Matching]
    bound: int  # proven upper bound on the `value` of any matching the mode could prefer; = the best's when OPTIMAL
    candidates: CandidatePairs
    model: AssignmentModel
    options: SolveOptions
    stats: SolveStats
    notes: list[str] = field(default_factory=list)  # e.g. "only 2 matchings differ by at least 4 pairs"

    @property
    def best(self) -> Matching | None:
        return self.matchings[0] if self.matchings else None


ALTERNATIVE_EVALUATIONS = 16  # flows spent pricing an alternative before CP-SAT takes over
DISTINCT_EVALUATIONS = 24
"""Flows spent on the exact duals of "differs from each better matching" (`solver.pricing.exact_distinct`) per
alternative: measured 5 for the second and 7 for the third on kvinfo_network (300 x 280; the third walks the
second's prices again from `_Run.priced_memo` without flows, 13 before)."""
FAST_ALTERNATIVES = True
"""Alternatives (matchings 2, 3, ...) by pricing "differ from each better matching" into the flow, and a
presolve-free CP-SAT search from that hint when the pricing does not prove optimality. Measured with
`make bench` (case S against S-plain): 80 x 80, three matchings, 293 ms -> 103 ms in process, the same objective
values. Among equally good alternatives it may pick another one than the plain CP-SAT search does; False
restores that search (the benchmark's comparison uses it)."""

SMALL_MODEL_ROWS = 400
"""Below this many candidate pairs, alternatives go straight to CP-SAT without presolve: on a model this small
the search is cheaper than the pricing flows (15 x 15 Lyngby, 186 pairs: 28 -> 20 ms for three matchings), and
it runs outside the interpreter lock, so concurrent calls overlap."""

CP_SAT_LOAD_S_PER_ROW = 4e-6
"""Seconds per candidate pair that CP-SAT takes to write and load a model before its search can do anything (no
stop interrupts the loading): measured 2.5-4.5 us at 1.6 million pairs. With less time left than that, a priced
matching in hand is the answer (FEASIBLE) rather than a search that cannot start."""

_FOLD_LIMIT = 2**58  # a folded stage's matching weight times the flow's nodes stays below this, with room for prices


# Stages -----------------------------------------------------------------------------------------------


def primary_weights(model: AssignmentModel) -> IntArray:
    """The score mode's one weight per row: `big` per matched mentee (times priority) plus the pair's score."""
    return np.asarray(model.big * model.priority[model.mentee] + model.score, dtype=np.int64)


def _matching_span(model: AssignmentModel, weights: IntArray) -> int:
    return matching_span(model.mentee, model.candidates.arrays.n_mentees, weights, model.max_seat_cost)


def _fold(model: AssignmentModel, stages: list[IntArray]) -> list[Stage]:
    """Lexicographic stages with adjacent ones folded into one weight (earlier x span of later + later), from the
    last one back, as long as the weights stay exact in int64 for the flow and CP-SAT.

    [matched, score] folds into the primary weight; rank-maximal folds as many rank levels as fit, so a cohort
    without rankings is one stage, solved by flow like the score mode.
    """
    nodes = model.candidates.arrays.n_mentees + model.candidates.arrays.n_mentors + len(model.org_caps) + 2
    limit = _FOLD_LIMIT // nodes
    folded = stages[-1]
    tail: list[Stage] = []
    for stage in reversed(stages[:-1]):
        span = _matching_span(model, folded)
        if _matching_span(model, stage) * span < limit:
            folded = stage * span + folded
        else:
            tail.insert(0, folded)
            folded = stage
    return [folded, *tail]


def _mode_stages(model: AssignmentModel, mode: ObjectiveMode) -> list[Stage]:
    matched = np.asarray(model.priority[model.mentee], dtype=np.int64)
    if mode is ObjectiveMode.FAIRNESS:
        return [matched, WORST, model.score]
    if mode is ObjectiveMode.RANK_MAXIMAL:
        top = int(model.mentee_rank.max(initial=0))
        ranks = [(model.mentee_rank == r).astype(np.int64) for r in range(1, top + 1)]
        return _fold(model, [matched, *ranks, model.score])
    return [primary_weights(model)]


# One weight, every constraint --------------------------------------------------------------------------


@dataclass
class _Run:
    """What one solve carries between its steps."""

    model: AssignmentModel
    options: SolveOptions
    stages: list[Stage]
    extra: ExtraConstraints | None
    deadline: float
    started: float
    backends: list[str]
    notes: list[str]
    progress_rank: int = 1
    flows: list[tuple[IntArray, IntArray | None, IntArray]] = field(default_factory=list)
    quota_flows: list[tuple[IntArray, IntArray | None, IntArray | None]] = field(default_factory=list)
    priced_memos: list[tuple[IntArray, IntArray | None, bool, PricedMemo]] = field(default_factory=list)
    primary: IntArray | None = None  # the score mode's weights (`primary_weights`)
    small_primary: IntArray | None = None  # the same order of matchings in smaller numbers (`flow_big`)

    @property
    def limit(self) -> StopToken:
        """The stop of the work after the first flow: the caller's (cancellation, its deadline) and the time limit.
        A big flow or CP-SAT search it stops is killed (`solver.stop.run_in_child`): the solve returns on time."""
        return StopToken.of(self.options.stop).until(self.deadline)

    def quota_flow(self, weights: IntArray, allowed: IntArray | None, groups: QuotaGroups) -> IntArray | None:
        """`quota_flow_optimum` of `weights` on the `allowed` rows, each computed once per solve (None: the quotas
        cannot hold there); stops with the time limit (raises `solver.stop.Stopped`)."""
        for known_weights, known_allowed, rows in self.quota_flows:
            same_rows = known_allowed is None if allowed is None else (
                known_allowed is not None and np.array_equal(known_allowed, allowed))
            if same_rows and np.array_equal(known_weights, weights):
                return rows
        try:
            found = quota_flow_optimum(self.model, weights, groups, allowed, stop=self.limit)
        except FlowCostRange:
            found = quota_flow_optimum(self.model, self._smaller(weights), groups, allowed, stop=self.limit)
        self.quota_flows = [*self.quota_flows[-3:], (weights, allowed, found)]
        return found

    def flow(self, weights: IntArray, allowed: IntArray | None = None, *, first: bool = False) -> IntArray:
        """`flow_optimum` of `weights` on the `allowed` rows, each computed once per solve: the best matching's
        relaxation, its alternatives' and the pricing's first flow are the same one (seconds on a dense cohort).
        The `first` flow (what every answer starts from) stops with the caller's stop only; any later one with the
        time limit too (raises `solver.stop.Stopped`)."""
        for known_weights, known_allowed, rows in self.flows:
            same_rows = known_allowed is None if allowed is None else (
                known_allowed is not None and np.array_equal(known_allowed, allowed))
            if same_rows and (known_weights is weights or np.array_equal(known_weights, weights)):
                return rows
        stop = self.options.stop if first else self.limit
        try:
            rows = flow_optimum(self.model, weights, allowed, stop=stop)
        except FlowCostRange:
            rows = flow_optimum(self.model, self._smaller(weights), allowed, stop=stop)
        self.flows = [*self.flows[-3:], (weights, allowed, rows)]
        return rows

    def _smaller(self, weights: IntArray) -> IntArray:
        """The primary weights with `flow_big` for `big` (the same optimum, by the same argument) where the flow's
        prices overflowed with `big`'s: other weights, or these overflowing too, raise `FlowCostRange` again."""
        primary = self.primary
        if primary is None or not (weights is primary or np.array_equal(weights, primary)):
            raise FlowCostRange("min-cost flow: costs out of range")
        if self.small_primary is None:
            model = self.model
            self.small_primary = np.asarray(flow_big(model) * model.priority[model.mentee] + model.score,
                                            dtype=np.int64)
        return self.small_primary

    def priced_memo(self, weights: IntArray, allowed: IntArray | None, quotas: bool) -> PricedMemo:
        """The priced optima met so far for `weights` on the `allowed` rows (by the flow with the `quotas` or
        without): the alternatives of one solve share them, so each walks its predecessors' prices for free."""
        for known_weights, known_allowed, known_quotas, memo in self.priced_memos:
            same_rows = known_allowed is None if allowed is None else (
                known_allowed is not None and np.array_equal(known_allowed, allowed))
            if same_rows and known_quotas == quotas and np.array_equal(known_weights, weights):
                return memo
        memo = PricedMemo()
        self.priced_memos = [*self.priced_memos[-1:], (weights, allowed, quotas, memo)]  # 2 at most: 2 x 16 MB
        return memo

    def report(self, value: int, bound: int) -> None:
        if self.options.on_progress is not None:
            self.options.on_progress(Progress(self.progress_rank, value, bound, time.monotonic() - self.started))

    def use(self, backend: str) -> None:
        if backend not in self.backends:
            self.backends.append(backend)

    def search(self, *, presolve: bool = True, report: bool = False) -> CpSearch:
        return CpSearch(self.deadline, self.options.seed, self.options.stop, self.extra,
                        self.report if report else None, presolve)


def _exact(run: _Run, weights: IntArray, allowed: IntArray | None, previous: list[IntArray], min_difference: int,
           hint: IntArray | None, *, report: bool) -> CpOutcome:
    """The matching of largest total `weights` on the `allowed` rows (None: all; pins always) under every
    constraint: capacities and caps (flow), quotas and "differs from each of `previous`" (priced into the flow,
    then CP-SAT from the priced hint), extra constraints (CP-SAT). `bound` is a proven bound on the weight."""
    model = run.model
    constraints = quota_constraints(model) + distinct_constraints(model, previous, min_difference)
    relaxed = run.flow(weights, allowed)
    relaxed_value = model.weight(weights, relaxed)
    # The flow keeps capacities and caps unless the pins alone break them (then only CP-SAT can say INFEASIBLE).
    flow_kept = all(v.startswith("gender quota") for v in check_matching(model, relaxed))
    if run.extra is None and flow_kept and meets(relaxed, constraints):  # the relaxation's optimum meets them
        if report:
            run.report(relaxed_value, relaxed_value)
        return CpOutcome(relaxed, SolveStatus.OPTIMAL, relaxed_value)
    groups = quota_groups(model) if run.extra is None and flow_kept else None
    pricing_flow = None
    if groups is not None:
        # Laminar quotas: the flow with each quota's [min, max] on its group's arc is exact (`solver.flow`).
        in_quota = run.quota_flow(weights, allowed, groups)
        if in_quota is None:
            return CpOutcome(None, SolveStatus.INFEASIBLE, relaxed_value)
        relaxed, relaxed_value = in_quota, model.weight(weights, in_quota)
        constraints = distinct_constraints(model, previous, min_difference)
        if meets(relaxed, constraints):
            if report:
                run.report(relaxed_value, relaxed_value)
            return CpOutcome(relaxed, SolveStatus.OPTIMAL, relaxed_value)

        def pricing_flow(priced_model: AssignmentModel, priced: IntArray, rows: IntArray | None, stop: StopToken
                         ) -> IntArray | None:
            return quota_flow_optimum(priced_model, priced, groups, rows, stop=stop)
    priced: Lagrangian | None = None
    small = FAST_ALTERNATIVES and bool(previous) and model.n_rows < SMALL_MODEL_ROWS
    if run.extra is None and flow_kept and not small and (FAST_ALTERNATIVES or not previous):
        # Quotas and distinctness priced into the flow: often a matching that meets its own bound, proven without
        # CP-SAT; otherwise a valid near-optimal hint and a tight bound for it.
        try:
            if previous:
                # "Differs from each of `previous`" at its exact dual: the bound CP-SAT's root LP would reach, often
                # with a priced matching that meets it (OPTIMAL here, no CP-SAT).
                priced = exact_distinct(model, weights, constraints, run.deadline, max_evaluations=DISTINCT_EVALUATIONS,
                                        stop=run.limit, allowed_rows=allowed, relaxed=relaxed, flow=pricing_flow,
                                        memo=run.priced_memo(weights, allowed, pricing_flow is not None))
            if priced is None or priced.rows is None:
                found = lagrangian(model, weights, constraints, run.deadline,
                                   max_evaluations=ALTERNATIVE_EVALUATIONS if previous else 40, stop=run.limit,
                                   allowed_rows=allowed, relaxed=relaxed, flow=pricing_flow)
                priced = found if priced is None else Lagrangian(
                    found.rows, found.value, min(found.bound, priced.bound), priced.evaluations + found.evaluations)
        except FlowCostRange:  # the prices' flows overflow (a big beyond the flow's range): CP-SAT alone
            priced = None
        if priced is not None:
            run.use("lagrangian")
        if priced is not None and priced.rows is not None:
            if report:
                run.report(priced.value, min(priced.bound, relaxed_value))
            if priced.proven:
                return CpOutcome(priced.rows, SolveStatus.OPTIMAL, priced.value)
            if run.limit.remaining() < CP_SAT_LOAD_S_PER_ROW * model.n_rows:
                # Stopped, or too little time left for CP-SAT even to load the model: the priced matching stands.
                return CpOutcome(priced.rows, SolveStatus.FEASIBLE, min(priced.bound, relaxed_value))
            hint = priced.rows
    run.use("cp_sat")
    mask = None
    if allowed is not None:
        mask = np.zeros(model.n_rows, dtype=np.bool_)
        mask[allowed] = True
        mask[model.pinned_rows] = True
    # From a valid near-optimal hint, CP-SAT's presolve costs more than it saves: measured 14 s of presolve vs an
    # 8 s proof without on 2,000 x 2,000, and half the time on 80 x 80 alternatives; on small models the search
    # is cheaper than presolve.
    presolve = (priced is None or priced.rows is None) and not small
    within = None
    if priced is not None and priced.rows is not None:
        # The optimum lies between the priced matching and the proven bound: CP-SAT looks there only, and ends
        # as soon as it meets the bound.
        within = (priced.value, min(priced.bound, relaxed_value))
    check_cp_sat_objective(model, [weights])
    outcome = cp_stages(model, [weights], run.search(presolve=presolve, report=report), distinct_from=previous,
                        min_difference=min_difference, hint=hint, allowed=mask, within=within)
    bound = min(outcome.bound, relaxed_value) if outcome.rows is not None else relaxed_value
    if priced is not None:
        bound = min(bound, priced.bound)
        if priced.rows is not None and (outcome.rows is None or model.weight(weights, outcome.rows) < priced.value):
            return CpOutcome(priced.rows, SolveStatus.FEASIBLE, bound)  # CP-SAT stopped before doing as well
    return CpOutcome(outcome.rows, outcome.status, bound)


def _priority(model: AssignmentModel, rows: IntArray) -> int:
    return int(model.priority[model.mentee[rows]].sum())


def _fair(run: _Run, previous: list[IntArray], min_difference: int, hint: IntArray | None) -> CpOutcome:
    """Fairness under every constraint but extra ones: the most priority matched, then the highest worst pair
    (pins included), then the highest total, by a bisection over score thresholds, each an exact `_exact` solve.

    The largest threshold t at which the best matching on the pairs scoring >= t still matches as much priority
    as on all pairs is the worst pair's score, and that solve's matching is the fairness optimum.
    """
    model = run.model
    primary = primary_weights(model)
    top = _exact(run, primary, None, previous, min_difference, hint, report=False)
    if top.rows is None:
        return top
    target = _priority(model, top.rows)
    thresholds = np.unique(model.score)
    if len(model.pinned_rows):  # a pinned pair is always matched: the worst pair is at most its score
        thresholds = thresholds[thresholds <= model.score[model.pinned_rows].min()]
    if len(top.rows) == 0 or len(thresholds) == 0:
        return top
    proven = top.status is SolveStatus.OPTIMAL
    best = top
    lo = int(np.searchsorted(thresholds, model.score[top.rows].min()))  # `top` itself reaches this one
    hi = len(thresholds) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        allowed = np.flatnonzero(model.score >= thresholds[mid]).astype(np.int64)
        probe = _exact(run, primary, allowed, previous, min_difference, best.rows, report=False)
        proven &= probe.status in (SolveStatus.OPTIMAL, SolveStatus.INFEASIBLE)
        if probe.rows is not None and _priority(model, probe.rows) == target:
            lo, best = mid, probe
        else:
            hi = mid - 1
    status = SolveStatus.OPTIMAL if proven and best.status is SolveStatus.OPTIMAL else SolveStatus.FEASIBLE
    return CpOutcome(best.rows, status, top.bound)


def _optimum(run: _Run, previous: list[IntArray], min_difference: int, hint: IntArray | None) -> CpOutcome:
    """The best matching in the mode's order that differs from each of `previous` in >= `min_difference` pairs."""
    if len(run.stages) == 1 and run.stages[0] is not None:
        return _exact(run, run.stages[0], None, previous, min_difference, hint, report=True)
    if run.options.mode is ObjectiveMode.FAIRNESS and run.extra is None:
        return _fair(run, previous, min_difference, hint)
    # Stages that do not fold into one weight, or constraints only CP-SAT knows (stability, re-matching).
    run.use("cp_sat")
    check_cp_sat_objective(run.model, run.stages)
    return cp_stages(run.model, run.stages, run.search(), distinct_from=previous, min_difference=min_difference,
                     hint=hint)


# Solve ------------------------------------------------------------------------------------------------


def chain_constraints(first: ExtraConstraints | None, second: ExtraConstraints) -> ExtraConstraints:
    """Extra CP-SAT constraints that add `first`'s (when given) and then `second`'s."""
    def both(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], model: AssignmentModel) -> None:
        if first is not None:
            first(cp, x, model)
        second(cp, x, model)

    return both


def default_min_difference(n_pairs: int) -> int:
    """max(1, ceil(10 % of the best matching's pairs)): how many of a better matching's pairs an alternative drops."""
    return max(1, math.ceil(0.10 * n_pairs)) if n_pairs else 1


def solve(source: Cohort | CandidatePairs, options: SolveOptions | None = None) -> SolveResult:
    """The best matching and up to `options.alternatives - 1` ranked alternatives.

    Raises `CohortInvalid` (TOO_LARGE, the values to lower) when the objective's numbers leave what the solvers
    hold exactly: up front where that is known (`solver.budget.check_magnitudes`), else when a flow's prices
    overflow (`solver.flow.FlowCostRange`: how far they fall depends on the data, known only by running it)."""
    made: list[tuple[AssignmentModel, IntArray]] = []
    try:
        return _solve(source, options, made)
    except FlowCostRange:
        if not made:
            raise
        model, primary = made[0]
        raise CohortInvalid([magnitude_problem(
            model, primary, "the min-cost flow's prices (its costs x its nodes, lowered further as it searches) "
            "overflowed 64-bit integers")]) from None


def _solve(source: Cohort | CandidatePairs, options: SolveOptions | None,
           made: list[tuple[AssignmentModel, IntArray]]) -> SolveResult:
    options = options or SolveOptions()
    if options.stop is None and ambient() is not None:  # a command line's Ctrl-C, however deep this solve is
        options = replace(options, stop=ambient())
    started = time.monotonic()
    deadline = started + options.time_limit_s
    if isinstance(options.stop, StopToken) and options.stop.deadline is not None:
        deadline = min(deadline, options.stop.deadline)
    # Participants in id order: the order of the input's rows decides no tie (README); the result's candidates
    # (and so every row index in it) refer to this canonical cohort.
    candidates = source if isinstance(source, CandidatePairs) else candidate_pairs(source.canonical(), stop=options.stop)
    extra = options.extra_constraints
    if options.stable:
        # Stability imports CP-SAT's module (~0.4 s): only where it is needed.
        from solver.stability import add_stability_constraints

        extra = chain_constraints(extra, add_stability_constraints)
    model = build_model(candidates)
    built = time.monotonic()
    run = _Run(model, options, _mode_stages(model, options.mode), extra, deadline, started, ["min_cost_flow"], [])
    # The score mode's one stage is the primary weight: the same array, so `_exact` finds this flow by identity.
    stage = run.stages[0]
    primary = stage if options.mode is ObjectiveMode.SCORE and stage is not None else primary_weights(model)
    # Numbers the flows cannot hold exactly (every value in range, but all near the top) are refused here, with the
    # values to lower (CP-SAT's limit where it is needed): never a solver's overflow (BAD_COST_RANGE, MODEL_INVALID).
    check_magnitudes(model, primary, np.asarray(flow_big(model) * model.priority[model.mentee] + model.score,
                                                dtype=np.int64))
    run.primary = primary
    made.append((model, primary))  # for `solve`'s message, should a flow's prices overflow
    relaxed = run.flow(primary, first=True)
    # The flow optimum without quotas and extra constraints bounds every valid matching's value.
    bound = model.weight(primary, relaxed)
    try:
        outcome = _optimum(run, [], 0, relaxed)
    except Stopped:
        outcome = CpOutcome(None, SolveStatus.UNKNOWN, bound)
    best_rows, status = outcome.rows, outcome.status
    if options.mode is ObjectiveMode.SCORE and best_rows is not None:
        bound = min(bound, outcome.bound)
    if best_rows is None and status is SolveStatus.UNKNOWN and run.extra is None and not check_matching(model, relaxed):
        # Stopped before anything better was proven, but the flow optimum meets every constraint (it is optimal
        # for the first criterion only, e.g. rank-maximal or fairness): the best known, not nothing.
        best_rows, status = relaxed, SolveStatus.FEASIBLE
    matchings: list[Matching] = []
    checker = AnswerChecker(candidates)
    if best_rows is None:
        if status is SolveStatus.INFEASIBLE:
            what = "pins, organisation caps, gender quotas" + (", stability" if options.stable else "")
            run.notes.append(f"the side constraints ({what}) cannot all hold")
            # Which of them conflict and what is attainable instead, exactly, in the time left: every answer (the
            # command line, every RPC) says so, with or without explanations.
            # It imports CP-SAT's module (~0.4 s): only where it is needed.
            from solver.infeasibility import diagnose_infeasible

            run.notes.extend(diagnose_infeasible(model, stable=options.stable, stop=options.stop,
                                                 time_limit_s=max(0.0, deadline - time.monotonic())))
            bound = 0
    else:
        best = Matching(1, best_rows, evaluate(model, best_rows, options.mode), status)
        if not _abandoned(options):
            checker.check_pairs(best)  # now, while nothing waits: at the end only the alternatives' new pairs remain
            matchings.append(best)
            if status is SolveStatus.OPTIMAL:
                bound = best.objective.value
            _alternatives(run, matchings, options)
    min_difference = options.min_difference or default_min_difference(len(best_rows) if best_rows is not None else 0)
    if _abandoned(options):
        # The caller has gone: no answer is checked (0.1-0.3 s at 3,000 pairs, after the call's end), none leaves.
        matchings, status = [], SolveStatus.UNKNOWN
        run.notes.append("abandoned: the caller went away before the answer; no matching is given")
    else:
        verify_matchings(candidates, matchings, options.mode, stable=options.stable, min_difference=min_difference,
                         scores=not options.synthetic_scores, checker=checker)
    finished = time.monotonic()
    return SolveResult(
        status=status,
        matchings=matchings,
        bound=bound,
        candidates=candidates,
        model=model,
        options=options,
        stats=SolveStats("+".join(run.backends), model.n_rows, finished - started, built - started, finished - built,
                         min_difference),
        notes=run.notes,
    )


def _abandoned(options: SolveOptions) -> bool:
    """Whether the caller has gone (`solver.stop.StopToken.abandon`): nobody will read the answer."""
    return isinstance(options.stop, StopToken) and options.stop.abandoned


def _alternatives(run: _Run, matchings: list[Matching], options: SolveOptions) -> None:
    """Append matchings 2..K to `matchings` (which holds the best), with a note wherever fewer come back."""
    wanted = max(1, options.alternatives)
    best = matchings[0]
    min_difference = options.min_difference or default_min_difference(len(best.rows))
    if wanted > 1 and best.status is not SolveStatus.OPTIMAL:
        run.notes.append(f"no alternatives searched: the best matching is not proven optimal ({best.status.value}, "
                         "time limit or cancellation)")
        return
    if wanted > 1 and _ranked(run, matchings, wanted, min_difference):
        return
    while len(matchings) < wanted:
        if (options.stop is not None and options.stop.is_set()) or time.monotonic() >= run.deadline:
            run.notes.append(f"stopped after {len(matchings)} matching(s): time limit or cancellation")
            return
        run.progress_rank = len(matchings) + 1
        previous = [m.rows for m in matchings]
        try:
            # Hinted from the last matching: an alternative usually differs from it in a few pairs only.
            outcome = _optimum(run, previous, min_difference, previous[-1])
        except Stopped:
            outcome = CpOutcome(None, SolveStatus.UNKNOWN, 0)
        if outcome.status is not SolveStatus.OPTIMAL and options.stop is not None and options.stop.is_set():
            # Cancelled, past the caller's deadline or drained: what is proven so far is the answer (the caller has
            # mostly gone; an unproven alternative would cost its answer check after the end).
            outcome = CpOutcome(None, SolveStatus.UNKNOWN, 0)
        if outcome.rows is None:
            if outcome.status is SolveStatus.INFEASIBLE:
                run.notes.append(f"only {len(matchings)} matching(s) differ from each other in at least "
                                 f"{min_difference} pair(s)")
            else:
                run.notes.append(f"stopped after {len(matchings)} matching(s): time limit or cancellation")
            return
        changed = len(set(best.rows.tolist()) - set(outcome.rows.tolist()))
        matchings.append(Matching(len(matchings) + 1, outcome.rows, evaluate(run.model, outcome.rows, options.mode),
                                  outcome.status, pairs_changed_vs_best=changed))
        if outcome.status is not SolveStatus.OPTIMAL:
            run.notes.append(f"matching {len(matchings)} is not proven optimal (time limit or cancellation); "
                             "no further alternatives searched")
            return


def _ranked(run: _Run, matchings: list[Matching], wanted: int, min_difference: int) -> bool:
    """Alternatives by exact ranking without CP-SAT (`solver.kbest`) where the model is a pure assignment, appended
    to `matchings`; True when nothing is left to search (all found, or proven that no further one exists)."""
    weights = run.stages[0] if len(run.stages) == 1 else None
    if weights is None or not kbest.applies(run.model, weights, extra=run.extra is not None):
        return False
    ranked = kbest.alternatives(run.model, weights, [matchings[0].rows], wanted - 1, min_difference,
                                stop=run.options.stop, deadline=run.deadline)
    run.use("k_best")
    best = set(matchings[0].rows.tolist())
    for rows in ranked.found:
        run.progress_rank = len(matchings) + 1
        if run.options.on_progress is not None:  # the value only for a listener (the answer's is `evaluate`'s)
            value = run.model.weight(weights, rows)
            run.report(value, value)
        matchings.append(Matching(len(matchings) + 1, rows, evaluate(run.model, rows, run.options.mode),
                                  SolveStatus.OPTIMAL, pairs_changed_vs_best=len(best - set(rows.tolist()))))
    if ranked.exhausted:
        run.notes.append(f"only {len(matchings)} matching(s) differ from each other in at least {min_difference} "
                         "pair(s)")
    return ranked.exhausted or len(matchings) >= wanted

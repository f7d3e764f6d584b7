"""Solving: the optimal matching and ranked, distinct alternatives, exact and deterministic.

Every mode is lexicographic (`solver.model.mode_key`): first the priority-weighted number of matched mentees,
then the mode's own criteria. A pure capacitated assignment (organisation caps included: each mentor belongs
to one organisation, so they nest as a flow layer) is solved exactly by min-cost flow (`solver.flow`); the
fairness mode by a threshold search over flows. Gender quotas and distinctness are priced into the flow first
(`solver.pricing`); CP-SAT (`solver.cpsat`) carries the rest (stages that cannot be folded into one weight, the
worst pair under side constraints, stability, extra constraints), hinted from and bounded by the flows.
Every matching that leaves here has been re-checked against the rules by `solver.verify`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.sat.python import cp_model

from solver.candidates import IntArray
from solver.cpsat import WORST, CpOutcome, CpSearch, ExtraConstraints, Stage, cp_stages
from solver.domain import Cohort, ObjectiveMode
from solver.flow import flow_optimum
from solver.model import (
    AssignmentModel,
    Matching,
    Objective,
    Progress,
    SolveStatus,
    build_model,
    check_matching,
    evaluate,
    mode_key,
)
from solver.pricing import Lagrangian, distinct_constraints, lagrangian, quota_constraints
from solver.scores import CandidatePairs, candidate_pairs
from solver.stability import add_stability_constraints
from solver.stop import Stopped
from solver.verify import verify_matchings

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
    stop: threading.Event | None = None  # set it to cancel: the solver stops and returns what it has
    on_progress: Callable[[Progress], None] | None = None
    stable: bool = False  # only matchings with no blocking pair under the speed-dating rankings
    # Further constraints over the pair variables; forces CP-SAT.
    extra_constraints: Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None] | None = None


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

_FOLD_LIMIT = 2**58  # a folded stage's matching weight times the flow's nodes stays below this, with room for prices


# Stages -----------------------------------------------------------------------------------------------


def primary_weights(model: AssignmentModel) -> IntArray:
    """The score mode's one weight per row: `big` per matched mentee (times priority) plus the pair's score."""
    return np.asarray(model.big * model.priority[model.mentee] + model.score, dtype=np.int64)


def _matching_span(model: AssignmentModel, weights: IntArray) -> int:
    """More than any matching's total of non-negative `weights`: each mentee's best row, summed, plus one."""
    best = np.zeros(model.candidates.arrays.n_mentees, dtype=np.int64)
    np.maximum.at(best, model.mentee, weights)
    return int(best.sum()) + 1


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


# Fairness by flows ------------------------------------------------------------------------------------


def _fairness_flow(model: AssignmentModel, stop: threading.Event | None) -> IntArray:
    """The fairness optimum without quotas or extra constraints: most priority matched, then the highest worst
    pair score (pins included), then the highest total, by a bisection over score thresholds, one flow each."""
    matched = np.asarray(model.priority[model.mentee], dtype=np.int64)
    target = int(matched[flow_optimum(model, matched, stop=stop)].sum())
    thresholds = np.unique(model.score)
    if len(model.pinned_rows):  # a pinned pair is always matched: the worst pair is at most its score
        thresholds = thresholds[thresholds <= model.score[model.pinned_rows].min()]
    pinned = np.zeros(model.n_rows, dtype=np.bool_)
    pinned[model.pinned_rows] = True

    def allowed(k: int) -> IntArray:
        return np.flatnonzero((model.score >= thresholds[k]) | pinned).astype(np.int64)

    lo, hi = 0, len(thresholds) - 1  # thresholds[lo] always reaches the target (no pair scores below it)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if int(matched[flow_optimum(model, matched, allowed(mid), stop=stop)].sum()) == target:
            lo = mid
        else:
            hi = mid - 1
    if len(thresholds) == 0:
        return np.zeros(0, dtype=np.int64)
    return flow_optimum(model, primary_weights(model), allowed(lo), stop=stop)


# The best matching ------------------------------------------------------------------------------------


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

    def report(self, value: int, bound: int) -> None:
        if self.options.on_progress is not None:
            self.options.on_progress(Progress(self.progress_rank, value, bound, time.monotonic() - self.started))

    def use(self, backend: str) -> None:
        if backend not in self.backends:
            self.backends.append(backend)

    @property
    def single_stage(self) -> bool:
        """One weight to maximise and no constraint beyond what flows and pricing carry."""
        return len(self.stages) == 1 and self.extra is None

    def search(self, *, presolve: bool = True, report: bool = False) -> CpSearch:
        return CpSearch(self.deadline, self.options.seed, self.options.stop, self.extra,
                        self.report if report else None, presolve)


def _best(run: _Run, relaxed: IntArray) -> tuple[IntArray | None, SolveStatus, int | None]:
    """The best matching, its status, and a proven bound on the primary weight when one is known."""
    model, options = run.model, run.options
    violations = check_matching(model, relaxed)
    only_quotas = all(v.startswith("gender quota") for v in violations)
    hint: IntArray = relaxed
    if run.extra is None and options.mode is ObjectiveMode.FAIRNESS:
        try:
            fair = _fairness_flow(model, options.stop)
        except Stopped:
            return (relaxed, SolveStatus.FEASIBLE, None) if not violations else (None, SolveStatus.UNKNOWN, None)
        if not check_matching(model, fair):  # quotas met by the relaxation's optimum: optimal under them too
            return fair, SolveStatus.OPTIMAL, None
        hint = fair
    elif run.single_stage:
        if options.mode is not ObjectiveMode.SCORE:  # rank-maximal folded into one weight: its own flow optimum
            relaxed = flow_optimum(model, run.stages[0], stop=options.stop)  # type: ignore[arg-type]
            violations = check_matching(model, relaxed)
            only_quotas = all(v.startswith("gender quota") for v in violations)
            hint = relaxed
        if not violations:
            value = int(run.stages[0][relaxed].sum())  # type: ignore[index]
            run.report(value, value)
            return relaxed, SolveStatus.OPTIMAL, None
    priced: Lagrangian | None = None
    if run.single_stage and only_quotas:
        # Only the quotas fail: price them into the flow for a valid near-optimal matching and a tight bound.
        priced = lagrangian(model, run.stages[0], quota_constraints(model), run.deadline, stop=options.stop)  # type: ignore[arg-type]
        run.use("lagrangian")
        if priced.rows is not None:
            run.report(priced.value, priced.bound)
            if priced.proven:  # the priced matching meets its own bound: optimal, CP-SAT has nothing to add
                return priced.rows, SolveStatus.OPTIMAL, priced.bound
            if options.stop is not None and options.stop.is_set():
                return priced.rows, SolveStatus.FEASIBLE, priced.bound  # cancelled while pricing: the best so far
            hint = priced.rows
    run.use("cp_sat")
    # From a valid near-optimal hint, CP-SAT's presolve costs more than it saves: measured 14 s of presolve vs an
    # 8 s proof without on 2,000 x 2,000, and half the time on 80 x 80 alternatives.
    presolve = priced is None or priced.rows is None
    outcome = cp_stages(model, run.stages, run.search(presolve=presolve, report=run.single_stage),
                        distinct_from=[], min_difference=0, hint=hint)
    bound = None
    if run.single_stage and outcome.rows is not None:
        bound = outcome.bound if priced is None else min(outcome.bound, priced.bound)
    rows, status = outcome.rows, outcome.status
    if priced is not None and priced.rows is not None and (
            rows is None or run.stages[0][rows].sum() < priced.value):  # type: ignore[index]
        rows, status = priced.rows, SolveStatus.FEASIBLE  # CP-SAT stopped before it found as good a matching
    if rows is None and status is SolveStatus.UNKNOWN and run.extra is None and not violations:
        # Stopped before CP-SAT found anything, but the flow optimum meets every constraint (it is optimal for
        # the first criterion only, e.g. rank-maximal or fairness): the best known, not nothing.
        rows, status = relaxed, SolveStatus.FEASIBLE
    return rows, status, bound


# Alternatives -----------------------------------------------------------------------------------------


def _alternative(run: _Run, previous: list[IntArray], min_difference: int) -> CpOutcome:
    """The best matching that differs from each of `previous` in at least `min_difference` of its pairs."""
    model, options = run.model, run.options
    hint = previous[-1]  # an alternative usually differs from the last matching in a few pairs only
    priced: Lagrangian | None = None
    if FAST_ALTERNATIVES and run.single_stage and model.n_rows >= SMALL_MODEL_ROWS:
        # "Differ from each better matching" and the quotas are side constraints over rows: priced into the
        # flow, they often give a matching that meets its own bound, proven without CP-SAT.
        weights = run.stages[0]
        assert weights is not None
        priced = lagrangian(model, weights, quota_constraints(model) + distinct_constraints(model, previous,
                                                                                            min_difference),
                            run.deadline, max_evaluations=ALTERNATIVE_EVALUATIONS, stop=options.stop)
        run.use("lagrangian")
        if priced.proven:
            assert priced.rows is not None
            run.report(priced.value, priced.bound)
            return CpOutcome(priced.rows, SolveStatus.OPTIMAL, priced.bound)
        if priced.rows is not None:
            hint = priced.rows
    run.use("cp_sat")
    presolve = (priced is None or priced.rows is None) and not (FAST_ALTERNATIVES and model.n_rows < SMALL_MODEL_ROWS)
    outcome = cp_stages(model, run.stages, run.search(presolve=presolve, report=run.single_stage),
                        distinct_from=previous, min_difference=min_difference, hint=hint)
    if priced is not None and priced.rows is not None and run.stages[0] is not None and (
            outcome.rows is None or run.stages[0][outcome.rows].sum() < priced.value):
        return CpOutcome(priced.rows, SolveStatus.FEASIBLE, outcome.bound)
    return outcome


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
    """The best matching and up to `options.alternatives - 1` ranked alternatives."""
    options = options or SolveOptions()
    started = time.monotonic()
    deadline = started + options.time_limit_s
    candidates = source if isinstance(source, CandidatePairs) else candidate_pairs(source)
    extra = options.extra_constraints
    if options.stable:
        extra = chain_constraints(extra, add_stability_constraints)
    model = build_model(candidates)
    built = time.monotonic()
    run = _Run(model, options, _mode_stages(model, options.mode), extra, deadline, started, ["min_cost_flow"], [])
    primary = primary_weights(model)
    relaxed = flow_optimum(model, primary, stop=options.stop)
    # The flow optimum without quotas and extra constraints bounds every valid matching's value.
    bound = int(primary[relaxed].sum())
    best_rows, status, proven = _best(run, relaxed)
    if proven is not None and options.mode is ObjectiveMode.SCORE:  # other modes' stages weigh rows otherwise
        bound = min(bound, proven)
    matchings: list[Matching] = []
    if best_rows is None:
        if status is SolveStatus.INFEASIBLE:
            what = "pins, organisation caps, gender quotas" + (", stability" if options.stable else "")
            run.notes.append(f"the side constraints ({what}) cannot all hold")
            bound = 0
    else:
        best = Matching(1, best_rows, evaluate(model, best_rows, options.mode), status)
        matchings.append(best)
        if status is SolveStatus.OPTIMAL:
            bound = best.objective.value
        _alternatives(run, matchings, options)
    min_difference = options.min_difference or default_min_difference(len(best_rows) if best_rows is not None else 0)
    verify_matchings(candidates, matchings, options.mode, stable=options.stable, min_difference=min_difference,
                     checks_extra=options.extra_constraints is None)
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


def _alternatives(run: _Run, matchings: list[Matching], options: SolveOptions) -> None:
    """Append matchings 2..K to `matchings` (which holds the best), with a note wherever fewer come back."""
    wanted = max(1, options.alternatives)
    best = matchings[0]
    min_difference = options.min_difference or default_min_difference(len(best.rows))
    if wanted > 1 and best.status is not SolveStatus.OPTIMAL:
        run.notes.append(f"no alternatives searched: the best matching is not proven optimal ({best.status.value}, "
                         "time limit or cancellation)")
        return
    while len(matchings) < wanted:
        if (options.stop is not None and options.stop.is_set()) or time.monotonic() >= run.deadline:
            run.notes.append(f"stopped after {len(matchings)} matching(s): time limit or cancellation")
            return
        run.progress_rank = len(matchings) + 1
        outcome = _alternative(run, [m.rows for m in matchings], min_difference)
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

"""Solving: the optimal matching and ranked, distinct alternatives, exact and deterministic.

Every mode is lexicographic: first the priority-weighted number of matched mentees, then the mode's own
criterion. A pure capacitated assignment (organisation caps included: each mentor belongs to one
organisation, so they nest as a flow layer) is solved exactly by min-cost flow. CP-SAT carries what
flow cannot (gender quotas, distinct alternatives, rank-maximal stages, extra constraints), hinted from
and bounded by the flow optimum of the relaxation.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow
from ortools.sat.python import cp_model

from solver.candidates import IntArray
from solver.domain import Cohort, ObjectiveMode
from solver.scores import CandidatePairs, candidate_pairs


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
    big: int  # weight of one matched mentee (priority 1): more than any total score can add

    @property
    def n_rows(self) -> int:
        return len(self.mentee)


@dataclass(frozen=True)
class Objective:
    matched: int  # mentees matched
    matched_priority: int  # sum of their priorities (the first criterion)
    total_score: int
    worst_score: int  # the lowest pair score (0 when nobody is matched)
    rank_profile: tuple[int, ...]  # pairs where the mentee ranked the mentor 1st, 2nd, ... (up to the top rank)
    value: int  # the lexicographic scalar the mode optimises: big * matched_priority + score term


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
    bound: int  # proven upper bound on the best matching's `value`
    candidates: CandidatePairs
    model: AssignmentModel
    options: SolveOptions
    stats: SolveStats
    notes: list[str] = field(default_factory=list)  # e.g. "only 2 matchings differ by at least 4 pairs"

    @property
    def best(self) -> Matching | None:
        return self.matchings[0] if self.matchings else None


# Model ------------------------------------------------------------------------------------------------


def build_model(candidates: CandidatePairs) -> AssignmentModel:
    cohort = candidates.cohort
    table = candidates.table
    n = len(cohort.mentees)
    mentee, mentor = candidates.mentee, candidates.mentor
    keys = mentee * max(1, len(cohort.mentors)) + mentor
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    pin_keys = np.array([mentee_index[a] * max(1, len(cohort.mentors)) + mentor_index[b]
                         for a, b in cohort.rules.pins], dtype=np.int64)
    pinned_rows = np.flatnonzero(np.isin(keys, pin_keys)).astype(np.int64)
    caps = cohort.rules.organisation_cap_map
    orgs = sorted(caps)
    org_code = {org: k for k, org in enumerate(orgs)}
    gender_code = {"f": 1, "m": 2, "x": 3}
    best = np.zeros(n, dtype=np.int64)
    np.maximum.at(best, mentee, candidates.score)
    return AssignmentModel(
        candidates=candidates,
        mentee=mentee,
        mentor=mentor,
        score=candidates.score,
        mentee_rank=table["mentee_rank"].to_numpy().astype(np.int64),
        capacity=np.array([min(max(m.capacity, 0), n) for m in cohort.mentors], dtype=np.int64),
        priority=np.array([m.priority for m in cohort.mentees], dtype=np.int64),
        pinned_rows=pinned_rows,
        mentor_org=np.array([org_code.get(m.organisation, -1) for m in cohort.mentors], dtype=np.int64),
        org_caps=np.array([caps[o] for o in orgs], dtype=np.int64),
        mentor_gender=np.array([gender_code.get(m.gender, 0) for m in cohort.mentors], dtype=np.int64),
        quotas=tuple((gender_code.get(q.gender, 0), q.min_pairs, q.max_pairs) for q in cohort.rules.gender_quotas),
        big=int(best.sum()) + 1,
    )


def evaluate(model: AssignmentModel, rows: IntArray, mode: ObjectiveMode = ObjectiveMode.SCORE) -> Objective:
    """The objective parts of any set of candidate rows (a matching)."""
    rows = np.asarray(rows, dtype=np.int64)
    score = model.score[rows]
    ranks = model.mentee_rank[rows]
    top = int(model.mentee_rank.max()) if model.n_rows else 0
    profile = tuple(int((ranks == r).sum()) for r in range(1, top + 1))
    matched_priority = int(model.priority[model.mentee[rows]].sum())
    worst = int(score.min()) if len(rows) else 0
    return Objective(
        matched=len(rows),
        matched_priority=matched_priority,
        total_score=int(score.sum()),
        worst_score=worst,
        rank_profile=profile,
        value=model.big * matched_priority + int(score.sum()),
    )


def check_matching(model: AssignmentModel, rows: IntArray) -> list[str]:
    """Violations of the hard side of the model by a set of rows; empty when the matching is valid."""
    out = []
    rows = np.asarray(rows, dtype=np.int64)
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


# Min-cost flow ----------------------------------------------------------------------------------------


SPLIT_MIN_ROWS = 50_000  # pairs from which solving the independent parts apart pays (measured)


def _components(n_nodes: int, u: IntArray, v: IntArray) -> IntArray:
    """Connected-component labels (the smallest node of each component) of an undirected edge list.

    Vectorised hooking and pointer jumping: every round hooks each root to the smallest root it shares an
    edge with, then jumps pointers until each node points at its root; a handful of rounds on pair graphs.
    """
    label = np.arange(n_nodes, dtype=np.int64)
    while True:
        lu, lv = label[u], label[v]
        low = np.minimum(lu, lv)
        hooked = label.copy()
        np.minimum.at(hooked, lu, low)
        np.minimum.at(hooked, lv, low)
        while True:
            jumped = hooked[hooked]
            if np.array_equal(jumped, hooked):
                break
            hooked = jumped
        if np.array_equal(hooked, label):
            return label
        label = hooked


def flow_optimum(model: AssignmentModel, weights: IntArray, allowed_rows: IntArray | None = None) -> IntArray:
    """Rows of a matching maximising sum(weights) under capacities, pins and organisation caps (exact).

    The pairs split into independent parts wherever no pair (and no binding organisation cap) joins them,
    e.g. other towns or other fields; each part is its own, smaller min-cost flow (cost scaling grows faster
    than linearly with the size), and the optimum is the union of the parts' optima.
    """
    rows = np.arange(model.n_rows, dtype=np.int64) if allowed_rows is None else np.asarray(allowed_rows)
    n, m = model.candidates.arrays.n_mentees, model.candidates.arrays.n_mentors
    capacity = model.capacity.copy()
    pinned = model.pinned_rows
    pinned_mentees = model.mentee[pinned]
    np.subtract.at(capacity, model.mentor[pinned], 1)
    org_left = model.org_caps.copy()
    for org in model.mentor_org[model.mentor[pinned]].tolist():
        if org >= 0:
            org_left[org] -= 1
    keep = weights[rows] > 0
    if len(pinned_mentees):
        keep &= ~np.isin(model.mentee[rows], pinned_mentees)
    free = rows[keep]
    if len(free) == 0:
        return np.sort(pinned)
    n_orgs = len(org_left)
    capacity = np.maximum(capacity, 0)
    org = model.mentor_org
    # An organisation binds only when its remaining cap is below its mentors' capacity; else it changes nothing.
    org_capacity = np.bincount(org[org >= 0], weights=capacity[org >= 0], minlength=n_orgs)
    binding = np.append(np.maximum(org_left, 0) < org_capacity, False)  # index -1: no organisation
    mentor_org = np.where(binding[org], org, -1)
    # Graph nodes: mentees 0..n-1, mentors n..n+m-1, binding organisations n+m...
    a, b = model.mentee[free], model.mentor[free]
    has_rows = np.zeros(m, dtype=np.bool_)
    has_rows[b] = True
    capped = np.flatnonzero((mentor_org >= 0) & has_rows)
    if len(free) < SPLIT_MIN_ROWS:  # small: one flow costs less than finding the parts
        nodes = n + m + n_orgs
        whole = _flow_part(model, weights, free, a, b, np.arange(nodes), nodes, n, m, capacity, mentor_org, org_left)
        return np.sort(np.concatenate([whole, pinned]))
    u = np.concatenate([a, n + capped])
    v = np.concatenate([n + b, n + m + mentor_org[capped]])
    label = _components(n + m + n_orgs, u, v)
    # Number each part's nodes 0..size-1 (mentees, then mentors, then organisations, by index).
    node_order = np.argsort(label, kind="stable")
    sorted_label = label[node_order]
    part_start = np.searchsorted(sorted_label, sorted_label, side="left")
    local = np.empty(len(label), dtype=np.int64)
    local[node_order] = np.arange(len(label)) - part_start
    part_size = np.bincount(label, minlength=len(label))
    row_part = label[a]
    row_order = np.argsort(row_part, kind="stable")
    part_rows = np.split(row_order, np.flatnonzero(np.diff(row_part[row_order])) + 1)
    chosen: list[IntArray] = []
    for in_part in part_rows:
        chosen.append(_flow_part(model, weights, free[in_part], a[in_part], b[in_part], local,
                                 int(part_size[row_part[in_part[0]]]), n, m, capacity, mentor_org, org_left))
    return np.sort(np.concatenate([*chosen, pinned]))


def _flow_part(model: AssignmentModel, weights: IntArray, rows: IntArray, a: IntArray, b: IntArray,
               local: IntArray, size: int, n: int, m: int, capacity: IntArray, mentor_org: IntArray,
               org_left: IntArray) -> IntArray:
    """The rows chosen by the min-cost flow of one independent part (`local` numbers its nodes 0..size-1)."""
    source, sink = size, size + 1
    active = np.unique(a)
    mentors = np.unique(b)
    orgs = np.unique(mentor_org[mentors])
    orgs = orgs[orgs >= 0]
    # Mentors of a binding organisation drain through that organisation's node, which holds the cap.
    their_org = mentor_org[mentors]
    mentor_head = np.full(len(mentors), sink, dtype=np.int64)
    mentor_head[their_org >= 0] = local[n + m + their_org[their_org >= 0]]
    tails = [np.full(len(active), source), local[active], local[a], local[n + mentors], local[n + m + orgs]]
    heads = [local[active], np.full(len(active), sink), local[n + b], mentor_head, np.full(len(orgs), sink)]
    caps = [np.ones(len(active), dtype=np.int64), np.ones(len(active), dtype=np.int64),
            np.ones(len(rows), dtype=np.int64), capacity[mentors], np.maximum(org_left[orgs], 0)]
    costs = [np.zeros(len(active), dtype=np.int64), np.zeros(len(active), dtype=np.int64), -weights[rows],
             np.zeros(len(mentors), dtype=np.int64), np.zeros(len(orgs), dtype=np.int64)]
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(
        np.concatenate(tails), np.concatenate(heads), np.concatenate(caps), np.concatenate(costs))
    supplies = np.zeros(size + 2, dtype=np.int64)
    supplies[source], supplies[sink] = len(active), -len(active)
    solver.set_nodes_supplies(np.arange(size + 2), supplies)
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    first_pair_arc = 2 * len(active)
    flows = solver.flows(np.arange(first_pair_arc, first_pair_arc + len(rows)))
    return rows[flows > 0]


# CP-SAT -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CpOutcome:
    rows: IntArray | None
    status: SolveStatus
    bound: int  # bound of the first stage


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, report: Callable[[int, int], None]) -> None:
        super().__init__()
        self._report = report

    def on_solution_callback(self) -> None:
        self._report(int(self.objective_value), int(self.best_objective_bound))


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
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


def _groups(keys: IntArray) -> list[IntArray]:
    """Row indices grouped by key, groups in order of first appearance, rows ascending within a group."""
    if len(keys) == 0:
        return []
    order = np.argsort(keys, kind="stable")
    starts = np.flatnonzero(np.r_[True, keys[order][1:] != keys[order][:-1]])
    groups = np.split(order, starts[1:])
    first = order[starts]
    return [groups[k] for k in np.argsort(first, kind="stable").tolist()]


class _ModelText:
    """CP-SAT constraints over the pair variables (variable r = row r) as protobuf text, parsed in one go.

    What `CpModel.add_at_most_one` / `CpModel.add(sum(x) <= k)` would add, constraint for constraint, without a
    Python object per variable and per term: on 2,000 x 2,000 this builds the model ~10x faster.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []

    @staticmethod
    def _list(rows: IntArray) -> str:
        return ", ".join(map(str, rows.tolist()))

    def at_most_one(self, rows: IntArray) -> None:
        self.parts.append(f"constraints {{ at_most_one {{ literals: [{self._list(rows)}] }} }}\n")

    def linear(self, cp: cp_model.CpModel, rows: IntArray, low: int, high: int) -> None:
        """low <= sum(x[rows]) <= high, as `cp.add` makes it (an empty sum is a constant: true or false)."""
        if len(rows) == 0:
            self.flush(cp)
            cp.add(low <= 0 <= high)
            return
        ones = ", ".join(["1"] * len(rows))
        self.parts.append(f"constraints {{ linear {{ vars: [{self._list(rows)}] coeffs: [{ones}] "
                          f"domain: [{low}, {high}] }} }}\n")

    def flush(self, cp: cp_model.CpModel) -> None:
        if self.parts:
            if not cp.proto.merge_text_format("".join(self.parts)):
                raise RuntimeError("could not build the CP-SAT model")
            self.parts = []


def _set_hint(cp: cp_model.CpModel, n_rows: int, chosen: npt.NDArray[np.bool_]) -> None:
    """Hint every pair variable: `cp.add_hint(x[r], chosen[r])` for all rows, in one go."""
    cp.clear_hints()
    if n_rows:
        cp.proto.solution_hint.vars.extend(range(n_rows))
        cp.proto.solution_hint.values.extend(chosen.astype(np.int64).tolist())


def _cp_stages(model: AssignmentModel, stages: list[IntArray], *, options: SolveOptions, deadline: float,
               distinct_from: list[IntArray], min_difference: int, hint: IntArray | None,
               report: Callable[[int, int], None] | None, presolve: bool = True) -> _CpOutcome:
    """Lexicographic CP-SAT: maximise each stage's weights in turn, holding earlier stages at their optimum."""
    cp = cp_model.CpModel()
    n_rows = model.n_rows
    if n_rows:
        # Boolean variables pair_0, pair_1, ...: one per candidate row, variable index = row.
        cp.proto.merge_text_format("".join(f'variables {{ name: "pair_{r}" domain: [0, 1] }}\n'
                                           for r in range(n_rows)))
    text = _ModelText()
    for rows in _groups(model.mentee):
        text.at_most_one(rows)
    for rows in _groups(model.mentor):
        capacity = int(model.capacity[model.mentor[rows[0]]])
        if len(rows) > capacity:
            text.linear(cp, rows, _INT64_MIN, capacity)
    for r in model.pinned_rows.tolist():
        text.linear(cp, np.array([r]), 1, 1)
    pair_org = model.mentor_org[model.mentor]
    for k, cap in enumerate(model.org_caps.tolist()):
        rows = np.flatnonzero(pair_org == k)
        if len(rows) > cap:
            text.linear(cp, rows, _INT64_MIN, cap)
    pair_gender = model.mentor_gender[model.mentor]
    for gender, low, high in model.quotas:
        rows = np.flatnonzero(pair_gender == gender)
        if low > 0:
            text.linear(cp, rows, low, _INT64_MAX)
        if high is not None:
            text.linear(cp, rows, _INT64_MIN, high)
    for previous in distinct_from:
        # Differ from a better matching in at least `min_difference` of its pairs.
        text.linear(cp, np.asarray(previous, dtype=np.int64), _INT64_MIN, len(previous) - min_difference)
    text.flush(cp)
    if options.extra_constraints is not None:
        x = [cp_model.IntVar(cp.proto, r) for r in range(n_rows)]
        options.extra_constraints(cp, x, model)
    if hint is not None:
        hinted = np.zeros(n_rows, dtype=np.bool_)
        hinted[np.asarray(hint, dtype=np.int64)] = True
        _set_hint(cp, n_rows, hinted)
    first_bound = 0
    rows_out: IntArray | None = None
    status = SolveStatus.OPTIMAL
    for stage, weights in enumerate(stages):
        terms = np.flatnonzero(weights != 0)
        coeffs = weights[terms].astype(np.int64)
        if len(terms):
            # cp.maximize(weighted sum): CP-SAT minimises, so the proto holds the negated objective.
            cp.clear_objective()
            cp.proto.objective.vars.extend(terms.tolist())
            cp.proto.objective.coeffs.extend((-coeffs).tolist())
            cp.proto.objective.scaling_factor = -1.0
        else:
            cp.maximize(cp_model.LinearExpr.weighted_sum([], []))
        solver = cp_model.CpSolver()
        solver.parameters.random_seed = options.seed
        # One worker is deterministic (same input and seed, same answer) and, measured on the bundled
        # scenarios, 15-100x faster than interleaved multi-worker search on these assignment models.
        solver.parameters.num_workers = 1
        if not presolve:
            solver.parameters.cp_model_presolve = False
        solver.parameters.max_time_in_seconds = max(0.01, deadline - time.monotonic())
        if options.stop is not None and options.stop.is_set():  # cancelled while building, or between stages
            return _CpOutcome(rows_out, SolveStatus.UNKNOWN if rows_out is None else SolveStatus.FEASIBLE,
                              first_bound)
        watcher = _watch(options.stop, solver)
        callback = _Progress(report) if (report is not None and stage == 0) else None
        try:
            code = solver.solve(cp, callback) if callback else solver.solve(cp)
        finally:
            watcher.set()
        if code == cp_model.INFEASIBLE or code == cp_model.MODEL_INVALID:
            return _CpOutcome(None, SolveStatus.INFEASIBLE if stage == 0 else status, first_bound)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return _CpOutcome(rows_out, SolveStatus.UNKNOWN if rows_out is None else SolveStatus.FEASIBLE,
                              first_bound)
        values = np.array(solver.response_proto.solution, dtype=np.int64)[:n_rows].astype(np.bool_)
        rows_out = np.flatnonzero(values).astype(np.int64)
        if stage == 0:
            first_bound = int(solver.best_objective_bound)
        if code != cp_model.OPTIMAL:
            return _CpOutcome(rows_out, SolveStatus.FEASIBLE, first_bound)
        achieved = round(solver.objective_value)
        # cp.add(expression >= achieved): hold this stage at its optimum in the next ones.
        if len(terms):
            constraint = cp.proto.constraints.add()
            constraint.linear.vars.extend(terms.tolist())
            constraint.linear.coeffs.extend(coeffs.tolist())
            constraint.linear.domain.extend([achieved, _INT64_MAX])
        else:
            cp.add(cp_model.LinearExpr.weighted_sum([], []) >= achieved)
        _set_hint(cp, n_rows, values)
    return _CpOutcome(rows_out, status, first_bound)


def _watch(stop: threading.Event | None, solver: cp_model.CpSolver) -> threading.Event:
    """Stops the CP-SAT search as soon as `stop` is set; returns an event that ends the watch."""
    done = threading.Event()
    if stop is None:
        return done

    def run() -> None:
        while not done.is_set():
            if stop.wait(0.01):
                # stop_search() before the search has started is a no-op: repeat it until the solve returns.
                while not done.wait(0.01):
                    solver.stop_search()
                return

    threading.Thread(target=run, daemon=True, name="mentormatch-stop-watch").start()
    return done


# Side constraints by Lagrangian relaxation ------------------------------------------------------------


@dataclass(frozen=True)
class _SideConstraint:
    """low <= (number of chosen rows among `rows`) <= high: a gender quota, or 'differ from a better matching'."""

    rows: npt.NDArray[np.bool_]  # mask over the model's rows
    low: int
    high: int | None


@dataclass(frozen=True)
class _Lagrangian:
    rows: IntArray | None  # the best matching found that meets every side constraint (None: none found)
    value: int  # its weight (-1 without one)
    bound: int  # proven upper bound on the weight of any matching that meets them
    evaluations: int

    @property
    def proven(self) -> bool:
        return self.rows is not None and self.value >= self.bound


def _quota_constraints(model: AssignmentModel) -> list[_SideConstraint]:
    pair_gender = model.mentor_gender[model.mentor]
    out = []
    for gender in sorted({g for g, _, _ in model.quotas}):
        low = max([lo for g, lo, _ in model.quotas if g == gender] + [0])
        high = min((hi for g, _, hi in model.quotas if g == gender and hi is not None), default=None)
        out.append(_SideConstraint(pair_gender == gender, low, high))
    return out


def _distinct_constraints(model: AssignmentModel, previous: list[IntArray], min_difference: int
                          ) -> list[_SideConstraint]:
    out = []
    for rows in previous:
        mask = np.zeros(model.n_rows, dtype=np.bool_)
        mask[rows] = True
        out.append(_SideConstraint(mask, 0, len(rows) - min_difference))
    return out


def _lagrangian(model: AssignmentModel, weights: IntArray, constraints: list[_SideConstraint], deadline: float,
                max_evaluations: int = 40, stop: threading.Event | None = None) -> _Lagrangian:
    """Meet side constraints by pricing them into the min-cost flow: a bonus (or malus) on each constrained row.

    For prices lam (lam_k > 0 only for a minimum, < 0 only for a maximum), the flow optimum of the priced
    weights minus sum_k lam_k * (its minimum or maximum) bounds every matching that meets the constraints
    (Lagrangian duality), and a priced optimum that happens to meet them is a valid matching; when its weight
    reaches the bound it is proven optimal. Each price is found by doubling and bisection, cycling over the
    constraints until all hold: a few flows, each far cheaper than a CP-SAT search, and CP-SAT, when still
    needed, starts from a near-optimal hint.
    """
    limit = 2 * (model.big * int(model.priority.max(initial=1)) + int(np.abs(weights).max(initial=0))) + 1
    masks = [c.rows for c in constraints]
    evaluations = 0

    def evaluate(lam: list[int]) -> tuple[IntArray, list[int], int]:
        """The priced optimum, each constraint's shortfall (> 0: below its minimum, < 0: above its maximum), the bound."""
        nonlocal evaluations
        evaluations += 1
        priced = weights.copy()
        for mask, price in zip(masks, lam, strict=True):
            if price:
                priced[mask] += price
        rows = flow_optimum(model, priced)
        dual = int(priced[rows].sum())
        short = []
        for c, price in zip(constraints, lam, strict=True):
            reference = c.low if price > 0 else c.high
            if price and reference is not None:
                dual -= price * reference
            count = int(c.rows[rows].sum())
            short.append(c.low - count if count < c.low else
                         c.high - count if c.high is not None and count > c.high else 0)
        return rows, short, dual

    lam = [0] * len(constraints)
    rows, short, best_bound = evaluate(lam)
    best_rows: IntArray | None = None
    best_value = -1

    def out_of_budget() -> bool:
        return (evaluations >= max_evaluations or time.monotonic() >= deadline
                or (stop is not None and stop.is_set()))

    while True:
        if not any(short):
            value = int(weights[rows].sum())
            if value > best_value:
                best_rows, best_value = rows, value
            break
        if out_of_budget():
            break
        for k in range(len(constraints)):
            if short[k] == 0 or out_of_budget():
                continue
            sign = 1 if short[k] > 0 else -1  # too few: a bonus; too many: a malus
            lo, hi, step = lam[k], None, 1
            found: tuple[IntArray, list[int], int] | None = None
            while hi is None and abs(lo) <= limit and not out_of_budget():
                trial = lam[k] + sign * step
                result = evaluate([*lam[:k], trial, *lam[k + 1:]])
                best_bound = min(best_bound, result[2])
                if result[1][k] == 0:
                    hi, found = trial, result
                else:
                    lo, step = trial, step * 4
            if hi is None or found is None:
                return _Lagrangian(best_rows, best_value, best_bound, evaluations)  # cannot be priced into line
            while abs(hi - lo) > 1 and not out_of_budget():
                mid = (lo + hi) // 2
                result = evaluate([*lam[:k], mid, *lam[k + 1:]])
                best_bound = min(best_bound, result[2])
                if result[1][k] == 0:
                    hi, found = mid, result
                else:
                    lo = mid
            lam[k] = hi
            rows, short, _ = found
            if not any(short):
                value = int(weights[rows].sum())
                if value > best_value:
                    best_rows, best_value = rows, value
                if best_value >= best_bound:
                    break
    return _Lagrangian(best_rows, best_value, best_bound, evaluations)


# Solve ------------------------------------------------------------------------------------------------


def _primary_weights(model: AssignmentModel) -> IntArray:
    return np.asarray(model.big * model.priority[model.mentee] + model.score, dtype=np.int64)


def _fairness_rows(model: AssignmentModel) -> IntArray:
    """The rows of pairs scoring at least the highest threshold that still lets the most mentees be matched."""
    matched = np.asarray(model.priority[model.mentee], dtype=np.int64)
    target = int(matched[flow_optimum(model, matched)].sum())
    thresholds = np.unique(model.score)
    lo, hi = 0, len(thresholds) - 1  # thresholds[lo] always works (it is the minimum)
    pinned = np.zeros(model.n_rows, dtype=np.bool_)
    pinned[model.pinned_rows] = True
    while lo < hi:
        mid = (lo + hi + 1) // 2
        allowed = np.flatnonzero((model.score >= thresholds[mid]) | pinned)
        if int(matched[flow_optimum(model, matched, allowed)].sum()) == target:
            lo = mid
        else:
            hi = mid - 1
    if len(thresholds) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero((model.score >= thresholds[lo]) | pinned).astype(np.int64)


def _restrict(model: AssignmentModel, rows: IntArray) -> tuple[AssignmentModel, IntArray]:
    """A model over a subset of rows (e.g. fairness' allowed pairs), and the map back to the full rows."""
    keep = np.asarray(rows, dtype=np.int64)
    table = model.candidates.table[keep.tolist()] if len(keep) else model.candidates.table.head(0)
    sub = replace(model.candidates, table=table)
    restricted = replace(
        model, candidates=sub, mentee=model.mentee[keep], mentor=model.mentor[keep], score=model.score[keep],
        mentee_rank=model.mentee_rank[keep], pinned_rows=np.flatnonzero(np.isin(keep, model.pinned_rows)),
    )
    return restricted, keep


def chain_constraints(
    first: Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None] | None,
    second: Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None],
) -> Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None]:
    """Extra CP-SAT constraints that add `first`'s (when given) and then `second`'s."""
    def both(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], model: AssignmentModel) -> None:
        if first is not None:
            first(cp, x, model)
        second(cp, x, model)

    return both


def default_min_difference(n_pairs: int) -> int:
    return max(1, math.ceil(0.10 * n_pairs)) if n_pairs else 1


def solve(source: Cohort | CandidatePairs, options: SolveOptions | None = None) -> SolveResult:
    """The best matching and up to `options.alternatives - 1` ranked alternatives."""
    options = options or SolveOptions()
    started = time.monotonic()
    deadline = started + options.time_limit_s
    candidates = source if isinstance(source, CandidatePairs) else candidate_pairs(source)
    if options.stable:
        from solver.stability import add_stability_constraints

        options = replace(options, extra_constraints=chain_constraints(options.extra_constraints, add_stability_constraints))
    full = build_model(candidates)
    built = time.monotonic()
    notes: list[str] = []
    model, back = full, np.arange(full.n_rows, dtype=np.int64)
    if options.mode is ObjectiveMode.FAIRNESS and full.n_rows:
        model, back = _restrict(full, _fairness_rows(full))
    primary = _primary_weights(model)
    stages = [primary]
    if options.mode is ObjectiveMode.RANK_MAXIMAL:
        # After the matched count: first choices, then second choices, ..., then the score.
        matched = np.asarray(model.priority[model.mentee], dtype=np.int64)
        top = int(model.mentee_rank.max()) if model.n_rows else 0
        stages = [matched] + [(model.mentee_rank == r).astype(np.int64) for r in range(1, top + 1)] + [model.score]
    # Gender quotas alone do not force CP-SAT: when the flow optimum of the relaxation meets them, it is optimal.
    needs_cp = options.extra_constraints is not None or len(stages) > 1
    backends: list[str] = []
    relaxed = flow_optimum(model, primary) if model.n_rows else np.zeros(0, dtype=np.int64)
    backends.append("min_cost_flow")
    bound = int(primary[relaxed].sum())
    matchings: list[Matching] = []
    status = SolveStatus.OPTIMAL
    progress_rank = [1]

    def report(value: int, best_bound: int) -> None:
        if options.on_progress is not None:
            options.on_progress(Progress(progress_rank[0], value, best_bound, time.monotonic() - started))

    best_rows: IntArray | None = None
    violations = check_matching(model, relaxed)
    if not needs_cp and not violations:
        best_rows = relaxed
        report(bound, bound)
    else:
        hint, cp_report, presolve = relaxed, report, True
        priced: _Lagrangian | None = None
        if options.extra_constraints is None and violations and all(v.startswith("gender quota") for v in violations):
            # Only the quotas fail: price them into the flow for a valid near-optimal matching and a tight bound.
            # With several stages (rank-maximal) it is only the fallback for a solve cut short before CP-SAT
            # finds anything; its hint would steer the later stages.
            priced = _lagrangian(model, primary, _quota_constraints(model), deadline, stop=options.stop)
            backends.append("lagrangian")
            bound = min(bound, priced.bound)
            if priced.rows is not None and not needs_cp:
                hint = priced.rows
                report(priced.value, bound)
                cp_report = lambda value, best_bound: report(value, min(best_bound, bound))  # noqa: E731
                # From a valid near-optimal hint, CP-SAT's presolve costs more than it saves: measured 14 s of
                # presolve vs an 8 s proof without on 2,000 x 2,000, and half the time on 80 x 80 alternatives.
                presolve = False
        if not needs_cp and priced is not None and priced.rows is not None and priced.value >= bound:
            best_rows = priced.rows  # the priced matching meets its own bound: optimal, CP-SAT has nothing to add
        elif priced is not None and priced.rows is not None and options.stop is not None and options.stop.is_set():
            best_rows, status = priced.rows, SolveStatus.FEASIBLE  # cancelled while pricing: the best so far
        else:
            backends.append("cp_sat")
            outcome = _cp_stages(model, stages, options=options, deadline=deadline, distinct_from=[],
                                 min_difference=0, hint=hint, report=cp_report, presolve=presolve)
            status = outcome.status
            best_rows = outcome.rows
            if len(stages) == 1 and outcome.rows is not None:
                bound = min(bound, outcome.bound)
            first_stage = stages[0]
            if priced is not None and priced.rows is not None and (
                    outcome.rows is None or first_stage[outcome.rows].sum() < first_stage[priced.rows].sum()):
                # CP-SAT stopped before it found as good a first stage: the priced matching is the best known.
                best_rows, status = priced.rows, SolveStatus.FEASIBLE
            if (best_rows is None and status is SolveStatus.UNKNOWN and options.extra_constraints is None
                    and len(relaxed) and not violations):
                # Stopped before CP-SAT found anything, but the flow optimum already meets every constraint
                # (it is optimal for the first stage only, e.g. rank-maximal): the best known, not nothing.
                best_rows, status = relaxed, SolveStatus.FEASIBLE
            if status is SolveStatus.INFEASIBLE:
                what = "pins, organisation caps, gender quotas" + (", stability" if options.stable else "")
                notes.append(f"the side constraints ({what}) cannot all hold")
    min_difference = options.min_difference or default_min_difference(0 if best_rows is None else len(best_rows))
    if best_rows is not None:
        objective = evaluate(model, best_rows, options.mode)
        if status is SolveStatus.OPTIMAL:
            bound = objective.value if len(stages) == 1 else bound
        matchings.append(Matching(1, back[best_rows], evaluate(full, back[best_rows], options.mode), status))
        wanted = max(1, options.alternatives)
        while len(matchings) < wanted and status is SolveStatus.OPTIMAL:
            if (options.stop is not None and options.stop.is_set()) or time.monotonic() >= deadline:
                notes.append(f"stopped after {len(matchings)} matching(s): time limit or cancellation")
                break
            progress_rank[0] = len(matchings) + 1
            previous = [np.searchsorted(back, m.rows) for m in matchings]
            # Hinted from the last matching: an alternative usually differs from it in a few pairs only.
            hint = previous[-1]
            priced = None
            if FAST_ALTERNATIVES and not needs_cp and model.n_rows >= SMALL_MODEL_ROWS:
                # "Differ from each better matching" and the quotas are side constraints over rows: priced into
                # the flow, they often give a matching that meets its own bound, proven without CP-SAT.
                priced = _lagrangian(model, primary, _quota_constraints(model)
                                     + _distinct_constraints(model, previous, min_difference), deadline,
                                     max_evaluations=ALTERNATIVE_EVALUATIONS, stop=options.stop)
                if "lagrangian" not in backends:
                    backends.append("lagrangian")
                if priced.rows is not None:
                    hint = priced.rows
            if priced is not None and priced.proven:
                assert priced.rows is not None
                outcome = _CpOutcome(priced.rows, SolveStatus.OPTIMAL, priced.bound)
                report(priced.value, priced.bound)
            else:
                if "cp_sat" not in backends:
                    backends.append("cp_sat")
                outcome = _cp_stages(model, stages, options=options, deadline=deadline, distinct_from=previous,
                                     min_difference=min_difference, hint=hint, report=report,
                                     presolve=(priced is None or priced.rows is None)
                                     and not (FAST_ALTERNATIVES and model.n_rows < SMALL_MODEL_ROWS))
                if priced is not None and priced.rows is not None and (
                        outcome.rows is None or primary[outcome.rows].sum() < priced.value):
                    outcome = _CpOutcome(priced.rows, SolveStatus.FEASIBLE, outcome.bound)
            if outcome.rows is None:
                if outcome.status is SolveStatus.INFEASIBLE:
                    notes.append(f"only {len(matchings)} matching(s) differ from each other in at least "
                                 f"{min_difference} pair(s)")
                else:
                    notes.append(f"stopped after {len(matchings)} matching(s): time limit or cancellation")
                break
            rows = back[outcome.rows]
            best_set = set(matchings[0].rows.tolist())
            changed = len(best_set - set(rows.tolist()))
            matchings.append(Matching(len(matchings) + 1, rows, evaluate(full, rows, options.mode), outcome.status,
                                      pairs_changed_vs_best=changed))
            if outcome.status is not SolveStatus.OPTIMAL:
                notes.append(f"matching {len(matchings)} is not proven optimal (time limit)")
                break
    finished = time.monotonic()
    return SolveResult(
        status=status,
        matchings=matchings,
        bound=bound,
        candidates=candidates,
        model=full,
        options=options,
        stats=SolveStats("+".join(backends), full.n_rows, finished - started, built - started, finished - built,
                         min_difference),
        notes=notes,
    )

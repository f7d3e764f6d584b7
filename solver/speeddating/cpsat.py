"""The speed-dating objective as a CP-SAT model: the reference the exact flow (`flow.py`) is checked against.

Two formulations, both maximising the same lexicographic criteria stage by stage (each stage held at its optimum
in the next): `per_round=True`, the textbook model with a Boolean per allowed pair and round; and the default,
one Boolean per allowed pair with the rounds left to `rounds.py` (exact: see `flow.py`). Measured with
`make bench` (cases SD): the per-round model proves nothing in 60 s on Lyngby's 15 + 15 with 6 rounds; the
per-pair model proves the optimum in 0.1 s there and 0.7 s on 80 + 80 with 8 rounds, but takes tens of seconds
once a break limit or the tables bind (the constraint holding an earlier stage breaks the network structure).
The flow needs neither. Tests compare the three on small cohorts.
"""

from __future__ import annotations

import time

import numpy as np
from ortools.sat.python import cp_model

from solver.candidates import BoolArray, IntArray
from solver.cpsat import watch
from solver.model import SolveStatus
from solver.speeddating.instance import PlanInstance, Selection
from solver.stop import StopToken

FOLD_LIMIT = 2**50
"""Adjacent stages fold into one weighted objective below this total (exact in the LP's doubles; 2**62 made the
80 + 80 case run out of its 60 s)."""


class _Model:
    """A CP-SAT model written straight into its protobuf: variables by index, linear constraints as arrays."""

    def __init__(self) -> None:
        self.cp = cp_model.CpModel()
        self.proto = self.cp.proto
        self.upper: list[int] = []

    def variables(self, count: int, high: int = 1) -> IntArray:
        start = len(self.upper)
        for _ in range(count):
            self.proto.variables.add().domain.extend([0, high])
        self.upper.extend([high] * count)
        return np.arange(start, start + count, dtype=np.int64)

    def linear(self, variables: IntArray, coeffs: IntArray | int, low: int, high: int) -> None:
        if len(variables) == 0:
            return
        weights = np.broadcast_to(np.asarray(coeffs, dtype=np.int64), variables.shape)
        constraint = self.proto.constraints.add().linear
        constraint.vars.extend(variables.tolist())
        constraint.coeffs.extend(weights.tolist())
        constraint.domain.extend([low, high])

    def ordered_levels(self, count: int, terms: IntArray, term_coeffs: IntArray) -> IntArray:
        """`count` Booleans, each at most the one before, whose sum equals the sum of `term_coeffs` x `terms`."""
        levels = self.variables(count)
        self.linear(np.concatenate([levels, terms]), np.concatenate([np.ones(count, np.int64), -term_coeffs]), 0, 0)
        for a, b in zip(levels[:-1].tolist(), levels[1:].tolist(), strict=True):
            self.linear(np.array([b, a]), np.array([1, -1]), -(2**62), 0)  # no gaps: symmetric solutions are one
        return levels


def _groups(keys: IntArray, size: int) -> list[IntArray]:
    """Indices of `keys` grouped by key value 0..size-1 (ascending within a group)."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(size + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(size)]


def _stage_vectors(model: _Model, stages: list[tuple[IntArray, IntArray]]) -> list[IntArray]:
    """Each stage's weights as one dense vector over all variables (a variable may appear more than once)."""
    out = []
    for variables, coeffs in stages:
        dense = np.zeros(len(model.upper), dtype=np.int64)
        np.add.at(dense, variables, coeffs)
        out.append(dense)
    return out


def _fold(vectors: list[IntArray], upper: IntArray, limit: int) -> list[IntArray]:
    """Adjacent stages as one weight vector (earlier x (span of later) + later) from the last one back, while the
    weights stay below `limit`; the result is lexicographically the same objective in fewer solves."""
    if not vectors:
        return []
    folded = [vectors[-1]]
    for vector in reversed(vectors[:-1]):
        # All weights are >= 0, so the span (more than the later stages can add) bounds the whole objective too.
        span = int((folded[0] * upper).sum()) + 1
        if (int((vector * upper).sum()) + 1) * span < limit:
            folded[0] = vector * span + folded[0]
        else:
            folded.insert(0, vector)
    return folded


def select_meetings_cpsat(instance: PlanInstance, stop: StopToken, *, seed: int = 0, per_round: bool = False,
                    fold_limit: int = FOLD_LIMIT) -> Selection:
    """The pairs that meet under the plan's lexicographic objective, stage by stage (README).

    Stops at `stop` (its deadline or cancellation) with the best pairs found so far (status FEASIBLE).
    """
    started = time.monotonic()
    inst, rounds = instance, instance.rounds
    model = _Model()
    n_pairs = inst.n_pairs
    if per_round:
        x = model.variables(n_pairs * rounds).reshape(n_pairs, rounds)
        terms_of = x  # pair p meets = sum over its round variables
    else:
        terms_of = model.variables(n_pairs).reshape(n_pairs, 1)
    width = terms_of.shape[1]

    def terms(pairs: IntArray) -> IntArray:
        return terms_of[pairs].reshape(-1)

    def spread(values: IntArray) -> IntArray:
        return np.repeat(np.asarray(values, dtype=np.int64), width)

    by_mentee, by_mentor = _groups(inst.mentee, inst.n_mentees), _groups(inst.mentor, inst.n_mentors)
    if per_round:
        for r in range(rounds):
            for pairs in (*by_mentee, *by_mentor):
                if len(pairs) > 1:
                    model.proto.constraints.add().at_most_one.literals.extend(x[pairs, r].tolist())
            if inst.tables is not None and n_pairs > inst.tables:
                model.linear(x[:, r], 1, 0, inst.tables)
        for p in range(n_pairs):
            model.linear(x[p], 1, 0, 1)
    elif inst.tables is not None and n_pairs > rounds * inst.tables:
        model.linear(terms(np.arange(n_pairs)), 1, 0, rounds * inst.tables)
    break_vars: list[int] = []
    coverage: list[tuple[IntArray, IntArray]] = []
    share: list[tuple[IntArray, IntArray]] = []
    for side, groups, targets in (("mentee", by_mentee, inst.mentee_break_target),
                                  ("mentor", by_mentor, inst.mentor_break_target)):
        for person, pairs in enumerate(groups):
            if len(pairs) == 0:
                continue
            meets = terms(pairs)
            if side == "mentor":  # levels: the i-th meeting of a mentor is worth R + 1 - i (fair share)
                levels = model.ordered_levels(min(rounds, len(pairs)), meets, np.ones(len(meets), np.int64))
                share.append((levels, rounds - np.arange(len(levels), dtype=np.int64)))
            elif len(pairs) > rounds and not per_round:
                model.linear(meets, 1, 0, rounds)
            if side == "mentee":  # levels over her top mentors met: the i-th is worth R + 1 - i (coverage)
                top = pairs[inst.top[pairs]]
                if len(top):
                    levels = model.ordered_levels(len(top), terms(top), np.ones(len(top) * width, np.int64))
                    coverage.append((levels, rounds - np.arange(len(levels), dtype=np.int64)))
            target = int(targets[person])
            if target > 0:  # u <= meetings, u <= L: the meetings that count towards the break limit
                u = model.variables(1, target)
                model.linear(np.concatenate([u, meets]), np.concatenate([[1], -np.ones(len(meets), np.int64)]),
                             -(2**62), 0)
                break_vars.append(int(u[0]))

    def pairs_stage(mask: BoolArray, weights: IntArray | None = None) -> tuple[IntArray, IntArray]:
        chosen = np.flatnonzero(mask)
        values = np.ones(len(chosen), np.int64) if weights is None else weights[chosen]
        return terms(chosen), spread(values)

    def joined(parts: list[tuple[IntArray, IntArray]]) -> tuple[IntArray, IntArray]:
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    everything = np.ones(n_pairs, dtype=np.bool_)
    stages = [
        (np.array(break_vars, dtype=np.int64), np.ones(len(break_vars), np.int64)),
        pairs_stage(inst.best),
        pairs_stage(inst.alternative),
        joined(coverage),
        joined(share),
        pairs_stage(everything),
        pairs_stage(everything, inst.score),
    ]
    vectors = [v for v in _stage_vectors(model, stages) if v.any()]
    vectors = _fold(vectors, np.array(model.upper, dtype=np.int64), fold_limit)
    values = np.zeros(len(model.upper), dtype=np.int64)
    status, proven = SolveStatus.OPTIMAL, 0
    for weights in vectors:
        if stop.is_set():
            status = SolveStatus.FEASIBLE
            break
        found, optimal = _maximise(model, weights, values, stop, seed)
        if found is not None:
            values = found
        if not optimal:
            status = SolveStatus.FEASIBLE
            break
        proven += 1
        # Hold this stage at its optimum in the next ones.
        used = np.flatnonzero(weights)
        model.linear(used, weights[used], int(weights[used] @ values[used]), 2**62)
    chosen = values[terms_of].sum(axis=1) > 0 if n_pairs else np.zeros(0, dtype=np.bool_)
    return Selection(chosen, status, proven, len(vectors), time.monotonic() - started)


def _maximise(model: _Model, weights: IntArray, hint: IntArray, stop: StopToken, seed: int
              ) -> tuple[IntArray | None, bool]:
    """One stage: (the solution, proven optimal?) maximising `weights`, hinted from `hint`; (None, False) when the
    limit came before any solution."""
    proto = model.proto
    used = np.flatnonzero(weights)
    model.cp.clear_objective()
    proto.objective.vars.extend(used.tolist())
    proto.objective.coeffs.extend((-weights[used]).tolist())  # CP-SAT minimises
    proto.objective.scaling_factor = -1.0
    model.cp.clear_hints()
    proto.solution_hint.vars.extend(range(len(hint)))
    proto.solution_hint.values.extend(hint.tolist())
    solver = cp_model.CpSolver()
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = 1  # deterministic: same input and seed, same plan
    solver.parameters.catch_sigint_signal = False  # the command line and the service handle SIGINT themselves
    solver.parameters.max_time_in_seconds = max(0.01, stop.remaining()) if stop.deadline is not None else 3600.0
    watcher = watch(stop.event, solver)
    try:
        code = solver.solve(model.cp)
    finally:
        watcher.set()
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False
    solution = np.array(solver.response_proto.solution, dtype=np.int64)
    return solution, code == cp_model.OPTIMAL



"""The baselines our solver is measured against, each on the very model ours solves.

* `assignment_matrix` + `lsa`: scipy's `linear_sum_assignment` (the Hungarian / LAPJV family) on the dense
  mentee x mentor-seat matrix. A mentor of capacity k is k identical columns (seats). The weight of an
  allowed pair is ours, `big * priority + score` (lexicographic: matched priority first, then score); a
  forbidden pair weighs 0, which is exactly "unmatched": every allowed weight is at least `big` > 0, so the
  maximum never prefers a forbidden cell to leaving the mentee out, and zero-weight columns pad the matrix
  when there are fewer seats than mentees. The objective is the sum of the positive cells chosen, and it
  is comparable one to one with `Objective.value`. Only the solve itself is timed (the matrix is built).
* `plain_cp_sat`: the textbook CP-SAT model, one Boolean per candidate pair created in a Python loop,
  the same constraints (at most one mentor per mentee, capacities, organisation caps, gender quotas, pins)
  and the same objective, default parameters and the same time limit as ours. A solution callback
  timestamps when its objective first reaches a target quality.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.sat.python import cp_model

from solver.solve import AssignmentModel, primary_weights


def assignment_matrix(model: AssignmentModel) -> npt.NDArray[np.float64]:
    """The dense maximisation matrix: one row per mentee, one column per mentor seat (capacity copies); the k-th
    copy (from 0) of a mentor's seat costs k x the seat cost, so the assignment pays the README's seat costs."""
    n = len(model.priority)
    capacity = np.maximum(model.capacity, 0)
    first_seat = np.concatenate([[0], np.cumsum(capacity)[:-1]]).astype(np.int64)
    seats = int(capacity.sum())
    matrix = np.zeros((n, max(seats, n)), dtype=np.float64)
    weights = primary_weights(model).astype(np.float64)  # < 2**53: exact in float64
    for copy in range(int(capacity.max(initial=0))):
        rows = np.flatnonzero(capacity[model.mentor] > copy)
        matrix[model.mentee[rows], first_seat[model.mentor[rows]] + copy] = weights[rows] - model.seat_cost * copy
    return matrix


@dataclass(frozen=True)
class LsaRun:
    seconds: list[float]  # the solve alone, per repeat
    objective: int
    matched: int
    shape: tuple[int, int]
    matrix_bytes: int
    build_s: float  # building the matrix from our candidate pairs (not part of `seconds`)


def lsa(model: AssignmentModel, repeats: int = 1) -> LsaRun:
    from scipy.optimize import linear_sum_assignment

    started = time.perf_counter()
    matrix = assignment_matrix(model)
    build_s = time.perf_counter() - started
    seconds, objective, matched = [], 0, 0
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        row, col = linear_sum_assignment(matrix, maximize=True)
        seconds.append(time.perf_counter() - started)
        chosen = matrix[row, col]
        objective, matched = int(chosen[chosen > 0].sum()), int((chosen > 0).sum())
    return LsaRun(seconds, objective, matched, (int(matrix.shape[0]), int(matrix.shape[1])), int(matrix.nbytes),
                  build_s)


@dataclass(frozen=True)
class CpSatRun:
    time_to_target_s: float | None  # from the start of model building; None: the target was never reached
    time_limit_s: float
    build_s: float
    wall_s: float
    status: str
    objective: int | None  # its best, None without any solution
    bound: int
    first_solution_s: float | None


class _Clock(cp_model.CpSolverSolutionCallback):
    def __init__(self, started: float, target: int) -> None:
        super().__init__()
        self.started, self.target = started, target
        self.first: float | None = None
        self.reached: float | None = None

    def on_solution_callback(self) -> None:
        now = time.perf_counter() - self.started
        if self.first is None:
            self.first = now
        if self.reached is None and self.objective_value >= self.target:
            self.reached = now


def plain_cp_sat(model: AssignmentModel, *, time_limit_s: float, target: int) -> CpSatRun:
    """The plain CP-SAT model; `target`: the objective whose first reaching is timestamped."""
    started = time.perf_counter()
    cp = cp_model.CpModel()
    mentee, mentor = model.mentee.tolist(), model.mentor.tolist()
    x = [cp.new_bool_var(f"x{r}") for r in range(len(mentee))]
    by_mentee: dict[int, list[cp_model.IntVar]] = {}
    by_mentor: dict[int, list[cp_model.IntVar]] = {}
    for r, (a, b) in enumerate(zip(mentee, mentor, strict=True)):
        by_mentee.setdefault(a, []).append(x[r])
        by_mentor.setdefault(b, []).append(x[r])
    for literals in by_mentee.values():
        cp.add(sum(literals) <= 1)
    capacity = model.capacity.tolist()
    seat_terms: list[tuple[int, cp_model.IntVar]] = []
    for b, literals in by_mentor.items():
        cp.add(sum(literals) <= capacity[b])
        if model.seat_cost and capacity[b] > 1 and len(literals) > 1:
            # The k-th seat (k >= 2) costs seat_cost x (k - 1): load - 1 = the extra seats, bought cheapest first.
            extra = [cp.new_bool_var(f"seat{b}_{k}") for k in range(2, min(capacity[b], len(literals)) + 1)]
            cp.add(sum(literals) <= 1 + sum(extra))
            seat_terms += [(model.seat_cost * (k + 1), v) for k, v in enumerate(extra)]
    for r in model.pinned_rows.tolist():
        cp.add(x[r] == 1)
    org, gender = model.mentor_org.tolist(), model.mentor_gender.tolist()
    by_org: dict[int, list[cp_model.IntVar]] = {}
    by_gender: dict[int, list[cp_model.IntVar]] = {}
    for r, b in enumerate(mentor):
        by_org.setdefault(org[b], []).append(x[r])
        by_gender.setdefault(gender[b], []).append(x[r])
    for k, cap in enumerate(model.org_caps.tolist()):
        cp.add(sum(by_org.get(k, [])) <= cap)
    for g, low, high in model.quotas:
        total = sum(by_gender.get(g, []))
        if low > 0:
            cp.add(total >= low)
        if high is not None:
            cp.add(total <= high)
    weights = primary_weights(model).tolist()
    cp.maximize(sum(w * v for w, v in zip(weights, x, strict=True)) - sum(c * v for c, v in seat_terms))
    build_s = time.perf_counter() - started
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = max(0.01, time_limit_s - build_s)
    clock = _Clock(started, target)
    code = solver.solve(cp, clock)
    has_solution = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return CpSatRun(clock.reached, time_limit_s, build_s, time.perf_counter() - started, solver.status_name(code),
                    round(solver.objective_value) if has_solution else None, round(solver.best_objective_bound),
                    clock.first)

"""CP-SAT for what a flow cannot carry: lexicographic stages, the worst pair, quotas, distinctness, stability.

Variable r of every model is the pair on row r of the candidate table; the worst-pair stage adds one integer
variable after them. Models are written as one protobuf text rather than one Python object per variable.

A big model (`CHILD_MIN_ROWS` pairs) is built and searched in a child process (`solver.stop.run_in_child`):
CP-SAT's loading of a model is one C++ call that neither a time limit nor `stop_search` interrupts (4-7 s for
1.6 million pairs, ~0.5 s for 200,000), and writing the model holds the interpreter lock. Stopped, the child is
told to stop its search and answer with its best so far, and killed if it has not within `WIND_DOWN_S`.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from solver.candidates import IntArray
from solver.model import AssignmentModel, SolveStatus
from solver.stop import Stopped, StopToken, check, run_in_child

# OR-Tools' CP-SAT module takes ~0.4 s to import: only a solve that runs CP-SAT imports it (`_cp_model`).
if TYPE_CHECKING:
    from ortools.sat.python import cp_model

    ExtraConstraints = Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None]
else:
    ExtraConstraints = Callable[[Any, Sequence[Any], AssignmentModel], None]
Stage = IntArray | None
"""A lexicographic stage: weights per row to maximise, or None for the worst matched pair's score (fairness)."""
WORST: Stage = None

@dataclass(frozen=True)
class CpOutcome:
    rows: IntArray | None
    status: SolveStatus
    bound: int  # bound of the first stage


def _cp_model() -> Any:
    """`ortools.sat.python.cp_model`, imported on first use."""
    from ortools.sat.python import cp_model

    return cp_model


def _progress(report: Callable[[int, int], None]) -> cp_model.CpSolverSolutionCallback:
    """A solution callback that reports (objective, bound) of each improving solution."""
    sat = _cp_model()

    class Progress(sat.CpSolverSolutionCallback):  # type: ignore[name-defined]
        def on_solution_callback(self) -> None:
            report(int(self.objective_value), int(self.best_objective_bound))

    return Progress()


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


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

    CHUNK = 20_000  # parts parsed at a time: the stop is checked between chunks (a big model takes seconds)

    def __init__(self, stop: threading.Event | StopToken | None = None) -> None:
        self.parts: list[str] = []
        self.stop = stop

    @staticmethod
    def _list(rows: IntArray) -> str:
        return ", ".join(map(str, rows.tolist()))

    def at_most_one(self, rows: IntArray) -> None:
        self.parts.append(f"constraints {{ at_most_one {{ literals: [{self._list(rows)}] }} }}\n")

    def linear(self, cp: cp_model.CpModel, rows: IntArray, low: int, high: int) -> None:
        """low <= sum(x[rows]) <= high, as `cp.add` makes it (an empty sum is a constant: true or false)."""
        if len(rows) == 0:
            # An empty sum is 0: a linear constraint without variables holds exactly when low <= 0 <= high
            # (no constant variable is created, so variable indices stay as declared).
            self.parts.append(f"constraints {{ linear {{ domain: [{low}, {high}] }} }}\n")
            return
        ones = ", ".join(["1"] * len(rows))
        self.parts.append(f"constraints {{ linear {{ vars: [{self._list(rows)}] coeffs: [{ones}] "
                          f"domain: [{low}, {high}] }} }}\n")

    def flush(self, cp: cp_model.CpModel) -> None:
        """Parse what was written into the model, a chunk at a time, checking the stop before each chunk (raises
        `solver.stop.Stopped`)."""
        for start in range(0, len(self.parts), self.CHUNK):
            check(self.stop)
            if not cp.proto.merge_text_format("".join(self.parts[start:start + self.CHUNK])):
                raise RuntimeError("could not build the CP-SAT model")
        self.parts = []


def _set_hint(cp: cp_model.CpModel, n_rows: int, chosen: npt.NDArray[np.bool_]) -> None:
    """Hint every pair variable: `cp.add_hint(x[r], chosen[r])` for all rows, in one go."""
    cp.clear_hints()
    if n_rows:
        cp.proto.solution_hint.vars.extend(range(n_rows))
        cp.proto.solution_hint.values.extend(chosen.astype(np.int64).tolist())


@dataclass(frozen=True)
class CpSearch:
    """How one CP-SAT search runs: its limits, seed, stop, extra constraints and progress reports."""

    deadline: float  # time.monotonic() by which it returns
    seed: int = 0
    stop: threading.Event | StopToken | None = None
    extra_constraints: ExtraConstraints | None = None
    report: Callable[[int, int], None] | None = None  # (objective, bound) of the first stage's improving solutions
    presolve: bool = True


CHILD_MIN_ROWS: int | None = 50_000
"""Pairs from which a CP-SAT solve with a stop runs in a child process the stop kills (None: never). At 50,000
pairs CP-SAT's loading takes ~0.15 s that no stop interrupts; a child costs ~25 ms of CPU."""
CHILD_MIN_ROWS_NO_STOP: int | None = 400_000
"""The same for a solve without a stop (its time limit is all that ends it)."""
WIND_DOWN_S = 0.05  # a stopped child's time to answer with its best so far before it is killed
_PROGRESS = struct.Struct("<qq")
_STATUSES = list(SolveStatus)


def cp_stages(model: AssignmentModel, stages: list[Stage], search: CpSearch, *, distinct_from: list[IntArray],
              min_difference: int, hint: IntArray | None, allowed: npt.NDArray[np.bool_] | None = None,
              within: tuple[int, int] | None = None) -> CpOutcome:
    """Lexicographic CP-SAT: maximise each stage in turn, holding earlier stages at their optimum.

    `allowed` (a mask over rows) forbids the other rows; every constraint still sees all rows, so stability
    constraints keep their blocking pairs whatever is allowed. `within` (one stage only): [low, high] where the
    optimum's objective is known to lie, high a proven bound and low the hint's value (a matching that meets every
    constraint): the search looks there only and ends as soon as it meets high; OPTIMAL is then the optimum. From
    `CHILD_MIN_ROWS` pairs in a child process.
    """
    if within is not None and len(stages) != 1:
        raise ValueError("an objective range needs a single stage")
    # Extra constraints (stability, re-matching, a counterfactual) may read the candidates' polars table, whose
    # thread pool a forked child lacks: those models are built here.
    least = CHILD_MIN_ROWS if search.stop is not None else CHILD_MIN_ROWS_NO_STOP
    if least is not None and model.n_rows >= least and search.extra_constraints is None:
        outcome = _cp_stages_in_child(model, stages, search, distinct_from=distinct_from,
                                      min_difference=min_difference, hint=hint, allowed=allowed, within=within)
        if outcome is not None:
            return outcome
    return _cp_stages_here(model, stages, search, distinct_from=distinct_from, min_difference=min_difference,
                           hint=hint, allowed=allowed, within=within)


def _cp_stages_in_child(model: AssignmentModel, stages: list[Stage], search: CpSearch, *,
                        distinct_from: list[IntArray], min_difference: int, hint: IntArray | None,
                        allowed: npt.NDArray[np.bool_] | None, within: tuple[int, int] | None
                        ) -> CpOutcome | None:
    """`cp_stages` in a forked child: progress relayed as it comes, the outcome sent back; None when no process can
    be forked. Stopped before the child answered (or while it wrote the model): UNKNOWN, as a search stopped before
    its first solution, so that the caller answers with what it has (a priced matching, the flow optimum)."""
    token = StopToken.of(search.stop)
    report = search.report

    def work(send: Callable[[bytes], None], stopping: threading.Event) -> bytes:
        inside = replace(search, stop=StopToken(stopping, token.deadline),
                         report=None if report is None else lambda value, bound: send(_PROGRESS.pack(value, bound)))
        try:
            outcome = _cp_stages_here(model, stages, inside, distinct_from=distinct_from,
                                      min_difference=min_difference, hint=hint, allowed=allowed, within=within)
        except Stopped:  # told to stop while the model was written
            outcome = CpOutcome(None, SolveStatus.UNKNOWN, 0)
        rows = b"" if outcome.rows is None else np.asarray(outcome.rows, dtype=np.int64).tobytes()
        return struct.pack("<qqq", _STATUSES.index(outcome.status), outcome.bound, outcome.rows is not None) + rows

    def relay(message: bytes) -> None:
        if report is not None:
            report(*_PROGRESS.unpack(message))

    try:
        answer = run_in_child(work, token, on_message=relay, deadline=search.deadline, wind_down_s=WIND_DOWN_S)
    except Stopped:
        return CpOutcome(None, SolveStatus.UNKNOWN, 0)
    if answer is None:
        return None
    status, bound, has_rows = struct.unpack_from("<qqq", answer)
    rows = np.frombuffer(answer, dtype=np.int64, offset=24).copy() if has_rows else None
    return CpOutcome(rows, _STATUSES[status], bound)


def _cp_stages_here(model: AssignmentModel, stages: list[Stage], search: CpSearch, *, distinct_from: list[IntArray],
                    min_difference: int, hint: IntArray | None, allowed: npt.NDArray[np.bool_] | None = None,
                    within: tuple[int, int] | None = None) -> CpOutcome:
    cp_model = _cp_model()
    cp = cp_model.CpModel()
    n_rows = model.n_rows
    text = _ModelText(search.stop)
    # Boolean variables pair_0, pair_1, ...: one per candidate row, variable index = row.
    text.parts.extend(f'variables {{ name: "pair_{r}" domain: [0, 1] }}\n' for r in range(n_rows))
    text.flush(cp)
    for rows in _groups(model.mentee):
        text.at_most_one(rows)
    for rows in _groups(model.mentor):
        capacity = int(model.capacity[model.mentor[rows[0]]])
        if len(rows) > capacity:
            text.linear(cp, rows, _INT64_MIN, capacity)
    for r in model.pinned_rows.tolist():
        text.linear(cp, np.array([r]), 1, 1)
    if allowed is not None:
        for r in np.flatnonzero(~allowed).tolist():
            text.linear(cp, np.array([r]), 0, 0)
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
    worst_var = -1
    if any(stage is None for stage in stages):
        # worst <= score of every chosen pair: worst + (top - score_r) * x_r <= top, for every row.
        top = int(model.score.max(initial=0))
        worst_var = n_rows
        text.parts.append(f'variables {{ name: "worst_pair_score" domain: [0, {top}] }}\n')
        text.parts.extend(f"constraints {{ linear {{ vars: [{worst_var}, {r}] coeffs: [1, {top - score}] "
                          f"domain: [{_INT64_MIN}, {top}] }} }}\n"
                          for r, score in enumerate(model.score.tolist()) if score < top)
    seat_vars, seat_coeffs = _seat_costs(model, text, n_rows + (1 if worst_var >= 0 else 0))
    text.flush(cp)
    if search.extra_constraints is not None:
        x = [cp_model.IntVar(cp.proto, r) for r in range(n_rows)]
        search.extra_constraints(cp, x, model)
    if hint is not None:
        hinted = np.zeros(n_rows, dtype=np.bool_)
        hinted[np.asarray(hint, dtype=np.int64)] = True
        _set_hint(cp, n_rows, hinted)
    first_bound = 0
    rows_out: IntArray | None = None
    for index, stage in enumerate(stages):
        if stage is None:
            terms, coeffs = np.array([worst_var], dtype=np.int64), np.array([1], dtype=np.int64)
        else:
            terms = np.flatnonzero(stage != 0)
            coeffs = stage[terms].astype(np.int64)
        if index == len(stages) - 1 and len(seat_vars):  # the last stage holds the score, less the seat costs
            terms, coeffs = np.concatenate([terms, seat_vars]), np.concatenate([coeffs, seat_coeffs])
        # cp.maximize(weighted sum): CP-SAT minimises, so the proto holds the negated objective.
        cp.clear_objective()
        cp.proto.objective.vars.extend(terms.tolist())
        cp.proto.objective.coeffs.extend((-coeffs).tolist())
        cp.proto.objective.scaling_factor = -1.0
        if within is not None:  # the negated objective's domain
            cp.proto.objective.domain.extend([-within[1], -within[0]])
        solver = cp_model.CpSolver()
        solver.parameters.random_seed = search.seed
        # One worker is deterministic (same input and seed, same answer) and, measured on the bundled
        # scenarios, 15-100x faster than interleaved multi-worker search on these assignment models.
        solver.parameters.num_workers = 1
        # The service and the command line handle SIGINT themselves (drain, or an interrupted answer).
        solver.parameters.catch_sigint_signal = False
        if not search.presolve:
            solver.parameters.cp_model_presolve = False
        if within is not None:
            # Between a valid hint and a proven bound, the root LP with the constraints' cuts (linearization 2)
            # closes the gap and the search from the hint meets it; probing first costs more than all the rest:
            # measured 0.45-0.6 s -> 0.19-0.21 s of CPU per kvinfo_network alternative (11,829 pairs).
            solver.parameters.cp_model_probing_level = 0
            solver.parameters.linearization_level = 2
        solver.parameters.max_time_in_seconds = max(0.01, search.deadline - time.monotonic())
        if search.stop is not None and search.stop.is_set():  # cancelled while building, or between stages
            return CpOutcome(rows_out, SolveStatus.UNKNOWN if rows_out is None else SolveStatus.FEASIBLE,
                             first_bound)
        watcher = watch(search.stop, solver)
        callback = _progress(search.report) if (search.report is not None and index == 0) else None
        try:
            code = solver.solve(cp, callback) if callback else solver.solve(cp)
        finally:
            watcher.set()
        if code == cp_model.INFEASIBLE or code == cp_model.MODEL_INVALID:
            if index == 0:
                return CpOutcome(None, SolveStatus.INFEASIBLE, first_bound)
            return CpOutcome(rows_out, SolveStatus.FEASIBLE, first_bound)  # not expected: earlier stages hold
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return CpOutcome(rows_out, SolveStatus.UNKNOWN if rows_out is None else SolveStatus.FEASIBLE,
                             first_bound)
        solution = np.array(solver.response_proto.solution, dtype=np.int64)
        values = solution[:n_rows].astype(np.bool_)
        rows_out = np.flatnonzero(values).astype(np.int64)
        if index == 0:
            first_bound = int(solver.best_objective_bound)
        if code != cp_model.OPTIMAL:
            return CpOutcome(rows_out, SolveStatus.FEASIBLE, first_bound)
        achieved = round(solver.objective_value)
        # cp.add(expression >= achieved): hold this stage at its optimum in the next ones.
        constraint = cp.proto.constraints.add()
        constraint.linear.vars.extend(terms.tolist())
        constraint.linear.coeffs.extend(coeffs.tolist())
        constraint.linear.domain.extend([achieved, _INT64_MAX])
        _set_hint(cp, n_rows, values)
        if worst_var >= 0:
            cp.proto.solution_hint.vars.append(worst_var)
            cp.proto.solution_hint.values.append(int(solution[worst_var]))
    return CpOutcome(rows_out, SolveStatus.OPTIMAL, first_bound)


def _seat_costs(model: AssignmentModel, text: _ModelText, first_var: int) -> tuple[IntArray, IntArray]:
    """Seat variables for the seat costs: seat k >= 2 of a mentor is a boolean costing seat_cost x (k - 1), and the
    mentor's pairs number at most 1 + his seat variables; the costs rise with k, so the cheapest seats are used.
    Returns the variables and their (negative) objective coefficients."""
    if not model.seat_cost:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    variables: list[int] = []
    coeffs: list[int] = []
    for rows in _groups(model.mentor):
        seats = min(int(model.capacity[model.mentor[rows[0]]]), len(rows))
        if seats < 2:
            continue
        own = list(range(first_var + len(variables), first_var + len(variables) + seats - 1))
        text.parts.extend(f'variables {{ name: "seat_{v}" domain: [0, 1] }}\n' for v in own)
        text.parts.append(f"constraints {{ linear {{ vars: [{_ModelText._list(rows)}, {', '.join(map(str, own))}] "
                          f"coeffs: [{', '.join(['1'] * len(rows) + ['-1'] * len(own))}] "
                          f"domain: [{_INT64_MIN}, 1] }} }}\n")
        variables += own
        coeffs += [-model.seat_cost * k for k in range(1, seats)]
    return np.array(variables, dtype=np.int64), np.array(coeffs, dtype=np.int64)


def watch(stop: threading.Event | StopToken | None, solver: cp_model.CpSolver) -> threading.Event:
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

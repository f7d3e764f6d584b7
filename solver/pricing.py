"""Side constraints priced into the min-cost flow (Lagrangian relaxation): gender quotas and distinctness."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solver.candidates import IntArray
from solver.flow import flow_optimum
from solver.model import AssignmentModel
from solver.stop import Stopped, StopToken

_NO_BOUND = 2**62  # no bound proven yet

PricingFlow = Callable[[IntArray, IntArray | None, StopToken], IntArray | None]
"""(priced weights, allowed rows or None, stop) -> the optimum's rows, or None when no matching exists."""


class _NoMatching(Exception):
    """A pricing flow found no matching at all."""


@dataclass(frozen=True)
class SideConstraint:
    """low <= (number of chosen rows among `rows`) <= high: a gender quota, or 'differ from a better matching'."""

    rows: npt.NDArray[np.bool_]  # mask over the model's rows
    low: int
    high: int | None

    def shortfall(self, rows: IntArray) -> int:
        """How far a matching (its rows) misses: > 0 below the minimum, < 0 above the maximum, 0 within."""
        count = int(self.rows[rows].sum())
        if count < self.low:
            return self.low - count
        return self.high - count if self.high is not None and count > self.high else 0


@dataclass(frozen=True)
class Lagrangian:
    rows: IntArray | None  # the best matching found that meets every side constraint (None: none found)
    value: int  # its weight (-1 without one)
    bound: int  # proven upper bound on the weight of any matching that meets them
    evaluations: int

    @property
    def proven(self) -> bool:
        return self.rows is not None and self.value >= self.bound


def quota_constraints(model: AssignmentModel) -> list[SideConstraint]:
    pair_gender = model.mentor_gender[model.mentor]
    out = []
    for gender in sorted({g for g, _, _ in model.quotas}):
        low = max([lo for g, lo, _ in model.quotas if g == gender] + [0])
        high = min((hi for g, _, hi in model.quotas if g == gender and hi is not None), default=None)
        out.append(SideConstraint(pair_gender == gender, low, high))
    return out


def distinct_constraints(model: AssignmentModel, previous: list[IntArray], min_difference: int
                          ) -> list[SideConstraint]:
    out = []
    for rows in previous:
        mask = np.zeros(model.n_rows, dtype=np.bool_)
        mask[rows] = True
        out.append(SideConstraint(mask, 0, len(rows) - min_difference))
    return out


def lagrangian(model: AssignmentModel, weights: IntArray, constraints: list[SideConstraint], deadline: float,
                max_evaluations: int = 40, stop: threading.Event | StopToken | None = None,
                allowed_rows: IntArray | None = None, relaxed: IntArray | None = None,
                flow: PricingFlow | None = None) -> Lagrangian:
    """Meet side constraints by pricing them into the min-cost flow: a bonus (or malus) on each constrained row.

    For prices lam (lam_k > 0 only for a minimum, < 0 only for a maximum), the flow optimum of the priced
    weights minus sum_k lam_k * (its minimum or maximum) bounds every matching that meets the constraints
    (Lagrangian duality), and a priced optimum that happens to meet them is a valid matching; when its weight
    reaches the bound it is proven optimal. Each price is found by doubling and bisection, cycling over the
    constraints until all hold: a few flows, each far cheaper than a CP-SAT search, and CP-SAT, when still
    needed, starts from a near-optimal hint. `allowed_rows`, when given, are the only rows a matching may use
    (pins always count). `relaxed`, when given, is the flow optimum of `weights` on them, known already: the
    first evaluation (no prices yet) is not solved again. `flow`, when given, replaces `flow_optimum` (e.g. the
    flow that also meets the gender quotas exactly: then its constraints are not among `constraints`); its None
    (no matching) ends the pricing with what it has.
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
        if relaxed is not None and not any(lam):
            rows = relaxed
        elif flow is None:
            rows = flow_optimum(model, priced, allowed_rows, stop=stop)
        else:
            found = flow(priced, allowed_rows, StopToken.of(stop))
            if found is None:
                raise _NoMatching
            rows = found
        dual = model.weight(priced, rows)
        short = []
        for c, price in zip(constraints, lam, strict=True):
            reference = c.low if price > 0 else c.high
            if price and reference is not None:
                dual -= price * reference
            short.append(c.shortfall(rows))
        return rows, short, dual

    lam = [0] * len(constraints)
    best_rows: IntArray | None = None
    best_value = -1
    best_bound = _NO_BOUND

    def out_of_budget() -> bool:
        return (evaluations >= max_evaluations or time.monotonic() >= deadline
                or (stop is not None and stop.is_set()))

    try:
        rows, short, best_bound = evaluate(lam)
        while True:
            if not any(short):
                value = model.weight(weights, rows)
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
                    return Lagrangian(best_rows, best_value, best_bound, evaluations)  # cannot be priced into line
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
                    value = model.weight(weights, rows)
                    if value > best_value:
                        best_rows, best_value = rows, value
                    if best_value >= best_bound:
                        break
    except (Stopped, _NoMatching):
        pass  # a flow was stopped (or found nothing): what was found so far stands, as far as it is proven
    return Lagrangian(best_rows, best_value, best_bound, evaluations)


def meets(rows: IntArray, constraints: list[SideConstraint]) -> bool:
    """Whether a matching (its rows) meets every side constraint."""
    return not any(c.shortfall(rows) for c in constraints)

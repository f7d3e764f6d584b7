"""Side constraints priced into the min-cost flow (Lagrangian relaxation): gender quotas and distinctness."""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from solver.candidates import IntArray
from solver.flow import flow_optimum
from solver.model import AssignmentModel
from solver.stop import Stopped, StopToken

_NO_BOUND = 2**62  # no bound proven yet

PricingFlow = Callable[[AssignmentModel, IntArray, IntArray | None, StopToken], IntArray | None]
"""(model, priced weights, allowed rows or None, stop) -> the optimum's rows, or None when no matching exists. The
model is the caller's, or a copy of it with its seat costs scaled as the weights are (`exact_distinct`)."""


class _NoMatching(Exception):
    """A pricing flow found no matching at all."""


def _optimum(model: AssignmentModel, priced: IntArray, allowed_rows: IntArray | None,
             stop: threading.Event | StopToken | None, flow: PricingFlow | None) -> IntArray:
    """The flow optimum of the `priced` weights: `flow` when given (raises `_NoMatching` for its None), else
    `flow_optimum`."""
    if flow is None:
        return flow_optimum(model, priced, allowed_rows, stop=stop)
    found = flow(model, priced, allowed_rows, StopToken.of(stop))
    if found is None:
        raise _NoMatching
    return found


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
        rows = relaxed if relaxed is not None and not any(lam) else _optimum(model, priced, allowed_rows, stop, flow)
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


_PRICE_LIMIT = 2**58
"""A scaled weight (weight x the price's denominator) times the flow's nodes stays below this: the min-cost flow's
cost scaling stays exact in int64."""


@dataclass(frozen=True)
class _Priced:
    rows: IntArray
    value: int  # the matching's weight, unpriced
    count: int  # its rows among the constraint's


def exact_distinct(model: AssignmentModel, weights: IntArray, constraints: list[SideConstraint], deadline: float,
                   *, max_evaluations: int = 40, stop: threading.Event | StopToken | None = None,
                   allowed_rows: IntArray | None = None, relaxed: IntArray | None = None,
                   flow: PricingFlow | None = None) -> Lagrangian:
    """Upper-bounded constraints ("differ from a better matching in at least D pairs": at most h of its rows) each
    priced at the exact minimum of its own Lagrangian dual, with a rational price.

    For one constraint count(x) <= h and a price lam >= 0, L(lam) = max_x w(x) - lam (count(x) - h) bounds every
    matching that meets it (and so every matching that meets all). L is convex and piecewise linear, each priced
    optimum x a line of it (intercept w(x), slope h - count(x)): from a line that breaks the constraint and one that
    keeps it, their crossing is the next price (Newton's method for a parametric problem); when the optimum there
    lies on both lines, that price is the minimum L*. A price p/q is the flow of q x weights - p on the
    constraint's rows (seat costs x q), exact in integers. The weights are integers, so no matching meeting the
    constraints weighs more than floor(min over the constraints of L*): the bound. Every priced optimum met on the
    way that meets all constraints is a candidate; `proven` when the best reaches the bound. `relaxed`, when given,
    is the unpriced optimum (price 0). `flow` as in `lagrangian`.
    """
    nodes = model.candidates.arrays.n_mentees + model.candidates.arrays.n_mentors + len(model.org_caps) + 4
    top = int(np.abs(weights).max(initial=1)) + 1
    limit = _PRICE_LIMIT // nodes
    evaluations = 0
    best_rows: IntArray | None = None
    best_value = -1
    bound = Fraction(_NO_BOUND)

    def solve_priced(mask: npt.NDArray[np.bool_], p: int, q: int) -> _Priced:
        nonlocal evaluations, best_rows, best_value
        evaluations += 1
        priced = weights * q
        priced[mask] -= p
        scaled = model if q == 1 or not model.seat_cost else dataclasses.replace(
            model, seat_cost=model.seat_cost * q, max_seat_cost=model.max_seat_cost * q)
        rows = relaxed if p == 0 and relaxed is not None else _optimum(scaled, priced, allowed_rows, stop, flow)
        value = model.weight(weights, rows)
        if value > best_value and meets(rows, constraints):
            best_rows, best_value = rows, value
        return _Priced(rows, value, int(mask[rows].sum()))

    def out_of_budget() -> bool:
        return (evaluations >= max_evaluations or time.monotonic() >= deadline
                or (stop is not None and stop.is_set()))

    try:
        for c in constraints:
            if c.high is None or c.low > 0 or out_of_budget():
                continue
            high = c.high
            over = solve_priced(c.rows, 0, 1)
            bound = min(bound, Fraction(over.value))
            if over.count <= high:
                continue  # this constraint does not bind: L* is the unpriced optimum
            price = 1
            keeps: _Priced | None = None
            while keeps is None and price * nodes < limit and not out_of_budget():
                found = solve_priced(c.rows, price, 1)
                bound = min(bound, found.value - Fraction(price * (found.count - high)))
                if found.count <= high:
                    keeps = found
                else:
                    over, price = found, price * 4
            while keeps is not None and not out_of_budget():
                # The crossing of the two lines: w_o - lam (n_o - h) = w_k - lam (n_k - h), n_o > h >= n_k.
                lam = Fraction(over.value - keeps.value, over.count - keeps.count)
                if lam < 0 or top * lam.denominator + lam.numerator >= limit:
                    break  # not optimal flows (cannot happen), or beyond exact integers: the bound so far stands
                crossing = over.value - lam * (over.count - high)
                found = solve_priced(c.rows, lam.numerator, lam.denominator)
                at = found.value - lam * (found.count - high)
                bound = min(bound, at)
                if at <= crossing:
                    break  # the priced optimum is on both lines: lam minimises L, bound = L*
                if found.count > high:
                    over = found
                else:
                    keeps = found
    except (Stopped, _NoMatching):
        pass  # a flow was stopped (or found nothing): what was found so far stands, as far as it is proven
    return Lagrangian(best_rows, best_value, math.floor(bound), evaluations)

"""Side constraints priced into the min-cost flow (Lagrangian relaxation): gender quotas and distinctness."""

from __future__ import annotations

import dataclasses
import itertools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

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


MAX_SWAPS = 8  # swaps `_Swaps.within` applies to bring a priced matching within the constraints
SWAP_CELLS = 1_000_000
"""Pairs of a matching's positions `_Swaps.within` weighs at most (a matching of up to 1,000 pairs; ~30 MB of
matrices); a larger one is left to CP-SAT."""
SWAP_TABLE_CELLS = 4_000_000
"""Up to this many mentees x mentors, a pair's row is looked up in a table of every (mentee, mentor) (int32,
16 MB at most): a swap's million pairs in ~1 ms instead of ~15 ms by binary search over the rows."""


@dataclass(frozen=True)
class _Priced:
    rows: IntArray  # the flow optimum at the prices `lam`
    value: int  # its weight, unpriced
    counts: tuple[int, ...]  # its rows among each constraint's
    lam: tuple[Fraction, ...]


def exact_distinct(model: AssignmentModel, weights: IntArray, constraints: list[SideConstraint], deadline: float,
                   *, max_evaluations: int = 40, stop: threading.Event | StopToken | None = None,
                   allowed_rows: IntArray | None = None, relaxed: IntArray | None = None,
                   flow: PricingFlow | None = None, memo: PricedMemo | None = None) -> Lagrangian:
    """Upper-bounded constraints ("differ from a better matching in at least D pairs": at most h of its rows)
    priced at the minimum of their Lagrangian dual, with rational prices, and a matching that meets them.

    For prices lam >= 0, L(lam) = max_x w(x) - sum_k lam_k (count_k(x) - h_k) bounds every matching that meets
    them. L is convex and piecewise linear; along one price, each priced optimum x is a line (slope
    h_k - count_k(x)): from a line that breaks the constraint and one that keeps it, their crossing is the next
    price (Newton's method for a parametric problem), and when the optimum there lies on both lines that price
    minimises L along it. Each price is so minimised once, in turn (with one constraint that is the exact minimum);
    with several, the next prices are the lowest point of all lines met so far (Kelley's cutting planes, `_lowest`)
    until that brings nothing new. Prices p/q are the flow of q x weights - p on the constraint's rows (seat
    costs x q), exact in integers. The weights are integers, so no matching that meets the constraints weighs more
    than floor(L): the bound. Candidates: every priced optimum met on the way that meets them, and breaking ones
    brought within them by swapping mentors between their mentees (`_Swaps`); `proven` when the best reaches the
    bound. Constraints with a minimum (quotas) are not priced, only kept by the candidates. `relaxed`, when given,
    is the unpriced optimum. `flow` as in `lagrangian`. `memo`, when given, holds the priced optima of earlier
    calls on the same model, weights, allowed rows and flow (`PricedMemo`): prices met again cost no flow (the next
    alternative walks the earlier constraints' prices again for free, then prices its new one).
    """
    nodes = model.candidates.arrays.n_mentees + model.candidates.arrays.n_mentors + len(model.org_caps) + 4
    top = int(np.abs(weights).max(initial=1)) + model.max_seat_cost + 1
    limit = _PRICE_LIMIT // nodes
    priced_ks = [k for k, c in enumerate(constraints) if c.high is not None and c.low == 0]
    high = [c.high if c.high is not None else 0 for c in constraints]
    evaluations = 0
    best_rows: IntArray | None = None
    best_value = -1
    bound = Fraction(_NO_BOUND)
    remembered = memo if memo is not None else PricedMemo()
    if remembered.swaps is None:
        remembered.swaps = _Swaps(model, weights, allowed_rows)
    swaps = remembered.swaps
    planes: list[tuple[int, tuple[int, ...]]] = []  # (weight, counts) of every priced optimum: its line of L
    repeated: list[tuple[int, tuple[int, ...]]] = []
    names = [remembered.name(c.rows) for c in constraints]

    def dual(x: _Priced) -> Fraction:
        return x.value - sum((x.lam[k] * (x.counts[k] - high[k]) for k in priced_ks), Fraction(0))

    def candidate(rows: IntArray) -> None:
        nonlocal best_rows, best_value
        value = model.weight(weights, rows)
        if value > best_value and meets(rows, constraints):
            best_rows, best_value = rows, value

    def solve_at(lam: tuple[Fraction, ...]) -> _Priced | None:
        """The priced optimum at `lam`; None when the prices leave exact integers."""
        nonlocal evaluations, bound
        q = math.lcm(*(price.denominator for price in lam))
        numerators = [int(price * q) for price in lam]
        if top * q + sum(numerators) >= limit:
            return None
        key = tuple(sorted((names[k], price) for k, price in enumerate(lam) if price))
        rows = relaxed if not key and relaxed is not None else remembered.optima.get(key)
        if rows is None:
            evaluations += 1
            priced = weights * q
            for c, p in zip(constraints, numerators, strict=True):
                if p:
                    priced[c.rows] -= p
            scaled = model if q == 1 or not model.seat_cost else dataclasses.replace(
                model, seat_cost=model.seat_cost * q, max_seat_cost=model.max_seat_cost * q)
            rows = _optimum(scaled, priced, allowed_rows, stop, flow)
            remembered.keep(key, rows)
        x = _Priced(rows, model.weight(weights, rows), tuple(int(c.rows[rows].sum()) for c in constraints), lam)
        seen = (x.value, x.counts)
        if seen in planes:
            repeated.append(seen)
        else:
            planes.append(seen)
        bound = min(bound, dual(x))
        candidate(rows)
        return x

    def out_of_budget() -> bool:
        return (evaluations >= max_evaluations or time.monotonic() >= deadline
                or (stop is not None and stop.is_set()))

    def line(x: _Priced, k: int) -> tuple[Fraction, int]:
        """x's line along price k, the others held: (its value at price 0, its slope)."""
        return dual(x) + x.lam[k] * (x.counts[k] - high[k]), high[k] - x.counts[k]

    def at(x: _Priced, k: int, price: Fraction) -> tuple[Fraction, ...]:
        return (*x.lam[:k], price, *x.lam[k + 1:])

    def along(k: int, x: _Priced) -> _Priced:
        """Minimise L along price k from x, the optimum at the current prices; returns the optimum at the new ones."""
        breaks: _Priced | None = x if x.counts[k] > high[k] else None
        keeps: _Priced | None = x if x.counts[k] <= high[k] else None
        if breaks is not None:
            step = 1
            while keeps is None and not out_of_budget():
                found = solve_at(at(x, k, x.lam[k] + step))
                if found is None:
                    return breaks
                if found.counts[k] <= high[k]:
                    keeps = found
                else:
                    breaks, step = found, step * 4
        if breaks is None or keeps is None:
            return x if breaks is None else breaks
        last = keeps
        while not out_of_budget():
            (a_b, s_b), (a_k, s_k) = line(breaks, k), line(keeps, k)
            price = (a_b - a_k) / (s_k - s_b)  # where the breaking and the keeping line cross
            if price < 0:
                break  # not optimal flows (cannot happen): the bound so far stands
            found = solve_at(at(x, k, price))
            if found is None:
                break
            last = found
            if dual(found) <= a_b + price * s_b:
                break  # the optimum there lies on both lines: this price minimises L along k
            if found.counts[k] > high[k]:
                breaks = found
            else:
                keeps = found
        if out_of_budget() or best_value < math.floor(bound):
            swapped = swaps.within(breaks.rows, constraints)
            if swapped is not None:
                candidate(swapped)
        return last

    def proven() -> bool:
        return best_value >= math.floor(bound)

    try:
        x = solve_at(tuple(Fraction(0) for _ in constraints))
        for k in priced_ks:
            if x is None or proven() or out_of_budget():
                break
            x = along(k, x)
        nearest: tuple[int, int, IntArray] | None = None  # (excess, -value, rows) of the nearest breaking optimum
        while best_rows is not None and len(priced_ks) > 1 and not proven() and not out_of_budget():
            # Several prices: the lowest point of the lines met so far (Kelley's cutting planes) is the next price.
            lowest = _lowest([*planes, (best_value, tuple(int(c.rows[best_rows].sum()) for c in constraints))],
                             priced_ks, high, len(constraints))
            if lowest is None or math.floor(lowest[1]) >= math.floor(bound):
                break  # L is nowhere below the lines' lowest point: no price brings the bound to a lower integer
            lam = lowest[0]
            known = len(repeated)
            x = solve_at(lam)
            if x is None or len(repeated) > known:
                break  # nothing new: the bound is as low as the lines can bring it
            excess = sum(max(0, x.counts[k] - high[k]) for k in priced_ks)
            if excess <= 2:  # one swap may do: try it now, it may end the search
                swapped = swaps.within(x.rows, constraints)
                if swapped is not None:
                    candidate(swapped)
            elif nearest is None or (excess, -x.value) < nearest[:2]:
                nearest = (excess, -x.value, x.rows)
        if nearest is not None and not proven():
            swapped = swaps.within(nearest[2], constraints)
            if swapped is not None:
                candidate(swapped)
    except (Stopped, _NoMatching):
        pass  # a flow was stopped (or found nothing): what was found so far stands, as far as it is proven
    return Lagrangian(best_rows, best_value, math.floor(bound), evaluations)


MEMO_CELLS = 2_000_000
"""Rows a `PricedMemo` holds at most (16 MB of int64): ~80 optima of 25,000 pairs; a solve with many alternatives of a
large cohort remembers the first ones and flows the rest."""


class PricedMemo:
    """The flow optima `exact_distinct` met, by their prices (each constraint's rows named by content), for later
    calls on the same model, weights, allowed rows and flow: one solve's alternatives. Any optimum at given prices
    gives the same dual value, so a remembered one is as good as a new flow."""

    def __init__(self) -> None:
        self.masks: dict[bytes, int] = {}  # a constraint's rows (packed) -> its name
        self.optima: dict[tuple[tuple[int, Fraction], ...], IntArray] = {}
        self.swaps: _Swaps | None = None  # with its look-up table, made on first use
        self.cells = 0  # rows held in `optima`

    def keep(self, key: tuple[tuple[int, Fraction], ...], rows: IntArray) -> None:
        """Remembers an optimum while the memory allows (`MEMO_CELLS`): the first prices met, replayed first."""
        if self.cells + len(rows) <= MEMO_CELLS:
            self.optima[key] = rows
            self.cells += len(rows)

    def name(self, rows: npt.NDArray[np.bool_]) -> int:
        return self.masks.setdefault(np.packbits(rows).tobytes(), len(self.masks))


def _lowest(planes: list[tuple[int, tuple[int, ...]]], priced: list[int], high: list[int], n: int
            ) -> tuple[tuple[Fraction, ...], float] | None:
    """The prices (for the `priced` constraints; 0 for the others) at the lowest point over lam >= 0 of the upper
    envelope of the lines w + sum_k lam_k (h_k - count_k) of the matchings in `planes`, and that lowest value (L is
    nowhere lower), from the vertices where as many of them and of the faces lam_k = 0 meet as there are unknowns
    (floating point, then the nearest simple fractions: any prices give a valid bound). None when there is none
    (too many lines to enumerate)."""
    recent = list(dict.fromkeys(planes))[-_PLANES:]
    dims = len(priced)
    # Each row: [coefficients of lam..., -1] . (lam, t) = -w for a line; [unit, 0] . (lam, t) = 0 for a face.
    rows = [[float(high[k] - counts[k]) for k in priced] + [-1.0] for _, counts in recent]
    rhs = [-float(value) for value, _ in recent]
    for d in range(dims):
        rows.append([1.0 if e == d else 0.0 for e in range(dims)] + [0.0])
        rhs.append(0.0)
    a, b = np.array(rows), np.array(rhs)
    combos = np.array(list(itertools.combinations(range(len(rows)), dims + 1)), dtype=np.int64)
    if len(combos) == 0 or len(combos) > 50_000:
        return None
    systems = a[combos]
    solvable = np.abs(np.linalg.det(systems)) > 1e-9
    if not solvable.any():
        return None
    try:
        points = np.linalg.solve(systems[solvable], b[combos[solvable]][..., None])[..., 0]
    except np.linalg.LinAlgError:
        return None
    lam, t = points[:, :dims], points[:, dims]
    lines = a[: len(recent)]
    envelope = (lam @ lines[:, :dims].T + np.array([float(v) for v, _ in recent])).max(axis=1)
    scale = 1e-9 * max(1.0, float(np.abs(b).max()))
    inside = (lam >= -1e-9).all(axis=1) & (envelope <= t + scale)
    if not inside.any():
        return None
    best = int(np.flatnonzero(inside)[np.argmin(envelope[inside])])
    prices = [Fraction(0)] * n
    for d, k in enumerate(priced):
        prices[k] = Fraction(max(0.0, float(lam[best, d]))).limit_denominator(_DENOMINATOR)
    return tuple(prices), float(envelope[best])


_PLANES = 24  # lines `_lowest` takes (the latest ones)
_DENOMINATOR = 100_000  # of the prices `_lowest` returns


class _Swaps:
    """Matchings near a priced optimum: two of its mentees exchange mentors (every load, so seat costs, caps and
    quotas, stays as it was)."""

    def __init__(self, model: AssignmentModel, weights: IntArray, allowed_rows: IntArray | None) -> None:
        self.model, self.weights, self.allowed_rows = model, weights, allowed_rows
        self.n_mentors = model.candidates.arrays.n_mentors
        self.order: IntArray | None = None  # rows by (mentee, mentor), made on first use
        self.keys: IntArray | None = None
        self.table: npt.NDArray[np.int32] | None = None  # or the row of each (mentee, mentor), -1 for none
        self.usable = np.zeros(0, dtype=np.bool_)

    def _prepare(self) -> None:
        model = self.model
        keys = model.mentee * self.n_mentors + model.mentor
        cells = model.candidates.arrays.n_mentees * self.n_mentors
        if cells <= SWAP_TABLE_CELLS:
            self.table = np.full(cells, -1, dtype=np.int32)
            self.table[keys] = np.arange(model.n_rows, dtype=np.int32)
        else:
            self.order = np.argsort(keys, kind="stable")
            self.keys = keys[self.order]
        self.usable = np.ones(model.n_rows, dtype=np.bool_)
        if self.allowed_rows is not None:
            self.usable[:] = False
            self.usable[self.allowed_rows] = True
        self.usable[model.pinned_rows] = False

    def within(self, rows: IntArray, constraints: list[SideConstraint]) -> IntArray | None:
        """`rows` with up to `MAX_SWAPS` swaps, each the best gain among those that lower the total excess over the
        constraints' maxima, until none is left; None when that is not reached."""
        model, weights = self.model, self.weights
        upper = [c for c in constraints if c.high is not None]
        highs = np.array([c.high for c in upper], dtype=np.int64)
        rows = np.asarray(rows, dtype=np.int64).copy()
        if len(rows) ** 2 > SWAP_CELLS:
            return None
        worst = int((np.array([int(c.rows[rows].sum()) for c in upper], dtype=np.int64) - highs).max(initial=0))
        if worst > 2 * MAX_SWAPS:
            return None  # a swap lowers each constraint's count by 2 at most
        if worst <= 0:
            return np.sort(rows)  # within them already: no matrices to weigh
        if not len(self.usable):
            self._prepare()
        # cross[i, j]: the row of (position i's mentee, position j's mentor), -1 where no candidate; a swap of two
        # positions exchanges their mentors, so their columns.
        cross = self._row(model.mentee[rows][:, None], model.mentor[rows][None, :])
        known = cross >= 0
        cross = np.where(known, cross, 0)
        known &= self.usable[cross] & (model.mentor[rows][:, None] != model.mentor[rows][None, :])
        cross_weight = weights[cross]
        in_upper = [c.rows[cross] for c in upper]
        movable = np.flatnonzero(self.usable[rows])
        everyone = len(movable) == len(rows)
        for done in range(MAX_SWAPS + 1):
            counts = np.array([int(c.rows[rows].sum()) for c in upper], dtype=np.int64)
            excess = np.maximum(counts - highs, 0)
            if not excess.any():
                return np.sort(rows)
            if int(excess.max()) > 2 * (MAX_SWAPS - done):
                return None  # a swap lowers each constraint's count by 2 at most
            over = movable[np.any([c.rows[rows[movable]] for c, e in zip(upper, excess, strict=True) if e], axis=0)]
            if len(over) == 0:
                return None

            def there(matrix: npt.NDArray[Any], over: IntArray = over) -> npt.NDArray[Any]:
                """[a, b]: the cell of (over[a]'s mentee, movable[b]'s mentor)."""
                return matrix[over] if everyone else matrix[np.ix_(over, movable)]

            def back(matrix: npt.NDArray[Any], over: IntArray = over) -> npt.NDArray[Any]:
                """[a, b]: the cell of (movable[b]'s mentee, over[a]'s mentor)."""
                return (matrix[:, over] if everyone else matrix[np.ix_(movable, over)]).T

            valid = there(known) & back(known)
            own = weights[rows]
            # The excess over the maxima after each swap, less what the constraints far over add whatever the swap.
            after = np.zeros(valid.shape, dtype=np.int32)
            fixed = 0
            for c, inside, count, most in zip(upper, in_upper, counts.tolist(), highs.tolist(), strict=True):
                slack = count - most
                if slack <= -3:
                    continue  # a swap changes the count by 2 at most: within either way
                held = c.rows[rows].view(np.int8)
                change = (there(inside).view(np.int8) + back(inside).view(np.int8) - held[over][:, None]
                          - held[movable][None, :])  # -2 .. 2
                if slack >= 2:
                    after += change
                    fixed += slack
                else:
                    after += np.maximum(change + np.int8(slack), 0)
            valid &= after < int(excess.sum()) - fixed
            if not valid.any():
                return None
            gain = np.where(valid, there(cross_weight) + back(cross_weight) - own[over][:, None]
                            - own[movable][None, :], np.iinfo(np.int64).min)
            a, b = np.unravel_index(int(np.argmax(gain)), gain.shape)
            p, q = int(over[a]), int(movable[b])
            rows[p], rows[q] = cross[p, q], cross[q, p]
            for matrix in (cross, known, cross_weight, *in_upper):  # p and q exchanged their mentors
                matrix[:, [p, q]] = matrix[:, [q, p]]
        return None

    def _row(self, mentee: IntArray, mentor: IntArray) -> IntArray:
        """The row of each (mentee, mentor), -1 where it is no candidate."""
        keys = mentee * self.n_mentors + mentor
        if self.table is not None:
            return self.table[keys]
        assert self.keys is not None and self.order is not None
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self.order[at], -1).astype(np.int32)

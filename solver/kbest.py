"""Exact ranked alternatives for a pure assignment: Lawler-Murty partitioning with Lagrangian bounds.

Matching k is the best matching that differs from each better one in at least D of its pairs (README,
Alternatives). For a model without side constraints beyond what a flow carries (capacities, pins, seat costs,
organisation caps, gender quotas where the groupings nest (`solver.flow.quota_groups`); no stability, no extra
CP-SAT constraints, one lexicographic stage), each
alternative is found here without CP-SAT, by a best-first branch and bound over Murty's partition of the
matchings:

- A *node* is the set of matchings that contain its `include` rows (and every pin) and none of its `exclude`
  rows. Its *priced optimum* is the best matching in it for the priced weights `w - sum_k lam_k [row in A_k]`,
  where A_1.. are the matchings found so far and lam >= 0 their prices.
- "Differs from A_k in at least D pairs" is |Y & A_k| <= |A_k| - D = h_k. For a Y that meets it,
  w(Y) = P(Y) + sum_k lam_k |Y & A_k| <= P(X) + sum_k lam_k min(h_k, |A_k - exclude|): the node's bound, X its
  priced optimum (Lagrangian duality, any lam >= 0). The prices only make the bounds tight; the search is exact
  for every lam (lam = 0 is plain Murty ranking, skipping the matchings that are too close).
- Nodes are taken best bound first. A priced optimum that differs enough is a candidate; every taken node is
  split by Murty's rule on its optimum X (child i keeps X's first i free rows and leaves out the next one, so
  the children partition the node less X), and children that already keep more than h_k rows of some A_k hold
  nothing valid and are dropped. The search ends when no node's bound exceeds the best candidate's value: that
  candidate is optimal. An empty queue with no candidate proves that no further matching differs enough.

Each node is one dense assignment (scipy's `linear_sum_assignment`, a C++ shortest augmenting path) over the
free mentees x their mentors' free seats (seat k of a mentor costs seat_cost x (k - 1) more, so the cheapest seats
fill first, as in the flow), built by slicing one matrix made once per alternative: no Python loop per pair.
On small matrices (`ZEROED_CELLS`) a child's matrix is its parent's with a few rows, seats and cells zeroed; on
larger ones, its parent's (the parent's left-out cells at 0) with its own left-out row's cells zeroed and its kept
rows and seats taken out (two `take`s), the parent's matrix made once, when it is split.
Where an organisation cap binds (it then couples mentors), each node is a min-cost flow instead
(`solver.flow.flow_optimum`, the node's includes as pins); where a gender quota binds, a flow with the quota's
group arcs (`solver.flow.quota_flow_optimum`), and a node in which no matching meets the quotas is dropped.

Without prices the node bounds hold whatever is found later, so one search (its queue, and the valid matchings
it met that were not the best) goes on from one alternative to the next; with prices, which change with every
matching found, each alternative is a fresh search.

Ties: among equally good matchings, the one that keeps the most pairs of the best comes first (the weights are
scaled by more than a matching's pairs, plus one point per pair of the best); then the search order (node
creation order, rows ascending), which depends on the canonical cohort only: the same input gives the same
alternatives whatever the row order. The work is capped by a number of node evaluations fixed by the model's
size, never by time, so the same input always takes the same path; past the cap the caller goes on with CP-SAT
(`solver.solve`).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import heapq
import math
import threading
from dataclasses import dataclass

import numpy as np

from solver.arrays import FloatArray
from solver.candidates import IntArray
from solver.flow import quota_groups
from solver.kbest_nodes import Cut, Dense, Flows, all_of, any_of, sum_of
from solver.model import AssignmentModel
from solver.stop import Stopped, StopToken, check

__all__ = ["KBest", "alternatives", "applies"]

DENSE_CELL_LIMIT = 20_000
"""Free mentees x seats up to which alternatives are ranked here; beyond, CP-SAT's (after the pricing flows). On
larger cohorts the default D (a tenth of the pairs) lets far more matchings lie close to each better one than a
ranking can skip, while the pricing often proves them at once (measured: 200 x 200 national pool, D = 13, 273
node solves for one alternative; 500 x 500, D = 38: none in 200; 80 x 80 Copenhagen, D = 8: 217 for two)."""
FLOW_ROW_LIMIT = 2_000
"""Candidate rows up to which nodes may be min-cost flows (binding organisation caps)."""
FLOW_EVALUATIONS = 100
"""Node flows per alternative where an organisation cap binds (each ~0.5-2 ms: about what CP-SAT takes for an
alternative of such a model, so an alternative the ranking cannot finish costs at most about twice)."""
EVALUATION_CELLS = 4_000_000
"""Node evaluations per alternative: this many matrix cells' worth (at least `MIN_EVALUATIONS`, at most
`MAX_EVALUATIONS`); then CP-SAT carries on. Measured: 15 x 15 Lyngby needs ~14 per alternative (168 cells),
80 x 80 Copenhagen 38 and 179 (6,660 cells: the budget is 600)."""
MIN_EVALUATIONS = 100
DUAL_CELLS = 1_000
"""Matrix cells from which children get bounds from the node's duals even without prices."""
PRICE_FROM_DIFFERENCE = 3
"""From this D on, the search is priced (`_Search.prices`); below, plain ranking skips the few matchings that are
too close (measured, 15 x 15 with D = 2: 21 node evaluations unpriced, 23-42 priced, plus the pricing's own;
80 x 80 with D = 8: 573 unpriced, 64 priced just below the breakpoint)."""
MAX_EVALUATIONS = 2_000
ZEROED_MEMORY_CELLS = 2_000_000
"""Cells of the nodes' matrices a search keeps at most (16 MB; many alternatives of a 1,000-cell matrix could
otherwise keep ~100,000 nodes' worth): past it, the children of a node solved from then on are cut out by index.
A split node's children's zeroing indices (`Cut.zero`, int32) are at most its matrix's bytes again: 32 MB in all."""
_EXACT_FLOAT = 2.0**52  # sums of the assignment's costs stay exact integers in float64 below this
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class KBest:
    found: list[IntArray]  # alternatives, best first, each proven optimal (sorted rows)
    exhausted: bool  # no further matching differs enough from every one before it (proven)
    evaluations: int  # node solves spent


def applies(model: AssignmentModel, weights: IntArray | None, *, extra: bool) -> bool:
    """Whether the alternatives of this model (one stage of `weights`) can be ranked here: no gender quota that
    can bind, no extra constraints, a size the dense or the flow nodes take."""
    if weights is None or extra:
        return False
    if _quotas_bind(model):
        # Quotas on nested groupings are a layer of the flow (`solver.flow.quota_groups`): flow nodes.
        return quota_groups(model) is not None and model.n_rows <= FLOW_ROW_LIMIT
    if _caps_bind(model):
        return model.n_rows <= FLOW_ROW_LIMIT
    n_mentees = model.candidates.arrays.n_mentees
    if n_mentees * max(model.n_rows, n_mentees) <= DENSE_CELL_LIMIT:  # more than the cells can be: no counting
        return True
    seats = int(sum_of(np.minimum(model.capacity, np.bincount(model.mentor, minlength=len(model.capacity)))))
    free = int(np.count_nonzero(np.bincount(model.mentee)))  # mentees with a pair
    return free * max(seats, free) <= DENSE_CELL_LIMIT


def _quotas_bind(model: AssignmentModel) -> bool:
    """Whether some gender quota can bind: a minimum, or a maximum below its gender's candidate pairs."""
    if not model.quotas:
        return False
    pair_gender = model.mentor_gender[model.mentor]
    return any(low > 0 or (high is not None and high < int((pair_gender == gender).sum()))
               for gender, low, high in model.quotas)


def _caps_bind(model: AssignmentModel) -> bool:
    """Whether some organisation's cap is below what its mentors could take (then it couples them)."""
    org = model.mentor_org
    if not len(model.org_caps):
        return False
    seats = np.bincount(org[org >= 0], weights=model.capacity[org >= 0], minlength=len(model.org_caps))
    return bool((model.org_caps < seats).any())


# The search --------------------------------------------------------------------------------------------------


class _Node:
    """A node of the search: the matchings that keep its `include` rows (and the pins) and none of its `exclude`
    rows. A child keeps its parent's includes and the first `index` of its free rows, and leaves out the next
    one: made when it is first read (many children are never solved)."""

    __slots__ = ("_exclude", "_include", "base", "cells", "child_cols", "child_rows", "chosen", "cols_at", "cut", "found",
                 "free", "index", "matrix", "move", "parent", "priced", "refill", "room", "rows", "rows_at", "solved")

    # Set once the node is solved or split, before anything reads them (not made for each of the many children
    # that are never solved: ~40 nodes of a 15 x 15 call, each a few hundred ns of attribute stores less).
    priced: int  # its priced weight (`_Search._evaluate`)
    free: IntArray | None  # rows neither pins nor `include`, in the order children take them (`_Search._losses`)
    refill: FloatArray | None  # with `move`
    # Zeroed matrices (`ZEROED_CELLS`): the priced weight of its pins and includes (larger matrices too), and the
    # optimum's cells and their costs (`Dense.solve_matrix`), read as `found` when it is split.
    base: int
    cells: IntArray | None
    chosen: FloatArray | None
    # Larger matrices: the whole matrix's columns the node keeps (with `rows_at`), and once split, its children's
    # rows and columns (`_Search._split_matrices`).
    cols_at: IntArray | None
    child_rows: np.ndarray | None
    child_cols: np.ndarray | None

    def __init__(self, include: IntArray | None = None, exclude: IntArray | None = None,
                 parent: _Node | None = None, index: int = 0) -> None:
        self._include, self._exclude, self.parent, self.index = include, exclude, parent, index
        self.solved = False  # its priced optimum found (`_Search._evaluate`)
        self.rows: IntArray | None = None  # the priced optimum, pins included, sorted
        self.found: IntArray | None = None  # the priced optimum's rows beside the pins and `include`
        self.move: FloatArray | None = None  # least losses when one of `free` is left out (`Dense.drops`): once split
        # Zeroed matrices: the node's matrix (None: not kept, `ZEROED_MEMORY_CELLS`) and its split.
        self.matrix: FloatArray | None = None
        self.cut: Cut | None = None
        # Larger matrices: the whole matrix's rows the node keeps (its includes' mentees out).
        self.rows_at: IntArray | None = None
        self.room: int | None = None  # `_Search._room` of its excludes, when its parent's split gave it

    @property
    def include(self) -> IntArray:
        if self._include is None:
            parent = self.parent
            assert parent is not None and parent.free is not None
            self._include = np.concatenate([parent.include, parent.free[:self.index]])
        return self._include

    @property
    def exclude(self) -> IntArray:
        if self._exclude is None:
            parent = self.parent
            assert parent is not None and parent.free is not None
            self._exclude = np.concatenate([parent.exclude, parent.free[self.index:self.index + 1]])
        return self._exclude


class _Search:
    """One alternative: the best matching that differs enough from every one in `accepted`."""

    def __init__(self, model: AssignmentModel, weights: IntArray, solver: Dense | Flows,
                 accepted: list[IntArray], min_difference: int, budget: int,
                 stop: StopToken | threading.Event | None) -> None:
        self.model, self.weights, self.solver, self.stop = model, weights, solver, stop
        self.seat_cost = solver.seat_cost  # scaled as the weights are (`alternatives`)
        n = model.n_rows
        self.masks = np.zeros((len(accepted), n), dtype=np.bool_)
        for k, rows in enumerate(accepted):
            self.masks[k, rows] = True
        self.size = np.array([len(a) for a in accepted], dtype=np.int64)
        self.limit = self.size - min_difference  # h_k: rows of A_k a valid matching may keep
        self.pins = model.pinned_rows
        self.pin_kept = sum_of(self.masks[:, self.pins], axis=1)
        self.row_counts: list[int] = sum_of(self.masks, axis=0).tolist()  # of the A_k each row is in
        self.budget = budget
        self.evaluations = 0
        self.lam = np.zeros(len(accepted), dtype=np.int64)
        self.any_price = False  # whether some price of `lam` is positive (asked at every node)
        self.matrix_cells = 0  # of the matrices its nodes keep (`ZEROED_MEMORY_CELLS`)
        self.priced = weights
        # Child bounds from the duals cost a few assignments' worth per split: they pay on larger matrices and
        # with prices (measured: 15 x 15, D = 2: 22 evaluations with them, 34 without, and 10 % faster without;
        # 80 x 80, D = 8: a third of the evaluations).
        self.duals = isinstance(solver, Dense) and (min_difference >= PRICE_FROM_DIFFERENCE
                                                     or solver.cells >= DUAL_CELLS)
        self.min_difference = min_difference
        # What a search leaves for the next alternative when it is not priced (node bounds then hold whatever is
        # found later): the queue, with every node, and the valid matchings found that were not the best.
        self.heap: list[tuple[int, int, _Node]] = [(-(2**62), 0, _Node(_EMPTY, _EMPTY))]
        self.counter = 0
        self.found: list[tuple[int, IntArray]] = []
        self.keep = False

    def accept(self, rows: IntArray) -> None:
        """A further matching found: the next one must differ from it too."""
        mask = np.zeros((1, self.model.n_rows), dtype=np.bool_)
        mask[0, rows] = True
        self.masks = np.concatenate((self.masks, mask))
        self.size = np.concatenate((self.size, [len(rows)]))
        self.limit = self.size - self.min_difference
        self.pin_kept = sum_of(self.masks[:, self.pins], axis=1)
        self.row_counts = sum_of(self.masks, axis=0).tolist()
        self.lam = np.concatenate((self.lam, [0]))

    # --- prices ---

    def set_prices(self, lam: IntArray) -> None:
        self.lam = lam
        self.any_price = bool(any_of(lam))
        self.priced = self.weights - lam @ self.masks.astype(np.int64) if self.any_price else self.weights
        self.solver.price(self.priced)

    def _root(self) -> IntArray:
        """The priced optimum of all matchings."""
        free = self.solver.solve(_EMPTY, _EMPTY)
        self.evaluations += 1
        return np.concatenate([self.pins, _EMPTY if free is None else free])

    def _kept(self, rows: IntArray) -> IntArray:
        """How many rows of each A_k a matching keeps."""
        return np.asarray(sum_of(self.masks[:, rows], axis=1), dtype=np.int64)

    def breakpoint(self, k: int) -> int:
        """The least price of A_k alone (the others' 0) at which the priced optimum keeps at most h_k of its rows,
        to within 1/32 (raised by fours, then halving the gap); 0 when no price is needed."""
        lam = np.zeros(len(self.size), dtype=np.int64)
        top = 2 * int(np.abs(self.weights).max(initial=0)) + 1
        lo, step, hi = 0, 1, 0
        while True:
            lam[k] = hi
            self.set_prices(lam)
            if self._kept(self._root())[k] <= self.limit[k]:
                break
            if hi > top:
                return 0  # no price makes it (pins keep too many): nothing to price
            lo, hi, step = hi, hi + step, step * 4
        while hi - lo > max(1, hi // 32):
            lam[k] = (lo + hi) // 2
            self.set_prices(lam)
            if self._kept(self._root())[k] <= self.limit[k]:
                hi = int(lam[k])
            else:
                lo = int(lam[k])
        return hi

    def prices(self, breakpoints: list[int]) -> None:
        """Prices from each constraint's own breakpoint: 3/5 of it, shared among the constraints. At the breakpoint
        many matchings tie on the priced weight, and several prices add up on the rows the matchings found share;
        measured on 80 x 80 with D = 8: 23 node evaluations at 3/5 of it for the second matching (48 at the
        breakpoint, 208 unpriced), ~170 with two constraints at 3/10 (~750 at the breakpoints)."""
        share = 5 * len(breakpoints)
        self.set_prices(np.array([3 * b // share for b in breakpoints], dtype=np.int64))

    # --- branch and bound ---

    def run(self) -> tuple[IntArray | None, bool]:
        """(the best valid matching or None, whether the search finished: False when the budget ran out)."""
        if any_of(self.limit < 0) or any_of(self.pin_kept > self.limit):
            return None, True  # keeps too many of some A_k whatever it adds
        best: IntArray | None = None
        best_value = -(2**62)
        for value, rows in self.found:  # found by an earlier search, valid still
            if value > best_value and all_of(self._kept(rows) <= self.limit):
                best, best_value = rows, value
        heap, solver = self.heap, self.solver
        heappop, heappush = heapq.heappop, heapq.heappush
        while heap and -heap[0][0] > best_value:  # else nothing left can beat the best valid one
            negative, _, node = heappop(heap)
            bound = -negative
            if not node.solved:
                if self.evaluations >= self.budget:
                    self._push(bound, node)
                    return None, False
                if self.evaluations % 16 == 0:
                    check(self.stop)
                if not self._evaluate(node):
                    continue  # no matching meets the quotas in this node
                value = node.priced + self._node_room(node) if self.any_price else node.priced
                if value < bound:
                    bound = value
            else:
                if node.rows is None:
                    if node.found is None:
                        assert node.cells is not None and node.chosen is not None and isinstance(solver, Dense)
                        node.found = solver.chosen_rows(node.cells, node.chosen)
                    node.rows = np.concatenate([self.pins, node.include, node.found])
                    node.rows.sort()
                kept = self._kept(node.rows)
                if node.move is None:
                    # Before splitting it: the loss of leaving out as many rows of each A_k as its optimum keeps
                    # too many. A lower bound goes back into the queue; an unchanged one is still the highest.
                    self._losses(node)
                    tightened = self._tightened(node, kept) if self.duals else bound
                    if tightened < bound:
                        if tightened > best_value or self.keep:
                            self._push(tightened, node)
                        continue
                if all_of(kept <= self.limit):
                    value = self._weight(self.weights, node.rows)
                    self.found.append((value, node.rows))
                    if value > best_value:
                        best, best_value = node.rows, value
                for child_bound, child in self._children(node, bound, kept):
                    if child_bound > best_value or self.keep:
                        self.counter += 1
                        heappush(heap, (-child_bound, self.counter, child))
                continue
            if bound > best_value or self.keep:
                self.counter += 1
                heappush(heap, (-bound, self.counter, node))
        if best is not None:
            self.found = [(value, rows) for value, rows in self.found if rows is not best]
        return best, True

    def _push(self, bound: int, node: _Node) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (-bound, self.counter, node))

    def _evaluate(self, node: _Node) -> bool:
        """The node's priced optimum; False when the node holds no matching."""
        solver = self.solver
        self.evaluations += 1
        parent = node.parent
        if isinstance(solver, Dense) and (parent is None or parent.cut is not None):
            node.solved = True
            if solver.zeroed:
                if parent is None:
                    matrix, node.base = solver.costs, self._weight(self.priced, self.pins)
                else:
                    assert parent.matrix is not None and parent.cut is not None
                    i, cut = node.index, parent.cut
                    matrix = parent.matrix.copy()
                    if i:
                        assert cut.zero is not None
                        matrix.put(cut.zero[:i * solver.stride], 0.0)  # the rows and seats of free[:i]
                    row, first, last = cut.cells[i]
                    matrix[row, first:last] = 0.0
                    node.base = parent.base + cut.gained[i]
                node.cells, node.chosen, value = solver.solve_matrix(matrix)
                node.priced = node.base + value
                if parent is None:
                    node.matrix = matrix
                elif self.matrix_cells + matrix.size <= ZEROED_MEMORY_CELLS:
                    node.matrix = matrix
                    self.matrix_cells += matrix.size
                # else not kept: its children are cut out of the whole matrix by index
                return True
            if parent is None:
                node.base, node.rows_at, node.cols_at = self._weight(self.priced, self.pins), solver.all_rows, \
                    solver.all_cols
                node.found, value = solver.solve_cut(solver.costs, node.rows_at, node.cols_at, -1, 0, 0)
            else:
                assert parent.matrix is not None and parent.cut is not None and parent.child_rows is not None
                assert parent.child_cols is not None
                i, cut = node.index, parent.cut
                node.base = parent.base + cut.gained[i]
                node.rows_at, node.cols_at = parent.child_rows[i].nonzero()[0], parent.child_cols[i].nonzero()[0]
                row, first, last = cut.cells[i]
                node.found, value = solver.solve_cut(parent.matrix, node.rows_at, node.cols_at,
                                                     int(node.rows_at.searchsorted(row)), first, last)
            node.priced = node.base + value
            return True
        free = solver.solve(node.include, node.exclude)
        if free is None:
            return False
        node.solved = True
        node.found = free
        node.rows = np.concatenate([self.pins, node.include, free])
        node.rows.sort()
        node.priced = self._weight(self.priced, node.rows)
        return True

    def _weight(self, weights: IntArray, rows: IntArray) -> int:
        """`AssignmentModel.weight`, for rows known to be int64 indices."""
        return int(sum_of(weights[rows])) - self.model.seat_costs(rows, self.seat_cost)

    def _node_room(self, node: _Node) -> int:
        """`_room` of the node's excludes (its parent's split gave it, or found now)."""
        if not self.any_price:
            return 0
        if node.room is None:
            node.room = self._room(node.exclude)
        return node.room

    def _room(self, exclude: IntArray) -> int:
        """sum_k lam_k min(h_k, |A_k - exclude|): what the prices give back to a valid matching of a node."""
        if not self.any_price:
            return 0
        room = np.minimum(self.limit, self.size - sum_of(self.masks[:, exclude], axis=1))
        return int(self.lam @ room)

    def _losses(self, node: _Node) -> None:
        assert node.found is not None
        # Rows of the matchings found so far first: the children that keep many of them hold nothing valid; then rows
        # ascending (a stable sort, also when reversed). In Python: a dozen rows, not five numpy calls.
        order = sorted(node.found.tolist())
        order.sort(key=self.row_counts.__getitem__, reverse=True)
        free = np.array(order, dtype=np.int64)
        node.free = free
        solver = self.solver
        values: tuple[FloatArray, IntArray, IntArray] | None = None
        if node.rows_at is not None and isinstance(solver, Dense):
            self._split_matrices(node, solver, free)
            if self.duals and node.matrix is not None and node.cols_at is not None:
                values = (-node.matrix.take(node.rows_at, axis=0).take(node.cols_at, axis=1), node.rows_at,
                          node.cols_at)
        elif node.matrix is not None and isinstance(solver, Dense):
            node.cut = solver.cut(node.include, free, self.priced, zeroed=True)
        if self.duals:
            node.move, node.refill = solver.drops(node.include, node.exclude, free, values)
        else:
            node.move = node.refill = np.zeros(len(free))

    def _split_matrices(self, node: _Node, solver: Dense, free: IntArray) -> None:
        """A larger matrix's node about to be split (`ZEROED_CELLS`): its matrix (the whole matrix's shape, its
        left-out cells at 0; its parent's with one more row's cells out), and each child's kept rows and columns
        (child i: the node's, less the rows and seats of free[:i]). Not kept past `ZEROED_MEMORY_CELLS`: then its
        children are cut out of the whole matrix by index."""
        assert node.rows_at is not None and node.cols_at is not None
        parent = node.parent
        if parent is None:
            node.matrix = solver.costs
        else:
            assert parent.matrix is not None and parent.cut is not None
            if self.matrix_cells + parent.matrix.size > ZEROED_MEMORY_CELLS:
                return
            self.matrix_cells += parent.matrix.size
            node.matrix = parent.matrix.copy()
            row, first, last = parent.cut.cells[node.index]
            node.matrix[row, first:last] = 0.0
        cut = node.cut = solver.cut(node.include, free, self.priced)
        count = len(free)
        later, earlier = _earlier(count)  # child `later` keeps the row of `earlier`: not in its matrix
        rows = np.zeros((count, node.matrix.shape[0]), dtype=np.bool_)
        rows[:, node.rows_at] = True
        rows[later, cut.rows[earlier]] = False
        cols = np.zeros((count, node.matrix.shape[1]), dtype=np.bool_)
        cols[:, node.cols_at] = True
        cols[later, cut.seats[earlier]] = False
        node.child_rows, node.child_cols = rows, cols

    def _tightened(self, node: _Node, kept: IntArray) -> int:
        """The node's bound with the least loss of leaving out the rows its optimum keeps too many of (`kept`: of
        each A_k, by its optimum)."""
        assert node.rows is not None and node.free is not None and node.move is not None
        need = kept - self.limit
        loss = 0.0
        for k in (need > 0).nonzero()[0].tolist():
            moves = node.move[self.masks[k, node.free]]
            moves.sort()
            if len(moves) < need[k]:
                return -(2**62)  # cannot leave out enough: nothing valid here
            loss = max(loss, float(sum_of(moves[: need[k]])))
        return node.priced - int(loss) + self._node_room(node)

    def _children(self, node: _Node, bound: int, kept: IntArray) -> list[tuple[int, _Node]]:
        """Murty's split of the node less its optimum, each child with its bound, without the children that hold
        nothing valid. Child i keeps free[:i] and leaves out free[i]; a valid matching in it leaves out free[i]
        and, of each A_k, enough of free[i+1:] to keep at most h_k: at least the least moves that add up to that.

        In plain Python over the node's free rows (a few dozen at most): as arrays, each child's least moves were a
        children x free-rows matrix sorted per row for each A_k, and two dozen numpy calls on arrays of a few
        dozen cells besides (~0.5 M instructions a split of the 80 x 80 programme). The same bounds: the losses
        are whole numbers (or inf), so sums and differences are exact in any order."""
        assert node.rows is not None and node.free is not None and node.move is not None and node.refill is not None
        free = node.free
        count = len(free)
        if not count:
            return []
        if not self.duals and not self.any_price:
            return self._plain_children(node, min(bound, node.priced), kept)
        in_found: list[list[bool]] = self.masks[:, free].tolist()
        limits: list[int] = self.limit.tolist()
        excess = [k_kept - limit for k_kept, limit in zip(kept.tolist(), limits, strict=True)]  # by the optimum
        totals = [sum(row) for row in in_found]  # of A_k among free
        for row, k_excess, total, limit in zip(in_found, excess, totals, limits, strict=True):
            # Child i keeps the includes and free[:i]: too many of A_k once those pass h_k (then in every later one).
            kept_now = k_excess + limit - total  # of A_k by the pins and includes
            for i, row_in in enumerate(row[:count]):
                if kept_now > limit:
                    count = i
                    break
                kept_now += row_in
        if not count:
            return []
        moves: list[float] = node.move.tolist()
        refills: list[float] = node.refill.tolist()
        # need = excess - in_found[k][i]: rows of A_k a valid matching of child i must still leave out among
        # free[i+1:]; more than A_k has there: nothing valid.
        losses = [0.0] * count
        for row, k_excess, total in zip(in_found, excess, totals, strict=True):
            after = total
            for i in range(count):
                after -= row[i]
                if k_excess - row[i] > after:
                    losses[i] = math.inf
        losses = [loss + moves[i] + refills[i] for i, loss in enumerate(losses)]
        if self.duals:
            for row, k_excess in zip(in_found, excess, strict=True):
                if k_excess - min(row[:count]) <= 0:
                    continue  # no child needs to leave out any more of A_k
                least = self._least_moves(row, moves, k_excess, count)
                losses = [max(loss, moves[i] + least[i]) for i, loss in enumerate(losses)]
        priced = node.priced
        if self.any_price:
            # Each child's `_room`: sum_k lam_k min(h_k, |A_k - exclude| less free[i] when in A_k).
            rooms = [0] * count
            for lam_k, limit, room_k, row in zip(self.lam.tolist(), limits,
                                                 (self.size - sum_of(self.masks[:, node.exclude], axis=1)).tolist(),
                                                 in_found, strict=True):
                if lam_k:
                    outside, inside = lam_k * min(limit, room_k), lam_k * min(limit, room_k - 1)
                    rooms = [room + (inside if row_in else outside) for room, row_in in zip(rooms, row, strict=False)]
            children = []
            for i, (loss, child_room) in enumerate(zip(losses, rooms, strict=True)):
                value = (priced - loss) + child_room
                if math.isfinite(value):
                    child = _Node(None, None, node, i)
                    child.room = child_room
                    children.append((min(bound, int(value)), child))
            return children
        return [(min(bound, int(priced - loss)), _Node(None, None, node, i))
                for i, loss in enumerate(losses) if math.isfinite(loss)]

    @staticmethod
    def _least_moves(in_k: list[bool], moves: list[float], excess: int, count: int) -> list[float]:
        """For each child i < count, the least sum of max(0, excess - in_k[i]) moves of rows of A_k among
        free[i+1:] (inf when it has too few): the smallest ones of that suffix, kept as a short sorted list while
        i goes down."""
        smallest: list[float] = []  # the `excess` smallest moves of A_k's rows in free[i+1:], ascending
        for j in range(len(in_k) - 1, count - 1, -1):
            if in_k[j]:
                bisect.insort(smallest, moves[j])
                del smallest[excess:]
        least = [0.0] * count
        for i in range(count - 1, -1, -1):
            need = excess - in_k[i]
            if need > 0:
                least[i] = sum(smallest[:need]) if need <= len(smallest) else math.inf
            if in_k[i]:
                bisect.insort(smallest, moves[i])
                del smallest[excess:]
        return least

    def _plain_children(self, node: _Node, bound: int, kept: IntArray) -> list[tuple[int, _Node]]:
        """`_children` without duals or prices (small matrices, `DUAL_CELLS`): every child keeps its parent's bound,
        and only which children hold nothing valid is asked; in plain Python over the few rows of a small node (a
        dozen numpy calls on arrays of a dozen cells cost more). The same children: child i keeps too many of
        A_k when the includes' rows of it and those of free[:i] exceed h_k (then so do all later children), and
        holds nothing valid when it cannot leave out enough of A_k among free[i+1:]."""
        assert node.free is not None
        free = node.free
        count = len(free)
        valid = [True] * count
        for in_found, kept_k, limit in zip(self.masks[:, free].tolist(), kept.tolist(), self.limit.tolist(),
                                           strict=True):
            total = sum(in_found)
            base = kept_k - total  # of A_k by the pins and includes
            need = kept_k - limit  # of A_k child i must leave out among free[i:] (free[i] is left out)
            running = 0  # of A_k in free[:i + 1]
            for i, row_in in enumerate(in_found):
                if i >= count:
                    break
                if base + running > limit:  # child i keeps free[:i]: too many
                    count = i
                    break
                running += row_in
                if need - row_in > total - running:
                    valid[i] = False
        return [(bound, _Node(None, None, node, i)) for i in range(count) if valid[i]]


@functools.lru_cache(maxsize=64)
def _earlier(count: int) -> tuple[IntArray, IntArray]:
    """(i, j) for every j < i < count (numpy's `tril_indices`, made once per size: ~20 us each time)."""
    later, earlier = np.tril_indices(count, -1)
    later.flags.writeable = earlier.flags.writeable = False
    return later, earlier


def evaluation_budget(cells: int) -> int:
    return int(min(MAX_EVALUATIONS, max(MIN_EVALUATIONS, EVALUATION_CELLS // max(1, cells))))


def alternatives(model: AssignmentModel, weights: IntArray, accepted: list[IntArray], wanted: int,
                 min_difference: int, stop: StopToken | threading.Event | None = None,
                 deadline: float | None = None) -> KBest:
    """Up to `wanted` further matchings after `accepted` (the best first; each proven optimal in its turn),
    maximising `weights` less seat costs, each differing from every earlier one in >= `min_difference` of its
    pairs. `exhausted`: no further one exists. Returns early (not exhausted) with what it has when an alternative
    takes more node evaluations than its budget, or when `stop` is set or `deadline` (time.monotonic()) passes."""
    weights = np.asarray(weights, dtype=np.int64)
    accepted = [np.asarray(a, dtype=np.int64) for a in accepted]
    # Ties: among equally good alternatives, the one that keeps the most pairs of the best comes first. Scaled by
    # more than any matching can keep, the weights (and seat costs) order matchings as before; one point per
    # pair of the best breaks their ties.
    scale = len(accepted[0]) + 1
    span = (float(np.maximum.reduce(np.abs(weights), initial=0)) + float(model.max_seat_cost) + 1.0) * scale
    if span * (model.candidates.arrays.n_mentees + 1) * 4 >= _EXACT_FLOAT:
        return KBest([], False, 0)  # sums of the assignment's float64 costs might round: CP-SAT's
    seat_cost = model.seat_cost * scale
    weights = weights * scale
    weights[accepted[0]] += 1
    groups = quota_groups(model) if _quotas_bind(model) else None
    solver: Dense | Flows
    if groups is not None or _caps_bind(model):
        # The flows read the seat cost from the model: a scaled copy (the dense nodes take it as it is: a
        # dataclasses.replace of the model is ~10 us of a small call).
        model = dataclasses.replace(model, seat_cost=seat_cost, max_seat_cost=model.max_seat_cost * scale)
        solver = Flows(model, stop, groups)
    else:
        solver = Dense(model, weights, seat_cost)
    flows = isinstance(solver, Flows)
    budget = FLOW_EVALUATIONS if flows else evaluation_budget(solver.cells)
    found: list[IntArray] = []
    evaluations = 0
    breakpoints: list[int] = []
    # The caller's token with the deadline (its own event and abandonment: no new event made for a small call).
    token = StopToken.of(stop).until(deadline) if deadline is not None else stop
    # Prices pay with the duals' child bounds, which flows do not give (measured, 40 x 44 Copenhagen career with a
    # binding cap, D = 4: 77 flows unpriced, 114 priced).
    priced = min_difference >= PRICE_FROM_DIFFERENCE and not flows
    search = _Search(model, weights, solver, accepted, min_difference, budget, token)
    search.keep = not priced  # unpriced, one search goes on from one alternative to the next
    if not priced:
        search.set_prices(np.zeros(len(accepted), dtype=np.int64))
    while len(found) < wanted:
        if found and priced:  # the prices change with every matching found: a fresh search
            evaluations += search.evaluations
            search = _Search(model, weights, solver, accepted + found, min_difference, budget, token)
        elif found:
            search.accept(found[-1])
            search.budget = search.evaluations + budget
        if priced:
            while len(breakpoints) < len(accepted) + len(found):  # a constraint's own breakpoint stays as it is
                breakpoints.append(search.breakpoint(len(breakpoints)))
            search.prices(breakpoints)
        try:
            rows, finished = search.run()
        except Stopped:
            return KBest(found, False, evaluations + search.evaluations)
        if rows is None:
            return KBest(found, finished, evaluations + search.evaluations)
        found.append(np.sort(rows))
    evaluations += search.evaluations
    return KBest(found, False, evaluations)

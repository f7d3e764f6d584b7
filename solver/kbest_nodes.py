"""The node solvers of the k-best search (`solver.kbest`): each node's priced optimum as a dense assignment over
its free mentees x their mentors' free seats (`Dense`, scipy's `linear_sum_assignment`), or as a min-cost flow
where an organisation cap or a gender quota binds (`Flows`). The search decides which nodes to solve; these solve
them, and give the losses that bound a node's children from the node's duals (`Dense.drops`)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from solver.arrays import FloatArray
from solver.candidates import IntArray
from solver.flow import QuotaGroups, flow_optimum, quota_flow_optimum
from solver.model import AssignmentModel
from solver.stop import StopToken

__all__ = ["ZEROED_CELLS", "Cut", "Dense", "Flows", "all_of", "any_of", "least_of", "sum_of"]

ZEROED_CELLS = 1_000
"""Matrix cells up to which a child node's assignment is its parent's matrix with the child's new includes' rows
and seats and its left-out row's cells set to 0 (`Dense.cut`), rather than the node's submatrix cut out of the
whole by index: on small matrices numpy's per-call cost weighs as much as the assignment (15 x 15: the assignment
is about half of a node; a copy, one `put` and one slice make the child's matrix). Both give the same
optimum: a zeroed row takes a zeroed seat at no loss, and every other cell is the submatrix's. Each node keeps its
matrix for its children, up to `ZEROED_MEMORY_CELLS`.
Larger matrices: the submatrix, cut from the parent's matrix (`_Search._split_matrices`; 80 x 80, D = 8: ~20 %
less CPU than cutting each node out of the whole matrix with its includes' and excludes' rows looked up anew)."""
_NONE = -1


class Dense:
    """Priced optima of nodes as dense assignments: free mentees x free seats (+ padding so all rows fit).

    Cell (i, c) holds the candidate row of mentee i with the mentor of seat c (or -1), and its value is the
    row's priced weight less the seat's cost, clipped at 0 (0 = not matched: a forbidden cell, a padding seat,
    or a pair not worth its seat). The matching is the chosen cells of positive value; seats of a mentor fill
    cheapest first at an optimum, so its priced weight is exactly the assignment's value.
    """

    def __init__(self, model: AssignmentModel, weights: IntArray, seat_cost: int) -> None:
        # Once per call, ~40 numpy calls on arrays of a few hundred: the methods, not the wrappers (np.cumsum,
        # np.repeat, np.flatnonzero each go through Python first), and each row's mentor and mentee read once.
        self.model = model
        pins, mentor, mentee = model.pinned_rows, model.mentor, model.mentee
        n_rows, n_mentees, n_mentors = model.n_rows, model.candidates.arrays.n_mentees, len(model.capacity)
        pinned_mentee = np.zeros(n_mentees, dtype=np.bool_)
        pinned_mentee[mentee[pins]] = True
        free = ((weights > 0) & ~pinned_mentee[mentee]).nonzero()[0].astype(np.int64, copy=False)
        pin_load = np.bincount(mentor[pins], minlength=n_mentors)
        left = np.maximum(model.capacity - pin_load, 0)
        seats = np.minimum(left, np.bincount(mentor[free], minlength=n_mentors))
        free = free[seats[mentor[free]] > 0]
        free_mentor, free_mentee = mentor[free], mentee[free]
        mentees = np.bincount(free_mentee, minlength=n_mentees).nonzero()[0]  # sorted, unique
        position = _filled(n_mentees, _NONE)
        position[mentees] = np.arange(len(mentees))
        last_seat = seats.cumsum()
        n_seats = int(last_seat[-1]) if n_mentors else 0
        width = n_seats + max(0, len(mentees) - n_seats)
        first_seat = last_seat - seats
        col_mentor = _filled(width, n_mentors)  # padding: an extra "mentor" with no load
        col_mentor[:n_seats] = np.arange(n_mentors).repeat(seats)
        col_seat = np.zeros(width, dtype=np.int64)
        col_seat[:n_seats] = np.arange(n_seats) - first_seat.repeat(seats)
        self.col_cost = np.zeros(width, dtype=np.int64)
        self.col_cost[:n_seats] = seat_cost * (pin_load.repeat(seats) + col_seat[:n_seats])
        self.seat_cost = seat_cost
        self.col_mentor, self.col_seat = col_mentor, col_seat
        # cell_row[i, c]: every free row fills the cells of its mentee with each seat of its mentor (flat indices:
        # its mentee's matrix row, from its mentor's first seat on).
        cell_row = _filled((len(mentees), width), _NONE)
        per_row = seats[free_mentor]
        ends = per_row.cumsum()
        starts = position[free_mentee] * width + first_seat[free_mentor] - ends + per_row
        cell_row.put(starts.repeat(per_row) + np.arange(int(ends[-1]) if len(ends) else 0), free.repeat(per_row))
        self.cell_row = cell_row
        self.allowed = cell_row >= 0
        self.position = position
        self.n_mentors = n_mentors
        self.values = np.zeros(cell_row.shape, dtype=np.float64)
        self.costs = self.values
        self.n_rows = n_rows
        self.cells = max(1, cell_row.size)
        self.all_rows = np.arange(len(mentees))
        self.all_cols = np.arange(width)
        self.offsets = self.all_rows * width  # flat index of each matrix row's first cell
        self.stride = width + len(mentees)  # of `Cut.zero`: the cells one kept row zeroes
        self.lsa = _assignment()
        self.zeroed = self.cells <= ZEROED_CELLS
        # Zeroed matrices: the flat indices of each row's cells and of each column's (`cut`).
        self.row_cells: np.ndarray | None = None
        self.col_cells: np.ndarray | None = None
        if self.zeroed:
            self.row_cells = np.arange(cell_row.size, dtype=np.int32).reshape(cell_row.shape)
            self.col_cells = self.row_cells.T.copy()
        self.row_position = _filled(n_rows, _NONE)
        self.row_position[free] = position[free_mentee]
        self.first_seat = first_seat
        self.last_seat = last_seat
        self.seat_lists: tuple[list[int], list[int], list[int]] = (first_seat.tolist(), last_seat.tolist(),
                                                                   self.col_cost.tolist())

    def price(self, priced: IntArray) -> None:
        """Cell values for these priced row weights, and their negatives (`costs`: what the assignment minimises;
        scipy's `maximize` would negate a copy at every node)."""
        values = np.where(self.allowed, priced[self.cell_row] - self.col_cost, 0)
        self.values = np.maximum(values, 0).astype(np.float64)
        self.costs = -self.values

    def _matrix(self, include: IntArray, exclude: IntArray, costs: FloatArray) -> tuple[FloatArray, IntArray, IntArray]:
        """The node's assignment cut out of `costs` (the whole matrix's costs or values): its cells, and which rows and
        columns of the whole matrix it keeps. The left-out rows' cells are set to 0 (each is its mentee's matrix row
        by its mentor's seats, a run of columns), then the kept rows and columns taken (two `take`s: a third of the
        time of an open-mesh index)."""
        model = self.model
        rows_kept, cols_kept = self.all_rows, self.all_cols
        if len(include):
            keep = np.ones(len(self.all_rows), dtype=np.bool_)
            keep[self.position[model.mentee[include]]] = False
            rows_kept = keep.nonzero()[0]
            load = np.bincount(model.mentor[include], minlength=self.n_mentors + 1)
            cols_kept = (self.col_seat >= load[self.col_mentor]).nonzero()[0]
            matrix = costs.take(rows_kept, axis=0)
            if len(exclude):
                at = self.row_position[exclude]
                there = keep[at]  # a left-out row whose mentee is kept elsewhere has no cells here
                self._zero(matrix, exclude[there], (keep.cumsum() - 1)[at[there]])
            return matrix.take(cols_kept, axis=1), rows_kept, cols_kept
        if not len(exclude):
            return costs, rows_kept, cols_kept
        matrix = costs.copy()
        self._zero(matrix, exclude, self.row_position[exclude])
        return matrix, rows_kept, cols_kept

    def _zero(self, matrix: FloatArray, rows: IntArray, at: IntArray) -> None:
        """Set the cells of candidate `rows` (at these rows of `matrix`, whose columns are the whole matrix's) to 0."""
        mentors = self.model.mentor[rows]
        first = self.first_seat[mentors]
        count = self.last_seat[mentors] - first
        starts = at * matrix.shape[1] + first
        flat = np.repeat(starts - count.cumsum() + count, count) + np.arange(int(count.sum()))
        matrix.ravel()[flat] = 0.0

    def solve(self, include: IntArray, exclude: IntArray) -> IntArray:
        """The priced optimum's free rows in the node (pins and `include` rows not among them)."""
        costs, rows_kept, cols_kept = self._matrix(include, exclude, self.costs)
        r, c = self.lsa(costs)
        chosen = costs[r, c] < 0
        return self.cell_row[rows_kept[r[chosen]], cols_kept[c[chosen]]]

    def solve_cut(self, costs: FloatArray, rows_at: IntArray, cols_at: IntArray, row: int, first: int, last: int
                  ) -> tuple[IntArray, int]:
        """A node's optimum from its parent's matrix (`costs`, the whole matrix's shape, the parent's left-out cells at
        0): its rows `rows_at` and columns `cols_at`, with the cells first:last of its row `row` (among `rows_at`; -1
        for none) left out. Its rows and its value, as `solve_matrix`."""
        matrix = costs.take(rows_at, axis=0)
        if row >= 0:
            matrix[row, first:last] = 0.0
        matrix = matrix.take(cols_at, axis=1)
        r, c = self.lsa(matrix)
        chosen = matrix[r, c]
        taken = chosen < 0
        # No more rows than columns (a kept row takes its seat out with it): the assignment's rows are all of them,
        # in order (r = 0..n-1), so rows_at[r[taken]] is rows_at[taken].
        return self.cell_row[rows_at[taken], cols_at[c[taken]]], -round(float(sum_of(chosen)))

    def solve_matrix(self, costs: FloatArray) -> tuple[IntArray, FloatArray, int]:
        """A zeroed matrix's optimum (`ZEROED_CELLS`; `costs` negated values, the whole matrix's shape): its cells (flat
        indices, one per matrix row: there are no more rows than columns, so the assignment's rows are all of them,
        in order), their costs, and its value (exact: whole numbers below 2^52, whatever order they add up in). Its
        rows, from `chosen_rows`, only when it is split: most nodes never are."""
        cells = self.offsets + self.lsa(costs)[1]
        chosen = costs.take(cells)
        return cells, chosen, -int(sum(chosen.tolist()))

    def chosen_rows(self, cells: IntArray, chosen: FloatArray) -> IntArray:
        """The candidate rows of a `solve_matrix` optimum's cells of positive value."""
        return self.cell_row.take(cells[chosen < 0])

    def cut(self, include: IntArray, free: IntArray, priced: IntArray, zeroed: bool = False) -> Cut:
        """What the children of a node split on `free` (its optimum's rows beside `include`) change in its matrix:
        child i also keeps free[:i], each on its mentor's next seat after those of `include` and of the free rows
        before it, and leaves out free[i]; with the priced weight the kept rows add (seat costs included). With
        `zeroed` (`ZEROED_CELLS`), the flat indices of the cells child i zeroes for its kept rows: the first
        i x (width + height) of `Cut.zero`."""
        # One pass in Python over the node's few free rows (a dozen numpy calls on arrays of a dozen cost more).
        first_seat, last_seat, col_cost = self.seat_lists
        load: dict[int, int] = {}  # each mentor's rows kept so far: the includes', then free[:i]'s
        for mentor in self.model.mentor[include].tolist():
            load[mentor] = load.get(mentor, 0) + 1
        seat_list: list[int] = []
        cells: list[tuple[int, int, int]] = []
        gained = [0]
        total = 0
        rows = self.row_position[free]
        for row, mentor, weight in zip(rows.tolist(), self.model.mentor[free].tolist(), priced[free].tolist(),
                                       strict=True):
            kept = load.get(mentor, 0)
            load[mentor] = kept + 1
            seat = first_seat[mentor] + kept
            seat_list.append(seat)
            total += weight - col_cost[seat]
            gained.append(total)
            cells.append((row, first_seat[mentor], last_seat[mentor]))
        seats = np.array(seat_list, dtype=np.int64)
        zero = None
        if zeroed:
            # Kept row j: its matrix row and its seat's column, one block each; child i takes the first i blocks
            # (one `put` on a copy of its parent's matrix, not a fancy-indexed row and column assignment each).
            # int32: the cells of a zeroed matrix fit, at half the memory (a split node keeps these beside its
            # matrix: at most its matrix's bytes again).
            assert self.row_cells is not None and self.col_cells is not None
            zero = np.concatenate((self.row_cells.take(rows[:-1], axis=0), self.col_cells.take(seats[:-1], axis=0)),
                                  axis=1).ravel()
        return Cut(rows, seats, gained, cells, zero)

    def drops(self, include: IntArray, exclude: IntArray, free: IntArray,
              matrix: tuple[FloatArray, IntArray, IntArray] | None) -> tuple[FloatArray, FloatArray]:
        """For each of the node optimum's free rows, least losses of the priced weight when a matching of the node
        leaves that row out, from the assignment's LP duals: (move, refill). Zeros when the duals do not check out.

        Duals of the optimum (every unmatched mentee on a virtual empty seat of value 0, dual 0): the seats'
        duals v are shortest distances by Bellman-Ford over the optimum's residual graph, u = value - v on the
        matched cells, and rc = u + v - value >= 0 on every cell; a matching of the node weighs the optimum less
        the rc of its cells and the v of its empty seats. Leaving out row f (mentee i, mentor b, seat c) puts
        mentee i elsewhere (`move`: the least rc of her cells with other mentors, or u_i for none) and leaves
        seat c empty or to another mentee (`refill`: v_c or the least rc of the column). Moves of different rows
        are different cells, so they add up; so do one row's move and refill.
        """
        model = self.model
        values, rows_kept, cols_kept = matrix or self._matrix(include, exclude, self.values)  # the node's values
        n, width = values.shape
        node_row = _filled(len(self.all_rows), _NONE)
        node_row[rows_kept] = np.arange(n)
        mentors = model.mentor[free]
        col_mentor = self.col_mentor[cols_kept]
        # Matched cells: each mentor's pairs on its first kept seats (the cheapest: where an optimum puts them).
        order = np.lexsort((free, mentors))
        by_mentor = mentors[order]
        rank = np.arange(len(free)) - by_mentor.searchsorted(by_mentor)
        seat = np.empty(len(free), dtype=np.int64)
        seat[order] = col_mentor.searchsorted(by_mentor) + rank
        row = node_row[self.position[model.mentee[free]]]
        if any_of(row < 0) or any_of(seat >= width) or any_of(col_mentor[np.minimum(seat, width - 1)] != mentors):
            return _no_losses(len(free))
        matched = values[row, seat]
        slack = matched[:, None] - values[row]  # v_seat(i) <= v_j + slack[i, j]
        # Bellman-Ford over the matched seats alone: an empty seat's dual stays 0, so its slacks give each matched
        # seat a fixed start (with the virtual empty seat's: v_seat(i) <= 0 + matched value), and the rounds relax
        # over the f x f slacks between matched seats; slack[i, seat[i]] = 0, so a round's least is at most the
        # current value. The same distances as relaxing over every column, in rounds on f x f, not f x width.
        empty = slack.copy()
        empty[:, seat] = np.inf
        dist_seat = np.minimum(matched, least_of(empty, axis=1, initial=np.inf))
        between = slack[:, seat]
        for _ in range(len(free) + 1):
            relaxed = least_of(dist_seat[None, :] + between, axis=1, initial=np.inf)
            if not any_of(relaxed < dist_seat):
                break
            dist_seat = relaxed
        else:
            return _no_losses(len(free))
        dist = np.zeros(width)
        dist[seat] = dist_seat
        u_row = matched - dist_seat
        u = np.zeros(n)
        u[row] = u_row
        reduced = u[:, None] + dist[None, :] - values
        if (least_of(reduced, axis=None, initial=0.0) < -0.5 or least_of(dist_seat, initial=0.0) < -0.5
                or least_of(u_row, initial=0.0) < -0.5):
            return _no_losses(len(free))
        elsewhere = np.where(col_mentor[None, :] == mentors[:, None], np.inf, reduced[row])
        move = np.minimum(u_row, least_of(elsewhere, axis=1))
        column = reduced[:, seat]
        column[row, np.arange(len(free))] = np.inf
        refill = np.minimum(dist_seat, least_of(column, axis=0, initial=np.inf))
        return np.rint(move), np.rint(refill)


def _no_losses(count: int) -> tuple[FloatArray, FloatArray]:
    """`Dense.drops` when the duals do not check out: no losses (made then only: most splits never need them)."""
    return np.zeros(count), np.zeros(count)


def _filled(shape: int | tuple[int, int], value: int) -> IntArray:
    """`np.full` of int64 without its Python wrapper (~1 us a call, four per `Dense`)."""
    array = np.empty(shape, dtype=np.int64)
    array.fill(value)
    return array


# numpy's reductions called on their ufuncs: `ndarray.min`, `.any`, `.all`, `.sum` and `np.array_equal` each go
# through a Python wrapper first (~1-3 us: thousands of small arrays per k-best search). The same results.
least_of = np.minimum.reduce
any_of = np.logical_or.reduce
all_of = np.logical_and.reduce
sum_of = np.add.reduce

_ASSIGNMENT: list[Callable[..., tuple[IntArray, IntArray]]] = []


def _assignment() -> Callable[..., tuple[IntArray, IntArray]]:
    """scipy's `linear_sum_assignment`, imported on first use, not with this module: scipy.optimize is 0.3-0.8 s of
    import on the command line's path, where most commands never rank alternatives this way."""
    if not _ASSIGNMENT:
        from scipy.optimize import linear_sum_assignment

        _ASSIGNMENT.append(linear_sum_assignment)
    return _ASSIGNMENT[0]


@dataclass(slots=True)
class Cut:
    """`Dense.cut` (once per split; not frozen, so made by plain slot stores): the matrix rows and seats of a node's
    free rows, the priced weight of free[:i] on those seats, and each free row's cells (matrix row, its mentor's
    seats from, to)."""

    rows: IntArray
    seats: IntArray
    gained: list[int]
    cells: list[tuple[int, int, int]]
    zero: np.ndarray | None = None  # zeroed matrices: what child i zeroes is zero[:i * (width + height)]


class Flows:
    """Priced optima of nodes as min-cost flows (organisation caps or gender quotas bind): the node's includes as
    pins; with `groups`, the quotas' group arcs (`solver.flow.quota_flow_optimum`), and a node where they cannot
    hold has no matching (None)."""

    def __init__(self, model: AssignmentModel, stop: StopToken | threading.Event | None,
                 groups: QuotaGroups | None = None) -> None:
        self.model = model
        self.stop = stop
        self.groups = groups
        self.priced = np.zeros(model.n_rows, dtype=np.int64)
        self.cells = max(1, 4 * model.n_rows)
        self.seat_cost = model.seat_cost

    def price(self, priced: IntArray) -> None:
        self.priced = priced

    def solve(self, include: IntArray, exclude: IntArray) -> IntArray | None:
        model = self.model
        node = model if not len(include) else dataclasses.replace(
            model, pinned_rows=np.sort(np.concatenate([model.pinned_rows, include])))
        allowed = None
        if len(exclude):
            mask = np.ones(model.n_rows, dtype=np.bool_)
            mask[exclude] = False
            allowed = np.flatnonzero(mask)
        if self.groups is None:
            rows = flow_optimum(node, self.priced, allowed, stop=self.stop)
        else:
            found = quota_flow_optimum(node, self.priced, self.groups, allowed, stop=self.stop)
            if found is None:
                return None
            rows = found
        free = np.ones(model.n_rows, dtype=np.bool_)
        free[node.pinned_rows] = False
        return rows[free[rows]]

    def drops(self, include: IntArray, exclude: IntArray, free: IntArray,
              matrix: tuple[FloatArray, IntArray, IntArray] | None) -> tuple[FloatArray, FloatArray]:
        """No losses from a flow (its duals are not exposed): children keep their parent's bound."""
        del include, exclude, matrix
        return np.zeros(len(free)), np.zeros(len(free))

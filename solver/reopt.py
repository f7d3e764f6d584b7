"""Re-optimising the best matching after a small change, from its optimal flow instead of from scratch.

The best matching of a pure assignment is an optimal min-cost flow: each mentee sends one unit, to a mentor (the
pair's arc, cost -(big x priority + score)) or straight to the sink (unmatched); a mentor drains through one arc
per seat (seat k costs seat_cost x (k - 1)) and, when capped, through his organisation's arc (the cap). Node
potentials that make every residual arc's reduced cost non-negative prove it optimal (found once, by a vectorised
Bellman-Ford over the residual graph).

A change (new allowed pairs, new scores for some pairs, a seat more, a raised cap, a person or a pair forced in)
breaks that proof on a few arcs only. Those are repaired by moving the flow of the few people they touch, the
flow is rebalanced by successive shortest paths (Dijkstra on reduced costs, `scipy.sparse.csgraph`, one unit
each), and the potentials are updated as it goes: the result is an exact optimum of the changed network, the
same objective as a solve from scratch. When the change touches too much for a handful of paths (a rule changed
for every mentee), the changed network is solved anew by the C++ min-cost flow instead: still exact, and still
without rebuilding the candidate pairs.

Gender quotas are not in the network: a re-optimum that breaks one is not answered (`reoptimise` returns None)
and the caller solves in full. A force-in is lexicographic, as the solver's own: a mentee forced in is matched
whenever any matching can match her (a penalty above every objective on her staying unmatched); a mentor forced
in must have a mentee (a bonus above every objective on his first seat), else the answer is infeasible.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from ortools.graph.python import min_cost_flow

from solver.candidates import BoolArray, IntArray
from solver.model import AssignmentModel
from solver.stop import StopToken, check

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

EXACT_FLOAT = 2**52  # Dijkstra's distances are doubles: every path cost stays below this, so they are exact
MAX_PATHS = 12  # units of imbalance repaired by shortest paths; beyond, the changed network is solved anew
CACHED = 48  # re-optima kept per reoptimiser, by key (a relaxation asked about for several people) ...
CACHED_ARCS = 4_000_000  # ... and at most this many arcs' flows in all (each keeps its network's arrays)
_KEY = 1 << 31  # arc keys: tail * _KEY + head
Int32Array = npt.NDArray[np.int32]


def _empty() -> IntArray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class FlowChange:
    """A change to the best matching's network. Pairs are (mentee, mentor) indices of the model's cohort."""

    new_mentee: IntArray = field(default_factory=_empty)  # pairs allowed now that were not (not in the model)
    new_mentor: IntArray = field(default_factory=_empty)
    new_score: IntArray = field(default_factory=_empty)
    rescored_rows: IntArray = field(default_factory=_empty)  # model rows whose score changes
    rescored: IntArray = field(default_factory=_empty)
    capacity: tuple[tuple[int, int], ...] = ()  # (mentor, new capacity)
    org_caps: tuple[tuple[int, int], ...] = ()  # (organisation index of the model, new cap)
    quotas: tuple[tuple[int, int, int | None], ...] | None = None  # replaces the model's (gender, min, max)
    force_mentee: int | None = None  # matched whenever any matching can match her
    force_mentor: int | None = None  # at least one mentee, else infeasible
    pin: tuple[int, int] | None = None  # (mentee, mentor) pinned together, replacing her own pin
    exclude_mentee: int | None = None  # left unmatched (infeasible when she is pinned)
    exclude_mentor: int | None = None  # given no mentee (infeasible when one is pinned to him)


@dataclass(frozen=True)
class Reoptimum:
    """The best matching of the changed network: its pairs, each with its score in the changed terms."""

    feasible: bool
    mentee: IntArray
    mentor: IntArray
    score: IntArray
    value: int  # big x matched priority + total score - seat costs, in the changed network's terms
    paths: int  # shortest paths used (0 when solved anew)
    anew: bool  # solved anew by the min-cost flow (too much changed for a few paths)
    ties: bool = False  # with `reoptimise(..., person=...)`: an optimum of the other status for them exists


class Reoptimiser:
    """The best matching of a model as an optimal flow with potentials, re-optimised per `FlowChange`.

    Build with `Reoptimiser.build`; each `reoptimise` starts again from the best matching (changes do not add up).
    """

    def __init__(self, model: AssignmentModel, max_score: int, big: int, force: int, tail: IntArray, head: IntArray, cap: IntArray,
                 cost: IntArray, flow: IntArray, supply: IntArray, seats: list[list[int]], seat_heads: IntArray,
                 potential: IntArray) -> None:
        self.model, self.big, self.force = model, big, force
        self.tail, self.head, self.cap, self.cost, self.flow = tail, head, cap, cost, flow
        self.supply, self.seats, self.seat_heads, self.potential = supply, seats, seat_heads, potential
        self.max_score = max_score
        self.pinned = np.zeros(model.candidates.arrays.n_mentees, dtype=np.bool_)
        self.pinned[model.mentee[model.pinned_rows]] = True
        self._solved: dict[Hashable, tuple[Reoptimum | None, _Network | None]] = {}
        self.n, self.m = model.candidates.arrays.n_mentees, model.candidates.arrays.n_mentors
        self.sink = self.n + self.m + len(model.org_caps)
        order = np.argsort(tail * _KEY + head, kind="stable")
        self._keys = (tail * _KEY + head)[order]
        self._arcs = order.astype(np.int64)
        # The residual graph's possible edges, each arc forward (tail -> head) and backward, ordered by their
        # source: an iteration keeps the residual ones and hands Dijkstra a CSR matrix without sorting.
        source = np.concatenate([tail, head])
        edges = np.argsort(source, kind="stable")
        self.edge_source = source[edges]
        self.edge_arc = np.where(edges < len(tail), edges, edges - len(tail)).astype(np.int64)
        self.edge_forward = edges < len(tail)
        self.edge_cache: tuple[IntArray, IntArray, BoolArray, Int32Array, IntArray, IntArray] | None = None

    # Building -------------------------------------------------------------------------------------------

    @staticmethod
    def build(model: AssignmentModel, rows: IntArray, max_score: int, spare_seats: int = 1,
              stop: StopToken | threading.Event | None = None) -> Reoptimiser | None:
        """The network of `model` carrying the matching `rows`, with potentials proving it optimal; None when it is
        not an optimal flow (a side constraint the flow does not know, e.g. a binding gender quota, shaped it) or
        when the numbers are too large to re-optimise exactly. `max_score` bounds any pair's score, before and after
        changes; a change may add up to `spare_seats` seats per mentor. `stop` is checked between the rounds that
        find the potentials (raises `solver.stop.Stopped`)."""
        n, m = model.candidates.arrays.n_mentees, model.candidates.arrays.n_mentors
        if model.n_rows and int(model.score.max()) > max_score:
            return None
        most = np.minimum(model.capacity + spare_seats, n)
        big = n * max(max_score, 0) + 1 + model.seat_cost * int((most * (most - 1) // 2).sum())
        priority = model.priority.astype(np.int64)
        if (priority < 0).any():
            return None
        force = big * (int(priority.sum()) + 1)
        n_orgs = len(model.org_caps)
        sink = n + m + n_orgs
        pinned = np.zeros(n, dtype=np.bool_)
        pinned[model.mentee[model.pinned_rows]] = True
        row_cap = np.where(pinned[model.mentee], 0, 1).astype(np.int64)
        row_cap[model.pinned_rows] = 1
        # Seats: one node per seat arc, so that no two arcs join the same two nodes (mentor -> seat -> head).
        seat_tails: list[int] = []
        seat_caps: list[int] = []
        seat_costs: list[int] = []
        seats: list[list[int]] = []
        for j, capacity in enumerate(model.capacity.tolist()):
            own: list[int] = []
            if model.seat_cost:
                for k in range(capacity):
                    own.append(len(seat_tails))
                    seat_tails.append(j)
                    seat_caps.append(1)
                    seat_costs.append(model.seat_cost * k)
            else:  # the first seat apart (a forced mentor's bonus), then the rest
                for part in (min(capacity, 1), max(capacity - 1, 0)):
                    own.append(len(seat_tails))
                    seat_tails.append(j)
                    seat_caps.append(part)
                    seat_costs.append(0)
            seats.append(own)
        n_seats = len(seat_tails)
        seat_node = sink + 1 + np.arange(n_seats, dtype=np.int64)
        seat_of = np.array(seat_tails, dtype=np.int64)
        org = model.mentor_org
        seat_heads = np.where(org[seat_of] >= 0, n + m + org[seat_of], sink) if n_seats else _empty()
        mentees = np.arange(n, dtype=np.int64)
        orgs = np.arange(n_orgs, dtype=np.int64)
        tail = np.concatenate([mentees, model.mentee, n + seat_of, seat_node, n + m + orgs])
        head = np.concatenate([np.full(n, sink), n + model.mentor, seat_node, seat_heads, np.full(n_orgs, sink)])
        caps = np.array(seat_caps, dtype=np.int64)
        cap = np.concatenate([np.where(pinned, 0, 1), row_cap, caps, caps, model.org_caps]).astype(np.int64)
        weights = big * priority[model.mentee] + model.score
        cost = np.concatenate([np.zeros(n, dtype=np.int64), -weights, np.array(seat_costs, dtype=np.int64),
                               np.zeros(n_seats + n_orgs, dtype=np.int64)]).astype(np.int64)
        nodes = sink + 1 + n_seats
        if nodes * (force + int(np.abs(cost).max(initial=0)) + big) >= EXACT_FLOAT:
            return None
        # The flow of `rows`: matched mentees through their pair, the others straight to the sink; each mentor's
        # load through his cheapest seats; organisations carry their mentors' loads.
        rows = np.asarray(rows, dtype=np.int64)
        flow = np.zeros(len(tail), dtype=np.int64)
        matched = np.zeros(n, dtype=np.bool_)
        matched[model.mentee[rows]] = True
        flow[:n] = ~matched
        flow[n + rows] = 1
        load = np.bincount(model.mentor[rows], minlength=m)
        first_seat = n + model.n_rows
        for j, own in enumerate(seats):
            left = int(load[j])
            for arc in own:
                take = min(left, seat_caps[arc])
                flow[first_seat + arc] = flow[first_seat + n_seats + arc] = take
                left -= take
            if left:
                return None  # over capacity: not a matching of this network
        org_load = np.bincount(org[model.mentor[rows]][org[model.mentor[rows]] >= 0], minlength=n_orgs)
        flow[first_seat + 2 * n_seats:] = org_load
        if (flow > cap).any():
            return None
        supply = np.zeros(nodes, dtype=np.int64)
        supply[:n] = 1
        supply[sink] = -n
        potential = residual_potentials(nodes, tail, head, cap, cost, flow, stop)
        if potential is None:
            return None
        return Reoptimiser(model, max_score, big, force, tail, head, cap, cost, flow, supply, seats, seat_heads, potential)

    # Re-optimising --------------------------------------------------------------------------------------

    def reoptimise(self, change: FlowChange, key: Hashable | None = None, person: tuple[bool, int] | None = None
                   ) -> Reoptimum | None:
        """The best matching of the network with `change` applied, exactly; None when it cannot be told here (the
        re-optimum breaks a gender quota, or a new score is out of the bounds the network was built for).

        With a `key` naming the change, its re-optimum is kept and reused (`CACHED` of them at most, fewer for a
        large network: `CACHED_ARCS`). With a
        `person` (is a mentee, index), `Reoptimum.ties` says whether a best matching of the other status for them
        (matched, or not) is as good as the one found: which of the two a solver returns is its own choice.
        """
        quotas = self.model.quotas if change.quotas is None else change.quotas
        cached = self._solved.get(key) if key is not None else None
        if cached is not None:
            found, net = cached
        else:
            net = _Network(self)
            applied = self._apply(net, change)
            if applied is None:
                return None
            feasible, touched = applied
            found = self._read(net, quotas, change.force_mentor, feasible and net.solve(touched))
            if found is not None and found.feasible and net.anew:
                # Solved from scratch: potentials for the flow found, to go on from it.
                potential = residual_potentials(net.nodes, net.tail, net.head, net.cap, net.cost, net.flow)
                net.potential = potential if potential is not None else net.potential
                net = net if potential is not None else None
            if found is None or not found.feasible:
                net = None
            if key is not None and len(self._solved) < min(CACHED, max(1, CACHED_ARCS // len(self.tail))):
                self._solved[key] = found, net
        if found is None or person is None or not found.feasible:
            return found
        return replace(found, ties=self._ties(net, change, found, person, quotas))

    def _ties(self, net: _Network | None, change: FlowChange, found: Reoptimum, person: tuple[bool, int],
              quotas: tuple[tuple[int, int, int | None], ...]) -> bool:
        """Whether an optimum of the other status for the person exists (True also when it cannot be told)."""
        if net is None:
            return True
        is_mentee, index = person
        matched = bool(((found.mentee if is_mentee else found.mentor) == index).any())
        # Another optimum is the flow moved round a cycle of zero reduced cost: none through the person means none
        # of the other status (quotas or not: they only take optima away). A cycle found is one when no quota can
        # stand in its way; else the other status is solved for, below.
        cycle = self._tight_cycle(net, found, is_mentee, index, matched)
        if cycle is not None and (not cycle or not quotas):
            return cycle
        # Otherwise: the best matching with the other status, from this one's flow, and its value.
        flip = (FlowChange(exclude_mentee=index) if is_mentee else FlowChange(exclude_mentor=index)) if matched \
            else (FlowChange(force_mentee=index) if is_mentee else FlowChange(force_mentor=index))
        net = net.copy()
        more = self._apply(net, flip)
        if more is None:
            return True
        force_mentor = flip.force_mentor if flip.force_mentor is not None else change.force_mentor
        other = self._read(net, quotas, force_mentor, more[0] and net.solve(more[1]))
        return other is None or (other.feasible and other.value == found.value and bool(
            ((other.mentee if is_mentee else other.mentor) == index).any()) != matched)

    def _tight_cycle(self, net: _Network, found: Reoptimum, is_mentee: bool, index: int, matched: bool
                     ) -> bool | None:
        """Whether the residual graph has a cycle of reduced cost 0 that changes the person's status; None when
        that is not told this way (a mentor with mentees: every one of them would have to go)."""
        reach, sink = net.admissible_reach, self.sink
        if is_mentee:
            # Her arc to the sink, and the way back to her from her mentor (matched) or on to the sink (not).
            if net.cost[index] + net.potential[index] - net.potential[sink] != 0:
                return False
            if matched:
                return self.n + int(found.mentor[np.flatnonzero(found.mentee == index)[0]]) in reach(sink)
            return sink in reach(index)
        if matched:
            return None
        # A mentor without a mentee: a tight arc in from a mentee whom he reaches along tight residual edges.
        node = self.n + index
        arcs = np.flatnonzero((net.head == node) & (net.flow < net.cap))
        arcs = arcs[net.cost[arcs] + net.potential[net.tail[arcs]] - net.potential[node] == 0]
        if not len(arcs):
            return False
        reached = reach(node)
        return any(tail in reached for tail in net.tail[arcs].tolist())

    def _apply(self, net: _Network, change: FlowChange) -> tuple[bool, set[int]] | None:
        """Applies `change` to `net`: (whether a matching can still exist, the mentees whose arcs out changed);
        None when it cannot be applied here."""
        model, n = self.model, self.n
        touched: set[int] = set()
        if len(change.new_mentee):
            if int(np.max(change.new_score)) > self.max_score:
                return None
            weights = self.big * model.priority[change.new_mentee] + change.new_score
            start = len(net.tail)
            net.add(change.new_mentee, n + change.new_mentor, np.ones(len(weights), dtype=np.int64), -weights)
            net.new_pairs = np.arange(start, len(net.tail), dtype=np.int64)
            net.cap[net.new_pairs[self.pinned[change.new_mentee]]] = 0  # a pinned mentee keeps to her pin
            touched.update(change.new_mentee.tolist())
        if len(change.rescored_rows):
            if int(np.max(change.rescored)) > self.max_score:
                return None
            rows = change.rescored_rows
            net.cost[n + rows] = -(self.big * model.priority[model.mentee[rows]] + change.rescored)
            touched.update(model.mentee[rows].tolist())
        for j, capacity in change.capacity:
            self._set_capacity(net, j, min(max(capacity, 0), n))
        base_orgs = len(self.tail) - len(model.org_caps)
        for org, cap in change.org_caps:
            net.cap[base_orgs + org] = max(cap, 0)
        if change.force_mentee is not None:
            net.cost[change.force_mentee] += self.force  # staying unmatched costs more than any objective
            touched.add(change.force_mentee)
        if change.force_mentor is not None:
            own = self.seats[change.force_mentor]
            if not own or net.cap[n + model.n_rows + own[0]] == 0:
                return False, touched
            net.cost[n + model.n_rows + own[0]] -= self.force
        if change.pin is not None:
            a, b = change.pin
            arc = net.find(a, n + b)
            if arc is None:
                return None
            net.cap[net.tail == a] = 0
            net.cap[arc] = 1
            touched.add(a)
        if change.exclude_mentee is not None:
            if self.pinned[change.exclude_mentee]:
                return False, touched
            net.cap[(net.tail == change.exclude_mentee) & (net.head != self.sink)] = 0
            touched.add(change.exclude_mentee)
        if change.exclude_mentor is not None:
            net.cap[(net.tail == n + change.exclude_mentor) & (net.head > self.sink)] = 0  # his seats
        return True, touched

    def _read(self, net: _Network, quotas: tuple[tuple[int, int, int | None], ...], force_mentor: int | None,
              feasible: bool) -> Reoptimum | None:
        """The matching the solved network carries, checked against what the flow does not know."""
        model, n = self.model, self.n
        if not feasible:
            return _infeasible(net.paths, net.anew)
        pair_arcs = np.concatenate([n + np.arange(model.n_rows), net.new_pairs])
        used = pair_arcs[net.flow[pair_arcs] > 0]
        mentee, mentor = net.tail[used], net.head[used] - n
        score = -net.cost[used] - self.big * model.priority[mentee]
        order = np.lexsort((mentor, mentee))
        mentee, mentor, score = mentee[order], mentor[order], score[order]
        if force_mentor is not None and not (mentor == force_mentor).any():
            return _infeasible(net.paths, net.anew)
        gender = model.mentor_gender[mentor]
        for code, low, high in quotas:
            count = int((gender == code).sum())
            if count < low or (high is not None and count > high):
                return None  # the flow does not know quotas: the caller solves in full
        load = np.bincount(mentor, minlength=self.m)
        value = (self.big * int(model.priority[mentee].sum()) + int(score.sum())
                 - model.seat_cost * int((load * (load - 1) // 2).sum()))
        return Reoptimum(True, mentee, mentor, score, value, net.paths, net.anew)

    def _set_capacity(self, net: _Network, j: int, capacity: int) -> None:
        """Mentor j's seats for `capacity` mentees (seats added cost what the next seats cost)."""
        model = self.model
        first = self.n + model.n_rows
        n_seats = len(self.seat_heads)
        own = self.seats[j]
        if not model.seat_cost:
            first_part, rest = min(capacity, 1), max(capacity - 1, 0)
            for arc, part in zip(own, (first_part, rest), strict=True):
                net.cap[first + arc] = net.cap[first + n_seats + arc] = part
            return
        for k, arc in enumerate(own):
            net.cap[first + arc] = net.cap[first + n_seats + arc] = 1 if k < capacity else 0
        org = int(model.mentor_org[j])
        head = self.n + self.m + (org if org >= 0 else len(model.org_caps))
        for k in range(len(own), capacity):
            # A new seat: mentor -> seat -> head, the seat's potential making the arc into it tight (the arc out,
            # if then negative, is repaired like any other).
            node = net.new_node(int(net.potential[self.n + j]) + model.seat_cost * k)
            one = np.ones(1, dtype=np.int64)
            net.add(np.array([self.n + j]), np.array([node]), one, np.array([model.seat_cost * k]))
            net.add(np.array([node]), np.array([head]), one, np.zeros(1, dtype=np.int64))


def _infeasible(paths: int, anew: bool) -> Reoptimum:
    return Reoptimum(False, _empty(), _empty(), _empty(), 0, paths, anew)


# The network of one re-optimisation ----------------------------------------------------------------------


class _Network:
    """A copy of the base network with a change applied, and the repair of its flow."""

    def __init__(self, base: Reoptimiser) -> None:
        self.base = base
        self.tail, self.head = base.tail, base.head
        self.cap, self.cost, self.flow = base.cap.copy(), base.cost.copy(), base.flow.copy()
        self.nodes = len(base.supply)
        self.potential = base.potential.copy()
        self.anew = False
        self.paths = 0
        self.new_pairs = _empty()  # the arcs of pairs added
        self._edge_cache: tuple[IntArray, IntArray, BoolArray, Int32Array, IntArray, IntArray] | None = None
        self._extra_keys, self._extra_arcs = _empty(), _empty()  # arcs added, by key (sorted)

    def copy(self) -> _Network:
        out = copy.copy(self)
        out.cap, out.cost, out.flow, out.potential = self.cap.copy(), self.cost.copy(), self.flow.copy(), \
            self.potential.copy()
        return out

    def new_node(self, potential: int) -> int:
        self._edge_cache = None
        self.nodes += 1
        self.potential = np.append(self.potential, potential)
        return self.nodes - 1

    def add(self, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray) -> None:
        self._edge_cache = None
        start = len(self.tail)
        self.tail = np.concatenate([self.tail, tail])
        self.head = np.concatenate([self.head, head])
        self.cap = np.concatenate([self.cap, cap])
        self.cost = np.concatenate([self.cost, cost])
        self.flow = np.concatenate([self.flow, np.zeros(len(tail), dtype=np.int64)])
        keys = np.concatenate([self._extra_keys, tail * _KEY + head])
        arcs = np.concatenate([self._extra_arcs, start + np.arange(len(tail), dtype=np.int64)])
        order = np.argsort(keys, kind="stable")
        self._extra_keys, self._extra_arcs = keys[order], arcs[order]

    def find(self, u: int, v: int) -> int | None:
        """The arc from u to v (there is at most one)."""
        key = u * _KEY + v
        for keys, arcs in ((self._extra_keys, self._extra_arcs), (self.base._keys, self.base._arcs)):
            pos = int(np.searchsorted(keys, key))
            if pos < len(keys) and keys[pos] == key:
                return int(arcs[pos])
        return None

    def supply(self) -> IntArray:
        out = np.zeros(self.nodes, dtype=np.int64)
        out[:len(self.base.supply)] = self.base.supply
        return out

    def _edges(self) -> tuple[IntArray, IntArray, BoolArray, Int32Array, IntArray, IntArray]:
        """(source, arc, forward, target, edge, row pointers) of every possible residual edge, ordered by source: the
        base network's, with the added arcs' merged in. `edge` numbers an edge in [forward arcs, backward arcs] (an
        arc's forward edge is the arc, its backward edge the arc + the number of arcs)."""
        base = self.base
        source, arc, forward = base.edge_source, base.edge_arc, base.edge_forward
        added = np.arange(len(base.tail), len(self.tail), dtype=np.int64)
        if len(added):
            more_source = np.concatenate([self.tail[added], self.head[added]])
            more_arc = np.concatenate([added, added])
            more_forward = np.arange(2 * len(added)) < len(added)
            order = np.argsort(more_source, kind="stable")
            at = np.searchsorted(source, more_source[order], side="right")
            source = np.insert(source, at, more_source[order])
            arc = np.insert(arc, at, more_arc[order])
            forward = np.insert(forward, at, more_forward[order])
        # Targets and row pointers as int32, the index type of scipy's sparse matrices: built without a scan or copy.
        target = np.where(forward, self.head[arc], self.tail[arc]).astype(np.int32)
        edge = np.where(forward, arc, arc + len(self.tail))
        starts = np.searchsorted(source, np.arange(self.nodes + 1, dtype=np.int64))
        return source, arc, forward, target, edge, starts

    def _residual(self, tight: bool = False) -> tuple[csr_matrix, IntArray, BoolArray, Int32Array, Int32Array]:
        """The residual graph weighted by reduced costs (only its edges of reduced cost 0 with `tight`), as a CSR
        matrix, with each edge's arc, direction and target, and the row pointers."""
        if self._edge_cache is None:
            if len(self.tail) == len(self.base.tail) and self.nodes == len(self.base.supply):
                if self.base.edge_cache is None:  # the base network's, shared by every change adding no arc
                    self.base.edge_cache = self._edges()
                self._edge_cache = self.base.edge_cache
            else:
                self._edge_cache = self._edges()
        _, arc, forward, target, edge, starts = self._edge_cache
        reduced = self.cost + self.potential[self.tail] - self.potential[self.head]
        residual = np.concatenate([self.flow < self.cap, self.flow > 0])
        if tight:
            zero = reduced == 0
            residual &= np.concatenate([zero, zero])
        kept = np.flatnonzero(residual[edge])
        kept_arc, kept_forward, kept_target = arc[kept], forward[kept], target[kept]
        indptr = np.searchsorted(kept, starts).astype(np.int32)  # kept edges before each node's first
        if tight:
            weight = np.ones(len(kept))
        else:
            kept_reduced = reduced[kept_arc]
            weight = np.where(kept_forward, kept_reduced, -kept_reduced).astype(np.float64)
        # scipy (~0.4 s to import) is loaded by the first re-solve: explaining without re-solves does not need it.
        from scipy.sparse import csr_matrix

        graph = csr_matrix((weight, kept_target, indptr), shape=(self.nodes, self.nodes))
        return graph, kept_arc, kept_forward, kept_target, indptr

    def admissible_reach(self, node: int) -> set[int]:
        """The nodes reachable from `node` along residual edges of reduced cost 0."""
        from scipy.sparse.csgraph import breadth_first_order

        graph = self._residual(tight=True)[0]
        return set(breadth_first_order(graph, node, directed=True, return_predecessors=False).tolist())

    def solve(self, touched: set[int]) -> bool:
        """Repairs the flow to an optimum of this network; False when no feasible flow exists."""
        tail, head, cap, cost, flow, pi = self.tail, self.head, self.cap, self.cost, self.flow, self.potential
        np.minimum(flow, cap, out=flow)
        n = self.base.n
        # A mentee has no arc in but the way back along the arc her unit takes: her potential can make that arc
        # tight whatever its new cost, which leaves as broken only the arcs out of her that now beat it.
        used = np.flatnonzero((tail < n) & (flow > 0))
        pi[tail[used]] = pi[head[used]] - cost[used]
        if touched and len(touched) <= MAX_PATHS:
            # Each touched mentee gives up her unit (she has no arc in, so her potential can then be chosen to
            # make every arc out of her non-negative): one path puts her unit back where it is best.
            mentees = np.fromiter(touched, dtype=np.int64)
            mark = np.zeros(self.nodes, dtype=np.bool_)
            mark[mentees] = True
            out = mark[tail]  # the arcs out of them
            flow[out] = 0
            usable = out & (cap > 0)
            best = np.full(self.nodes, np.iinfo(np.int64).min, dtype=np.int64)
            np.maximum.at(best, tail[usable], pi[head[usable]] - cost[usable])
            pi[mentees] = np.where(best[mentees] > np.iinfo(np.int64).min, best[mentees], pi[mentees])
        reduced = cost + pi[tail] - pi[head]
        broken = (flow < cap) & (reduced < 0)
        flow[broken] = cap[broken]
        flow[(flow > 0) & (reduced > 0)] = 0
        excess = self.supply() + np.bincount(head, flow, minlength=self.nodes).astype(np.int64) \
            - np.bincount(tail, flow, minlength=self.nodes).astype(np.int64)
        units = int(excess[excess > 0].sum())
        self.units = units
        if units > MAX_PATHS:
            self.anew = True
            return self._solve_anew()
        if units == 0:
            return True
        from scipy.sparse.csgraph import dijkstra

        while units > 0:
            graph, kept_arc, kept_forward, kept_target, indptr = self._residual()
            dist, pred, _ = dijkstra(graph, directed=True, indices=np.flatnonzero(excess > 0),
                                     return_predecessors=True, min_only=True)
            sinks = np.flatnonzero((excess < 0) & np.isfinite(dist))
            if len(sinks) == 0:
                return False
            t = int(sinks[np.argmin(dist[sinks])])
            hops: list[tuple[int, bool]] = []  # (arc, forward)
            v = t
            while pred[v] >= 0:
                u = int(pred[v])
                # No two arcs join the same two nodes, in either direction: one residual edge goes from u to v.
                lo, hi = int(indptr[u]), int(indptr[u + 1])
                k = lo + int(np.flatnonzero(kept_target[lo:hi] == v)[0])
                hops.append((int(kept_arc[k]), bool(kept_forward[k])))
                v = u
            delta = min(int(excess[v]), int(-excess[t]))
            for a, fwd in hops:
                delta = min(delta, int(cap[a] - flow[a]) if fwd else int(flow[a]))
            for a, fwd in hops:
                flow[a] += delta if fwd else -delta
            excess[v] -= delta
            excess[t] += delta
            pi += np.where(np.isfinite(dist), np.minimum(dist, dist[t]), dist[t]).astype(np.int64)
            units -= delta
            self.paths += 1
        return True

    def _solve_anew(self) -> bool:
        """The changed network solved from scratch by the min-cost flow (exact)."""
        solver = min_cost_flow.SimpleMinCostFlow()
        arcs = np.flatnonzero(self.cap > 0)
        solver.add_arcs_with_capacity_and_unit_cost(self.tail[arcs], self.head[arcs], self.cap[arcs], self.cost[arcs])
        solver.set_nodes_supplies(np.arange(self.nodes), self.supply())
        if solver.solve() != solver.OPTIMAL:
            return False
        self.flow[:] = 0
        self.flow[arcs] = solver.flows(np.arange(len(arcs)))
        return True


def load_shortest_paths() -> None:
    """Imports scipy's sparse graphs (~0.45 s of CPU), which the first re-solve by shortest paths needs. For a caller
    about to fork processes that will all re-solve: one import, inherited, instead of one in each of them."""
    import scipy.sparse.csgraph  # noqa: F401


def residual_potentials(nodes: int, tail: IntArray, head: IntArray, cap: IntArray, cost: IntArray, flow: IntArray,
                        stop: StopToken | threading.Event | None = None) -> IntArray | None:
    """Potentials under which every residual arc has a non-negative reduced cost (cost + pi[tail] - pi[head]):
    shortest distances from a virtual root over the residual graph, by rounds of vectorised Bellman-Ford. None when
    a round limit passes (a negative cycle: the flow is not optimal)."""
    forward, backward = flow < cap, flow > 0
    u = np.concatenate([tail[forward], head[backward]])
    v = np.concatenate([head[forward], tail[backward]])
    w = np.concatenate([cost[forward], -cost[backward]])
    order = np.argsort(v, kind="stable")
    u, v, w = u[order], v[order], w[order]
    if len(v) == 0:
        return np.zeros(nodes, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, v[1:] != v[:-1]])
    heads = v[starts]
    dist = np.zeros(nodes, dtype=np.int64)
    for _ in range(nodes + 1):
        check(stop)
        best = np.minimum.reduceat(dist[u] + w, starts)
        better = best < dist[heads]
        if not better.any():
            return dist
        dist[heads[better]] = best[better]
    return None

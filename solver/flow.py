"""Exact min-cost flow for the pure assignment: capacities, pins and organisation caps (a layer of the network).

A big flow runs in a child process forked for it (`CHILD_MIN_ARCS`, `solver.stop.run_in_child`): OR-Tools' solve is
one C++ call that holds the interpreter lock and never looks at a stop (2-3 s for 1.6 million arcs), so in-process
it would freeze every other thread of a server (refusals, health checks, the drain) and outlive a cancelled call.
The child shares the arrays copy-on-write, sends back the chosen arcs, and is killed at once when the stop is set:
its CPU and memory end with it. The same solver on the same arcs gives the same answer in either process.
A flow of many independent parts (`PARALLEL_MIN_ROWS`) solves about half of them in one child beside this process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ortools.graph.python import min_cost_flow

from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.stop import StopToken, check, cores, forking_works, run_in_child

if TYPE_CHECKING:
    from collections.abc import Callable

    from solver.candidates import IntArray
    from solver.model import AssignmentModel

    Arcs = tuple[IntArray, IntArray, IntArray, IntArray]  # tails, heads, capacities, unit costs

SPLIT_MIN_ROWS = 50_000  # pairs from which solving the independent parts apart pays (measured)
CHILD_MIN_ARCS: int | None = 40_000
"""Arcs from which a flow that a stop can end runs in a forked child process: from here an in-process solve holds
the interpreter lock for more than ~15 ms (about 12 ms at 47,000 arcs, 100 ms at 110,000, 2-3 s at 1.6 million).
A child costs ~25 ms of CPU (the fork, copy-on-write, its exit; 0.1 s more on 5,000 x 5,000's four big parts).
None: never (every flow in-process)."""
CHILD_MIN_ARCS_NO_STOP: int | None = 400_000
"""The same without a stop (a library call with no stop and no time limit to keep): only flows that would hold the
lock for ~0.5 s or more."""

def _components(n_nodes: int, u: IntArray, v: IntArray, stop: StopToken | threading.Event | None = None
                ) -> IntArray:
    """Connected-component labels (the smallest node of each component) of an undirected edge list.

    Vectorised hooking and pointer jumping: every round hooks each root to the smallest root it shares an
    edge with, then jumps pointers until each node points at its root; a handful of rounds on pair graphs.
    `stop` is checked before each round (~50 ms each at 1.6 million edges).
    """
    label = np.arange(n_nodes, dtype=np.int64)
    while True:
        check(stop)
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


def flow_optimum(model: AssignmentModel, weights: IntArray, allowed_rows: IntArray | None = None,
                 stop: StopToken | threading.Event | None = None) -> IntArray:
    """Rows of a matching maximising sum(weights) under capacities, pins and organisation caps (exact).

    The pairs split into independent parts wherever no pair (and no binding organisation cap) joins them,
    e.g. other towns or other fields; each part is its own, smaller min-cost flow (cost scaling grows faster
    than linearly with the size), and the optimum is the union of the parts' optima. `stop` is checked before
    each part and between the steps that prepare them (each under ~0.1 s at 1.6 million pairs; raises
    `solver.stop.Stopped`).
    """
    check(stop)
    size = model.n_rows if allowed_rows is None else len(allowed_rows)
    if size <= SMALL_FLOW_ROWS and size < SPLIT_MIN_ROWS and weights.dtype == np.int64:
        return _small_flow_optimum(model, weights, allowed_rows, stop)
    rows = np.arange(model.n_rows, dtype=np.int64) if allowed_rows is None else np.asarray(allowed_rows)
    n, m = model.candidates.arrays.n_mentees, model.candidates.arrays.n_mentors
    capacity = model.capacity.copy()
    pinned = model.pinned_rows
    pinned_mentees = model.mentee[pinned]
    pinned_load = np.bincount(model.mentor[pinned], minlength=m)  # pins take a mentor's first seats
    capacity -= pinned_load
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
    check(stop)
    has_rows = np.zeros(m, dtype=np.bool_)
    has_rows[b] = True
    capped = np.flatnonzero((mentor_org >= 0) & has_rows)
    if len(free) < SPLIT_MIN_ROWS:  # small: one flow costs less than finding the parts
        nodes = n + m + n_orgs
        whole = _flowed(_flow_part(model, weights, free, a, b, np.arange(nodes), nodes, n, m, capacity, mentor_org,
                                   org_left, pinned_load, stop))
        return np.sort(np.concatenate([whole, pinned]))
    u = np.concatenate([a, n + capped])
    v = np.concatenate([n + b, n + m + mentor_org[capped]])
    label = _components(n + m + n_orgs, u, v, stop)
    check(stop)
    # Number each part's nodes 0..size-1 (mentees, then mentors, then organisations, by index).
    node_order = np.argsort(label, kind="stable")
    sorted_label = label[node_order]
    part_start = np.searchsorted(sorted_label, sorted_label, side="left")
    local = np.empty(len(label), dtype=np.int64)
    local[node_order] = np.arange(len(label)) - part_start
    part_size = np.bincount(label, minlength=len(label))
    row_part = label[a]
    # The rows by part, parts in label order: a stable sort of each row's part as a 16-bit number is a radix sort
    # (~10x faster than sorting the labels at 2 million rows), with the same order.
    roots, part_of_root = np.unique(label, return_inverse=True)
    part_number = part_of_root.reshape(-1)[a]
    row_order = np.argsort(part_number.astype(np.uint16) if len(roots) <= 1 << 16 else part_number, kind="stable")
    check(stop)
    part_rows = np.split(row_order, np.flatnonzero(np.diff(part_number[row_order])) + 1)

    def part(in_part: IntArray, in_child: bool) -> IntArray:  # in a child: in-process there, no stop to check
        return _flowed(_flow_part(model, weights, free[in_part], a[in_part], b[in_part], local,
                                  int(part_size[row_part[in_part[0]]]), n, m, capacity, mentor_org, org_left,
                                  pinned_load, None if in_child else stop, in_child=in_child))

    here, aside = _share_parts(part_rows)
    beside = _Beside(aside, part, stop)  # solved in a child process while this one solves `here`
    try:
        chosen: list[IntArray] = []
        for in_part in here:
            check(stop)
            chosen.append(part(in_part, False))
        chosen += beside.result()
    finally:
        beside.close()
    return np.sort(np.concatenate([*chosen, pinned]))


SMALL_FLOW_ROWS = 600
"""Rows up to which `flow_optimum` lays out its network in Python lists (`_small_flow_optimum`) rather than numpy
calls: ~70 numpy calls cost ~1-3 us each whatever the size, most of a small flow (15 x 15, 186 rows: ~0.2 ms of
set-up beside OR-Tools' ~60 us). The same arcs in the same order, so the same optimum."""


def _small_flow_optimum(model: AssignmentModel, weights: IntArray, allowed_rows: IntArray | None,
                        stop: StopToken | threading.Event | None) -> IntArray:
    """`flow_optimum` of a small model (`SMALL_FLOW_ROWS`, one part): the network of `_flow_part` for the whole
    model (every node numbered as itself), arc for arc, with the rows' arcs by numpy and the mentors' and
    organisations' (a few dozen) by Python lists."""
    n, m = model.candidates.arrays.n_mentees, model.candidates.arrays.n_mentors
    pinned_rows = model.pinned_rows
    rows = np.asarray(allowed_rows) if allowed_rows is not None else None
    keep = weights > 0 if rows is None else weights[rows] > 0
    pinned_load = [0] * m  # pins take a mentor's first seats
    mentor_org = model.mentor_org.tolist()
    org_left = model.org_caps.tolist()
    if len(pinned_rows):
        for j in model.mentor[pinned_rows].tolist():
            pinned_load[j] += 1
            if mentor_org[j] >= 0:
                org_left[mentor_org[j]] -= 1
        blocked = np.zeros(n, dtype=np.bool_)
        blocked[model.mentee[pinned_rows]] = True
        keep &= ~blocked[model.mentee if rows is None else model.mentee[rows]]
    free = keep.nonzero()[0] if rows is None else rows[keep]
    if len(free) == 0:
        return np.sort(pinned_rows)
    capacity = [max(c - p, 0) for c, p in zip(model.capacity.tolist(), pinned_load, strict=True)]
    n_orgs = len(org_left)
    if n_orgs:
        # An organisation binds only when its remaining cap is below its mentors' capacity; else it changes nothing.
        org_capacity = [0] * n_orgs
        for j, k in enumerate(mentor_org):
            if k >= 0:
                org_capacity[k] += capacity[j]
        mentor_org = [k if k >= 0 and max(org_left[k], 0) < org_capacity[k] else -1 for k in mentor_org]
    source, sink = n + m + n_orgs, n + m + n_orgs + 1
    a, b = model.mentee[free], model.mentor[free]
    active = sorted(set(a.tolist()))
    mentors = sorted(set(b.tolist()))
    orgs = sorted({mentor_org[j] for j in mentors} - {-1})
    # Mentors of a binding organisation drain through that organisation's node, which holds the cap.
    mentor_head = [sink if mentor_org[j] < 0 else n + m + mentor_org[j] for j in mentors]
    if model.seat_cost:  # one arc per free seat, seat k costing seat_cost x (k - 1), the pins' seats first
        mentor_tails, mentor_heads, mentor_costs = [], [], []
        for j, head in zip(mentors, mentor_head, strict=True):
            for seat in range(pinned_load[j], pinned_load[j] + capacity[j]):
                mentor_tails.append(n + j)
                mentor_heads.append(head)
                mentor_costs.append(model.seat_cost * seat)
        mentor_caps = [1] * len(mentor_tails)
    else:
        mentor_tails, mentor_heads = [n + j for j in mentors], mentor_head
        mentor_caps, mentor_costs = [capacity[j] for j in mentors], [0] * len(mentors)
    k, count = len(active), len(free)
    tails = np.concatenate([np.array([source] * k + active, dtype=np.int64), a,
                            np.array(mentor_tails + [n + m + o for o in orgs], dtype=np.int64)])
    heads = np.concatenate([np.array(active + [sink] * k, dtype=np.int64), b + n,
                            np.array(mentor_heads + [sink] * len(orgs), dtype=np.int64)])
    caps = np.ones(len(tails), dtype=np.int64)
    caps[2 * k + count:] = mentor_caps + [max(org_left[o], 0) for o in orgs]
    costs = np.zeros(len(tails), dtype=np.int64)
    np.negative(weights[free], out=costs[2 * k:2 * k + count])
    costs[2 * k + count:2 * k + count + len(mentor_costs)] = mentor_costs
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[source], supplies[sink] = k, -k
    chosen = _flowed(_solve_flow((tails, heads, caps, costs), supplies, 2 * k, count, stop))
    found = np.concatenate([free[chosen], pinned_rows])
    found.sort()  # in place: np.sort's wrapper and copy, for a fresh array
    return found


PARALLEL_MIN_ROWS: int | None = 400_000
"""Pairs from which a flow of several independent parts solves about half of them (by pairs) in a forked child
while this process solves the rest, on a machine with two cores or more: a child costs ~25-50 ms (the fork of a
large process, its exit), 10,000 x 10,000's flow takes seconds. None: never."""


def _share_parts(parts: list[IntArray]) -> tuple[list[IntArray], list[IntArray]]:
    """The parts this process solves, and those a child solves beside it: the largest first, each to the side
    with fewer pairs so far (both sides about equal); none aside below `PARALLEL_MIN_ROWS`, on one core, or
    where no process can be forked."""
    rows = sum(len(p) for p in parts)
    if (PARALLEL_MIN_ROWS is None or rows < PARALLEL_MIN_ROWS or len(parts) < 2 or cores() < 2
            or not forking_works()):
        return parts, []
    here: list[IntArray] = []
    aside: list[IntArray] = []
    load = [0, 0]
    for p in sorted(parts, key=len, reverse=True):
        side = 0 if load[0] <= load[1] else 1
        (here if side == 0 else aside).append(p)
        load[side] += len(p)
    return here, aside


class _Beside:
    """`solve(part)` of each of `parts` (in order) in one forked child, started at once from a thread of its own
    (the thread waits in `poll`, without the interpreter lock): the child shares the arrays copy-on-write, solves
    its parts in-process and sends back the chosen rows. `result()` waits for them. A stop kills the child
    (`solver.stop.run_in_child`); `close()` waits for the thread, so no child outlives the flow. Where no child
    can be forked, `result()` solves the parts here."""

    def __init__(self, parts: list[IntArray], solve: Callable[[IntArray, bool], IntArray],
                 stop: StopToken | threading.Event | None) -> None:
        self.parts, self.solve, self.stop = parts, solve, StopToken.of(stop)
        self.answer: bytes | None = None
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        if parts:
            self.thread = threading.Thread(target=self._run, name="flow-beside", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        def work(send: Callable[[bytes], None], stopping: threading.Event) -> bytes:
            try:
                return b"".join(self.solve(p, True).tobytes() for p in self.parts)
            except FlowCostRange:
                return _COST_RANGE

        try:
            self.answer = run_in_child(work, self.stop)
        except BaseException as error:  # handed to result()
            self.error = error

    def result(self) -> list[IntArray]:
        if self.thread is None:
            return []
        self.thread.join()
        if self.error is not None:
            raise self.error
        if self.answer is None:  # no child could be forked: solved here
            return [self.solve(p, False) for p in self.parts]
        if self.answer == _COST_RANGE:
            raise FlowCostRange("min-cost flow: costs out of range")
        return [np.frombuffer(self.answer, dtype=np.int64).copy()]

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()


def _flowed(rows: IntArray | None) -> IntArray:
    """A flow without lower bounds always routes every unit (each mentee has an arc to the sink)."""
    if rows is None:
        raise RuntimeError("min-cost flow without lower bounds found infeasible")
    return rows


@dataclass(frozen=True)
class QuotaGroups:
    """Gender quotas as a layer of the flow: the mentors of a gender with a quota drain through its group node,
    whose arc to the sink carries [low, high] pairs. Exact where the groupings nest (`quota_groups`)."""

    group: IntArray  # per mentor: the index of its gender's group, -1 = a gender without a quota
    low: IntArray  # per group: the fewest pairs (pins included)
    high: IntArray  # per group: the most pairs (pins included), -1 = no maximum


def quota_groups(model: AssignmentModel) -> QuotaGroups | None:
    """The model's gender quotas as flow groups, or None: no quota that bounds anything, or the groupings are not
    laminar (an organisation whose cap binds has mentors of more than one group, so its node cannot drain into
    one group node). Several quotas on one gender combine: the largest minimum, the smallest maximum."""
    genders = sorted({g for g, low, high in model.quotas if low > 0 or high is not None})
    if not genders:
        return None
    low = np.array([max(lo for g, lo, _ in model.quotas if g == gender) for gender in genders], dtype=np.int64)
    high = np.array([min((hi for g, _, hi in model.quotas if g == gender and hi is not None), default=-1)
                     for gender in genders], dtype=np.int64)
    code = np.full(max([*genders, int(model.mentor_gender.max(initial=0))]) + 1, -1, dtype=np.int64)
    code[genders] = np.arange(len(genders))
    group = code[model.mentor_gender]
    org = model.mentor_org
    if len(model.org_caps):
        seats = np.bincount(org[org >= 0], weights=model.capacity[org >= 0], minlength=len(model.org_caps))
        for k in np.flatnonzero(model.org_caps < seats).tolist():  # a binding cap couples its mentors
            if len(np.unique(group[(org == k) & (model.capacity > 0)])) > 1:
                return None
    return QuotaGroups(group, low, high)


def quota_flow_optimum(model: AssignmentModel, weights: IntArray, groups: QuotaGroups,
                       allowed_rows: IntArray | None = None, stop: StopToken | threading.Event | None = None
                       ) -> IntArray | None:
    """`flow_optimum` that also meets the gender quotas of `groups` (from `quota_groups`), exactly; None when no
    matching on the allowed rows (pins always) meets them with capacities and caps. Pins must fit capacities and
    caps (the caller checks).

    A group's [low, high] arc takes its low pairs as a lower bound (the standard transformation: low units of
    demand at the group node, low fewer at the sink; the flow is infeasible when it cannot route them). A row of
    weight <= 0 may be needed to reach a minimum, so the rows of groups with a minimum are all in the flow; an
    optimum never needs one elsewhere (leaving it out keeps every bound) nor beyond a minimum, where such rows
    are left out afterwards.
    """
    check(stop)
    rows = np.arange(model.n_rows, dtype=np.int64) if allowed_rows is None else np.asarray(allowed_rows)
    n, m = model.candidates.arrays.n_mentees, model.candidates.arrays.n_mentors
    pinned = model.pinned_rows
    pinned_load = np.bincount(model.mentor[pinned], minlength=m)
    capacity = np.maximum(model.capacity - pinned_load, 0)
    org_left = model.org_caps.copy()
    for org in model.mentor_org[model.mentor[pinned]].tolist():
        if org >= 0:
            org_left[org] -= 1
    n_groups = len(groups.low)
    pinned_groups = groups.group[model.mentor[pinned]]
    pinned_count = np.bincount(pinned_groups[pinned_groups >= 0], minlength=n_groups)
    low = np.maximum(groups.low - pinned_count, 0)
    high = np.where(groups.high >= 0, groups.high - pinned_count, n)
    if (high < low).any():
        return None
    row_group = groups.group[model.mentor[rows]]
    keep = (weights[rows] > 0) | ((row_group >= 0) & (low[np.maximum(row_group, 0)] > 0))
    if len(pinned):
        keep &= ~np.isin(model.mentee[rows], model.mentee[pinned])
    free = rows[keep]
    n_orgs = len(org_left)
    org = model.mentor_org
    org_capacity = np.bincount(org[org >= 0], weights=capacity[org >= 0], minlength=n_orgs)
    binding = np.append(np.maximum(org_left, 0) < org_capacity, False)
    mentor_org = np.where(binding[org], org, -1)
    nodes = n + m + n_orgs + n_groups
    chosen = _flow_part(model, weights, free, model.mentee[free], model.mentor[free], np.arange(nodes), nodes, n,
                        m, capacity, mentor_org, org_left, pinned_load, stop, (groups.group, low, high))
    if chosen is None:
        return None
    # Rows of weight <= 0 beyond a group's minimum add nothing (ties with leaving them out): left out.
    surplus = np.bincount(groups.group[model.mentor[chosen]][groups.group[model.mentor[chosen]] >= 0],
                          minlength=n_groups) - low
    drop = np.zeros(len(chosen), dtype=np.bool_)
    for k in np.flatnonzero(weights[chosen] <= 0).tolist():
        g = int(groups.group[model.mentor[chosen[k]]])
        if g < 0 or surplus[g] > 0:
            drop[k] = True
            if g >= 0:
                surplus[g] -= 1
    return np.sort(np.concatenate([chosen[~drop], pinned]))


def _flow_part(model: AssignmentModel, weights: IntArray, rows: IntArray, a: IntArray, b: IntArray,
               local: IntArray, size: int, n: int, m: int, capacity: IntArray, mentor_org: IntArray,
               org_left: IntArray, pinned_load: IntArray, stop: StopToken | threading.Event | None,
               quota: tuple[IntArray, IntArray, IntArray] | None = None, *, in_child: bool = False
               ) -> IntArray | None:
    """The rows chosen by the min-cost flow of one independent part (`local` numbers its nodes 0..size-1).

    With seat costs, a mentor drains through one arc per free seat, seat k costing seat_cost x (k - 1): convex
    costs, so the flow fills a mentor's cheaper seats first and the optimum is exact. With `quota` (per mentor its
    group or -1, per group its low and high pairs, pins not counted; the group nodes follow the organisations'),
    mentors and their organisations' nodes drain through their group's node and its [low, high] arc: returns
    None when the flow cannot meet the lows (only then). `in_child`: this already runs in a child process
    (`_Beside`), so the flow is solved here, never in a child of its own.
    """
    source, sink = size, size + 1
    # np.unique's sort or hash took ~0.1-0.2 s at 1.6 million rows; counting is the same sorted set in milliseconds.
    active = np.flatnonzero(np.bincount(a, minlength=n))
    mentors = np.flatnonzero(np.bincount(b, minlength=m))
    check(stop)
    orgs = np.unique(mentor_org[mentors])
    orgs = orgs[orgs >= 0]
    # Mentors of a binding organisation drain through that organisation's node, which holds the cap.
    their_org = mentor_org[mentors]
    mentor_head = np.full(len(mentors), sink, dtype=np.int64)
    org_head = np.full(len(orgs), sink, dtype=np.int64)
    group_tails, group_heads = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    group_caps = np.zeros(0, dtype=np.int64)
    if quota is not None:  # mentors, and organisations (one group each), drain through their group's node
        mentor_group, low, high = quota
        group_node = local[n + m + len(org_left) + np.arange(len(low))]
        their_group = mentor_group[mentors]
        mentor_head[their_group >= 0] = group_node[their_group[their_group >= 0]]
        if len(orgs):
            org_group = np.full(len(org_left), -1, dtype=np.int64)
            seated = (their_org >= 0) & (capacity[mentors] > 0)  # one group each (`quota_groups`)
            org_group[mentor_org[mentors[seated]]] = their_group[seated]
            org_head[org_group[orgs] >= 0] = group_node[org_group[orgs][org_group[orgs] >= 0]]
        group_tails, group_heads, group_caps = group_node, np.full(len(low), sink, dtype=np.int64), high - low
    mentor_head[their_org >= 0] = local[n + m + their_org[their_org >= 0]]
    if model.seat_cost:
        seats = capacity[mentors]
        seat_of = np.repeat(np.arange(len(mentors)), seats)
        number = (pinned_load[mentors][seat_of] + 1
                  + np.arange(len(seat_of), dtype=np.int64) - np.repeat(np.cumsum(seats) - seats, seats))
        mentor_tails, mentor_heads = local[n + mentors][seat_of], mentor_head[seat_of]
        mentor_caps, mentor_costs = np.ones(len(seat_of), dtype=np.int64), model.seat_cost * (number - 1)
    else:
        mentor_tails, mentor_heads = local[n + mentors], mentor_head
        mentor_caps, mentor_costs = capacity[mentors], np.zeros(len(mentors), dtype=np.int64)
    tails = [np.full(len(active), source), local[active], local[a], mentor_tails, local[n + m + orgs], group_tails]
    heads = [local[active], np.full(len(active), sink), local[n + b], mentor_heads, org_head, group_heads]
    caps = [np.ones(len(active), dtype=np.int64), np.ones(len(active), dtype=np.int64),
            np.ones(len(rows), dtype=np.int64), mentor_caps, np.maximum(org_left[orgs], 0), group_caps]
    costs = [np.zeros(len(active), dtype=np.int64), np.zeros(len(active), dtype=np.int64), -weights[rows],
             mentor_costs, np.zeros(len(orgs), dtype=np.int64), np.zeros(len(group_caps), dtype=np.int64)]
    supplies = np.zeros(size + 2, dtype=np.int64)
    supplies[source], supplies[sink] = len(active), -len(active)
    if quota is not None:  # each low as a lower bound: its units must reach the group node
        supplies[group_tails] -= quota[1]
        supplies[sink] += int(quota[1].sum())
    check(stop)
    arcs = (np.concatenate(tails), np.concatenate(heads), np.concatenate(caps), np.concatenate(costs))
    first, count = 2 * len(active), len(rows)
    chosen = _solve_here(arcs, supplies, first, count) if in_child else _solve_flow(arcs, supplies, first, count, stop)
    return None if chosen is None else rows[chosen]


_INFEASIBLE = b"-"  # a child's answer when the supplies cannot be met (never an array's bytes: not 8 long)
_COST_RANGE = b"!"  # a child's answer when the costs overflowed the solver's 64-bit prices


class FlowCostRange(CohortInvalid):
    """OR-Tools' min-cost flow answered BAD_COST_RANGE: its cost scaling multiplies the costs by the nodes + 1 and
    its node prices fell below what int64 holds (they fall further than the costs, how far depends on the data).
    No answer comes from it: `solver.solve` falls back to smaller weights or refuses the cohort with the values to
    lower (`solver.budget`); anywhere else it is a TOO_LARGE problem as it stands, never an internal error."""

    def __init__(self, message: str = "min-cost flow: costs out of range") -> None:
        super().__init__([Problem(ProblemCode.TOO_LARGE, "", (
            "the objective's numbers are too large to solve exactly in 64-bit integers: the min-cost flow's prices "
            "overflowed. Lower the mentees' priorities, the weights, extra_seat_cost or the mentors' capacities, "
            "or split the cohort"))])
        self.args = (message,)


def _solve_flow(arcs: Arcs, supplies: IntArray, first: int, count: int,
                stop: StopToken | threading.Event | None) -> IntArray | None:
    """The positions (0..count-1) of the arcs first..first+count-1 that carry flow in a min-cost flow of `arcs`
    (None: the supplies cannot be met): in a child process the stop kills from `CHILD_MIN_ARCS` arcs
    (`CHILD_MIN_ARCS_NO_STOP` without a stop), else here."""
    least = CHILD_MIN_ARCS if stop is not None else CHILD_MIN_ARCS_NO_STOP
    if least is not None and len(arcs[0]) >= least:
        def work(send: Callable[[bytes], None], stopping: threading.Event) -> bytes:
            try:
                found = _solve_here(arcs, supplies, first, count)
            except FlowCostRange:
                return _COST_RANGE
            return _INFEASIBLE if found is None else found.tobytes()

        answer = run_in_child(work, stop)
        if answer == _COST_RANGE:
            raise FlowCostRange("min-cost flow: costs out of range")
        if answer is not None:
            return None if answer == _INFEASIBLE else np.frombuffer(answer, dtype=np.int64).copy()
    return _solve_here(arcs, supplies, first, count)


def _solve_here(arcs: Arcs, supplies: IntArray, first: int, count: int) -> IntArray | None:
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(*arcs)
    solver.set_nodes_supplies(np.arange(len(supplies)), supplies)
    status = solver.solve()
    if status == solver.INFEASIBLE:
        return None
    if status == solver.BAD_COST_RANGE:
        raise FlowCostRange("min-cost flow: costs out of range")
    if status != solver.OPTIMAL:
        raise RuntimeError(f"min-cost flow ended with status {status}")
    return (solver.flows(np.arange(first, first + count)) > 0).nonzero()[0].astype(np.int64, copy=False)

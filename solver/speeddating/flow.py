"""Which pairs meet: the speed-dating objective solved exactly as a lexicographic min-cost circulation.

Rounds can be left out: a set of meetings fits into R rounds of at most T tables exactly when nobody has more
than R meetings and there are at most R x T of them (König's edge-colouring theorem for bipartite graphs, and
de Werra's equitable colouring; `rounds.py` does it). Every criterion then depends on who meets whom only, and
each is a sum of concave functions of counts on a bipartite network:

    S -> mentee e          min(R, her partners) units: the first L(e) worth a break point each (stage 1)
    mentee e -> e's top    one unit arc per top mentor she can meet: the i-th worth R + 1 - i (coverage)
    e or e's top -> mentor one arc per allowed pair: best pair, alternative pair, a meeting, its score
    mentor j -> T          one unit arc per meeting she can have: the i-th worth R + 1 - i (share), the first
                           L(j) a break point each
    T -> S                 at most R x T meetings (the tables)

The stages are solved one after the other, each as a min-cost circulation (OR-Tools, exact integers): after a
stage, the arcs whose reduced cost (from shortest-path potentials on the residual graph) is not zero are fixed
at their bound, which leaves exactly the flows that are optimal for that stage (complementary slackness holds
between every optimal flow and any optimal dual). Adjacent stages fold into one cost where the numbers allow.
Concave rewards come out right because every stage rewards a person's earlier units at least as much as her
later ones, so some optimal flow uses them in order in every stage at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.graph.python import min_cost_flow

from solver.candidates import IntArray
from solver.model import SolveStatus
from solver.speeddating.instance import STAGES, PlanInstance, Selection
from solver.stop import StopToken

COST_LIMIT = 2**50
"""Folded costs stay below this per arc, times the number of nodes (what OR-Tools' cost scaling needs)."""


@dataclass
class _Network:
    """Arcs (tail, head, capacity) with one cost per stage (rewards as negative costs); node 0 = S, 1 = T."""

    nodes: int
    tail: list[IntArray]
    head: list[IntArray]
    capacity: list[IntArray]
    costs: dict[str, list[IntArray]]

    def add(self, tail: IntArray, head: IntArray, capacity: IntArray | int, **rewards: IntArray | int) -> IntArray:
        """Arcs from `tail` to `head`; each stage named in `rewards` rewards a unit of flow that much."""
        start = sum(len(t) for t in self.tail)
        count = len(tail)
        self.tail.append(np.asarray(tail, dtype=np.int64))
        self.head.append(np.asarray(head, dtype=np.int64))
        self.capacity.append(np.broadcast_to(np.asarray(capacity, dtype=np.int64), (count,)).copy())
        for stage in STAGES:
            reward = rewards.get(stage)
            self.costs[stage].append(np.zeros(count, np.int64) if reward is None
                                     else -np.broadcast_to(np.asarray(reward, dtype=np.int64), (count,)))
        return np.arange(start, start + count, dtype=np.int64)


def _levels(owner: IntArray, counts: IntArray) -> tuple[IntArray, IntArray]:
    """For each owner k, `counts[k]` unit levels 1, 2, ...: (owner per level, level number)."""
    levels = np.repeat(owner, counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return levels, np.arange(len(levels), dtype=np.int64) - starts + 1


def _network(inst: PlanInstance) -> tuple[_Network, IntArray]:
    """The network of the module docstring, and the arc of each pair."""
    n, m, rounds = inst.n_mentees, inst.n_mentors, inst.rounds
    net = _Network(2 + 2 * n + m, [], [], [], {stage: [] for stage in STAGES})
    mentee_node, top_node, mentor_node = 2 + np.arange(n), 2 + n + np.arange(n), 2 + 2 * n + np.arange(m)
    units = np.minimum(np.bincount(inst.mentee, minlength=n), rounds)
    target = np.minimum(inst.mentee_break_target, units)
    counted = np.flatnonzero(target)
    net.add(np.zeros(len(counted), np.int64), mentee_node[counted], target[counted], breaks=1)
    rest = np.flatnonzero(units - target)
    net.add(np.zeros(len(rest), np.int64), mentee_node[rest], (units - target)[rest])
    top_count = np.minimum(np.bincount(inst.mentee[inst.top], minlength=n), rounds)
    owner, level = _levels(np.arange(n, dtype=np.int64), top_count)
    net.add(mentee_node[owner], top_node[owner], 1, mentee_coverage=rounds + 1 - level)
    pair_arcs = net.add(np.where(inst.top, top_node[inst.mentee], mentee_node[inst.mentee]), mentor_node[inst.mentor],
                        1, best_pairs=inst.best.astype(np.int64),
                        alternative_pairs=inst.alternative.astype(np.int64), meetings=1, score=inst.score)
    mentor_units = np.minimum(np.bincount(inst.mentor, minlength=m), rounds)
    owner, level = _levels(np.arange(m, dtype=np.int64), mentor_units)
    net.add(mentor_node[owner], np.ones(len(owner), np.int64), 1, mentor_share=rounds + 1 - level,
            breaks=(level <= inst.mentor_break_target[owner]).astype(np.int64))
    most = rounds * inst.tables if inst.tables is not None else int(units.sum())
    net.add(np.array([1]), np.array([0]), most)
    return net, pair_arcs


def _fold(stages: list[IntArray], capacity: IntArray, limit: int) -> list[IntArray]:
    """Adjacent stage costs as one (earlier x span of later + later), from the last back, below `limit`."""
    folded = [stages[-1]]
    for cost in reversed(stages[:-1]):
        span = int((np.abs(folded[0]) * capacity).sum()) + 1  # more than the later stages can differ by
        if (int((np.abs(cost) * capacity).sum()) + 1) * span < limit:
            folded[0] = cost * span + folded[0]
        else:
            folded.insert(0, cost)
    return folded


def _potentials(nodes: int, tail: IntArray, head: IntArray, capacity: IntArray, flow: IntArray, cost: IntArray
                ) -> IntArray:
    """Shortest-path distances in the residual graph from a root joined to every node (Bellman-Ford): reduced costs
    cost + d[tail] - d[head] are >= 0 on arcs with room and <= 0 on arcs with flow."""
    room, used = flow < capacity, flow > 0
    rt = np.concatenate([tail[room], head[used]])
    rh = np.concatenate([head[room], tail[used]])
    rc = np.concatenate([cost[room], -cost[used]])
    distance = np.zeros(nodes, dtype=np.int64)
    for _ in range(nodes + 1):
        relaxed = distance.copy()
        np.minimum.at(relaxed, rh, distance[rt] + rc)
        if np.array_equal(relaxed, distance):
            return distance
        distance = relaxed
    raise RuntimeError("the residual graph has a negative cycle: the flow was not optimal")


def select_meetings(instance: PlanInstance, stop: StopToken) -> Selection:
    """The pairs that meet under the README's lexicographic objective, exactly; between stages `stop` is asked,
    and a stop keeps the flow of the stages done (valid, status FEASIBLE)."""
    started = time.monotonic()
    net, pair_arcs = _network(instance)
    tail, head = np.concatenate(net.tail), np.concatenate(net.head)
    capacity = np.concatenate(net.capacity)
    stages = [c for c in (np.concatenate(net.costs[s]) for s in STAGES) if c.any()]
    stages = _fold(stages, capacity, COST_LIMIT // (net.nodes + 1)) if stages else []
    fixed = np.zeros(len(tail), dtype=np.int64)  # flow of the arcs fixed so far
    free = np.ones(len(tail), dtype=np.bool_)
    flow = np.zeros(len(tail), dtype=np.int64)
    status, proven = SolveStatus.OPTIMAL, 0
    for cost in stages:
        if stop.is_set():
            status = SolveStatus.FEASIBLE
            break
        arcs = np.flatnonzero(free)
        supplies = np.zeros(net.nodes, dtype=np.int64)
        np.add.at(supplies, tail, -fixed)  # an arc fixed at f takes f out of its tail and into its head
        np.add.at(supplies, head, fixed)
        solver = min_cost_flow.SimpleMinCostFlow()
        solver.add_arcs_with_capacity_and_unit_cost(tail[arcs], head[arcs], capacity[arcs], cost[arcs])
        solver.set_nodes_supplies(np.arange(net.nodes), supplies)
        if solver.solve() != solver.OPTIMAL:
            raise RuntimeError("the speed-dating flow has no optimum")  # not expected: the last flow is feasible
        flow = fixed.copy()
        flow[arcs] = solver.flows(np.arange(len(arcs)))
        proven += 1
        distance = _potentials(net.nodes, tail[arcs], head[arcs], capacity[arcs], flow[arcs], cost[arcs])
        reduced = cost[arcs] + distance[tail[arcs]] - distance[head[arcs]]
        # Every optimal flow agrees with these potentials: none on arcs dearer than 0, full arcs cheaper than 0.
        settle = arcs[reduced != 0]
        fixed[settle] = np.where(reduced[reduced != 0] < 0, capacity[settle], 0)
        free[settle] = False
    chosen = flow[pair_arcs] > 0
    return Selection(chosen, status, proven, len(stages), time.monotonic() - started)

"""The exact cost of forcing each pair into an optimal matching, for the shortlists (`solver.shortlist`).

The optimum is a min-cost flow (capacities, pins, caps and the convex seat costs are its network). The best flow
that uses one more pair arc differs from the optimum by one cycle through that arc in the residual network, and
the cheapest such cycle is the arc plus a shortest path back: with potentials from one Bellman-Ford pass
(`solver.reopt.residual_potentials`) every arc's reduced cost is non-negative, so one Dijkstra per mentor gives
the cost of every pair of that mentor, and the path gives the changes. Where gender quotas exist and the cycle's
matching breaks one, that pair's cost comes from a full re-solve with the pair pinned (`solver.solve.solve`).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from solver.candidates import IntArray
from solver.errors import AnswerCheckFailed
from solver.flow import flow_optimum
from solver.model import AssignmentModel, SolveStatus
from solver.reopt import residual_potentials
from solver.scores import CandidatePairs
from solver.solve import SolveOptions, SolveResult, primary_weights, solve
from solver.stop import Stopped, StopToken


@dataclass
class Forced:
    """The best matching with one more pair: its cost, and the rows it removes from and adds to the base."""

    cost: int
    removed: tuple[int, ...]
    added: tuple[int, ...]


class Residual:
    """The residual network of a flow-optimal matching `base` of the model, with non-negative reduced costs.

    Nodes: mentees 0..n-1, mentors n..n+m-1, capped organisations, then the sink. Pinned mentees and their rows
    are left out (a pin never moves); pins take their mentors' first seats and their organisations' places.
    Arc codes: row + 1 for a pair the cycle adds, -(row + 1) for one it removes, 0 for seats, caps and the
    unmatched bypass.
    """

    def __init__(self, model: AssignmentModel, base: IntArray, stop: StopToken) -> None:
        arrays = model.candidates.arrays
        n, m = arrays.n_mentees, arrays.n_mentors
        k = len(model.org_caps)
        self.n, self.m = n, m
        sink = n + m + k
        self.size = sink + 1
        weights = primary_weights(model)
        pinned = model.pinned_rows
        pinned_mentee = np.zeros(n, dtype=np.bool_)
        pinned_mentee[model.mentee[pinned]] = True
        self.free_rows = np.flatnonzero(~pinned_mentee[model.mentee]).astype(np.int64)
        in_base = np.zeros(model.n_rows, dtype=np.bool_)
        in_base[base] = True
        tails: list[IntArray] = []
        heads: list[IntArray] = []
        costs: list[IntArray] = []
        codes: list[IntArray] = []

        def arcs(tail: IntArray, head: IntArray, cost: IntArray, code: IntArray) -> None:
            tails.append(np.asarray(tail, dtype=np.int64))
            heads.append(np.asarray(head, dtype=np.int64))
            costs.append(np.asarray(cost, dtype=np.int64))
            codes.append(np.asarray(code, dtype=np.int64))

        rows = self.free_rows
        used, unused = rows[in_base[rows]], rows[~in_base[rows]]
        arcs(model.mentee[unused], n + model.mentor[unused], -weights[unused], unused + 1)
        arcs(n + model.mentor[used], model.mentee[used], weights[used], -(used + 1))
        active = np.unique(model.mentee[rows])
        matched = np.zeros(n, dtype=np.bool_)
        matched[model.mentee[used]] = True
        zeros = np.zeros(len(active), dtype=np.int64)
        arcs(np.where(matched[active], active, sink), np.where(matched[active], sink, active), zeros, zeros)
        pinned_load = np.bincount(model.mentor[pinned], minlength=m)
        seats = np.maximum(model.capacity - pinned_load, 0)
        load = np.bincount(model.mentor[used], minlength=m)
        org = model.mentor_org
        mentor_head = np.where(org >= 0, n + m + org, sink)
        mentors = np.arange(m, dtype=np.int64)
        more = load < seats  # the next seat: number pinned + load + 1, costing seat_cost x (pinned + load)
        arcs(n + mentors[more], mentor_head[more], model.seat_cost * (pinned_load + load)[more], mentors[more] * 0)
        fewer = load > 0  # give back the last seat taken
        arcs(mentor_head[fewer], n + mentors[fewer], -model.seat_cost * (pinned_load + load - 1)[fewer],
             mentors[fewer] * 0)
        org_left = model.org_caps.copy()
        for o in model.mentor_org[model.mentor[pinned]].tolist():
            if o >= 0:
                org_left[o] -= 1
        org_used = np.bincount(org[model.mentor[used]][org[model.mentor[used]] >= 0], minlength=k)
        orgs = np.arange(k, dtype=np.int64)
        room = org_used < org_left
        arcs(n + m + orgs[room], np.full(int(room.sum()), sink), np.zeros(int(room.sum()), dtype=np.int64),
             np.zeros(int(room.sum()), dtype=np.int64))
        back = org_used > 0
        arcs(np.full(int(back.sum()), sink), n + m + orgs[back], np.zeros(int(back.sum()), dtype=np.int64),
             np.zeros(int(back.sum()), dtype=np.int64))
        tail, head = np.concatenate(tails), np.concatenate(heads)
        cost, code = np.concatenate(costs), np.concatenate(codes)
        # Shortest distances from a virtual source joined to every node at 0: every arc here is residual (one unit).
        potential = residual_potentials(self.size, tail, head, np.ones(len(tail), dtype=np.int64), cost,
                                        np.zeros(len(tail), dtype=np.int64), stop)
        if potential is None:
            raise AnswerCheckFailed(["the base matching of the shortlist is not optimal (a negative cycle)"])
        reduced = cost + potential[tail] - potential[head]
        if len(reduced) and int(reduced.min()) < 0:
            raise AnswerCheckFailed(["the base matching of the shortlist is not optimal (a negative reduced cost)"])
        self.potential = potential.tolist()
        order = np.lexsort((code, head, tail))
        self.adjacency: list[list[tuple[int, int, int]]] = [[] for _ in range(self.size)]
        for t, h, c, d in zip(tail[order].tolist(), head[order].tolist(), reduced[order].tolist(),
                              code[order].tolist(), strict=True):
            self.adjacency[t].append((h, c, d))
        self.weights = weights

    def costs_from_mentor(self, j: int, targets: dict[int, int]) -> dict[int, Forced]:
        """For each target mentee -> row of her pair with mentor j (not in the base): the cheapest cycle through
        that pair, i.e. its cost of forcing and the rows it removes and adds."""
        source = self.n + j
        size = self.size
        infinity = 1 << 62
        dist = [infinity] * size
        pred = [-1] * size
        pred_code = [0] * size
        done = [False] * size
        dist[source] = 0
        heap = [source]  # entries are distance x size + node: one int compares faster than a tuple
        left = set(targets)
        adjacency = self.adjacency
        pop, push = heapq.heappop, heapq.heappush
        while heap and left:
            d, u = divmod(pop(heap), size)
            if done[u]:
                continue
            done[u] = True
            left.discard(u)
            for v, c, code in adjacency[u]:
                nd = d + c
                if nd < dist[v]:
                    dist[v] = nd
                    pred[v] = u
                    pred_code[v] = code
                    push(heap, nd * size + v)
        out: dict[int, Forced] = {}
        potential = self.potential
        for i, row in targets.items():
            if not done[i]:
                continue  # no cycle: forcing the pair leaves no valid matching
            removed, added = [], [row]
            v = i
            while v != source:
                u, code = pred[v], pred_code[v]
                if code > 0:
                    added.append(code - 1)
                elif code < 0:
                    removed.append(-code - 1)
                v = u
            arc = -int(self.weights[row]) + potential[i] - potential[source]
            out[i] = Forced(arc + dist[i], tuple(sorted(removed)), tuple(sorted(added)))
        return out


@dataclass
class ForcingCosts:
    forced: dict[int, Forced]  # row -> its forcing, in terms of the optimum
    complete: bool
    resolves: int
    notes: list[str]


def _with_pin(candidates: CandidatePairs, mentee_id: str, mentor_id: str) -> CandidatePairs:
    rules = candidates.cohort.rules
    pins = tuple(sorted((*rules.pins, (mentee_id, mentor_id))))
    return replace(candidates, cohort=replace(candidates.cohort, rules=replace(rules, pins=pins)))


def _quota_counts(model: AssignmentModel, rows: IntArray | list[int]) -> list[int]:
    genders = model.mentor_gender[model.mentor[np.asarray(rows, dtype=np.int64)]]
    return [int((genders == g).sum()) for g, _, _ in model.quotas]


def _meets_quotas(model: AssignmentModel, counts: list[int]) -> bool:
    return all(low <= c and (high is None or c <= high) for c, (_, low, high) in zip(counts, model.quotas, strict=True))


def forcing_costs(result: SolveResult, rows_wanted: IntArray, stop: StopToken, time_limit_s: float, seed: int
                  ) -> ForcingCosts:
    """The exact cost of forcing each wanted row into the optimum (rows absent from `forced`: no valid matching
    holds the pair, or the time ran out before it was computed)."""
    model, best = result.model, result.best
    assert best is not None
    weights = primary_weights(model)
    optimum_value = best.objective.value
    relaxed = flow_optimum(model, weights, stop=stop)
    relaxed_value = model.weight(weights, relaxed)
    base = best.rows if model.weight(weights, best.rows) == relaxed_value else relaxed
    network = Residual(model, base, stop)
    shift = optimum_value - relaxed_value  # <= 0: what the quotas take from the flow optimum
    base_counts = _quota_counts(model, base)
    # Per row, per quota: +1 when the pair's mentor has the quota's gender (a cycle's change of the counts).
    row_gender = model.mentor_gender[model.mentor].tolist()
    genders = [g for g, _, _ in model.quotas]
    by_mentor: dict[int, dict[int, int]] = defaultdict(dict)
    for row in rows_wanted.tolist():
        by_mentor[int(model.mentor[row])][int(model.mentee[row])] = row
    forced: dict[int, Forced] = {}
    to_resolve: list[tuple[int, int]] = []  # (lower bound on the cost, row)
    complete = True
    base_set, best_set = set(base.tolist()), set(best.rows.tolist())
    same_base = base is best.rows
    for j in sorted(by_mentor):
        if stop.is_set():
            complete = False
            break
        for i, found in network.costs_from_mentor(j, by_mentor[j]).items():
            row = by_mentor[j][i]
            found.cost += shift
            if genders:
                counts = [c + sum(row_gender[r] == g for r in found.added) - sum(row_gender[r] == g for r in found.removed)
                          for c, g in zip(base_counts, genders, strict=True)]
                if not _meets_quotas(model, counts):
                    to_resolve.append((found.cost, row))
                    continue
            if same_base:  # removed rows are the optimum's, added ones are not: the diff as it is
                forced[row] = found
            else:
                after = (base_set - set(found.removed)) | set(found.added)
                forced[row] = Forced(found.cost, tuple(sorted(best_set - after)), tuple(sorted(after - best_set)))
    resolves = 0
    notes: list[str] = []
    cohort = model.candidates.cohort
    for _, row in sorted(to_resolve):
        if not complete or stop.remaining() <= 0.05:
            complete = False
            break
        a, b = cohort.mentees[int(model.mentee[row])].id, cohort.mentors[int(model.mentor[row])].id
        try:
            after_result = solve(_with_pin(model.candidates, a, b), SolveOptions(
                alternatives=1, time_limit_s=min(time_limit_s, stop.remaining()), seed=seed, stop=stop))
        except Stopped:
            complete = False
            break
        resolves += 1
        if after_result.status is SolveStatus.INFEASIBLE:
            continue
        if after_result.best is None or after_result.status is not SolveStatus.OPTIMAL:
            complete = False
            continue
        rows_after = set(after_result.best.rows.tolist())
        forced[row] = Forced(optimum_value - after_result.best.objective.value, tuple(sorted(best_set - rows_after)),
                              tuple(sorted(rows_after - best_set)))
    if not complete:
        notes.append("the time limit (or a cancellation) cut the costs short: the lists hold only proposals whose "
                     "cost was computed, and may be shorter than they could be")
    return ForcingCosts(forced, complete, resolves, notes)

"""The candidate-graph budget: the pairs a cohort makes counted before any is built, refused above a limit.

The participant cap does not bound the pairs: 20,000 people in one field and one town make 10^8 of them,
gigabytes before the first rule is applied. Building the candidates joins people on their field group and
a grid of cells as wide as the distance limit (`solver.candidates.pair_join`); counting that join costs a
sort and a binary search over the people, so the count comes first, and a cohort whose join would yield
more than `MAX_CANDIDATE_PAIRS` is refused with a problem that says which rule leaves it so dense.

The objective's numbers are bounded too (`check_magnitudes`): a matched mentee weighs more than any total score
can vary by, times her priority, and the solvers compute in 64-bit integers. Every value within its documented
range can still make a cohort whose weights overflow them; it is refused before solving, with the values to lower.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from solver.candidates import CROSS_PRODUCT_LIMIT, CohortArrays, IntArray, PairJoin, pair_join
from solver.errors import CohortInvalid, Problem, ProblemCode


class ModelSizes(Protocol):
    """What the magnitude checks read of a `solver.model.AssignmentModel` (this module comes before it: the scores
    import the pair budget, the model the scores)."""

    @property
    def candidates(self) -> _Candidates: ...
    @property
    def mentee(self) -> IntArray: ...
    @property
    def priority(self) -> IntArray: ...
    @property
    def capacity(self) -> IntArray: ...
    @property
    def org_caps(self) -> IntArray: ...
    @property
    def big(self) -> int: ...
    @property
    def seat_cost(self) -> int: ...
    @property
    def max_seat_cost(self) -> int: ...


class _Candidates(Protocol):
    @property
    def arrays(self) -> CohortArrays: ...

MAX_CANDIDATE_PAIRS = 5_000_000
"""Pairs building the candidates may examine per cohort (the join's pairs, before the rules). At the limit the
candidate table peaks at about 1.3 GB and a solve with CP-SAT alternatives at about 4 GB (measured: a national
pool of 10,000 x 10,000 at field_depth 2 examines 2.85 million pairs, 2.25 million of them allowed)."""


@dataclass(frozen=True)
class PairEstimate:
    """What building the candidates would examine, and where the pairs crowd most."""

    mentees: int  # eligible mentees
    mentors: int  # eligible mentors
    pairs: int  # pairs to examine: an upper bound of the candidate pairs
    join: PairJoin | None  # None: small enough to examine every eligible pair
    densest_mentees: int = 0  # the join key with the most pairs: its mentees, mentors and field group
    densest_mentors: int = 0
    densest_group: int | None = None


def estimate_pairs(arrays: CohortArrays) -> PairEstimate:
    """Count the pairs `solver.candidates.allowed_pair_facts` would examine, without building one."""
    mentees = np.flatnonzero(arrays.mentee_eligible).astype(np.int64)
    mentors = np.flatnonzero(arrays.mentor_eligible).astype(np.int64)
    product = len(mentees) * len(mentors)
    if product <= CROSS_PRODUCT_LIMIT:
        return PairEstimate(len(mentees), len(mentors), product, None, len(mentees), len(mentors))
    join = pair_join(arrays, mentees, mentors)
    runs = join.hi - join.lo
    busy = np.flatnonzero(runs > 0)
    if len(busy) == 0:
        return PairEstimate(len(mentees), len(mentors), 0, join)
    # Queries that share a key share their run of mentors (the same `lo`): the key with the most pairs.
    _, inverse = np.unique(join.lo[busy], return_inverse=True)
    per_key = np.bincount(inverse, weights=runs[busy])
    densest = int(np.argmax(per_key))
    queries = busy[inverse == densest]
    group = int(join.entry_group[queries[0] // join.width]) if join.divisor is not None else None
    return PairEstimate(len(mentees), len(mentors), join.pairs, join, len(np.unique(join.mentee[queries])),
                        int(runs[queries[0]]), group)


def too_dense(arrays: CohortArrays, estimate: PairEstimate, limit: int = MAX_CANDIDATE_PAIRS) -> Problem | None:
    """A TOO_LARGE problem naming the rule that leaves the cohort so dense, when it makes more than `limit` pairs."""
    if estimate.pairs <= limit or estimate.join is None:
        return None
    join = estimate.join
    exponent = len(str(estimate.pairs)) - 1
    leading = round(estimate.pairs / 10**exponent)
    pairs = f"~{'' if leading == 1 else f'{leading}x'}10^{exponent} pairs to examine ({estimate.pairs:,})"
    tail = f"; the limit is {limit:,} per cohort"
    no_distance = ("a travel-time table is given, so distance does not narrow the pairs before the table is read"
                   if arrays.uses_travel_times else "no distance limit")
    if join.divisor is None and join.cell_km is None:
        return Problem(ProblemCode.TOO_LARGE, "rules", (
            f"field_depth 0 and {no_distance}: every one of {estimate.mentees:,} mentees may pair with every one of "
            f"{estimate.mentors:,} mentors, {pairs}{tail}. Set a distance limit (max_distance_km) or field_depth "
            f"(1-4), or split the cohort"))
    where = f"within about {join.cell_km:g} km of one another" if join.cell_km is not None else ""
    crowd = f"{estimate.densest_mentees:,} mentees and {estimate.densest_mentors:,} mentors"
    if join.divisor is None:
        return Problem(ProblemCode.TOO_LARGE, "rules.field_depth", (
            f"field_depth 0: only the distance limit narrows the pairs, and {crowd} live {where}: {pairs}"
            f"{tail}. Set field_depth (1-4) or a shorter max_distance_km, or split the cohort"))
    digits = max(arrays.field_depth, 0)
    group = f"ISCO group {estimate.densest_group:0{digits}d}" if estimate.densest_group is not None else "one field"
    if join.cell_km is None:
        return Problem(ProblemCode.TOO_LARGE, "rules.max_distance_km", (
            f"{no_distance}: only the field (field_depth {digits}) narrows the pairs, and {group} alone has {crowd}: "
            f"{pairs}{tail}. Set a distance limit (max_distance_km) or a deeper field_depth, or split the "
            f"cohort"))
    return Problem(ProblemCode.TOO_LARGE, "rules", (
        f"{group} has {crowd} {where} (field_depth {digits}, max_distance_km {join.cell_km:g}): {pairs}"
        f"{tail}. Set a shorter max_distance_km or a deeper field_depth, or split the cohort"))


def check_pair_budget(arrays: CohortArrays, limit: int = MAX_CANDIDATE_PAIRS) -> PairEstimate:
    """The estimate, or `CohortInvalid` (one TOO_LARGE problem) when the cohort makes more than `limit` pairs."""
    estimate = estimate_pairs(arrays)
    problem = too_dense(arrays, estimate, limit)
    if problem is not None:
        raise CohortInvalid([problem])
    return estimate


# The objective's magnitude ------------------------------------------------------------------------------------

INT64_MAX = 2**63 - 1
CP_SAT_OBJECTIVE_LIMIT = 2**62 - 1
"""CP-SAT refuses an objective whose coefficients' magnitudes sum beyond this ("Possible integer overflow in
objective", MODEL_INVALID; measured on OR-Tools 9.15 with 1, 2 and 1,000 pair variables)."""
FLOW_EXTRA_NODES = 6  # source and sink, and at most four quota groups (genders '', f, m, x), beside the people


def flow_cost_limit(nodes: int) -> int:
    """The largest unit cost (in magnitude) OR-Tools' min-cost flow accepts on a network of `nodes` nodes: its cost
    scaling multiplies the costs by about twice the nodes, and above this it answers BAD_COST_RANGE (measured on
    OR-Tools 9.15: exactly max |cost| x (2 nodes + 6) <= 2^63 - 1, for 2 to 123,457 nodes)."""
    return INT64_MAX // (2 * nodes + 6)


class _Magnitudes:
    """What one matched mentee weighs in the objective (`solver.model`: `big` x her priority + a pair's score)
    and the parts of `big`, for a message that says which values to lower."""

    def __init__(self, model: ModelSizes, weights: IntArray) -> None:
        self.model = model
        # A pair's arc costs minus its weight; a mentor's k-th seat's arc seat_cost x (k - 1).
        self.top = max(int(np.abs(weights).max(initial=0)),
                       model.seat_cost * max(0, int(model.capacity.max(initial=0)) - 1))
        self.priority = int(model.priority.max(initial=0))
        self.seats = int(model.max_seat_cost)

    def problem(self, what: str, value: int | None = None, limit: int | None = None) -> Problem:
        model = self.model
        people = f"{model.candidates.arrays.n_mentees:,} mentees and {model.candidates.arrays.n_mentors:,} mentors"
        if value is not None and limit is not None:
            what = f"{what} comes to {value:,}, above the limit of {limit:,} for {people}"
        else:
            what = f"{what}, for {people}"
        scores = model.big - 1 - self.seats
        parts = [f"1 + the mentees' best pair scores ({scores:,})"]
        if self.seats:
            parts.append(f"extra_seat_cost x every mentor's seats beyond the first ({self.seats:,})")
        lower = [f"the mentees' priorities (the highest is {self.priority:,})", "the weights"]
        if self.seats:
            lower += ["extra_seat_cost", "the mentors' capacities (a seat counts up to his allowed pairs)"]
        return Problem(ProblemCode.TOO_LARGE, "", (
            f"the objective's numbers are too large to solve exactly in 64-bit integers: {what}. A matched mentee "
            f"weighs her priority x ({' + '.join(parts)}"
            f" = {model.big:,}). Lower {', '.join(lower[:-1])} or {lower[-1]}, or split the cohort"))


def magnitude_problem(model: ModelSizes, weights: IntArray, what: str) -> Problem:
    """The TOO_LARGE problem of a cohort whose objective's numbers (`weights`: every pair's primary weight) overflow
    a solver in a way `what` says, with the values to lower."""
    return _Magnitudes(model, weights).problem(what)


def check_magnitudes(model: ModelSizes, primary: IntArray, weights: IntArray) -> None:
    """`CohortInvalid` (one TOO_LARGE problem that says which values to lower), known before any solver runs: when
    a matching's weight (`primary`: every pair's primary weight) may not fit int64, in which the engine sums them,
    or when the flows' weights, `weights` (the primary weights with `solver.model.flow_big`, the smallest the flows
    fall back to), cost more than OR-Tools' min-cost flow takes on this cohort's network (`flow_cost_limit`)."""
    arrays = model.candidates.arrays
    best = np.zeros(arrays.n_mentees, dtype=np.float64)
    np.maximum.at(best, model.mentee, primary.astype(np.float64))
    if float(best.sum()) + float(model.max_seat_cost) >= INT64_MAX / 2:  # a float sum: exact enough far below
        total = sum(best.astype(np.int64).tolist()) + int(model.max_seat_cost)
        if total > INT64_MAX:
            raise CohortInvalid([_Magnitudes(model, primary).problem(
                "a matching's weight (every mentee's heaviest pair, summed, with the seat costs)", total, INT64_MAX)])
    nodes = arrays.n_mentees + arrays.n_mentors + len(model.org_caps) + FLOW_EXTRA_NODES
    found = _Magnitudes(model, weights)
    limit = flow_cost_limit(nodes)
    if found.top > limit:
        raise CohortInvalid([found.problem("the heaviest pair's weight (a min-cost flow's cost)", found.top, limit)])


def check_cp_sat_objective(model: ModelSizes, stages: Sequence[IntArray | None]) -> None:
    """`CohortInvalid` (TOO_LARGE, the values to lower) when CP-SAT cannot take `stages` (per pair weights; None:
    the worst pair's score) as objectives: their magnitudes and the seat costs' sum beyond
    `CP_SAT_OBJECTIVE_LIMIT` (CP-SAT answers MODEL_INVALID, which would read as INFEASIBLE). Called where a solve
    hands its weights to CP-SAT (alternatives the flows do not prove, stability, quotas that do not nest)."""
    for stage in stages:
        if stage is None or float(np.abs(stage).sum(dtype=np.float64)) < CP_SAT_OBJECTIVE_LIMIT / 2:
            continue  # a float sum, exact enough far below the limit
        total = sum(abs(w) for w in stage.tolist()) + int(model.max_seat_cost)  # exact, near the limit only
        if total > CP_SAT_OBJECTIVE_LIMIT:
            raise CohortInvalid([_Magnitudes(model, stage).problem(
                "CP-SAT is needed (alternatives the flows cannot prove, stability or gender quotas), and the sum of "
                "every allowed pair's weight, its objective,", total, CP_SAT_OBJECTIVE_LIMIT)])

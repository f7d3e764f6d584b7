"""Shortlists: a few proposals per person that are good for the person and jointly feasible for the cohort.

README, "Shortlists", states what an answer guarantees; in short, for lists of mentors per mentee (or of mentees
per mentor, `side`):

1. every proposal is an allowed pair (a candidate pair: every hard rule holds);
2. the proposals marked `in_optimum` are each person's pairs in the optimum, listed first, and together they are
   exactly the best matching that `solve` gives (score mode);
3. every other proposal carries its exact `cost`: the optimum's objective value minus the best value of a valid
   matching that contains the pair (capacities, pins, organisation caps, gender quotas), with the changes that
   best matching makes;
4. a proposed person appears on at most `max(max_lists, her lists in the optimum)` lists;
5. the lists are chosen by one min-cost flow: first as many proposals as possible, spread (everybody's next
   proposal before anybody's one after it), then the least total cost;
6. `clashes` name every limit that some choice of proposals could break (a mentor's seats, a mentee chosen by
   two mentors, an organisation cap, a gender quota), with the proposals that count towards it: a choice of
   proposals (each person at most `choices` of her own list) keeps every rule if and only if it keeps the count
   of each clash (at most `limit` of its proposals accepted; at least `limit` for a quota's minimum).

How the costs are computed exactly and cheaply (shortest paths in the optimum's residual network, a full re-solve
where a gender quota breaks): `solver.forcing`.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from ortools.graph.python import min_cost_flow

from solver.arrays import BoolArray
from solver.candidates import IntArray
from solver.domain import Cohort
from solver.errors import AnswerCheckFailed, CohortInvalid, Problem, ProblemCode
from solver.explain.codes import Side
from solver.explain.facts import explain_pairs
from solver.explain.types import PairExplanation
from solver.explain.wording import id_list
from solver.forcing import Forced, ForcingCosts, forcing_costs
from solver.model import AssignmentModel, Objective, SolveStatus
from solver.solve import SolveOptions, SolveResult, solve
from solver.stop import Stopped, StopReason, StopToken
from solver.verify import AnswerChecker

__all__ = [
    "DEFAULT_SIZE", "MAX_PAIRS", "MAX_SIZE", "Clash", "ClashKind", "PersonShortlist", "Proposal", "ShortlistOptions",
    "ShortlistStats", "Shortlists", "option_problems", "shortlist",
]

DEFAULT_SIZE = 3
MAX_SIZE = 10
MAX_PAIRS = 250_000
"""Candidate pairs beyond which shortlists are refused before their costs are computed (TOO_LARGE): each pair's
cost takes a shortest-path search in Python, about 10 microseconds per pair and mentor on 2 cores."""
ANSWER_RESERVE_S = 0.05
ANSWER_S_PER_PLACE = 6e-4
ANSWER_SHARE = (0.25, 0.5)
"""Of the time limit, what the solve and the costs leave for choosing the lists, explaining and checking the
answer: this much plus this much per list place (people x size; measured: 0.2 s for kvinfo_network's 300 lists
of 3 on a quiet machine, twice that on a loaded one), at least the first share of the limit and at most the
second."""


class ClashKind(StrEnum):
    MENTOR_SEATS = "MENTOR_SEATS"  # a mentor is on more lists (mentee side) than he has seats left
    MENTEE = "MENTEE"  # a mentee is on the lists of several mentors (mentor side): one mentor at most
    ORGANISATION_CAP = "ORGANISATION_CAP"  # proposals at one organisation's mentors could exceed its cap
    GENDER_QUOTA_MAX = "GENDER_QUOTA_MAX"  # proposals with mentors of one gender could exceed max_pairs
    GENDER_QUOTA_MIN = "GENDER_QUOTA_MIN"  # too few accepted proposals with mentors of one gender break min_pairs


@dataclass(frozen=True)
class ShortlistOptions:
    size: int = DEFAULT_SIZE  # proposals per list, the optimum's included
    side: Side = Side.MENTEE  # whose lists: each mentee's mentors, or each mentor's mentees
    max_lists: int | None = None  # lists a proposed person appears on at most; None = `size`
    time_limit_s: float = 30.0
    seed: int = 0
    stop: threading.Event | StopToken | None = None

    @property
    def lists_cap(self) -> int:
        return self.size if self.max_lists is None else self.max_lists


@dataclass(frozen=True)
class Proposal:
    """One proposal on a person's list."""

    rank: int  # its place on the list, from 1
    mentee_id: str
    mentor_id: str
    score: int
    in_optimum: bool  # the pair is in the optimum (the list's first proposals)
    pinned: bool  # a pin: the coordinator fixed it, there is nothing to choose
    cost: int  # the optimum's value minus the best value with this pair in the matching; 0 in the optimum
    pairs_removed: tuple[tuple[str, str], ...]  # the optimum's pairs that matching gives up
    pairs_added: tuple[tuple[str, str], ...]  # the pairs it makes instead (this one included)
    unmatched_mentee_ids: tuple[str, ...]  # mentees matched in the optimum and not in that matching
    clash_ids: tuple[int, ...]  # the clashes this proposal counts towards
    explanation: PairExplanation  # why the pair scores what it does (the pair explanation of `solve --explain`)
    sentence: str


@dataclass(frozen=True)
class PersonShortlist:
    person_id: str
    side: Side
    choices: int  # proposals this person may accept: 1 for a mentee, a mentor's seats left by pins; 0 when pinned
    proposals: tuple[Proposal, ...]
    note: str  # why the list is short or empty; "" otherwise


@dataclass(frozen=True)
class Clash:
    """A limit that some choice of proposals could break, and the proposals that count towards it."""

    id: int  # from 1
    kind: ClashKind
    subject: str  # the mentor or mentee id, the organisation, or the gender
    limit: int  # at most this many of `proposals` may be accepted (GENDER_QUOTA_MIN: at least)
    proposals: tuple[tuple[str, str], ...]
    person_ids: tuple[str, ...]  # the people whose lists hold them
    sentence: str


@dataclass(frozen=True)
class ShortlistStats:
    candidate_pairs: int
    evaluated_pairs: int  # pairs whose cost of forcing was computed
    resolves: int  # of them, by a full re-solve (gender quotas)
    wall_s: float
    costs_s: float


@dataclass(frozen=True)
class Shortlists:
    cohort_name: str
    status: SolveStatus  # the optimum's
    side: Side
    size: int
    max_lists: int
    complete: bool  # every allowed pair's cost was computed (no time limit or cancellation cut it short)
    objective: Objective | None  # the optimum's; None when there is no matching
    lists: tuple[PersonShortlist, ...]
    clashes: tuple[Clash, ...]
    stats: ShortlistStats
    notes: tuple[str, ...] = field(default_factory=tuple)


def option_problems(options: ShortlistOptions, prefix: str = "") -> list[Problem]:
    """Every problem with the options at once, each at its field path (`prefix` + name)."""
    problems = []
    if not 1 <= options.size <= MAX_SIZE:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"{prefix}size", f"{options.size} is out of range (1..{MAX_SIZE})"))
    if options.max_lists is not None and options.max_lists < 1:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"{prefix}max_lists",
                                f"{options.max_lists} is out of range (at least 1)"))
    if not options.time_limit_s > 0:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"{prefix}time_limit_s", "the time limit must be positive"))
    return problems


# The shortlist ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sides:
    """The shortlist's two sides in index terms: who chooses (holds a list) and who is proposed."""

    side: Side
    chooser_of_row: IntArray
    proposed_of_row: IntArray
    n_choosers: int
    n_proposed: int


def _sides(model: AssignmentModel, side: Side) -> _Sides:
    arrays = model.candidates.arrays
    if side is Side.MENTEE:
        return _Sides(side, model.mentee, model.mentor, arrays.n_mentees, arrays.n_mentors)
    return _Sides(side, model.mentor, model.mentee, arrays.n_mentors, arrays.n_mentees)


def _select(model: AssignmentModel, sides: _Sides, best_rows: IntArray, costs: dict[int, Forced], size: int,
            lists_cap: int, choices: list[int]) -> tuple[list[list[int]], int | None]:
    """Per chooser, the rows of her further proposals: one min-cost flow that fills the most list places,
    each person's next place before anybody's later one, then at the least total cost of forcing. Also the cost
    above which costs counted alike (None: none did; only where int64 could not hold them all)."""
    first_count = np.bincount(sides.chooser_of_row[best_rows], minlength=sides.n_choosers)
    appearances = np.bincount(sides.proposed_of_row[best_rows], minlength=sides.n_proposed)
    room = np.maximum(lists_cap - appearances, 0)
    can_choose = np.array(choices, dtype=np.int64) > 0
    all_rows = np.fromiter(costs, dtype=np.int64, count=len(costs))
    all_costs = np.fromiter((f.cost for f in costs.values()), dtype=np.int64, count=len(costs))
    keep = can_choose[sides.chooser_of_row[all_rows]] if len(all_rows) else np.zeros(0, dtype=np.bool_)
    all_rows, all_costs = all_rows[keep], all_costs[keep]
    order = np.lexsort((sides.proposed_of_row[all_rows], all_costs, sides.chooser_of_row[all_rows]))
    rows = all_rows[order].tolist()
    if not rows:
        return [[] for _ in range(sides.n_choosers)], None
    chooser = sides.chooser_of_row[all_rows[order]]
    proposed = sides.proposed_of_row[all_rows[order]]
    cost = all_costs[order]
    places = np.where(can_choose, np.maximum(size - first_count, 0), 0)
    source, sink = sides.n_choosers + sides.n_proposed, sides.n_choosers + sides.n_proposed + 1
    # One more list place (anyone's) is worth `unit`, more than any total cost of the proposals: lexicographic.
    # The flow's costs times its nodes must stay within int64: beyond, costs above `clip` count alike.
    clip = ((2**62 // (size * (sink + 2)) - 1) // max(1, int(places.sum())))
    clipped = bool(len(cost)) and int(cost.max()) > clip
    cost = np.minimum(cost, clip)
    most = np.zeros(sides.n_choosers, dtype=np.int64)
    np.maximum.at(most, chooser, cost)
    unit = 1 + int((places * most).sum())
    tails, heads, caps, arc_costs = [], [], [], []
    for c in np.flatnonzero(places).tolist():
        for position in range(int(first_count[c]) + 1, size + 1):
            tails.append(source)
            heads.append(c)
            caps.append(1)
            arc_costs.append(-(size + 1 - position) * unit)
    first_pair_arc = len(tails)
    tails += chooser.tolist()
    heads += (sides.n_choosers + proposed).tolist()
    caps += [1] * len(rows)
    arc_costs += cost.tolist()
    for p in np.flatnonzero(room).tolist():
        tails.append(sides.n_choosers + p)
        heads.append(sink)
        caps.append(int(room[p]))
        arc_costs.append(0)
    total = int(places.sum())
    tails.append(source)
    heads.append(sink)
    caps.append(total)
    arc_costs.append(0)
    solver = min_cost_flow.SimpleMinCostFlow()
    solver.add_arcs_with_capacity_and_unit_cost(np.array(tails, dtype=np.int64), np.array(heads, dtype=np.int64),
                                                np.array(caps, dtype=np.int64), np.array(arc_costs, dtype=np.int64))
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[source], supplies[sink] = total, -total
    solver.set_nodes_supplies(np.arange(sink + 1), supplies)
    status = solver.solve()
    if status != solver.OPTIMAL:
        raise RuntimeError(f"the shortlist's min-cost flow ended with status {status}")
    flows = solver.flows(np.arange(first_pair_arc, first_pair_arc + len(rows)))
    chosen: list[list[int]] = [[] for _ in range(sides.n_choosers)]
    for k in np.flatnonzero(flows > 0).tolist():
        chosen[int(chooser[k])].append(rows[k])
    return chosen, clip if clipped else None


def _changes_sentence(cohort: Cohort, model: AssignmentModel, removed: tuple[int, ...], added: tuple[int, ...],
                      cost: int) -> str:
    """What the best matching with the proposal changes, mentee by mentee, with the pair scores, and what else
    makes up the cost (seat costs, a matched mentee less)."""
    def side(rows: tuple[int, ...]) -> dict[int, int]:
        return {int(model.mentee[r]): r for r in rows}

    before, after = side(removed), side(added)
    parts = []
    for i in sorted(set(before) | set(after)):
        who = cohort.mentees[i].id
        old, new = before.get(i), after.get(i)

        def pair(row: int) -> str:
            return f"{cohort.mentors[int(model.mentor[row])].id} ({int(model.score[row])})"

        if old is not None and new is not None:
            parts.append(f"{who} moves from {pair(old)} to {pair(new)}")
        elif old is not None:
            parts.append(f"{who} loses {pair(old)} and stays without a mentor")
        elif new is not None:
            parts.append(f"{who} is matched with {pair(new)}")
    priority = model.priority
    places = int(priority[model.mentee[list(removed)]].sum()) - int(priority[model.mentee[list(added)]].sum())
    scores = int(model.score[list(removed)].sum()) - int(model.score[list(added)].sum())
    seats = cost - places * model.big - scores
    text = "; ".join(parts)
    if places:
        text += (f"; {places} priority point(s) of matched mentees fewer, which the objective counts as "
                 f"{model.big} each")
    if seats:
        text += f"; the mentors' further seats cost {abs(seats)} {'more' if seats > 0 else 'less'}"
    return text


def _clashes(model: AssignmentModel, sides: _Sides, lists: list[list[int]], choices: list[int]
             ) -> list[tuple[ClashKind, str, int, list[int], int]]:
    """Every limit some choice of proposals could break: (kind, subject, limit, the rows that count towards it,
    what the pins take of the limit already).

    Pins are fixed, so each limit is what the pins leave; proposals of people with no choice are left out."""
    cohort = model.candidates.cohort
    pinned = model.pinned_rows
    pinned_set = set(pinned.tolist())
    chooser_rows = [[r for r in rows if choices[c] > 0 and r not in pinned_set]
                    for c, rows in enumerate(lists)]
    open_rows = [r for rows in chooser_rows for r in rows]

    def most_accepted(rows: list[int]) -> int:
        """The most of these rows that the choosers could accept together."""
        by_chooser = Counter(int(sides.chooser_of_row[r]) for r in rows)
        return sum(min(count, choices[c]) for c, count in by_chooser.items())

    out: list[tuple[ClashKind, str, int, list[int], int]] = []
    pinned_load = np.bincount(model.mentor[pinned], minlength=len(model.capacity))
    if sides.side is Side.MENTEE:
        by_mentor: dict[int, list[int]] = defaultdict(list)
        for r in open_rows:
            by_mentor[int(model.mentor[r])].append(r)
        for j, rows in sorted(by_mentor.items()):
            seats = int(model.capacity[j] - pinned_load[j])
            if most_accepted(rows) > seats:
                out.append((ClashKind.MENTOR_SEATS, cohort.mentors[j].id, seats, rows, int(pinned_load[j])))
    else:
        by_mentee: dict[int, list[int]] = defaultdict(list)
        for r in open_rows:
            by_mentee[int(model.mentee[r])].append(r)
        for i, rows in sorted(by_mentee.items()):
            if most_accepted(rows) > 1:
                out.append((ClashKind.MENTEE, cohort.mentees[i].id, 1, rows, 0))
    orgs = sorted(cohort.rules.organisation_cap_map)
    for k, org in enumerate(orgs):
        taken = int((model.mentor_org[model.mentor[pinned]] == k).sum())
        rows = [r for r in open_rows if model.mentor_org[model.mentor[r]] == k]
        if most_accepted(rows) > int(model.org_caps[k]) - taken:
            out.append((ClashKind.ORGANISATION_CAP, org, int(model.org_caps[k]) - taken, rows, taken))
    names = {1: "f", 2: "m", 3: "x"}
    for g, low, high in model.quotas:
        taken = int((model.mentor_gender[model.mentor[pinned]] == g).sum())
        rows = [r for r in open_rows if model.mentor_gender[model.mentor[r]] == g]
        if high is not None and most_accepted(rows) > high - taken:
            out.append((ClashKind.GENDER_QUOTA_MAX, names.get(g, ""), high - taken, rows, taken))
        if low - taken > 0:
            out.append((ClashKind.GENDER_QUOTA_MIN, names.get(g, ""), low - taken, rows, taken))
    return out


def _clash_sentence(kind: ClashKind, subject: str, limit: int, people: list[str], pinned: int) -> str:
    """The clash in words; `pinned` is what pins already take of the limit (the sentence counts beyond them)."""
    who = id_list(people)
    beside = f" beside {pinned} pinned pair(s)" if pinned else ""
    if kind is ClashKind.MENTOR_SEATS:
        seats = f"{limit} seat{'s' if limit != 1 else ''}{' left' + beside if pinned else ''}"
        if limit == 1 and len(people) == 2:
            return (f"mentor {subject} has {seats} and is on the lists of {people[0]} and {people[1]}: if both "
                    f"accept {subject}, one of them goes to their next proposal")
        return (f"mentor {subject} has {seats} and is on the lists of {who}: if more than {limit} of them accept "
                f"{subject}, the others go to their next proposals")
    if kind is ClashKind.MENTEE:
        return (f"mentee {subject} is on the lists of {who}: if more than one of them accepts {subject}, the others "
                "go to their next proposals")
    if kind is ClashKind.ORGANISATION_CAP:
        return (f"organisation {subject} may take {limit} mentee(s){beside} and its mentors are on the lists of "
                f"{who}: if more than {limit} proposals at {subject} are accepted, the others go to their next "
                "proposals")
    if kind is ClashKind.GENDER_QUOTA_MAX:
        return (f"at most {limit} pair(s){beside} may have a mentor of gender {subject} (gender quota) and such "
                f"mentors are on the lists of {who}: if more than {limit} of those proposals are accepted, the "
                "quota breaks")
    return (f"at least {limit} pair(s){beside} must have a mentor of gender {subject} (gender quota): of the "
            f"proposals with such mentors, on the lists of {who}, at least {limit} must be accepted")


def _empty(cohort: Cohort, result: SolveResult | None, options: ShortlistOptions, started: float,
           notes: list[str]) -> Shortlists:
    status = result.status if result is not None else SolveStatus.UNKNOWN
    candidate_count = result.stats.candidate_pairs if result is not None else 0
    return Shortlists(cohort.name, status, options.side, options.size, options.lists_cap, False, None, (), (),
                      ShortlistStats(candidate_count, 0, 0, time.monotonic() - started, 0.0), tuple(notes))


def shortlist(cohort: Cohort, options: ShortlistOptions | None = None) -> Shortlists:
    """Shortlists for a valid cohort (see `solver.validate`); CohortInvalid for bad options or too many pairs."""
    options = options or ShortlistOptions()
    problems = option_problems(options)
    if problems:
        raise CohortInvalid(problems)
    started = time.monotonic()
    stop = StopToken.of(options.stop).sooner(options.time_limit_s)
    places = (len(cohort.mentees) if options.side is Side.MENTEE else len(cohort.mentors)) * options.size
    low, high = ANSWER_SHARE
    reserve = min(high * options.time_limit_s,
                  max(ANSWER_RESERVE_S + ANSWER_S_PER_PLACE * places, low * options.time_limit_s))
    # The solve and the costs stop `reserve` before the end, which the answer needs.
    work_stop = stop.sooner(max(0.0, stop.remaining() - reserve))
    solve_options = SolveOptions(alternatives=1, time_limit_s=options.time_limit_s, seed=options.seed, stop=work_stop)
    try:
        result = solve(cohort, solve_options)
    except Stopped:
        if stop.cancelled:
            raise
        return _empty(cohort, None, options, started, ["the time limit passed before the optimum was found"])
    notes = list(result.notes)
    best = result.best
    if best is None:
        why = ("no valid matching: no shortlists" if result.status is SolveStatus.INFEASIBLE else
               "the time limit passed before any matching was found")
        return _empty(cohort, result, options, started, [*notes, why])
    if result.status is not SolveStatus.OPTIMAL:
        notes.append("the optimum was not proven (time limit or cancellation): the lists hold the best matching "
                     "found and nothing else, since costs against it would mean nothing")
    if result.stats.candidate_pairs > MAX_PAIRS:
        raise CohortInvalid([Problem(ProblemCode.TOO_LARGE, "", f"{result.stats.candidate_pairs} allowed pairs: "
                                     f"shortlists compute a cost for every allowed pair, up to {MAX_PAIRS}")])
    model, candidates = result.model, result.candidates
    solved = candidates.cohort
    sides = _sides(model, options.side)
    pinned_set = set(model.pinned_rows.tolist())
    pinned_mentee = np.zeros(len(solved.mentees), dtype=np.bool_)
    pinned_mentee[model.mentee[model.pinned_rows]] = True
    pinned_load = np.bincount(model.mentor[model.pinned_rows], minlength=len(solved.mentors))
    if options.side is Side.MENTEE:
        choices = [0 if pinned_mentee[i] else 1 for i in range(len(solved.mentees))]
    else:
        choices = [int(max(0, model.capacity[j] - pinned_load[j])) for j in range(len(solved.mentors))]
    in_best = np.zeros(model.n_rows, dtype=np.bool_)
    in_best[best.rows] = True
    wanted = np.flatnonzero(~in_best & ~pinned_mentee[model.mentee]).astype(np.int64)
    costs_started = time.monotonic()
    if result.status is SolveStatus.OPTIMAL and len(wanted):
        try:
            costs = forcing_costs(result, wanted, work_stop, options.time_limit_s, options.seed)
        except Stopped:
            if stop.cancelled:
                raise
            costs = ForcingCosts({}, False, 0, ["the time limit passed before any cost was computed"])
    else:
        costs = ForcingCosts({}, result.status is SolveStatus.OPTIMAL, 0, [])
    if stop.cancelled:
        raise Stopped(StopReason.CANCELLED)
    costs_s = time.monotonic() - costs_started
    notes += costs.notes
    further, clip = _select(model, sides, best.rows, costs.forced, options.size, options.lists_cap, choices)
    if clip is not None:
        notes.append(f"costs above {clip} counted alike when the lists were chosen (exact integers could not hold "
                     "them all); the costs shown are exact")
    first: list[list[int]] = [[] for _ in range(sides.n_choosers)]
    for r in best.rows.tolist():
        first[int(sides.chooser_of_row[r])].append(r)
    score = model.score
    lists_rows = [sorted(f, key=lambda r: (-int(score[r]), int(sides.proposed_of_row[r])))
                  + sorted(x, key=lambda r: (costs.forced[r].cost, -int(score[r]), int(sides.proposed_of_row[r])))
                  for f, x in zip(first, further, strict=True)]
    clashes = _clashes(model, sides, lists_rows, choices)
    clash_of: dict[int, list[int]] = defaultdict(list)
    clash_items: list[Clash] = []
    for number, (kind, subject, limit, rows, taken) in enumerate(clashes, start=1):
        people = sorted({_chooser_id(solved, sides, r) for r in rows})
        pairs = tuple(sorted(_pair(solved, model, r) for r in rows))
        clash_items.append(Clash(number, kind, subject, limit, pairs, tuple(people),
                                 _clash_sentence(kind, subject, limit, people, taken)))
        for r in rows:
            clash_of[r].append(number)
    all_rows = sorted({r for rows in lists_rows for r in rows})
    explanations = dict(zip(all_rows, explain_pairs(candidates, np.array(all_rows, dtype=np.int64)), strict=True))
    _check_answer(result, lists_rows, costs.forced)
    listed = np.bincount([int(sides.proposed_of_row[r]) for rows in lists_rows for r in rows],
                         minlength=sides.n_proposed)
    in_optimum = np.bincount(sides.proposed_of_row[best.rows], minlength=sides.n_proposed)
    full = listed >= np.maximum(options.lists_cap, in_optimum)
    out_lists = []
    for c, rows in enumerate(lists_rows):
        person = (solved.mentees if options.side is Side.MENTEE else solved.mentors)[c]
        proposals = []
        for rank, r in enumerate(rows, start=1):
            pair = _pair(solved, model, r)
            lost: tuple[str, ...] = ()
            if in_best[r]:
                removed: tuple[tuple[str, str], ...] = ()
                added: tuple[tuple[str, str], ...] = ()
                cost = 0
                sentence = (f"{pair[0]} with {pair[1]} (score {int(score[r])})"
                            + (": pinned by the coordinator" if r in pinned_set else ": in the optimum, costs nothing"))
            else:
                found = costs.forced[r]
                removed = tuple(sorted(_pair(solved, model, x) for x in found.removed))
                added = tuple(sorted(_pair(solved, model, x) for x in found.added))
                cost = found.cost
                lost = tuple(sorted({a for a, _ in removed} - {a for a, _ in added}))
                changes = _changes_sentence(solved, model, found.removed, found.added, cost)
                sentence = (f"{pair[0]} with {pair[1]} (score {int(score[r])}): choosing it costs the cohort {cost} "
                            "point(s)" + (f": {changes}" if changes else ""))
            proposals.append(Proposal(rank, pair[0], pair[1], int(score[r]), bool(in_best[r]), r in pinned_set, cost,
                                      removed, added, lost, tuple(clash_of.get(r, ())), explanations[r], sentence))
        out_lists.append(PersonShortlist(person.id, options.side, choices[c], tuple(proposals),
                                         _list_note(sides, c, rows, choices[c], options.size, costs.forced, full,
                                                    costs.complete)))
    evaluated = len(costs.forced)
    stats = ShortlistStats(result.stats.candidate_pairs, evaluated, costs.resolves, time.monotonic() - started, costs_s)
    return Shortlists(solved.name, result.status, options.side, options.size, options.lists_cap,
                      costs.complete and result.status is SolveStatus.OPTIMAL, best.objective, tuple(out_lists),
                      tuple(clash_items), stats, tuple(notes))


def _pair(cohort: Cohort, model: AssignmentModel, row: int) -> tuple[str, str]:
    return cohort.mentees[int(model.mentee[row])].id, cohort.mentors[int(model.mentor[row])].id


def _chooser_id(cohort: Cohort, sides: _Sides, row: int) -> str:
    people = cohort.mentees if sides.side is Side.MENTEE else cohort.mentors
    return people[int(sides.chooser_of_row[row])].id


def _list_note(sides: _Sides, chooser: int, rows: list[int], choices: int, size: int, forced: dict[int, Forced],
               full: BoolArray, complete: bool) -> str:
    """Why a list is empty or shorter than `size`: the allowed partners it leaves out, by reason."""
    if choices == 0:
        return ("pinned by the coordinator: nothing to choose" if rows else
                "no seat to offer (capacity 0, or every seat pinned)")
    allowed = np.flatnonzero(sides.chooser_of_row == chooser).tolist()
    if not allowed:
        return "no allowed partner under the hard rules"
    if len(rows) >= size:
        return ""
    listed = set(rows)
    left_out = [r for r in allowed if r not in listed]
    impossible = sum(1 for r in left_out if r not in forced)
    crowded = sum(1 for r in left_out if r in forced and full[int(sides.proposed_of_row[r])])
    parts = [f"{len(allowed)} allowed partner(s)"]
    if crowded:
        parts.append(f"{crowded} already on as many lists as allowed")
    if impossible:
        parts.append(f"{impossible} in no valid matching with this person (pins, seats, caps or quotas)" if complete
                     else f"{impossible} in no valid matching with this person, or not costed in the time")
    return "; ".join(parts)


def _check_answer(result: SolveResult, lists_rows: list[list[int]], forced: dict[int, Forced]) -> None:
    """The independent re-check of the answer before it leaves: every proposal's pair against the hard rules and
    its score (`solver.verify`'s rules, from the cohort's domain objects), and each matching a cost is measured
    by against capacities, pins, organisation caps and quotas, worth exactly the optimum's value less the cost.

    The optimum itself was verified by `solve`; a forced matching differs from it in a few pairs, so it is
    checked by what those change (counts kept from the optimum), not re-checked whole."""
    best = result.best
    assert best is not None
    candidates, model = result.candidates, result.model
    cohort = candidates.cohort
    rules = AnswerChecker(candidates).rules
    broken: list[str] = []
    mentees = {p.id: p for p in cohort.mentees}
    mentors = {p.id: p for p in cohort.mentors}
    # Her weight in the matched count, waiting priority included (from the cohort, not from the model's arrays).
    weight = dict(zip(mentees, cohort.priorities(), strict=True))

    def pair_of(row: int) -> tuple[str, str]:
        return _pair(cohort, model, row)

    def worth(row: int) -> int:
        """The pair's part of the objective value: big x her priority (waiting included) + its score (checked against
        the rules)."""
        a, b = pair_of(row)
        failed, low, high = rules.check_pair(mentees[a], mentors[b])
        score = int(model.score[row])
        if failed or not low <= score <= high:
            broken.append(f"pair {a}-{b} breaks {', '.join(failed) or f'its score ({score}, the rules give {low})'}")
        return model.big * weight[a] + score

    base_pairs = [pair_of(r) for r in best.rows.tolist()]
    partner = dict(base_pairs)
    load = Counter(b for _, b in base_pairs)
    seat_cost = max(cohort.rules.extra_seat_cost, 0)
    caps = cohort.rules.organisation_cap_map
    org_count = Counter(mentors[y].organisation for _, y in base_pairs)
    gender_count = Counter(mentors[y].gender for _, y in base_pairs)
    pins = set(cohort.rules.pins)
    best_set = set(best.rows.tolist())
    for rows in lists_rows:
        for r in rows:
            if r in best_set:
                worth(r)
                continue
            found = forced[r]
            removed, added = [pair_of(x) for x in found.removed], [pair_of(x) for x in found.added]
            a, b = pair_of(r)
            change = Counter(y for _, y in added)
            change.subtract(y for _, y in removed)
            after_load = {y: load[y] + n for y, n in change.items()}
            gone = {x for x, _ in removed}
            problems = [f"{x} is matched twice" for x, n in Counter(x for x, _ in added).items()
                        if n > 1 or (x in partner and x not in gone)]
            problems += [f"{y} takes {n}, capacity {mentors[y].capacity}" for y, n in after_load.items()
                         if n > mentors[y].capacity]
            problems += [f"pin {p} given up" for p in removed if p in pins]
            problems += ["the pair itself is missing"] if (a, b) not in added else []
            for org, cap in caps.items():
                if org_count[org] + sum(n for y, n in change.items() if mentors[y].organisation == org) > cap:
                    problems.append(f"organisation {org} over its cap")
            for quota in cohort.rules.gender_quotas:
                count = gender_count[quota.gender] + sum(n for y, n in change.items() if mentors[y].gender == quota.gender)
                if count < quota.min_pairs or (quota.max_pairs is not None and count > quota.max_pairs):
                    problems.append(f"gender quota {quota.gender} broken")
            seats = seat_cost * sum(n * (n - 1) // 2 - load[y] * (load[y] - 1) // 2 for y, n in after_load.items())
            value = best.objective.value - sum(worth(x) for x in found.removed) + sum(worth(x) for x in found.added) - seats
            if value != best.objective.value - found.cost:
                problems.append(f"worth {value}, not the optimum's {best.objective.value} less {found.cost}")
            broken += [f"proposal {a}-{b}: {p}" for p in problems]
    if broken:
        raise AnswerCheckFailed(broken)

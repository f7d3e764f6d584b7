"""Planning the speed-dating kick-off: who meets whom, in which round, at which table, and what it covers.

`plan_speed_dating(cohort, PlanOptions(...))` takes the allowed pairs from the programme's hard rules
(`solver.scores.candidate_pairs`, the masks of `solver.candidates`), solves the matching and its alternatives
(`solver.solve.solve`) for the pairs the rankings must decide between, chooses the meetings exactly
(`solver.speeddating.flow`), puts them into rounds and tables (`solver.speeddating.rounds`) and reports each
mentee's coverage. The objective is in the README ("Speed-dating kick-off").
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from solver.defaults import SPEED_DATING_MAX_ALTERNATIVES, SPEED_DATING_MAX_MINUTES, SPEED_DATING_MAX_ROUNDS
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.model import SolveStatus
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, solve
from solver.speeddating.flow import select_meetings
from solver.speeddating.instance import PlanInstance, greedy_fill, objective_parts
from solver.speeddating.rounds import assign_rounds, assign_tables
from solver.stop import StopToken, check

MAX_ROUNDS = SPEED_DATING_MAX_ROUNDS
MAX_MINUTES = SPEED_DATING_MAX_MINUTES
MAX_ALTERNATIVES = SPEED_DATING_MAX_ALTERNATIVES


@dataclass(frozen=True)
class PlanOptions:
    rounds: int
    minutes: int  # length of a round
    tables: int | None = None  # meetings a round at most; None: a table for everyone
    max_breaks: int | None = None  # rounds a person may sit out while a useful meeting is possible; None: no limit
    alternatives: int = 3  # matchings (the best included) whose pairs the meetings should cover
    seed: int = 0
    time_limit_s: float = 30.0  # for the whole plan: the matchings get at most half of it
    stop: StopToken | threading.Event | None = None  # cancellation (and a deadline, for a token)


@dataclass(frozen=True)
class Meeting:
    round: int  # 1-based
    table: int  # 1-based
    mentee_id: str
    mentor_id: str
    starts_min: int  # minutes from the start of round 1
    ends_min: int
    score: int
    in_best_matching: bool
    in_alternative: bool  # in an alternative matching (and not in the best)
    top_rank: int  # the mentor's place in the mentee's top list (1 = her best allowed mentor); 0 = not in it


@dataclass(frozen=True)
class Slot:
    round: int
    starts_min: int
    ends_min: int
    table: int | None  # None: a break
    partner_id: str | None


@dataclass(frozen=True)
class Timetable:
    person_id: str
    side: str  # "mentee" or "mentor"
    slots: tuple[Slot, ...]  # one per round
    allowed_partners: int

    @property
    def meetings(self) -> int:
        return sum(1 for s in self.slots if s.partner_id is not None)

    @property
    def breaks(self) -> int:
        return len(self.slots) - self.meetings


@dataclass(frozen=True)
class MenteeCoverage:
    mentee_id: str
    top_mentors: tuple[str, ...]  # her top `rounds` allowed mentors by pair score (ties by mentor id), best first
    met_top: tuple[str, ...]  # those of them she meets

    @property
    def complete(self) -> bool:
        return len(self.met_top) == len(self.top_mentors)


@dataclass(frozen=True)
class PlanObjective:
    """The criteria of the README's objective, in its lexicographic order (`key`)."""

    breaks: int  # meetings counted towards the break limit: sum over people of min(meetings, L)
    break_target: int  # sum of L: reached when nobody sits out more than allowed
    best_pairs_met: int
    best_pairs: int
    alternative_pairs_met: int
    alternative_pairs: int
    mentee_coverage: int  # sum over mentees of f(top mentors met), f(c) = R + (R - 1) + ... + (R + 1 - c)
    mentor_share: int  # sum over mentors of f(meetings)
    meetings: int
    score: int  # sum of the meeting pairs' scores

    def key(self) -> tuple[int, ...]:
        return (self.breaks, self.best_pairs_met, self.alternative_pairs_met, self.mentee_coverage,
                self.mentor_share, self.meetings, self.score)


@dataclass(frozen=True)
class PlanStats:
    allowed_pairs: int
    wall_s: float
    matching_s: float
    model_s: float
    stages: int  # CP-SAT solves (criteria folded into one weight where the numbers allow)
    stages_proven: int


@dataclass(frozen=True)
class SpeedDatingPlan:
    cohort_name: str
    rounds: int
    minutes: int
    tables: int | None
    max_breaks: int | None
    status: SolveStatus  # OPTIMAL: proven best under the objective; FEASIBLE: a limit or a stop cut it short
    meetings: tuple[Meeting, ...]  # by round, then table
    timetables: tuple[Timetable, ...]  # mentees, then mentors who take part, each in id order
    coverage: tuple[MenteeCoverage, ...]  # per mentee, in id order
    best_matching: tuple[tuple[str, str], ...]  # (mentee, mentor) of the current best matching
    best_matching_missed: tuple[tuple[str, str], ...]  # its pairs that do not meet
    matching_status: SolveStatus
    absent_mentors: tuple[str, ...]  # capacity 0: not at the kick-off
    over_break_limit: tuple[str, ...]  # people who sit out more than `max_breaks` rounds though they have partners
    objective: PlanObjective
    stats: PlanStats
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def all_best_pairs_meet(self) -> bool:
        return not self.best_matching_missed


def option_problems(options: PlanOptions, prefix: str = "options.") -> list[Problem]:
    """Every problem with the plan's options, each at its field path (`options.rounds`, ...; `prefix` + name)."""
    checks = [
        ("rounds", options.rounds, 1, MAX_ROUNDS),
        ("minutes", options.minutes, 1, MAX_MINUTES),
        ("tables", options.tables, 1, None),
        ("max_breaks", options.max_breaks, 0, options.rounds if 1 <= options.rounds <= MAX_ROUNDS else None),
        ("alternatives", options.alternatives, 1, MAX_ALTERNATIVES),
    ]
    problems = []
    for name, value, low, high in checks:
        if value is None:
            continue
        if value < low or (high is not None and value > high):
            limit = f"{low}..{high}" if high is not None else f"at least {low}"
            problems.append(Problem(ProblemCode.BAD_VALUE, f"{prefix}{name}", f"{value} is out of range ({limit})"))
    if not options.time_limit_s > 0:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"{prefix}time_limit_s", "the time limit must be positive"))
    return problems


def _top_lists(mentee: np.ndarray, mentor: np.ndarray, score: np.ndarray, rounds: int) -> np.ndarray:
    """Per pair, its place (1-based) in the mentee's list of allowed mentors by score, ties by mentor index."""
    order = np.lexsort((mentor, -score, mentee))
    place = np.empty(len(mentee), dtype=np.int64)
    if len(mentee):
        starts = np.r_[0, np.flatnonzero(np.diff(mentee[order])) + 1]
        first = np.repeat(starts, np.diff(np.r_[starts, len(mentee)]))
        place[order] = np.arange(len(mentee)) - first + 1
    return place


def plan_speed_dating(cohort: Cohort, options: PlanOptions) -> SpeedDatingPlan:
    """The kick-off's plan for a valid cohort (see `solver.validate`); CohortInvalid for bad options."""
    problems = option_problems(options)
    if problems:
        raise CohortInvalid(problems)
    started = time.monotonic()
    stop = StopToken.of(options.stop).sooner(options.time_limit_s)
    cohort = cohort.canonical()  # people in id order: the rows' order decides nothing
    candidates = candidate_pairs(cohort, stop=stop)
    check(stop)
    rounds = options.rounds
    notes: list[str] = []
    matching = solve(candidates, SolveOptions(alternatives=options.alternatives, seed=options.seed,
                                              time_limit_s=max(0.01, stop.remaining() / 2), stop=stop.event))
    matching_s = time.monotonic() - started
    notes += [f"matching: {note}" for note in matching.notes]
    check(stop)
    mentee_all, mentor_all, score_all = candidates.mentee, candidates.mentor, candidates.score
    present = np.array([m.capacity > 0 for m in cohort.mentors], dtype=np.bool_)
    keep = present[mentor_all] if len(mentor_all) else np.zeros(0, dtype=np.bool_)
    rows = np.flatnonzero(keep)  # candidate rows of the pairs that take part
    mentee, mentor, score = mentee_all[rows], mentor_all[rows], score_all[rows]
    row_to_pair = np.full(len(mentee_all), -1, dtype=np.int64)
    row_to_pair[rows] = np.arange(len(rows))
    best = np.zeros(len(rows), dtype=np.bool_)
    alternative = np.zeros(len(rows), dtype=np.bool_)
    for k, found in enumerate(matching.matchings):
        # A capacity-0 mentor is never matched, so every matched row takes part.
        (best if k == 0 else alternative)[row_to_pair[found.rows]] = True
    alternative &= ~best
    place = _top_lists(mentee, mentor, score, rounds)
    n, m = len(cohort.mentees), len(cohort.mentors)
    mentee_allowed = np.bincount(mentee, minlength=n)
    mentor_allowed = np.bincount(mentor, minlength=m)
    slack = rounds - options.max_breaks if options.max_breaks is not None else 0
    instance = PlanInstance(n, m, mentee, mentor, score, best, alternative, place <= rounds, rounds, options.tables,
                            np.minimum(mentee_allowed, slack), np.where(present, np.minimum(mentor_allowed, slack), 0))
    selection = select_meetings(instance, stop)
    chosen = greedy_fill(instance, selection.chosen)
    if selection.status is not SolveStatus.OPTIMAL:
        notes.append(f"the plan is not proven best: the time limit or a stop came after {selection.stages_proven} of "
                     f"{selection.stages} stage(s); nobody is idle while a useful meeting is possible")
    picked = np.flatnonzero(chosen)
    round_of = assign_rounds(mentee[picked], mentor[picked], n, m, rounds)
    table_of = assign_tables(round_of, mentor[picked], options.tables)
    parts = objective_parts(instance, chosen)
    plan_meetings = []
    for k, p in enumerate(picked.tolist()):
        r = int(round_of[k]) + 1
        plan_meetings.append(Meeting(r, int(table_of[k]), cohort.mentees[mentee[p]].id, cohort.mentors[mentor[p]].id,
                                     (r - 1) * options.minutes, r * options.minutes, int(score[p]), bool(best[p]),
                                     bool(alternative[p]), int(place[p]) if place[p] <= rounds else 0))
    plan_meetings.sort(key=lambda x: (x.round, x.table))
    timetables = _timetables(cohort, plan_meetings, present, mentee_allowed, mentor_allowed, options)
    coverage = []
    met = {(x.mentee_id, x.mentor_id) for x in plan_meetings}
    top_rows = np.flatnonzero(place <= rounds)
    top_rows = top_rows[np.lexsort((place[top_rows], mentee[top_rows]))]
    tops: dict[int, list[str]] = {}
    for p in top_rows.tolist():
        tops.setdefault(int(mentee[p]), []).append(cohort.mentors[mentor[p]].id)
    for i, person in enumerate(cohort.mentees):
        top = tuple(tops.get(i, ()))
        coverage.append(MenteeCoverage(person.id, top, tuple(b for b in top if (person.id, b) in met)))
    best_pairs = tuple((cohort.mentees[mentee[p]].id, cohort.mentors[mentor[p]].id) for p in np.flatnonzero(best))
    over = tuple(t.person_id for t in timetables if options.max_breaks is not None
                 and t.meetings < min(rounds - options.max_breaks, t.allowed_partners))
    if over:
        notes.append(f"{len(over)} people sit out more than {options.max_breaks} round(s): their allowed partners "
                     "are busy with others (or the tables are full)")
    objective = PlanObjective(
        parts["breaks"], int(instance.mentee_break_target.sum() + instance.mentor_break_target.sum()),
        parts["best_pairs"], int(best.sum()), parts["alternative_pairs"], int(alternative.sum()),
        parts["mentee_coverage"], parts["mentor_share"], parts["meetings"], parts["score"])
    wall = time.monotonic() - started
    return SpeedDatingPlan(
        cohort_name=cohort.name, rounds=rounds, minutes=options.minutes, tables=options.tables,
        max_breaks=options.max_breaks, status=selection.status, meetings=tuple(plan_meetings),
        timetables=timetables, coverage=tuple(coverage), best_matching=best_pairs,
        best_matching_missed=tuple(pair for pair in best_pairs if pair not in met), matching_status=matching.status,
        absent_mentors=tuple(p.id for p, here in zip(cohort.mentors, present.tolist(), strict=True) if not here),
        over_break_limit=over, objective=objective,
        stats=PlanStats(len(rows), wall, matching_s, selection.model_s, selection.stages, selection.stages_proven),
        notes=tuple(notes))


def _timetables(cohort: Cohort, meetings: list[Meeting], present: np.ndarray, mentee_allowed: np.ndarray,
                mentor_allowed: np.ndarray, options: PlanOptions) -> tuple[Timetable, ...]:
    """One timetable per mentee and per mentor who takes part: a slot each round, a break where she meets nobody."""
    seat: dict[tuple[str, int], tuple[int, str]] = {}
    for x in meetings:
        seat[(x.mentee_id, x.round)] = (x.table, x.mentor_id)
        seat[(x.mentor_id, x.round)] = (x.table, x.mentee_id)
    people = [(p.id, "mentee", int(a)) for p, a in zip(cohort.mentees, mentee_allowed.tolist(), strict=True)]
    people += [(p.id, "mentor", int(a)) for p, a, here in zip(cohort.mentors, mentor_allowed.tolist(),
                                                             present.tolist(), strict=True) if here]
    out = []
    for person, side, allowed in people:
        slots = []
        for r in range(1, options.rounds + 1):
            table, partner = seat.get((person, r), (None, None))
            slots.append(Slot(r, (r - 1) * options.minutes, r * options.minutes, table, partner))
        out.append(Timetable(person, side, tuple(slots), allowed))
    return tuple(out)

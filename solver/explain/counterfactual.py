"""Re-solves: the cost of forcing a person in, and the single relaxations that would match them."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from solver.arrays import cohort_arrays
from solver.candidates import HardRule, IntArray, rule_masks
from solver.cpsat import ExtraConstraints
from solver.decision_rows import decline_text
from solver.domain import Cohort, FieldRule, Mentee, MenteeRules, Mentor, Track, cefr_name
from solver.explain.codes import (
    MUTUAL_CHOICE_STRENGTH,
    SIDE_CONSTRAINT_RELAXATIONS,
    Relaxation,
    Side,
    apply_relaxation,
    choice_allows,
    rule_source,
)
from solver.explain.context import ExplainContext, MatchingState, PersonView
from solver.explain.types import Counterfactual, Impact
from solver.explain.unmatched import binding_side_constraints
from solver.explain.wording import ceil_tenth, id_list
from solver.reopt import FlowChange
from solver.scores import CandidatePairs
from solver.solve import AssignmentModel, SolveResult, SolveStatus, chain_constraints, solve
from solver.stop import StopToken

if TYPE_CHECKING:
    from ortools.sat.python import cp_model

# Re-solving -------------------------------------------------------------------------------------------


class ResolveBudget:
    """How many re-solves, and how much time, explanations may still spend.

    The time is the earlier of `seconds` from now and the stop's deadline; a set stop spends it all. A re-solve
    also costs time before its search (candidates, model), which its time limit does not bound: no re-solve
    starts with less time left than the slowest so far took, so the explanation degrades to fewer re-solves,
    then none, rather than run past its time.
    """

    def __init__(self, resolves: int, seconds: float, per_solve_s: float,
                 stop: StopToken | threading.Event | None = None) -> None:
        self.left = resolves
        self.stop = StopToken.of(stop).sooner(seconds)
        self.per_solve_s = per_solve_s
        self.exhausted = False  # a re-solve was wanted and not made
        self.out_of_time = False  # ... because the time ran out (or the stop was set)
        self.slowest_s = 0.0

    def take(self) -> float | None:
        """Seconds for one more re-solve, or None when the budget is spent."""
        remaining = self.stop.remaining()
        if self.left <= 0 or remaining <= max(0.05, self.slowest_s):
            self.out_of_time = self.out_of_time or self.left > 0
            self.exhausted = True
            return None
        self.left -= 1
        return min(self.per_solve_s, remaining - self.slowest_s)

    def spent(self, seconds: float) -> None:
        """A re-solve took `seconds` in all."""
        self.slowest_s = max(self.slowest_s, seconds)


@dataclass(frozen=True)
class Resolved:
    """The best matching after a change: its status and pairs (indices of the explained cohort), or none."""

    status: SolveStatus
    mentee: IntArray | None  # None when there is no matching (infeasible, or stopped before one)
    mentor: IntArray | None
    reoptimised: bool  # from the baseline's optimal flow (`solver.reopt`), not a full solve


def resolve_within_budget(ctx: ExplainContext, cohort: Cohort | CandidatePairs, budget: ResolveBudget,
                          extra: ExtraConstraints | None = None, change: FlowChange | None = None,
                          person: tuple[Side, int] | None = None, key: Hashable | None = None) -> Resolved | None:
    """The best matching of `cohort` (the explained cohort changed, or its candidate pairs; with `extra`
    constraints): re-optimised from the baseline's optimal flow when `change` says what changed in its terms and
    the flow can answer exactly, else solved in full. None when the budget is spent.

    With `person`: when best matchings with and without a partner for this person tie, which one comes back is
    the solver's choice; then it is solved in full, so that whether she is matched is what a full solve says.
    A `key` naming the change (a relaxation asked about for several people) reuses its re-optimum and full solve.
    """
    seconds = budget.take()
    if seconds is None:
        return None
    started = time.monotonic()
    reoptimiser = ctx.reoptimiser() if change is not None else None
    found = None
    if reoptimiser is not None and change is not None:
        found = reoptimiser.reoptimise(change, key, None if person is None else (person[0] is Side.MENTEE, person[1]))
        if found is not None and found.ties:
            found = None
    out: Resolved | None
    if found is not None:
        status = SolveStatus.OPTIMAL if found.feasible else SolveStatus.INFEASIBLE
        out = Resolved(status, found.mentee if found.feasible else None, found.mentor if found.feasible else None,
                       True)
    else:
        out = ctx.solved.get(key) if key is not None else None
        if out is None:
            options = replace(ctx.solve_options, time_limit_s=min(ctx.solve_options.time_limit_s, seconds))
            if extra is not None:
                options = replace(options, extra_constraints=chain_constraints(options.extra_constraints, extra))
            out = resolved_from(ctx, solve(cohort, options))
            if key is not None:
                ctx.solved[key] = out
    budget.spent(time.monotonic() - started)
    return out


def resolved_from(ctx: ExplainContext, after: SolveResult) -> Resolved:
    """A full solve's best matching, in the explained cohort's indices."""
    best = after.best
    if best is None:
        return Resolved(after.status, None, None, False)
    pairs = best.pairs(after.candidates)
    return Resolved(best.status, np.array([ctx.mentee_index[a] for a, _ in pairs], dtype=np.int64),
                    np.array([ctx.mentor_index[b] for _, b in pairs], dtype=np.int64), False)


def measure_impact(ctx: ExplainContext, after: Resolved, person: tuple[Side, str] | None) -> Impact:
    before = dict(matched_before=ctx.matched, total_score_before=ctx.total_score, objective_before=ctx.objective_value)
    if after.mentee is None or after.mentor is None:
        return Impact(status=after.status, person_matched=None if person is None else False, partners=(),
                      matched_after=None, total_score_after=None, objective_after=None, pairs_removed=(),
                      pairs_added=(), **before)
    mentee, mentor = after.mentee, after.mentor
    mentees, mentors = ctx.cohort.mentees, ctx.cohort.mentors
    total = int(ctx.scores(mentee, mentor).sum())
    matched_priority = int(ctx.priority[mentee].sum())
    # The pairs that differ from the best matching's, by index keys; ids only for those (a re-solve moves few).
    m = max(1, len(mentors))
    keys = set((mentee * m + mentor).tolist())
    best_keys = ctx.best_keys()
    removed = sorted((mentees[k // m].id, mentors[k % m].id) for k in best_keys - keys)
    added = sorted((mentees[k // m].id, mentors[k % m].id) for k in keys - best_keys)
    partners: tuple[str, ...] = ()
    matched: bool | None = None
    if person is not None:
        side, person_id = person
        if side is Side.MENTEE:
            mine = mentor[mentee == ctx.mentee_index[person_id]]
            partners = tuple(sorted(mentors[b].id for b in mine.tolist()))
        else:
            mine = mentee[mentor == ctx.mentor_index[person_id]]
            partners = tuple(sorted(mentees[a].id for a in mine.tolist()))
        matched = bool(partners)
    return Impact(
        status=after.status, person_matched=matched, partners=partners,
        matched_after=len(mentee), total_score_after=total,
        objective_after=ctx.big * matched_priority + total - ctx.seat_costs(mentor),
        pairs_removed=tuple(removed), pairs_added=tuple(added),
        **before,
    )


def force_in(ctx: ExplainContext, view: PersonView, budget: ResolveBudget) -> Impact | None:
    """The best matching in which this person has a partner."""
    if not (view.allowed & view.room).any():
        return None
    if view.side is Side.MENTEE:
        # A priority above everyone else's together puts her first, then the usual objective.
        top = int(ctx.priority.sum()) + 1
        mentees = tuple(replace(p, priority=top) if k == view.index else p for k, p in enumerate(ctx.cohort.mentees))
        after = resolve_within_budget(ctx, replace(ctx.cohort, mentees=mentees), budget,
                                      change=FlowChange(force_mentee=view.index))
    else:
        j = view.index

        def has_mentee(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], model: AssignmentModel) -> None:
            # Imported here: only a full solve by CP-SAT calls this (the module takes ~0.2-0.4 s to import).
            from ortools.sat.python import cp_model

            rows = np.flatnonzero(model.mentor == j).tolist()
            cp.add(cp_model.LinearExpr.sum([x[r] for r in rows]) >= 1)

        after = resolve_within_budget(ctx, ctx.cohort, budget, extra=has_mentee, change=FlowChange(force_mentor=j))
    return None if after is None else measure_impact(ctx, after, (view.side, view.person_id))

@dataclass(frozen=True)
class _Step:
    key: tuple[float, ...]  # smaller = a smaller relaxation
    subject_id: str
    value: str
    current: str
    partners: tuple[str, ...] = ()  # side constraints: the allowed partners with room it keeps from her


def _relaxation_steps(ctx: ExplainContext, view: PersonView, state: MatchingState
                      ) -> dict[Relaxation, list[_Step]]:
    """Per relaxation, the changes that each give the person at least one new allowed partner, smallest first."""
    cohort = ctx.cohort
    steps: dict[Relaxation, dict[tuple[str, str], _Step]] = {}

    def add(kind: Relaxation, key: tuple[float, ...], subject: str, value: str, current: str,
            partners: tuple[str, ...] = ()) -> None:
        found = steps.setdefault(kind, {})
        old = found.get((subject, value))
        if old is None or key < old.key:
            found[(subject, value)] = _Step(key, subject, value, current, partners)

    if view.side is Side.MENTOR and ctx.capacity[view.index] == 0:
        if view.allowed.any():
            add(Relaxation.MENTOR_CAPACITY, (0.0,), view.person_id, "1", "0")
        return {k: sorted(v.values(), key=lambda s: (s.key, s.subject_id, s.value)) for k, v in steps.items()}

    for rule, finder in _STEP_FINDERS.items():
        for k in _fixable(view, rule).tolist():
            a, b = int(view.mentee[k]), int(view.mentor[k])
            finder(ctx, view, k, cohort.mentees[a], cohort.mentors[b], ctx.mentee_rules[a], add)
    if view.side is Side.MENTEE:
        for k in np.flatnonzero(view.allowed).tolist():
            b = int(view.mentor[k])
            if state.load[b] >= ctx.capacity[b]:
                add(Relaxation.MENTOR_CAPACITY, (-float(view.score[k]),), cohort.mentors[b].id,
                    str(int(ctx.capacity[b]) + 1), str(int(ctx.capacity[b])))
    # A binding cap or quota: raised by 1, 2, ... (tried in that order until she is matched).
    for binding in binding_side_constraints(ctx, view.side, view.index, state):
        for more in range(1, ctx.explain_options.values_per_relaxation + 1):
            add(binding.relaxation, (float(more),), binding.subject, str(binding.limit + more), str(binding.limit),
                binding.partners)
    return {k: sorted(v.values(), key=lambda s: (s.key, s.subject_id, s.value)) for k, v in steps.items()}


_Add = Callable[..., None]


def _distance_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                    rules: MenteeRules, add: _Add) -> None:
    """Limits raised (hers, or her rules'), her own longer limit allowed to count, or online meetings."""
    arrays = ctx.arrays
    a = int(view.mentee[k])
    km, minutes = float(view.km[k]), float(view.minutes[k])
    km_ok = km <= float(arrays.mentee_limit_km[a])
    minutes_ok = (not arrays.uses_travel_times
                  or (not math.isnan(minutes) and minutes <= float(arrays.mentee_limit_minutes[a])))
    extend = rules.personal_limits_extend
    if minutes_ok and not km_ok:
        _limit_steps(add, km, mentee.max_travel_km, rules.max_distance_km, extend, mentee.id,
                     rule_source(ctx.cohort.rules, mentee, "max_distance_km"),
                     Relaxation.PERSONAL_DISTANCE_KM, Relaxation.PROGRAMME_DISTANCE_KM)
    elif km_ok and not minutes_ok and not math.isnan(minutes):
        _limit_steps(add, minutes, mentee.max_travel_minutes, rules.max_travel_minutes, extend, mentee.id,
                     rule_source(ctx.cohort.rules, mentee, "max_travel_minutes"),
                     Relaxation.PERSONAL_TRAVEL_MINUTES, Relaxation.PROGRAMME_TRAVEL_MINUTES)
    if not extend and _extends_to(mentee, arrays.uses_travel_times, km, minutes):
        add(Relaxation.EXTEND_PERSONAL_LIMITS, (-float(view.score[k]),),
            rule_source(ctx.cohort.rules, mentee, "personal_limits_extend"), "true", "false")
    source = rule_source(ctx.cohort.rules, mentee, "online_meetings")
    if not rules.online_meetings and mentee.online and mentor.online:
        add(Relaxation.ONLINE_MEETINGS, (-float(view.score[k]),), source, "true", "false")
    elif rules.online_meetings and mentee.online != mentor.online:
        who = mentor if mentee.online else mentee
        add(Relaxation.ACCEPT_ONLINE, (-float(view.score[k]),), who.id, "true", "false")


def _limit_steps(add: _Add, needed: float, personal: float | None, programme: float | None, extend: bool,
                 mentee_id: str, source: str, personal_kind: Relaxation, programme_kind: Relaxation) -> None:
    """Raise whichever limit binds: hers, her rules' (from `source`), or hers alone when personal limits extend."""
    value = ceil_tenth(needed)
    if extend and personal is not None:
        add(personal_kind, (needed,), mentee_id, value, f"{personal:.1f}")
        return
    if personal is not None and personal < needed and (programme is None or needed <= programme):
        add(personal_kind, (needed,), mentee_id, value, f"{personal:.1f}")
    if programme is not None and programme < needed and (personal is None or needed <= personal):
        add(programme_kind, (needed,), source, value, f"{programme:.1f}")


def _extends_to(mentee: Mentee, uses_travel_times: bool, km: float, minutes: float) -> bool:
    """Whether her own limit reaches the partner, so that letting it count (even above her rules') would do."""
    if uses_travel_times:
        return mentee.max_travel_minutes is not None and not math.isnan(minutes) and minutes <= mentee.max_travel_minutes
    return mentee.max_travel_km is not None and km <= mentee.max_travel_km


def _field_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                 rules: MenteeRules, add: _Add) -> None:
    digits = int(view.digits[k])
    add(Relaxation.FIELD_DEPTH, (-float(digits),), rule_source(ctx.cohort.rules, mentee, "field_depth"),
        str(digits), str(rules.field_depth))
    if rules.field_rule is FieldRule.PREFIX and set(ctx.families_of(mentee.occupations)) & set(
            ctx.families_of(mentor.occupations)):
        add(Relaxation.FIELD_FAMILY, (-float(view.score[k]),), rule_source(ctx.cohort.rules, mentee, "field_rule"),
            FieldRule.FAMILY.value, rules.field_rule.value)


def _language_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                    rules: MenteeRules, add: _Add) -> None:
    a, b = int(view.mentee[k]), int(view.mentor[k])
    level = rules.min_language_level
    source = rule_source(ctx.cohort.rules, mentee, "min_language_level")
    _, best = ctx.common_level(a, b, rules.programme_languages)
    if best >= 1:
        add(Relaxation.LANGUAGE_LEVEL, (-float(best),), source, cefr_name(best), cefr_name(level))
    if rules.programme_languages:
        common = np.minimum(ctx.mentee_levels[a], ctx.mentor_levels[b])
        for code, at in zip(ctx.language_codes, common.tolist(), strict=False):
            if at >= level and code not in rules.programme_languages:
                add(Relaxation.PROGRAMME_LANGUAGE, (-float(view.score[k]),),
                    rule_source(ctx.cohort.rules, mentee, "programme_languages"), code,
                    ",".join(rules.programme_languages))


def _gender_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                  rules: MenteeRules, add: _Add) -> None:
    add(Relaxation.LIFT_GENDER_REQUEST, (-float(view.score[k]),), mentee.id, "", mentee.requested_mentor_gender)


def _eligibility_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                       rules: MenteeRules, add: _Add) -> None:
    programme = ctx.cohort.rules
    a = int(view.mentee[k])
    few_years = mentor.years_experience < rules.min_mentor_years
    if ctx.arrays.mentee_eligible[a] and few_years:
        add(Relaxation.MENTOR_YEARS, (-float(mentor.years_experience),),
            rule_source(programme, mentee, "min_mentor_years"), str(mentor.years_experience),
            str(rules.min_mentor_years))
    elif not few_years and not ctx.arrays.mentee_eligible[a]:
        bad_place = bool(programme.eligible_municipalities) and mentee.municipality not in programme.eligible_municipalities
        bad_track = bool(programme.eligible_tracks) and mentee.track not in programme.eligible_tracks
        if bad_place and not bad_track and mentee.municipality:
            add(Relaxation.ADD_MUNICIPALITY, (-float(view.score[k]),), "", mentee.municipality,
                ",".join(programme.eligible_municipalities))
        if bad_track and not bad_place and mentee.track is not Track.UNSPECIFIED:
            add(Relaxation.ADD_TRACK, (-float(view.score[k]),), "", mentee.track.value,
                ",".join(t.value for t in programme.eligible_tracks))


def _goal_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                rules: MenteeRules, add: _Add) -> None:
    """Ask the mentor to support her goal too (or the first goal her segment takes)."""
    goal = mentee.goal if mentee.goal in rules.mentor_goals else rules.mentor_goals[0]
    add(Relaxation.ADD_MENTOR_GOAL, (-float(view.score[k]),), mentor.id, goal.value,
        ",".join(g.value for g in mentor.goals))


def _choice_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
                  rules: MenteeRules, add: _Add) -> None:
    """Every weaker mutual-choice setting that allows the pair, the strongest (the smallest change) first."""
    by_mentee, by_mentor = ctx.rank(mentee.id, mentor.id) > 0, ctx.rank(mentor.id, mentee.id) > 0
    current = rules.mutual_choice
    for choice, strength in MUTUAL_CHOICE_STRENGTH.items():
        if strength < MUTUAL_CHOICE_STRENGTH[current] and choice_allows(choice, by_mentee, by_mentor):
            add(Relaxation.MUTUAL_CHOICE, (-float(strength), -float(view.score[k])),
                rule_source(ctx.cohort.rules, mentee, "mutual_choice"), choice.value, current.value)


def _ban_steps(ctx: ExplainContext, view: PersonView, k: int, mentee: Mentee, mentor: Mentor,
               rules: MenteeRules, add: _Add) -> None:
    if decline_text(ctx.cohort, mentee.id, mentor.id):
        return  # a person declined the pair: lifting that is not the coordinator's to propose
    add(Relaxation.LIFT_BAN, (-float(view.score[k]),), mentee.id, mentor.id, "banned")


# A conflict of interest is never proposed for lifting: it protects the programme, not a preference.
_STEP_FINDERS: dict[HardRule, Callable[[ExplainContext, PersonView, int, Mentee, Mentor, MenteeRules, _Add], None]] = {
    HardRule.DISTANCE: _distance_steps,
    HardRule.FIELD: _field_steps,
    HardRule.LANGUAGE: _language_steps,
    HardRule.GENDER: _gender_steps,
    HardRule.ELIGIBILITY: _eligibility_steps,
    HardRule.GOAL: _goal_steps,
    HardRule.CHOICE: _choice_steps,
    HardRule.BAN: _ban_steps,
}


def _fixable(view: PersonView, rule: HardRule) -> IntArray:
    """Partners (positions in the view) with room that fail `rule` and pass every other hard rule: the only
    ones a relaxation of that rule alone can make allowed."""
    others = view.room.copy()
    for other, mask in view.masks.items():
        if other is not rule:
            others &= mask
    return np.flatnonzero(~view.masks[rule] & others).astype(np.int64)


def _usable_partners(cohort: Cohort, view: PersonView, pool: IntArray) -> set[str]:
    """Ids of the partners in `pool` (positions in the view) allowed with the person, and with room, in a
    (relaxed) cohort. Checked on a sub-cohort of the person and the pool, so it costs O(pool)."""

    if len(pool) == 0:
        return set()
    if view.side is Side.MENTEE:
        sub = replace(cohort, mentees=(cohort.mentees[view.index],),
                      mentors=tuple(cohort.mentors[int(j)] for j in view.mentor[pool].tolist()))
        mentee, mentor = np.zeros(len(pool), dtype=np.int64), np.arange(len(pool), dtype=np.int64)
        capacity = np.array([p.capacity for p in sub.mentors], dtype=np.int64)
    else:
        sub = replace(cohort, mentors=(cohort.mentors[view.index],),
                      mentees=tuple(cohort.mentees[int(i)] for i in view.mentee[pool].tolist()))
        mentee, mentor = np.arange(len(pool), dtype=np.int64), np.zeros(len(pool), dtype=np.int64)
        capacity = np.full(len(pool), sub.mentors[0].capacity, dtype=np.int64)
    # Only the rankings between these people (mutual choice reads them).
    ids = {p.id for p in sub.mentees} | {p.id for p in sub.mentors}
    sub = replace(sub, rankings=tuple(r for r in cohort.rankings if r.from_id in ids and r.to_id in ids))
    masks = rule_masks(cohort_arrays(sub), mentee, mentor)
    ok = capacity > 0
    for mask in masks.values():
        ok &= mask
    people = sub.mentors if view.side is Side.MENTEE else sub.mentees
    return {people[k].id for k in np.flatnonzero(ok).tolist()}


def _new_partners(ctx: ExplainContext, view: PersonView, pool: IntArray, mentee: IntArray, mentor: IntArray
                  ) -> set[str]:
    """What `_usable_partners` says, from the pairs a relaxation allows anew (`relaxed.Relaxer.change`): the
    person's new pairs with a partner in `pool`."""
    mine, theirs = (mentee, mentor) if view.side is Side.MENTEE else (mentor, mentee)
    partners = set(theirs[mine == view.index].tolist()) & set(view.partner[pool].tolist())
    people = ctx.cohort.mentors if view.side is Side.MENTEE else ctx.cohort.mentees
    return {people[k].id for k in partners}


def _whose(subject: str) -> str:
    return f"segment {subject}'s" if subject else "the programme's"


def _describe(relaxation: Relaxation, step: _Step) -> str:
    subject, value, current = step.subject_id, step.value, step.current
    whose = _whose(subject)
    return {
        Relaxation.PERSONAL_DISTANCE_KM: f"raise {subject}'s own distance limit from {current} km to {value} km",
        Relaxation.PROGRAMME_DISTANCE_KM: f"raise {whose} distance limit from {current} km to {value} km",
        Relaxation.PERSONAL_TRAVEL_MINUTES: f"raise {subject}'s own travel limit from {current} to {value} min",
        Relaxation.PROGRAMME_TRAVEL_MINUTES: f"raise {whose} travel limit from {current} to {value} min",
        Relaxation.FIELD_DEPTH: (f"lower {whose} field depth from {current} to {value} ISCO digit(s)" if value != "0"
                                 else f"drop {whose} field requirement"),
        Relaxation.LANGUAGE_LEVEL: f"lower {whose} required language level from {current} to {value}",
        Relaxation.LIFT_GENDER_REQUEST: f"lift {subject}'s request for a mentor of gender {current}",
        Relaxation.MENTOR_YEARS: f"lower {whose} required mentor experience from {current} to {value} years",
        Relaxation.ADD_MUNICIPALITY: f"make municipality {value} eligible",
        Relaxation.ADD_TRACK: f"make the track {value} eligible",
        Relaxation.LIFT_BAN: f"lift the ban on {subject} with {value}",
        Relaxation.MENTOR_CAPACITY: f"let {subject} take {value} mentee(s) instead of {current}",
        Relaxation.ONLINE_MEETINGS: f"allow online meetings ({whose} online_meetings = true; both accept online)",
        Relaxation.ACCEPT_ONLINE: f"ask {subject} to accept online meetings (the other one does, and the rules allow "
                                  "them)",
        Relaxation.EXTEND_PERSONAL_LIMITS: f"let personal limits extend ({whose} personal_limits_extend = true: her "
                                           "own longer limit counts)",
        Relaxation.FIELD_FAMILY: f"use the field-family rule ({whose} field_rule = \"family\")",
        Relaxation.PROGRAMME_LANGUAGE: (f"add {value} to segment {subject}'s programme languages ({current})" if subject
                                        else f"add {value} to the programme languages ({current})"),
        Relaxation.ADD_MENTOR_GOAL: f"ask {subject} to also support the goal {value}",
        Relaxation.MUTUAL_CHOICE: f"relax {whose} mutual choice from {current} to {value}",
        Relaxation.ORGANISATION_CAP: f"raise the organisation cap of {subject} from {current} to {value}",
        Relaxation.GENDER_QUOTA_MAX: f"raise the gender quota {subject} max_pairs from {current} to {value}",
    }[relaxation]


def _counterfactual(ctx: ExplainContext, view: PersonView, relaxation: Relaxation, steps: list[_Step],
                    budget: ResolveBudget) -> Counterfactual | None:
    pool = _fixable(view, relaxation.rule) if relaxation.rule is not None else np.zeros(0, dtype=np.int64)
    side_constraint = relaxation in SIDE_CONSTRAINT_RELAXATIONS
    matchable_at: str | None = None
    tried = 0
    last: tuple[_Step, tuple[str, ...], Impact | None] | None = None
    for step in steps:
        if tried >= ctx.explain_options.values_per_relaxation:
            break
        relaxed = apply_relaxation(ctx.cohort, relaxation, step.subject_id, step.value)
        key = (relaxation, step.subject_id, step.value)  # the same relaxation for another person: the same cohort
        read = ctx.relaxer().change(relaxed, key) if ctx.reoptimiser() is not None else None
        new = tuple(sorted(_usable_partners(relaxed, view, pool) if read is None
                           else _new_partners(ctx, view, pool, read.change.new_mentee, read.change.new_mentor)))
        if relaxation is Relaxation.MENTOR_CAPACITY:
            new = (step.subject_id,)
        elif side_constraint:
            new = step.partners
        if not new:
            continue
        if matchable_at is None:
            matchable_at = step.value
        tried += 1
        after = resolve_within_budget(ctx, relaxed if read is None else read.candidates(ctx.candidates), budget,
                                      change=None if read is None else read.change, person=(view.side, view.index),
                                      key=key)
        effect = None if after is None else measure_impact(ctx, after, (view.side, view.person_id))
        last = (step, new, effect)
        if effect is None or effect.person_matched:
            break
    if last is None or matchable_at is None:
        return None
    step, new, effect = last
    matched = bool(effect is not None and effect.person_matched)
    if side_constraint:
        sentence = (f"{_describe(relaxation, step)}: {view.person_id}'s {len(new)} allowed partner(s) with room "
                    f"({id_list(new)}) are no longer held back")
        who = f"; {view.person_id}"
    else:
        sentence = (f"{_describe(relaxation, step)}: {view.person_id} gains {len(new)} allowed partner(s) "
                    f"({id_list(new)})")
        who = " and"
    if effect is None:
        sentence += "; not re-solved (explanation budget spent)"
    elif matched:
        sentence += f"{who} is matched with {id_list(effect.partners)}; {effect.summary()}"
    else:
        sentence += f"{' but' if who == ' and' else who} is still not matched; {effect.summary()}"
    return Counterfactual(
        person_id=view.person_id, relaxation=relaxation, rule=relaxation.rule, subject_id=step.subject_id,
        current=step.current, matchable_at=matchable_at, proposed=step.value, new_partners=new,
        person_matched=matched, effect=effect, values_tried=tried, sentence=sentence,
    )


def find_counterfactuals(ctx: ExplainContext, view: PersonView, state: MatchingState, budget: ResolveBudget
                         ) -> tuple[Counterfactual, ...]:
    found = []
    for relaxation, steps in _relaxation_steps(ctx, view, state).items():
        made = _counterfactual(ctx, view, relaxation, steps, budget)
        if made is not None:
            found.append(made)
    order = list(Relaxation)
    found.sort(key=lambda c: (not c.person_matched, not c.relaxation.personal,
                              c.effect.pairs_changed if c.effect is not None else 1 << 30,
                              order.index(c.relaxation)))
    return tuple(found)

"""Re-solves: the cost of forcing a person in, and the single relaxations that would match them."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from ortools.sat.python import cp_model

from solver.candidates import HardRule, IntArray, cohort_arrays, rule_masks
from solver.domain import Cohort, Track, cefr_name
from solver.explain.codes import Relaxation, Side, apply_relaxation
from solver.explain.context import ExplainContext, MatchingState, PersonView
from solver.explain.types import Counterfactual, Impact
from solver.explain.wording import ceil_tenth, id_list
from solver.solve import AssignmentModel, SolveResult, chain_constraints, solve
from solver.stop import StopToken

ExtraConstraints = Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None]


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


def resolve_within_budget(ctx: ExplainContext, cohort: Cohort, budget: ResolveBudget,
                          extra: ExtraConstraints | None = None) -> SolveResult | None:
    seconds = budget.take()
    if seconds is None:
        return None
    options = replace(ctx.solve_options, time_limit_s=min(ctx.solve_options.time_limit_s, seconds))
    if extra is not None:
        options = replace(options, extra_constraints=chain_constraints(options.extra_constraints, extra))
    started = time.monotonic()
    result = solve(cohort, options)
    budget.spent(time.monotonic() - started)
    return result


def measure_impact(ctx: ExplainContext, after: SolveResult, person: tuple[Side, str] | None) -> Impact:
    best = after.best
    before = dict(matched_before=ctx.matched, total_score_before=ctx.total_score, objective_before=ctx.objective_value)
    if best is None:
        return Impact(status=after.status, person_matched=None if person is None else False, partners=(),
                      matched_after=None, total_score_after=None, objective_after=None, pairs_removed=(),
                      pairs_added=(), **before)
    pairs = best.pairs(after.candidates)
    mentee = np.array([ctx.mentee_index[a] for a, _ in pairs], dtype=np.int64)
    mentor = np.array([ctx.mentor_index[b] for _, b in pairs], dtype=np.int64)
    total = int(ctx.scores(mentee, mentor).sum())
    matched_priority = int(ctx.priority[mentee].sum())
    after_set = set(pairs)
    partners: tuple[str, ...] = ()
    matched: bool | None = None
    if person is not None:
        side, person_id = person
        partners = tuple(sorted(b if side is Side.MENTEE else a for a, b in pairs
                                if (a if side is Side.MENTEE else b) == person_id))
        matched = bool(partners)
    return Impact(
        status=best.status, person_matched=matched, partners=partners,
        matched_after=len(pairs), total_score_after=total,
        objective_after=ctx.big * matched_priority + total - ctx.seat_costs(mentor),
        pairs_removed=tuple(sorted(ctx.best_pairs - after_set)), pairs_added=tuple(sorted(after_set - ctx.best_pairs)),
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
        after = resolve_within_budget(ctx, replace(ctx.cohort, mentees=mentees), budget)
    else:
        j = view.index

        def has_mentee(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], model: AssignmentModel) -> None:
            rows = np.flatnonzero(model.mentor == j).tolist()
            cp.add(cp_model.LinearExpr.sum([x[r] for r in rows]) >= 1)

        after = resolve_within_budget(ctx, ctx.cohort, budget, extra=has_mentee)
    return None if after is None else measure_impact(ctx, after, (view.side, view.person_id))

@dataclass(frozen=True)
class _Step:
    key: tuple[float, ...]  # smaller = a smaller relaxation
    subject_id: str
    value: str
    current: str


def _relaxation_steps(ctx: ExplainContext, view: PersonView, state: MatchingState
                      ) -> dict[Relaxation, list[_Step]]:
    """Per relaxation, the changes that each give the person at least one new allowed partner, smallest first."""
    cohort, arrays, rules = ctx.cohort, ctx.arrays, ctx.cohort.rules
    steps: dict[Relaxation, dict[tuple[str, str], _Step]] = {}

    def add(kind: Relaxation, key: tuple[float, ...], subject: str, value: str, current: str) -> None:
        found = steps.setdefault(kind, {})
        old = found.get((subject, value))
        if old is None or key < old.key:
            found[(subject, value)] = _Step(key, subject, value, current)

    if view.side is Side.MENTOR and ctx.capacity[view.index] == 0:
        if view.allowed.any():
            add(Relaxation.MENTOR_CAPACITY, (0.0,), view.person_id, "1", "0")
        return {k: sorted(v.values(), key=lambda s: (s.key, s.subject_id, s.value)) for k, v in steps.items()}

    def fixable(rule: HardRule) -> list[int]:
        return _fixable(view, rule).tolist()

    programme_km, programme_minutes = rules.max_distance_km, rules.max_travel_minutes
    for k in fixable(HardRule.DISTANCE):
        mentee = cohort.mentees[int(view.mentee[k])]
        km, minutes = float(view.km[k]), float(view.minutes[k])
        km_ok = km <= float(arrays.mentee_limit_km[view.mentee[k]])
        minutes_ok = (not arrays.uses_travel_times
                      or (not math.isnan(minutes) and minutes <= float(arrays.mentee_limit_minutes[view.mentee[k]])))
        if minutes_ok and not km_ok:
            value = ceil_tenth(km)
            personal = mentee.max_travel_km
            if personal is not None and personal < km and (programme_km is None or km <= programme_km):
                add(Relaxation.PERSONAL_DISTANCE_KM, (km,), mentee.id, value, f"{personal:.1f}")
            if programme_km is not None and programme_km < km and (personal is None or km <= personal):
                add(Relaxation.PROGRAMME_DISTANCE_KM, (km,), "", value, f"{programme_km:.1f}")
        elif km_ok and not minutes_ok and not math.isnan(minutes):
            value = ceil_tenth(minutes)
            personal = mentee.max_travel_minutes
            if personal is not None and personal < minutes and (programme_minutes is None
                                                                  or minutes <= programme_minutes):
                add(Relaxation.PERSONAL_TRAVEL_MINUTES, (minutes,), mentee.id, value, f"{personal:.1f}")
            if programme_minutes is not None and programme_minutes < minutes and (personal is None
                                                                                  or minutes <= personal):
                add(Relaxation.PROGRAMME_TRAVEL_MINUTES, (minutes,), "", value, f"{programme_minutes:.1f}")
    for k in fixable(HardRule.FIELD):
        digits = int(view.digits[k])
        add(Relaxation.FIELD_DEPTH, (-float(digits),), "", str(digits), str(rules.field_depth))
    for k in fixable(HardRule.LANGUAGE):
        level = int(view.language[k])
        if level >= 1:
            add(Relaxation.LANGUAGE_LEVEL, (-float(level),), "", cefr_name(level), cefr_name(rules.min_language_level))
    for k in fixable(HardRule.GENDER):
        mentee = cohort.mentees[int(view.mentee[k])]
        add(Relaxation.LIFT_GENDER_REQUEST, (-float(view.score[k]),), mentee.id, "", mentee.requested_mentor_gender)
    for k in fixable(HardRule.ELIGIBILITY):
        a, b = int(view.mentee[k]), int(view.mentor[k])
        mentee, mentor = cohort.mentees[a], cohort.mentors[b]
        if arrays.mentee_eligible[a] and not arrays.mentor_eligible[b]:
            add(Relaxation.MENTOR_YEARS, (-float(mentor.years_experience),), "", str(mentor.years_experience),
                str(rules.min_mentor_years))
        elif arrays.mentor_eligible[b] and not arrays.mentee_eligible[a]:
            bad_place = bool(rules.eligible_municipalities) and mentee.municipality not in rules.eligible_municipalities
            bad_track = bool(rules.eligible_tracks) and mentee.track not in rules.eligible_tracks
            if bad_place and not bad_track and mentee.municipality:
                add(Relaxation.ADD_MUNICIPALITY, (-float(view.score[k]),), "", mentee.municipality,
                    ",".join(rules.eligible_municipalities))
            if bad_track and not bad_place and mentee.track is not Track.UNSPECIFIED:
                add(Relaxation.ADD_TRACK, (-float(view.score[k]),), "", mentee.track.value,
                    ",".join(t.value for t in rules.eligible_tracks))
    for k in fixable(HardRule.BAN):
        a, b = int(view.mentee[k]), int(view.mentor[k])
        add(Relaxation.LIFT_BAN, (-float(view.score[k]),), cohort.mentees[a].id, cohort.mentors[b].id, "banned")
    if view.side is Side.MENTEE:
        for k in np.flatnonzero(view.allowed).tolist():
            b = int(view.mentor[k])
            if state.load[b] >= ctx.capacity[b]:
                add(Relaxation.MENTOR_CAPACITY, (-float(view.score[k]),), cohort.mentors[b].id,
                    str(int(ctx.capacity[b]) + 1), str(int(ctx.capacity[b])))
    return {k: sorted(v.values(), key=lambda s: (s.key, s.subject_id, s.value)) for k, v in steps.items()}


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
                      mentors=tuple(cohort.mentors[int(j)] for j in view.mentor[pool].tolist()), rankings=())
        mentee, mentor = np.zeros(len(pool), dtype=np.int64), np.arange(len(pool), dtype=np.int64)
        capacity = np.array([p.capacity for p in sub.mentors], dtype=np.int64)
    else:
        sub = replace(cohort, mentors=(cohort.mentors[view.index],),
                      mentees=tuple(cohort.mentees[int(i)] for i in view.mentee[pool].tolist()), rankings=())
        mentee, mentor = np.arange(len(pool), dtype=np.int64), np.zeros(len(pool), dtype=np.int64)
        capacity = np.full(len(pool), sub.mentors[0].capacity, dtype=np.int64)
    masks = rule_masks(cohort_arrays(sub), mentee, mentor)
    ok = capacity > 0
    for mask in masks.values():
        ok &= mask
    people = sub.mentors if view.side is Side.MENTEE else sub.mentees
    return {people[k].id for k in np.flatnonzero(ok).tolist()}


def _describe(relaxation: Relaxation, step: _Step) -> str:
    subject, value, current = step.subject_id, step.value, step.current
    return {
        Relaxation.PERSONAL_DISTANCE_KM: f"raise {subject}'s own distance limit from {current} km to {value} km",
        Relaxation.PROGRAMME_DISTANCE_KM: f"raise the programme's distance limit from {current} km to {value} km",
        Relaxation.PERSONAL_TRAVEL_MINUTES: f"raise {subject}'s own travel limit from {current} to {value} min",
        Relaxation.PROGRAMME_TRAVEL_MINUTES: f"raise the programme's travel limit from {current} to {value} min",
        Relaxation.FIELD_DEPTH: (f"lower the field depth from {current} to {value} ISCO digit(s)" if value != "0"
                                 else "drop the field requirement"),
        Relaxation.LANGUAGE_LEVEL: f"lower the required language level from {current} to {value}",
        Relaxation.LIFT_GENDER_REQUEST: f"lift {subject}'s request for a mentor of gender {current}",
        Relaxation.MENTOR_YEARS: f"lower the required mentor experience from {current} to {value} years",
        Relaxation.ADD_MUNICIPALITY: f"make municipality {value} eligible",
        Relaxation.ADD_TRACK: f"make the track {value} eligible",
        Relaxation.LIFT_BAN: f"lift the ban on {subject} with {value}",
        Relaxation.MENTOR_CAPACITY: f"let {subject} take {value} mentee(s) instead of {current}",
    }[relaxation]


def _counterfactual(ctx: ExplainContext, view: PersonView, relaxation: Relaxation, steps: list[_Step],
                    budget: ResolveBudget) -> Counterfactual | None:
    pool = _fixable(view, relaxation.rule) if relaxation.rule is not None else np.zeros(0, dtype=np.int64)
    matchable_at: str | None = None
    tried = 0
    last: tuple[_Step, tuple[str, ...], Impact | None] | None = None
    for step in steps:
        if tried >= ctx.explain_options.values_per_relaxation:
            break
        relaxed = apply_relaxation(ctx.cohort, relaxation, step.subject_id, step.value)
        new = tuple(sorted(_usable_partners(relaxed, view, pool)))
        if relaxation is Relaxation.MENTOR_CAPACITY:
            new = (step.subject_id,)
        if not new:
            continue
        if matchable_at is None:
            matchable_at = step.value
        tried += 1
        after = resolve_within_budget(ctx, relaxed, budget)
        effect = None if after is None else measure_impact(ctx, after, (view.side, view.person_id))
        last = (step, new, effect)
        if effect is None or effect.person_matched:
            break
    if last is None or matchable_at is None:
        return None
    step, new, effect = last
    matched = bool(effect is not None and effect.person_matched)
    sentence = f"{_describe(relaxation, step)}: {view.person_id} gains {len(new)} allowed partner(s) ({id_list(new)})"
    if effect is None:
        sentence += "; not re-solved (explanation budget spent)"
    elif matched:
        sentence += f" and is matched with {id_list(effect.partners)}; {effect.summary()}"
    else:
        sentence += f" but is still not matched; {effect.summary()}"
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

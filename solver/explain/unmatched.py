"""Why one person is unmatched: the funnel, the reason code, the nearest misses, who took the partners."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from solver.candidates import FloatArray, HardRule, IntArray, funnel
from solver.domain import cefr_name
from solver.explain.codes import RULE_REASON, Side, UnmatchedReason
from solver.explain.context import ExplainContext, MatchingState, PersonView, person_view
from solver.explain.facts import pair_checks
from solver.explain.types import Funnel, FunnelStep, NearMiss, Reason, TakenBy
from solver.explain.wording import km_text, minutes_text
from solver.stop import StopToken


def person_funnel(ctx: ExplainContext, side: Side, index: int, state: MatchingState) -> Funnel:
    """The elimination funnel (`solver.candidates.funnel`) and what is left of it in this matching."""
    partners, _ = ctx.allowed_partners(side, index)
    if side is Side.MENTEE:
        steps = funnel(ctx.arrays, mentee=index)
        total = ctx.arrays.n_mentors
        room = ctx.capacity[partners] > 0
        free = room & (state.load[partners] < ctx.capacity[partners])
    else:
        steps = funnel(ctx.arrays, mentor=index)
        total = ctx.arrays.n_mentees
        room = np.ones(len(partners), dtype=np.bool_)
        free = state.partner_of_mentee[partners] < 0
    left = total
    out = []
    for rule, removed in steps:
        left -= removed
        out.append(FunnelStep(rule, removed, left))
    return Funnel(total, tuple(out), len(partners), int(room.sum()), int(free.sum()))


def primary_reason(ctx: ExplainContext, side: Side, index: int, found: Funnel) -> Reason:
    cohort, rules = ctx.cohort, ctx.cohort.rules
    other = "mentor" if side is Side.MENTEE else "mentee"
    if found.partners == 0:
        code = UnmatchedReason.NO_MENTORS if side is Side.MENTEE else UnmatchedReason.NO_MENTEES
        return Reason(code, None, f"the cohort has no {other}s")
    if side is Side.MENTOR and ctx.capacity[index] == 0:
        return Reason(UnmatchedReason.NO_CAPACITY, None, "the mentor's capacity is 0")
    ends = found.ends_at
    if ends is not None:
        before = next(s.remaining + s.removed for s in found.steps if s.rule is ends)
        code = RULE_REASON[side][ends]
        if ends is HardRule.ELIGIBILITY:
            if side is Side.MENTEE and not ctx.arrays.mentee_eligible[index]:
                message = "the mentee is not eligible (municipality or track)"
            elif side is Side.MENTOR and not ctx.arrays.mentor_eligible[index]:
                message = f"the mentor has fewer than the {rules.min_mentor_years} years of experience required"
            else:
                message = f"no eligible {other}"
        elif ends is HardRule.FIELD:
            message = f"none of the {before} eligible {other}s shares the field at {rules.field_depth} ISCO digit(s)"
        elif ends is HardRule.DISTANCE:
            if side is Side.MENTEE:
                limit = (minutes_text(float(ctx.arrays.mentee_limit_minutes[index])) if ctx.arrays.uses_travel_times
                         else km_text(float(ctx.arrays.mentee_limit_km[index])))
                message = f"none of the {before} mentors in the field is within reach ({limit})"
            else:
                message = f"none of the {before} mentees in the field lives within reach of the workplace"
        elif ends is HardRule.LANGUAGE:
            message = (f"none of the {before} {other}s within reach has a common language at "
                       f"{cefr_name(rules.min_language_level)} or better")
        elif ends is HardRule.GENDER:
            message = (f"the mentee asked for a mentor of gender {cohort.mentees[index].requested_mentor_gender}; "
                       f"none of the {before} otherwise suitable mentors is" if side is Side.MENTEE else
                       f"all {before} otherwise suitable mentees asked for a mentor of another gender")
        else:
            message = f"all {before} otherwise suitable {other}s are banned for this {side.value}"
        return Reason(code, ends, message)
    if side is Side.MENTEE and found.with_capacity == 0:
        return Reason(UnmatchedReason.NO_MENTOR_CAPACITY, None,
                      f"the {found.allowed} allowed mentor(s) all have capacity 0")
    if found.free > 0:
        return Reason(UnmatchedReason.SIDE_CONSTRAINTS, None,
                      f"{found.free} allowed {other}(s) had room, but a side constraint (organisation cap, gender "
                      f"quota, stability, a pin, or the difference from a better matching) kept the pair out")
    code = UnmatchedReason.CANDIDATES_ALL_TAKEN if side is Side.MENTEE else UnmatchedReason.MENTEES_ALL_TAKEN
    return Reason(code, None, f"{found.with_capacity} allowed {other}(s), all matched with others")


_MISS_POOL = 2000  # per person, the closest misses whose scores break ties


def _miss_gap(ctx: ExplainContext, view: PersonView) -> tuple[IntArray, FloatArray]:
    """Per partner: how many rules fail, and the sum of their relative shortfalls (each 0..1)."""
    arrays, rules = ctx.arrays, ctx.cohort.rules
    failed = np.zeros(len(view.partner), dtype=np.int64)
    gap = np.zeros(len(view.partner), dtype=np.float64)
    for rule, mask in view.masks.items():
        fails = ~mask
        failed += fails
        if rule is HardRule.ELIGIBILITY:
            short = np.clip((rules.min_mentor_years - ctx.years[view.mentor]) / max(rules.min_mentor_years, 1), 0, 1)
            part = np.where(arrays.mentee_eligible[view.mentee], short, 1.0)
        elif rule is HardRule.FIELD:
            part = (rules.field_depth - view.digits) / max(rules.field_depth, 1)
        elif rule is HardRule.DISTANCE:
            part = _relative_excess(view.km, arrays.mentee_limit_km[view.mentee])
            if arrays.uses_travel_times:
                over = _relative_excess(np.nan_to_num(view.minutes), arrays.mentee_limit_minutes[view.mentee])
                part = np.maximum(part, np.where(np.isnan(view.minutes), 1.0, over))
        elif rule is HardRule.LANGUAGE:
            part = np.where(view.language > 0, (rules.min_language_level - view.language) / 6.0, 1.0)
        else:
            part = np.ones(len(view.partner))
        gap += np.where(fails, part, 0.0)
    return failed, gap


def fill_nearest_misses(ctx: ExplainContext, people: Sequence[tuple[Side, int]], k: int) -> None:
    """Fills `ctx.near_misses` for these people: the partners that fail the fewest rules, by the least
    (summed relative shortfall), then the highest score. Scores come from one batched call."""
    todo = [p for p in people if p not in ctx.near_misses]
    pools: list[tuple[tuple[Side, int], PersonView, IntArray, IntArray, FloatArray]] = []
    stop = StopToken.of(ctx.explain_options.stop)
    for side, index in todo:
        stop.check()
        view = person_view(ctx, side, index, scored=False)
        candidates = np.flatnonzero(~view.allowed & view.room)
        if k <= 0 or len(candidates) == 0:
            ctx.near_misses[(side, index)] = ()
            continue
        failed, gap = _miss_gap(ctx, view)
        order = candidates[np.lexsort((view.partner[candidates], gap[candidates], failed[candidates]))]
        # Everything tied with the k-th closest takes part in the score tie-break.
        kth = order[min(k, len(order)) - 1]
        tied = order[(failed[order] < failed[kth]) | ((failed[order] == failed[kth]) & (gap[order] <= gap[kth]))]
        pool = tied[:_MISS_POOL]
        pools.append(((side, index), view, pool, failed[pool], gap[pool]))
    if not pools:
        return
    stop.check()
    scores = ctx.scores(np.concatenate([v.mentee[pool] for _, v, pool, _, _ in pools]),
                        np.concatenate([v.mentor[pool] for _, v, pool, _, _ in pools]))
    start = 0
    for person, view, pool, failed, gap in pools:
        score = scores[start:start + len(pool)]
        start += len(pool)
        best = np.lexsort((view.partner[pool], -score, gap, failed))[:k]
        out = []
        for j in best.tolist():
            a, b = int(view.mentee[pool[j]]), int(view.mentor[pool[j]])
            checks = pair_checks(ctx, a, b)
            out.append(NearMiss(view.partner_id(ctx, int(pool[j])),
                                tuple(c.shortfall for c in checks if c.shortfall is not None), int(score[j])))
        ctx.near_misses[person] = tuple(out)


def _relative_excess(value: FloatArray, limit: FloatArray) -> FloatArray:
    """How far beyond its limit each value lies, as a fraction of the limit (0 within it or without a limit)."""
    finite = np.isfinite(limit)
    scale = np.where(finite & (limit > 0), limit, 1.0)
    return np.asarray(np.where(finite, np.clip((value - np.where(finite, limit, 0.0)) / scale, 0, None), 0.0),
                      dtype=np.float64)


def partners_taken(ctx: ExplainContext, side: Side, index: int, state: MatchingState, k: int
                   ) -> tuple[TakenBy, ...]:
    partners, scores = ctx.allowed_partners(side, index)
    if side is Side.MENTEE:
        usable = ctx.capacity[partners] > 0
        partners, scores = partners[usable], scores[usable]
    out = []
    for j in np.lexsort((partners, -scores))[:k].tolist():
        if side is Side.MENTEE:
            b = int(partners[j])
            others = state.mentees_of_mentor.get(b, [])
            out.append(TakenBy(ctx.cohort.mentors[b].id, int(scores[j]),
                               tuple(ctx.cohort.mentees[a].id for a in others),
                               tuple(int(state.score_of_mentee[a]) for a in others)))
        else:
            a = int(partners[j])
            b = int(state.partner_of_mentee[a])
            out.append(TakenBy(ctx.cohort.mentees[a].id, int(scores[j]),
                               (ctx.cohort.mentors[b].id,) if b >= 0 else (),
                               (int(state.score_of_mentee[a]),) if b >= 0 else ()))
    return tuple(out)

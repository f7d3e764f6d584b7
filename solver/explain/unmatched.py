"""Why one person is unmatched: the funnel, the reason code, the nearest misses, who took the partners."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.candidates import FloatArray, HardRule, IntArray, funnel
from solver.decision_rows import declined_pairs
from solver.domain import FieldRule, MutualChoice, cefr_name
from solver.explain.codes import RULE_REASON, Relaxation, Side, UnmatchedReason
from solver.explain.context import ExplainContext, MatchingState, PersonView, person_view
from solver.explain.facts import shortfalls
from solver.explain.types import Funnel, FunnelStep, NearMiss, Reason, TakenBy
from solver.explain.wording import id_list, km_text, minutes_text
from solver.history import availability_fact
from solver.stop import StopToken


def person_funnel(ctx: ExplainContext, side: Side, index: int, state: MatchingState) -> Funnel:
    """The elimination funnel (`solver.candidates.funnel`) and what is left of it in this matching."""
    partners, _ = ctx.allowed_partners(side, index)
    masks = person_view(ctx, side, index, scored=False).masks  # this person against everyone, as the funnel reads
    if side is Side.MENTEE:
        steps = funnel(ctx.arrays, mentee=index, masks=masks)
        total = ctx.arrays.n_mentors
        room = ctx.capacity[partners] > 0
        free = room & (state.load[partners] < ctx.capacity[partners])
    else:
        steps = funnel(ctx.arrays, mentor=index, masks=masks)
        total = ctx.arrays.n_mentees
        room = np.ones(len(partners), dtype=np.bool_)
        free = state.partner_of_mentee[partners] < 0
    left = total
    out = []
    for rule, removed in steps:
        left -= removed
        out.append(FunnelStep(rule, removed, left))
    return Funnel(total, tuple(out), len(partners), int(room.sum()), int(free.sum()))


def primary_reason(ctx: ExplainContext, side: Side, index: int, found: Funnel,
                   state: MatchingState | None = None) -> Reason:
    """The reason code and a plain message; with `state`, a SIDE_CONSTRAINTS message names the binding caps and
    quotas."""
    other = "mentor" if side is Side.MENTEE else "mentee"
    if found.partners == 0:
        code = UnmatchedReason.NO_MENTORS if side is Side.MENTEE else UnmatchedReason.NO_MENTEES
        return Reason(code, None, f"the cohort has no {other}s")
    if side is Side.MENTOR and ctx.capacity[index] == 0:
        return Reason(UnmatchedReason.NO_CAPACITY, None, "the mentor's capacity is 0")
    ends = found.ends_at
    if ends is not None:
        before = next(s.remaining + s.removed for s in found.steps if s.rule is ends)
        message = (_mentee_message(ctx, index, ends, before) if side is Side.MENTEE
                   else _mentor_message(ctx, index, ends, before))
        return Reason(RULE_REASON[side][ends], ends, message)
    if side is Side.MENTEE and found.with_capacity == 0:
        return Reason(UnmatchedReason.NO_MENTOR_CAPACITY, None,
                      f"the {found.allowed} allowed mentor(s) all have capacity 0")
    if found.free > 0:
        bindings = binding_side_constraints(ctx, side, index, state) if state is not None else ()
        if bindings:
            return Reason(UnmatchedReason.SIDE_CONSTRAINTS, None,
                          f"{found.free} allowed {other}(s) had room, but " + "; ".join(b.text for b in bindings))
        return Reason(UnmatchedReason.SIDE_CONSTRAINTS, None,
                      f"{found.free} allowed {other}(s) had room, but a side constraint (organisation cap, gender "
                      f"quota, stability, a pin, or the difference from a better matching) kept the pair out")
    code = UnmatchedReason.CANDIDATES_ALL_TAKEN if side is Side.MENTEE else UnmatchedReason.MENTEES_ALL_TAKEN
    return Reason(code, None, f"{found.with_capacity} allowed {other}(s), all matched with others")


def _mentee_message(ctx: ExplainContext, index: int, rule: HardRule, before: int) -> str:
    """Why the funnel of mentee `index` ends at `rule`, in her rules' values."""
    mentee, rules = ctx.cohort.mentees[index], ctx.mentee_rules[index]
    where = f" (her segment '{rules.segment}')" if rules.segment else ""
    if rule is HardRule.ELIGIBILITY:
        if not ctx.arrays.mentee_eligible[index]:
            return "the mentee is not eligible (municipality or track)"
        return f"none of the {before} mentors has the {rules.min_mentor_years} years of experience required{where}"
    if rule is HardRule.FIELD:
        family = " or a field family" if rules.field_rule is FieldRule.FAMILY else ""
        return f"none of the {before} eligible mentors shares the field at {rules.field_depth} ISCO digit(s){family}{where}"
    if rule is HardRule.DISTANCE:
        limit = (minutes_text(float(ctx.arrays.mentee_limit_minutes[index])) if ctx.arrays.uses_travel_times
                 else km_text(float(ctx.arrays.mentee_limit_km[index])))
        online = ""
        if rules.online_meetings:
            online = ("; none of them meets online" if mentee.online else
                      "; she does not accept online meetings")
        return f"none of the {before} mentors in the field is within reach ({limit}){where}{online}"
    if rule is HardRule.LANGUAGE:
        among = (f" among the programme languages {', '.join(rules.programme_languages)}"
                 if rules.programme_languages else "")
        return (f"none of the {before} mentors within reach has a common language at "
                f"{cefr_name(rules.min_language_level)} or better{among}{where}")
    if rule is HardRule.GENDER:
        return (f"the mentee asked for a mentor of gender {mentee.requested_mentor_gender}; none of the {before} "
                "otherwise suitable mentors is")
    if rule is HardRule.GOAL:
        goals = ", ".join(g.value for g in rules.mentor_goals)
        return (f"her segment '{rules.segment}' takes only mentors supporting {goals}; none of the {before} "
                "otherwise suitable mentors does")
    if rule is HardRule.CHOICE:
        needs = _CHOICE_TEXT[rules.mutual_choice]
        return (f"mutual choice '{rules.mutual_choice.value}'{where} allows only pairs with {needs}; none of the "
                f"{before} otherwise suitable mentors has them with her")
    if rule is HardRule.CONFLICT:
        return (f"all {before} otherwise suitable mentors work for organisations she must avoid "
                f"({', '.join(mentee.avoid_organisations)}): a conflict of interest")
    if rule is HardRule.AVAILABILITY:
        start = ctx.cohort.rules.intake.start_date
        return (f"none of the {before} eligible mentors is available at the intake's start "
                f"{start.isoformat() if start else ''} (their available_from / available_until)")
    if rule is HardRule.REPEAT:
        return (f"all {before} otherwise suitable mentors were paired with her in an earlier round, and pairs do not "
                "meet again ([intake] allow_repeat_pairs)")
    return f"all {before} otherwise suitable mentors are banned for this mentee" + _declines(ctx, Side.MENTEE, index)


_CHOICE_TEXT = {
    MutualChoice.NONE: "any rankings", MutualChoice.MENTEE: "her ranking of the mentor",
    MutualChoice.MENTOR: "the mentor's ranking of her", MutualChoice.EITHER: "a ranking either way",
    MutualChoice.BOTH: "rankings both ways",
}


def _mentor_message(ctx: ExplainContext, index: int, rule: HardRule, before: int) -> str:
    """Why the funnel of mentor `index` ends at `rule`; each mentee's own rules apply to her pair."""
    mentor, arrays = ctx.cohort.mentors[index], ctx.arrays
    if rule is HardRule.ELIGIBILITY:
        if not arrays.mentor_eligible[index]:
            fewest = int(arrays.mentee_min_years.min()) if arrays.n_mentees else 0
            return f"the mentor has fewer than the {fewest} years of experience required"
        return "no eligible mentee (municipality or track, or her segment requires more years of experience)"
    if rule is HardRule.FIELD:
        depths = sorted({(r.field_depth, r.field_rule) for r in ctx.mentee_rules})
        at = (f"at {depths[0][0]} ISCO digit(s)" + (" or a field family" if depths[0][1] is FieldRule.FAMILY else "")
              if len(depths) == 1 else "at the depth her rules require")
        return f"none of the {before} eligible mentees shares the field {at}"
    if rule is HardRule.DISTANCE:
        return f"none of the {before} mentees in the field lives within reach of the workplace"
    if rule is HardRule.LANGUAGE:
        levels = sorted({r.min_language_level for r in ctx.mentee_rules})
        at = f"at {cefr_name(levels[0])} or better" if len(levels) == 1 else "at the level her rules require"
        return f"none of the {before} mentees within reach has a common language {at}"
    if rule is HardRule.GENDER:
        return f"all {before} otherwise suitable mentees asked for a mentor of another gender"
    if rule is HardRule.GOAL:
        goals = ", ".join(g.value for g in mentor.goals)
        return (f"the mentor supports only {goals}; the segments of all {before} otherwise suitable mentees "
                "take only mentors supporting other goals")
    if rule is HardRule.CHOICE:
        return (f"mutual choice: none of the {before} otherwise suitable mentees has the speed-dating rankings "
                "with this mentor that her rules require")
    if rule is HardRule.CONFLICT:
        return (f"all {before} otherwise suitable mentees must avoid the mentor's organisation "
                f"{mentor.organisation}: a conflict of interest")
    if rule is HardRule.AVAILABILITY:
        return availability_fact(ctx.cohort, mentor)[1] or "the mentor is not available at the intake's start"
    if rule is HardRule.REPEAT:
        return (f"all {before} otherwise suitable mentees were paired with him in an earlier round, and pairs do not "
                "meet again ([intake] allow_repeat_pairs)")
    return f"all {before} otherwise suitable mentees are banned for this mentor" + _declines(ctx, Side.MENTOR, index)


def _declines(ctx: ExplainContext, side: Side, index: int) -> str:
    """Who declined which of the person's pairs (decisions), to follow the banned message; "" when none."""
    cohort = ctx.cohort
    person = (cohort.mentees if side is Side.MENTEE else cohort.mentors)[index].id
    declined = declined_pairs(cohort.decisions)
    told = [f"{b if side is Side.MENTEE else a} by the {by.value}" for (a, b), by in sorted(declined.items())
            if (a if side is Side.MENTEE else b) == person]
    return f" (declined: {', '.join(told)})" if told else ""

# Side constraints --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """A side constraint at its limit in a matching that keeps a person from an allowed partner with room."""

    relaxation: Relaxation  # ORGANISATION_CAP or GENDER_QUOTA_MAX: what raising it is
    subject: str  # the organisation, or the gender
    limit: int  # the cap, or the quota's max_pairs
    partners: tuple[str, ...]  # the allowed partners with room it keeps from her, by id
    text: str


def binding_side_constraints(ctx: ExplainContext, side: Side, index: int, state: MatchingState
                             ) -> tuple[Binding, ...]:
    """The organisation caps and gender quotas (max_pairs) at their limit in this matching between the person and
    an allowed partner with room: the only side constraints that can stop a free pair from being added (a pair
    added to a free mentor raises no count that has a floor)."""
    model, cohort = ctx.result.model, ctx.cohort
    partners, _ = ctx.allowed_partners(side, index)
    if side is Side.MENTEE:
        free = partners[(ctx.capacity[partners] > 0) & (state.load[partners] < ctx.capacity[partners])]
        pairs = [(int(j), cohort.mentors[int(j)].id) for j in free.tolist()]
    elif state.load[index] < ctx.capacity[index]:
        free = partners[state.partner_of_mentee[partners] < 0]
        pairs = [(index, cohort.mentees[int(i)].id) for i in free.tolist()]
    else:
        pairs = []
    if not pairs:
        return ()
    orgs = sorted(cohort.rules.organisation_cap_map)
    org_load = np.bincount(model.mentor_org[model.mentor_org >= 0],
                           weights=state.load[model.mentor_org >= 0], minlength=len(orgs)).astype(np.int64)
    gender_load = np.bincount(model.mentor_gender, weights=state.load, minlength=4).astype(np.int64)
    kept: dict[tuple[Relaxation, str, int], list[str]] = {}
    for j, partner_id in pairs:
        org = int(model.mentor_org[j])
        if org >= 0 and org_load[org] >= model.org_caps[org]:
            kept.setdefault((Relaxation.ORGANISATION_CAP, orgs[org], int(model.org_caps[org])), []).append(partner_id)
        for quota in cohort.rules.gender_quotas:
            code = {"f": 1, "m": 2, "x": 3}.get(quota.gender, 0)
            if (quota.max_pairs is not None and code == int(model.mentor_gender[j])
                    and gender_load[code] >= quota.max_pairs):
                kept.setdefault((Relaxation.GENDER_QUOTA_MAX, quota.gender, quota.max_pairs), []).append(partner_id)
    out = []
    for (relaxation, subject, limit), ids in sorted(kept.items()):
        ids = sorted(set(ids))
        what = (f"the organisation cap of {subject} ({limit} mentee(s)) is reached" if relaxation is
                Relaxation.ORGANISATION_CAP else f"the gender quota {subject} max_pairs {limit} is reached")
        out.append(Binding(relaxation, subject, limit, tuple(ids), f"{what} (it keeps {id_list(ids)})"))
    return tuple(out)


_MISS_POOL = 2000  # per person, the closest misses whose scores break ties


def _miss_gap(ctx: ExplainContext, view: PersonView) -> tuple[IntArray, FloatArray]:
    """Per partner: how many rules fail, and the sum of their relative shortfalls (each 0..1)."""
    arrays = ctx.arrays
    years = arrays.mentee_min_years[view.mentee]  # her rules' values, per pair
    depth = arrays.mentee_field_depth[view.mentee]
    level = arrays.mentee_language_level[view.mentee]
    failed = np.zeros(len(view.partner), dtype=np.int64)
    gap = np.zeros(len(view.partner), dtype=np.float64)
    for rule, mask in view.masks.items():
        fails = ~mask
        failed += fails
        if rule is HardRule.ELIGIBILITY:
            short = np.clip((years - ctx.years[view.mentor]) / np.maximum(years, 1), 0, 1)
            part = np.where(arrays.mentee_eligible[view.mentee], short, 1.0)
        elif rule is HardRule.FIELD:
            part = (depth - view.digits) / np.maximum(depth, 1)
        elif rule is HardRule.DISTANCE:
            part = _relative_excess(view.km, arrays.mentee_limit_km[view.mentee])
            if arrays.uses_travel_times:
                over = _relative_excess(np.nan_to_num(view.minutes), arrays.mentee_limit_minutes[view.mentee])
                part = np.maximum(part, np.where(np.isnan(view.minutes), 1.0, over))
        elif rule is HardRule.LANGUAGE:
            part = np.where(view.language > 0, np.clip((level - view.language) / 6.0, 0, 1), 1.0)
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
            at = int(pool[j])
            a, b = int(view.mentee[at]), int(view.mentor[at])
            # The rules it fails, read off the view's masks (`rule_masks` of the same pairs): only a failed rule
            # has a shortfall.
            failed_rules = [rule for rule in HardRule if not view.masks[rule][at]]
            out.append(NearMiss(view.partner_id(ctx, at), shortfalls(ctx, a, b, failed_rules), int(score[j])))
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

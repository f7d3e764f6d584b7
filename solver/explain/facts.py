"""Facts per pair: each soft term's points (why this pair) and each hard rule's verdict with its shortfall."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from solver.candidates import CohortArrays, HardRule, IntArray, field_digits, pair_travel, rule_masks
from solver.decision_rows import decline_text
from solver.domain import Cohort, FieldRule, Goal, MenteeRules, MutualChoice, cefr_name
from solver.explain.context import ExplainContext
from solver.explain.types import PairExplanation, RuleCheck, Shortfall, TermPoints
from solver.explain.wording import km_text, languages_text, minutes_text, ordinal, shared_prefix
from solver.history import availability_fact, repeat_fact, returning_fact
from solver.scores import TERMS, CandidatePairs, Term
from solver.stop import StopToken, check

# Why this pair ----------------------------------------------------------------------------------------


def _term_facts(cohort: Cohort, arrays: CohortArrays, row: dict[str, Any]) -> dict[Term, tuple[str, ...]]:
    a, b = int(row["mentee"]), int(row["mentor"])
    mentee, mentor = cohort.mentees[a], cohort.mentors[b]
    limit_km, limit_minutes = float(arrays.mentee_limit_km[a]), float(arrays.mentee_limit_minutes[a])
    uses_travel_times = arrays.uses_travel_times
    by_mentee, by_mentor = int(row["mentee_rank"]), int(row["mentor_rank"])
    facts: dict[Term, tuple[str, ...]] = {}
    if by_mentee and by_mentor:
        facts[Term.MUTUAL_RANK] = (("ranked each other first",) if by_mentee == by_mentor == 1 else
                                   (f"ranked each other (mentee put the mentor {ordinal(by_mentee)}, "
                                    f"mentor put the mentee {ordinal(by_mentor)})",))
    else:
        facts[Term.MUTUAL_RANK] = ("did not rank each other" if not (by_mentee or by_mentor) else
                                   "only one of them ranked the other",)
    facts[Term.MENTEE_RANK] = ((f"mentee ranked the mentor {ordinal(by_mentee)}",) if by_mentee
                               else ("mentee did not rank this mentor",))
    facts[Term.MENTOR_RANK] = ((f"mentor ranked the mentee {ordinal(by_mentor)}",) if by_mentor
                               else ("mentor did not rank this mentee",))
    shared = sorted(set(mentee.interests) & set(mentor.interests))
    facts[Term.INTERESTS] = (f"share interests: {', '.join(shared)}",) if shared else ("no shared interests",)
    best = max(((shared_prefix(a, b), a, b) for a in mentee.occupations for b in mentor.occupations),
               default=(0, "", ""))
    digits, seeks, works = best
    depth = max(int(arrays.mentee_field_depth[a]), 0)  # her rules' depth (a segment may set its own)
    required = f"{depth} required" if depth else "field not required"
    if digits == 4:
        field_fact = f"same occupation ISCO {seeks} (4 digits; {required})"
    elif digits > 0:
        field_fact = (f"share ISCO {seeks[:digits]} ({digits} digit(s); {required}): mentee seeks {seeks}, "
                      f"mentor works in {works}")
    else:
        field_fact = f"no ISCO digits in common ({required})"
    facts[Term.FIELD] = (field_fact,)
    if mentee.goal is Goal.UNSPECIFIED:
        facts[Term.GOAL] = ("mentee gave no goal",)
    elif not mentor.goals:
        facts[Term.GOAL] = (f"mentor supports any goal (mentee's goal: {mentee.goal.value})",)
    elif mentee.goal in mentor.goals:
        facts[Term.GOAL] = (f"mentor supports the goal {mentee.goal.value}",)
    else:
        facts[Term.GOAL] = (f"mentor does not list the goal {mentee.goal.value}",)
    km = float(row["distance_km"])
    if uses_travel_times:
        minutes = row["travel_minutes"]
        travel = ("no known travel time" if minutes is None or not math.isfinite(minutes) else
                  f"{minutes:.0f} min travel to the workplace (limit {minutes_text(limit_minutes)})")
        facts[Term.TRAVEL] = (travel, f"{km:.1f} km")
    else:
        facts[Term.TRAVEL] = (f"{km:.1f} km from the workplace (limit {km_text(limit_km)})",)
    if arrays.mentee_online[a] and arrays.mentor_online[b]:
        facts[Term.TRAVEL] += ("both meet online, so the limit does not bind; beyond it travel scores 0",)
    origin = mentee.country_of_origin
    facts[Term.HOME_MARKET] = ((f"mentor knows the {origin} market",) if origin and origin in mentor.markets else
                               (f"mentor does not list the {origin} market",) if origin else
                               ("mentee's home market not given",))
    first = mentee.first_language
    speaks = {lang.code for lang in mentor.languages}
    facts[Term.FIRST_LANGUAGE] = ((f"speaks the mentee's first language {first}",) if first and first in speaks else
                                  (f"does not speak the mentee's first language {first}",) if first else
                                  ("mentee's first language not given",))
    seniority = [f"{mentor.years_experience} years of experience"]
    if mentor.leadership:
        seniority.insert(0, "leadership experience")
    facts[Term.SENIORITY] = tuple(seniority)
    facts[Term.RETURNING] = (returning_fact(cohort, mentor),)
    return facts


_ROWS_PER_CHECK = 512  # pairs explained between two looks at the stop (~70 ms)


def _named_rows(table: pl.DataFrame | Mapping[str, list[Any]]) -> Iterator[dict[str, Any]]:
    if isinstance(table, pl.DataFrame):
        return table.iter_rows(named=True)
    names = list(table)
    return (dict(zip(names, values, strict=True)) for values in zip(*(table[n] for n in names), strict=True))


def _less_points(term: TermPoints) -> int:
    return -term.points


def explain_rows(cohort: Cohort, arrays: CohortArrays, table: pl.DataFrame | Mapping[str, list[Any]],
                 allowed_pairs: bool, stop: StopToken | threading.Event | None = None) -> list[PairExplanation]:
    """Explanations of the rows of a scored table (from `score_pairs` or the candidate table, or its columns as
    lists); `stop` is checked every few hundred rows (raises `solver.stop.Stopped`)."""
    weights = cohort.rules.weights.as_dict()
    # The weighted terms in TERMS order, looked up once: a stable sort by points then keeps ties in that order.
    weighted = [(term, weights[term.weight_name], term.column) for term in TERMS if weights[term.weight_name]]
    # Pairs share many terms' points and facts ("no shared interests", a mentor's seniority): each made once.
    made: dict[tuple[Term, int, tuple[str, ...]], TermPoints] = {}
    out = []
    for k, row in enumerate(_named_rows(table)):
        if k % _ROWS_PER_CHECK == 0:
            check(stop)
        a = int(row["mentee"])
        facts = _term_facts(cohort, arrays, row)
        terms = []
        for term, weight, column in weighted:
            raw, said = int(row[column]), facts[term]
            points = made.get((term, raw, said))
            if points is None:
                points = made[term, raw, said] = TermPoints(term, weight * raw, raw, weight, said)
            terms.append(points)
        terms.sort(key=_less_points)  # largest first; ties in TERMS order
        mentee_id, mentor_id = cohort.mentees[a].id, cohort.mentors[int(row["mentor"])].id
        score = int(row["score"])
        positive = [f"{', '.join(t.facts)} (+{t.points})" for t in terms if t.points > 0]
        sentence = (f"{mentee_id} and {mentor_id} score {score}: " + ("; ".join(positive) if positive
                                                                       else "no soft term adds points") + ".")
        if not allowed_pairs:
            sentence = f"(not allowed) {sentence}"
        out.append(PairExplanation(mentee_id, mentor_id, score, allowed_pairs, tuple(terms), sentence))
    return out


def explain_pair(candidates: CandidatePairs, row: int) -> PairExplanation:
    """Why the pair in this row of the candidate table scores what it does."""
    return explain_rows(candidates.cohort, candidates.arrays, candidates.table[[int(row)]], True)[0]


def explain_pairs(candidates: CandidatePairs, rows: IntArray | Sequence[int],
                  stop: StopToken | threading.Event | None = None) -> list[PairExplanation]:
    """Why each pair of a matching (rows of the candidate table) scores what it does, in row order."""
    index = np.asarray(rows, dtype=np.int64)
    if not len(index):
        return []
    # The rows' values straight from the candidate columns (no polars table built, no row gather).
    table = {name: candidates.column(name)[index].tolist() for name in candidates.columns}
    return explain_rows(candidates.cohort, candidates.arrays, table, True, stop)

# Hard-rule checks --------------------------------------------------------------------------------------

def _segment_text(rules: MenteeRules) -> str:
    return f" (her segment '{rules.segment}')" if rules.segment else ""


def _check(ctx: ExplainContext, a: int, b: int, rule: HardRule, passed: bool) -> RuleCheck:
    """The facts of one hard rule for one pair, and the shortfall when it fails. Every value is the mentee's
    rules' (README: Her rules): the programme's, with her segment's overrides."""
    cohort, arrays, programme = ctx.cohort, ctx.arrays, ctx.cohort.rules
    rules = ctx.mentee_rules[a]
    mentee, mentor = cohort.mentees[a], cohort.mentors[b]
    where = _segment_text(rules)
    facts: list[str] = []
    shortfall: Shortfall | None = None
    if rule is HardRule.ELIGIBILITY:
        bad_place = bool(programme.eligible_municipalities) and mentee.municipality not in programme.eligible_municipalities
        bad_track = bool(programme.eligible_tracks) and mentee.track not in programme.eligible_tracks
        years = rules.min_mentor_years
        few_years = mentor.years_experience < years
        if programme.eligible_municipalities:
            facts.append(f"mentee municipality {mentee.municipality or '(none)'} is "
                         f"{'not ' if bad_place else ''}eligible")
        if programme.eligible_tracks:
            facts.append(f"mentee track {mentee.track.value or '(none)'} is {'not ' if bad_track else ''}eligible")
        if years:
            facts.append(f"mentor has {mentor.years_experience} years of experience, {years} required{where}")
        if not facts:
            facts.append("no eligibility rules")
        if not passed:
            if few_years and not (bad_place or bad_track):
                shortfall = Shortfall(rule, float(years - mentor.years_experience), "years",
                                      f"mentor has {mentor.years_experience} years, {years} required{where}")
            else:
                failing = ([f"municipality {mentee.municipality or '(none)'} not eligible"] if bad_place else []) + (
                    [f"track {mentee.track.value or '(none)'} not eligible"] if bad_track else []) + (
                    [f"mentor has {mentor.years_experience} of {years} years"] if few_years else [])
                shortfall = Shortfall(rule, None, "", "; ".join(failing))
    elif rule is HardRule.FIELD:
        digits = int(field_digits(arrays, np.array([a]), np.array([b]))[0])
        depth = rules.field_depth
        by_family = rules.field_rule is FieldRule.FAMILY and depth > 0
        facts.append(f"mentee seeks {', '.join(mentee.occupations) or '(none)'}; "
                     f"mentor works in {', '.join(mentor.occupations) or '(none)'}")
        facts.append(f"{digits} leading ISCO digit(s) in common, {depth} required{where}" if depth > 0
                     else f"field not required{where}")
        if by_family:
            seeks, works = ctx.families_of(mentee.occupations), ctx.families_of(mentor.occupations)
            shared = [f for f in seeks if f in works]
            facts.append(f"field families (field_rule family): mentee {', '.join(seeks) or '(none)'}; mentor "
                         f"{', '.join(works) or '(none)'}" + (f"; both in {', '.join(shared)}" if shared else ""))
        if not passed:
            detail = f"{digits} ISCO digit(s) in common, {depth} required{where}"
            shortfall = Shortfall(rule, float(depth - digits), "ISCO digits",
                                  detail + (", and no field family in common" if by_family else ""))
    elif rule is HardRule.DISTANCE:
        km_arr, minutes_arr = pair_travel(arrays, np.array([a]), np.array([b]))
        km, minutes = float(km_arr[0]), float(minutes_arr[0])
        limit_km = float(arrays.mentee_limit_km[a])
        whose = f"segment '{rules.segment}'" if rules.segment else "programme"
        extend = "; her own limit counts, even when longer (personal limits extend)" if (
            rules.personal_limits_extend and (mentee.max_travel_km is not None
                                              or mentee.max_travel_minutes is not None)) else ""
        if not arrays.uses_travel_times:
            facts.append(f"{km:.1f} km from the mentee's home to the mentor's workplace; limit {km_text(limit_km)} "
                         f"({whose} {km_text(rules.max_distance_km)}, personal {km_text(mentee.max_travel_km)}"
                         f"{extend})")
        else:
            facts.append(f"{km:.1f} km from the mentee's home to the mentor's workplace (a travel-time table "
                         "replaces the km limits)")
        limit_minutes = float(arrays.mentee_limit_minutes[a])
        if arrays.uses_travel_times:
            facts.append("no known travel time for this pair" if math.isnan(minutes) else
                         f"{minutes:.0f} min travel; limit {minutes_text(limit_minutes)} ({whose} "
                         f"{minutes_text(rules.max_travel_minutes)}, personal {minutes_text(mentee.max_travel_minutes)}"
                         f"{extend})")
        online = bool(arrays.mentee_online[a] and arrays.mentor_online[b])
        if rules.online_meetings:
            facts.append("both accept online meetings, so distance does not bind" if online else
                         f"online meetings allowed{where}, but the mentee "
                         f"{'accepts' if mentee.online else 'does not accept'} them and the mentor "
                         f"{'accepts' if mentor.online else 'does not accept'} them")
        elif mentee.online and mentor.online:
            facts.append(f"both accept online meetings, but the rules{where} do not allow them")
        if not passed:
            if not arrays.uses_travel_times and km > limit_km:
                shortfall = Shortfall(rule, round(km - limit_km, 2), "km",
                                      f"{km:.1f} km, {km - limit_km:.1f} km beyond the {km_text(limit_km)} limit")
            elif math.isnan(minutes):
                shortfall = Shortfall(rule, None, "minutes", "no known travel time for this pair")
            else:
                shortfall = Shortfall(rule, round(minutes - limit_minutes, 2), "minutes",
                                      f"{minutes:.0f} min, {minutes - limit_minutes:.0f} min beyond the "
                                      f"{minutes_text(limit_minutes)} limit")
    elif rule is HardRule.LANGUAGE:
        level, allowed_codes = rules.min_language_level, rules.programme_languages
        facts.append(f"mentee speaks {languages_text(mentee)}; mentor speaks {languages_text(mentor)}")
        facts.append(f"a common language at {cefr_name(level)} or better required{where}"
                     + (f", one of the programme languages {', '.join(allowed_codes)}" if allowed_codes else ""))
        if not passed:
            code, best = ctx.common_level(a, b, allowed_codes)
            any_code, any_best = ctx.common_level(a, b)
            outside = (f"; they share {any_code} at {cefr_name(any_best)}, not a programme language"
                       if allowed_codes and any_best >= level and any_code not in allowed_codes else "")
            if best <= 0:
                shortfall = Shortfall(rule, None, "", ("no programme language in common" if allowed_codes
                                                       else "no language in common") + outside)
            else:
                shortfall = Shortfall(rule, float(level - best), "CEFR levels",
                                      f"best common {'programme ' if allowed_codes else ''}language {code} at "
                                      f"{cefr_name(best)}, {cefr_name(level)} required{outside}")
    elif rule is HardRule.GENDER:
        wanted = mentee.requested_mentor_gender
        if not wanted:
            facts.append("no gender request")
        else:
            facts.append(f"mentee asked for a mentor of gender {wanted}; mentor's gender is "
                         f"{mentor.gender or 'not given'}" + ("" if programme.gender_requests_hard
                                                              else " (requests are only preferences)"))
        if not passed:
            shortfall = Shortfall(rule, None, "", f"asked for {wanted}, mentor is {mentor.gender or 'not given'}")
    elif rule is HardRule.GOAL:
        wanted_goals = ", ".join(g.value for g in rules.mentor_goals)
        offered = ", ".join(g.value for g in mentor.goals) or "any goal"
        facts.append(f"segment '{rules.segment}' takes only mentors supporting {wanted_goals}; mentor supports "
                     f"{offered}" if rules.mentor_goals else "no goal rule for this mentee")
        if not passed:
            shortfall = Shortfall(rule, None, "", f"mentor supports {offered}, segment '{rules.segment}' needs "
                                                  f"{wanted_goals}")
    elif rule is HardRule.CHOICE:
        by_mentee, by_mentor = ctx.rank(mentee.id, mentor.id), ctx.rank(mentor.id, mentee.id)
        ranked = (f"mentee {'ranked the mentor ' + ordinal(by_mentee) if by_mentee else 'did not rank the mentor'}, "
                  f"mentor {'ranked the mentee ' + ordinal(by_mentor) if by_mentor else 'did not rank the mentee'}")
        choice = rules.mutual_choice
        facts.append(f"mutual choice '{choice.value}'{where}: {ranked}" if choice is not MutualChoice.NONE
                     else f"no mutual-choice rule: {ranked}")
        if not passed:
            shortfall = Shortfall(rule, None, "", f"mutual choice '{choice.value}' needs {_CHOICE_NEEDS[choice]}; "
                                                  f"{ranked}")
    elif rule is HardRule.CONFLICT:
        avoid = ", ".join(mentee.avoid_organisations)
        facts.append(f"mentee must avoid {avoid}; mentor's organisation is {mentor.organisation or 'not given'}"
                     if avoid else "no organisation to avoid")
        if not passed:
            shortfall = Shortfall(rule, None, "", f"mentor works for {mentor.organisation}, which {mentee.id} must "
                                                  "avoid (a conflict of interest)")
    elif rule is HardRule.AVAILABILITY:
        fact, short = availability_fact(ctx.cohort, mentor)
        facts.append(fact)
        if not passed:
            shortfall = Shortfall(rule, None, "", short)
    elif rule is HardRule.REPEAT:
        fact, short = repeat_fact(ctx.cohort, mentee.id, mentor.id)
        facts.append(fact)
        if not passed:
            shortfall = Shortfall(rule, None, "", short)
    else:
        declined = decline_text(ctx.cohort, mentee.id, mentor.id)
        facts.append((declined or "the coordinator ruled this pair out") if not passed else "not banned")
        if not passed:
            shortfall = Shortfall(rule, None, "", declined or "banned by the coordinator")
    return RuleCheck(rule, passed, tuple(facts), shortfall)


_CHOICE_NEEDS = {
    MutualChoice.NONE: "nothing", MutualChoice.MENTEE: "the mentee to rank the mentor",
    MutualChoice.MENTOR: "the mentor to rank the mentee", MutualChoice.EITHER: "one of them to rank the other",
    MutualChoice.BOTH: "each to rank the other",
}


def shortfalls(ctx: ExplainContext, a: int, b: int, failed: Sequence[HardRule]) -> tuple[Shortfall, ...]:
    """The shortfalls of the pair on the hard rules it fails (`failed`, in `HardRule` order), as `pair_checks`
    gives them, without checking the rules again."""
    checks = (_check(ctx, a, b, rule, False) for rule in failed)
    return tuple(c.shortfall for c in checks if c.shortfall is not None)


def pair_checks(ctx: ExplainContext, a: int, b: int) -> tuple[RuleCheck, ...]:
    masks = rule_masks(ctx.arrays, np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    return tuple(_check(ctx, a, b, rule, bool(masks[rule][0])) for rule in HardRule)

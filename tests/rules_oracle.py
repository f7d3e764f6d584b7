"""An exact model of the README's matching rules and objective, written from the text and sharing no engine code.

Reads only the plain `solver.domain` dataclasses and the built-in field-families data file. Everything else (each
mentee's rules from her segment, which pairs are allowed, each soft term's points, the seat costs, the objective
tuple of each mode, stability, "differs in at least D pairs") follows README.md ("A cohort", "What a match depends
on", "Objective") and docs/explanations.md ("Stability") line by line, so that a disagreement with the engine is
either an engine bug or a gap in the README. Optima come from a plain CP-SAT model, one boolean per allowed pair,
ordered seat booleans per mentor for the seat costs, and one stage per criterion of the mode's tuple;
`brute_force` enumerates every matching of a small cohort to check that model in turn.
"""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from itertools import pairwise
from pathlib import Path

from ortools.sat.python import cp_model

from solver.domain import (
    Cohort,
    FieldFamily,
    FieldRule,
    Goal,
    Mentee,
    Mentor,
    MutualChoice,
    ObjectiveMode,
    Rules,
    Segment,
)

EARTH_RADIUS_KM = 6371.0088  # README, Distance: the mean earth radius
NO_LIMIT_SCALE = 50.0  # README, TRAVEL: L when the mentee has no limit (km, or minutes with a table)
HARD_RULES = ("ELIGIBILITY", "AVAILABILITY", "FIELD", "DISTANCE", "LANGUAGE", "GENDER", "GOAL", "CHOICE",
              "CONFLICT", "REPEAT", "BAN")  # README's order
BUILTIN_FAMILIES_FILE = Path(__file__).resolve().parent.parent / "solver" / "data" / "field_families.toml"

Pair = tuple[str, str]  # (mentee id, mentor id)
Ranks = tuple[dict[Pair, int], dict[Pair, int]]  # (the mentees' ranks of mentors, the mentors' ranks of mentees)


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """README, Distance: a = sin²(Δφ/2) + cos φ₁ cos φ₂ sin²(Δλ/2); km = 2 R asin(√min(1, a))."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _smaller(*limits: float | None) -> float | None:
    """The smaller of the given limits; None (no limit) when every one is absent."""
    given = [x for x in limits if x is not None]
    return min(given) if given else None


# Her rules: the programme's, with her segment's overrides ------------------------------------------------------


@dataclass(frozen=True)
class HerRules:
    """README, "Her rules": the per-pair rules that apply to one mentee."""

    segment: str  # the id of the first segment that selects her; "" for none
    field_depth: int
    field_rule: FieldRule
    max_distance_km: float | None  # None: no programme km limit
    max_travel_minutes: float | None
    min_language_level: int
    min_mentor_years: int
    programme_languages: tuple[str, ...]  # empty: any
    online_meetings: bool
    personal_limits_extend: bool
    mutual_choice: MutualChoice
    mentor_goals: tuple[Goal, ...]  # empty: any (only a segment gives them)


def selecting_segment(rules: Rules, mentee: Mentee) -> Segment | None:
    """README, Segments: the first segment whose every given selector matches her (within one, any value); a
    segment that gives no selector selects everyone."""
    for segment in rules.segments:
        selectors = ((segment.goals, (mentee.goal,)), (segment.tracks, (mentee.track,)),
                     (segment.municipalities, (mentee.municipality,)), (segment.tags, mentee.tags))
        if all(not wanted or set(wanted) & set(hers) for wanted, hers in selectors):
            return segment
    return None


def her_rules(rules: Rules, mentee: Mentee) -> HerRules:
    """The programme's rules with the overrides of her segment in place of the programme's values."""
    programme = HerRules("", rules.field_depth, rules.field_rule, rules.max_distance_km, rules.max_travel_minutes,
                         rules.min_language_level, rules.min_mentor_years, rules.programme_languages,
                         rules.online_meetings, rules.personal_limits_extend, rules.mutual_choice, ())
    segment = selecting_segment(rules, mentee)
    if segment is None:
        return programme
    given = {name: getattr(segment, name) for name in (
        "field_depth", "field_rule", "max_travel_minutes", "min_language_level", "min_mentor_years",
        "programme_languages", "online_meetings", "personal_limits_extend", "mutual_choice")}
    changes = {name: value for name, value in given.items() if value is not None}
    if segment.no_distance_limit:
        changes["max_distance_km"] = None
    elif segment.max_distance_km is not None:
        changes["max_distance_km"] = segment.max_distance_km
    return replace(programme, segment=segment.id, mentor_goals=tuple(segment.mentor_goals), **changes)


# Field families ---------------------------------------------------------------------------------------------


@cache
def builtin_families() -> tuple[FieldFamily, ...]:
    """README: the built-in ISCO-08 families, read from the versioned data file (solver/data/field_families.toml)."""
    data = tomllib.loads(BUILTIN_FAMILIES_FILE.read_text(encoding="utf-8"))
    return tuple(FieldFamily(f["id"], tuple(f["prefixes"]), f.get("source", "")) for f in data["family"])


def families(rules: Rules) -> tuple[FieldFamily, ...]:
    """The programme's own families (`field_families_file`) when given, else the built-in ones."""
    return rules.field_families or builtin_families()


def share_a_family(rules: Rules, mentee: Mentee, mentor: Mentor) -> bool:
    """Some occupation of each lies in one family (a code lies in it when it starts with one of its prefixes)."""
    def inside(codes: Iterable[str], family: FieldFamily) -> bool:
        return any(code.startswith(prefix) for code in codes for prefix in family.prefixes)
    return any(inside(mentee.occupations, f) and inside(mentor.occupations, f) for f in families(rules))


# Distance ---------------------------------------------------------------------------------------------------


def uses_travel_table(cohort: Cohort) -> bool:
    """README: a travel-time table with at least one row replaces straight-line distance."""
    return bool(cohort.rules.travel_times)


def travel_minutes(cohort: Cohort, mentee: Mentee, mentor: Mentor) -> float | None:
    """The pair's row of the travel-time table; None without one (no known route)."""
    found = [t.minutes for t in cohort.rules.travel_times if t.mentee_id == mentee.id and t.mentor_id == mentor.id]
    if len(found) > 1:
        raise ValueError(f"travel_times: {mentee.id}-{mentor.id} has {len(found)} rows (README: at most one)")
    return found[0] if found else None


def travel_limit(cohort: Cohort, mentee: Mentee) -> float | None:
    """Her km limit, or with a table her minutes limit; None = no limit. With `personal_limits_extend` and her
    own limit given, hers alone; else the smaller of hers and her rules' programme limit."""
    her = her_rules(cohort.rules, mentee)
    programme, own = ((her.max_travel_minutes, mentee.max_travel_minutes) if uses_travel_table(cohort)
                      else (her.max_distance_km, mentee.max_travel_km))
    if her.personal_limits_extend and own is not None:
        return own
    return _smaller(programme, own)


def travelled(cohort: Cohort, mentee: Mentee, mentor: Mentor) -> float | None:
    """The pair's travel: km without a table, minutes with one (None: no row)."""
    if uses_travel_table(cohort):
        return travel_minutes(cohort, mentee, mentor)
    return haversine_km(mentee.lat, mentee.lon, mentor.lat, mentor.lon)


def meets_online(cohort: Cohort, mentee: Mentee, mentor: Mentor) -> bool:
    """README, Online: her rules have `online_meetings` and both accept meeting online."""
    return her_rules(cohort.rules, mentee).online_meetings and mentee.online and mentor.online


# The hard rules ---------------------------------------------------------------------------------------------


def shared_digits(mentee: Mentee, mentor: Mentor) -> int:
    """README, Field: the most leading digits in which any occupation of one agrees with any of the other."""
    best = 0
    for a in mentee.occupations:
        for b in mentor.occupations:
            k = 0
            while k < min(len(a), len(b), 4) and a[k] == b[k]:
                k += 1
            best = max(best, k)
    return best


def chosen(choice: MutualChoice, mentee_rank: int | None, mentor_rank: int | None) -> bool:
    """README, Choice: which rankings the pair needs."""
    by_her, by_him = mentee_rank is not None, mentor_rank is not None
    return {MutualChoice.NONE: True, MutualChoice.MENTEE: by_her, MutualChoice.MENTOR: by_him,
            MutualChoice.EITHER: by_her or by_him, MutualChoice.BOTH: by_her and by_him}[choice]


def failed_rules(cohort: Cohort, mentee: Mentee, mentor: Mentor, ranks: Ranks | None = None) -> list[str]:
    """The hard rules (README's names and order) that this pair breaks; empty when it is allowed."""
    rules = cohort.rules
    her = her_rules(rules, mentee)
    failed = []
    if ((rules.eligible_municipalities and mentee.municipality not in rules.eligible_municipalities)
            or (rules.eligible_tracks and mentee.track not in rules.eligible_tracks)
            or mentor.years_experience < her.min_mentor_years):
        failed.append("ELIGIBILITY")
    start = rules.intake.start_date  # README, Availability: checked only against a start date
    if start is not None and ((mentor.available_from is not None and start < mentor.available_from)
                              or (mentor.available_until is not None and mentor.available_until < start)):
        failed.append("AVAILABILITY")
    if her.field_depth > 0 and shared_digits(mentee, mentor) < her.field_depth and not (
            her.field_rule == FieldRule.FAMILY and share_a_family(rules, mentee, mentor)):
        failed.append("FIELD")
    distance, limit = travelled(cohort, mentee, mentor), travel_limit(cohort, mentee)
    if not meets_online(cohort, mentee, mentor) and (distance is None or (limit is not None and distance > limit)):
        failed.append("DISTANCE")
    level = her.min_language_level
    common = {x.code for x in mentee.languages if x.level >= level} & {x.code for x in mentor.languages if x.level >= level}
    if her.programme_languages:
        common &= set(her.programme_languages)
    if not common:
        failed.append("LANGUAGE")
    if rules.gender_requests_hard and mentee.requested_mentor_gender and \
            mentor.gender != mentee.requested_mentor_gender:
        failed.append("GENDER")
    if her.mentor_goals and mentor.goals and not set(her.mentor_goals) & set(mentor.goals):
        failed.append("GOAL")
    by_mentee, by_mentor = ranks if ranks is not None else rankings(cohort)
    key = (mentee.id, mentor.id)
    if not chosen(her.mutual_choice, by_mentee.get(key), by_mentor.get(key)):
        failed.append("CHOICE")
    if mentor.organisation in mentee.avoid_organisations:
        failed.append("CONFLICT")
    if not rules.intake.allow_repeat_pairs and any(  # README, Repeat: a finished pair of an earlier round
            h.mentee_id == mentee.id and h.mentor_id == mentor.id and h.ended is not None for h in cohort.history):
        failed.append("REPEAT")
    if key in set(rules.bans):
        failed.append("BAN")
    return failed


def pair_allowed(cohort: Cohort, mentee: Mentee, mentor: Mentor, ranks: Ranks | None = None) -> bool:
    return not failed_rules(cohort, mentee, mentor, ranks)


def allowed_pairs(cohort: Cohort) -> set[Pair]:
    ranks = rankings(cohort)
    return {(a.id, b.id) for a in cohort.mentees for b in cohort.mentors if pair_allowed(cohort, a, b, ranks)}


def rankings(cohort: Cohort) -> Ranks:
    """(the mentees' ranks of mentors, the mentors' ranks of mentees), both keyed (mentee id, mentor id)."""
    mentees, mentors = {p.id for p in cohort.mentees}, {p.id for p in cohort.mentors}
    by_mentee: dict[Pair, int] = {}
    by_mentor: dict[Pair, int] = {}
    for r in cohort.rankings:
        table, key = ((by_mentee, (r.from_id, r.to_id)) if r.from_id in mentees and r.to_id in mentors
                      else (by_mentor, (r.to_id, r.from_id)))
        if key in table:
            raise ValueError(f"rankings: {r.from_id} ranks {r.to_id} twice (README: invalid input)")
        table[key] = r.rank
    return by_mentee, by_mentor


# The soft terms ---------------------------------------------------------------------------------------------


def rank_points(rank: int | None) -> int:
    """README, MENTEE_RANK / MENTOR_RANK: max(10, 100 - 20 (r - 1)); unranked 0."""
    return 0 if rank is None else max(10, 100 - 20 * (rank - 1))


def travel_points(cohort: Cohort, mentee: Mentee, mentor: Mentor) -> int:
    """README, TRAVEL: ⌊100 (1 - t / L)⌋ within 0..100; L = 50 without a limit (or a limit of 0); an online pair
    beyond the limit and a pair without a travel-time row get 0."""
    limit = travel_limit(cohort, mentee)
    distance = travelled(cohort, mentee, mentor)
    if distance is None or (limit is not None and distance > limit):  # beyond it: only an online pair is allowed
        return 0
    scale = limit if limit is not None and limit > 0 else NO_LIMIT_SCALE
    return min(100, max(0, math.floor(100.0 * (1.0 - distance / scale))))


def term_points(cohort: Cohort, mentee: Mentee, mentor: Mentor, mentee_rank: int | None, mentor_rank: int | None
                ) -> dict[str, int]:
    """Every soft term's 0..100 points for the pair, by weight key, exactly as the README's table says."""
    depth = her_rules(cohort.rules, mentee).field_depth
    digits = shared_digits(mentee, mentor)
    if mentee.goal == Goal.UNSPECIFIED:
        goal = 0
    elif not mentor.goals:
        goal = 50
    else:
        goal = 100 if mentee.goal in mentor.goals else 0
    return {
        "mutual_rank": (max(20, 100 - 10 * (mentee_rank + mentor_rank - 2))
                        if mentee_rank is not None and mentor_rank is not None else 0),
        "mentee_rank": rank_points(mentee_rank),
        "mentor_rank": rank_points(mentor_rank),
        "interests": min(100, 34 * len(set(mentee.interests) & set(mentor.interests))),
        "field": 100 * max(0, digits - depth) // (4 - depth) if depth < 4 else 0,
        "goal": goal,
        "travel": travel_points(cohort, mentee, mentor),
        "home_market": 100 if mentee.country_of_origin and mentee.country_of_origin in mentor.markets else 0,
        "first_language": (100 if mentee.first_language
                           and mentee.first_language in {x.code for x in mentor.languages} else 0),
        "seniority": 50 * int(mentor.leadership) + 2 * min(mentor.years_experience, 25),
        "returning": 100 * int(mentor.returning or any(h.mentor_id == mentor.id for h in cohort.history)),
    }


def months_waited(since: date, start: date) -> int:
    """README, Waiting: whole calendar months from `since` to `start` (a month is whole once the day of the month is
    reached again), 0 when `start` is not later."""
    months = 12 * (start.year - since.year) + (start.month - since.month)
    if start.day < since.day:
        months -= 1
    return max(months, 0)


def priority(cohort: Cohort, mentee: Mentee) -> int:
    """README, Waiting: her priority plus waiting_priority_per_month per whole month waited, at most 1000."""
    intake = cohort.rules.intake
    if intake.start_date is None or mentee.waiting_since is None:
        return mentee.priority
    return min(1000, mentee.priority + intake.waiting_priority_per_month * months_waited(mentee.waiting_since,
                                                                                       intake.start_date))


def seat_cost(cohort: Cohort, pairs: Iterable[Pair]) -> int:
    """README, Objective: a mentor with L mentees costs extra_seat_cost × (1 + 2 + ... + (L − 1)), summed."""
    loads = Counter(b for _, b in pairs)
    return cohort.rules.extra_seat_cost * sum(n * (n - 1) // 2 for n in loads.values())


@dataclass(frozen=True)
class PairFacts:
    """One allowed pair: its ranks (None = not ranked), each term's points and the weighted score."""

    mentee_rank: int | None
    mentor_rank: int | None
    points: dict[str, int]
    score: int


@dataclass(frozen=True)
class Parts:
    """README, Objective: what a matching is judged by."""

    matched: int
    matched_priority: int
    total_score: int
    worst_score: int
    rank_profile: tuple[int, ...]
    seat_cost: int
    value: int

    @property
    def total(self) -> int:
        """README: "the total" is total_score − seat_cost."""
        return self.total_score - self.seat_cost

    def as_json(self) -> dict[str, object]:
        """As `objective_parts` in `solve --json` (README, "In the JSON")."""
        return {"value": self.value, "matched": self.matched, "matched_priority": self.matched_priority,
                "total_score": self.total_score, "worst_score": self.worst_score,
                "rank_profile": list(self.rank_profile), "seat_cost": self.seat_cost}


@dataclass(frozen=True)
class Solution:
    pairs: frozenset[Pair]
    key: tuple[int, ...]  # the mode's lexicographic tuple: greater is better
    parts: Parts


def default_min_difference(n_pairs: int) -> int:
    """README, Alternatives: max(1, ceil(n / 10)) in whole numbers."""
    return max(1, (n_pairs + 9) // 10)


class RulesOracle:
    """The README's rules for one cohort: allowed pairs with their scores, validity, objective, exact optima."""

    def __init__(self, cohort: Cohort, time_limit_s: float = 120.0) -> None:
        self.cohort = cohort
        self.time_limit_s = time_limit_s
        self.mentees = {p.id: p for p in cohort.mentees}
        self.mentors = {p.id: p for p in cohort.mentors}
        by_mentee, by_mentor = rankings(cohort)
        self.mentee_ranks, self.mentor_ranks = by_mentee, by_mentor
        weights = cohort.rules.weights.as_dict()
        self.pairs: dict[Pair, PairFacts] = {}
        for a in cohort.mentees:
            for b in cohort.mentors:
                if pair_allowed(cohort, a, b, (by_mentee, by_mentor)):
                    key = (a.id, b.id)
                    points = term_points(cohort, a, b, by_mentee.get(key), by_mentor.get(key))
                    score = sum(weights[name] * value for name, value in points.items())
                    self.pairs[key] = PairFacts(by_mentee.get(key), by_mentor.get(key), points, score)
        best: dict[str, int] = {}
        for (mentee_id, _), facts in self.pairs.items():
            best[mentee_id] = max(best.get(mentee_id, 0), facts.score)
        # README, Objective: the seats that could be taken at most (S = min(capacity, allowed pairs)) bound the
        # seat cost, so big exceeds whatever the total can vary by.
        allowed_per_mentor = Counter(b for _, b in self.pairs)
        self.seats = {b: max(0, min(m.capacity, allowed_per_mentor[b])) for b, m in self.mentors.items()}
        self.extra_seat_cost = cohort.rules.extra_seat_cost
        self.big = 1 + sum(best.values()) + self.extra_seat_cost * sum(s * (s - 1) // 2 for s in self.seats.values())
        self.top_rank = max((f.mentee_rank for f in self.pairs.values() if f.mentee_rank is not None), default=0)

    # The rules over a whole matching ----------------------------------------------------------------

    def violations(self, pairs: Iterable[Pair], *, stable: bool = False) -> list[str]:
        """Every rule the matching breaks, as readable text; empty when it is valid."""
        pairs = list(pairs)
        rules = self.cohort.rules
        out = []
        for a, b in pairs:
            if a not in self.mentees or b not in self.mentors:
                out.append(f"{a}-{b}: unknown id")
            elif (a, b) not in self.pairs:
                ranks = (self.mentee_ranks, self.mentor_ranks)
                broken = failed_rules(self.cohort, self.mentees[a], self.mentors[b], ranks)
                out.append(f"{a}-{b}: not allowed ({', '.join(broken)})")
        for a, count in Counter(a for a, _ in pairs).items():
            if count > 1:
                out.append(f"{a} is matched {count} times")
        for b, count in Counter(b for _, b in pairs).items():
            if b in self.mentors and count > self.mentors[b].capacity:
                out.append(f"{b} has {count} mentees, capacity {self.mentors[b].capacity}")
        chosen = set(pairs)
        out += [f"pin {a}-{b} missing" for a, b in rules.pins if (a, b) not in chosen]
        for org, cap in rules.organisation_caps:
            count = sum(1 for _, b in pairs if b in self.mentors and self.mentors[b].organisation == org)
            if count > cap:
                out.append(f"organisation {org}: {count} mentees, cap {cap}")
        for quota in rules.gender_quotas:
            count = sum(1 for _, b in pairs if b in self.mentors and self.mentors[b].gender == quota.gender)
            if count < quota.min_pairs or (quota.max_pairs is not None and count > quota.max_pairs):
                out.append(f"gender quota {quota.gender}: {count} pairs, bounds {quota.min_pairs}..{quota.max_pairs}")
        if stable and not out:
            out += [f"blocking pair {a}-{b}" for a, b in self.blocking_pairs(pairs)]
        return out

    def blocking_pairs(self, pairs: Iterable[Pair]) -> list[Pair]:
        """docs/explanations.md, Stability: allowed pairs both ranked, each strictly preferring the other."""
        partner = dict(pairs)
        assigned: dict[str, list[str]] = {}
        for a, b in partner.items():
            assigned.setdefault(b, []).append(a)
        out = []
        for (a, b), facts in sorted(self.pairs.items()):
            if facts.mentee_rank is None or facts.mentor_rank is None:
                continue
            current = partner.get(a)
            current_rank = self.mentee_ranks.get((a, current)) if current is not None else None
            mentee_prefers = current_rank is None or facts.mentee_rank < current_rank
            capacity = self.mentors[b].capacity
            theirs = assigned.get(b, [])
            mentor_takes = capacity > 0 and (len(theirs) < capacity or any(
                self.mentor_ranks.get((other, b)) is None or facts.mentor_rank < self.mentor_ranks[(other, b)]
                for other in theirs))
            if mentee_prefers and mentor_takes:
                out.append((a, b))
        return out

    # The objective ----------------------------------------------------------------------------------

    def parts(self, pairs: Iterable[Pair]) -> Parts:
        """README, Objective; every pair must be allowed."""
        pairs = list(pairs)
        scores = [self.pairs[p].score for p in pairs]
        ranks = Counter(self.pairs[p].mentee_rank for p in pairs)
        matched_priority = sum(priority(self.cohort, self.mentees[a]) for a, _ in pairs)
        seats = seat_cost(self.cohort, pairs)
        return Parts(
            matched=len(pairs),
            matched_priority=matched_priority,
            total_score=sum(scores),
            worst_score=min(scores, default=0),
            rank_profile=tuple(ranks.get(r, 0) for r in range(1, self.top_rank + 1)),
            seat_cost=seats,
            value=self.big * matched_priority + sum(scores) - seats,
        )

    def key(self, pairs: Iterable[Pair], mode: ObjectiveMode) -> tuple[int, ...]:
        """The mode's lexicographic tuple (README, Objective); greater is better."""
        p = self.parts(pairs)
        if mode is ObjectiveMode.FAIRNESS:
            return (p.matched_priority, p.worst_score, p.total)
        if mode is ObjectiveMode.RANK_MAXIMAL:
            return (p.matched_priority, *p.rank_profile, p.total)
        return (p.matched_priority, p.total)

    def solution(self, pairs: Iterable[Pair], mode: ObjectiveMode) -> Solution:
        chosen = frozenset(pairs)
        return Solution(chosen, self.key(chosen, mode), self.parts(chosen))

    # Exact optima -----------------------------------------------------------------------------------

    def best(self, mode: ObjectiveMode = ObjectiveMode.SCORE, *, stable: bool = False,
             differ_from: Sequence[Iterable[Pair]] = (), min_difference: int = 1) -> Solution | None:
        """The best valid matching in the mode's order (stable ones only, with `stable`) that differs from each
        matching of `differ_from` in at least `min_difference` of its pairs; None when there is none."""
        if any(pin not in self.pairs for pin in self.cohort.rules.pins):
            return None
        cp = cp_model.CpModel()
        order = sorted(self.pairs)
        x = {p: cp.new_bool_var(f"{p[0]}-{p[1]}") for p in order}
        for a in self.mentees:
            cp.add_at_most_one(x[p] for p in order if p[0] == a)
        for b, mentor in self.mentors.items():
            cp.add(sum(x[p] for p in order if p[1] == b) <= mentor.capacity)
        for pin in self.cohort.rules.pins:
            cp.add(x[pin] == 1)
        for org, cap in self.cohort.rules.organisation_caps:
            cp.add(sum(x[p] for p in order if self.mentors[p[1]].organisation == org) <= cap)
        for quota in self.cohort.rules.gender_quotas:
            count = sum(x[p] for p in order if self.mentors[p[1]].gender == quota.gender)
            cp.add(count >= quota.min_pairs)
            if quota.max_pairs is not None:
                cp.add(count <= quota.max_pairs)
        for previous in differ_from:
            earlier = set(previous)
            cp.add(sum(x[p] for p in order if p in earlier) <= len(earlier) - min_difference)
        if stable:
            self._no_blocking_pair(cp, x)
        stages = self._stages(cp, x, mode)
        values: dict[Pair, int] | None = None
        for stage in stages:
            cp.maximize(stage)
            solver = cp_model.CpSolver()
            solver.parameters.num_workers = 1
            solver.parameters.max_time_in_seconds = self.time_limit_s
            status = solver.solve(cp)
            if status == cp_model.INFEASIBLE:
                return None
            if status != cp_model.OPTIMAL:
                raise RuntimeError(f"the oracle's CP-SAT model ended {solver.status_name(status)}")
            achieved = round(solver.objective_value)
            cp.add(stage == achieved)  # hold this criterion at its optimum for the next ones
            values = {p: solver.value(x[p]) for p in order}
            cp.clear_hints()
            for p in order:
                cp.add_hint(x[p], values[p])
        assert values is not None
        return self.solution((p for p, v in values.items() if v), mode)

    def _stages(self, cp: cp_model.CpModel, x: dict[Pair, cp_model.IntVar], mode: ObjectiveMode
                ) -> list[cp_model.LinearExprT]:
        """One linear expression per criterion of the mode's tuple, in order."""
        matched = sum(priority(self.cohort, self.mentees[p[0]]) * x[p] for p in x)
        order = list(x)
        total = (cp_model.LinearExpr.weighted_sum([x[p] for p in order], [self.pairs[p].score for p in order])
                 - self._seat_cost(cp, x))
        if mode is ObjectiveMode.FAIRNESS:
            top = max((f.score for f in self.pairs.values()), default=0)
            worst = cp.new_int_var(0, top, "worst_score")
            for p, var in x.items():
                cp.add(worst <= self.pairs[p].score).only_enforce_if(var)
            return [matched, worst, total]
        if mode is ObjectiveMode.RANK_MAXIMAL:
            profile = [sum(x[p] for p in x if self.pairs[p].mentee_rank == r) for r in range(1, self.top_rank + 1)]
            return [matched, *profile, total]
        return [matched, total]

    def _seat_cost(self, cp: cp_model.CpModel, x: dict[Pair, cp_model.IntVar]) -> cp_model.LinearExpr:
        """extra_seat_cost × Σ (k − 1) over each mentor's taken seats k, exactly: seat k is taken (a boolean) when he
        has at least k mentees, held so by ordering (seat k + 1 only after seat k) and counting (seats = mentees)."""
        cost: list[cp_model.LinearExpr] = []
        for b, seats in self.seats.items():
            if seats < 2 or not self.extra_seat_cost:
                continue
            taken = [cp.new_bool_var(f"{b}-seat-{k}") for k in range(1, seats + 1)]
            for earlier, later in pairwise(taken):
                cp.add_implication(later, earlier)
            cp.add(cp_model.LinearExpr.sum(taken) == cp_model.LinearExpr.sum([x[p] for p in x if p[1] == b]))
            cost.append(self.extra_seat_cost * cp_model.LinearExpr.weighted_sum(taken, list(range(seats))))
        return cp_model.LinearExpr.sum(cost)

    def _no_blocking_pair(self, cp: cp_model.CpModel, x: dict[Pair, cp_model.IntVar]) -> None:
        """For each allowed pair (i, j) both ranked, with j's capacity c > 0, it does not block:
        i has a mentor she ranks at least as high as j, or j has c mentees he ranks at least as high as i."""
        for (a, b), facts in self.pairs.items():
            capacity = self.mentors[b].capacity
            if facts.mentee_rank is None or facts.mentor_rank is None or capacity <= 0:
                continue
            mentee_content = [x[p] for p, f in self.pairs.items()
                              if p[0] == a and f.mentee_rank is not None and f.mentee_rank <= facts.mentee_rank]
            mentor_full = [x[p] for p, f in self.pairs.items()
                           if p[1] == b and f.mentor_rank is not None and f.mentor_rank <= facts.mentor_rank]
            cp.add(capacity * cp_model.LinearExpr.sum(mentee_content) + cp_model.LinearExpr.sum(mentor_full)
                   >= capacity)

    def ranked(self, mode: ObjectiveMode = ObjectiveMode.SCORE, *, stable: bool = False, k: int = 1,
               min_difference: int | None = None) -> list[Solution]:
        """README, Alternatives: up to k matchings, each the best that differs enough from every better one."""
        out: list[Solution] = []
        d = 1
        while len(out) < k:
            found = self.best(mode, stable=stable, differ_from=[s.pairs for s in out], min_difference=d)
            if found is None:
                break
            if not out:
                d = min_difference if min_difference is not None else default_min_difference(len(found.pairs))
            out.append(found)
        return out


# Brute force, to check the CP-SAT model on small cohorts ---------------------------------------------------


def valid_matchings(cohort: Cohort, allowed: Iterable[Pair]) -> Iterator[frozenset[Pair]]:
    """Every matching of the given allowed pairs that meets capacities, pins, organisation caps and quotas."""
    rules = cohort.rules
    capacity = {m.id: m.capacity for m in cohort.mentors}
    organisation = {m.id: m.organisation for m in cohort.mentors}
    gender = {m.id: m.gender for m in cohort.mentors}
    pins = dict(rules.pins)
    options: dict[str, list[str]] = {a.id: [] for a in cohort.mentees}
    for a, b in sorted(set(allowed)):
        options[a].append(b)
    mentees = [a.id for a in cohort.mentees]

    def meets_side_constraints(chosen: dict[str, str]) -> bool:
        for org, cap in rules.organisation_caps:
            if sum(1 for b in chosen.values() if organisation[b] == org) > cap:
                return False
        for quota in rules.gender_quotas:
            count = sum(1 for b in chosen.values() if gender[b] == quota.gender)
            if count < quota.min_pairs or (quota.max_pairs is not None and count > quota.max_pairs):
                return False
        return True

    def walk(i: int, chosen: dict[str, str], load: Counter[str]) -> Iterator[frozenset[Pair]]:
        if i == len(mentees):
            if meets_side_constraints(chosen):
                yield frozenset(chosen.items())
            return
        a = mentees[i]
        if a not in pins:
            yield from walk(i + 1, chosen, load)
        for b in options[a]:
            if load[b] < capacity[b] and pins.get(a, b) == b:
                chosen[a] = b
                load[b] += 1
                yield from walk(i + 1, chosen, load)
                load[b] -= 1
                del chosen[a]

    yield from walk(0, {}, Counter())


def brute_force(cohort: Cohort, mode: ObjectiveMode = ObjectiveMode.SCORE, *, stable: bool = False, k: int = 1,
                min_difference: int | None = None) -> list[Solution]:
    """`RulesOracle.ranked` by enumerating every valid matching (small cohorts: up to about 7 x 7)."""
    oracle = RulesOracle(cohort)
    if any(pin not in oracle.pairs for pin in cohort.rules.pins):
        return []
    everything = [oracle.solution(m, mode) for m in valid_matchings(cohort, oracle.pairs)
                  if not stable or not oracle.blocking_pairs(m)]
    everything.sort(key=lambda s: (s.key, sorted(s.pairs)), reverse=True)
    out: list[Solution] = []
    d = 1
    for candidate in everything:
        if len(out) == k:
            break
        if all(len(earlier.pairs - candidate.pairs) >= d for earlier in out):
            out.append(candidate)
            if len(out) == 1:
                d = min_difference if min_difference is not None else default_min_difference(len(candidate.pairs))
    return out

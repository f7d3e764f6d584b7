"""Hard rules checked apart from the engine, and shaping a scenario: outliers, pins and bans."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import replace

from scenarios import geography as geo
from scenarios.synthetic import languages_at
from solver.data import builtin_field_families
from solver.domain import Cohort, FieldRule, Mentee, Mentor, MutualChoice, Rules, Track

# Hard rules, checked here so that pins are allowed and outliers really are unmatchable -----------
# (The generator must not lean on the engine it produces test data for.)

ELIGIBILITY, FIELD, DISTANCE, LANGUAGE, GENDER, BAN = "eligibility", "field", "distance", "language", "gender", "ban"
GOAL, CHOICE, CONFLICT = "goal", "choice", "conflict"

Ranked = frozenset[tuple[str, str]]
"""(from_id, to_id) of every speed-dating ranking: what mutual choice reads."""


def hard_rule_failures(rules: Rules, mentee: Mentee, mentor: Mentor, ranked: Ranked = frozenset()
                       ) -> tuple[str, ...]:
    """The hard rules the pair breaks, in her rules' values (her segment's overrides over the programme's;
    straight-line distance; travel-time tables are not used here)."""
    her = rules.for_mentee(mentee)
    failures: list[str] = []
    if ((rules.eligible_municipalities and mentee.municipality not in rules.eligible_municipalities)
            or (rules.eligible_tracks and mentee.track not in rules.eligible_tracks)
            or mentor.years_experience < her.min_mentor_years):
        failures.append(ELIGIBILITY)
    depth = her.field_depth
    if depth > 0 and not any(a[:depth] == b[:depth] for a in mentee.occupations for b in mentor.occupations) \
            and not (her.field_rule is FieldRule.FAMILY and shared_family(rules, mentee, mentor)):
        failures.append(FIELD)
    online = her.online_meetings and mentee.online and mentor.online
    if not online and pair_km(mentee, mentor) > travel_limit_km(rules, mentee):
        failures.append(DISTANCE)
    mentor_levels = {lang.code: lang.level for lang in mentor.languages}
    level = her.min_language_level
    if not any(lang.level >= level and mentor_levels.get(lang.code, 0) >= level
               and (not her.programme_languages or lang.code in her.programme_languages)
               for lang in mentee.languages):
        failures.append(LANGUAGE)
    if rules.gender_requests_hard and mentee.requested_mentor_gender \
            and mentor.gender != mentee.requested_mentor_gender:
        failures.append(GENDER)
    if her.mentor_goals and mentor.goals and not set(her.mentor_goals) & set(mentor.goals):
        failures.append(GOAL)
    by_mentee, by_mentor = (mentee.id, mentor.id) in ranked, (mentor.id, mentee.id) in ranked
    if not {MutualChoice.NONE: True, MutualChoice.MENTEE: by_mentee, MutualChoice.MENTOR: by_mentor,
            MutualChoice.EITHER: by_mentee or by_mentor, MutualChoice.BOTH: by_mentee and by_mentor}[her.mutual_choice]:
        failures.append(CHOICE)
    if mentor.organisation and mentor.organisation in mentee.avoid_organisations:
        failures.append(CONFLICT)
    if (mentee.id, mentor.id) in rules.bans:
        failures.append(BAN)
    return tuple(failures)


def shared_family(rules: Rules, mentee: Mentee, mentor: Mentor) -> bool:
    """Whether some occupation of each lies in one field family (the programme's, else the built-in ones)."""
    def families(codes: tuple[str, ...]) -> set[str]:
        return {f.id for f in rules.field_families or builtin_field_families()
                if any(code.startswith(prefix) for code in codes for prefix in f.prefixes)}

    return bool(families(mentee.occupations) & families(mentor.occupations))


def pair_km(mentee: Mentee, mentor: Mentor) -> float:
    return geo.distance_km(mentee.lat, mentee.lon, mentor.lat, mentor.lon)


def travel_limit_km(rules: Rules, mentee: Mentee) -> float:
    """Her km limit: her rules' and her own, the smaller; her own alone when personal limits extend."""
    her = rules.for_mentee(mentee)
    if her.personal_limits_extend and mentee.max_travel_km is not None:
        return mentee.max_travel_km
    limits = [x for x in (her.max_distance_km, mentee.max_travel_km) if x is not None]
    return min(limits) if limits else math.inf


def ranked_pairs(cohort: Cohort) -> Ranked:
    return frozenset((r.from_id, r.to_id) for r in cohort.rankings)


def allowed_mentors(cohort: Cohort) -> list[list[int]]:
    """For each mentee, the indices of mentors it may be paired with."""
    ranked = ranked_pairs(cohort)
    return [[j for j, mentor in enumerate(cohort.mentors)
             if not hard_rule_failures(cohort.rules, mentee, mentor, ranked)] for mentee in cohort.mentees]


def max_matching_size(cohort: Cohort, allowed: Sequence[Sequence[int]] | None = None) -> int:
    """The most mentees that can be matched under pairwise rules and capacities (augmenting paths).

    Ignores organisation caps and quotas: an upper bound on what the solver can match. Recursion goes
    as deep as the number of mentors: meant for scenario-sized cohorts, not national pools.
    """
    adjacency = allowed if allowed is not None else allowed_mentors(cohort)
    capacity = [m.capacity for m in cohort.mentors]
    assigned: list[list[int]] = [[] for _ in cohort.mentors]

    def augment(i: int, seen: set[int]) -> bool:
        for j in adjacency[i]:
            if j in seen:
                continue
            seen.add(j)
            if len(assigned[j]) < capacity[j]:
                assigned[j].append(i)
                return True
            for k, other in enumerate(assigned[j]):
                if augment(other, seen):
                    assigned[j][k] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(cohort.mentees)))


# Scenario shaping: deliberate outliers, pins and bans ---------------------------------------------

PIN_MARGIN_KM = 0.5  # pins stay this far inside the distance limit, so no rounding anywhere can break them
OUT_OF_REACH_MARGIN_KM = 1.0


def with_mentee(cohort: Cohort, mentee: Mentee) -> Cohort:
    return replace(cohort, mentees=tuple(mentee if m.id == mentee.id else m for m in cohort.mentees))


def mentee_by_id(cohort: Cohort, mentee_id: str) -> Mentee:
    return cohort.mentees[cohort.mentee_index()[mentee_id]]


def _check_outlier(cohort: Cohort, mentee_id: str, reason: str) -> None:
    """The mentee can have no mentor, and `reason` alone stands in the way for at least one of them.

    So the explanation has one clear cause and one clear fix ("a longer distance", "B1 instead of B2").
    """
    mentee = mentee_by_id(cohort, mentee_id)
    ranked = ranked_pairs(cohort)
    failures = [hard_rule_failures(cohort.rules, mentee, mentor, ranked) for mentor in cohort.mentors]
    if not all(reason in f for f in failures) or (reason,) not in failures:
        raise RuntimeError(f"{cohort.name}: outlier {mentee_id} is not cleanly blocked by {reason}")
    if reason == DISTANCE:
        limit = travel_limit_km(cohort.rules, mentee)
        if min(pair_km(mentee, m) for m in cohort.mentors) <= limit + OUT_OF_REACH_MARGIN_KM:
            raise RuntimeError(f"{cohort.name}: outlier {mentee_id} is too close to the distance limit")


def pick_outliers(rng: random.Random, cohort: Cohort, count: int, taken: set[str]) -> list[str]:
    """Mentees to turn into outliers: ordinary ones (no personal limit, no gender request), not reused."""
    ordinary = [m.id for m in cohort.mentees
                if m.id not in taken and m.max_travel_km is None and not m.requested_mentor_gender]
    chosen = rng.sample(ordinary, count)
    taken.update(chosen)
    return chosen


def move_far(cohort: Cohort, mentee_id: str, place: geo.Place) -> Cohort:
    """Rehouse the mentee at `place` (a move, a house outside the programme's area)."""
    moved = replace(mentee_by_id(cohort, mentee_id), lat=place.lat, lon=place.lon, municipality=place.municipality)
    cohort = with_mentee(cohort, moved)
    _check_outlier(cohort, mentee_id, DISTANCE)
    return cohort


def limit_travel(cohort: Cohort, mentee_id: str, places: Sequence[geo.Place]) -> Cohort:
    """Put the mentee at the place farthest from every workplace, with a personal limit just short of it."""
    def nearest(place: geo.Place) -> float:
        return min(geo.distance_km(place.lat, place.lon, m.lat, m.lon) for m in cohort.mentors)

    place = max(places, key=nearest)
    limit = float(max(1, math.floor(nearest(place) - OUT_OF_REACH_MARGIN_KM - 0.01)))
    mentee = replace(mentee_by_id(cohort, mentee_id), lat=place.lat, lon=place.lon,
                     municipality=place.municipality, max_travel_km=limit)
    cohort = with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, DISTANCE)
    return cohort


def without_field(cohort: Cohort, mentee_id: str, preferred: Sequence[str]) -> Cohort:
    """Give the mentee an occupation no mentor shares at her field depth, nor (under the family rule) in a field
    family."""
    mentee = mentee_by_id(cohort, mentee_id)
    depth = cohort.rules.for_mentee(mentee).field_depth
    present = {code[:depth] for mentor in cohort.mentors for code in mentor.occupations}
    for code in (*preferred, *geo.OCCUPATION_LABELS):
        moved = replace(mentee, occupations=(code,))
        if code[:depth] not in present and not any(shared_family(cohort.rules, moved, m) for m in cohort.mentors):
            break
    cohort = with_mentee(cohort, moved)
    _check_outlier(cohort, mentee_id, FIELD)
    return cohort


def without_language(cohort: Cohort, mentee_id: str, preferred: Sequence[str], english: int,
                      danish: int) -> Cohort:
    """Give the mentee a first language no mentor speaks well enough, and English/Danish below the minimum."""
    level = cohort.rules.min_language_level
    spoken = {lang.code for mentor in cohort.mentors for lang in mentor.languages if lang.level >= level}
    first = next(code for code in preferred if code not in spoken)
    mentee = replace(mentee_by_id(cohort, mentee_id), languages=languages_at(((first, 6), ("en", english), ("da", danish))),
                     first_language=first, country_of_origin=geo.LANGUAGE_ORIGIN[first])
    cohort = with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, LANGUAGE)
    return cohort


def outside_programme_languages(cohort: Cohort, mentee_id: str, code: str, english: int, danish: int) -> Cohort:
    """Make the mentee speak `code` (which some mentor speaks) and English and Danish below the level: only the
    programme languages keep her from a mentor."""
    mentee = replace(mentee_by_id(cohort, mentee_id), first_language=code, country_of_origin=geo.LANGUAGE_ORIGIN[code],
                     languages=languages_at(((code, 6), ("en", english), ("da", danish))))
    cohort = with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, LANGUAGE)
    level = cohort.rules.for_mentee(mentee).min_language_level
    if not any(lang.code == code and lang.level >= level for m in cohort.mentors for lang in m.languages):
        raise RuntimeError(f"{cohort.name}: no mentor speaks {code}, so the programme languages decide nothing")
    return cohort


def speaking(cohort: Cohort, code: str, level: int) -> Cohort:
    """At least one eligible mentor (enough years) speaks `code` at `level`: the first one born abroad (not Danish
    first), else the first one, learns it."""
    eligible = [m for m in cohort.mentors if m.years_experience >= cohort.rules.min_mentor_years]
    if any(lang.code == code and lang.level >= level for m in eligible for lang in m.languages):
        return cohort
    chosen = next((m for m in eligible if m.languages and m.languages[0].code != "da"), eligible[0])
    learnt = replace(chosen, languages=languages_at(((code, level), *((x.code, x.level) for x in chosen.languages))))
    return replace(cohort, mentors=tuple(learnt if m.id == chosen.id else m for m in cohort.mentors))


def near_town(person: Mentee | Mentor, town: str, km: float = 15.0) -> bool:
    centre = geo.TOWNS[town]
    return geo.distance_km(person.lat, person.lon, centre.lat, centre.lon) <= km


def ineligible(cohort: Cohort, mentee_id: str, *, place: geo.Place | None = None,
                track: Track | None = None) -> Cohort:
    """Move the mentee outside the eligible municipalities, or outside the target group."""
    mentee = mentee_by_id(cohort, mentee_id)
    if place is not None:
        mentee = replace(mentee, lat=place.lat, lon=place.lon, municipality=place.municipality)
    if track is not None:
        mentee = replace(mentee, track=track)
    cohort = with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, ELIGIBILITY)
    return cohort


def pins_and_bans(rng: random.Random, cohort: Cohort, n_pins: int, n_bans: int, avoid: set[str], *,
                   allowed: Sequence[Sequence[int]] | None = None,
                   pin_mentor: Callable[[Mentor], bool] = lambda m: True,
                   prefer_ranked: bool = False) -> Cohort:
    """Coordinator decisions that are possible: pins obey every hard rule, capacity and caps; bans are
    pairs that would otherwise be allowed (a conflict or a failed earlier pairing), never a pin."""
    rules = cohort.rules
    ranked = ranked_pairs(cohort)
    allowed = allowed if allowed is not None else allowed_mentors(cohort)
    pairs = [(cohort.mentees[i], cohort.mentors[j]) for i, row in enumerate(allowed)
             if cohort.mentees[i].id not in avoid for j in row]
    rng.shuffle(pairs)
    if prefer_ranked:
        # Stable sort: pairs the mentee ranked at the kick-off come first, in shuffled order.
        pairs.sort(key=lambda p: (p[0].id, p[1].id) not in ranked)
    caps = rules.organisation_cap_map
    used_by_mentor: dict[str, int] = {}
    used_by_org: dict[str, int] = {}
    pinned_mentees: set[str] = set()
    pins: list[tuple[str, str]] = []
    for mentee, mentor in pairs:
        if len(pins) == n_pins:
            break
        if (mentee.id in pinned_mentees or not pin_mentor(mentor)
                or pair_km(mentee, mentor) > travel_limit_km(rules, mentee) - PIN_MARGIN_KM
                or used_by_mentor.get(mentor.id, 0) >= mentor.capacity
                or used_by_org.get(mentor.organisation, 0) >= caps.get(mentor.organisation, n_pins + 1)):
            continue
        pins.append((mentee.id, mentor.id))
        pinned_mentees.add(mentee.id)
        used_by_mentor[mentor.id] = used_by_mentor.get(mentor.id, 0) + 1
        used_by_org[mentor.organisation] = used_by_org.get(mentor.organisation, 0) + 1
    # A ban should take away one option, not the mentee's only one.
    options = {cohort.mentees[i].id: len(row) for i, row in enumerate(allowed)}
    bans: list[tuple[str, str]] = []
    for mentee, mentor in pairs:
        if len(bans) == n_bans:
            break
        if mentee.id not in pinned_mentees and options[mentee.id] > 1 and all(b[0] != mentee.id for b in bans):
            bans.append((mentee.id, mentor.id))
    if len(pins) < n_pins or len(bans) < n_bans:
        raise RuntimeError(f"{cohort.name}: not enough allowed pairs for {n_pins} pins and {n_bans} bans")
    return replace(cohort, rules=replace(rules, pins=tuple(sorted(pins)), bans=tuple(sorted(bans))))


def district(town: str, name: str) -> geo.Place:
    return next(p for p in geo.TOWNS[town].districts if p.name == name)

"""The seeded cohort generator and the five bundled scenarios: same seed, same cohort, byte for byte."""

from __future__ import annotations

import argparse
import bisect
import math
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import Generic, TypeVar

from scenarios import geography as geo
from solver.domain import (
    Cohort,
    GenderQuota,
    Goal,
    Language,
    Mentee,
    Mentor,
    Ranking,
    Rules,
    Track,
    Weights,
)

T = TypeVar("T")
Weighted = tuple[tuple[T, float], ...]
"""A discrete distribution: (value, relative weight) pairs; weights need not sum to 1."""

TownWeights = Sequence[str | tuple[str, float]]
"""Town keys of `geography.TOWNS`, alone (weighted by population) or with an explicit weight."""

# The files `solver.ingest.write_cohort_dir` may write; regenerating clears exactly these.
COHORT_FILES = ("mentors.csv", "mentees.csv", "rankings.csv", "travel_times.csv", "rules.toml")

COORDINATE_DECIMALS = 5  # ~1 m: finer is noise, and short numbers keep the CSV files stable and small


class _Pick(Generic[T]):
    """Draws from a fixed distribution in O(log n) per draw (`random.choices` re-sums weights each call)."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, weighted: Iterable[tuple[T, float]]) -> None:
        pairs = [(item, float(w)) for item, w in weighted if w > 0]
        if not pairs:
            raise ValueError("a distribution needs at least one value with a positive weight")
        self._items = [item for item, _ in pairs]
        self._cum = list(accumulate(w for _, w in pairs))
        self._total = self._cum[-1]

    def __call__(self, rng: random.Random) -> T:
        return self._items[bisect.bisect_right(self._cum, rng.random() * self._total)]


# Profiles ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenteeProfile:
    """Who a programme's mentees are; every attribute is drawn independently from these mixes."""

    fields: Weighted[str] = (
        ("business", 0.22), ("it", 0.16), ("engineering", 0.14), ("science", 0.08), ("health", 0.08),
        ("teaching", 0.08), ("social", 0.08), ("culture", 0.06), ("law", 0.04), ("architecture", 0.03),
        ("business_assoc", 0.03),
    )
    tracks: Weighted[Track] = ((Track.SPOUSE, 1.0),)
    tracks_by_origin: tuple[tuple[str, Weighted[Track]], ...] = ()  # overrides `tracks` for these origins
    goals: Weighted[Goal] = (
        (Goal.JOB, 0.7), (Goal.EDUCATION, 0.1), (Goal.OWN_BUSINESS, 0.1), (Goal.SOCIAL_NETWORK, 0.1),
    )
    origins: Weighted[str] = geo.ORIGINS_SPOUSE
    genders: Weighted[str] = (("f", 0.7), ("m", 0.28), ("x", 0.02))
    requested_gender_share: float = 0.05
    english: Weighted[int] = ((0, 0.02), (3, 0.2), (4, 0.35), (5, 0.3), (6, 0.13))  # CEFR 1..6, 0 = none
    danish: Weighted[int] = ((0, 0.4), (1, 0.25), (2, 0.2), (3, 0.1), (4, 0.05))
    min_working_level: int = 0  # when > 0, English or Danish is raised to it (a programme entry requirement)
    second_occupation_share: float = 0.3
    personal_limit_share: float = 0.05  # mentees who state their own, tighter travel limit
    personal_limit_km: tuple[int, int] = (5, 10)


@dataclass(frozen=True, slots=True)
class MentorProfile:
    """Who a programme's mentors are and where they work (a site, or a town centre or district)."""

    fields: Weighted[str] = (
        ("business", 0.26), ("it", 0.18), ("engineering", 0.15), ("science", 0.08), ("health", 0.07),
        ("teaching", 0.06), ("social", 0.07), ("culture", 0.04), ("law", 0.05), ("architecture", 0.04),
    )
    sites: Weighted[str] = ()  # keys of `geography.SITES`; the site names the organisation
    site_share: float = 1.0  # with both sites and towns: the share of mentors at a site
    organisations: Weighted[str] = ()  # for mentors working in a town rather than at a site
    fields_by_organisation: tuple[tuple[str, Weighted[str]], ...] = ()
    genders: Weighted[str] = (("f", 0.48), ("m", 0.5), ("x", 0.02))
    english: Weighted[int] = ((4, 0.35), (5, 0.5), (6, 0.15))
    extra_language_share: float = 0.3
    immigrant_share: float = 0.08  # mentors who came to Denmark themselves: another first language
    immigrant_origins: Weighted[str] = geo.ORIGINS_MENTOR_IMMIGRANT
    capacity_two_share: float = 0.1
    leadership_share: float = 0.35
    returning_share: float = 0.25
    years: tuple[int, int, int] = (3, 35, 14)  # low, high, mode of a triangular distribution
    goal_restriction_share: float = 0.1  # mentors who only want to support some goals
    market_counts: Weighted[int] = ((0, 0.35), (1, 0.35), (2, 0.2), (3, 0.1))
    workplace_spread_km: float = 0.5  # around a district; sites get a few metres (buildings on a campus)
    proportional: bool = False  # sites or organisations get their exact share (partners recruit N each)


_DEFAULT_MENTEES = MenteeProfile()
_DEFAULT_MENTORS = MentorProfile()
_DEFAULT_RULES = Rules()


# Geometry and ids --------------------------------------------------------------------------------


def _ids(prefix: str, n: int) -> list[str]:
    """'E0001'...: zero-padded to the cohort's size, at least four digits, so ids sort as numbers."""
    width = max(4, len(str(n)))
    return [f"{prefix}{i:0{width}d}" for i in range(1, n + 1)]


def _scatter(rng: random.Random, lat: float, lon: float, sigma_km: float) -> tuple[float, float]:
    """A point around (lat, lon), gaussian in kilometres; an equirectangular step is exact enough here."""
    north = rng.gauss(0.0, sigma_km)
    east = rng.gauss(0.0, sigma_km)
    lat2 = lat + north / 110.574
    lon2 = lon + east / (111.320 * math.cos(math.radians(lat)))
    return round(lat2, COORDINATE_DECIMALS), round(lon2, COORDINATE_DECIMALS)


def _town_pick(towns: TownWeights) -> _Pick[geo.Town]:
    weighted: list[tuple[geo.Town, float]] = []
    for entry in towns:
        key, weight = (entry, float(geo.TOWNS[entry].population)) if isinstance(entry, str) else entry
        weighted.append((geo.TOWNS[key], weight))
    return _Pick(weighted)


def _allocate(rng: random.Random, weighted: Weighted[T], n: int) -> list[T]:
    """Exactly n values in proportion to their weights (largest remainder), in shuffled order."""
    total = sum(w for _, w in weighted)
    quotas = [(value, n * w / total) for value, w in weighted]
    counts = [int(q) for _, q in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda k: (-(quotas[k][1] - counts[k]), k))
    for k in by_remainder[: n - sum(counts)]:
        counts[k] += 1
    out = [value for (value, _), count in zip(quotas, counts, strict=True) for _ in range(count)]
    rng.shuffle(out)
    return out


def _district_picker() -> Callable[[random.Random, geo.Town], geo.Place]:
    """Draws a district of a town by its residents; the per-town distributions are built once."""
    picks: dict[str, _Pick[geo.Place]] = {}

    def pick(rng: random.Random, town: geo.Town) -> geo.Place:
        if town.key not in picks:
            picks[town.key] = _Pick((place, place.weight) for place in town.districts)
        return picks[town.key](rng)

    return pick


def _levels(pairs: Iterable[tuple[str, int]]) -> tuple[Language, ...]:
    """Languages in first-seen order, each at the best level given; level 0 means not spoken."""
    best: dict[str, int] = {}
    for code, level in pairs:
        if level > 0:
            best[code] = max(best.get(code, 0), level)
    return tuple(Language(code, level) for code, level in best.items())


# The generator -----------------------------------------------------------------------------------


def generate_cohort(
    *,
    seed: int,
    n_mentees: int,
    n_mentors: int,
    towns: TownWeights,
    mentor_towns: TownWeights | None = None,
    mentees: MenteeProfile = _DEFAULT_MENTEES,
    mentors: MentorProfile = _DEFAULT_MENTORS,
    rules: Rules = _DEFAULT_RULES,
    rankings: bool = False,
    name: str = "",
) -> Cohort:
    """A synthetic cohort: mentees live around `towns`, mentors work at sites or in `mentor_towns`.

    Pure and seeded: only `random.Random(seed)` is drawn from, and nothing iterates a set or a hash
    order, so the same arguments give an equal cohort on every run and machine. Scales linearly:
    rankings draw from a handful of people met per person, never from all pairs.
    """
    if n_mentees < 0 or n_mentors < 0:
        raise ValueError("cohort sizes must be zero or more")
    rng = random.Random(seed)
    mentee_rows, mentee_areas = _mentees(rng, n_mentees, _town_pick(towns), mentees)
    mentor_rows, mentor_areas = _mentors(rng, n_mentors, mentor_towns if mentor_towns is not None else towns,
                                         mentors)
    ranking_rows: tuple[Ranking, ...] = ()
    if rankings:
        ranking_rows = _speed_dating(rng, mentee_rows, mentee_areas, mentor_rows, mentor_areas)
    return Cohort(mentors=tuple(mentor_rows), mentees=tuple(mentee_rows), rankings=ranking_rows,
                  rules=rules, name=name)


def _mentees(rng: random.Random, n: int, town_pick: _Pick[geo.Town],
             profile: MenteeProfile) -> tuple[list[Mentee], list[str]]:
    field_pick = _Pick(profile.fields)
    track_pick = _Pick(profile.tracks)
    track_picks = {origin: _Pick(mix) for origin, mix in profile.tracks_by_origin}
    goal_pick = _Pick(profile.goals)
    origin_pick = _Pick(profile.origins)
    gender_pick = _Pick(profile.genders)
    english_pick = _Pick(profile.english)
    danish_pick = _Pick(profile.danish)
    district_pick = _district_picker()
    rows: list[Mentee] = []
    areas: list[str] = []
    for mentee_id in _ids("E", n):
        town = town_pick(rng)
        place = district_pick(rng, town)
        lat, lon = _scatter(rng, place.lat, place.lon, place.spread_km)
        codes = geo.FIELDS[field_pick(rng)].codes
        occupations = [rng.choice(codes)]
        if rng.random() < profile.second_occupation_share:
            other = rng.choice(codes)
            if other != occupations[0]:
                occupations.append(other)
        origin = origin_pick(rng)
        first_language = geo.FIRST_LANGUAGE[origin]
        english, danish = english_pick(rng), danish_pick(rng)
        if max(english, danish) < profile.min_working_level:
            # Entry requirement: the better of the two is the one the mentee would have worked on.
            if english >= danish:
                english = profile.min_working_level
            else:
                danish = profile.min_working_level
        gender = gender_pick(rng)
        requested = ""
        if rng.random() < profile.requested_gender_share:
            requested = "f" if gender == "f" or rng.random() < 0.5 else "m"
        max_km: float | None = None
        if rng.random() < profile.personal_limit_share:
            max_km = float(rng.randint(*profile.personal_limit_km))
        rows.append(Mentee(
            id=mentee_id, lat=lat, lon=lon, occupations=tuple(occupations),
            languages=_levels(((first_language, 6), ("en", english), ("da", danish))),
            max_travel_km=max_km,
            interests=tuple(sorted(rng.sample(geo.INTERESTS, rng.randint(2, 5)))),
            goal=goal_pick(rng), gender=gender, requested_mentor_gender=requested,
            country_of_origin=origin, first_language=first_language,
            municipality=place.municipality, track=track_picks.get(origin, track_pick)(rng),
        ))
        areas.append(town.area)
    return rows, areas


def _mentors(rng: random.Random, n: int, towns: TownWeights,
             profile: MentorProfile) -> tuple[list[Mentor], list[str]]:
    site_pick = _Pick((geo.SITES[key], w) for key, w in profile.sites) if profile.sites else None
    town_pick = _town_pick(towns) if towns else None
    if site_pick is None and town_pick is None:
        raise ValueError("mentors need sites or towns to work in")
    org_pick = _Pick(profile.organisations) if profile.organisations else None
    default_field_pick = _Pick(profile.fields)
    field_picks = {org: _Pick(mix) for org, mix in profile.fields_by_organisation}
    gender_pick = _Pick(profile.genders)
    english_pick = _Pick(profile.english)
    extra_pick = _Pick(geo.EXTRA_LANGUAGES_DANES)
    origin_pick = _Pick(profile.immigrant_origins)
    market_pick = _Pick(geo.MARKETS)
    market_count_pick = _Pick(profile.market_counts)
    goal_choices = (Goal.JOB, Goal.EDUCATION, Goal.OWN_BUSINESS, Goal.SOCIAL_NETWORK)
    district_pick = _district_picker()
    site_plan: list[geo.Site] = []
    org_plan: list[str] = []
    if profile.proportional and profile.sites and (town_pick is None or profile.site_share >= 1.0):
        site_plan = _allocate(rng, tuple((geo.SITES[key], w) for key, w in profile.sites), n)
    elif profile.proportional and profile.organisations and not profile.sites:
        org_plan = _allocate(rng, profile.organisations, n)
    low, high, mode = profile.years
    rows: list[Mentor] = []
    areas: list[str] = []
    for k, mentor_id in enumerate(_ids("M", n)):
        at_site = site_pick is not None and (town_pick is None or rng.random() < profile.site_share)
        if at_site and site_pick is not None:
            site = site_plan[k] if site_plan else site_pick(rng)
            lat, lon = _scatter(rng, site.lat, site.lon, 0.05)
            organisation, area = site.organisation, site.area
        else:
            assert town_pick is not None
            town = town_pick(rng)
            # Offices cluster in the centre; the rest spread over the districts.
            place = town.districts[0] if rng.random() < 0.5 else district_pick(rng, town)
            lat, lon = _scatter(rng, place.lat, place.lon, profile.workplace_spread_km)
            organisation = org_plan[k] if org_plan else org_pick(rng) if org_pick is not None else ""
            area = town.area
        field = geo.FIELDS[field_picks.get(organisation, default_field_pick)(rng)]
        occupations = rng.sample(field.codes, min(len(field.codes), rng.choice((1, 1, 2, 2, 3))))
        leadership = rng.random() < profile.leadership_share
        if leadership and field.manager_code:
            occupations.append(field.manager_code)
        years = round(rng.triangular(low, high, mode))
        if leadership:
            years = max(years, 6)  # nobody leads people in their first years
        markets: list[str] = []
        if rng.random() < profile.immigrant_share:
            origin = origin_pick(rng)
            markets.append(origin)
            languages = _levels(((geo.FIRST_LANGUAGE[origin], 6), ("da", rng.choice((4, 5, 5, 6))),
                                 ("en", english_pick(rng))))
        else:
            extra = [(extra_pick(rng), rng.randint(3, 5))] if rng.random() < profile.extra_language_share else []
            languages = _levels((("da", 6), ("en", english_pick(rng)), *extra))
        for _ in range(market_count_pick(rng)):
            market = market_pick(rng)
            if market not in markets:
                markets.append(market)
        goals: tuple[Goal, ...] = ()
        if rng.random() < profile.goal_restriction_share:
            goals = tuple(sorted(rng.sample(goal_choices, rng.randint(1, 2)), key=goal_choices.index))
        rows.append(Mentor(
            id=mentor_id, lat=lat, lon=lon, occupations=tuple(occupations), languages=languages,
            years_experience=years, capacity=2 if rng.random() < profile.capacity_two_share else 1,
            leadership=leadership, gender=gender_pick(rng),
            interests=tuple(sorted(rng.sample(geo.INTERESTS, rng.randint(2, 5)))),
            organisation=organisation, markets=tuple(sorted(markets)),
            returning=years >= 3 and rng.random() < profile.returning_share, goals=goals,
        ))
        areas.append(area)
    return rows, areas


def _speed_dating(rng: random.Random, mentees: Sequence[Mentee], mentee_areas: Sequence[str],
                  mentors: Sequence[Mentor], mentor_areas: Sequence[str]) -> tuple[Ranking, ...]:
    """Rankings from a kick-off event per area: each person meets up to 8 and ranks 3-5 of them.

    Partial by design, with an occasional tie; the order follows a noisy liking for a close field,
    shared interests and a short trip, so rankings mostly agree with the profile but not always.
    """

    def liking(a_occ: Sequence[str], b_occ: Sequence[str], a_int: Sequence[str], b_int: Sequence[str],
               km: float) -> float:
        field = max((3.0 if x == y else 2.0 if x[:2] == y[:2] else 0.5 if x[:1] == y[:1] else 0.0)
                    for x in a_occ for y in b_occ) if a_occ and b_occ else 0.0
        shared = len(set(a_int).intersection(b_int))
        return field + 0.5 * shared - 0.05 * km + rng.gauss(0.0, 1.0)

    def ranks(count: int) -> list[int]:
        tie_at = rng.randrange(1, count) if count > 1 and rng.random() < 0.15 else -1
        out: list[int] = []
        for k in range(count):
            out.append(1 if k == 0 else out[-1] if k == tie_at else out[-1] + 1)
        return out

    mentors_by_area: dict[str, list[int]] = {}
    for j, area in enumerate(mentor_areas):
        mentors_by_area.setdefault(area, []).append(j)
    mentees_by_area: dict[str, list[int]] = {}
    for i, area in enumerate(mentee_areas):
        mentees_by_area.setdefault(area, []).append(i)

    out: list[Ranking] = []
    for i, mentee in enumerate(mentees):
        pool = mentors_by_area.get(mentee_areas[i], [])
        met = rng.sample(pool, min(8, len(pool)))
        scored = sorted(met, key=lambda j: -liking(
            mentee.occupations, mentors[j].occupations, mentee.interests, mentors[j].interests,
            geo.distance_km(mentee.lat, mentee.lon, mentors[j].lat, mentors[j].lon)))
        chosen = scored[:rng.randint(3, 5)]
        out.extend(Ranking(mentee.id, mentors[j].id, r) for j, r in zip(chosen, ranks(len(chosen)), strict=True))
    for j, mentor in enumerate(mentors):
        pool = mentees_by_area.get(mentor_areas[j], [])
        met = rng.sample(pool, min(8, len(pool)))
        scored = sorted(met, key=lambda i: -liking(
            mentor.occupations, mentees[i].occupations, mentor.interests, mentees[i].interests,
            geo.distance_km(mentor.lat, mentor.lon, mentees[i].lat, mentees[i].lon)))
        chosen = scored[:rng.randint(3, 5)]
        out.extend(Ranking(mentor.id, mentees[i].id, r) for i, r in zip(chosen, ranks(len(chosen)), strict=True))
    return tuple(out)


# A national pool for benchmarks --------------------------------------------------------------------


def national_pool(seed: int, n_mentees: int, n_mentors: int, *, organisation_count: int = 40,
                  with_rankings: bool = False, organisation_cap: int | None = None) -> Cohort:
    """A nationwide pool over 15 Danish towns with every track, for benchmarks and load tests.

    Organisations are ids ("ORG001"...) whose sizes fall off with their rank (a few large, many small;
    1/sqrt(rank), so the largest of 40 supplies about a tenth of the mentors). With `organisation_cap`,
    every organisation is capped at that many mentees.
    """
    width = max(3, len(str(organisation_count)))
    organisations = tuple((f"ORG{k:0{width}d}", 1.0 / math.sqrt(k)) for k in range(1, organisation_count + 1))
    mentees = MenteeProfile(
        fields=(("business", 0.16), ("it", 0.13), ("engineering", 0.11), ("science", 0.05), ("health", 0.08),
                ("teaching", 0.07), ("social", 0.07), ("culture", 0.04), ("law", 0.03), ("architecture", 0.03),
                ("business_assoc", 0.06), ("ict_tech", 0.03), ("care", 0.06), ("hospitality", 0.04),
                ("trades", 0.02), ("transport", 0.02)),
        tracks=((Track.SPOUSE, 0.35), (Track.REFUGEE, 0.3), (Track.STUDENT, 0.2), (Track.OTHER, 0.15)),
        origins=geo.ORIGINS_SPOUSE + geo.ORIGINS_REFUGEE + geo.ORIGINS_STUDENT,
        genders=(("f", 0.6), ("m", 0.38), ("x", 0.02)),
        english=((0, 0.1), (2, 0.1), (3, 0.25), (4, 0.3), (5, 0.2), (6, 0.05)),
        danish=((0, 0.2), (1, 0.2), (2, 0.25), (3, 0.2), (4, 0.1), (5, 0.05)),
        min_working_level=3,
    )
    mentors = MentorProfile(
        fields=(("business", 0.2), ("it", 0.14), ("engineering", 0.12), ("science", 0.05), ("health", 0.08),
                ("teaching", 0.08), ("social", 0.08), ("culture", 0.04), ("law", 0.04), ("architecture", 0.03),
                ("business_assoc", 0.05), ("ict_tech", 0.03), ("care", 0.03), ("hospitality", 0.01),
                ("trades", 0.01), ("transport", 0.01)),
        organisations=organisations,
        immigrant_share=0.12,
    )
    caps = tuple((org, organisation_cap) for org, _ in organisations) if organisation_cap is not None else ()
    rules = Rules(max_distance_km=30.0, field_depth=2, min_language_level=3, organisation_caps=caps)
    return generate_cohort(seed=seed, n_mentees=n_mentees, n_mentors=n_mentors, towns=geo.NATIONAL_TOWNS,
                           mentees=mentees, mentors=mentors, rules=rules, rankings=with_rankings,
                           name=f"national_{n_mentees}x{n_mentors}_seed{seed}")


# Hard rules, checked here so that pins are allowed and outliers really are unmatchable -----------
# (The generator must not lean on the engine it produces test data for.)

ELIGIBILITY, FIELD, DISTANCE, LANGUAGE, GENDER, BAN = "eligibility", "field", "distance", "language", "gender", "ban"


def hard_rule_failures(rules: Rules, mentee: Mentee, mentor: Mentor) -> tuple[str, ...]:
    """The hard rules the pair breaks (straight-line distance; travel-time tables are not used here)."""
    failures: list[str] = []
    if ((rules.eligible_municipalities and mentee.municipality not in rules.eligible_municipalities)
            or (rules.eligible_tracks and mentee.track not in rules.eligible_tracks)
            or mentor.years_experience < rules.min_mentor_years):
        failures.append(ELIGIBILITY)
    depth = rules.field_depth
    if depth > 0 and not any(a[:depth] == b[:depth] for a in mentee.occupations for b in mentor.occupations):
        failures.append(FIELD)
    if pair_km(mentee, mentor) > travel_limit_km(rules, mentee):
        failures.append(DISTANCE)
    mentor_levels = {lang.code: lang.level for lang in mentor.languages}
    if not any(lang.level >= rules.min_language_level
               and mentor_levels.get(lang.code, 0) >= rules.min_language_level for lang in mentee.languages):
        failures.append(LANGUAGE)
    if rules.gender_requests_hard and mentee.requested_mentor_gender \
            and mentor.gender != mentee.requested_mentor_gender:
        failures.append(GENDER)
    if (mentee.id, mentor.id) in rules.bans:
        failures.append(BAN)
    return tuple(failures)


def pair_km(mentee: Mentee, mentor: Mentor) -> float:
    return geo.distance_km(mentee.lat, mentee.lon, mentor.lat, mentor.lon)


def travel_limit_km(rules: Rules, mentee: Mentee) -> float:
    limits = [x for x in (rules.max_distance_km, mentee.max_travel_km) if x is not None]
    return min(limits) if limits else math.inf


def allowed_mentors(cohort: Cohort) -> list[list[int]]:
    """For each mentee, the indices of mentors it may be paired with."""
    return [[j for j, mentor in enumerate(cohort.mentors) if not hard_rule_failures(cohort.rules, mentee, mentor)]
            for mentee in cohort.mentees]


def _max_matching_size(cohort: Cohort, allowed: Sequence[Sequence[int]] | None = None) -> int:
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


def _with_mentee(cohort: Cohort, mentee: Mentee) -> Cohort:
    return replace(cohort, mentees=tuple(mentee if m.id == mentee.id else m for m in cohort.mentees))


def _mentee(cohort: Cohort, mentee_id: str) -> Mentee:
    return cohort.mentees[cohort.mentee_index()[mentee_id]]


def _check_outlier(cohort: Cohort, mentee_id: str, reason: str) -> None:
    """The mentee can have no mentor, and `reason` alone stands in the way for at least one of them.

    So the explanation has one clear cause and one clear fix ("a longer distance", "B1 instead of B2").
    """
    mentee = _mentee(cohort, mentee_id)
    failures = [hard_rule_failures(cohort.rules, mentee, mentor) for mentor in cohort.mentors]
    if not all(reason in f for f in failures) or (reason,) not in failures:
        raise RuntimeError(f"{cohort.name}: outlier {mentee_id} is not cleanly blocked by {reason}")
    if reason == DISTANCE:
        limit = travel_limit_km(cohort.rules, mentee)
        if min(pair_km(mentee, m) for m in cohort.mentors) <= limit + OUT_OF_REACH_MARGIN_KM:
            raise RuntimeError(f"{cohort.name}: outlier {mentee_id} is too close to the distance limit")


def _pick_outliers(rng: random.Random, cohort: Cohort, count: int, taken: set[str]) -> list[str]:
    """Mentees to turn into outliers: ordinary ones (no personal limit, no gender request), not reused."""
    ordinary = [m.id for m in cohort.mentees
                if m.id not in taken and m.max_travel_km is None and not m.requested_mentor_gender]
    chosen = rng.sample(ordinary, count)
    taken.update(chosen)
    return chosen


def _move_far(cohort: Cohort, mentee_id: str, place: geo.Place) -> Cohort:
    """Rehouse the mentee at `place` (a move, a house outside the programme's area)."""
    moved = replace(_mentee(cohort, mentee_id), lat=place.lat, lon=place.lon, municipality=place.municipality)
    cohort = _with_mentee(cohort, moved)
    _check_outlier(cohort, mentee_id, DISTANCE)
    return cohort


def _limit_travel(cohort: Cohort, mentee_id: str, places: Sequence[geo.Place]) -> Cohort:
    """Put the mentee at the place farthest from every workplace, with a personal limit just short of it."""
    def nearest(place: geo.Place) -> float:
        return min(geo.distance_km(place.lat, place.lon, m.lat, m.lon) for m in cohort.mentors)

    place = max(places, key=nearest)
    limit = float(max(1, math.floor(nearest(place) - OUT_OF_REACH_MARGIN_KM - 0.01)))
    mentee = replace(_mentee(cohort, mentee_id), lat=place.lat, lon=place.lon,
                     municipality=place.municipality, max_travel_km=limit)
    cohort = _with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, DISTANCE)
    return cohort


def _without_field(cohort: Cohort, mentee_id: str, preferred: Sequence[str]) -> Cohort:
    """Give the mentee an occupation no mentor shares at the programme's field depth."""
    depth = cohort.rules.field_depth
    present = {code[:depth] for mentor in cohort.mentors for code in mentor.occupations}
    code = next(c for c in (*preferred, *geo.OCCUPATION_LABELS) if c[:depth] not in present)
    cohort = _with_mentee(cohort, replace(_mentee(cohort, mentee_id), occupations=(code,)))
    _check_outlier(cohort, mentee_id, FIELD)
    return cohort


def _without_language(cohort: Cohort, mentee_id: str, preferred: Sequence[str], english: int,
                      danish: int) -> Cohort:
    """Give the mentee a first language no mentor speaks well enough, and English/Danish below the minimum."""
    level = cohort.rules.min_language_level
    spoken = {lang.code for mentor in cohort.mentors for lang in mentor.languages if lang.level >= level}
    first = next(code for code in preferred if code not in spoken)
    mentee = replace(_mentee(cohort, mentee_id), languages=_levels(((first, 6), ("en", english), ("da", danish))),
                     first_language=first, country_of_origin=geo.LANGUAGE_ORIGIN[first])
    cohort = _with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, LANGUAGE)
    return cohort


def _ineligible(cohort: Cohort, mentee_id: str, *, place: geo.Place | None = None,
                track: Track | None = None) -> Cohort:
    """Move the mentee outside the eligible municipalities, or outside the target group."""
    mentee = _mentee(cohort, mentee_id)
    if place is not None:
        mentee = replace(mentee, lat=place.lat, lon=place.lon, municipality=place.municipality)
    if track is not None:
        mentee = replace(mentee, track=track)
    cohort = _with_mentee(cohort, mentee)
    _check_outlier(cohort, mentee_id, ELIGIBILITY)
    return cohort


def _pins_and_bans(rng: random.Random, cohort: Cohort, n_pins: int, n_bans: int, avoid: set[str], *,
                   allowed: Sequence[Sequence[int]] | None = None,
                   pin_mentor: Callable[[Mentor], bool] = lambda m: True,
                   prefer_ranked: bool = False) -> Cohort:
    """Coordinator decisions that are possible: pins obey every hard rule, capacity and caps; bans are
    pairs that would otherwise be allowed (a conflict or a failed earlier pairing), never a pin."""
    rules = cohort.rules
    ranked = {(r.from_id, r.to_id) for r in cohort.rankings}
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


def _district(town: str, name: str) -> geo.Place:
    return next(p for p in geo.TOWNS[town].districts if p.name == name)


# The five bundled scenarios ------------------------------------------------------------------------


def lyngby_career(seed: int = 2015) -> Cohort:
    """Career Mentoring Programme, Lyngby-Taarbæk: 15 + 15 spouses and local mentors, speed-dating rankings."""
    mentees = MenteeProfile(
        fields=(("business", 0.22), ("engineering", 0.18), ("it", 0.16), ("science", 0.14), ("health", 0.08),
                ("teaching", 0.08), ("social", 0.07), ("culture", 0.07)),
        tracks=((Track.SPOUSE, 1.0),),
        goals=((Goal.JOB, 0.65), (Goal.EDUCATION, 0.15), (Goal.OWN_BUSINESS, 0.12), (Goal.SOCIAL_NETWORK, 0.08)),
        genders=(("f", 0.8), ("m", 0.2)),
        requested_gender_share=0.07,
        english=((4, 0.25), (5, 0.45), (6, 0.3)),
        danish=((0, 0.3), (1, 0.35), (2, 0.25), (3, 0.1)),
        personal_limit_share=0.0,
    )
    mentors = MentorProfile(
        sites=(("dtu_lyngby", 4.0), ("lyngby_taarbaek_kommune", 3.0), ("cowi_lyngby", 2.0),
               ("microsoft_lyngby", 2.0), ("hempel_lyngby", 1.5), ("novo_bagsvaerd", 2.5)),
        fields_by_organisation=(
            ("DTU", (("science", 0.4), ("engineering", 0.4), ("it", 0.2))),
            ("Lyngby-Taarbæk Kommune", (("business", 0.4), ("social", 0.3), ("teaching", 0.2), ("health", 0.1))),
            ("COWI", (("engineering", 0.7), ("architecture", 0.2), ("business", 0.1))),
            ("Microsoft Danmark", (("it", 0.7), ("business", 0.3))),
            ("Hempel", (("engineering", 0.5), ("science", 0.3), ("business", 0.2))),
            ("Novo Nordisk", (("science", 0.4), ("business", 0.25), ("health", 0.2), ("engineering", 0.15))),
        ),
        english=((4, 0.3), (5, 0.55), (6, 0.15)),
        proportional=True,
        capacity_two_share=0.0,  # one mentee each: the programme pairs 15 with 15
        returning_share=0.5,  # "many mentors come back for more cohorts"
    )
    rules = Rules(
        max_distance_km=15.0, field_depth=1, min_language_level=4, eligible_municipalities=("173",),
        eligible_tracks=(Track.SPOUSE,),
        weights=Weights(mutual_rank=4, mentee_rank=3, mentor_rank=2, returning=2),
    )
    cohort = generate_cohort(seed=seed, n_mentees=15, n_mentors=15, towns=(("lyngby", 1.0),), mentees=mentees,
                             mentors=mentors, rules=rules, rankings=True, name="lyngby_career")
    rng = random.Random(seed + 1)  # a second stream: shaping the scenario never shifts the base cohort
    taken: set[str] = set()
    far, mute = _pick_outliers(rng, cohort, 2, taken)
    cohort = _limit_travel(cohort, far, [_district("lyngby", "Taarbæk")])
    cohort = _without_language(cohort, mute, ("ja", "ko", "vi"), english=3, danish=1)
    return _pins_and_bans(rng, cohort, 1, 1, taken, prefer_ranked=True)


def copenhagen_business(seed: int = 2016) -> Cohort:
    """International Business Mentoring Programme, Copenhagen and Frederiksberg: 80 + 80 spouses and mentors."""
    mentees = MenteeProfile(
        fields=(("business", 0.24), ("it", 0.14), ("engineering", 0.12), ("science", 0.08), ("health", 0.08),
                ("teaching", 0.07), ("social", 0.09), ("culture", 0.07), ("law", 0.05), ("architecture", 0.04),
                ("business_assoc", 0.02)),
        tracks=((Track.SPOUSE, 1.0),),
        genders=(("f", 0.78), ("m", 0.2), ("x", 0.02)),
        goals=((Goal.JOB, 0.7), (Goal.OWN_BUSINESS, 0.12), (Goal.EDUCATION, 0.1), (Goal.SOCIAL_NETWORK, 0.08)),
        english=((4, 0.2), (5, 0.45), (6, 0.35)),
        danish=((0, 0.25), (1, 0.3), (2, 0.25), (3, 0.15), (4, 0.05)),
        requested_gender_share=0.06,
        personal_limit_share=0.06,
        personal_limit_km=(5, 10),
    )
    mentors = MentorProfile(
        sites=(("maersk_cph", 6.0), ("carlsberg_valby", 5.0), ("danske_bank_cph", 6.0), ("nordea_oerestad", 5.0),
               ("ramboll_oerestad", 6.0), ("kk_raadhus", 6.0), ("frb_raadhus", 3.0), ("rigshospitalet", 4.0),
               ("novo_bagsvaerd", 4.0), ("cph_airport", 2.0)),
        site_share=0.6,
        organisations=(("Consultancy SME", 3.0), ("Tech start-up", 3.0), ("Law firm", 2.0),
                       ("Architecture studio", 1.5), ("Media house", 1.5), ("NGO", 1.5), ("School", 1.5)),
        fields_by_organisation=(
            ("A.P. Moller - Maersk", (("business", 0.5), ("it", 0.3), ("engineering", 0.2))),
            ("Carlsberg", (("business", 0.5), ("engineering", 0.3), ("science", 0.2))),
            ("Danske Bank", (("business", 0.6), ("it", 0.4))),
            ("Nordea", (("business", 0.6), ("it", 0.3), ("law", 0.1))),
            ("Ramboll", (("engineering", 0.6), ("architecture", 0.25), ("science", 0.15))),
            ("Københavns Kommune", (("social", 0.3), ("business", 0.3), ("teaching", 0.2), ("law", 0.1),
                                    ("health", 0.1))),
            ("Frederiksberg Kommune", (("social", 0.3), ("business", 0.3), ("teaching", 0.3), ("law", 0.1))),
            ("Rigshospitalet", (("health", 0.8), ("science", 0.1), ("it", 0.1))),
            ("Novo Nordisk", (("science", 0.4), ("business", 0.25), ("health", 0.2), ("engineering", 0.15))),
            ("Copenhagen Airport", (("business", 0.4), ("engineering", 0.3), ("it", 0.3))),
            ("Consultancy SME", (("business", 0.7), ("social", 0.3))),
            ("Tech start-up", (("it", 0.8), ("business", 0.2))),
            ("Law firm", (("law", 1.0),)),
            ("Architecture studio", (("architecture", 1.0),)),
            ("Media house", (("culture", 0.8), ("business", 0.2))),
            ("NGO", (("social", 0.6), ("teaching", 0.2), ("culture", 0.2))),
            ("School", (("teaching", 1.0),)),
        ),
        english=((4, 0.25), (5, 0.55), (6, 0.2)),
        capacity_two_share=0.15,
        leadership_share=0.4,
        returning_share=0.2,
    )
    rules = Rules(
        max_distance_km=15.0, field_depth=2, min_language_level=4, eligible_municipalities=("101", "147"),
        eligible_tracks=(Track.SPOUSE,), weights=Weights(interests=2, field=2),
    )
    cohort = generate_cohort(seed=seed, n_mentees=80, n_mentors=80,
                             towns=(("copenhagen", 0.82), ("frederiksberg", 0.18)),
                             mentor_towns=(("copenhagen", 0.85), ("frederiksberg", 0.15)),
                             mentees=mentees, mentors=mentors, rules=rules, name="copenhagen_business")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    # No "too far" outlier here: offices are so dense in Copenhagen that nobody is out of reach.
    hellerup, soeborg, fieldless, mute = _pick_outliers(rng, cohort, 4, taken)
    cohort = _ineligible(cohort, hellerup, place=_district("gentofte", "Hellerup"))
    cohort = _ineligible(cohort, soeborg, place=_district("gladsaxe", "Søborg"))
    cohort = _without_field(cohort, fieldless, ("1411", "3435", "2250"))
    cohort = _without_language(cohort, mute, ("ko", "ja", "vi"), english=3, danish=0)
    # Two mentees left unmatched in the previous round come first this time.
    for mentee_id in _pick_outliers(rng, cohort, 2, taken):
        cohort = _with_mentee(cohort, replace(_mentee(cohort, mentee_id), priority=2))
    return _pins_and_bans(rng, cohort, 2, 2, taken)


def ibm_refugees(seed: int = 2017) -> Cohort:
    """IBM business mentors with Foreningen Nydansker: 25 refugees near IBM's Lyngby and Brøndby sites."""
    mentees = MenteeProfile(
        fields=(("it", 0.25), ("engineering", 0.2), ("business", 0.2), ("science", 0.1), ("ict_tech", 0.08),
                ("health", 0.07), ("teaching", 0.05), ("architecture", 0.05)),
        tracks=((Track.REFUGEE, 1.0),),
        goals=((Goal.JOB, 0.8), (Goal.OWN_BUSINESS, 0.1), (Goal.EDUCATION, 0.1)),
        origins=geo.ORIGINS_REFUGEE,
        genders=(("f", 0.4), ("m", 0.58), ("x", 0.02)),
        requested_gender_share=0.04,
        english=((0, 0.15), (2, 0.1), (3, 0.3), (4, 0.3), (5, 0.15)),
        danish=((0, 0.05), (2, 0.25), (3, 0.4), (4, 0.25), (5, 0.05)),
        min_working_level=3,  # the programme takes refugees who speak English or Danish
        personal_limit_share=0.04,
        personal_limit_km=(10, 20),
    )
    mentors = MentorProfile(
        sites=(("ibm_lyngby", 0.6), ("ibm_broendby", 0.4)),
        proportional=True,
        fields=(("it", 0.45), ("business", 0.3), ("engineering", 0.12), ("ict_tech", 0.08), ("science", 0.05)),
        english=((5, 0.6), (6, 0.4)),
        immigrant_share=0.2,  # an international company: colleagues from abroad volunteer too
        years=(2, 32, 12),
        leadership_share=0.6,  # "preferably leadership experience"
        capacity_two_share=0.08,
        returning_share=0.3,
    )
    rules = Rules(
        max_distance_km=25.0, field_depth=1, min_language_level=3, min_mentor_years=5,
        eligible_tracks=(Track.REFUGEE,), weights=Weights(seniority=2),
    )
    homes = (("lyngby", 0.25), ("gladsaxe", 0.1), ("rudersdal", 0.05), ("herlev", 0.05), ("broendby", 0.2),
             ("hvidovre", 0.12), ("glostrup", 0.08), ("albertslund", 0.08), ("ishoej", 0.07))
    cohort = generate_cohort(seed=seed, n_mentees=25, n_mentors=25, towns=homes, mentees=mentees,
                             mentors=mentors, rules=rules, name="ibm_refugees")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    moved, reunified, electrician = _pick_outliers(rng, cohort, 3, taken)
    cohort = _move_far(cohort, moved, geo.TOWNS["holbaek"].districts[0])
    cohort = _ineligible(cohort, reunified, track=Track.OTHER)  # came by family reunification, not asylum
    cohort = _without_field(cohort, electrician, ("7411", "7126", "8332"))
    return _pins_and_bans(rng, cohort, 1, 1, taken)


def kvinfo_network(seed: int = 2002) -> Cohort:
    """KVINFO Mentor Network, five cities: women with refugee or immigrant background, job or network focus."""
    mentees = MenteeProfile(
        fields=(("business", 0.13), ("care", 0.1), ("health", 0.1), ("teaching", 0.11), ("business_assoc", 0.1),
                ("social", 0.09), ("hospitality", 0.05), ("it", 0.06), ("engineering", 0.06), ("science", 0.04),
                ("culture", 0.05), ("law", 0.03), ("trades", 0.02), ("transport", 0.02)),
        # Women from the main asylum countries mostly came as refugees (or were reunified with one);
        # the rest came through marriage, family or work: the "immigrant background" group.
        tracks=((Track.OTHER, 1.0),),
        tracks_by_origin=tuple((origin, ((Track.REFUGEE, 0.85), (Track.OTHER, 0.15)))
                               for origin in ("SY", "AF", "ER", "SO", "IQ", "UA", "IR")),
        goals=((Goal.JOB, 0.6), (Goal.SOCIAL_NETWORK, 0.4)),
        origins=geo.ORIGINS_IMMIGRANT_WOMEN,
        genders=(("f", 1.0),),
        requested_gender_share=0.18,
        english=((0, 0.25), (1, 0.1), (2, 0.15), (3, 0.25), (4, 0.15), (5, 0.1)),
        danish=((1, 0.05), (2, 0.2), (3, 0.4), (4, 0.25), (5, 0.1)),
        min_working_level=3,
        second_occupation_share=0.2,
        personal_limit_share=0.08,
        personal_limit_km=(5, 12),
    )
    mentors = MentorProfile(
        fields=(("business", 0.16), ("teaching", 0.11), ("social", 0.11), ("health", 0.1), ("care", 0.09),
                ("business_assoc", 0.08), ("it", 0.07), ("engineering", 0.06), ("hospitality", 0.06), ("culture", 0.05),
                ("law", 0.04), ("science", 0.03), ("transport", 0.02), ("trades", 0.02)),
        genders=(("f", 0.76), ("m", 0.22), ("x", 0.02)),
        english=((3, 0.1), (4, 0.4), (5, 0.4), (6, 0.1)),
        immigrant_share=0.18,
        goal_restriction_share=0.25,  # some mentors offer only a job focus or only a network focus
        capacity_two_share=0.1,
        returning_share=0.35,
        years=(2, 35, 15),
    )
    rules = Rules(
        max_distance_km=25.0, field_depth=1, min_language_level=3,
        eligible_tracks=(Track.REFUGEE, Track.OTHER), weights=Weights(goal=2, first_language=2),
    )
    # Esbjerg has fewer volunteers than mentees: some there wait although a mentor would suit them.
    cohort = generate_cohort(
        seed=seed, n_mentees=300, n_mentors=280,
        towns=(("copenhagen", 0.36), ("frederiksberg", 0.04), ("aarhus", 0.22), ("odense", 0.15),
               ("aalborg", 0.12), ("esbjerg", 0.11)),
        mentor_towns=(("copenhagen", 0.38), ("frederiksberg", 0.04), ("aarhus", 0.24), ("odense", 0.15),
                      ("aalborg", 0.13), ("esbjerg", 0.07)),
        mentees=mentees, mentors=mentors, rules=rules, name="kvinfo_network")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    north, south, farmer, *mute = _pick_outliers(rng, cohort, 6, taken)
    cohort = _move_far(cohort, north, geo.TOWNS["hjoerring"].districts[0])
    cohort = _move_far(cohort, south, geo.TOWNS["svendborg"].districts[0])
    cohort = _without_field(cohort, farmer, ("6121", "6111", "9112"))
    for mentee_id, first in zip(mute, ("ti", "am", "ps"), strict=True):
        cohort = _without_language(cohort, mentee_id, (first, "ti", "am", "ps", "tl", "bn"), english=1, danish=2)
    allowed = allowed_mentors(cohort)
    cohort = _pins_and_bans(rng, cohort, 3, 2, taken, allowed=allowed, pin_mentor=lambda m: m.gender == "f")
    # The network wants most women to meet a woman mentor: a floor well inside what is attainable.
    bans = set(cohort.rules.bans)
    women_only = [[j for j in row if cohort.mentors[j].gender == "f" and (cohort.mentees[i].id, cohort.mentors[j].id)
                   not in bans] for i, row in enumerate(allowed)]
    floor = int(0.8 * _max_matching_size(cohort, women_only)) // 10 * 10
    return replace(cohort, rules=replace(cohort.rules, gender_quotas=(GenderQuota("f", min_pairs=floor),)))


_UNIVERSITY_SHARE = {"KU": 0.3, "CBS": 0.2, "DTU": 0.2, "ITU": 0.15, "RUC": 0.15}
_UNIVERSITY_FIELDS: dict[str, Weighted[str]] = {
    "KU": (("science", 0.3), ("social", 0.15), ("it", 0.15), ("health", 0.15), ("law", 0.1), ("culture", 0.1),
           ("teaching", 0.05)),
    "CBS": (("business", 0.7), ("social", 0.2), ("it", 0.1)),
    "DTU": (("engineering", 0.55), ("it", 0.3), ("science", 0.15)),
    "ITU": (("it", 0.85), ("architecture", 0.15)),
    "RUC": (("social", 0.3), ("business", 0.35), ("culture", 0.15), ("science", 0.1), ("teaching", 0.1)),
}


def _student_fields() -> Weighted[str]:
    """The students' field mix: each university's mix weighted by its share of the cohort."""
    mix: dict[str, float] = {}
    for university, share in _UNIVERSITY_SHARE.items():
        for field, weight in _UNIVERSITY_FIELDS[university]:
            mix[field] = mix.get(field, 0.0) + share * weight
    return tuple((field, round(weight, 4)) for field, weight in mix.items())


def copenhagen_career(seed: int = 2019) -> Cohort:
    """Copenhagen Career Program: 40 international students, mentors from Foreningen Nydansker, IDA, PROSA."""
    mentees = MenteeProfile(
        fields=_student_fields(),
        tracks=((Track.STUDENT, 1.0),),
        goals=((Goal.JOB, 0.85), (Goal.OWN_BUSINESS, 0.1), (Goal.EDUCATION, 0.05)),
        origins=geo.ORIGINS_STUDENT,
        genders=(("f", 0.55), ("m", 0.43), ("x", 0.02)),
        english=((4, 0.15), (5, 0.55), (6, 0.3)),
        danish=((0, 0.45), (1, 0.35), (2, 0.15), (3, 0.05)),
        second_occupation_share=0.2,
    )
    mentors = MentorProfile(
        organisations=(("Foreningen Nydansker", 0.45), ("IDA", 0.3), ("PROSA", 0.25)),
        proportional=True,
        fields_by_organisation=(
            ("Foreningen Nydansker", (("business", 0.35), ("social", 0.3), ("culture", 0.12), ("law", 0.08),
                                      ("health", 0.08), ("teaching", 0.07))),
            ("IDA", (("engineering", 0.5), ("it", 0.2), ("science", 0.2), ("architecture", 0.1))),
            ("PROSA", (("it", 0.85), ("ict_tech", 0.15))),  # PROSA organises IT professionals
        ),
        capacity_two_share=0.2,
        leadership_share=0.3,
        returning_share=0.3,
    )
    rules = Rules(
        max_distance_km=15.0, field_depth=2, min_language_level=4, eligible_municipalities=("101",),
        eligible_tracks=(Track.STUDENT,),
        organisation_caps=(("Foreningen Nydansker", 15), ("IDA", 15), ("PROSA", 15)),
        weights=Weights(field=2),
    )
    cohort = generate_cohort(
        seed=seed, n_mentees=40, n_mentors=44, towns=(("copenhagen", 1.0),),
        mentor_towns=(("copenhagen", 0.8), ("frederiksberg", 0.12), ("gentofte", 0.04), ("lyngby", 0.04)),
        mentees=mentees, mentors=mentors, rules=rules, name="copenhagen_career")
    rng = random.Random(seed + 1)
    taken: set[str] = set()
    frb, dtu, kastrup, fieldless = _pick_outliers(rng, cohort, 4, taken)
    dtu_site = geo.SITES[geo.UNIVERSITIES["DTU"]]
    cohort = _ineligible(cohort, frb, place=_district("frederiksberg", "Frederiksberg C"))
    cohort = _ineligible(cohort, dtu, place=geo.Place("DTU kollegier", "173", dtu_site.lat - 0.004, dtu_site.lon))
    cohort = _ineligible(cohort, kastrup, place=_district("taarnby", "Kastrup"))
    cohort = _without_field(cohort, fieldless, ("2250", "2262", "3435", "1411"))
    return _pins_and_bans(rng, cohort, 2, 1, taken)


SCENARIOS: dict[str, Callable[[], Cohort]] = {
    "lyngby_career": lyngby_career,
    "copenhagen_business": copenhagen_business,
    "ibm_refugees": ibm_refugees,
    "kvinfo_network": kvinfo_network,
    "copenhagen_career": copenhagen_career,
}
"""The bundled scenarios by directory name; each builder's default seed made the committed files."""


# Writing -----------------------------------------------------------------------------------------


def write_scenario(cohort: Cohort, directory: Path) -> Path:
    """Write through a fresh directory, then swap the cohort files in, so no stale file survives."""
    from solver.ingest import write_cohort_dir  # the engine's writer: one file format, owned there

    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory.parent, prefix=f".{directory.name}-") as tmp:
        written = write_cohort_dir(cohort, Path(tmp) / "cohort")
        for name in COHORT_FILES:
            (directory / name).unlink(missing_ok=True)
        for path in sorted(written.iterdir()):
            shutil.move(str(path), directory / path.name)
    return directory


def describe(cohort: Cohort) -> str:
    """One line of counts: sizes, capacity, rankings, coordinator decisions and matchability."""
    allowed = allowed_mentors(cohort)
    stranded = sum(1 for row in allowed if not row)
    return (f"{cohort.name}: {len(cohort.mentees)} mentees, {len(cohort.mentors)} mentors "
            f"(capacity {sum(m.capacity for m in cohort.mentors)}), {len(cohort.rankings)} rankings, "
            f"{len(cohort.rules.pins)} pins, {len(cohort.rules.bans)} bans; "
            f"{stranded} mentees with no allowed mentor; at most {_max_matching_size(cohort, allowed)} matched")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.generate", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="directory to write the scenario directories into (default: scenarios/)")
    parser.add_argument("--only", choices=sorted(SCENARIOS), action="append",
                        help="write only this scenario (repeatable)")
    args = parser.parse_args(argv)
    for name in args.only or SCENARIOS:
        cohort = SCENARIOS[name]()
        path = write_scenario(cohort, args.out / name)
        print(f"{path}: {describe(cohort)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

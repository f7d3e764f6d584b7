"""The seeded cohort generator: who a programme's people are (profiles), and `generate_cohort`."""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Generic, TypeVar

from scenarios import geography as geo
from solver.domain import Cohort, Goal, Language, Mentee, Mentor, Ranking, Rules, Track

T = TypeVar("T")
Weighted = tuple[tuple[T, float], ...]
"""A discrete distribution: (value, relative weight) pairs; weights need not sum to 1."""

TownWeights = Sequence[str | tuple[str, float]]
"""Town keys of `geography.TOWNS`, alone (weighted by population) or with an explicit weight."""

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


def languages_at(pairs: Iterable[tuple[str, int]]) -> tuple[Language, ...]:
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
            languages=languages_at(((first_language, 6), ("en", english), ("da", danish))),
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
            languages = languages_at(((geo.FIRST_LANGUAGE[origin], 6), ("da", rng.choice((4, 5, 5, 6))),
                                 ("en", english_pick(rng))))
        else:
            extra = [(extra_pick(rng), rng.randint(3, 5))] if rng.random() < profile.extra_language_share else []
            languages = languages_at((("da", 6), ("en", english_pick(rng)), *extra))
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

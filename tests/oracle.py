"""Independent oracles for tests: hard rules and optimal matchings recomputed in plain Python, sharing no engine code."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from typing import Any

from solver.domain import Cohort, GenderQuota, Language, Mentee, Mentor, Ranking, Rules


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(min(1.0, a)))


def pair_allowed(cohort: Cohort, mentee: Mentee, mentor: Mentor) -> bool:
    """Every hard rule of the README, written out once more by hand."""
    rules = cohort.rules
    if rules.eligible_municipalities and mentee.municipality not in rules.eligible_municipalities:
        return False
    if rules.eligible_tracks and mentee.track not in rules.eligible_tracks:
        return False
    if mentor.years_experience < rules.min_mentor_years:
        return False
    if rules.field_depth > 0 and not any(a[: rules.field_depth] == b[: rules.field_depth]
                                         for a in mentee.occupations for b in mentor.occupations):
        return False
    limit = min(x for x in (rules.max_distance_km, mentee.max_travel_km, math.inf) if x is not None)
    if rules.travel_times:
        minutes = {(t.mentee_id, t.mentor_id): t.minutes for t in rules.travel_times}.get((mentee.id, mentor.id))
        minute_limit = min(x for x in (rules.max_travel_minutes, mentee.max_travel_minutes, math.inf) if x is not None)
        if minutes is None or minutes > minute_limit:
            return False
    if km(mentee.lat, mentee.lon, mentor.lat, mentor.lon) > limit:
        return False
    ok_a = {lang.code for lang in mentee.languages if lang.level >= rules.min_language_level}
    ok_b = {lang.code for lang in mentor.languages if lang.level >= rules.min_language_level}
    if not ok_a & ok_b:
        return False
    if rules.gender_requests_hard and mentee.requested_mentor_gender and \
            mentee.requested_mentor_gender != mentor.gender:
        return False
    return (mentee.id, mentor.id) not in set(rules.bans)


def allowed_pairs(cohort: Cohort) -> set[tuple[str, str]]:
    return {(a.id, b.id) for a in cohort.mentees for b in cohort.mentors if pair_allowed(cohort, a, b)}


def all_matchings_by_brute_force(cohort: Cohort, score: dict[tuple[str, str], int]
                                 ) -> list[tuple[tuple[int, int], set[tuple[str, str]]]]:
    """Every valid matching as ((priority-weighted matched, total score), {(mentee, mentor), ...}), best first."""
    rules = cohort.rules
    capacity = {m.id: m.capacity for m in cohort.mentors}
    org = {m.id: m.organisation for m in cohort.mentors}
    gender = {m.id: m.gender for m in cohort.mentors}
    caps = dict(rules.organisation_caps)
    pins = dict(rules.pins)
    options = {a.id: [b for (x, b) in score if x == a.id] for a in cohort.mentees}
    priority = {a.id: a.priority for a in cohort.mentees}

    def valid(chosen: dict[str, str]) -> bool:
        for o, cap in caps.items():
            if sum(1 for b in chosen.values() if org[b] == o) > cap:
                return False
        for q in rules.gender_quotas:
            count = sum(1 for b in chosen.values() if gender[b] == q.gender)
            if count < q.min_pairs or (q.max_pairs is not None and count > q.max_pairs):
                return False
        return all(chosen.get(a) == b for a, b in pins.items())

    mentees = [a.id for a in cohort.mentees]

    def walk(i: int, chosen: dict[str, str], load: dict[str, int]) -> Iterator[dict[str, str]]:
        if i == len(mentees):
            yield dict(chosen)
            return
        a = mentees[i]
        if a not in pins:
            yield from walk(i + 1, chosen, load)
        for b in options[a]:
            if load.get(b, 0) < capacity[b] and (a not in pins or pins[a] == b):
                chosen[a] = b
                load[b] = load.get(b, 0) + 1
                yield from walk(i + 1, chosen, load)
                load[b] -= 1
                del chosen[a]

    found = [((sum(priority[a] for a in chosen), sum(score[(a, b)] for a, b in chosen.items())),
              set(chosen.items())) for chosen in walk(0, {}, {}) if valid(chosen)]
    return sorted(found, key=lambda item: item[0], reverse=True)


def best_by_brute_force(cohort: Cohort, score: dict[tuple[str, str], int]) -> tuple[int, int] | None:
    """Max (priority-weighted matched, total score) over every valid matching; None when none is valid."""
    everything = all_matchings_by_brute_force(cohort, score)
    return everything[0][0] if everything else None


TOWNS = [(55.676, 12.568), (55.770, 12.503), (55.403, 10.388), (56.157, 10.211)]
FIELDS = ["2512", "2519", "2521", "2141", "2144", "2411", "2421", "2211", "2310"]
LANGS = ["da", "en", "ar", "de", "uk"]


def random_cohort(rng: random.Random, n_mentees: int, n_mentors: int, *, side_constraints: bool = False,
                  rankings: bool = False, pins: bool = False) -> Cohort:
    """A small random cohort in Danish towns with a mix of everything the rules look at."""

    def place() -> tuple[float, float]:
        lat, lon = rng.choice(TOWNS)
        return lat + rng.gauss(0, 0.08), lon + rng.gauss(0, 0.12)

    def languages() -> tuple[Language, ...]:
        codes = rng.sample(LANGS, rng.randint(1, 2))
        return tuple(Language(c, rng.randint(2, 6)) for c in codes)

    mentors = []
    for j in range(n_mentors):
        lat, lon = place()
        mentors.append(Mentor(
            id=f"M{j}", lat=lat, lon=lon, occupations=tuple(rng.sample(FIELDS, rng.randint(1, 2))),
            languages=languages(), years_experience=rng.randint(0, 20), capacity=rng.choice([1, 1, 1, 2, 3]),
            leadership=rng.random() < 0.3, gender=rng.choice("fm"), interests=tuple(rng.sample(["a", "b", "c"], 1)),
            organisation=rng.choice(["O1", "O2", "O3"]), markets=tuple(rng.sample(["SY", "IN", "UA"], 1)),
            returning=rng.random() < 0.3))
    mentees = []
    for i in range(n_mentees):
        lat, lon = place()
        mentees.append(Mentee(
            id=f"E{i}", lat=lat, lon=lon, occupations=tuple(rng.sample(FIELDS, rng.randint(1, 2))),
            languages=languages(), max_travel_km=rng.choice([None, None, 10.0]),
            interests=tuple(rng.sample(["a", "b", "c"], 1)), gender=rng.choice("fm"),
            requested_mentor_gender=rng.choice(["", "", "", "f"]), country_of_origin=rng.choice(["SY", "IN", "UA"]),
            first_language=rng.choice(LANGS), municipality=rng.choice(["101", "173"]), priority=rng.choice([1, 1, 2])))
    ranks: list[Ranking] = []
    if rankings:
        for a in mentees:
            for k, b in enumerate(rng.sample(mentors, min(3, len(mentors)))):
                ranks.append(Ranking(a.id, b.id, k + 1))
        for b in mentors:
            for k, a in enumerate(rng.sample(mentees, min(3, len(mentees)))):
                ranks.append(Ranking(b.id, a.id, rng.choice([k + 1, 1])))
    rules = Rules(max_distance_km=rng.choice([15.0, 25.0, 40.0]), field_depth=rng.choice([1, 2, 2, 3]),
                  min_language_level=rng.choice([2, 3, 4]), min_mentor_years=rng.choice([0, 0, 5]),
                  eligible_municipalities=rng.choice([(), (), ("101",)]),
                  bans=tuple((rng.choice(mentees).id, rng.choice(mentors).id) for _ in range(rng.randint(0, 2))))
    cohort = Cohort(tuple(mentors), tuple(mentees), tuple(ranks), rules, name="random")
    if side_constraints:
        rules = _replace_rules(rules, organisation_caps=(("O1", rng.randint(0, 2)),),
                               gender_quotas=(GenderQuota("f", rng.randint(0, 2), rng.choice([None, 3])),))
        cohort = Cohort(cohort.mentors, cohort.mentees, cohort.rankings, rules, cohort.name)
    if pins:
        allowed = sorted(allowed_pairs(cohort))
        if allowed:
            pin = rng.choice(allowed)
            rules = _replace_rules(cohort.rules, pins=(pin,))
            cohort = Cohort(cohort.mentors, cohort.mentees, cohort.rankings, rules, cohort.name)
    return cohort


def _replace_rules(rules: Rules, **changes: Any) -> Rules:
    from dataclasses import replace

    return replace(rules, **changes)

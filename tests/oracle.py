"""Independent oracles for tests: random cohorts, and brute-force optima over the engine's scores (rules: rules_oracle)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

from solver.domain import Cohort, GenderQuota, Language, Mentee, Mentor, Ranking, Rules
from tests.rules_oracle import allowed_pairs, haversine_km, pair_allowed, seat_cost, valid_matchings

__all__ = ["all_matchings_by_brute_force", "allowed_pairs", "best_by_brute_force", "km", "pair_allowed", "random_cohort",
           "score_key", "seat_cost"]


# The README's hard rules, once: tests/rules_oracle.py (the names older tests import).
km = haversine_km


def score_key(cohort: Cohort, score: dict[tuple[str, str], int], pairs: Iterable[tuple[str, str]]) -> tuple[int, int]:
    """README, Objective, the score mode's tuple: (priority-weighted matched, the total = total score − seat cost)."""
    pairs = list(pairs)
    priority = {a.id: a.priority for a in cohort.mentees}
    return sum(priority[a] for a, _ in pairs), sum(score[p] for p in pairs) - seat_cost(cohort, pairs)


def all_matchings_by_brute_force(cohort: Cohort, score: dict[tuple[str, str], int]
                                 ) -> list[tuple[tuple[int, int], set[tuple[str, str]]]]:
    """Every valid matching of the given scored pairs as ((priority-weighted matched, the total), pairs), best first
    (the total is total score − seat cost, README's Objective)."""
    found = [(score_key(cohort, score, chosen), set(chosen)) for chosen in valid_matchings(cohort, score)]
    return sorted(found, key=lambda item: item[0], reverse=True)


def best_by_brute_force(cohort: Cohort, score: dict[tuple[str, str], int]) -> tuple[int, int] | None:
    """Max (priority-weighted matched, the total) over every valid matching; None when none is valid."""
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

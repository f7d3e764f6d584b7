"""The participants' problems found by columns (only the people a column marks are looked at one by one) are those
of looking at every participant, in the same order, whatever odd values the people hold."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from scenarios.generate import lyngby_career
from solver.candidates import haversine_km
from solver.cohort_warnings import MEDIAN_IN_PYTHON, coordinate_warnings
from solver.domain import Cohort, Language
from solver.errors import Problem
from solver.validate import (
    duplicate_id,
    mentee_problems,
    mentor_problems,
    people_problems,
    validate,
)

ODD_VALUES: dict[str, list[Any]] = {
    "id": ["", " M1", "M1 ", "E0001", "M0001", "E\u200b1", "E\x1b1", "\u00e9", "a\x1fb", "  "],
    "lat": [math.nan, math.inf, -90.0, 90.0, 90.5, -91, True, 0, 55],
    "lon": [math.nan, -math.inf, 180.0, -180.5, 181, False, 12],
    "occupations": [(), ("123",), ("12345",), ("2512", "25a2"), ("\u0662\u0665\u0661\u0662",), ("2512\n",), ("²512",)],
    "languages": [(), (Language("da", 0),), (Language("DA", 3),), (Language("en", 7),), (Language("e", 2),),
                  (Language("da", -1),), (Language("da", 1.5),), (Language("da", True),), (Language("dä", 3),)],  # type: ignore[arg-type]
    "gender": ["F", "?3", "?-1", "y", "", "x"],
    "capacity": [-1, 0, 100_000, 100_001, math.nan, 2.0, True],
    "years_experience": [-1, 81, 80, 0, 3.5],
    "markets": [(), ("dk",), ("D",), ("DK", "SYR"), ("ÅÆ",)],
    "requested_mentor_gender": ["m", "z", "?9"],
    "max_travel_km": [None, -1.0, math.nan, math.inf, 0.0, 5, True],
    "max_travel_minutes": [None, -0.5, math.inf, 30.0],
    "country_of_origin": ["", "sy", "SYR", "S", "ÅÆ", "DK"],
    "first_language": ["", "EN", "eng", "e", "ü", "da"],
    "priority": [0, 1, 1000, 1001, -3, 2.5, True],
}


def _reference(cohort: Cohort) -> list[Problem]:
    """Every participant looked at: the ids used twice, then each mentor's problems, then each mentee's."""
    out: list[Problem] = []
    seen: Counter[str] = Counter()
    sides: tuple[tuple[str, tuple[Any, ...]], ...] = (("mentors", cohort.mentors), ("mentees", cohort.mentees))
    for side, people in sides:
        for i, person in enumerate(people):
            if person.id and seen[person.id]:
                out.append(duplicate_id(f"{side}[{i}].id", person.id))
            seen[person.id] += 1
    for i, mentor in enumerate(cohort.mentors):
        out += mentor_problems(i, mentor)
    for i, mentee in enumerate(cohort.mentees):
        out += mentee_problems(i, mentee)
    return out


def _changed(base: Cohort, rng: random.Random, change: Callable[[Any], Any], shrink: bool = False) -> Cohort:
    """`base` with up to four people changed by `change`; with `shrink`, sides cut short now and then and a whole
    side's coordinates exchanged now and then."""
    sides: dict[str, list[Any]] = {"mentors": list(base.mentors), "mentees": list(base.mentees)}
    for side in sides:
        if shrink and rng.random() < 0.3:
            sides[side] = sides[side][:rng.randint(0, 4)]
    for _ in range(rng.randint(0, 4)):
        people = sides[rng.choice(list(sides))]
        if people:
            i = rng.randrange(len(people))
            people[i] = change(people[i])
    if shrink and rng.random() < 0.2:
        side = rng.choice(list(sides))
        sides[side] = [dataclasses.replace(p, lat=p.lon, lon=p.lat) for p in sides[side]]
    return dataclasses.replace(base, mentors=tuple(sides["mentors"]), mentees=tuple(sides["mentees"]))


@pytest.mark.parametrize("seed", range(4))
def test_problems_found_by_columns_are_those_of_every_person(seed: int) -> None:
    rng = random.Random(seed)
    base = lyngby_career()
    found = 0

    def odd(p: Any) -> Any:
        name = rng.choice([f.name for f in dataclasses.fields(p) if f.name in ODD_VALUES])
        return dataclasses.replace(p, **{name: rng.choice(ODD_VALUES[name])})

    for _ in range(300):
        cohort = _changed(base, rng, odd)
        expected = _reference(cohort)
        assert people_problems(cohort) == expected
        found += bool(expected)
    assert found > 150  # most cohorts had problems to find


def _ranking_oracle(cohort: Cohort) -> set[tuple[str, str]]:
    """The rankings' problems by the documented rules: each id a participant, from one side to the other, a rank in
    1..1000, each ranking of a pair once."""
    mentors, mentees = {m.id for m in cohort.mentors}, {m.id for m in cohort.mentees}
    out: set[tuple[str, str]] = set()
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(cohort.rankings):
        for name, value in (("from_id", r.from_id), ("to_id", r.to_id)):
            if value not in mentors | mentees:
                out.add(("UNKNOWN_ID", f"rankings[{i}].{name}"))
        if {r.from_id, r.to_id} <= mentors | mentees and not (
                (r.from_id in mentees and r.to_id in mentors) or (r.from_id in mentors and r.to_id in mentees)):
            out.add(("INVALID_RANK", f"rankings[{i}]"))
        if not 1 <= r.rank <= 1000:
            out.add(("INVALID_RANK", f"rankings[{i}].rank"))
        if (r.from_id, r.to_id) in seen:
            out.add(("INVALID_RANK", f"rankings[{i}]"))
        seen.add((r.from_id, r.to_id))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_ranking_problems_are_those_of_the_rules(seed: int) -> None:
    rng = random.Random(seed)
    base = lyngby_career()
    ids = [m.id for m in base.mentors] + [m.id for m in base.mentees] + ["nobody"]
    for _ in range(200):
        rankings = list(base.rankings)
        for _ in range(rng.choice([0, 0, 1, 3])):
            k = rng.randrange(len(rankings))
            change = rng.randrange(4)
            r = rankings[k]
            if change == 0:
                rankings[k] = dataclasses.replace(r, to_id=rng.choice(ids))
            elif change == 1:
                rankings[k] = dataclasses.replace(r, from_id=rng.choice(ids))
            elif change == 2:
                rankings[k] = dataclasses.replace(r, rank=rng.choice([0, -1, 1000, 1001, 3]))
            else:
                rankings.append(rankings[rng.randrange(len(rankings))])
        cohort = dataclasses.replace(base, rankings=tuple(rankings))
        found = {(p.code.value, p.path) for p in validate(cohort) if p.path.startswith("rankings")}
        assert found == _ranking_oracle(cohort)


def _warning_oracle(cohort: Cohort) -> list[tuple[str, str]]:
    """The coordinate warnings' codes and paths by the documented rule (`coordinate_warnings`), with np.median and
    one haversine per person."""
    def km(a: tuple[float, float], b: tuple[float, float]) -> float:
        return float(haversine_km(np.array([a[0]]), np.array([a[1]]), np.array([b[0]]), np.array([b[1]]))[0])

    sides: tuple[tuple[str, tuple[Any, ...]], ...] = (("mentors", cohort.mentors), ("mentees", cohort.mentees))
    placed = [(side, i, (p.lat, p.lon)) for side, people in sides
              for i, p in enumerate(people) if -90 <= p.lat <= 90 and -180 <= p.lon <= 180]
    if len(placed) < 3:
        return []

    def area(points: list[tuple[float, float]]) -> tuple[tuple[float, float], float]:
        middle = (float(np.median([p[0] for p in points])), float(np.median([p[1] for p in points])))
        return middle, max(200.0, 5 * float(np.median([km(middle, p) for p in points])))

    def exchanged(middle: tuple[float, float], point: tuple[float, float]) -> float:
        return km(middle, (point[1], point[0])) if abs(point[1]) <= 90 else math.inf

    out = []
    by_side = {side: [p for s, _, p in placed if s == side] for side in ("mentors", "mentees")}
    if all(by_side.values()):
        (mentor_middle, mentor_reach), (mentee_middle, mentee_reach) = area(by_side["mentors"]), area(by_side["mentees"])
        reach = max(mentor_reach, mentee_reach)
        if km(mentor_middle, mentee_middle) > reach:
            if exchanged(mentee_middle, mentor_middle) <= reach:
                out.append(("COORDINATES_SWAPPED", "mentors"))
            elif exchanged(mentor_middle, mentee_middle) <= reach:
                out.append(("COORDINATES_SWAPPED", "mentees"))
            else:
                out.append(("COORDINATE_OUTLIER", ""))
    middle, reach = area([p for _, _, p in placed])
    for side, i, point in placed:
        if km(middle, point) > reach:
            swapped = exchanged(middle, point) <= reach
            out.append(("COORDINATES_SWAPPED" if swapped else "COORDINATE_OUTLIER", f"{side}[{i}].lat"))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_coordinate_warnings_are_those_of_the_documented_rule(seed: int) -> None:
    rng = random.Random(seed)
    base = lyngby_career()
    warned = 0

    def moved(p: Any) -> Any:
        return rng.choice([dataclasses.replace(p, lat=p.lon, lon=p.lat), dataclasses.replace(p, lat=-p.lat),
                           dataclasses.replace(p, lat=math.nan), dataclasses.replace(p, lon=500.0),
                           dataclasses.replace(p, lat=rng.uniform(-90, 90), lon=rng.uniform(-180, 180))])

    for _ in range(150):
        cohort = _changed(base, rng, moved, shrink=True)
        expected = _warning_oracle(cohort)
        assert [(w.code.value, w.path) for w in coordinate_warnings(cohort)] == expected
        warned += bool(expected)
    assert warned > 50


@pytest.mark.parametrize("seed", range(2))
def test_coordinate_warnings_of_a_large_cohort_are_those_of_the_documented_rule(seed: int) -> None:
    """Above `MEDIAN_IN_PYTHON` people the warnings are found over arrays (a million people in under a second, not
    seconds of Python lists): the same rule, the same warnings."""
    rng = random.Random(seed)
    base = lyngby_career()
    copies = MEDIAN_IN_PYTHON // (len(base.mentors) + len(base.mentees)) + 2

    def jittered(people: tuple[Any, ...], copy: int) -> list[Any]:
        return [dataclasses.replace(p, id=f"{p.id}-{copy}", lat=p.lat + rng.uniform(-0.05, 0.05),
                                    lon=p.lon + rng.uniform(-0.05, 0.05)) for p in people]

    mentors = [p for copy in range(copies) for p in jittered(base.mentors, copy)]
    mentees = [p for copy in range(copies) for p in jittered(base.mentees, copy)]
    for people in (mentors, mentees):
        for k in rng.sample(range(len(people)), 12):
            p = people[k]
            people[k] = rng.choice([dataclasses.replace(p, lat=p.lon, lon=p.lat), dataclasses.replace(p, lat=-p.lat),
                                    dataclasses.replace(p, lat=math.nan), dataclasses.replace(p, lon=500.0)])
    cohort = dataclasses.replace(base, mentors=tuple(mentors), mentees=tuple(mentees), rankings=())
    assert len(mentors) + len(mentees) > MEDIAN_IN_PYTHON
    expected = _warning_oracle(cohort)
    assert len(expected) >= 10
    warnings = coordinate_warnings(cohort)
    assert [(w.code.value, w.path) for w in warnings] == expected
    places = [(p.lat, p.lon) for p in cohort.mentors] + [(p.lat, p.lon) for p in cohort.mentees]
    placed = [(lat, lon) for lat, lon in places if -90 <= lat <= 90 and -180 <= lon <= 180]
    middle = f"(lat {np.median([lat for lat, _ in placed]):.3f}, lon {np.median([lon for _, lon in placed]):.3f})"
    assert all(middle in w.message for w in warnings if w.path.endswith(".lat"))  # the median, said as such

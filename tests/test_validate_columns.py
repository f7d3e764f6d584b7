"""The participants' problems found by columns (only the people a column marks are looked at one by one) are those
of looking at every participant, in the same order, whatever odd values the people hold."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from typing import Any

import pytest

from scenarios.generate import lyngby_career
from solver.domain import Cohort, Language
from solver.errors import Problem
from solver.validate import duplicate_id, mentee_problems, mentor_problems, people_problems

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


@pytest.mark.parametrize("seed", range(4))
def test_problems_found_by_columns_are_those_of_every_person(seed: int) -> None:
    rng = random.Random(seed)
    base = lyngby_career()
    found = 0
    for _ in range(300):
        sides: dict[str, list[Any]] = {"mentors": list(base.mentors), "mentees": list(base.mentees)}
        for _ in range(rng.randint(0, 4)):
            side = rng.choice(list(sides))
            people = sides[side]
            i = rng.randrange(len(people))
            names = [f.name for f in dataclasses.fields(people[i]) if f.name in ODD_VALUES]
            name = rng.choice(names)
            people[i] = dataclasses.replace(people[i], **{name: rng.choice(ODD_VALUES[name])})
        cohort = dataclasses.replace(base, mentors=tuple(sides["mentors"]), mentees=tuple(sides["mentees"]))
        expected = _reference(cohort)
        assert people_problems(cohort) == expected
        found += bool(expected)
    assert found > 150  # most cohorts had problems to find

"""A request's cohort read a side at a time (columns over the messages) gives the people, and the problems in the
order, that reading each person's message on its own gives, whatever odd values the messages hold."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mentormatch.v1 import cohort_pb2 as pb
from scenarios.generate import lyngby_career
from server.convert import cohort_from_proto_checked, cohort_to_proto
from solver.cohort_proto import ProtoReader
from solver.domain import Language


def _odd(msg: pb.Cohort, rng: random.Random) -> pb.Cohort:
    """The message with a few people's values made odd: no location, levels and enum numbers out of range, skills
    added or removed, limits and priorities of every sign, empty or spaced ids."""
    out = pb.Cohort()
    out.CopyFrom(msg)
    for _ in range(rng.randint(0, 6)):
        people: list[Any] = [*out.mentors, *out.mentees]
        person = rng.choice(people)
        change = rng.randint(0, 9)
        mentee = isinstance(person, pb.Mentee)
        if change == 0:
            person.ClearField("location")
        elif change == 1 and len(person.languages):
            person.languages[0].level = rng.choice([-3, -1, 0, 2, 7, 99])
        elif change == 2:
            person.gender = rng.choice([0, 1, 2, 3, 7, -1])
        elif change == 3 and mentee:
            person.goal = rng.choice([0, 1, 42])
        elif change == 3 and not mentee:
            person.goals.append(rng.choice([1, 2, 77]))
        elif change == 4 and mentee:
            person.track = rng.choice([0, 1, 33])
        elif change == 4 and not mentee:
            person.capacity = rng.choice([0, 3, -1])
        elif change == 5:
            person.languages.add(code=rng.choice(["da", "XX", "e", "", "øå"]),
                                 level=rng.choice([-1, 0, 3, 8]))
        elif change == 6 and mentee:
            person.requested_mentor_gender = rng.choice([0, 2, 9])
        elif change == 6:
            person.ClearField("languages")
        elif change == 7 and mentee:
            person.max_travel_km = rng.choice([0.0, 5.5, -1.0])
        elif change == 8 and mentee:
            person.priority = rng.choice([0, 1, 5, -2])
        elif change == 9:
            person.id = rng.choice(["", " x", "M0001"])
    if rng.random() < 0.2:
        del out.mentors[:]
    if rng.random() < 0.2:
        out.rankings.add(from_id="zz", to_id="", rank=-4)
    return pb.Cohort.FromString(out.SerializeToString())


def _person_by_person(msg: pb.Cohort) -> tuple[list[object], list[object]]:
    reader = ProtoReader()
    people: list[object] = [reader.mentor(m, f"mentors[{i}]") for i, m in enumerate(msg.mentors)]
    people += [reader.mentee(m, f"mentees[{i}]") for i, m in enumerate(msg.mentees)]
    return people, list(reader.problems)


@pytest.mark.parametrize("seed", range(4))
def test_a_side_read_at_once_is_each_person_read_alone(seed: int) -> None:
    rng = random.Random(seed)
    base = cohort_to_proto(lyngby_career())
    for _ in range(150):
        msg = _odd(base, rng)
        cohort, problems = cohort_from_proto_checked(msg)
        people, person_problems = _person_by_person(msg)
        assert [*cohort.mentors, *cohort.mentees] == people
        # The people's problems come first (the rules' and the year's follow), in the same order.
        assert problems[:len(person_problems)] == person_problems
        assert [(r.from_id, r.to_id, r.rank) for r in cohort.rankings] == \
            [(r.from_id, r.to_id, r.rank) for r in msg.rankings]


def test_a_skill_shared_between_people_is_equal_and_a_negative_level_is_reported_each_time() -> None:
    msg = pb.Cohort(mentees=[pb.Mentee(id=f"E{i}", location=pb.Location(lat=55, lon=12),
                                       languages=[pb.LanguageSkill(code="da", level=pb.CefrLevel.ValueType(-2))]) for i in range(2)]
                    + [pb.Mentee(id="E2", location=pb.Location(lat=55, lon=12),
                                 languages=[pb.LanguageSkill(code="da", level=pb.CEFR_LEVEL_C1)])])
    cohort, problems = cohort_from_proto_checked(msg)
    assert [m.languages for m in cohort.mentees] == [(Language("da", -1),), (Language("da", -1),),
                                                     (Language("da", 5),)]
    assert [(p.code.value, p.path) for p in problems] == [("MALFORMED_CEFR", "mentees[0].languages[0].level"),
                                                          ("MALFORMED_CEFR", "mentees[1].languages[0].level")]

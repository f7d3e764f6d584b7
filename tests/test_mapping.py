"""Round trips domain <-> protobuf <-> JSON (property-based), absent-field defaults, and input problems."""

from __future__ import annotations

import dataclasses
import json
import math
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentormatch.v1 import cohort_pb2 as pb
from server.convert import (
    cohort_from_json_text,
    cohort_from_proto,
    cohort_from_proto_checked,
    cohort_to_json_text,
    cohort_to_proto,
    load_cohort_json,
)
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
    TravelTime,
    Weights,
)
from solver.errors import CohortInvalid, ProblemCode
from solver.validate import validate

# --- strategies -----------------------------------------------------------------------------------

# Python floats are IEEE doubles, and so are proto `double`s, so any finite float survives the binary
# round trip; protobuf JSON prints doubles with repr() precision, so they survive JSON too.
LAT = st.floats(min_value=-90, max_value=90)
LON = st.floats(min_value=-180, max_value=180)
LIMIT = st.none() | st.floats(min_value=0.0, max_value=10_000.0)
IDS = st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=1, max_size=10)
# Free text (interests, organisations): any Unicode that is valid UTF-8, Danish letters included.
TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
# A cohort's name is plain text (README: a control or invisible character is refused): letters of several scripts,
# digits, spaces, punctuation and an emoji.
NAME = st.text(alphabet=string.ascii_letters + string.digits + " .,:;-–'&()/æøåÆØÅéüßعربيکوردیУкраїна中文🙂", max_size=12)
ISCO = st.from_regex(r"[0-9]{4}", fullmatch=True)
LANGUAGE_CODES = st.sampled_from(["da", "en", "ar", "de", "uk", "fa", "so", "ti"])
COUNTRIES = st.sampled_from(["DK", "SY", "UA", "IR", "DE", "IN", "ER", ""])
GENDERS = st.sampled_from(["", "f", "m", "x"])
SMALL = st.integers(min_value=0, max_value=50)


def tuples(elements: st.SearchStrategy, max_size: int = 3) -> st.SearchStrategy:
    return st.lists(elements, max_size=max_size).map(tuple)


LANGUAGES = tuples(st.builds(Language, code=LANGUAGE_CODES, level=st.integers(min_value=1, max_value=6)))


@st.composite
def mentors(draw: st.DrawFn, id_: str) -> Mentor:
    return Mentor(
        id=id_,
        lat=draw(LAT),
        lon=draw(LON),
        occupations=draw(tuples(ISCO)),
        languages=draw(LANGUAGES),
        years_experience=draw(st.integers(min_value=0, max_value=80)),
        capacity=draw(st.integers(min_value=0, max_value=10)),
        leadership=draw(st.booleans()),
        gender=draw(GENDERS),
        interests=draw(tuples(TEXT)),
        organisation=draw(TEXT),
        markets=draw(tuples(COUNTRIES.filter(bool))),
        returning=draw(st.booleans()),
        goals=draw(tuples(st.sampled_from(Goal), max_size=4)),
    )


@st.composite
def mentees(draw: st.DrawFn, id_: str) -> Mentee:
    return Mentee(
        id=id_,
        lat=draw(LAT),
        lon=draw(LON),
        occupations=draw(tuples(ISCO)),
        languages=draw(LANGUAGES),
        max_travel_km=draw(LIMIT),
        max_travel_minutes=draw(LIMIT),
        interests=draw(tuples(TEXT)),
        goal=draw(st.sampled_from(Goal)),
        gender=draw(GENDERS),
        requested_mentor_gender=draw(GENDERS),
        country_of_origin=draw(COUNTRIES),
        first_language=draw(LANGUAGE_CODES | st.just("")),
        municipality=draw(st.from_regex(r"[0-9]{3}", fullmatch=True) | st.just("")),
        track=draw(st.sampled_from(Track)),
        priority=draw(st.integers(min_value=1, max_value=1000)),
    )


WEIGHTS = st.builds(Weights, **{f.name: st.integers(min_value=0, max_value=1000) for f in dataclasses.fields(Weights)})


@st.composite
def cohorts(draw: st.DrawFn) -> Cohort:
    """Valid domain cohorts with every field exercised: participants, rankings and every kind of rule."""
    n_mentors = draw(st.integers(min_value=0, max_value=5))
    n_mentees = draw(st.integers(min_value=0, max_value=5))
    ids = draw(st.lists(IDS, min_size=n_mentors + n_mentees, max_size=n_mentors + n_mentees, unique=True))
    mentor_list = tuple(draw(mentors(i)) for i in ids[:n_mentors])
    mentee_list = tuple(draw(mentees(i)) for i in ids[n_mentors:])
    mentor_ids = [m.id for m in mentor_list]
    mentee_ids = [m.id for m in mentee_list]
    pair = (
        st.tuples(st.sampled_from(mentee_ids), st.sampled_from(mentor_ids))
        if mentor_ids and mentee_ids
        else st.nothing()
    )
    rankings: tuple[Ranking, ...] = ()
    travel_times: tuple[TravelTime, ...] = ()
    if mentor_ids and mentee_ids:
        ranking = st.builds(
            # a mentee ranking a mentor, or (flipped) a mentor ranking a mentee
            lambda p, flip, rank: Ranking(p[1], p[0], rank) if flip else Ranking(p[0], p[1], rank),
            pair,
            st.booleans(),
            st.integers(min_value=1, max_value=20),
        )
        rankings = draw(tuples(ranking, max_size=6))
        travel_times = draw(
            tuples(
                st.builds(
                    lambda p, minutes: TravelTime(p[0], p[1], minutes),
                    pair,
                    st.floats(min_value=0.0, max_value=600.0),
                ),
                max_size=4,
            )
        )
    rules = Rules(
        max_distance_km=draw(st.none() | st.floats(min_value=0.1, max_value=20_000.0)),
        field_depth=draw(st.integers(min_value=0, max_value=4)),
        min_language_level=draw(st.integers(min_value=1, max_value=6)),
        min_mentor_years=draw(st.integers(min_value=0, max_value=80)),
        eligible_municipalities=draw(tuples(st.from_regex(r"[0-9]{3}", fullmatch=True))),
        eligible_tracks=draw(tuples(st.sampled_from(Track))),
        organisation_caps=draw(tuples(st.tuples(TEXT, SMALL))),
        gender_quotas=draw(
            tuples(
                st.builds(
                    GenderQuota,
                    gender=st.sampled_from(["f", "m", "x"]),
                    min_pairs=SMALL,
                    max_pairs=st.none() | SMALL,
                )
            )
        ),
        pins=draw(tuples(pair)) if mentor_ids and mentee_ids else (),
        bans=draw(tuples(pair)) if mentor_ids and mentee_ids else (),
        gender_requests_hard=draw(st.booleans()),
        weights=draw(WEIGHTS),
        travel_times=travel_times,
        max_travel_minutes=draw(st.none() | st.floats(min_value=1.0, max_value=600.0)),
    )
    return Cohort(
        mentors=mentor_list,
        mentees=mentee_list,
        rankings=rankings,
        rules=rules,
        name=draw(NAME),
    )


# --- round trips ----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(cohorts())
def test_proto_round_trip_keeps_the_cohort(cohort: Cohort) -> None:
    msg = cohort_to_proto(cohort)
    back, problems = cohort_from_proto_checked(msg)
    assert problems == []
    assert back == cohort
    # ... and through the wire format
    assert cohort_from_proto(pb.Cohort.FromString(msg.SerializeToString())) == cohort


@settings(max_examples=200, deadline=None)
@given(cohorts())
def test_json_round_trip_keeps_the_cohort(cohort: Cohort) -> None:
    text = cohort_to_json_text(cohort)
    assert cohort_from_json_text(text) == cohort


@settings(max_examples=50, deadline=None)
@given(cohorts())
def test_camel_case_json_is_accepted(cohort: Cohort) -> None:
    from google.protobuf import json_format

    camel = json_format.MessageToJson(cohort_to_proto(cohort), use_integers_for_enums=True)
    assert cohort_from_json_text(camel) == cohort


def test_json_uses_proto_field_names_and_enum_names() -> None:
    cohort = Cohort(
        mentors=(Mentor("m1", 55.68, 12.57, ("2512",), (Language("da", 4),), years_experience=7),),
        mentees=(Mentee("e1", 55.7, 12.5, ("2511",), (Language("en", 6),), goal=Goal.JOB, track=Track.SPOUSE),),
        rules=Rules(max_distance_km=None),
    )
    data = json.loads(cohort_to_json_text(cohort))
    assert data["mentors"][0]["years_experience"] == 7
    assert data["mentors"][0]["languages"][0]["level"] == "CEFR_LEVEL_B2"
    assert data["mentees"][0]["goal"] == "GOAL_JOB"
    assert data["mentees"][0]["track"] == "TRACK_SPOUSE"
    assert data["rules"]["no_distance_limit"] is True
    assert "max_distance_km" not in data["rules"]


# --- absent fields mean the domain defaults -------------------------------------------------------


def test_empty_message_gives_domain_defaults() -> None:
    assert cohort_from_proto(pb.Cohort()) == Cohort(mentors=(), mentees=())
    assert cohort_from_proto(pb.Cohort(rules=pb.Rules())) == Cohort(mentors=(), mentees=())


def test_absent_rules_fields_are_the_documented_defaults() -> None:
    """The values stated in cohort.proto's comments; if the domain defaults change, change the comments too."""
    rules = cohort_from_proto(pb.Cohort(rules=pb.Rules())).rules
    assert rules.max_distance_km == 30.0
    assert rules.field_depth == 2
    assert rules.min_language_level == 3  # B1
    assert rules.gender_requests_hard is True
    assert rules.max_travel_minutes is None
    assert rules.weights == Weights(
        mutual_rank=3,
        mentee_rank=3,
        mentor_rank=2,
        interests=1,
        field=1,
        goal=1,
        travel=2,
        home_market=1,
        first_language=1,
        seniority=1,
        returning=1,
    )


def test_explicit_zero_values_are_kept() -> None:
    msg = pb.Cohort(
        mentors=[pb.Mentor(id="m", location=pb.Location(), capacity=0)],
        rules=pb.Rules(
            max_distance_km=0.0,
            field_depth=0,
            min_language_level=pb.CEFR_LEVEL_UNSPECIFIED,
            gender_requests_hard=False,
            max_travel_minutes=0.0,
            weights=pb.Weights(travel=0),
        ),
    )
    cohort = cohort_from_proto(msg)
    assert cohort.mentors[0].capacity == 0
    assert (cohort.mentors[0].lat, cohort.mentors[0].lon) == (0.0, 0.0)
    r = cohort.rules
    assert (r.max_distance_km, r.field_depth, r.min_language_level, r.gender_requests_hard) == (0.0, 0, 0, False)
    assert r.max_travel_minutes == 0.0
    assert r.weights == dataclasses.replace(Weights(), travel=0)


def test_absent_participant_fields_are_the_domain_defaults() -> None:
    msg = pb.Cohort(
        mentors=[pb.Mentor(id="m", location=pb.Location(lat=55.0, lon=12.0))],
        mentees=[pb.Mentee(id="e", location=pb.Location(lat=55.1, lon=12.1))],
    )
    cohort = cohort_from_proto(msg)
    assert cohort.mentors[0] == Mentor("m", 55.0, 12.0, (), ())
    assert cohort.mentees[0] == Mentee("e", 55.1, 12.1, (), ())
    assert cohort.mentors[0].capacity == 1
    assert cohort.mentees[0].priority == 1
    assert cohort.mentees[0].max_travel_km is None


def test_no_distance_limit() -> None:
    cohort = cohort_from_proto(pb.Cohort(rules=pb.Rules(no_distance_limit=True)))
    assert cohort.rules.max_distance_km is None
    _, problems = cohort_from_proto_checked(pb.Cohort(rules=pb.Rules(no_distance_limit=True, max_distance_km=5)))
    assert [(p.code, p.path) for p in problems] == [(ProblemCode.BAD_VALUE, "rules.max_distance_km")]


# --- odd values -----------------------------------------------------------------------------------


def _person_msgs(n: int) -> tuple[list[pb.Mentor], list[pb.Mentee]]:
    here = pb.Location(lat=55.0, lon=12.0)
    return (
        [pb.Mentor(id=f"m{i}", location=here) for i in range(n)],
        [pb.Mentee(id=f"e{i}", location=here) for i in range(n)],
    )


def test_unknown_goal_and_track_numbers_are_bad_values_with_paths() -> None:
    mentor_msgs, mentee_msgs = _person_msgs(4)
    mentee_msgs[3].goal = pb.Goal.ValueType(99)
    mentee_msgs[1].track = pb.Track.ValueType(42)
    mentor_msgs[2].goals.extend([pb.GOAL_JOB, pb.Goal.ValueType(7)])
    msg = pb.Cohort(
        mentors=mentor_msgs,
        mentees=mentee_msgs,
        rules=pb.Rules(eligible_tracks=[pb.TRACK_REFUGEE, pb.Track.ValueType(-1)]),
    )
    cohort, problems = cohort_from_proto_checked(msg)
    assert {p.path for p in problems} == {
        "mentees[3].goal",
        "mentees[1].track",
        "mentors[2].goals[1]",
        "rules.eligible_tracks[1]",
    }
    assert all(p.code is ProblemCode.BAD_VALUE for p in problems)
    assert cohort.mentees[3].goal is Goal.UNSPECIFIED
    assert cohort.mentors[2].goals == (Goal.JOB, Goal.UNSPECIFIED)
    # the unchecked mapping never raises either
    assert cohort_from_proto(msg) == cohort


def test_unknown_enum_numbers_survive_wire_and_json() -> None:
    mentor_msgs, mentee_msgs = _person_msgs(1)
    mentee_msgs[0].goal = pb.Goal.ValueType(99)
    msg = pb.Cohort(mentors=mentor_msgs, mentees=mentee_msgs)
    _, problems = cohort_from_proto_checked(pb.Cohort.FromString(msg.SerializeToString()))
    assert [p.path for p in problems] == ["mentees[0].goal"]
    with pytest.raises(CohortInvalid) as caught:
        cohort_from_json_text(
            '{"mentees": [{"id": "e", "location": {"lat": 55, "lon": 12}, "goal": 99}]}', "c.json"
        )
    assert [(p.code, p.path, p.location) for p in caught.value.problems] == [
        (ProblemCode.BAD_VALUE, "mentees[0].goal", "c.json, mentees[0].goal")
    ]


def test_unspecified_or_unknown_cefr_level_keeps_the_number_sent() -> None:
    mentor_msgs, _ = _person_msgs(1)
    mentor_msgs[0].languages.extend(
        [
            pb.LanguageSkill(code="da", level=pb.CEFR_LEVEL_UNSPECIFIED),
            pb.LanguageSkill(code="en", level=pb.CefrLevel.ValueType(9)),
            pb.LanguageSkill(code="de", level=pb.CefrLevel.ValueType(-1)),
            pb.LanguageSkill(code="ar", level=pb.CEFR_LEVEL_C2),
        ]
    )
    cohort, problems = cohort_from_proto_checked(
        pb.Cohort(mentors=mentor_msgs, rules=pb.Rules(min_language_level=pb.CefrLevel.ValueType(8)))
    )
    # A negative level is reported here with the number sent (-1 is the domain's "reported already");
    # the others are left for solver.validate (MALFORMED_CEFR / INVALID_RULE), which reports them as sent.
    assert [(p.code, p.path, p.message) for p in problems] == [
        (ProblemCode.MALFORMED_CEFR, "mentors[0].languages[2].level", "level -1 is not a CEFR level A1..C2")]
    assert [lang.level for lang in cohort.mentors[0].languages] == [0, 9, -1, 6]
    assert cohort.rules.min_language_level == 8
    found = {p.path: p.message for p in validate(cohort)}
    assert found["mentors[0].languages[1].level"] == "level 9 is not a CEFR level A1..C2"
    assert "no level given for 'da'" in found["mentors[0].languages[0].level"]
    assert found["rules.min_language_level"].startswith("8 is not a CEFR level")


def test_unknown_gender_number_is_kept_for_validation_and_round_trips() -> None:
    mentor_msgs, mentee_msgs = _person_msgs(1)
    mentor_msgs[0].gender = pb.Gender.ValueType(9)
    msg = pb.Cohort(mentors=mentor_msgs, mentees=mentee_msgs)
    cohort, problems = cohort_from_proto_checked(msg)
    assert problems == []
    assert cohort.mentors[0].gender == "?9"  # not in GENDERS: validation reports MALFORMED_GENDER
    assert cohort_to_proto(cohort).mentors[0].gender == 9


def test_out_of_range_values_stay_as_they_are() -> None:
    msg = pb.Cohort(
        mentors=[pb.Mentor(id="m", location=pb.Location(lat=123.0, lon=-500.0), capacity=-2, years_experience=-1)],
        mentees=[pb.Mentee(id="e", location=pb.Location(lat=math.inf, lon=math.nan), priority=-3)],
        rankings=[pb.Ranking(from_id="e", to_id="m", rank=0)],
        rules=pb.Rules(field_depth=9, max_distance_km=-1.0),
    )
    cohort, problems = cohort_from_proto_checked(msg)
    assert problems == []
    m, e = cohort.mentors[0], cohort.mentees[0]
    assert (m.lat, m.lon, m.capacity, m.years_experience) == (123.0, -500.0, -2, -1)
    assert e.lat == math.inf and math.isnan(e.lon) and e.priority == -3
    assert cohort.rankings[0].rank == 0
    assert (cohort.rules.field_depth, cohort.rules.max_distance_km) == (9, -1.0)


def test_missing_location_is_a_bad_value() -> None:
    msg = pb.Cohort(mentors=[pb.Mentor(id="m")], mentees=[pb.Mentee(id="e", location=pb.Location())])
    cohort, problems = cohort_from_proto_checked(msg)
    assert [(p.code, p.path) for p in problems] == [(ProblemCode.BAD_VALUE, "mentors[0].location")]
    assert math.isnan(cohort.mentors[0].lat) and math.isnan(cohort.mentors[0].lon)
    assert (cohort.mentees[0].lat, cohort.mentees[0].lon) == (0.0, 0.0)


def test_unrepresentable_domain_gender_is_refused_by_to_proto() -> None:
    cohort = Cohort(mentors=(Mentor("m", 55.0, 12.0, (), (), gender="female"),), mentees=())
    with pytest.raises(ValueError, match=r"mentors\[0\]\.gender"):
        cohort_to_proto(cohort)


# --- JSON input problems --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["{bad", "", '{"mentors": [}', "\u00ff\u00fe"])
def test_malformed_json_is_cohort_invalid(text: str) -> None:
    with pytest.raises(CohortInvalid) as caught:
        cohort_from_json_text(text, "cohort.json")
    [problem] = caught.value.problems
    assert problem.code is ProblemCode.NOT_CSV
    assert problem.path == "cohort.json"
    assert "not valid JSON" in problem.message


def test_unknown_fields_and_wrong_types_are_all_reported_with_paths() -> None:
    text = json.dumps(
        {
            "mentors": [
                {"id": "m", "location": {"lat": 55, "lon": 12}},
                {"id": "n", "email": "a@b.dk", "capacity": "two", "languages": [{"code": "da", "level": "Z9"}]},
            ],
            "mentees": [{"id": "e", "occupations": ["2512", 2511]}],
            "rules": {"maxDistanceKm": "far"},
            "surprise": 1,
        }
    )
    with pytest.raises(CohortInvalid) as caught:
        cohort_from_json_text(text, "cohort.json")
    found = {(p.code, p.path) for p in caught.value.problems}
    assert found == {
        (ProblemCode.BAD_VALUE, "mentors[1].email"),
        (ProblemCode.BAD_VALUE, "mentors[1].capacity"),
        (ProblemCode.BAD_VALUE, "mentors[1].languages[0].level"),
        (ProblemCode.BAD_VALUE, "mentees[0].occupations[1]"),
        (ProblemCode.BAD_VALUE, "rules.max_distance_km"),
        (ProblemCode.BAD_VALUE, "surprise"),
        # and the cohort's own problems with them, all at once (the wrong values are not reported twice)
        (ProblemCode.BAD_VALUE, "mentors[1].location"),
        (ProblemCode.BAD_VALUE, "mentees[0].location"),
    }
    assert all(p.location.startswith("cohort.json, ") for p in caught.value.problems)
    assert "a@b.dk" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("[]", "cohort.json"),
        ('{"mentors": {"id": "m"}}', "mentors"),
        ('{"mentors": [{"id": "m", "id": "n"}]}', "cohort.json"),
        ('{"rules": {"maxDistanceKm": 1, "max_distance_km": 2}}', "rules.max_distance_km"),
    ],
)
def test_json_of_the_wrong_shape_is_a_bad_value(text: str, path: str) -> None:
    with pytest.raises(CohortInvalid) as caught:
        cohort_from_json_text(text, "cohort.json")
    assert [(p.code, p.path) for p in caught.value.problems] == [(ProblemCode.BAD_VALUE, path)]


def test_load_cohort_json(tmp_path: Path) -> None:
    cohort = Cohort(
        mentors=(Mentor("m1", 55.68, 12.57, ("2512",), (Language("da", 4),), organisation="Ørsted A/S"),),
        mentees=(Mentee("e1", 55.7, 12.5, ("2511",), (Language("da", 3),), interests=("håndbold",)),),
        name="Lyngby forår",
    )
    path = tmp_path / "cohort.json"
    path.write_text(cohort_to_json_text(cohort), encoding="utf-8")
    assert load_cohort_json(path) == cohort
    assert load_cohort_json(str(path)) == cohort


def test_load_cohort_json_problems(tmp_path: Path) -> None:
    with pytest.raises(CohortInvalid) as caught:
        load_cohort_json(tmp_path / "missing.json")
    assert caught.value.problems[0].code is ProblemCode.MISSING_FILE
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{")
    with pytest.raises(CohortInvalid) as caught:
        load_cohort_json(binary)
    assert caught.value.problems[0].code is ProblemCode.NOT_CSV
    assert caught.value.problems[0].path == str(binary)
    with pytest.raises(CohortInvalid) as caught:
        load_cohort_json(tmp_path)  # a directory: refused before it is opened, as every reader refuses one
    assert caught.value.problems[0].code is ProblemCode.NOT_A_FILE


# --- the contract carries every domain field ------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "message", "renamed", "extra"),
    [
        (Cohort, pb.Cohort, {}, set()),
        (Mentor, pb.Mentor, {"lat": "location", "lon": "location"}, set()),
        (Mentee, pb.Mentee, {"lat": "location", "lon": "location"}, set()),
        (Language, pb.LanguageSkill, {}, set()),
        (Ranking, pb.Ranking, {}, set()),
        (Rules, pb.Rules, {}, {"no_distance_limit"}),
        (Weights, pb.Weights, {}, set()),
        (GenderQuota, pb.GenderQuota, {}, set()),
        (TravelTime, pb.TravelTime, {}, set()),
    ],
)
def test_every_domain_field_has_a_proto_field(
    domain: type, message: type[pb.Cohort], renamed: dict[str, str], extra: set[str]
) -> None:
    domain_fields = {renamed.get(f.name, f.name) for f in dataclasses.fields(domain)}
    proto_fields = set(message.DESCRIPTOR.fields_by_name) - extra
    assert domain_fields == proto_fields


def test_enums_correspond() -> None:
    assert {f"GOAL_{g.name}" for g in Goal} == set(pb.Goal.keys())
    assert {f"TRACK_{t.name}" for t in Track} == set(pb.Track.keys())
    assert [pb.CefrLevel.Value(f"CEFR_LEVEL_{name}") for name in ("A1", "A2", "B1", "B2", "C1", "C2")] == list(
        range(1, 7)
    )

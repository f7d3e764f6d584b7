"""A small message can hold a million list entries (rankings, travel times): the service counts them before it
reads the cohort and refuses above documented caps, at once, with every list over its cap named. One person's
lists, and the rules' lists, have caps of their own (`solver.validate`), checked on every path: gRPC, tables, JSON."""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from mentormatch.v1 import matching_pb2 as mpb
from server.checks import MAX_LIST_ENTRIES
from server.client import MentormatchClient, RemoteError
from solver.cohort_proto import cohort_to_proto
from solver.domain import Cohort, FieldFamily, GenderQuota, Goal, Rules, Segment
from solver.errors import CohortInvalid, ProblemCode
from solver.ingest import load_cohort
from solver.solve import SolveOptions
from solver.validate import FAMILY_PREFIXES_CAP, PERSON_LIST_CAPS, RULE_LIST_CAPS, SEGMENT_LIST_CAPS
from tests.conftest import SCENARIOS, mentee, mentor, small_cohort


def test_a_million_rankings_are_refused_before_they_are_read(client: MentormatchClient) -> None:
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "lyngby_career"))
    ranking = cohort.rankings[0]
    cohort.rankings.extend([ranking] * MAX_LIST_ENTRIES["rankings"])  # one more than the cap, all duplicates
    cohort.rules.bans.extend([cohort.rules.bans[0]] * MAX_LIST_ENTRIES["rules.bans"])
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        client.match(cohort, SolveOptions(alternatives=1), validate_only=True)
    assert time.monotonic() - started < 2.0  # counted, not read: the caller's own serialisation is most of it
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT and caught.value.reason == "COHORT_TOO_LARGE"
    paths = [path for path, _ in caught.value.violations]
    assert paths == ["cohort.rankings", "cohort.rules.bans"]
    assert "at most 100,000" in caught.value.violations[0][1]


# --- one participant's lists, and the rules' lists: caps checked by validation on every path ---------------------

def _person_cohort(mentor_lists: Mapping[str, Any] | None = None, mentee_lists: Mapping[str, Any] | None = None,
                   rules: Rules | None = None) -> Cohort:
    """One mentor and one mentee who may be paired (same place, field and language), with the lists given."""
    return Cohort((mentor("M1", **(mentor_lists or {})),), (mentee("E1", **(mentee_lists or {})),),
                  rules=rules or Rules())


def _refused(client: MentormatchClient, cohort: Cohort) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        client.match(cohort, SolveOptions(alternatives=1), timeout=60)
    return caught.value


def _solves_a_normal_cohort(client: MentormatchClient) -> None:
    """The server answers an ordinary call at once after a refusal: nothing of the refused call holds a slot."""
    response = client.match(small_cohort(), SolveOptions(alternatives=1), timeout=30)
    assert response.status == mpb.SOLVE_STATUS_OPTIMAL and response.matchings[0].pairs


def test_twenty_thousand_occupations_each_are_two_problems_not_a_minute_of_solving(
        client: MentormatchClient) -> None:
    # The review's shape: one mentor and one mentee with 20,000 occupations each (a 0.24 MB request) held a solve
    # slot 50 s past a 3 s deadline and 4.8 GB of memory.
    cohort = _person_cohort({"occupations": ("2512",) * 20_000}, {"occupations": ("2512",) * 20_000})
    refused = _refused(client, cohort)
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT and refused.reason == "COHORT_INVALID"
    assert refused.violations == [
        ("cohort.mentors[0].occupations", "TOO_LARGE: 20,000 occupations; at most 100 are taken"),
        ("cohort.mentees[0].occupations", "TOO_LARGE: 20,000 occupations; at most 100 are taken")]
    _solves_a_normal_cohort(client)


def test_every_list_of_a_person_over_its_cap_is_named_with_their_other_problems(client: MentormatchClient) -> None:
    cohort = _person_cohort(
        {"interests": tuple(f"x{i}" for i in range(400_000)), "markets": ("SY",) * 251, "goals": (Goal.JOB,) * 101,
         "languages": (("en", 5),) * 201},
        {"interests": tuple(f"y{i}" for i in range(400_000)), "tags": tuple(f"t{i}" for i in range(101)),
         "avoid_organisations": tuple(f"o{i}" for i in range(200_000)), "max_travel_km": -1.0})
    refused = _refused(client, cohort)
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT and refused.reason == "COHORT_INVALID"
    found = dict(refused.violations)
    assert found == {
        "cohort.mentees[0].max_travel_km": "NEGATIVE_VALUE: -1.0 is not a non-negative number",  # beside them
        "cohort.mentors[0].languages": "TOO_LARGE: 201 languages; at most 200 are taken",
        "cohort.mentors[0].interests": "TOO_LARGE: 400,000 interests; at most 100 are taken",
        "cohort.mentors[0].markets": "TOO_LARGE: 251 markets; at most 250 are taken",
        "cohort.mentors[0].goals": "TOO_LARGE: 101 goals; at most 100 are taken",
        "cohort.mentees[0].interests": "TOO_LARGE: 400,000 interests; at most 100 are taken",
        "cohort.mentees[0].tags": "TOO_LARGE: 101 tags; at most 100 are taken",
        "cohort.mentees[0].avoid_organisations": "TOO_LARGE: 200,000 avoid organisations; at most 100 are taken"}
    _solves_a_normal_cohort(client)


def test_a_mentee_with_many_tags_against_segments_of_many_tags_is_refused(client: MentormatchClient) -> None:
    # The review's shape: 200,000 tags against 100 segments of 2,000 held a slot for minutes past a 5 s deadline.
    segments = tuple(Segment(id=f"s{j}", tags=tuple(f"u{i}" for i in range(2_000))) for j in range(100))
    cohort = _person_cohort(mentee_lists={"tags": tuple(f"t{i}" for i in range(200_000))},
                            rules=Rules(segments=segments))
    refused = _refused(client, cohort)
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT
    expected = ["cohort.mentees[0].tags"] + [f"cohort.rules.segments[{j}].tags" for j in range(100)]
    listed = [path for path, _ in refused.violations]  # as many as the error's details hold, in order
    assert listed == expected[:len(listed)] and "101 problem" in refused.message
    assert refused.violations[1][1] == "TOO_LARGE: 2,000 tags; at most 100 are taken"
    _solves_a_normal_cohort(client)


def test_the_rules_lists_over_their_caps_are_named_each(client: MentormatchClient) -> None:
    rules = Rules(eligible_municipalities=tuple(str(100 + i) for i in range(1_001)),
                  programme_languages=("en",) * 201,
                  gender_quotas=tuple(GenderQuota("f") for _ in range(11)),
                  field_families=(FieldFamily("ict", ("25",) * 1_001), FieldFamily("health", ("22",) * 10)),
                  segments=(Segment(id="s", municipalities=tuple(str(100 + i) for i in range(101)),
                                    mentor_goals=(Goal.JOB,) * 101),))
    refused = _refused(client, _person_cohort(mentee_lists={"municipality": "101"}, rules=rules))
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT and refused.reason == "COHORT_INVALID"  # not too dense
    assert refused.violations == [
        ("cohort.rules.eligible_municipalities", "TOO_LARGE: 1,001 eligible municipalities; at most 1,000 are taken"),
        ("cohort.rules.programme_languages", "TOO_LARGE: 201 programme languages; at most 200 are taken"),
        ("cohort.rules.gender_quotas", "TOO_LARGE: 11 gender quotas; at most 10 are taken"),
        ("cohort.rules.segments[0].municipalities", "TOO_LARGE: 101 municipalities; at most 100 are taken"),
        ("cohort.rules.segments[0].mentor_goals", "TOO_LARGE: 101 mentor goals; at most 100 are taken"),
        ("cohort.rules.field_families[0].prefixes", "TOO_LARGE: 1,001 prefixes; at most 1,000 are taken")]


def test_lists_exactly_at_their_caps_are_solved(client: MentormatchClient) -> None:
    """Every list at its cap (repeats are no problem): the pair is matched, as without the long lists."""
    at_cap = PERSON_LIST_CAPS
    lists = {"occupations": ("2512",) * at_cap["occupations"], "languages": (("en", 5),) * at_cap["languages"],
             "interests": tuple(f"i{k}" for k in range(at_cap["interests"]))}
    her = {**lists, "tags": tuple(f"t{k}" for k in range(at_cap["tags"])),
           "avoid_organisations": tuple(f"o{k}" for k in range(at_cap["avoid_organisations"])),
           "municipality": "101", "languages": (("en", 4),) * at_cap["languages"]}
    his = {**lists, "markets": ("SY",) * at_cap["markets"], "goals": (Goal.JOB,) * at_cap["goals"]}
    segment_caps = SEGMENT_LIST_CAPS
    segments = tuple(Segment(id=f"s{j}", tags=tuple(f"u{k}" for k in range(segment_caps["tags"])),
                             municipalities=tuple(str(k) for k in range(segment_caps["municipalities"])),
                             programme_languages=("en",) * segment_caps["programme_languages"])
                     for j in range(RULE_LIST_CAPS["segments"]))
    rules = Rules(eligible_municipalities=tuple(str(k) for k in range(RULE_LIST_CAPS["eligible_municipalities"])),
                  programme_languages=("en",) * RULE_LIST_CAPS["programme_languages"],
                  field_families=(FieldFamily("ict", ("25",) * FAMILY_PREFIXES_CAP),), segments=segments)
    response = client.match(_person_cohort(his, her, rules), SolveOptions(alternatives=1), timeout=60)
    assert [(p.mentee_id, p.mentor_id) for p in response.matchings[0].pairs] == [("E1", "M1")]


def test_two_caps_for_one_organisation_are_a_problem_at_the_second(client: MentormatchClient) -> None:
    # It was an INTERNAL answer-check failure: the solver kept one cap, the answer's check the other.
    rules = Rules(organisation_caps=(("A", 2), ("B", 1), ("A", 0)))
    cohort = Cohort((mentor("M1", organisation="A"), mentor("M2", organisation="A")),
                    (mentee("E1"), mentee("E2")), rules=rules)
    refused = _refused(client, cohort)
    assert refused.code is grpc.StatusCode.INVALID_ARGUMENT and refused.reason == "COHORT_INVALID"
    assert refused.violations == [("cohort.rules.organisation_caps[2]", "INVALID_RULE: a second cap for 'A' (the first "
                                   "is rules.organisation_caps[0]): give one cap per organisation")]


def test_zero_limits_are_refused_as_the_contract_says(client: MentormatchClient) -> None:
    rules = Rules(max_distance_km=0.0, max_travel_minutes=0.0, segments=(Segment(id="s", max_distance_km=0.0),))
    refused = _refused(client, _person_cohort(rules=rules))
    assert [path for path, _ in refused.violations] == [
        "cohort.rules.max_distance_km", "cohort.rules.max_travel_minutes", "cohort.rules.segments[0].max_distance_km"]
    assert "no_distance_limit" in refused.violations[0][1]


def _lyngby(tmp_path: Path) -> Path:
    directory = tmp_path / "lyngby"
    shutil.copytree(SCENARIOS / "lyngby_career", directory)
    return directory


def _first_mentor_cell(directory: Path, old: str, new: str) -> None:
    path = directory / "mentors.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[1]
    lines[1] = lines[1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


def test_a_csv_cell_with_too_many_occupations_is_one_problem_at_its_row_and_column(tmp_path: Path) -> None:
    directory = _lyngby(tmp_path)
    _first_mentor_cell(directory, ",2341;2356;2320,", "," + ";".join(["2341"] * 5_000) + ",")
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    assert [(p.code, p.location, p.message) for p in caught.value.problems] == [
        (ProblemCode.TOO_LARGE, "mentors.csv row 2, column occupations", "5,000 occupations; at most 100 are taken")]


def test_a_csv_cell_exactly_at_the_cap_is_read(tmp_path: Path) -> None:
    directory = _lyngby(tmp_path)
    _first_mentor_cell(directory, ",2341;2356;2320,", "," + ";".join(["2341"] * PERSON_LIST_CAPS["occupations"]) + ",")
    assert len(load_cohort(directory).mentors[0].occupations) == PERSON_LIST_CAPS["occupations"]


def test_a_json_cohort_with_a_list_too_long_is_one_problem_at_its_path(tmp_path: Path) -> None:
    cohort = _person_cohort(mentee_lists={"interests": tuple(f"y{i}" for i in range(101))})
    path = tmp_path / "cohort.json"
    path.write_text(json_format.MessageToJson(cohort_to_proto(cohort)), encoding="utf-8")
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(path)
    assert [(p.code, p.path) for p in caught.value.problems] == [(ProblemCode.TOO_LARGE, "mentees[0].interests")]

"""Bad input over gRPC gets a clear error and changes nothing: every problem at once, at its request path, with the
right code, before anything is solved; and what is valid but looks wrong comes back as warnings (issue 13, the
input findings). Each test runs against a real server on a loopback port."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from typer.testing import CliRunner

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server import cli
from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from server.convert import cohort_to_proto
from server.convert.results import response_json
from server.status import ServiceLimits
from solver.domain import Cohort, Language, Mentee, Mentor, Rules
from solver.ingest import write_cohort_dir
from solver.solve import SolveOptions
from tests.conftest import LAT, LON, ServerFactory, mentee, mentor
from tests.test_metrics import samples, scrape

ONE = SolveOptions(alternatives=1, time_limit_s=10)


def _violations(error: RemoteError) -> dict[str, str]:
    return dict(error.violations)


# --- a what-if too dense to solve is refused with the others' problems, before any solve --------------------------


def _wide_cohort(people: int = 1500, groups: int = 150) -> Cohort:
    """`people` mentees and as many mentors in one town, spread evenly over `groups` ISCO unit groups: at
    field_depth 4 each meets only their own group (people^2 / groups pairs); at field_depth 0 everyone meets
    everyone (people^2 pairs, above the join's cross-product limit of 2,000,000)."""
    def spot(i: int) -> tuple[float, float]:
        return LAT + (i % 37) * 0.001, LON + (i % 41) * 0.001

    mentors = tuple(Mentor(f"M{i:04d}", *spot(i), (f"{1111 + i % groups}",), (Language("en", 5),))
                    for i in range(people))
    mentees = tuple(Mentee(f"E{i:04d}", *spot(i + 7), (f"{1111 + i % groups}",), (Language("en", 4),))
                    for i in range(people))
    return Cohort(mentors, mentees, rules=Rules(field_depth=4, max_distance_km=30.0), name="wide")


def test_every_what_if_is_checked_before_any_solve_a_dense_one_at_its_own_path(server_factory: ServerFactory) -> None:
    # 1,500 x 1,500 at field_depth 4: 15,000 pairs to examine; a scenario at field_depth 0: 2,250,000.
    server = server_factory(limits=ServiceLimits(max_candidate_pairs=1_000_000))
    base = _wide_cohort()
    dense = mpb.Scenario(label="any field", rules=mpb.RuleChanges(field_depth=0))
    broken = mpb.Scenario(label="gone", remove=["nobody"])
    with MentormatchClient(server.address) as client:
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            client.compare_scenarios(mpb.CompareScenariosRequest(
                cohort=cohort_to_proto(base), scenarios=[broken, dense], options=mpb.MatchOptions(alternatives=1)))
        took = time.monotonic() - started
        found = _violations(caught.value)
        # Both scenarios' problems in one answer: the unknown id, and the density at the rule the scenario sets.
        assert caught.value.reason == "SCENARIO_INVALID"
        assert set(found) == {"scenarios[0].remove[0]", "scenarios[1].rules.field_depth"}, found
        assert found["scenarios[1].rules.field_depth"].startswith("TOO_LARGE: field_depth 0")
        assert "2,250,000" in found["scenarios[1].rules.field_depth"]
        # Alone, the dense scenario is COHORT_TOO_DENSE, still at the scenario's path and before any solve.
        with pytest.raises(RemoteError) as caught:
            client.compare_scenarios(mpb.CompareScenariosRequest(cohort=cohort_to_proto(base), scenarios=[dense]))
        assert caught.value.reason == "COHORT_TOO_DENSE"
        assert list(_violations(caught.value)) == ["scenarios[0].rules.field_depth"]
    # Nothing was solved; the refusals are counted by kind; no slot is left taken.
    counted = samples(scrape(server))
    assert sum(v for (name, _), v in counted.items() if name == "mentormatch_solve_seconds_count") == 0
    assert counted[("mentormatch_requests_rejected_total", (("reason", "invalid"),))] == 1
    assert counted[("mentormatch_requests_rejected_total", (("reason", "too_dense"),))] == 1
    assert server.service.slots.active() == 0
    assert took < 30


# --- one scenario's problems all at once ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def town() -> Cohort:
    """Six mentors and six mentees in Copenhagen, a pin between the first two, English and Danish the programme's
    languages."""
    mentors = tuple(mentor(f"M{j}", km_north=j) for j in range(6))
    mentees = tuple(mentee(f"E{j}", km_north=j + 0.5) for j in range(6))
    return Cohort(mentors, mentees, rules=Rules(max_distance_km=20.0, pins=(("E5", "M0"),),
                                                programme_languages=("da", "en")), name="town")


def test_one_scenarios_problems_come_together(client: MentormatchClient, town: Cohort) -> None:
    joiner = pb.Mentee(id="E90", location=pb.Location(lat=LAT, lon=LON), occupations=["25"],
                       languages=[pb.LanguageSkill(code="en", level=pb.CEFR_LEVEL_B2)])
    scenario = mpb.Scenario(label="all wrong", remove=["nobody"], add_mentees=[joiner],
                            rules=mpb.RuleChanges(max_distance_km=1.0), weights=pb.Weights(travel=5000))
    with pytest.raises(RemoteError) as caught:
        client.compare_scenarios(town, [scenario])
    found = _violations(caught.value)
    assert caught.value.reason == "SCENARIO_INVALID"
    assert found["scenarios[0].remove[0]"].startswith("UNKNOWN_ID:")
    assert found["scenarios[0].add_mentees[0].occupations[0]"].startswith("MALFORMED_ISCO:")
    assert found["scenarios[0].weights.travel"].startswith("OUT_OF_RANGE:")
    # The base's pin E5-M0 lies 5.5 km apart: the scenario's 1 km limit breaks it, said at the scenario.
    assert found["scenarios[0]"].startswith("PIN_BREAKS_RULE: cohort.rules.pins[0]:")


def test_a_cohorts_pins_are_checked_beside_its_other_problems(client: MentormatchClient, town: Cohort) -> None:
    msg = cohort_to_proto(town)
    msg.rules.max_distance_km = 3.0  # the pin E5-M0 lies 5.5 km apart
    msg.mentees[0].languages[0].code = "english"
    msg.rules.pins.add(mentee_id="E0", mentor_id="M1")  # a pin of someone whose data is broken: not judged yet
    answer = client.match(msg, validate_only=True)
    found = {p.field_path: mpb.ProblemCode.Name(p.code) for p in answer.problems}
    assert found == {"cohort.mentees[0].languages[0]": "PROBLEM_CODE_MALFORMED_LANGUAGE",
                     "cohort.rules.pins[0]": "PROBLEM_CODE_PIN_BREAKS_RULE"}, found


# --- undecodable bytes to health and reflection ------------------------------------------------------------------


def _undecodable(error: grpc.RpcError) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    status = rpc_status.from_call(error)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR))
    assert bad.field_violations[0].reason == "UNDECODABLE"


def test_undecodable_health_and_reflection_requests_are_invalid_argument_and_do_not_hold_the_drain(
        server_factory: ServerFactory) -> None:
    server: RunningServer = server_factory(grace_s=5.0)
    garbage = b"\xff\xff\xff"
    requests: queue.Queue[bytes | None] = queue.Queue()

    def stream() -> Iterator[bytes]:
        while (item := requests.get()) is not None:
            yield item

    with grpc.insecure_channel(server.address) as channel:
        raw = {"request_serializer": None, "response_deserializer": None}
        with pytest.raises(grpc.RpcError) as caught:
            channel.unary_unary("/grpc.health.v1.Health/Check", **raw)(garbage, timeout=5)
        _undecodable(caught.value)
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(channel.unary_stream("/grpc.health.v1.Health/Watch", **raw)(garbage, timeout=5)))
        _undecodable(caught.value)
        requests.put(garbage)  # one malformed request, and the client keeps its side of the stream open
        reflection = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                           **raw)(stream(), timeout=60)
        with pytest.raises(grpc.RpcError) as caught:
            next(iter(reflection))
        _undecodable(caught.value)
        assert MentormatchClient(server.address).health() == "SERVING"  # the server is fine
        started = time.monotonic()
        stopped = server.stop(5.0).wait(10)
        took = time.monotonic() - started
        requests.put(None)
    assert stopped and server.clean, "gRPC kept a call open"
    assert took < 1.5, f"the drain took {took:.2f} s with an idle reflection client (grace 5 s)"


# --- the right code, and the value as sent -----------------------------------------------------------------------


def test_out_of_range_values_say_which_way_and_report_the_value_sent(client: MentormatchClient, town: Cohort
                                                                      ) -> None:
    msg = cohort_to_proto(town)
    msg.mentors[0].years_experience = 200
    msg.mentors[1].years_experience = -1
    msg.mentors[2].capacity = 1_000_000
    msg.mentees[0].priority = 5000
    msg.mentees[1].languages[0].level = pb.CefrLevel.ValueType(99)
    msg.rules.min_language_level = pb.CefrLevel.ValueType(42)
    msg.rules.weights.travel = 2000
    answer = client.match(msg, validate_only=True)
    found = {p.field_path: (mpb.ProblemCode.Name(p.code), p.message) for p in answer.problems}
    assert found["cohort.mentors[0].years_experience"][0] == "PROBLEM_CODE_OUT_OF_RANGE"
    assert found["cohort.mentors[1].years_experience"][0] == "PROBLEM_CODE_NEGATIVE_VALUE"
    assert found["cohort.mentors[2].capacity"][0] == "PROBLEM_CODE_OUT_OF_RANGE"
    assert found["cohort.mentees[0].priority"][0] == "PROBLEM_CODE_OUT_OF_RANGE"
    assert found["cohort.rules.weights.travel"][0] == "PROBLEM_CODE_OUT_OF_RANGE"
    assert found["cohort.mentees[1].languages[0].level"] == ("PROBLEM_CODE_MALFORMED_CEFR",
                                                            "level 99 is not a CEFR level A1..C2")
    assert found["cohort.rules.min_language_level"][1].startswith("42 is not a CEFR level")
    with pytest.raises(RemoteError) as caught:
        client.rematch(town, [("E1", "M1")], penalty=10**15)
    assert _violations(caught.value)["penalty"].startswith("OUT_OF_RANGE:")


def test_an_id_with_an_invisible_or_direction_changing_character_is_refused(client: MentormatchClient,
                                                                           town: Cohort) -> None:
    msg = cohort_to_proto(town)
    msg.mentors[0].id = "M\u202e0"  # RIGHT-TO-LEFT OVERRIDE: prints reversed
    msg.mentees[2].id = "E\u200b2"  # ZERO WIDTH SPACE: prints as E2
    msg.mentees[3].id = "E3\ufeff"
    with pytest.raises(RemoteError) as caught:
        client.match(msg, ONE)
    found = _violations(caught.value)
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in found["cohort.mentors[0].id"]
    assert "U+200B ZERO WIDTH SPACE" in found["cohort.mentees[2].id"]
    assert "U+FEFF" in found["cohort.mentees[3].id"]
    assert all(found[path].startswith("BAD_VALUE:")
               for path in ("cohort.mentors[0].id", "cohort.mentees[2].id", "cohort.mentees[3].id"))
    assert found["cohort.rules.pins[0].mentor_id"].startswith("UNKNOWN_ID: 'M0'")  # the pin names M0, not M\u202e0


# --- warnings in every answer that carries a cohort -------------------------------------------------------------


def _odd(town: Cohort) -> Cohort:
    """`town` with E4's latitude and longitude swapped and E3 speaking Arabic only (no programme language)."""
    mentees = list(town.mentees)
    swapped = mentees[4]
    mentees[4] = Mentee(swapped.id, swapped.lon, swapped.lat, swapped.occupations, swapped.languages)
    mentees[3] = Mentee("E3", mentees[3].lat, mentees[3].lon, mentees[3].occupations, (Language("ar", 6),))
    return Cohort(town.mentors, tuple(mentees), rules=Rules(max_distance_km=20.0, programme_languages=("da", "en")),
                  name="odd")


WARNED = {("PROBLEM_CODE_COORDINATES_SWAPPED", "cohort.mentees[4].location.lat"),
          ("PROBLEM_CODE_NO_PROGRAMME_LANGUAGE", "cohort.mentees[3].languages")}


def _warnings(answer: mpb.MatchResponse | mpb.CompareScenariosResponse | mpb.RematchResponse
              | mpb.ExplainPairResponse) -> set[tuple[str, str]]:
    return {(mpb.ProblemCode.Name(w.code), w.field_path) for w in answer.warnings}


def test_every_answer_carries_the_cohorts_warnings(client: MentormatchClient, town: Cohort) -> None:
    odd = _odd(town)
    solved = client.match(odd, ONE)
    assert solved.matchings and _warnings(solved) == WARNED
    swapped = next(w for w in solved.warnings if w.code == mpb.PROBLEM_CODE_COORDINATES_SWAPPED)
    assert swapped.message.startswith("lat 12.57, lon 55.7") and "swapped?" in swapped.message
    assert _warnings(client.match(odd, validate_only=True)) == WARNED
    streamed = list(client.stream_match(odd, ONE))[-1].result
    assert _warnings(streamed) == WARNED
    assert _warnings(client.explain_pair(odd, "E0", "M0", ONE)) == WARNED
    assert _warnings(client.rematch(odd, [("E0", "M0")])) == WARNED
    far = pb.Mentor(id="M99", location=pb.Location(lat=-33.9, lon=18.4), occupations=["2512"],
                    languages=[pb.LanguageSkill(code="en", level=pb.CEFR_LEVEL_C2)])
    compared = client.compare_scenarios(odd, [mpb.Scenario(label="far", add_mentors=[far]),
                                              mpb.Scenario(label="same", rules=mpb.RuleChanges(max_distance_km=25))])
    # The base's warnings once, at `cohort.` paths; a scenario's own at its path (the base's are not repeated).
    assert _warnings(compared) == WARNED | {("PROBLEM_CODE_COORDINATE_OUTLIER", "scenarios[0].add_mentors[0].location.lat")}
    # A cohort that looks right has none.
    assert list(client.match(town, ONE).warnings) == []


def test_solve_json_carries_the_same_warnings_as_the_rpc(client: MentormatchClient, town: Cohort,
                                                          tmp_path: Path) -> None:
    odd = _odd(town)
    directory = write_cohort_dir(odd, tmp_path / "odd")
    printed = CliRunner().invoke(cli.app, ["solve", str(directory), "--json", "-k", "1"])
    assert printed.exit_code == 0, printed.output
    local = json.loads(printed.stdout)
    remote = json.loads(response_json(client.match(odd, SolveOptions(alternatives=1))))
    assert local["warnings"] == remote["warnings"]
    assert {(w["code"], w["field_path"]) for w in local["warnings"]} == WARNED
    assert "COORDINATES_SWAPPED" in printed.stderr  # and on stderr for people, located in the file
    assert "mentees.csv row 6, column lat" in printed.stderr

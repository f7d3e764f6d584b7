"""CompareScenarios and Rematch end to end: a real server on a loopback port, answers equal to the library's."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from server.convert import cohort_to_proto, scenario_changes_from_proto, scenario_to_proto
from solver.compare import Scenario, ScenarioChanges, apply_changes, compare_scenarios, load_scenario
from solver.domain import Cohort
from solver.ingest import load_cohort
from solver.rematch import DEFAULT_PENALTY, rematch
from solver.solve import SolveOptions, solve
from tests.conftest import ServerFactory, slow_cohort, slow_options
from tests.test_metrics import samples, scrape

ROOT = Path(__file__).resolve().parent.parent
WHATIF = ROOT / "scenarios" / "whatif"
TOKEN = "workflow-token-for-tests"

# Library fields the answer carries under another name, and those it does not carry.
RENAMED = {"mentees": "mentee_count", "mentors": "mentor_count", "kept": "kept_count", "ended": "ended_count",
           "new": "new_count"}
NOT_SENT = {
    "source",  # the scenario file a library scenario came from; a gRPC scenario has none
    "solve_seconds",  # wall time (sent as `solve_time`), differs run to run
    "cohort",  # RematchResult's cohort name: the caller sent it
}


def _scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.enum_type is None:
        return value
    if value == 0:
        return ""  # a kept pair's empty reason
    prefix = "_".join(part.upper() for part in _words(fd.enum_type.name)) + "_"
    return fd.enum_type.values_by_number[value].name.removeprefix(prefix)


def _words(name: str) -> list[str]:
    out: list[str] = []
    for ch in name:
        if ch.isupper() or not out:
            out.append(ch)
        else:
            out[-1] += ch
    return out


def assert_same(value: Any, message: Message, where: str = "") -> None:
    """Every field of a library dataclass (nested ones too) equals the message's field of the same name."""
    assert dataclasses.is_dataclass(value), where
    for f in dataclasses.fields(value):
        if f.name in NOT_SENT:
            continue
        name = RENAMED.get(f.name, f.name)
        fd = message.DESCRIPTOR.fields_by_name.get(name)
        here = f"{where}.{name}"
        assert fd is not None, f"{here}: the message has no such field"
        item = getattr(value, f.name)
        if item is None:
            assert not message.HasField(name), f"{here}: set, but the library has None"
            continue
        got = getattr(message, name)
        if fd.is_repeated:
            assert len(got) == len(item), here
            for k, (want, have) in enumerate(zip(item, got, strict=True)):
                if fd.message_type is not None:
                    assert_same(want, have, f"{here}[{k}]")
                else:
                    assert _scalar(fd, have) == want, f"{here}[{k}]"
        elif fd.message_type is not None:
            assert_same(item, got, here)
        else:
            assert _scalar(fd, got) == item, f"{here}: {_scalar(fd, got)!r} != {item!r}"


@pytest.fixture(scope="module")
def lyngby() -> Cohort:
    return load_cohort(ROOT / "scenarios" / "lyngby_career")


@pytest.fixture(scope="module")
def business() -> Cohort:
    return load_cohort(ROOT / "scenarios" / "copenhagen_business")


# --- CompareScenarios ----------------------------------------------------------------------------------------


def test_compare_business_what_ifs_equal_the_library(client: MentormatchClient, business: Cohort) -> None:
    """`compare_scenarios` of the bundled what-if files, field for field: distance, language, people, weights."""
    scenarios: list[mpb.Scenario | tuple[str, ScenarioChanges]] = [
        mpb.Scenario(label="Business: 25 km limit",
                     description="Meetings up to 25 km from the mentee's home instead of 15 km.",
                     rules=mpb.RuleChanges(max_distance_km=25)),
        mpb.Scenario(label="Business: language B1", description="A common language at CEFR B1 is enough (was B2).",
                     rules=mpb.RuleChanges(min_language_level=pb.CEFR_LEVEL_B1)),
        mpb.Scenario(label="Business: Danske Bank absent", description="Every Danske Bank mentor is away this cohort.",
                     absent_organisations=["Danske Bank"]),
        # The client's library-typed form: a label and `ScenarioChanges` in rules.toml keys.
        ("Business: short travel first, wider area",
         ScenarioChanges(rules={"eligible_municipalities": ["101", "147", "157", "185"]}, weights={"travel": 6})),
    ]
    response = client.compare_scenarios(business, scenarios, SolveOptions(seed=4), base_label="as planned",
                                        label="cmp-1")
    files = ["copenhagen_business_distance_25km", "copenhagen_business_language_b1",
             "copenhagen_business_danske_bank_absent", "copenhagen_business_travel_heavy"]
    local = compare_scenarios([Scenario("as planned", business), *(load_scenario(WHATIF / f"{f}.toml") for f in files)],
                              SolveOptions(seed=4))
    assert response.label == "cmp-1"
    assert len(response.scenarios) == len(files)
    for got, want in zip([response.base, *response.scenarios], local.scenarios, strict=True):
        assert_same(want, got, want.label)
        assert got.HasField("solve_time")
    wider = response.scenarios[0]
    assert list(wider.changes) == ["max_distance_km: 15 -> 25"]
    assert wider.pairs_kept + wider.pairs_removed == response.base.matched
    assert response.scenarios[2].mentor_count < response.base.mentor_count


def test_compare_lyngby_with_counterfactuals_equals_the_library(client: MentormatchClient, lyngby: Cohort) -> None:
    request = mpb.CompareScenariosRequest(
        cohort=cohort_to_proto(lyngby), counterfactuals=True, base_label="Lyngby: as planned",
        scenarios=[mpb.Scenario(label="Lyngby: no distance limit", rules=mpb.RuleChanges(no_distance_limit=True)),
                   mpb.Scenario(label="Lyngby: rankings first",
                                weights=pb.Weights(mutual_rank=10, mentee_rank=8, mentor_rank=6, interests=0,
                                                   seniority=0))])
    response = client.compare_scenarios(request)
    local = compare_scenarios([WHATIF / "lyngby_base.toml", WHATIF / "lyngby_no_distance_limit.toml",
                               WHATIF / "lyngby_weights_rankings_heavy.toml"], counterfactuals=True)
    for got, want in zip([response.base, *response.scenarios], local.scenarios, strict=True):
        assert_same(want, got, want.label)
    assert response.base.ranking_mentees > 0 and response.base.HasField("top_choice_share")
    assert any(u.would_help for u in response.base.unmatched)


def test_library_scenarios_survive_the_contract(lyngby: Cohort) -> None:
    """`ScenarioChanges` (rules.toml keys) -> `Scenario` message -> `ScenarioChanges`: the same scenario cohort."""
    newcomer = dataclasses.replace(lyngby.mentors[0], id="M9001", organisation="New Org", capacity=2)
    changes = ScenarioChanges(
        rules={"max_distance_km": 20, "field_depth": 0, "min_language_level": "B1", "eligible_municipalities": [],
               "eligible_tracks": ["spouse", "student"], "organisation_caps": {"Microsoft Danmark": 1},
               "gender_quotas": [{"gender": "f", "min_pairs": 1}], "pins": [], "bans": [],
               "gender_requests_hard": False, "max_travel_minutes": 60, "weights": {"travel": 4}},
        weights={"interests": 3}, add_mentors=(newcomer,), remove=("M0003", "E0004"),
        absent_organisations=(lyngby.mentors[5].organisation,), add_pins=(("E0012", "M0013"),),
        add_bans=(("E0002", "M9001"),))
    message = scenario_to_proto("everything", changes)
    back, problems = scenario_changes_from_proto(mpb.Scenario.FromString(message.SerializeToString()), "s")
    assert not problems
    want = apply_changes(lyngby, changes, label="everything")
    got = apply_changes(lyngby, back, label="everything")
    assert got.cohort == want.cohort
    assert sorted(got.changes) == sorted(want.changes)  # the order of the rules mapping's keys


def _violations(error: RemoteError) -> dict[str, str]:
    return dict(error.violations)


def test_compare_bad_input_is_invalid_argument_with_paths(client: MentormatchClient, lyngby: Cohort) -> None:
    joiner = pb.Mentee(id="E9001", location=pb.Location(lat=55.78, lon=12.5), occupations=["2512"],
                       languages=[pb.LanguageSkill(code="en", level=pb.CEFR_LEVEL_C1),
                                  pb.LanguageSkill(code="english", level=pb.CEFR_LEVEL_B2)])
    no_location = pb.Mentee(id="E9002", occupations=["2512"])
    clash = pb.Mentor(id="E0001", location=pb.Location(lat=55.77, lon=12.5))  # a mentee's id
    scenarios = [
        mpb.Scenario(rules=mpb.RuleChanges(max_distance_km=0.5)),  # breaks the base's pin E0012-M0013
        mpb.Scenario(remove=["M0001", "nobody"], absent_organisations=["No Such Org"]),
        mpb.Scenario(add_mentees=[joiner, no_location], add_mentors=[clash], weights=pb.Weights(travel=-1),
                     rules=mpb.RuleChanges(field_depth=9, no_gender_quotas=True,
                                           gender_quotas=[pb.GenderQuota(gender=pb.GENDER_FEMALE)])),
        mpb.Scenario(add_pins=[pb.PairRef(mentee_id="E0001", mentor_id="M9999")]),
    ]
    with pytest.raises(RemoteError) as caught:
        client.compare_scenarios(lyngby, scenarios)
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "SCENARIO_INVALID"
    found = _violations(error)
    assert found["scenarios[0]"].startswith("PIN_BREAKS_RULE: cohort.rules.pins[0]: ")
    assert found["scenarios[1].remove[1]"].startswith("UNKNOWN_ID:")
    assert found["scenarios[1].absent_organisations[0]"].startswith("UNKNOWN_ID:")
    assert "scenarios[1].remove[0]" not in found
    assert found["scenarios[2].add_mentees[0].languages[1]"].startswith("MALFORMED_LANGUAGE:")
    assert found["scenarios[2].add_mentees[1].location"].startswith("BAD_VALUE:")
    assert not any(p.startswith("scenarios[2].add_mentees[1].location.") for p in found)  # reported once
    assert found["scenarios[2].add_mentors[0].id"].startswith("DUPLICATE_ID:")
    assert found["scenarios[2].rules.field_depth"].startswith("INVALID_RULE:")
    assert found["scenarios[2].rules.no_gender_quotas"].startswith("BAD_VALUE:")
    assert found["scenarios[2].weights.travel"].startswith("NEGATIVE_VALUE:")
    assert found["scenarios[3].add_pins[0].mentor_id"].startswith("UNKNOWN_ID:")
    assert error.metadata["problems"] == str(len(found))

    # A broken base: its problems at `cohort.` paths, together with the options' and the scenarios' own.
    broken = cohort_to_proto(lyngby)
    broken.mentees[1].location.lat = 123.0
    with pytest.raises(RemoteError) as caught:
        client.compare_scenarios(mpb.CompareScenariosRequest(
            cohort=broken, options=mpb.MatchOptions(alternatives=0),
            scenarios=[mpb.Scenario(add_mentees=[no_location])]))
    assert caught.value.reason == "COHORT_INVALID"
    assert set(_violations(caught.value)) == {"cohort.mentees[1].location.lat", "options.alternatives",
                                              "scenarios[0].add_mentees[0].location"}

    with pytest.raises(RemoteError) as caught:
        client.compare_scenarios(lyngby, [mpb.Scenario()] * 21)
    assert set(_violations(caught.value)) == {"scenarios"}


def test_compare_answers_within_the_deadline(client: MentormatchClient) -> None:
    """The deadline is shared among the scenarios: each answers within it, with its best so far or proven best (the
    slow cohort's best is proven at once since its gender quota is a layer of the flow; it took ~3 s before)."""
    cohort = slow_cohort()
    started = time.monotonic()
    response = client.compare_scenarios(cohort, [mpb.Scenario(label="wider", rules=mpb.RuleChanges(max_distance_km=9))],
                                        slow_options(), timeout=4.0)
    assert time.monotonic() - started < 4.0  # an answer, not DEADLINE_EXCEEDED
    for outcome in (response.base, *response.scenarios):
        assert outcome.status in (mpb.SOLVE_STATUS_FEASIBLE, mpb.SOLVE_STATUS_OPTIMAL) and outcome.matched > 0


# --- Rematch ---------------------------------------------------------------------------------------------------


def _current_pairs(cohort: Cohort) -> list[tuple[str, str]]:
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    return list(result.best.pairs(result.candidates))


@pytest.mark.parametrize(("penalty", "max_changes"), [(None, None), (0, 1)])
def test_rematch_after_a_drop_out_equals_the_library(client: MentormatchClient, lyngby: Cohort, penalty: int | None,
                                                     max_changes: int | None) -> None:
    current = _current_pairs(lyngby)
    gone = current[2][1]  # one mentor leaves mid-programme
    response = client.rematch(lyngby, current, left=[gone], penalty=penalty, max_changes=max_changes, label="rm-1")
    local = rematch(lyngby, current, left=[gone], max_changes=max_changes,
                    penalty=DEFAULT_PENALTY if penalty is None else penalty)
    assert response.label == "rm-1"
    assert_same(local, response)
    ended = [c for c in response.changes if c.kind == mpb.PAIR_CHANGE_KIND_ENDED]
    assert [(c.mentor_id, c.reason, c.HasField("score")) for c in ended if c.mentor_id == gone] == [
        (gone, mpb.PAIR_CHANGE_REASON_LEFT, False)]
    assert response.penalty == (DEFAULT_PENALTY if penalty is None else penalty)
    assert response.HasField("max_changes") == (max_changes is not None)


def test_rematch_bad_input_is_invalid_argument_with_paths(client: MentormatchClient, lyngby: Cohort) -> None:
    current = _current_pairs(lyngby)
    bad_current = [current[0], ("nobody", current[1][1]), (current[2][0], "E0001"), current[0]]
    with pytest.raises(RemoteError) as caught:
        client.rematch(lyngby, bad_current, left=["ghost"], joined=[current[0][0]], penalty=-1)
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and error.reason == "REMATCH_INVALID"
    found = _violations(error)
    assert found["current_pairs[1].mentee_id"].startswith("UNKNOWN_ID:")
    assert found["current_pairs[2].mentor_id"].startswith("UNKNOWN_ID:")
    assert found["current_pairs[3].mentee_id"].startswith("DUPLICATE_ID:")
    assert found["left_ids[0]"].startswith("UNKNOWN_ID:")
    assert found["joined_ids[0]"].startswith("BAD_VALUE:")
    assert found["penalty"].startswith("NEGATIVE_VALUE:")

    with pytest.raises(RemoteError) as caught:  # more than the answer's int64 can carry
        client.rematch(lyngby, current, penalty=2**62)
    assert caught.value.reason == "REMATCH_INVALID" and set(_violations(caught.value)) == {"penalty"}

    # A kept pair the rules forbid: a problem of the cohort solved, at the kept pair.
    banned = lyngby.rules.bans[0]
    with pytest.raises(RemoteError) as caught:
        client.rematch(lyngby, current, keep=[current[0], banned])
    assert "keep_pairs[1]" in _violations(caught.value)
    assert _violations(caught.value)["keep_pairs[1]"].startswith("PIN_BANNED:")

    with pytest.raises(RemoteError) as caught:  # the cohort itself, as Match checks it
        client.rematch(mpb.RematchRequest(current_pairs=[pb.PairRef(mentee_id="E0001", mentor_id="M0001")]))
    assert caught.value.reason == "COHORT_INVALID"


# --- security and metrics ----------------------------------------------------------------------------------


def test_workflows_need_the_token_and_are_counted(server_factory: ServerFactory, tmp_path: Path,
                                                  lyngby: Cohort) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    running: RunningServer = server_factory(token_file=token_file)
    current = _current_pairs(lyngby)
    with MentormatchClient(running.address) as anonymous:
        for call in (lambda: anonymous.compare_scenarios(lyngby), lambda: anonymous.rematch(lyngby, current)):
            with pytest.raises(RemoteError) as caught:
                call()
            assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED
    with MentormatchClient(running.address, token=TOKEN) as client:
        compared = client.compare_scenarios(lyngby, [mpb.Scenario(label="wider",
                                                                  rules=mpb.RuleChanges(max_distance_km=40))])
        rematched = client.rematch(lyngby, current, left=[current[0][0]])
        with pytest.raises(RemoteError):
            client.rematch(lyngby, current, left=["ghost"])
    assert compared.scenarios[0].label == "wider" and rematched.status == mpb.SOLVE_STATUS_OPTIMAL
    found = samples(scrape(running))

    def handled(method: str, code: str) -> float:
        labels = {"grpc_type": "unary", "grpc_service": "mentormatch.v1.MatchingService", "grpc_method": method,
                  "grpc_code": code}
        return found.get(("grpc_server_handled_total", tuple(sorted(labels.items()))), 0.0)

    assert handled("CompareScenarios", "OK") == 1 and handled("CompareScenarios", "UNAUTHENTICATED") == 1
    assert handled("Rematch", "OK") == 1 and handled("Rematch", "UNAUTHENTICATED") == 1
    assert handled("Rematch", "INVALID_ARGUMENT") == 1
    assert found[("mentormatch_solve_seconds_count", (("status", "OPTIMAL"),))] == 3  # base, wider, re-match
    assert found[("mentormatch_requests_rejected_total", (("reason", "unauthenticated"),))] == 2
    assert found[("mentormatch_requests_rejected_total", (("reason", "invalid"),))] == 1
    assert found[("mentormatch_solves_in_flight", ())] == 0

"""The gRPC service end to end: a real server on a free loopback port, called over the wire, every RPC."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server.app import RunningServer
from server.cli_explain import explain_result
from server.client import MentormatchClient, RemoteError, RetryPolicy, solve_remote
from server.convert import cohort_to_proto, match_response_from_result, plain, response_dict
from solver.domain import Language, Mentee, ObjectiveMode
from solver.explain import why_not
from solver.solve import SolveOptions, solve
from tests.conftest import ServerFactory, slow_cohort, slow_options, small_cohort, wait_until

ROOT = Path(__file__).resolve().parent.parent


def _without_times(response: mpb.MatchResponse) -> dict:
    """The answer as `solve --json` prints it, without how long this run took and the time limit it ran with (a
    server keeps part of the call's time for explanations)."""
    data = response_dict(response)
    for key in ("wall_time", "solve_time", "time_limit"):
        data["statistics"].pop(key)
    return data


# --- the answer is the library's ---------------------------------------------------------------------------


@pytest.mark.parametrize(("seed", "mode", "stable", "size"), [
    (3, ObjectiveMode.SCORE, False, 12), (1, ObjectiveMode.FAIRNESS, False, 12),
    (8, ObjectiveMode.RANK_MAXIMAL, False, 12), (9, ObjectiveMode.SCORE, True, 12),
    (2, ObjectiveMode.SCORE, False, 40), (5, ObjectiveMode.SCORE, False, 12),  # 5: quotas cannot hold
])
def test_match_over_grpc_equals_the_library(shared_server: RunningServer, seed: int, mode: ObjectiveMode,
                                            stable: bool, size: int) -> None:
    cohort = small_cohort(seed, size, size - 2, side_constraints=size < 40)
    options = SolveOptions(mode=mode, alternatives=3, seed=seed, stable=stable)
    remote = solve_remote(shared_server.address, cohort, options)
    local = match_response_from_result(solve(cohort, options))
    assert remote.status == local.status and remote.status in (mpb.SOLVE_STATUS_OPTIMAL, mpb.SOLVE_STATUS_INFEASIBLE)
    for got, want in zip(remote.matchings, local.matchings, strict=True):
        assert [(p.mentee_id, p.mentor_id) for p in got.pairs] == [(p.mentee_id, p.mentor_id) for p in want.pairs]
        assert got.objective == want.objective
    assert _without_times(remote) == _without_times(local)


def test_explanations_over_grpc_equal_the_library(shared_server: RunningServer) -> None:
    """`solve --server ... --explain` carries what the local `solve --explain --json` prints."""
    cohort = small_cohort(3)
    options = SolveOptions(alternatives=2)
    remote = solve_remote(shared_server.address, cohort, options, explain=True)
    result = solve(cohort, options)
    local = match_response_from_result(result)
    local.explanation.CopyFrom(explain_result(result))
    assert local.explanation.matchings[0].unmatched_mentees, "the cohort should have unmatched people"
    assert _without_times(remote) == _without_times(local)


def test_explain_levels(client: MentormatchClient) -> None:
    cohort = small_cohort(3)
    none = client.match(cohort, SolveOptions(alternatives=2), explain="NONE")
    assert not none.HasField("explanation")
    pairs = client.match(cohort, SolveOptions(alternatives=2), explain="PAIRS")
    assert [len(m.pairs) for m in pairs.explanation.matchings] == [len(m.pairs) for m in pairs.matchings]
    assert not any(m.unmatched_mentees for m in pairs.explanation.matchings)
    full = client.match(cohort, SolveOptions(alternatives=2), explain="FULL")
    best = full.explanation.matchings[0]
    assert {u.person_id for u in best.unmatched_mentees} == set(full.matchings[0].unmatched_mentee_ids)
    assert all(u.reasons and u.reasons[0].code != mpb.UNMATCHED_REASON_UNSPECIFIED for u in best.unmatched_mentees)


def test_explain_pair_equals_why_not(client: MentormatchClient) -> None:
    cohort = small_cohort(2, 40, 38, side_constraints=False)
    best = solve(cohort, SolveOptions(alternatives=1)).best
    assert best is not None
    forbidden = (cohort.mentees[0].id, cohort.mentors[0].id)
    # An allowed pair that the best matching does not choose: forcing it has a cost.
    result = solve(cohort, SolveOptions(alternatives=1))
    chosen = set(best.pairs(result.candidates))
    table = result.candidates.table
    solved = result.candidates.cohort  # the table's indices refer to the solved cohort (people in id order)
    allowed = [(solved.mentees[int(a)].id, solved.mentors[int(b)].id)
               for a, b in zip(table["mentee"].to_list(), table["mentor"].to_list(), strict=True)]
    unchosen = next(p for p in allowed if p not in chosen)
    for mentee_id, mentor_id in (forbidden, unchosen):
        answer = client.explain_pair(cohort, mentee_id, mentor_id, SolveOptions(alternatives=1))
        verdict = why_not(cohort, mentee_id, mentor_id, SolveOptions(alternatives=1))
        got = plain(answer)
        got.pop("label")
        assert got.pop("warnings") == []  # the request's, beside the verdict: none in this cohort
        assert got == verdict.to_dict()
    assert answer.allowed and answer.HasField("forcing_cost") and answer.HasField("forced")


def test_explain_pair_unknown_ids_are_invalid_argument(client: MentormatchClient) -> None:
    with pytest.raises(RemoteError) as caught:
        client.explain_pair(small_cohort(3), "nobody", "no-mentor")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [path for path, _ in caught.value.violations] == ["mentee_id", "mentor_id"]


def test_stream_match_sends_progress_then_the_result(client: MentormatchClient) -> None:
    cohort = small_cohort(1)  # gender quotas: CP-SAT runs and reports improving solutions
    options = SolveOptions(alternatives=2)
    messages = list(client.stream_match(cohort, options, label="stream-1"))
    kinds = [m.WhichOneof("event") for m in messages]
    assert kinds[-1] == "result" and kinds.count("result") == 1
    assert kinds[:-1] and set(kinds[:-1]) == {"progress"}
    progress = [m.progress for m in messages[:-1]]
    assert all(p.objective_value <= p.objective_bound for p in progress)
    result = messages[-1].result
    assert result.label == "stream-1"
    assert [list(m.pairs) for m in result.matchings] == [list(m.pairs) for m in client.match(cohort, options).matchings]


# --- bad input -----------------------------------------------------------------------------------------------


def _broken_cohort() -> pb.Cohort:
    cohort = small_cohort(3)
    mentees = list(cohort.mentees)
    mentees[1] = replace(mentees[1], lat=123.0, occupations=("25x1",))
    # A late joiner with an id a mentor has (ids are unique across sides) and a malformed language code.
    mentees.append(Mentee(cohort.mentors[0].id, 55.7, 12.5, ("2512",), (Language("english", 4),)))
    msg = cohort_to_proto(replace(cohort, mentees=tuple(mentees)))
    msg.mentors[3].ClearField("location")
    msg.mentors[4].capacity = -2
    msg.rankings.add(from_id="ghost", to_id=cohort.mentors[0].id, rank=1)
    msg.rules.field_depth = 9
    return msg


BROKEN_PATHS = {
    ("cohort.mentees[1].location.lat", "COORDINATE_OUT_OF_RANGE"),
    ("cohort.mentees[1].occupations[0]", "MALFORMED_ISCO"),
    (f"cohort.mentees[{len(small_cohort(3).mentees)}].id", "DUPLICATE_ID"),
    (f"cohort.mentees[{len(small_cohort(3).mentees)}].languages[0]", "MALFORMED_LANGUAGE"),
    ("cohort.mentors[3].location", "BAD_VALUE"),
    ("cohort.mentors[4].capacity", "NEGATIVE_CAPACITY"),
    (f"cohort.rankings[{len(small_cohort(3).rankings)}].from_id", "UNKNOWN_ID"),
    ("cohort.rules.field_depth", "INVALID_RULE"),
    ("options.alternatives", "BAD_VALUE"),
}


def test_a_broken_cohort_returns_every_violation_as_bad_request(shared_server: RunningServer) -> None:
    request = mpb.MatchRequest(cohort=_broken_cohort(), options=mpb.MatchOptions(alternatives=0))
    with grpc.insecure_channel(shared_server.address) as channel:
        stub = channel.unary_unary("/mentormatch.v1.MatchingService/Match",
                                   request_serializer=mpb.MatchRequest.SerializeToString,
                                   response_deserializer=mpb.MatchResponse.FromString)
        with pytest.raises(grpc.RpcError) as caught:
            stub(request, timeout=10)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    bad, info = error_details_pb2.BadRequest(), error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(bad) and status.details[1].Unpack(info)
    found = {(v.field, v.description.split(":")[0]) for v in bad.field_violations}
    assert found == BROKEN_PATHS
    assert all(v.reason == v.description.split(":")[0] for v in bad.field_violations)
    assert (info.reason, info.domain, info.metadata["problems"]) == ("COHORT_INVALID", "mentormatch.v1",
                                                                     str(len(BROKEN_PATHS)))
    assert "Traceback" not in (error.details() or "")


def test_validate_only_returns_the_problems_as_data(client: MentormatchClient) -> None:
    valid = client.match(small_cohort(3), validate_only=True, label="check")
    assert (list(valid.problems), valid.status, list(valid.matchings), valid.label) == (
        [], mpb.SOLVE_STATUS_UNSPECIFIED, [], "check")
    request = mpb.MatchRequest(cohort=_broken_cohort(), options=mpb.MatchOptions(alternatives=0), validate_only=True)
    response = client._call(client._match, request, 10)
    found = {(p.field_path, mpb.ProblemCode.Name(p.code).removeprefix("PROBLEM_CODE_")) for p in response.problems}
    assert found == BROKEN_PATHS
    assert not response.matchings


def test_many_violations_are_capped_and_still_reach_the_client(client: MentormatchClient) -> None:
    """Status details travel in trailers, which clients cap at ~8 KiB: the list is cut, the count is kept."""
    cohort = small_cohort(3)
    # 100 malformed occupations each: as many as a person may list (solver.validate's cap), each a problem.
    mentors = tuple(replace(m, occupations=tuple(f"x{k}" for k in range(100))) for m in cohort.mentors)
    broken = replace(cohort, mentors=mentors)
    with pytest.raises(RemoteError) as caught:
        client.match(broken)
    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    total = 100 * len(mentors)
    assert error.metadata["problems"] == str(total)
    assert 0 < len(error.violations) < total and error.metadata["listed"] == str(len(error.violations))
    assert "validate_only" in error.message
    every = client.match(broken, validate_only=True)
    assert len(every.problems) == total


def test_a_cohort_above_the_size_cap_is_refused_before_solving(server_factory: ServerFactory) -> None:
    running = server_factory(max_participants=10)
    with MentormatchClient(running.address) as client, pytest.raises(RemoteError) as caught:
        client.match(small_cohort(3))
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "COHORT_TOO_LARGE")
    assert caught.value.violations[0][0] == "cohort"
    assert running.metrics.registry.get_sample_value("mentormatch_solve_seconds_count", {"status": "OPTIMAL"}) is None


def test_a_message_above_the_size_cap_is_refused(server_factory: ServerFactory) -> None:
    running = server_factory(max_message_bytes=4096)
    with MentormatchClient(running.address) as client, pytest.raises(RemoteError) as caught:
        client.match(small_cohort(3, 40, 40))
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED


# --- deadlines, cancellation, overload -------------------------------------------------------------------------


def test_a_deadline_shorter_than_the_solve_returns_the_best_so_far(client: MentormatchClient) -> None:
    started = time.monotonic()
    response = client.match(slow_cohort(), slow_options(), timeout=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert response.statistics.time_limit.ToNanoseconds() < 1.5e9
    # Three matchings take the slow cohort far longer than 1.5 s: the answer holds what was found by then. Its best
    # is proven at once since gender quotas that nest are a layer of the flow; the alternatives' search is what the
    # deadline cuts, and the last matching found is then not proven and a note says so.
    statuses = [m.status for m in response.matchings]
    assert statuses and response.matchings[0].pairs
    proven = statuses.count(mpb.SOLVE_STATUS_OPTIMAL)
    assert statuses[:proven] == [mpb.SOLVE_STATUS_OPTIMAL] * proven  # the proven ones come first
    assert len(statuses) < 3 or statuses[-1] == mpb.SOLVE_STATUS_FEASIBLE
    assert any("not proven optimal" in note for note in response.notes)
    assert response.status == statuses[0] and response.objective_value <= response.objective_bound


def _slow_call(client: MentormatchClient) -> grpc.Future:
    return client.match_future(slow_cohort(), slow_options(), timeout=60)


def test_a_cancelled_call_frees_its_slot(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    with MentormatchClient(running.address) as client:
        slow = _slow_call(client)
        assert wait_until(lambda: running.service.slots.active() == 1)
        started = time.monotonic()
        slow.cancel()
        # The slot comes back once the cancelled work has stopped (not before: it bounds the work running).
        assert wait_until(lambda: running.service.slots.active() == 0, timeout=1.0)
        response = client.match(small_cohort(3), SolveOptions(alternatives=1))
        assert response.status == mpb.SOLVE_STATUS_OPTIMAL
        assert time.monotonic() - started < 1.0
    assert wait_until(lambda: running.metrics.registry.get_sample_value("mentormatch_solves_in_flight") == 0)


def test_beyond_the_concurrency_cap_calls_are_refused_fast(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    with MentormatchClient(running.address, retry=RetryPolicy(max_attempts=1)) as client:  # the refusals as such
        slow = _slow_call(client)
        assert wait_until(lambda: running.service.slots.active() == 1)
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            client.match(small_cohort(3))
        assert time.monotonic() - started < 0.5
        assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SOLVER_BUSY")
        assert client.match(small_cohort(3), validate_only=True).problems == []  # checking needs no slot
        # The slot comes before the full checks, so overload is refused in milliseconds whatever the cohort: a
        # broken cohort gets SOLVER_BUSY while the slots are full, and every problem once one is free.
        broken = cohort_to_proto(small_cohort(3))
        broken.mentors[0].location.lat = 123.0
        with pytest.raises(RemoteError) as caught:
            client.match(broken)
        assert caught.value.reason == "SOLVER_BUSY"
        slow.cancel()
        assert wait_until(lambda: running.service.slots.active() == 0)
        with pytest.raises(RemoteError) as caught:
            client.match(broken)
        assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT and caught.value.violations


# --- health, reflection, draining ----------------------------------------------------------------------------


def test_health_and_reflection(shared_server: RunningServer) -> None:
    with MentormatchClient(shared_server.address) as client:
        assert client.health() == "SERVING"
        assert client.health("mentormatch.v1.MatchingService") == "SERVING"
    with grpc.insecure_channel(shared_server.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = database.get_services()
        assert "mentormatch.v1.MatchingService" in services and "grpc.health.v1.Health" in services
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName("mentormatch.v1.MatchingService")
        assert {m.name for m in service.methods} == {"Match", "StreamMatch", "ExplainPair", "CompareScenarios",
                                                     "Rematch"}
        match = service.methods_by_name["Match"]
        assert (match.input_type.full_name, match.output_type.full_name) == ("mentormatch.v1.MatchRequest",
                                                                             "mentormatch.v1.MatchResponse")
        assert "cohort" in match.input_type.fields_by_name


def test_stopping_drains_health_goes_not_serving_and_calls_in_flight_answer(server_factory: ServerFactory) -> None:
    running = server_factory()
    with MentormatchClient(running.address) as client, grpc.insecure_channel(running.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=20)
        assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
        slow = _slow_call(client)
        assert wait_until(lambda: running.service.slots.active() == 1)
        began = time.monotonic()
        stopped = running.stop(grace=5.0)
        assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
        # Answered within the grace period: proven if the solve got there, else the best so far.
        response = slow.result(timeout=10)
        assert time.monotonic() - began < 5.5
        assert response.status in (mpb.SOLVE_STATUS_FEASIBLE, mpb.SOLVE_STATUS_OPTIMAL) and response.matchings
        assert stopped.wait(5)
        with pytest.raises(RemoteError) as caught:
            client.health(timeout=1)
        assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_serve_command_drains_on_sigterm(tmp_path: Path) -> None:
    """`mentormatch serve` as a process: JSON logs, serving, and a clean exit on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import main; main()", "serve", "--port", "0", "--metrics-port", "-1",
         "--grace", "1"], cwd=ROOT, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        serving = json.loads(line)
        assert serving["event"] == "serving"
        with MentormatchClient(f"127.0.0.1:{serving['port']}") as client:
            assert client.health() == "SERVING"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        events = [json.loads(text)["event"] for text in process.stderr.read().splitlines() if text.startswith("{")]
        assert events[-2:] == ["draining", "stopped"] or events[-3:-1] == ["draining", "stopped"]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_label_is_echoed_and_independent_calls_run_side_by_side(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=2)
    answers: dict[str, mpb.MatchResponse] = {}

    def call(label: str) -> None:
        with MentormatchClient(running.address) as client:
            answers[label] = client.match(small_cohort(3), SolveOptions(alternatives=2), label=label)

    threads = [threading.Thread(target=call, args=(f"call-{k}",)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert {label: a.label for label, a in answers.items()} == {"call-0": "call-0", "call-1": "call-1"}
    assert answers["call-0"].matchings == answers["call-1"].matchings

"""The service's promises an outside review of the gRPC service found broken, measured from outside on
`mentormatch serve` processes with real clients (what a platform sees: status codes, problem lists, /metrics, logs).

- validate_only calls stop at their deadline and are bounded: a request with 300,000 duplicate travel times
  and a 1 s deadline ends its work within a second of the deadline (the validation gauge back to 0, little CPU
  after), counted DEADLINE_EXCEEDED; while --max-concurrent validations run, another is refused at once with
  VALIDATION_BUSY and a RetryInfo, and a solve still answers.
- An answer lists at most 10,000 problems, and says how many there are.
- An answer larger than the server's --max-message-mb is RESOURCE_EXHAUSTED saying both sizes (not gRPC's bare
  refusal counted OK).
- CompareScenarios cut short by its deadline answers with what it has, never CANCELLED.
- A Match past its deadline is counted and logged DEADLINE_EXCEEDED, as its client saw it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc
import pytest

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import matching_pb2_grpc
from server.client import MentormatchClient, RemoteError, remote_error
from server.convert import cohort_to_proto
from solver.ingest import load_cohort
from solver.solve import SolveOptions
from tests.conftest import SCENARIOS, wait_until
from tests.hardening_support import (
    SUMMARY,
    ServeProcess,
    cpu_seconds,
    register_summary,
    scrape,
    serve_process,
)
from tests.test_service_promises import dense_cohort

MiB = 1024 * 1024
BIG = [("grpc.max_send_message_length", 64 * MiB), ("grpc.max_receive_message_length", 64 * MiB)]


@pytest.fixture(autouse=True, scope="module")
def _summary(pytestconfig: pytest.Config) -> Iterator[None]:
    register_summary(pytestconfig)
    yield


def duplicate_travel_times(n: int, label: str = "") -> mpb.MatchRequest:
    """validate_only for one mentor, one mentee and the same travel time `n` times: n - 1 duplicates (README: a pair
    has at most one travel time), each one problem."""
    mentor = pb.Mentor(id="m1", location=pb.Location(lat=55.68, lon=12.57), occupations=["2512"],
                       languages=[pb.LanguageSkill(code="en", level=pb.CEFR_LEVEL_C1)])
    mentee = pb.Mentee(id="e1", location=pb.Location(lat=55.69, lon=12.55), occupations=["2519"],
                       languages=[pb.LanguageSkill(code="en", level=pb.CEFR_LEVEL_B2)])
    cohort = pb.Cohort(mentors=[mentor], mentees=[mentee])
    cohort.rules.travel_times.extend([pb.TravelTime(mentee_id="e1", mentor_id="m1", minutes=5)] * n)
    return mpb.MatchRequest(cohort=cohort, validate_only=True, label=label)


def handled(server: ServeProcess, code: str, method: str = "Match") -> float:
    return scrape(server.metrics_port, "grpc_server_handled_total", grpc_method=method, grpc_code=code)


def outcomes(server: ServeProcess, method: str = "Match") -> list[str]:
    return [e["outcome"] for e in server.events() if e.get("event") == "call" and e.get("method") == method]


# --- validate_only: stopped at the deadline, bounded, listed in part ---------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_validation_past_its_deadline_stops_and_is_counted_deadline_exceeded() -> None:
    request = duplicate_travel_times(300_000)  # 5.7 MB: ~5 s of checks on this machine
    with serve_process("--max-concurrent", "2") as server, grpc.insecure_channel(server.address, BIG) as channel:
        stub = matching_pb2_grpc.MatchingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Match(request, timeout=1.0)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        ended = time.monotonic()
        # The work ends with the call (its slot back, its forked child killed), not seconds later.
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_validations_in_flight") == 0, timeout=1.0)
        freed = time.monotonic() - ended
        start = cpu_seconds(server.pid)
        time.sleep(1.0)
        after = cpu_seconds(server.pid) - start
        assert after < 0.3, f"{after:.2f} CPU seconds in the second after the validation's end"
        assert wait_until(lambda: handled(server, "DEADLINE_EXCEEDED") == 1, timeout=2)
        assert handled(server, "OK") == 0
        assert wait_until(lambda: outcomes(server) == ["DEADLINE_EXCEEDED"], timeout=2), outcomes(server)
    SUMMARY.figure("validate_only 300,000 duplicates, 1 s deadline",
                   f"slot free {1000 * freed:.0f} ms after the deadline, {1000 * after:.0f} ms CPU in the next second")


def test_validations_beyond_max_concurrent_are_refused_busy_while_solves_still_answer() -> None:
    with serve_process("--max-concurrent", "1") as server, grpc.insecure_channel(server.address, BIG) as channel, \
            MentormatchClient(server.address) as client:
        stub = matching_pb2_grpc.MatchingServiceStub(channel)
        running = stub.Match.future(duplicate_travel_times(300_000), timeout=30)
        try:
            assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_validations_in_flight") == 1,
                              timeout=10)
            assert scrape(server.metrics_port, "mentormatch_validation_slots") == 1
            with pytest.raises(grpc.RpcError) as caught:
                stub.Match(duplicate_travel_times(3), timeout=10)
            refusal = remote_error(caught.value)
            assert (refusal.code, refusal.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "VALIDATION_BUSY")
            assert refusal.retry_delay_s == pytest.approx(0.5)
            # A solve takes a solve slot, which the validation does not hold.
            solved = client.match(duplicate_travel_times(1).cohort, SolveOptions(alternatives=1), timeout=10)
            assert solved.status == mpb.SOLVE_STATUS_OPTIMAL and len(solved.matchings[0].pairs) == 1
        finally:
            running.cancel()
        # Cancelled: the validation's work ends at once and its slot is free for the next.
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_validations_in_flight") == 0, timeout=2)
        answer = stub.Match(duplicate_travel_times(3), timeout=10)
        assert [p.field_path for p in answer.problems] == ["cohort.rules.travel_times[1]", "cohort.rules.travel_times[2]"]
        assert scrape(server.metrics_port, "mentormatch_requests_rejected_total", reason="busy") == 1


def test_a_validation_with_30000_problems_lists_the_first_10000_and_says_how_many() -> None:
    with serve_process() as server, MentormatchClient(server.address) as client:
        request = duplicate_travel_times(30_000)
        answer = client.match(request.cohort, validate_only=True, timeout=30)
        assert [p.field_path for p in answer.problems] == [f"cohort.rules.travel_times[{i}]" for i in range(1, 10_001)]
        assert all("a second travel time" in p.message for p in answer.problems)
        assert any("29,999 problems; the first 10,000 are listed" in note for note in answer.notes), list(answer.notes)
        line = [e for e in server.events() if e.get("event") == "call"][-1]
        assert (line["outcome"], line["problems"], line["problems_listed"]) == ("OK", 29_999, 10_000)
        with grpc.insecure_channel(server.address, BIG) as channel:  # StreamMatch answers the same, in one message
            streamed = list(matching_pb2_grpc.MatchingServiceStub(channel).StreamMatch(
                mpb.StreamMatchRequest(cohort=request.cohort, validate_only=True), timeout=30))
        assert len(streamed) == 1 and list(streamed[0].result.problems) == list(answer.problems)
        assert list(streamed[0].result.notes) == list(answer.notes)


# --- answers too large to send ----------------------------------------------------------------------------------


def test_an_answer_above_the_message_cap_is_an_error_that_says_how_large_counted_as_sent() -> None:
    # The label is echoed and the problems listed take up to half the cap: together more than 1 MiB.
    request = duplicate_travel_times(10_000, label="x" * 700_000)
    assert request.ByteSize() < MiB
    with serve_process("--max-message-mb", "1") as server, grpc.insecure_channel(server.address, BIG) as channel:
        stub = matching_pb2_grpc.MatchingServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Match(request, timeout=30)
        error = remote_error(caught.value)
        assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "ANSWER_TOO_LARGE")
        size = int(error.metadata["answer_bytes"])
        assert size > MiB and error.metadata["max_message_bytes"] == str(MiB)
        assert f"{size:,} bytes" in error.message and f"{MiB:,} bytes" in error.message
        assert "ask for less" in error.message
        assert error.retry_delay_s is None  # the same request gets the same answer: no retry
        trailers = dict(caught.value.trailing_metadata() or ())
        assert trailers.get("grpc-retry-pushback-ms") == "-1"  # gRPC's own retries do not call again
        assert wait_until(lambda: handled(server, "RESOURCE_EXHAUSTED") == 1, timeout=2)
        assert handled(server, "OK") == 0
        assert scrape(server.metrics_port, "grpc_server_msg_sent_total", grpc_method="Match") == 0
        assert outcomes(server) == ["ANSWER_TOO_LARGE"]


# --- CompareScenarios and Match at their deadline --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_compare_scenarios_cut_short_by_its_deadline_answers_what_it_has_never_cancelled() -> None:
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "kvinfo_network"))
    scenarios = [mpb.Scenario(label=f"{k} km", rules=mpb.RuleChanges(max_distance_km=10 + k)) for k in range(20)]
    figures = []
    with serve_process("--max-concurrent", "2") as server, MentormatchClient(server.address) as client:
        for counterfactuals, deadline in ((True, 3.0), (False, 3.0), (True, 6.0)):
            started = time.monotonic()
            answer = client.compare_scenarios(cohort, scenarios, counterfactuals=counterfactuals, timeout=deadline)
            elapsed = time.monotonic() - started
            assert elapsed < deadline
            assert answer.base.status in (mpb.SOLVE_STATUS_OPTIMAL, mpb.SOLVE_STATUS_FEASIBLE)
            assert answer.base.matched > 0
            assert [s.label for s in answer.scenarios] == [s.label for s in scenarios]
            statuses = [s.status for s in answer.scenarios]
            unsolved = [s for s in answer.scenarios if s.status == mpb.SOLVE_STATUS_UNKNOWN]
            # Solved ones first (in order), then those the deadline left, each saying so.
            assert statuses[:len(statuses) - len(unsolved)] == [
                s for s in statuses if s in (mpb.SOLVE_STATUS_OPTIMAL, mpb.SOLVE_STATUS_FEASIBLE)]
            assert all(s.matched == 0 and any("deadline" in n for n in s.notes) for s in unsolved)
            figures.append(f"counterfactuals {counterfactuals}, {deadline:g} s: {elapsed:.2f} s, "
                           f"{20 - len(unsolved)}/20 what-ifs solved")
        # A deadline too short for even the base: DEADLINE_EXCEEDED or an answer, never CANCELLED.
        for deadline in (0.1, 0.2, 0.4):
            try:
                client.compare_scenarios(cohort, scenarios, timeout=deadline)
            except RemoteError as error:
                assert error.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_solves_in_flight") == 0, timeout=5)
        assert handled(server, "CANCELLED", "CompareScenarios") == 0
        assert "CANCELLED" not in outcomes(server, "CompareScenarios")
    SUMMARY.figure("CompareScenarios kvinfo_network x 20 what-ifs", "; ".join(figures))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_match_past_its_deadline_is_counted_and_logged_deadline_exceeded_and_a_cancel_cancelled() -> None:
    cohort = cohort_to_proto(dense_cohort(1200))  # 1.44 million pairs: candidates and first flow take seconds
    with serve_process("--max-concurrent", "2") as server, MentormatchClient(server.address) as client:
        for deadline in (0.5, 1.5):
            with pytest.raises(RemoteError) as caught:
                client.match(cohort, SolveOptions(alternatives=1), timeout=deadline)
            assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        cancelled = client.match_future(cohort, SolveOptions(alternatives=1), timeout=30)
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_solves_in_flight") == 1, timeout=5)
        threading.Event().wait(0.3)
        cancelled.cancel()
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_solves_in_flight") == 0, timeout=10)
        assert wait_until(lambda: handled(server, "CANCELLED") == 1, timeout=5)
        assert handled(server, "DEADLINE_EXCEEDED") == 2
        assert sorted(outcomes(server)) == ["CANCELLED", "DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED"]

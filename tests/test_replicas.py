"""Three `mentormatch serve` replicas behind gRPC's client-side round_robin: one is drained (SIGTERM) and another
killed (SIGKILL) in the middle of a load run, and no call is lost: the killed replica's calls in flight are
retried on another one, and the draining one is skipped once its health check says NOT_SERVING.

Real server processes on loopback, a real multi-address channel with the project's service config
(`server.replicas`); the load is bounded in calls and seconds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
from collections import Counter
from contextlib import ExitStack

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mentormatch.v1 import matching_pb2 as mpb
from server.client import SERVICE_PATH, MentormatchClient, RemoteError
from server.replicas import replica_channel, replicas_target
from solver.solve import SolveOptions
from tests.conftest import small_cohort, wait_until
from tests.hardening_support import ServeProcess, exit_code, register_summary, serve_process

CLIENTS = 6
MAX_CALLS = 240  # the run stops at this many calls or MAX_SECONDS, whichever comes first
MAX_SECONDS = 40.0
CALL_TIMEOUT_S = 20.0


def _in_flight(replica: ServeProcess) -> int:
    text = urllib.request.urlopen(f"http://127.0.0.1:{replica.metrics_port}/metrics", timeout=5).read().decode()
    return int(sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "mentormatch_solves_in_flight"))


def _calls(replica: ServeProcess) -> Counter[str]:
    """Calls by outcome, from the replica's log (a busy refusal's line also counts those logged with it)."""
    calls: Counter[str] = Counter()
    for e in replica.events():
        if e.get("event") == "call":
            calls[e.get("outcome", "?")] += 1 + int(e.get("refusals_not_logged", 0))
    return calls


@pytest.mark.slow
def test_three_replicas_lose_no_call_when_one_drains_and_one_is_killed(request: pytest.FixtureRequest) -> None:
    summary = register_summary(request.config)
    with ExitStack() as stack:
        # Each replica has a slot per client: one survivor alone can carry the whole load (sized for N - 1).
        replicas = [stack.enter_context(serve_process("--max-concurrent", str(CLIENTS), "--grace", "5")) for _ in range(3)]
        drained, killed, survivor = replicas
        message = MentormatchClient.request_fields(small_cohort(3, 80, 78), SolveOptions(alternatives=3), False)
        request_message = mpb.MatchRequest(cohort=message[0], options=message[1])
        expected: set[int] = set()
        outcomes: Counter[str] = Counter()
        lock = threading.Lock()
        stop = threading.Event()
        phase = {"calls": 0}
        with replica_channel(replicas_target([r.address for r in replicas])) as channel:
            match = channel.unary_unary(SERVICE_PATH + "Match", request_serializer=mpb.MatchRequest.SerializeToString,
                                        response_deserializer=mpb.MatchResponse.FromString)
            grpc.channel_ready_future(channel).result(timeout=30)

            started = time.monotonic()

            def client() -> None:
                while not stop.is_set():
                    with lock:
                        if phase["calls"] >= MAX_CALLS or time.monotonic() - started > MAX_SECONDS:
                            return
                        phase["calls"] += 1
                    try:
                        response = match(request_message, timeout=CALL_TIMEOUT_S)
                        outcome = "OK"
                    except grpc.RpcError as error:
                        outcome = error.code().name
                    with lock:
                        outcomes[outcome] += 1
                        if outcome == "OK":
                            expected.add(response.objective_value)

            threads = [threading.Thread(target=client, name=f"load-{k}") for k in range(CLIENTS)]
            for thread in threads:
                thread.start()

            def wait_for(calls: int) -> None:
                while phase["calls"] < calls and time.monotonic() - started < MAX_SECONDS:
                    time.sleep(0.01)

            wait_for(MAX_CALLS // 3)
            before_stops = {r.pid: sum(_calls(r).values()) for r in replicas}
            drained.terminate()  # SIGTERM: drains (NOT_SERVING, new calls refused, calls in flight finish)
            wait_for(2 * MAX_CALLS // 3)
            # Killed while it holds calls (each takes tens of ms of solving, so this is a few polls at most).
            in_flight_killed = _in_flight(killed)
            while in_flight_killed == 0 and time.monotonic() - started < MAX_SECONDS:
                in_flight_killed = _in_flight(killed)
            os.kill(killed.pid, signal.SIGKILL)  # calls in flight on it fail UNAVAILABLE: retried elsewhere
            killed.process.wait(10)
            calls_on_survivor_at_kill = sum(_calls(survivor).values())
            for thread in threads:
                thread.join(MAX_SECONDS + CALL_TIMEOUT_S)
            stop.set()
            seconds = time.monotonic() - started
        assert exit_code(drained, 20) == 0, "\n".join(drained.lines[-60:])  # the drained replica ended cleanly
        logged = {name: _calls(r) for name, r in (("drained", drained), ("killed", killed), ("survivor", survivor))}
        calls = sum(outcomes.values())
        lost = calls - outcomes["OK"]
        attempts = sum(sum(c.values()) for c in logged.values()) + in_flight_killed
        retried = max(0, attempts - outcomes["OK"])
        refused = sum(n for c in logged.values() for outcome, n in c.items() if outcome != "OK")
        figure = (f"{calls} calls in {seconds:.1f} s over 3 replicas ({CLIENTS} clients): {outcomes['OK']} OK, "
                  f"lost {lost}; refused by replicas {refused}; retried >= {retried} (in flight on the killed one: "
                  f"{in_flight_killed}); OK per replica {[c['OK'] for c in logged.values()]}")
        summary.figure("replica failover", figure)
        print(figure)
        assert calls >= MAX_CALLS // 2 and in_flight_killed > 0, figure  # past both stops; calls died with one
        assert lost == 0, f"calls lost: {outcomes}; {figure}"
        assert len(expected) == 1  # every replica gives the same answer
        assert all(n > 0 for n in before_stops.values()), before_stops  # round_robin used all three
        assert sum(_calls(survivor).values()) > calls_on_survivor_at_kill  # the rest went to the survivor


@pytest.mark.slow
def test_two_of_three_replicas_stopped_every_call_goes_to_the_third(request: pytest.FixtureRequest) -> None:
    """Issue 13, F10: one replica drained and one killed, the third carries every call, even with more calls at
    once than it has slots. The typed client given the three addresses balances over the healthy ones, tries a
    refused call at once on another replica (gRPC's retryPolicy), and when the survivor alone is left and busy,
    waits the delay its RetryInfo asks for and calls again, within the call's deadline."""
    summary = register_summary(request.config)
    clients, calls_each = 6, 8  # six callers on a survivor with two slots
    with ExitStack() as stack:
        replicas = [stack.enter_context(serve_process("--max-concurrent", "2", "--grace", "5")) for _ in range(3)]
        drained, killed, survivor = replicas
        cohort = small_cohort(3, 40, 40)
        options = SolveOptions(alternatives=2, time_limit_s=10)
        with MentormatchClient(replicas_target([r.address for r in replicas])) as client:
            expected = client.match(cohort, options).objective_value
            drained.terminate()
            os.kill(killed.pid, signal.SIGKILL)
            assert drained.process.wait(20) == 0 and killed.process.wait(10) == -signal.SIGKILL
            outcomes: Counter[str] = Counter()
            answers: set[float] = set()
            lock = threading.Lock()

            def caller() -> None:
                for _ in range(calls_each):
                    try:
                        answer = client.match(cohort, options, timeout=CALL_TIMEOUT_S)
                        outcome = "OK"
                    except RemoteError as error:
                        outcome = f"{error.code.name} {error.reason}"
                    with lock:
                        outcomes[outcome] += 1
                        if outcome == "OK":
                            answers.add(answer.objective_value)

            started = time.monotonic()
            threads = [threading.Thread(target=caller, name=f"caller-{k}") for k in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(clients * calls_each * CALL_TIMEOUT_S)
            seconds = time.monotonic() - started
        # A call's log line is written as it ends and read from the replica's stderr by another thread: the last
        # ones may reach the test a moment after the answers do.
        wait_until(lambda: _calls(survivor)["OK"] >= clients * calls_each, timeout=10)
        on_survivor = _calls(survivor)
    figure = (f"{sum(outcomes.values())} calls from {clients} callers in {seconds:.1f} s on the one replica left "
              f"of 3: {dict(outcomes)}; the survivor answered {on_survivor['OK']} and refused "
              f"{on_survivor['SOLVER_BUSY']} as busy (each refusal waited out and called again)")
    summary.figure("replica failover, two of three stopped", figure)
    print(figure)
    assert outcomes == Counter({"OK": clients * calls_each}), figure
    assert answers == {expected}
    assert on_survivor["OK"] >= clients * calls_each  # the survivor answered them all

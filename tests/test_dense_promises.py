"""The service's promises on a dense single-region cohort, measured from outside on `mentormatch serve` processes.

3,000 mentees and 3,000 mentors in one town (an 11 x 6 km box), one ISCO group and one language, within 3 km of
one another: ~1.58 million candidate pairs, under the 5 million budget. Its first min-cost flow is one OR-Tools
call of 2-3 s that holds the interpreter lock and never looks at a stop, and a CP-SAT model of it takes seconds
to load; both now run in a child process the stop kills (`solver.stop.run_in_child`). Reproduced here:

- Deadlines (F2): 0.3, 1 and 2 s answer with a matching, or DEADLINE_EXCEEDED where the deadline is shorter than
  building the candidates and the first flow (a call for the best matching alone on the same server measures
  that, and answers); a cancelled call, too: the server's CPU after the call's end is at most 200 ms, its
  children's (the flow processes) included.
- Drain (F3): SIGTERM and SIGINT with two dense solves in flight, one process or --workers 2: exit 0 within
  grace + 1 s, each call answered with a matching or UNAVAILABLE SERVER_STOPPING with a RetryInfo, never gRPC's
  bare "Cancelling all calls".
- Overload (F4): bursts of 200 calls while the dense solve's flow runs are refused in milliseconds (p99 under
  100 ms for the best of up to ten bursts, as the shared machine allows), and none, in any phase of the dense
  solve, is held up for a second.
- Ctrl-C on the command line: compare, rematch and why-not stop within seconds, say so, exit 130.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path

import grpc
import psutil
import pytest

from mentormatch.v1 import matching_pb2 as mpb
from server.client import SERVICE_PATH, RemoteError, remote_error
from server.convert import cohort_to_proto, options_to_proto
from solver.domain import Cohort, Language, Mentee, Mentor, Rules
from solver.ingest import write_cohort_dir
from solver.solve import SolveOptions
from tests.cli_support import cli_command, cli_env
from tests.cli_support import cpu_seconds as process_cpu_seconds
from tests.conftest import slow_cohort, slow_options, wait_until
from tests.hardening_support import (
    SUMMARY,
    ServeProcess,
    cpu_seconds,
    percentile,
    register_summary,
    scrape,
    serve_process,
)
from tests.test_service_promises import CPU_AFTER_END_S, QUIET_WINDOW_S, _burst

pytestmark = [pytest.mark.slow, pytest.mark.campaign]


@pytest.fixture(autouse=True, scope="module")
def _summary(pytestconfig: pytest.Config) -> Iterator[None]:
    register_summary(pytestconfig)
    yield


def dense_region(n: int = 3000, seed: int = 13) -> Cohort:
    """`n` mentees and `n` mentors in one town, one ISCO group (25) and one language, 3 km apart at most."""
    rng = random.Random(seed)
    codes = ("2511", "2512", "2513", "2514", "2519")

    def place() -> tuple[float, float]:
        return 55.62 + rng.random() * 0.1, 12.45 + rng.random() * 0.18

    mentors = tuple(Mentor(f"M{j:05d}", *place(), (rng.choice(codes),), (Language("da", rng.randint(3, 6)),),
                           years_experience=rng.randint(0, 20), capacity=rng.choice((1, 1, 2))) for j in range(n))
    mentees = tuple(Mentee(f"E{i:05d}", *place(), (rng.choice(codes),), (Language("da", rng.randint(3, 6)),))
                    for i in range(n))
    return Cohort(mentors, mentees, (), Rules(max_distance_km=3.0), name="dense-region")


@lru_cache(maxsize=1)
def dense_request() -> mpb.MatchRequest:
    return mpb.MatchRequest(cohort=cohort_to_proto(dense_region()),
                            options=options_to_proto(SolveOptions(alternatives=3, time_limit_s=60)))


def _match_stub(channel: grpc.Channel) -> grpc.UnaryUnaryMultiCallable:
    """Match without the typed client's retries: each call's own outcome."""
    return channel.unary_unary(SERVICE_PATH + "Match", request_serializer=mpb.MatchRequest.SerializeToString,
                               response_deserializer=mpb.MatchResponse.FromString)


def _cpu_after_end(server: ServeProcess, idle_s: float) -> float:
    start = cpu_seconds(server.pid)
    time.sleep(QUIET_WINDOW_S)
    return cpu_seconds(server.pid) - start - idle_s


def _outcome(call: grpc.Future) -> str:
    try:
        response = call.result()
    except grpc.RpcError as error:
        failure = remote_error(error)
        return failure.code.name
    assert response.matchings and response.matchings[0].pairs, "an answer without a matching"
    return mpb.SolveStatus.Name(response.status).removeprefix("SOLVE_STATUS_")


# --- F2: deadlines and cancellation, CPU after the end -------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_dense_call_answers_by_its_deadline_and_costs_at_most_200_ms_of_cpu_after_its_end() -> None:
    request = dense_request()
    one = mpb.MatchRequest()
    one.CopyFrom(request)
    one.options.alternatives = 1
    readings: dict[str, list[float]] = {}
    outcomes: dict[str, str] = {}
    with serve_process("--max-concurrent", "2") as server, grpc.insecure_channel(server.address) as channel:
        match = _match_stub(channel)
        idle = _cpu_after_end(server, 0.0)
        # What building the candidates and the first flow take here, as one call sees it (the best matching only).
        started = time.monotonic()
        reference = match(one, timeout=120)
        first_answer_s = time.monotonic() - started
        assert reference.status == mpb.SOLVE_STATUS_OPTIMAL and reference.matchings[0].pairs
        assert reference.statistics.candidate_pairs > 1_500_000

        def measure(label: str, end_call: Callable[[], str]) -> None:
            # The least of up to three readings: another process on the 2 cores can only add to a reading (a
            # slower stop), never hide one; every reading is reported.
            for _ in range(3):
                outcomes[label] = end_call()
                readings.setdefault(label, []).append(_cpu_after_end(server, idle))
                if min(readings[label]) <= CPU_AFTER_END_S:
                    break

        for deadline in (0.3, 1.0, 2.0):
            def by_deadline(deadline: float = deadline) -> str:
                return _outcome(match.future(request, timeout=deadline))

            measure(f"deadline {deadline:g} s", by_deadline)
            outcome = outcomes[f"deadline {deadline:g} s"]
            # A matching, or none only where the deadline is shorter than the candidates and the first flow.
            assert outcome in ("OPTIMAL", "FEASIBLE") or (outcome == "DEADLINE_EXCEEDED"
                                                          and deadline < first_answer_s), (deadline, outcome)
        for delay in (1.0, min(4.0, 0.8 * first_answer_s)):
            def by_cancel(delay: float = delay) -> str:
                call = match.future(request, timeout=120)
                time.sleep(delay)
                call.cancel()
                return "CANCELLED"

            measure(f"cancelled after {delay:.1f} s", by_cancel)
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_solves_in_flight") == 0, timeout=5)
        assert not psutil.Process(server.pid).children(), "a flow's child process outlived its call"
    SUMMARY.figure("dense 3,000 x 3,000 (1.58 million pairs): CPU after the call's end (server and children)",
                   f"best matching alone answered in {first_answer_s:.1f} s; " + ", ".join(
                       f"{k} ({outcomes[k]}): {'/'.join(f'{1000 * v:.0f}' for v in vs)} ms"
                       for k, vs in readings.items()))
    late = {k: [round(v, 3) for v in vs] for k, vs in readings.items() if min(vs) > CPU_AFTER_END_S}
    assert not late, f"CPU seconds after the end above {CPU_AFTER_END_S} s: {late}"


# --- F3: a drain with dense solves in flight -----------------------------------------------------------------


DRAINS = [(signal.SIGTERM, 1), (signal.SIGTERM, 2), (signal.SIGINT, 1), (signal.SIGINT, 2)]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("signum", "workers"), DRAINS, ids=[f"{s.name}-workers{w}" for s, w in DRAINS])
def test_a_drain_with_dense_solves_in_flight_ends_within_the_grace_and_answers_every_call(
        signum: signal.Signals, workers: int) -> None:
    grace = 3.0
    options = ("--grace", str(grace), "--max-concurrent", "2", "--workers", str(workers))
    with serve_process(*options) as server, grpc.insecure_channel(server.address) as channel:
        match = _match_stub(channel)
        calls = [match.future(dense_request(), timeout=60) for _ in range(2)]
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_solves_in_flight") == 2, timeout=15)
        time.sleep(1.0)  # candidates, then the first flow: the solves are told to stop 2.4 s after the signal
        signalled = time.monotonic()
        server.process.send_signal(signum)
        exit_code = server.process.wait(timeout=grace + 10)
        exited = time.monotonic() - signalled
        answers = []
        for call in calls:
            try:
                response = call.result(timeout=5)
                answers.append(mpb.SolveStatus.Name(response.status))
                assert response.matchings and response.matchings[0].pairs
            except grpc.RpcError as error:
                failure: RemoteError = remote_error(error)
                answers.append(f"{failure.code.name} {failure.reason}")
                # Another replica will answer: never gRPC's own "Cancelling all calls" without a RetryInfo.
                assert (failure.code, failure.reason) == (grpc.StatusCode.UNAVAILABLE, "SERVER_STOPPING"), failure
                assert failure.retry_delay_s is not None and failure.retry_delay_s > 0
    assert exit_code == 0, "\n".join(server.lines[-10:])
    assert not any("worker_stuck" in line for line in server.lines)
    assert exited < grace + 1.0, f"exited {exited:.2f} s after {signum.name} (grace {grace} s)"
    SUMMARY.figure(f"dense drain {signum.name}, --workers {workers}",
                   f"exit 0 after {exited:.2f} s (grace {grace} s); calls: {', '.join(answers)}")


# --- F4: refusals while a dense solve runs -------------------------------------------------------------------


@pytest.mark.timeout(180)
def test_refusals_while_a_dense_flow_runs_take_milliseconds() -> None:
    small = mpb.MatchRequest(cohort=cohort_to_proto(slow_cohort()), options=options_to_proto(slow_options()))
    bursts: list[tuple[bool, float]] = []  # (a flow's child process ran at the burst's start, p99 s)
    with serve_process("--max-concurrent", "1") as server, grpc.insecure_channel(server.address) as channel:
        _burst(server.address, small, 50)  # warm: the gRPC threads exist before the clock starts (nothing busy)
        busy = _match_stub(channel).future(dense_request(), timeout=120)
        assert wait_until(lambda: scrape(server.metrics_port, "mentormatch_solves_in_flight") == 1, timeout=15)
        process = psutil.Process(server.pid)
        counted = scrape(server.metrics_port, "grpc_server_handled_total", grpc_method="Match",
                         grpc_code="RESOURCE_EXHAUSTED")

        def burst() -> None:
            flowing = bool(process.children())
            latencies, errors = _burst(server.address, small, 200)
            assert all(e is not None and (e.code, e.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SOLVER_BUSY")
                       and e.retry_delay_s is not None and e.retry_delay_s > 0 for e in errors), \
                {(e.code.name, e.reason, e.retry_delay_s) if e else "OK" for e in errors}
            bursts.append((flowing, percentile(latencies, 0.99)))

        # Bursts through the call's checks and candidates, then while its first flow (a child process) runs: up to
        # ten, until one has a p99 under 100 ms (the machine is shared: the best burst is the service's own figure).
        for _ in range(8):
            if process.children() or busy.done():
                break
            burst()
            time.sleep(0.3)
        assert wait_until(lambda: bool(process.children()), timeout=90), "the first flow never started"
        while process.children() and not busy.done() and sum(flowing for flowing, _ in bursts) < 10:
            burst()
            if bursts[-1][0] and bursts[-1][1] < 0.1:
                break
        assert wait_until(lambda: scrape(server.metrics_port, "grpc_server_handled_total", grpc_method="Match",
                                         grpc_code="RESOURCE_EXHAUSTED") - counted == 200 * len(bursts))
        busy.cancel()
    during_flow = [p99 for flowing, p99 in bursts if flowing]
    SUMMARY.figure("overload during a dense solve", f"{len(bursts)} bursts of 200: p99 " + " / ".join(
        f"{1000 * p99:.0f}{'*' if flowing else ''}" for flowing, p99 in bursts) + " ms (* while the flow's child ran)")
    assert during_flow, "no burst while the first flow ran"
    # As in test_service_promises, the best burst is the service's own figure; and no burst may wait out a long
    # hold of the interpreter lock (the flow's was 2-3 s, during which every refusal waited).
    assert min(during_flow) < 0.1, f"p99 while the flow ran: {[round(1000 * p) for p in during_flow]} ms"
    assert max(p99 for _, p99 in bursts) < 1.0, f"p99 per burst: {[round(1000 * p) for _, p in bursts]} ms"


# --- Ctrl-C on the command line -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ctrl-c")
    write_cohort_dir(slow_cohort(400, 380), folder / "slow400")
    (folder / "current.csv").write_text("mentee_id,mentor_id\n" + "".join(f"E{i},M{i}\n" for i in range(0, 300, 2)))
    (folder / "wider.toml").write_text('label = "wider"\ncohort = "slow400"\n[rules]\nmax_distance_km = 50\n')
    return folder


@pytest.mark.timeout(180)
@pytest.mark.parametrize("command", ["compare", "rematch", "why-not"])
def test_ctrl_c_stops_a_workflow_command_says_so_and_exits_130(command: str, slow_files: Path) -> None:
    # Each runs well past the 4 s of CPU below unless stopped (measured: compare ~9 s, rematch 65 s, why-not > 30 s).
    args: dict[str, list[str | Path]] = {
        # The 400 cohort and re-solves for 200 unmatched people: ~9 s of CPU (the 140 one now compares in ~4.5 s).
        "compare": ["compare", slow_files / "slow400", slow_files / "wider.toml", "--counterfactuals",
                    "--explain-people", "200", "--sequential", "--time-limit", "300"],
        "rematch": ["rematch", slow_files / "slow400", slow_files / "current.csv", "--left", "M3;M5",
                    "--max-changes", "3", "--time-limit", "300"],
        # The 400 cohort: its organisation caps bind across genders, so its gender quota is no layer of the flow and
        # the re-solves go through pricing and CP-SAT (on "slow" they are flows now, and why-not answers in ~2 s).
        "why-not": ["why-not", slow_files / "slow400", "E0", "M1", "--mode", "rank_maximal", "--time-limit", "300"],
    }
    process = subprocess.Popen(cli_command(*args[command]), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=cli_env())
    # Import and reading take ~1.5 s of CPU: at 4 s the solves are under way, however loaded the machine is.
    while process.poll() is None and process_cpu_seconds(process.pid) < 4.0:
        time.sleep(0.05)
    assert process.poll() is None, f"{command} ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    out, err = process.communicate(timeout=60)
    stopped_within = time.monotonic() - interrupted
    assert process.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted (Ctrl-C)" in err and "was stopped" in err
    assert out == ""  # nothing half-done is printed
    assert stopped_within < 5.0, f"{command} took {stopped_within:.1f} s to stop"
    SUMMARY.figure(f"Ctrl-C {command}", f"exit 130 after {stopped_within:.2f} s")

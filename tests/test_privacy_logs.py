"""No participant data in any log, even at DEBUG: every logger of the process captured (library, server, gRPC).

The cohort carries sentinel values that cannot occur by chance (ids, coordinates, interests, organisations,
municipalities, the request label, the bearer token); full solves with explanations, streams, why-not
questions, invalid cohorts and an internal error run with every logger at DEBUG, in-process and as a
`mentormatch serve --log-level debug` process with gRPC's own C-core logging at debug as well. No sentinel
may appear in anything logged.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from server.app import ServerConfig, create_server
from server.client import MentormatchClient, RemoteError
from server.logging_setup import LOGGER_NAME, configure_logging
from solver import explain
from solver.domain import Cohort, Language, Mentee, Mentor, Ranking, Rules
from solver.solve import SolveOptions, solve
from tests.hardening_support import SUMMARY, exit_code, register_summary, serve_process

TOKEN = "tok-SENTINEL-9f3e7a1c55"
LABEL = "label-SENTINEL-4b2d"


def sentinel_cohort() -> Cohort:
    """Six mentees, five mentors near Copenhagen: every free-text and numeric attribute a sentinel."""
    mentors = tuple(Mentor(
        id=f"mentor-SENTINEL-{j}-qx7", lat=55.6761234567 + j * 0.001, lon=12.5683456789 + j * 0.001,
        occupations=("2512",), languages=(Language("da", 5), Language("en", 5)), years_experience=17,
        capacity=2 if j < 2 else 1, leadership=True, gender="f" if j % 2 else "m",
        interests=(f"interest-SENTINEL-{j}", "hiking"), organisation=f"org-SENTINEL-{j % 2}",
        markets=("SY",), returning=j == 0) for j in range(5))
    mentees = tuple(Mentee(
        id=f"mentee-SENTINEL-{i}-zk4", lat=55.6791234567 + i * 0.001, lon=12.5613456789 + i * 0.001,
        occupations=("2512",) if i < 5 else ("9999",), languages=(Language("en", 4),), max_travel_km=23.456789,
        interests=(f"interest-SENTINEL-{i}",), gender="f", country_of_origin="SY", first_language="ar",
        municipality=f"muni-SENTINEL-{i}") for i in range(6))
    rankings = tuple(Ranking(m.id, mentors[k % 5].id, 1 + k % 3) for k, m in enumerate(mentees))
    rules = Rules(max_distance_km=31.4159, eligible_municipalities=tuple(m.municipality for m in mentees),
                  organisation_caps=(("org-SENTINEL-0", 3),), bans=((mentees[0].id, mentors[4].id),))
    return Cohort(mentors, mentees, rankings, rules, name="cohort-SENTINEL-name")


def sentinels(cohort: Cohort) -> set[str]:
    values = {"SENTINEL", TOKEN, LABEL, cohort.name, "55.676123", "12.568345", "55.679123", "12.561345",
              "23.456789", "31.4159"}
    people: list[Mentor | Mentee] = [*cohort.mentors, *cohort.mentees]
    for person in people:
        values |= {person.id, *person.interests}
    return values


def assert_clean(text: str, cohort: Cohort, where: str) -> None:
    leaks = sorted(v for v in sentinels(cohort) if v in text)
    assert not leaks, f"participant data in the {where} log: {leaks}\n" + "\n".join(
        line for line in text.splitlines() if any(v in line for v in leaks))[:2000]


@pytest.fixture(autouse=True, scope="module")
def _summary(pytestconfig: pytest.Config) -> None:
    register_summary(pytestconfig)


@pytest.fixture
def every_logger_at_debug() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """(server JSON log, everything else): the server's own logging set-up at DEBUG, and a root handler at DEBUG
    that formats every record of every other logger with its arguments and traceback."""
    server_stream, other_stream = io.StringIO(), io.StringIO()
    configure_logging("debug", server_stream)
    root = logging.getLogger()
    handler = logging.StreamHandler(other_stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.DEBUG)
    saved = (root.level, {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
                          if isinstance(lg, logging.Logger)})
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in saved[1]:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield server_stream, other_stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
        for name in (LOGGER_NAME, "grpc"):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.propagate = True
            logger.setLevel(logging.NOTSET)


def _exercise(address: str, cohort: Cohort, **client_options: object) -> None:
    """Every RPC path that touches participant data: solves, explanations, streams, errors."""
    with MentormatchClient(address, **client_options) as client:  # type: ignore[arg-type]
        response = client.match(cohort, SolveOptions(alternatives=2), explain="FULL", label=LABEL)
        assert response.matchings and response.matchings[0].pairs
        messages = list(client.stream_match(cohort, SolveOptions(alternatives=2), explain="PAIRS", label=LABEL))
        assert messages[-1].WhichOneof("event") == "result"
        client.explain_pair(cohort, cohort.mentees[5].id, cohort.mentors[0].id)
        client.match(cohort, validate_only=True, label=LABEL)
        broken = replace(cohort, mentees=(replace(cohort.mentees[0], lat=155.6761234567,
                                                  occupations=("SENTINEL-isco",), first_language="SENTINEL"),
                                          *cohort.mentees[1:]))
        with pytest.raises(RemoteError):
            client.match(broken, label=LABEL)
        with pytest.raises(RemoteError):
            client.explain_pair(cohort, "mentee-SENTINEL-unknown", cohort.mentors[0].id)


def test_no_participant_data_in_any_log_at_debug_in_process(every_logger_at_debug: tuple[io.StringIO, io.StringIO],
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server_log, other_log = every_logger_at_debug
    cohort = sentinel_cohort()
    # The library on its own: a full solve with alternatives and every explanation.
    result = solve(cohort, SolveOptions(alternatives=3))
    assert result.best is not None
    explain.explain(result, explain.ExplainOptions())
    explain.why_not(cohort, cohort.mentees[5].id, cohort.mentors[0].id, SolveOptions())
    # The server, with a token, every RPC path.
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    running = create_server(ServerConfig(port=0, metrics_port=0, grace_s=1.0, token_file=token_file))
    try:
        _exercise(running.address, cohort, token=TOKEN)
        with MentormatchClient(running.address, token=TOKEN + "-wrong") as wrong, pytest.raises(RemoteError):
            wrong.match(cohort, label=LABEL)
        # An internal error whose exception message quotes input: the log keeps its type and stack only.
        import server.service as service_module

        def failing_solve(target: Cohort, options: SolveOptions) -> object:
            raise RuntimeError(f"solver failed on {target.mentees[0].id} at {target.mentees[0].lat}")

        monkeypatch.setattr(service_module, "solve", failing_solve)
        with MentormatchClient(running.address, token=TOKEN) as client, pytest.raises(RemoteError) as caught:
            client.match(cohort, label=LABEL)
        assert caught.value.code == grpc.StatusCode.INTERNAL
        assert_clean(caught.value.message, cohort, "client-facing INTERNAL")
    finally:
        running.stop(0).wait(5)
    server_text, other_text = server_log.getvalue(), other_log.getvalue()
    assert '"event": "call"' in server_text and '"internal_error"' in server_text, "the server logged nothing"
    assert_clean(server_text, cohort, "server")
    assert_clean(other_text, cohort, "library / gRPC")
    records = server_text.count("\n") + other_text.count("\n")
    SUMMARY.figure("privacy (in-process, DEBUG)", f"{records} log lines, {len(sentinels(cohort))} sentinel values, "
                   "0 found")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_no_participant_data_in_a_serve_process_log_at_debug(tmp_path: Path) -> None:
    cohort = sentinel_cohort()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with serve_process("--log-level", "debug", "--token-file", str(token_file), "--grace", "1",
                       env={"GRPC_VERBOSITY": "debug", "PYTHONWARNINGS": "always"}) as server:
        _exercise(server.address, cohort, token=TOKEN)
        server.terminate()
        assert exit_code(server, 15) == 0, "\n".join(server.lines[-60:])
    text = "\n".join(server.lines)
    assert '"event": "call"' in text and '"stopped"' in text
    assert_clean(text, cohort, "serve process")
    SUMMARY.figure("privacy (serve --log-level debug)", f"{len(server.lines)} log lines, 0 sentinel values found")

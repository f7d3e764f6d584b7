"""Prometheus metrics over HTTP: counts after real calls, Prometheus naming rules, HELP on every metric."""

from __future__ import annotations

import re
import urllib.request

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from solver.solve import SolveOptions
from tests.conftest import ServerFactory, small_cohort


def scrape(running: RunningServer) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{running.metrics_port}/metrics", timeout=5) as response:
        assert response.status == 200
        return str(response.read().decode())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _match_labels(code: str, method: str = "Match", kind: str = "unary") -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"grpc_type": kind, "grpc_service": "mentormatch.v1.MatchingService",
                         "grpc_method": method, "grpc_code": code}.items()))


def test_metrics_count_calls_solves_and_sizes(server_factory: ServerFactory) -> None:
    running = server_factory()
    cohort = small_cohort(3)
    with MentormatchClient(running.address) as client:
        for _ in range(2):
            client.match(cohort, SolveOptions(alternatives=2))
        with pytest.raises(RemoteError):
            client.match(cohort, SolveOptions(alternatives=0))
        list(client.stream_match(cohort, SolveOptions(alternatives=1)))
        client.health()
    found = samples(scrape(running))
    assert found[("grpc_server_handled_total", _match_labels("OK"))] == 2
    assert found[("grpc_server_handled_total", _match_labels("INVALID_ARGUMENT"))] == 1
    assert found[("grpc_server_handled_total", _match_labels("OK", "StreamMatch", "server_stream"))] == 1
    started = tuple(sorted({"grpc_type": "unary", "grpc_service": "mentormatch.v1.MatchingService",
                            "grpc_method": "Match"}.items()))
    assert found[("grpc_server_started_total", started)] == 3
    assert found[("grpc_server_handling_seconds_count", started)] == 3
    assert found[("mentormatch_solve_seconds_count", (("status", "OPTIMAL"),))] == 3
    participants = len(cohort.mentors) + len(cohort.mentees)
    assert found[("mentormatch_cohort_participants_count", ())] == 3
    assert found[("mentormatch_cohort_participants_sum", ())] == 3 * participants
    assert found[("mentormatch_matched_ratio_count", ())] == 3
    assert 0 < found[("mentormatch_matched_ratio_sum", ())] <= 3
    assert found[("mentormatch_solves_in_flight", ())] == 0
    assert found[("mentormatch_solve_slots", ())] == 2
    assert found[("mentormatch_requests_rejected_total", (("reason", "invalid"),))] == 1
    health = tuple(sorted({"grpc_type": "unary", "grpc_service": "grpc.health.v1.Health", "grpc_method": "Check",
                           "grpc_code": "OK"}.items()))
    assert found[("grpc_server_handled_total", health)] == 1


def test_refusals_are_counted_by_code(server_factory: ServerFactory) -> None:
    running = server_factory(max_participants=5)
    with MentormatchClient(running.address) as client, pytest.raises(RemoteError) as caught:
        client.match(small_cohort(3))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    found = samples(scrape(running))
    assert found[("grpc_server_handled_total", _match_labels("INVALID_ARGUMENT"))] == 1
    assert found[("mentormatch_requests_rejected_total", (("reason", "too_large"),))] == 1


def test_exposition_follows_prometheus_naming(shared_server: RunningServer) -> None:
    with MentormatchClient(shared_server.address) as client:
        client.match(small_cohort(3), SolveOptions(alternatives=1))
    text = scrape(shared_server)
    helps = dict(re.findall(r"^# HELP (\S+) (.+)$", text, re.MULTILINE))
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE))
    ours = {name: kind for name, kind in types.items() if name.startswith(("grpc_", "mentormatch_"))}
    assert len(ours) >= 10
    for name, kind in ours.items():
        assert helps.get(name, "").strip(), f"{name} has no HELP text"
        if kind == "counter":
            assert name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith(("_seconds", "_participants", "_ratio")), name
        assert not re.search(r"_(milliseconds|ms)(_|$)", name), f"{name}: seconds are the base unit"
    cohort = small_cohort(3)
    ids = {m.id for m in cohort.mentors} | {m.id for m in cohort.mentees}
    label_values = set(re.findall(r'="([^"]*)"', text))
    assert not ids & label_values, "participant ids must never be label values"

"""The standard gRPC message counters, `mentormatch_build_info`, and no `*_created` series, read from a live server's
/metrics exposition after real calls of every kind (unary, server streaming, bidirectional streaming)."""

from __future__ import annotations

import platform
import urllib.request
from importlib.metadata import version

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from solver.solve import SolveOptions
from tests.conftest import ServerFactory, small_cohort
from tests.hardening_support import serve_process

MATCHING = "mentormatch.v1.MatchingService"


def _exposition(metrics_port: int | None) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        return str(response.read().decode())


def _value(text: str, name: str, **labels: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def _messages(text: str, service: str, method: str, kind: str) -> tuple[float, float]:
    labels = {"grpc_type": kind, "grpc_service": service, "grpc_method": method}
    return (_value(text, "grpc_server_msg_received_total", **labels),
            _value(text, "grpc_server_msg_sent_total", **labels))


def test_messages_received_and_sent_are_counted_per_method(server_factory: ServerFactory) -> None:
    running: RunningServer = server_factory()
    cohort = small_cohort(3)
    with MentormatchClient(running.address) as client:
        for _ in range(3):
            client.match(cohort, SolveOptions(alternatives=1))
        with pytest.raises(RemoteError):
            client.match(cohort, SolveOptions(alternatives=0))  # read, refused: nothing sent back
        streamed = list(client.stream_match(cohort, SolveOptions(alternatives=2)))
        client.health()
    with grpc.insecure_channel(running.address) as channel:  # reflection: a bidirectional stream of two questions
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        questions = [reflection_pb2.ServerReflectionRequest(list_services=""),
                     reflection_pb2.ServerReflectionRequest(file_containing_symbol=MATCHING)]
        answers = list(stub.ServerReflectionInfo(iter(questions), timeout=10))
    text = _exposition(running.metrics_port)
    assert _messages(text, MATCHING, "Match", "unary") == (4, 3)
    assert _messages(text, MATCHING, "StreamMatch", "server_stream") == (1, len(streamed))
    assert len(streamed) >= 2  # progress, then the result
    assert _messages(text, "grpc.health.v1.Health", "Check", "unary") == (1, 1)
    assert _messages(text, "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo",
                     "bidi_stream") == (len(questions), len(answers))
    # The same labels as grpc_server_handled_total, so that dashboards join them.
    assert _value(text, "grpc_server_handled_total", grpc_service=MATCHING, grpc_method="Match") == 4


def test_build_info_names_the_versions(shared_server: RunningServer) -> None:
    from ortools import __version__ as ortools_version  # type: ignore[attr-defined]

    families = {f.name: f for f in text_string_to_metric_families(_exposition(shared_server.metrics_port))}
    samples = families["mentormatch_build_info"].samples
    assert len(samples) == 1 and samples[0].value == 1
    assert samples[0].labels == {"version": version("mentormatch"), "python": platform.python_version(),
                                 "ortools": ortools_version}


def test_no_created_series(shared_server: RunningServer) -> None:
    with MentormatchClient(shared_server.address) as client:
        client.match(small_cohort(3))
    text = _exposition(shared_server.metrics_port)
    created = sorted({line.split("{")[0].split(" ")[0] for line in text.splitlines()
                      if not line.startswith("#") and "_created" in line.split("{")[0]})
    assert "grpc_server_handled_total{" in text and not created, created


@pytest.mark.slow
def test_workers_report_one_build_info_and_summed_messages() -> None:
    """`serve --workers 2`: the supervisor's exposition sums the workers' counters and keeps one build_info."""
    with serve_process("--workers", "2") as server:
        for _ in range(4):  # new connections: the kernel spreads them over the workers
            with MentormatchClient(server.address) as client:
                client.match(small_cohort(3))
        text = _exposition(server.metrics_port)
    assert _messages(text, MATCHING, "Match", "unary") == (4, 4)
    info = [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == "mentormatch_build_info"]
    assert len(info) == 1 and info[0].value == 1 and info[0].labels["version"] == version("mentormatch")
    assert "_created" not in text

"""Who may call the service: bearer tokens, TLS and mutual TLS; and logs that carry no participant data."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import replace
from pathlib import Path

import grpc
import pytest

from server.app import ServerConfig, create_server
from server.client import MentormatchClient, RemoteError
from server.logging_setup import configure_logging
from solver.solve import SolveOptions
from tests.conftest import Certificates, ServerFactory, small_cohort

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def test_calls_need_the_bearer_token_and_health_checks_do_not(server_factory: ServerFactory, token_file: Path) -> None:
    running = server_factory(token_file=token_file)
    for token, expected in ((None, "missing"), ("wrong-token", "invalid"), (TOKEN[:-1], "invalid")):
        with MentormatchClient(running.address, token=token) as client:
            with pytest.raises(RemoteError) as caught:
                client.match(small_cohort(3), SolveOptions(alternatives=1))
            assert caught.value.code == grpc.StatusCode.UNAUTHENTICATED and expected in caught.value.message
            with pytest.raises(RemoteError):
                list(client.stream_match(small_cohort(3), SolveOptions(alternatives=1)))
            assert client.health() == "SERVING"
    with MentormatchClient(running.address, token=TOKEN) as client:
        assert client.match(small_cohort(3), SolveOptions(alternatives=1)).matchings
    assert running.metrics.registry.get_sample_value("mentormatch_requests_rejected_total",
                                                     {"reason": "unauthenticated"}) == 6


def test_reflection_needs_the_token_too(server_factory: ServerFactory, token_file: Path) -> None:
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    running = server_factory(token_file=token_file)
    with grpc.insecure_channel(running.address) as channel, pytest.raises(grpc.RpcError) as caught:
        ProtoReflectionDescriptorDatabase(channel).get_services()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_tls(server_factory: ServerFactory, certificates: Certificates) -> None:
    running = server_factory(tls_cert=certificates.server_cert, tls_key=certificates.server_key)
    with MentormatchClient(running.address, root_certificates=certificates.ca) as client:
        assert client.match(small_cohort(3), SolveOptions(alternatives=1)).matchings
    with MentormatchClient(running.address) as plaintext, pytest.raises(RemoteError) as caught:
        plaintext.health(timeout=2)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    with MentormatchClient(running.address, root_certificates=certificates.other_ca) as untrusting, \
            pytest.raises(RemoteError) as caught:
        untrusting.health(timeout=2)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_needs_a_client_certificate(server_factory: ServerFactory, certificates: Certificates,
                                               token_file: Path) -> None:
    running = server_factory(tls_cert=certificates.server_cert, tls_key=certificates.server_key,
                             tls_client_ca=certificates.ca, token_file=token_file)
    with MentormatchClient(running.address, token=TOKEN, root_certificates=certificates.ca,
                           client_cert=certificates.client_cert, client_key=certificates.client_key) as client:
        assert client.health() == "SERVING"
        assert client.match(small_cohort(3), SolveOptions(alternatives=1)).matchings
    with MentormatchClient(running.address, token=TOKEN, root_certificates=certificates.ca) as anonymous, \
            pytest.raises(RemoteError) as caught:
        anonymous.health(timeout=2)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


def test_bad_security_options_are_refused_at_start(tmp_path: Path, certificates: Certificates) -> None:
    from server.auth import ConfigError

    empty = tmp_path / "empty"
    empty.write_text("  \n")
    for config in (ServerConfig(port=0, metrics_port=None, tls_cert=certificates.server_cert),
                   ServerConfig(port=0, metrics_port=None, token_file=empty),
                   ServerConfig(port=0, metrics_port=None, token_file=tmp_path / "missing")):
        with pytest.raises(ConfigError):
            create_server(config)


def test_logs_are_json_lines_without_participant_data(server_factory: ServerFactory) -> None:
    stream = io.StringIO()
    configure_logging("info", stream)
    try:
        running = server_factory()
        cohort = small_cohort(3)
        secret_ids = {m.id for m in cohort.mentors} | {m.id for m in cohort.mentees}
        # Distinctive ids and a label, so that any leak shows.
        cohort = replace(cohort,
                         mentors=tuple(replace(m, id=f"mentor-secret-{m.id}") for m in cohort.mentors),
                         mentees=tuple(replace(m, id=f"mentee-secret-{m.id}") for m in cohort.mentees),
                         rankings=(), rules=replace(cohort.rules, bans=()), name="cohort-secret")
        with MentormatchClient(running.address) as client:
            client.match(cohort, SolveOptions(alternatives=2), explain="FULL", label="label-secret")
            broken = replace(cohort, mentees=(replace(cohort.mentees[0], lat=99.0, occupations=("secret-isco",)),))
            with pytest.raises(RemoteError):
                client.match(broken, label="label-secret")
            client.explain_pair(cohort, cohort.mentees[0].id, cohort.mentors[0].id)
    finally:
        configure_logging("info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    calls = [line for line in lines if line["event"] == "call"]
    assert [c["outcome"] for c in calls] == ["OK", "COHORT_INVALID", "OK"]
    assert all(isinstance(c["duration_s"], float) and c["mentees"] >= 1 for c in calls)
    text = stream.getvalue()
    assert "secret" not in text
    assert not any(f'"{i}"' in text for i in secret_ids)
    logging.getLogger("mentormatch.server").handlers.clear()

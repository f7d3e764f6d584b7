"""The typed client calls again when the service refuses with a RetryInfo (every solve slot busy), after the delay
the service asks for, a bounded number of times and never past the call's deadline; a refusal without a RetryInfo
is raised as it comes. A real server on loopback with one slot, held by a real solve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import grpc
import pytest

from mentormatch.v1 import matching_pb2 as mpb
from server.app import RunningServer
from server.client import MentormatchClient, RemoteError, RetryPolicy, server_config_for
from server.replicas import service_config, single_server_config
from tests.conftest import ServerFactory, slow_cohort, slow_options, small_cohort, wait_until

BUSY_DELAY_S = 0.5  # the RetryInfo of a SOLVER_BUSY refusal (docs/service.md)


def _busy_refusals(running: RunningServer) -> float:
    return running.metrics.registry.get_sample_value("mentormatch_requests_rejected_total", {"reason": "busy"}) or 0.0


@contextmanager
def _slot_held(running: RunningServer, seconds: float | None) -> Iterator[grpc.Future]:
    """The server's only slot taken by a real solve for about `seconds` (None: until the block ends)."""
    options = slow_options() if seconds is None else replace(slow_options(), time_limit_s=seconds)
    with MentormatchClient(running.address) as holder:
        call = holder.match_future(slow_cohort(), options, timeout=90)
        try:
            assert wait_until(lambda: running.service.slots.active() == 1, timeout=10)
            yield call
        finally:
            if seconds is None:
                call.cancel()
            else:
                call.result()
    assert wait_until(lambda: running.service.slots.active() == 0, timeout=10)


def test_a_busy_refusal_is_called_again_after_the_delay_it_asks_for(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    with MentormatchClient(running.address) as client, _slot_held(running, 1.5):
        started = time.monotonic()
        response = client.match(small_cohort(3), timeout=20)
        waited = time.monotonic() - started
    assert response.status == mpb.SOLVE_STATUS_OPTIMAL and response.matchings
    refusals = _busy_refusals(running)
    assert refusals >= 1
    assert waited >= refusals * BUSY_DELAY_S  # each refusal's delay was waited out before the next call


def test_stream_match_is_called_again_until_its_first_message(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    with MentormatchClient(running.address) as client, _slot_held(running, 1.5):
        messages = list(client.stream_match(small_cohort(3), timeout=20))
    assert messages[-1].WhichOneof("event") == "result"
    assert _busy_refusals(running) >= 1


def test_retries_never_pass_the_call_deadline(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    with MentormatchClient(running.address) as client, _slot_held(running, None):
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            client.match(small_cohort(3), timeout=1.3)
        took = time.monotonic() - started
    assert (caught.value.code, caught.value.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SOLVER_BUSY")
    assert took < 1.3  # given up when the next delay would have ended past the deadline, not at it
    assert 2 <= _busy_refusals(running) <= 3


def test_retries_are_bounded_in_number(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    client = MentormatchClient(running.address, retry=RetryPolicy(max_attempts=3))
    with client, _slot_held(running, None), pytest.raises(RemoteError) as caught:
        client.match(small_cohort(3), timeout=60)
    assert caught.value.reason == "SOLVER_BUSY" and caught.value.retry_delay_s == BUSY_DELAY_S
    assert _busy_refusals(running) == 3


def test_a_refusal_without_retry_info_is_raised_at_once(server_factory: ServerFactory) -> None:
    running = server_factory(max_message_bytes=4096)  # gRPC's own refusal: no details, retrying cannot help
    with MentormatchClient(running.address) as client:
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            client.match(small_cohort(3, 40, 40), timeout=20)
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and caught.value.retry_delay_s is None
    assert time.monotonic() - started < BUSY_DELAY_S


def test_the_channel_config_follows_the_target() -> None:
    """One address: gRPC retries transport failures (UNAVAILABLE) only, the RetryInfo loop the rest; several
    replicas: round_robin, health-checked, refusals retried on another replica at once (docs/service.md)."""
    single = server_config_for("127.0.0.1:50051")
    assert single == single_server_config()
    assert single["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert "loadBalancingConfig" not in single
    for target in ("ipv4:127.0.0.1:50051,127.0.0.1:50052", "dns:///mentormatch.ns.svc.cluster.local:50051"):
        assert server_config_for(target) == service_config()
    names = {n["service"] for n in single["methodConfig"][0]["name"]}
    assert {"mentormatch.v1.MatchingService", "mentormatch.v1.SweepService",
            "mentormatch.v1.SpeedDatingService"} <= names

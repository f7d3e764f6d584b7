"""A busy refusal tells every language's built-in retries how long to wait: beside the RetryInfo, the trailing
metadata `grpc-retry-pushback-ms` (gRFC A6) with the same delay. A real server on loopback with one slot, held by
a real solve; the refused call is a plain generated stub, as any client makes it."""

from __future__ import annotations

from dataclasses import replace

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import matching_pb2_grpc
from server.client import MentormatchClient
from solver.cohort_proto import cohort_to_proto
from tests.conftest import ServerFactory, slow_cohort, slow_options, small_cohort, wait_until


def test_a_busy_refusal_carries_the_retry_pushback_trailer(server_factory: ServerFactory) -> None:
    running = server_factory(max_concurrent=1)
    with MentormatchClient(running.address) as holder:
        held = holder.match_future(slow_cohort(), replace(slow_options(), time_limit_s=30), timeout=90)
        try:
            assert wait_until(lambda: running.service.slots.active() == 1, timeout=10)
            with grpc.insecure_channel(running.address) as channel, pytest.raises(grpc.RpcError) as caught:
                matching_pb2_grpc.MatchingServiceStub(channel).Match(
                    mpb.MatchRequest(cohort=cohort_to_proto(small_cohort(3))), timeout=20)
        finally:
            held.cancel()
    error = caught.value
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata() or ())
    status = rpc_status.from_call(error)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status.details if d.Is(error_details_pb2.RetryInfo.DESCRIPTOR))
    assert trailers.get("grpc-retry-pushback-ms") == str(retry.retry_delay.ToMilliseconds()) == "500"

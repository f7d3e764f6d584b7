"""The request metrics tell what happened to each call, as an operator reads them: bytes that are no message are
counted as invalid refusals, a reflection stream its client abandoned is CANCELLED (not UNKNOWN), and a health
Watch that reached its deadline is DEADLINE_EXCEEDED (not CANCELLED). A real server on loopback."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from server.app import RunningServer
from tests.conftest import ServerFactory, wait_until
from tests.hardening_support import scrape

GARBAGE = b"\xff\xff\xff\xff"
UNARY = ["/mentormatch.v1.MatchingService/Match", "/mentormatch.v1.MatchingService/ExplainPair",
         "/mentormatch.v1.MatchingService/CompareScenarios", "/mentormatch.v1.MatchingService/Rematch",
         "/mentormatch.v1.ShortlistService/Shortlist", "/mentormatch.v1.SpeedDatingService/PlanSpeedDating",
         "/grpc.health.v1.Health/Check"]
STREAMS = ["/mentormatch.v1.MatchingService/StreamMatch", "/mentormatch.v1.SweepService/Sweep",
           "/grpc.health.v1.Health/Watch"]


def _handled(running: RunningServer, method: str, code: str) -> float:
    return scrape(running.metrics_port, "grpc_server_handled_total", grpc_method=method, grpc_code=code)


def test_every_undecodable_request_is_counted_as_an_invalid_refusal(server_factory: ServerFactory) -> None:
    running = server_factory()
    raw = lambda b: b  # noqa: E731  (bytes sent as they are)
    with grpc.insecure_channel(running.address) as channel:
        for method in UNARY:
            try:
                channel.unary_unary(method, request_serializer=raw, response_deserializer=raw)(GARBAGE, timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        for method in STREAMS:
            try:
                list(channel.unary_stream(method, request_serializer=raw, response_deserializer=raw)(GARBAGE, timeout=10))
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, method
        reflection = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                           request_serializer=raw, response_deserializer=raw)
        try:
            list(reflection(iter([GARBAGE]), timeout=10))
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    sent = len(UNARY) + len(STREAMS) + 1
    assert scrape(running.metrics_port, "mentormatch_requests_rejected_total", reason="invalid") == sent


def test_an_abandoned_reflection_stream_is_cancelled_and_a_watch_past_its_deadline_deadline_exceeded(
        server_factory: ServerFactory) -> None:
    running = server_factory()
    with grpc.insecure_channel(running.address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        for _ in range(3):  # one question, the client's side closed, then the client goes away before the end
            stream = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
            assert next(stream).list_services_response.service
            stream.cancel()
        assert wait_until(lambda: _handled(running, "ServerReflectionInfo", "CANCELLED")
                          + _handled(running, "ServerReflectionInfo", "OK") == 3, timeout=10)
        assert _handled(running, "ServerReflectionInfo", "UNKNOWN") == 0

        for _ in range(3):
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=0.3)
            try:
                for _ in watch:
                    pass
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert wait_until(lambda: _handled(running, "Watch", "DEADLINE_EXCEEDED") == 3, timeout=10)
        assert _handled(running, "Watch", "CANCELLED") == 0

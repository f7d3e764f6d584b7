"""Server reflection under its stable name `grpc.reflection.v1.ServerReflection` (newer grpcurl, Postman and
grpcui ask it first), beside `v1alpha`: on a real server on loopback, a v1 list request lists every service."""

from __future__ import annotations

import grpc
from grpc_reflection.v1alpha import reflection_pb2

from server.app import RunningServer

V1_METHOD = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def test_a_v1_reflection_request_lists_the_services(shared_server: RunningServer) -> None:
    # The v1 messages are the v1alpha ones on the wire: the v1alpha classes stand for them, on the v1 method path.
    with grpc.insecure_channel(shared_server.address) as channel:
        info = channel.stream_stream(V1_METHOD,
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        answers = list(info(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=10))
    assert len(answers) == 1 and answers[0].WhichOneof("message_response") == "list_services_response"
    names = {s.name for s in answers[0].list_services_response.service}
    assert {"mentormatch.v1.MatchingService", "mentormatch.v1.SweepService", "mentormatch.v1.SpeedDatingService",
            "mentormatch.v1.ShortlistService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
            "grpc.reflection.v1.ServerReflection"} <= names, names


def test_v1_reflection_describes_the_matching_service(shared_server: RunningServer) -> None:
    with grpc.insecure_channel(shared_server.address) as channel:
        info = channel.stream_stream(V1_METHOD,
                                     request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
                                     response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        answers = list(info(iter([reflection_pb2.ServerReflectionRequest(
            file_containing_symbol="mentormatch.v1.MatchingService")]), timeout=10))
    assert answers[0].WhichOneof("message_response") == "file_descriptor_response"
    assert answers[0].file_descriptor_response.file_descriptor_proto

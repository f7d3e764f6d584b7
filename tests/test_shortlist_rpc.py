"""Shortlist over real gRPC on loopback (the server as `mentormatch serve` runs it): the library's lists, field for
field; bad options and a bad cohort as INVALID_ARGUMENT with every field; the service in health and reflection."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import duration_pb2, json_format
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import shortlist_pb2 as slpb
from mentormatch.v1 import shortlist_pb2_grpc as slgrpc
from server.app import RunningServer
from solver.cohort_proto import cohort_to_proto
from solver.explain.codes import Side
from solver.ingest import load_cohort
from solver.shortlist import ShortlistOptions, shortlist
from tests.conftest import SCENARIOS


@pytest.fixture
def channel(shared_server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(shared_server.address) as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.Channel) -> slgrpc.ShortlistServiceStub:
    return slgrpc.ShortlistServiceStub(channel)


@pytest.mark.parametrize(("name", "side"), [("lyngby_career", mpb.SIDE_MENTEE), ("copenhagen_career", mpb.SIDE_MENTOR)])
def test_the_rpc_answers_the_library_s_lists(stub: slgrpc.ShortlistServiceStub, name: str,
                                             side: mpb.Side.ValueType) -> None:
    cohort = load_cohort(SCENARIOS / name)
    request = slpb.ShortlistRequest(cohort=cohort_to_proto(cohort), size=3, side=side, max_lists=2, label="intake")
    response = stub.Shortlist(request, timeout=60)
    library = shortlist(cohort, ShortlistOptions(size=3, side=Side.MENTOR if side == mpb.SIDE_MENTOR else Side.MENTEE,
                                                 max_lists=2))
    assert response.label == "intake" and response.status == mpb.SOLVE_STATUS_OPTIMAL and response.complete
    assert response.size == 3 and response.max_lists == 2 and response.side == side
    got = [(x.person_id, x.choices, x.note, [(p.rank, p.mentee_id, p.mentor_id, p.score, p.in_optimum, p.pinned,
                                             p.cost, list(p.clash_ids), p.sentence) for p in x.proposals])
           for x in response.lists]
    want = [(x.person_id, x.choices, x.note, [(p.rank, p.mentee_id, p.mentor_id, p.score, p.in_optimum, p.pinned,
                                               float(p.cost), list(p.clash_ids), p.sentence) for p in x.proposals])
            for x in library.lists]
    assert got == want
    assert [(c.id, c.subject, c.limit, c.sentence, [(p.mentee_id, p.mentor_id) for p in c.proposals])
            for c in response.clashes] == [(c.id, c.subject, c.limit, c.sentence, list(c.proposals))
                                           for c in library.clashes]
    assert library.objective is not None and response.objective.value == library.objective.value
    proposal = next(p for x in response.lists for p in x.proposals if not p.in_optimum)
    assert proposal.explanation.score == proposal.score and proposal.explanation.terms
    assert proposal.pairs_added and proposal.cost >= 0
    assert response.statistics.candidate_pairs == library.stats.candidate_pairs
    # The JSON mapping carries the kinds by name.
    data = json_format.MessageToDict(response, preserving_proto_field_name=True)
    assert all(c["kind"].startswith("CLASH_KIND_") for c in data.get("clashes", []))


def test_bad_options_and_a_bad_cohort_are_invalid_argument_with_every_field(stub: slgrpc.ShortlistServiceStub) -> None:
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "lyngby_career"))
    cohort.mentors[0].capacity = -1
    with pytest.raises(grpc.RpcError) as raised:
        stub.Shortlist(slpb.ShortlistRequest(cohort=cohort, size=11, max_lists=0), timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {"size", "max_lists", "cohort.mentors[0].capacity"} <= _details(raised.value)[0]


def test_undecodable_bytes_and_absurd_values_get_clean_statuses(channel: grpc.Channel) -> None:
    raw = channel.unary_unary("/mentormatch.v1.ShortlistService/Shortlist", request_serializer=None,
                              response_deserializer=None)
    with pytest.raises(grpc.RpcError) as raised:
        raw(b"\xff\x00\x13garbage", timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "ibmp_2026_q1"))
    stub = slgrpc.ShortlistServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Shortlist(slpb.ShortlistRequest(cohort=cohort, size=2**31 - 1, max_lists=-(2**31),
                                             side=mpb.Side.ValueType(99), time_limit=duration_pb2.Duration(seconds=-5)),
                       timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert {"size", "max_lists", "side", "time_limit"} <= _details(raised.value)[0]
    with pytest.raises(grpc.RpcError) as raised:
        stub.Shortlist(slpb.ShortlistRequest(), timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    # A list cap beyond the people is no cap: answered.
    answer = stub.Shortlist(slpb.ShortlistRequest(cohort=cohort, max_lists=2**31 - 1), timeout=30)
    assert answer.max_lists == 2**31 - 1 and answer.complete and answer.lists


def _details(error: grpc.RpcError) -> tuple[set[str], set[str]]:
    """The fields of the status's BadRequest violations, and its ErrorInfo reasons."""
    status = rpc_status.from_call(error)
    assert status is not None
    fields, reasons = set(), set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reasons.add(info.reason)
    return fields, reasons


def test_options_alone_are_shortlist_invalid(stub: slgrpc.ShortlistServiceStub) -> None:
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "lyngby_career"))
    with pytest.raises(grpc.RpcError) as raised:
        stub.Shortlist(slpb.ShortlistRequest(cohort=cohort, size=-2), timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert _details(raised.value)[1] == {"SHORTLIST_INVALID"}


def test_a_short_deadline_still_gets_an_answer(stub: slgrpc.ShortlistServiceStub) -> None:
    """kvinfo_network's 11,800 pairs take 1-2.5 s in all (checks, solve, costs, answer) on 2 shared cores: with a
    2 s deadline the answer comes in time; when the costs were cut short it says so (`complete` false, a note),
    and whatever lists it has hold the optimum's pairs first."""
    cohort = load_cohort(SCENARIOS / "kvinfo_network")
    started = time.monotonic()
    response = stub.Shortlist(slpb.ShortlistRequest(cohort=cohort_to_proto(cohort)), timeout=2.0)
    assert time.monotonic() - started < 2.0
    assert response.complete == (not any("time limit" in note for note in response.notes))
    for person in response.lists:
        flags = [p.in_optimum for p in person.proposals]
        assert flags == sorted(flags, reverse=True)


def test_the_service_is_in_health_and_reflection(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service="mentormatch.v1.ShortlistService"), timeout=10)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                              timeout=10)
    names = {s.name for reply in replies for s in reply.list_services_response.service}
    assert "mentormatch.v1.ShortlistService" in names

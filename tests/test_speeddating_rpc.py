"""PlanSpeedDating over real gRPC on loopback: the plan the library makes, and bad options as INVALID_ARGUMENT."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from mentormatch.v1 import speeddating_pb2 as sdpb
from mentormatch.v1 import speeddating_pb2_grpc as sdgrpc
from server.app import RunningServer
from solver.cohort_proto import cohort_to_proto
from solver.ingest import load_cohort
from solver.speeddating import PlanOptions, plan_speed_dating
from tests.conftest import SCENARIOS


@pytest.fixture
def stub(shared_server: RunningServer) -> Iterator[sdgrpc.SpeedDatingServiceStub]:
    """The service as `mentormatch serve` runs it (the real server on loopback)."""
    with grpc.insecure_channel(shared_server.address) as channel:
        yield sdgrpc.SpeedDatingServiceStub(channel)


def test_the_rpc_answers_the_library_s_plan(stub: sdgrpc.SpeedDatingServiceStub) -> None:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    request = sdpb.PlanSpeedDatingRequest(cohort=cohort_to_proto(cohort), rounds=6, minutes=8, tables=12,
                                          label="kick-off")
    response = stub.PlanSpeedDating(request, timeout=60)
    plan = plan_speed_dating(cohort, PlanOptions(rounds=6, minutes=8, tables=12))
    assert response.label == "kick-off" and len(response.rounds) == 6
    got = [(m.round, m.table, m.mentee_id, m.mentor_id, m.from_minute, m.to_minute)
           for r in response.rounds for m in r.meetings]
    assert got == [(x.round, x.table, x.mentee_id, x.mentor_id, x.starts_min, x.ends_min) for x in plan.meetings]
    assert response.all_best_pairs_meet and response.objective.best_pairs == plan.objective.best_pairs
    assert len(response.timetables) == len(plan.timetables) and all(len(t.slots) == 6 for t in response.timetables)
    assert [c.mentee_id for c in response.coverage] == [c.mentee_id for c in plan.coverage]
    breaks = [s for t in response.timetables for s in t.slots if not s.partner_id]
    assert all(s.table == 0 for s in breaks)


def test_bad_options_and_a_bad_cohort_are_invalid_argument_with_every_field(
        stub: sdgrpc.SpeedDatingServiceStub) -> None:
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "lyngby_career"))
    cohort.mentors[0].capacity = -1
    with pytest.raises(grpc.RpcError) as raised:
        stub.PlanSpeedDating(sdpb.PlanSpeedDatingRequest(cohort=cohort, rounds=0, minutes=8, max_breaks=9),
                             timeout=30)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    fields = set()
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields |= {v.field for v in bad.field_violations}
    assert {"rounds", "cohort.mentors[0].capacity"} <= fields

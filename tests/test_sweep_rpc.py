"""`SweepService.Sweep` on a real server on loopback: one streamed outcome per setting, in grid order, the same as the
library's sweep, then the summary with the Pareto frontier; bad grids refused with every problem at its request path."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import sweep_pb2 as spb
from mentormatch.v1 import sweep_pb2_grpc
from server.app import RunningServer, ServerConfig, create_server
from server.convert import options_to_proto
from server.sweep_service import SWEEP_SERVICE_NAME
from solver.cohort_proto import cohort_to_proto
from solver.compare import load_scenario
from solver.solve import SolveOptions
from solver.sweep import grid_from_mapping, run_sweep
from tests.hardening_support import ROOT

BASE = ROOT / "scenarios" / "whatif" / "lyngby_base.toml"


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    running = create_server(ServerConfig(port=0, metrics_port=None), logging.getLogger("test.sweep.quiet"))
    try:
        yield running
    finally:
        running.stop(0).wait()


def _axis(rule: str, values: list[tuple[str, mpb.RuleChanges]]) -> spb.SweepAxis:
    return spb.SweepAxis(rule=rule, values=[mpb.Scenario(label=label, rules=rules) for label, rules in values])


def test_a_sweep_streams_every_setting_in_order_then_the_frontier(server: RunningServer) -> None:
    cohort = load_scenario(BASE).cohort
    request = spb.SweepRequest(cohort=cohort_to_proto(cohort), label="lyngby grid",
                               options=options_to_proto(SolveOptions(time_limit_s=10)), axes=[
        _axis("max_distance_km", [("max_distance_km 10", mpb.RuleChanges(max_distance_km=10)),
                                  ("max_distance_km 25", mpb.RuleChanges(max_distance_km=25))]),
        _axis("min_language_level", [("min_language_level B1", mpb.RuleChanges(min_language_level=pb.CEFR_LEVEL_B1)),
                                     ("min_language_level A2", mpb.RuleChanges(min_language_level=pb.CEFR_LEVEL_A2))]),
    ])
    library = run_sweep(cohort, grid_from_mapping({"axes": {"max_distance_km": [10, 25],
                                                            "min_language_level": ["B1", "A2"]}}))
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SWEEP_SERVICE_NAME))
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        messages = list(sweep_pb2_grpc.SweepServiceStub(channel).Sweep(request, timeout=60))
    outcomes = [m.outcome for m in messages[:-1]]
    summary = messages[-1].summary
    assert all(m.HasField("outcome") for m in messages[:-1]) and messages[-1].HasField("summary")
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [list(o.values) for o in outcomes] == [o.values for o in library.outcomes]
    assert [(o.matched, o.worst_score, round(o.mean_score, 9)) for o in outcomes] == [
        (o.matched, o.worst_score, round(o.mean_score or 0, 9)) for o in library.outcomes]
    assert all(o.status == mpb.SOLVE_STATUS_OPTIMAL for o in outcomes)
    assert list(summary.pareto) == library.pareto and summary.settings == 4 and summary.failed == 0
    assert summary.label == "lyngby grid" and list(summary.axes) == ["max_distance_km", "min_language_level"]


def _violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return {v.field: v.description for v in bad.field_violations}
    return {}


def test_a_bad_grid_is_refused_with_every_problem_at_once(server: RunningServer) -> None:
    """The grid's own problems (an axis without a rule or values) and its values' (a distance that is no number,
    a depth out of range) in one refusal: a caller fixes them in one go, nothing solved."""
    cohort = load_scenario(BASE).cohort
    request = spb.SweepRequest(cohort=cohort_to_proto(cohort), axes=[
        _axis("max_distance_km", [("nan km", mpb.RuleChanges(max_distance_km=float("nan")))]),
        _axis("field_depth", [("depth 9", mpb.RuleChanges(field_depth=9))]),
        spb.SweepAxis(rule="", values=[]),
    ])
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as caught:
        list(sweep_pb2_grpc.SweepServiceStub(channel).Sweep(request, timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = set(_violations(caught.value))
    assert {"axes[2].rule", "axes[2].values", "axes[0].values[0].rules.max_distance_km",
            "axes[1].values[0].rules.field_depth"} <= fields, fields
    fixed = spb.SweepRequest(cohort=request.cohort, axes=[request.axes[0], request.axes[1]])
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as caught:
        list(sweep_pb2_grpc.SweepServiceStub(channel).Sweep(fixed, timeout=60))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(_violations(caught.value)) == {"axes[0].values[0].rules.max_distance_km",
                                              "axes[1].values[0].rules.field_depth"}


def test_bytes_that_are_no_sweep_request_are_refused_clearly(server: RunningServer) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        raw = channel.unary_stream("/mentormatch.v1.SweepService/Sweep", request_serializer=lambda b: b,
                                   response_deserializer=spb.SweepResponse.FromString)
        with pytest.raises(grpc.RpcError) as caught:
            list(raw(b"\x0a\xff\xff\xff\xff\x0fnot a message", timeout=30))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # not INTERNAL: the client's bytes are wrong
    status = rpc_status.from_call(caught.value)
    assert status is not None
    reasons = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reasons.append(info.reason)
    assert reasons == ["REQUEST_UNDECODABLE"]



def test_a_sweep_cut_short_by_its_deadline_ends_deadline_exceeded_after_its_outcomes(server: RunningServer) -> None:
    """The settings solved before the deadline are streamed; the call then ends DEADLINE_EXCEEDED, as its client
    sees it (the solves stopped a margin before it once read as a cancellation: CANCELLED)."""
    cohort = load_scenario(BASE).cohort
    values = [(f"max_distance_km {km}", mpb.RuleChanges(max_distance_km=km)) for km in range(5, 405)]
    request = spb.SweepRequest(cohort=cohort_to_proto(cohort), options=options_to_proto(SolveOptions(time_limit_s=10)),
                               axes=[_axis("max_distance_km", values)])
    outcomes = []
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel, pytest.raises(grpc.RpcError) as caught:
        for message in sweep_pb2_grpc.SweepServiceStub(channel).Sweep(request, timeout=2.0):
            outcomes.append(message.outcome)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, caught.value.details()
    assert 0 < len(outcomes) < len(values)
    assert [o.index for o in outcomes] == list(range(len(outcomes)))

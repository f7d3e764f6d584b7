"""The typed client's `shortlist`, `sweep` (streamed) and `plan_speed_dating` on a real server on loopback: the
answer a generated stub gets for the same request, bad input as a `RemoteError` with every problem at its path,
and a busy server's refusal waited out (the RetryInfo's delay) and called again, as `match` does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import shortlist_pb2 as slpb
from mentormatch.v1 import shortlist_pb2_grpc, speeddating_pb2_grpc, sweep_pb2_grpc
from mentormatch.v1 import speeddating_pb2 as sdpb
from mentormatch.v1 import sweep_pb2 as spb
from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from solver.cohort_proto import cohort_to_proto
from solver.ingest import load_cohort
from tests.conftest import SCENARIOS, ServerFactory, slow_cohort, slow_options, small_cohort, wait_until

LYNGBY = SCENARIOS / "lyngby_career"
BUSY_DELAY_S = 0.5  # the RetryInfo of a SOLVER_BUSY refusal (docs/service.md)


def _clear(message: Message, *paths: str) -> Message:
    """A copy without the fields that time the work (they differ from call to call)."""
    copy = type(message)()
    copy.CopyFrom(message)
    for path in paths:
        *parents, name = path.split(".")
        holder: Any = copy
        for parent in parents:
            holder = getattr(holder, parent)
        holder.ClearField(name)
    return copy


def test_shortlist_is_the_stub_s_answer(shared_server: RunningServer) -> None:
    cohort = load_cohort(LYNGBY)
    with MentormatchClient(shared_server.address) as client:
        typed = client.shortlist(cohort, size=3, side="mentor", max_lists=2, time_limit_s=20)
    with grpc.insecure_channel(shared_server.address) as channel:
        raw = shortlist_pb2_grpc.ShortlistServiceStub(channel).Shortlist(slpb.ShortlistRequest(
            cohort=cohort_to_proto(cohort), size=3, side=mpb.SIDE_MENTOR, max_lists=2), timeout=60)
    assert isinstance(typed, slpb.ShortlistResponse) and typed.lists and typed.side == mpb.SIDE_MENTOR
    timings = ("statistics.wall_time", "statistics.costs_time")
    assert _clear(typed, *timings) == _clear(raw, *timings)


def test_sweep_streams_every_setting_then_the_summary(shared_server: RunningServer) -> None:
    cohort = load_cohort(LYNGBY)
    axes = [spb.SweepAxis(rule="max_distance_km", values=[
        mpb.Scenario(label="10 km", rules=mpb.RuleChanges(max_distance_km=10)),
        mpb.Scenario(label="25 km", rules=mpb.RuleChanges(max_distance_km=25))])]
    with MentormatchClient(shared_server.address) as client:
        typed = list(client.sweep(cohort, axes, label="grid"))
    with grpc.insecure_channel(shared_server.address) as channel:
        raw = list(sweep_pb2_grpc.SweepServiceStub(channel).Sweep(
            spb.SweepRequest(cohort=cohort_to_proto(cohort), axes=axes, label="grid"), timeout=60))
    assert [m.WhichOneof("kind") for m in typed] == ["outcome", "outcome", "summary"]
    assert [_clear(m.outcome, "solve_time") for m in typed[:2]] == [_clear(m.outcome, "solve_time") for m in raw[:2]]
    assert typed[-1].summary == raw[-1].summary and typed[-1].summary.label == "grid"


def test_plan_speed_dating_is_the_stub_s_answer(shared_server: RunningServer) -> None:
    cohort = load_cohort(LYNGBY)
    with MentormatchClient(shared_server.address) as client:
        typed = client.plan_speed_dating(cohort, rounds=4, minutes=8, tables=6)
    with grpc.insecure_channel(shared_server.address) as channel:
        raw = speeddating_pb2_grpc.SpeedDatingServiceStub(channel).PlanSpeedDating(sdpb.PlanSpeedDatingRequest(
            cohort=cohort_to_proto(cohort), rounds=4, minutes=8, tables=6), timeout=60)
    assert isinstance(typed, sdpb.PlanSpeedDatingResponse) and typed.rounds
    assert _clear(typed, "plan_time") == _clear(raw, "plan_time")


def test_bad_options_are_a_remote_error_with_every_problem(shared_server: RunningServer) -> None:
    cohort = small_cohort(3)
    with MentormatchClient(shared_server.address) as client:
        with pytest.raises(RemoteError) as caught:
            client.shortlist(cohort, size=11, max_lists=0)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert {"size", "max_lists"} <= {path for path, _ in caught.value.violations}
        with pytest.raises(RemoteError) as caught:
            client.plan_speed_dating(cohort, rounds=0, minutes=8)
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert "rounds" in {path for path, _ in caught.value.violations}
        with pytest.raises(RemoteError) as caught:
            list(client.sweep(cohort, [spb.SweepAxis(rule="", values=[])]))
        assert {"axes[0].rule", "axes[0].values"} <= {path for path, _ in caught.value.violations}


@contextmanager
def _slot_held(running: RunningServer, seconds: float) -> Iterator[None]:
    """The server's only slot taken by a real solve for about `seconds`."""
    with MentormatchClient(running.address) as holder:
        call = holder.match_future(slow_cohort(), replace(slow_options(), time_limit_s=seconds), timeout=90)
        assert wait_until(lambda: running.service.slots.active() == 1, timeout=10)
        yield
        call.result()


def _busy_refusals(running: RunningServer) -> float:
    return running.metrics.registry.get_sample_value("mentormatch_requests_rejected_total", {"reason": "busy"}) or 0.0


@pytest.mark.parametrize("method", ["shortlist", "sweep", "plan_speed_dating"])
def test_a_busy_refusal_is_waited_out_and_called_again(server_factory: ServerFactory, method: str) -> None:
    running = server_factory(max_concurrent=1)
    cohort = small_cohort(3)
    calls = {
        "shortlist": lambda c: c.shortlist(cohort, timeout=20).lists,
        "sweep": lambda c: list(c.sweep(cohort, [("max_distance_km", [
            mpb.Scenario(label="20 km", rules=mpb.RuleChanges(max_distance_km=20))])], timeout=20)),
        "plan_speed_dating": lambda c: c.plan_speed_dating(cohort, rounds=3, minutes=8, timeout=20).rounds,
    }
    with MentormatchClient(running.address) as client, _slot_held(running, 1.5):
        started = time.monotonic()
        answer = calls[method](client)
        waited = time.monotonic() - started
    assert answer
    refusals = _busy_refusals(running)
    assert refusals >= 1
    assert waited >= refusals * BUSY_DELAY_S  # each refusal's delay was waited out before the next call

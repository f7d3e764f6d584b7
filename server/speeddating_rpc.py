"""The `mentormatch.v1.SpeedDatingService` servicer: PlanSpeedDating on the server's slots, limits and errors.

It is `MatchingService` with one more method, so a plan shares the server's solve slots, size caps, deadline
handling, drain and error statuses: checked (every problem of the cohort and the plan's options at once, at
its request path: `cohort.mentors[2].languages`, `rounds`), then planned on a slot's thread with the slot's
stop (the call's deadline and cancellation), then converted (`plan_to_proto`), identifiers only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc

from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import speeddating_pb2 as sdpb
from server import convert as mapping
from server.checks import bounded_time_limit
from server.service import MatchingService, solving_method
from server.slots import Slot
from solver.speeddating import PlanOptions, SpeedDatingPlan, option_problems, plan_speed_dating

SPEED_DATING_SERVICE_NAME: str = sdpb.DESCRIPTOR.services_by_name["SpeedDatingService"].full_name
"""`mentormatch.v1.SpeedDatingService`: the name in method paths, health checks and reflection."""

DEFAULT_TIME_LIMIT_S = 30.0
DEFAULT_ALTERNATIVES = 3
_STATUS = {"OPTIMAL": mpb.SOLVE_STATUS_OPTIMAL, "FEASIBLE": mpb.SOLVE_STATUS_FEASIBLE,
           "INFEASIBLE": mpb.SOLVE_STATUS_INFEASIBLE, "UNKNOWN": mpb.SOLVE_STATUS_UNKNOWN}
_SIDE = {"mentee": sdpb.PARTICIPANT_SIDE_MENTEE, "mentor": sdpb.PARTICIPANT_SIDE_MENTOR}


def plan_options_from_proto(request: sdpb.PlanSpeedDatingRequest, time_limit_s: float) -> PlanOptions:
    return PlanOptions(rounds=request.rounds, minutes=request.minutes,
                       tables=request.tables if request.HasField("tables") else None,
                       max_breaks=request.max_breaks if request.HasField("max_breaks") else None,
                       alternatives=request.alternatives or DEFAULT_ALTERNATIVES, seed=request.seed,
                       time_limit_s=time_limit_s)


def plan_to_proto(plan: SpeedDatingPlan, label: str) -> sdpb.PlanSpeedDatingResponse:
    """The plan as the contract's response."""
    objective = plan.objective
    response = sdpb.PlanSpeedDatingResponse(
        label=label, status=_STATUS[plan.status.value], all_best_pairs_meet=plan.all_best_pairs_meet,
        best_pairs_missed=[sdpb.SpeedDatingPair(mentee_id=a, mentor_id=b) for a, b in plan.best_matching_missed],
        absent_mentor_ids=plan.absent_mentors, over_break_limit_ids=plan.over_break_limit, notes=plan.notes,
        objective=sdpb.SpeedDatingObjective(
            breaks=objective.breaks, break_target=objective.break_target, best_pairs_met=objective.best_pairs_met,
            best_pairs=objective.best_pairs, alternative_pairs_met=objective.alternative_pairs_met,
            alternative_pairs=objective.alternative_pairs, mentee_coverage=objective.mentee_coverage,
            mentor_share=objective.mentor_share, meetings=objective.meetings, score=objective.score))
    for r in range(1, plan.rounds + 1):
        response.rounds.add(round=r, meetings=[sdpb.SpeedDatingMeeting(
            round=x.round, table=x.table, mentee_id=x.mentee_id, mentor_id=x.mentor_id, from_minute=x.starts_min,
            to_minute=x.ends_min, score=x.score, in_best_matching=x.in_best_matching, in_alternative=x.in_alternative,
            top_rank=x.top_rank) for x in plan.meetings if x.round == r])
    for t in plan.timetables:
        response.timetables.add(person_id=t.person_id, side=_SIDE[t.side], meetings=t.meetings, breaks=t.breaks,
                                allowed_partners=t.allowed_partners, slots=[sdpb.TimetableSlot(
                                    round=s.round, from_minute=s.starts_min, to_minute=s.ends_min,
                                    table=s.table or 0, partner_id=s.partner_id or "") for s in t.slots])
    for c in plan.coverage:
        response.coverage.add(mentee_id=c.mentee_id, top_mentor_ids=c.top_mentors, met_top_mentor_ids=c.met_top,
                              complete=c.complete)
    response.plan_time.CopyFrom(mapping.duration(plan.stats.wall_s))
    return response


class SpeedDatingServicer(MatchingService):
    """`MatchingService` and `SpeedDatingService.PlanSpeedDating` on one set of slots (register both)."""

    def PlanSpeedDating(self, request: sdpb.PlanSpeedDatingRequest, context: grpc.ServicerContext
                        ) -> sdpb.PlanSpeedDatingResponse:
        def body(call: Any) -> sdpb.PlanSpeedDatingResponse:
            self._refuse_too_large(call, request.cohort)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._plan(call, context, request, slot))

        return self._unary("PlanSpeedDating", context, body)

    def _plan(self, call: Any, context: grpc.ServicerContext, request: sdpb.PlanSpeedDatingRequest, slot: Slot
              ) -> sdpb.PlanSpeedDatingResponse:
        requested = request.time_limit.ToNanoseconds() / 1e9 if request.HasField("time_limit") else (
            DEFAULT_TIME_LIMIT_S)
        options = plan_options_from_proto(request, bounded_time_limit(requested, context.time_remaining(),
                                                                      self.limits))
        extra = [mapping.problem_to_proto(p, "") for p in option_problems(options, prefix="")]
        checked = self._checked(call, request.cohort, request.HasField("cohort"), mpb.MatchOptions(), False, slot.stop,
                                extra, "PLAN_INVALID")
        plan = plan_speed_dating(checked.cohort, dataclasses.replace(options, stop=slot.stop))
        call.fields.update(status=plan.status.value, meetings=len(plan.meetings), plan_s=round(plan.stats.wall_s, 4),
                      rounds=plan.rounds)
        response = plan_to_proto(plan, request.label)
        response.warnings.extend(checked.warnings)
        return response


def speed_dating_handlers(service: SpeedDatingServicer) -> grpc.GenericRpcHandler:
    """The SpeedDatingService's method for `grpc.Server.add_generic_rpc_handlers`."""
    return grpc.method_handlers_generic_handler(SPEED_DATING_SERVICE_NAME, {
        "PlanSpeedDating": grpc.unary_unary_rpc_method_handler(
            *solving_method(service, "PlanSpeedDating", service.PlanSpeedDating, sdpb.PlanSpeedDatingRequest),
            sdpb.PlanSpeedDatingResponse.SerializeToString),
    })

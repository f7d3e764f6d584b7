"""The `mentormatch.v1.ShortlistService` servicer: Shortlist on the server's slots, limits and errors.

It is `MatchingService` with one more method, so a shortlist shares the server's solve slots, size caps,
deadline handling, drain and error statuses: checked (every problem of the cohort and the options at once, at
its request path: `cohort.mentors[2].languages`, `size`), then made on a slot's thread with the slot's stop
(the call's deadline and cancellation), then converted (`shortlists_to_proto`, which `mentormatch shortlist
--json` prints too), identifiers only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc

from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import shortlist_pb2 as slpb
from server import convert as mapping
from server.checks import bounded_time_limit
from server.service import MatchingService, solving_method
from server.slots import Slot
from solver.explain.codes import Side
from solver.shortlist import DEFAULT_SIZE, ShortlistOptions, Shortlists, option_problems, shortlist

SHORTLIST_SERVICE_NAME: str = slpb.DESCRIPTOR.services_by_name["ShortlistService"].full_name
"""`mentormatch.v1.ShortlistService`: the name in method paths, health checks and reflection."""

DEFAULT_TIME_LIMIT_S = 30.0


def shortlist_options_from_proto(request: slpb.ShortlistRequest, time_limit_s: float) -> ShortlistOptions:
    """The request's options (`size` 0 is the default; an unspecified side is the mentees')."""
    return ShortlistOptions(size=request.size or DEFAULT_SIZE,
                            side=Side.MENTOR if request.side == mpb.SIDE_MENTOR else Side.MENTEE,
                            max_lists=request.max_lists if request.HasField("max_lists") else None,
                            time_limit_s=time_limit_s, seed=request.seed)


def shortlists_to_proto(lists: Shortlists, label: str = "", warnings: list[mpb.InputProblem] | None = None
                        ) -> slpb.ShortlistResponse:
    """The shortlists as the contract's response (the engine's dataclasses mirror its messages field for field)."""
    response = mapping.to_message(lists, slpb.ShortlistResponse(label=label))
    stats = lists.stats
    response.statistics.CopyFrom(slpb.ShortlistStatistics(
        candidate_pairs=stats.candidate_pairs, evaluated_pairs=stats.evaluated_pairs, resolves=stats.resolves,
        wall_time=mapping.duration(stats.wall_s), costs_time=mapping.duration(stats.costs_s)))
    response.warnings.extend(warnings or [])
    return response


class ShortlistServicer(MatchingService):
    """`MatchingService` and `ShortlistService.Shortlist` on one set of slots (register both)."""

    def Shortlist(self, request: slpb.ShortlistRequest, context: grpc.ServicerContext) -> slpb.ShortlistResponse:
        def body(call: Any) -> slpb.ShortlistResponse:
            self._refuse_too_large(call, request.cohort)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._shortlist(call, context, request, slot))

        return self._unary("Shortlist", context, body)

    def _shortlist(self, call: Any, context: grpc.ServicerContext, request: slpb.ShortlistRequest, slot: Slot
                   ) -> slpb.ShortlistResponse:
        requested = (request.time_limit.ToNanoseconds() / 1e9 if request.HasField("time_limit")
                     else DEFAULT_TIME_LIMIT_S)
        options = shortlist_options_from_proto(request, requested)
        extra = [mapping.problem_to_proto(p, "") for p in option_problems(options) if p.path != "time_limit_s"]
        if request.HasField("time_limit") and not (requested > 0 and 0 <= request.time_limit.nanos < 10**9):
            extra.append(mpb.InputProblem(code=mpb.PROBLEM_CODE_BAD_VALUE, field_path="time_limit",
                                          message="the time limit must be more than 0 s (leave it out for the default)"))
        if request.side not in (mpb.SIDE_UNSPECIFIED, mpb.SIDE_MENTEE, mpb.SIDE_MENTOR):
            extra.append(mpb.InputProblem(code=mpb.PROBLEM_CODE_BAD_VALUE, field_path="side",
                                          message=f"{request.side} is no Side (SIDE_MENTEE or SIDE_MENTOR)"))
        checked = self._checked(call, request.cohort, request.HasField("cohort"), mpb.MatchOptions(), False, slot.stop,
                                extra, "SHORTLIST_INVALID")
        # The time limit once the checks are done: what is left before the deadline, less the answer's margin.
        limit = bounded_time_limit(requested, context.time_remaining(), self.limits)
        lists = shortlist(checked.cohort, dataclasses.replace(options, time_limit_s=limit, stop=slot.stop))
        call.fields.update(status=lists.status.value, lists=len(lists.lists), clashes=len(lists.clashes),
                           complete=lists.complete, evaluated_pairs=lists.stats.evaluated_pairs,
                           shortlist_s=round(lists.stats.wall_s, 4))
        return shortlists_to_proto(lists, request.label, checked.warnings)


def shortlist_handlers(service: ShortlistServicer) -> grpc.GenericRpcHandler:
    """The ShortlistService's method for `grpc.Server.add_generic_rpc_handlers`."""
    return grpc.method_handlers_generic_handler(SHORTLIST_SERVICE_NAME, {
        "Shortlist": grpc.unary_unary_rpc_method_handler(
            *solving_method(service, "Shortlist", service.Shortlist, slpb.ShortlistRequest),
            slpb.ShortlistResponse.SerializeToString),
    })

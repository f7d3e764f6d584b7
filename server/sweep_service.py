"""The `mentormatch.v1.SweepService` servicer: a grid of rule settings over one cohort, streamed setting by setting.

It is `MatchingService` with one more method, so a sweep shares the server's solve slots, limits, metrics,
drain and error statuses: a sweep takes one slot for all its settings (as CompareScenarios does for its
scenarios), solves them one after another on the slot's thread, and streams each outcome as it is ready;
the summary with the Pareto frontier comes last. The cohort, the grid and its values are checked before anything
is solved, every problem at once at its request path (`axes[0].values[1].rules.field_depth`).
"""

from __future__ import annotations

import dataclasses
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc

from mentormatch.v1 import sweep_pb2 as spb
from server import convert as mapping
from server.distributed import sweep_outcome_to_proto
from server.service import MatchingService, solving_method
from server.slots import Slot
from solver.compare import label_problems
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.sweep import MAX_SETTINGS, AxisValue, Grid, GridAxis, check_values, finish, solve_setting

SWEEP_SERVICE_NAME: str = spb.DESCRIPTOR.services_by_name["SweepService"].full_name
"""`mentormatch.v1.SweepService`: the name in method paths, health checks and reflection."""

def grid_from_proto(axes: Any) -> tuple[Grid, list[Problem]]:
    """The request's axes as a grid, and every problem with them at its request path."""
    problems: list[Problem] = []
    grid_axes = []
    if not axes:
        problems.append(Problem(ProblemCode.BAD_VALUE, "axes", "at least one axis is required"))
    for a, axis in enumerate(axes):
        path = f"axes[{a}]"
        if not axis.rule:
            problems.append(Problem(ProblemCode.BAD_VALUE, f"{path}.rule", "name the rule the axis varies"))
        # What the outcomes echo is plain text, as a what-if label: a terminal would act on a control character.
        problems += label_problems({f"{path}.rule": axis.rule} | {f"{path}.values[{k}].label": value.label
                                                                  for k, value in enumerate(axis.values)})
        if not axis.values:
            problems.append(Problem(ProblemCode.BAD_VALUE, f"{path}.values", "an axis needs at least one value"))
        values = []
        for k, value in enumerate(axis.values):
            changes, found = mapping.scenario_changes_from_proto(value, f"{path}.values[{k}]")
            problems += found
            values.append(AxisValue(value.label or f"{axis.rule} {k + 1}", changes, f"{path}.values[{k}]"))
        grid_axes.append(GridAxis(axis.rule, tuple(values)))
    grid = Grid(tuple(grid_axes))
    if grid_axes and grid.size() > MAX_SETTINGS:
        problems.append(Problem(ProblemCode.TOO_LARGE, "axes", f"{grid.size()} settings; a sweep solves at most "
                                                               f"{MAX_SETTINGS}"))
    return grid, problems


def _request_path(problem: Problem) -> Problem:
    """A grid problem at the request's field: weights sit beside the rules in a `Scenario`, not inside them."""
    return dataclasses.replace(problem, path=problem.path.replace(".rules.weights", ".weights", 1))


def _value_problems(cohort: Cohort, grid: Grid, grid_problems: list[Problem]) -> list[Problem]:
    """Every axis value's problems, beside the grid's own: the whole grid's checks (combinations too dense
    included) when the grid is sound, else each axis alone (a grid too large is not multiplied out)."""
    grids = [grid] if not grid_problems else [Grid((axis,)) for axis in grid.axes]
    problems: list[Problem] = []
    for each in grids:
        try:
            check_values(cohort, each)
        except CohortInvalid as invalid:
            problems += invalid.problems
    return problems


class SweepingService(MatchingService):
    """`MatchingService` and `SweepService.Sweep` on one set of slots (the server registers both)."""

    def Sweep(self, request: spb.SweepRequest, context: grpc.ServicerContext
              ) -> Iterator[spb.SweepResponse]:
        call = self.start_call("Sweep")
        try:
            self._refuse_too_large(call, request.cohort)
            call.fields["axes"] = len(request.axes)
            slot = self._take_slot(context)
        except Exception as error:
            self._fail(call, context, error)
            raise
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        for kind, value in self.stream_slot_work(call, context, slot, events,
                                                 lambda: self._sweep(call, context, request, slot, events.put)):
            yield spb.SweepResponse(outcome=value) if kind == "outcome" else spb.SweepResponse(summary=value)

    def _sweep(self, call: Any, context: grpc.ServicerContext, request: spb.SweepRequest, slot: Slot,
               emit: Callable[[tuple[str, Any]], None]) -> spb.SweepSummary:
        grid, grid_problems = grid_from_proto(request.axes)
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, True, slot.stop)
        cohort_problems = list(checked.problems)
        value_problems = _value_problems(checked.cohort, grid, grid_problems) if not cohort_problems else []
        problems = cohort_problems + [mapping.problem_to_proto(_request_path(p), "")
                                      for p in grid_problems + value_problems]
        call.fields["problems"] = len(problems)
        if problems:
            raise self._reject(problems, "COHORT_INVALID" if cohort_problems else "SWEEP_INVALID")
        settings = grid.settings()
        call.fields["settings"] = len(settings)
        limit = self._share(context, checked.options.solve.time_limit_s, len(settings))
        # The solves end a margin before the deadline, by a deadline of their own: a stop by it is a DEADLINE (a
        # timer setting the stop's event read as a cancellation, and the call ended CANCELLED before its deadline).
        stop = self._margin_stop(slot)
        options = dataclasses.replace(checked.options.solve, alternatives=1, time_limit_s=limit, stop=stop)
        outcomes = []
        for setting in settings:
            stop.check()
            started = time.perf_counter()
            outcome = solve_setting(checked.cohort, setting, options)  # a setting that fails is its row
            self._observe(outcome.status, time.perf_counter() - started, outcome.mentees,
                          len(checked.cohort.mentors), outcome.matched)
            outcomes.append(outcome)
            emit(("outcome", sweep_outcome_to_proto(outcome)))
        swept = finish(request.label, grid, outcomes)
        call.fields.update(failed=sum(not o.ok for o in outcomes), time_limit_s=round(limit, 4))
        return spb.SweepSummary(label=request.label, axes=swept.axes, settings=len(outcomes), pareto=swept.pareto,
                                failed=sum(not o.ok for o in outcomes), warnings=checked.warnings)


def sweep_handlers(service: SweepingService) -> grpc.GenericRpcHandler:
    """The SweepService's method for `grpc.Server.add_generic_rpc_handlers`."""
    return grpc.method_handlers_generic_handler(SWEEP_SERVICE_NAME, {
        "Sweep": grpc.unary_stream_rpc_method_handler(*solving_method(service, "Sweep", service.Sweep, spb.SweepRequest),
                                                      spb.SweepResponse.SerializeToString),
    })


"""The `mentormatch.v1.MatchingService` servicer: request checks, concurrency slots, deadlines, cancellation, errors.

The solving and explaining is the library's (`solver`); the proto <-> domain mapping is `server.mapping`'s.
This module owns what a call needs around them: size and option checks before any work, one
concurrency slot per solve (refused fast when none is free), the time limit bounded by the call's
deadline, the solver stopped when the client goes away, rich error details, and a log line with
counts and durations only.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server import mapping
from server.metrics import ServiceMetrics
from solver import explain
from solver.compare import COUNTERFACTUAL_BUDGET, Scenario, compare_scenarios
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.rematch import rematch
from solver.solve import Progress, SolveOptions, SolveResult, solve
from solver.stability import audit
from solver.validate import validate

ERROR_DOMAIN = "mentormatch.v1"
"""`google.rpc.ErrorInfo.domain` of every error this service raises."""

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceLimits:
    """What one server takes: the knobs of `ServerConfig` that the servicer reads."""

    max_concurrent: int = 2
    max_participants: int = 20_000
    max_time_limit_s: float = 300.0
    min_deadline_margin_s: float = 0.05  # kept free before the deadline to build and send the answer
    deadline_margin_share: float = 0.15  # ... or this share of the time left, whichever is more (at most 2 s)
    max_violations: int = 1000  # violations listed in one error's BadRequest
    max_error_details_bytes: int = 6000  # ... and their size: clients drop trailers above ~8 KiB


class ServiceError(Exception):
    """A call ends with this status (raised inside handlers, turned into the call's status in one place)."""

    def __init__(self, status: grpc.Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason  # for the log: an ErrorInfo reason or a short code, no input values


def _status(code: int, message: str, *details: Any) -> grpc.Status:
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    return rpc_status.to_status(status_pb2.Status(code=code, message=message, details=packed))


def error_info(reason: str, **metadata: object) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN,
                                       metadata={k: str(v) for k, v in metadata.items()})


def invalid_argument(problems: Sequence[mpb.InputProblem], *, reason: str, max_violations: int,
                     max_bytes: int) -> ServiceError:
    """INVALID_ARGUMENT with a BadRequest listing the problems (capped by count and size) and an ErrorInfo."""
    bad = error_details_pb2.BadRequest()
    size = 0
    for problem in problems[:max_violations]:
        code = mapping.problem_code_name(problem.code)
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=problem.field_path, description=f"{code}: {problem.message}", reason=code)
        size += violation.ByteSize() + 4
        if size > max_bytes and bad.field_violations:
            break
        bad.field_violations.append(violation)
    listed, total = len(bad.field_violations), len(problems)
    message = f"the request has {total} problem(s)"
    if listed < total:
        message += f"; the first {listed} are listed (call with validate_only=true to get every one)"
    info = error_info(reason, problems=total, listed=listed)
    return ServiceError(_status(code_pb2.INVALID_ARGUMENT, message, bad, info), reason)


# Concurrency -------------------------------------------------------------------------------------------


class Slot:
    """One concurrency slot, released once however many times `release` is called."""

    def __init__(self, owner: SolveSlots) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._held = True
        self.stop = threading.Event()

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._owner._give_back(self)

    def cancel(self) -> None:
        """Stop the solve at once and free the slot (the client went away, or the server is stopping)."""
        self.stop.set()
        self.release()


class SolveSlots:
    """A fixed number of concurrent solves; `try_take` never waits."""

    def __init__(self, capacity: int, metrics: ServiceMetrics) -> None:
        if capacity < 1:
            raise ValueError("max_concurrent must be 1 or more")
        self._semaphore = threading.BoundedSemaphore(capacity)
        self._active: set[Slot] = set()
        self._lock = threading.Lock()
        self._metrics = metrics
        metrics.solve_slots.set(capacity)

    def try_take(self) -> Slot | None:
        if not self._semaphore.acquire(blocking=False):
            return None
        slot = Slot(self)
        with self._lock:
            self._active.add(slot)
        self._metrics.solves_in_flight.inc()
        return slot

    def _give_back(self, slot: Slot) -> None:
        with self._lock:
            self._active.discard(slot)
        self._metrics.solves_in_flight.dec()
        self._semaphore.release()

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def stop_all(self) -> int:
        """Ask every running solve to stop now and answer with what it has (used when draining)."""
        with self._lock:
            active = list(self._active)
        for slot in active:
            slot.stop.set()
        return len(active)


# Request checks -----------------------------------------------------------------------------------------


def _under(path: str, parents: set[str]) -> bool:
    return any(path.startswith(parent + ".") or path.startswith(parent + "[") for parent in parents)


@dataclass
class Checked:
    """A request after its checks: the cohort and options in domain terms, or the problems found."""

    cohort: Cohort
    options: mapping.RequestOptions
    problems: list[mpb.InputProblem] = field(default_factory=list)


def check_request(cohort_msg: pb.Cohort, has_cohort: bool, options_msg: mpb.MatchOptions,
                  limits: ServiceLimits) -> Checked:
    """Every problem of a request's cohort and options at once, with field paths relative to the request."""
    options, option_problems = mapping.options_from_proto(options_msg)
    cohort, mapping_problems = mapping.cohort_from_proto_checked(cohort_msg)
    problems: list[Problem] = list(option_problems)
    if not has_cohort:
        problems.append(Problem(ProblemCode.BAD_VALUE, "", "the cohort is required"))
    problems += mapping_problems
    reported = {p.path for p in mapping_problems}
    # A problem the mapping found (a missing location) is not reported again by validation (its lat/lon).
    problems += [p for p in validate(cohort, max_participants=limits.max_participants)
                 if not _under(mapping.proto_field_path(p.path, ""), reported)]
    if options.solve.stable and importlib.util.find_spec("solver.stability") is None:
        problems.append(Problem(ProblemCode.BAD_VALUE, "options.stable",
                                "stable matchings are not available in this version of the service"))
    out = [mapping.problem_to_proto(p, "" if p.path.startswith("options.") else mapping.ROOT_FIELD)
           for p in problems]
    # Once valid, participants in id order: the order of the request's rows decides no tie (README).
    return Checked(cohort if out else cohort.canonical(), options, out)


def too_large(cohort_msg: pb.Cohort, limits: ServiceLimits) -> ServiceError | None:
    """Refuse a cohort above the size cap before reading any of it (INVALID_ARGUMENT, reason COHORT_TOO_LARGE)."""
    participants = len(cohort_msg.mentors) + len(cohort_msg.mentees)
    if participants <= limits.max_participants:
        return None
    problem = mpb.InputProblem(
        code=mpb.PROBLEM_CODE_TOO_LARGE, field_path=mapping.ROOT_FIELD,
        message=f"{participants} participants; this service takes at most {limits.max_participants}")
    bad = error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
        field=problem.field_path, description=f"TOO_LARGE: {problem.message}", reason="TOO_LARGE")])
    info = error_info("COHORT_TOO_LARGE", participants=participants, max_participants=limits.max_participants)
    return ServiceError(_status(code_pb2.INVALID_ARGUMENT, problem.message, bad, info), "COHORT_TOO_LARGE")


def bounded_time_limit(requested: float, remaining: float | None, limits: ServiceLimits) -> float:
    """The solve's time limit: the request's, at most the service maximum, and ending a margin before the deadline."""
    limit = min(requested, limits.max_time_limit_s)
    if remaining is not None:
        limit = min(limit, remaining - deadline_margin(remaining, limits))
    return max(0.01, limit)


def deadline_margin(remaining: float, limits: ServiceLimits) -> float:
    """Seconds kept free before a call's deadline to build and send the answer."""
    return min(2.0, max(limits.min_deadline_margin_s, limits.deadline_margin_share * remaining))


# Explanations -------------------------------------------------------------------------------------------

EXPLAIN_MAX_PEOPLE = 20
"""Unmatched people of the best matching whose explanation re-solves (forcing in, counterfactuals): as the CLI."""


def explanation_of(result: SolveResult, level: str, budget_s: float) -> explain.Explanation | None:
    """PAIRS: why each pair of every matching, and its blocking pairs (no re-solves); FULL: everything
    `solver.explain.explain` gives, its re-solves within `budget_s` seconds; NONE: nothing."""
    if level == "NONE":
        return None
    if level == "PAIRS":
        candidates = result.candidates
        return explain.Explanation(tuple(
            explain.MatchingExplanation(m.rank, tuple(explain.explain_pairs(candidates, m.rows)), (), (),
                                        audit(candidates, m.rows))
            for m in result.matchings), (), ())
    budget = max(0.0, budget_s)
    options = explain.ExplainOptions(max_people=EXPLAIN_MAX_PEOPLE, time_budget_s=budget,
                                     resolve_time_limit_s=min(explain.ExplainOptions.resolve_time_limit_s, budget),
                                     stability_pairs_listed=mapping.STABILITY_PAIRS_LISTED)
    return explain.explain(result, options)


# The servicer ------------------------------------------------------------------------------------------


@dataclass
class _Call:
    """Per-call bookkeeping for the log line."""

    method: str
    started: float = field(default_factory=time.perf_counter)
    fields: dict[str, object] = field(default_factory=dict)


class MatchingService:
    """The servicer: thin handlers over `check_request`, `solve` and `mapping`; every failure is a clean status."""

    def __init__(self, limits: ServiceLimits, metrics: ServiceMetrics, logger: logging.Logger) -> None:
        self.limits = limits
        self.metrics = metrics
        self.slots = SolveSlots(limits.max_concurrent, metrics)
        self.log = logger

    # --- the one place where failures become statuses ---

    def _fail(self, call: _Call, context: grpc.ServicerContext, error: BaseException) -> None:
        if isinstance(error, ServiceError):
            status, outcome = error.status, error.reason
            level = logging.INFO
        else:
            incident = uuid.uuid4().hex[:12]
            # Type and stack only (the formatter drops the exception's message, which may quote input).
            self.log.error("internal_error", exc_info=error,
                           extra={"fields": {"method": call.method, "incident": incident}})
            status = _status(code_pb2.INTERNAL, f"internal error (incident {incident}); it was logged",
                             error_info("INTERNAL", incident=incident))
            outcome, level = "INTERNAL", logging.ERROR
        self._log_call(call, outcome, level)
        context.abort_with_status(status)

    def _log_call(self, call: _Call, outcome: str, level: int = logging.INFO) -> None:
        fields = {"method": call.method, "outcome": outcome,
                  "duration_s": round(time.perf_counter() - call.started, 4), **call.fields}
        self.log.log(level, "call", extra={"fields": fields})

    def _unary(self, method: str, context: grpc.ServicerContext, body: Callable[[_Call], T]) -> T:
        call = _Call(method)
        try:
            response = body(call)
        except Exception as error:  # every failure: one status, never a traceback to the client
            self._fail(call, context, error)
            raise  # abort_with_status raised already; this line is never reached
        self._log_call(call, "OK")
        return response

    # --- shared steps ---

    def _take_slot(self, context: grpc.ServicerContext) -> Slot:
        slot = self.slots.try_take()
        if slot is None:
            self.metrics.rejected.labels("busy").inc()
            raise ServiceError(_status(
                code_pb2.RESOURCE_EXHAUSTED,
                f"the service is busy ({self.limits.max_concurrent} solve(s) running); retry with backoff",
                error_info("SOLVER_BUSY", max_concurrent=self.limits.max_concurrent),
                error_details_pb2.RetryInfo(retry_delay={"nanos": 500_000_000})), "SOLVER_BUSY")
        # On cancellation or a passed deadline the callback stops the solver and frees the slot at once.
        if not context.add_callback(slot.cancel):
            slot.cancel()
        return slot

    def _refuse_too_large(self, cohort_msg: pb.Cohort) -> None:
        """Cohorts above the size cap are refused before anything else is read, and counted."""
        refused = too_large(cohort_msg, self.limits)
        if refused is not None:
            self.metrics.rejected.labels("too_large").inc()
            raise refused

    def _checked(self, call: _Call, cohort_msg: pb.Cohort, has_cohort: bool, options_msg: mpb.MatchOptions,
                 validate_only: bool, extra: Sequence[mpb.InputProblem] = (), extra_reason: str = "COHORT_INVALID"
                 ) -> Checked:
        """The request's checks; INVALID_ARGUMENT with every problem (`extra` ones too, found by the caller) unless
        `validate_only`. The reason is COHORT_INVALID, or `extra_reason` when only `extra` problems were found."""
        self._refuse_too_large(cohort_msg)
        call.fields.update(mentees=len(cohort_msg.mentees), mentors=len(cohort_msg.mentors))
        checked = check_request(cohort_msg, has_cohort, options_msg, self.limits)
        reason = "COHORT_INVALID" if checked.problems else extra_reason
        checked.problems += extra
        call.fields["problems"] = len(checked.problems)
        if checked.problems and not validate_only:
            raise self._reject(checked.problems, reason)
        return checked

    def _solve(self, call: _Call, context: grpc.ServicerContext, checked: Checked, slot: Slot,
               on_progress: Callable[[Progress], None] | None = None,
               adjust: Callable[[SolveOptions], SolveOptions] | None = None,
               cohort: Cohort | None = None) -> tuple[SolveResult, float]:
        options = checked.options.solve
        limit = bounded_time_limit(options.time_limit_s, context.time_remaining(), self.limits)
        options = dataclasses.replace(options, time_limit_s=limit, stop=slot.stop, on_progress=on_progress)
        if adjust is not None:
            options = adjust(options)
        target = checked.cohort if cohort is None else cohort
        result = solve(target, options)
        participants = len(target.mentors) + len(target.mentees)
        self.metrics.solve_seconds.labels(result.status.value).observe(result.stats.wall_s)
        self.metrics.cohort_participants.observe(participants)
        if target.mentees and result.best is not None:
            self.metrics.matched_ratio.observe(result.best.objective.matched / len(target.mentees))
        call.fields.update(status=result.status.value, matchings=len(result.matchings),
                           candidate_pairs=result.stats.candidate_pairs, solve_s=round(result.stats.wall_s, 4),
                           time_limit_s=round(limit, 4), stopped=slot.stop.is_set())
        return result, limit

    def _validated_response(self, checked: Checked, label: str, cohort_msg: pb.Cohort) -> mpb.MatchResponse:
        return mpb.MatchResponse(label=label, problems=checked.problems, mode=mpb.OBJECTIVE_MODE_UNSPECIFIED,
                                 mentee_count=len(cohort_msg.mentees), mentor_count=len(cohort_msg.mentors))

    def _match(self, call: _Call, context: grpc.ServicerContext, request: mpb.MatchRequest | mpb.StreamMatchRequest,
               on_progress: Callable[[Progress], None] | None = None) -> mpb.MatchResponse:
        # Checked before a slot is taken: a broken cohort gets INVALID_ARGUMENT even while the service is busy,
        # not RESOURCE_EXHAUSTED (a client would otherwise retry it with backoff).
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options,
                                request.validate_only)
        if request.validate_only:
            return self._validated_response(checked, request.label, request.cohort)
        slot = self._take_slot(context)
        try:
            result, limit = self._solve(call, context, checked, slot, on_progress)
            response = mapping.match_response_from_result(result, label=request.label, time_limit_s=limit)
            level = checked.options.explain
            budget = bounded_time_limit(self.limits.max_time_limit_s, context.time_remaining(), self.limits)
            explanation = explanation_of(result, level, 0.0 if slot.stop.is_set() else budget)
            if explanation is not None:
                response.explanation.CopyFrom(mapping.explanation_to_proto(explanation))
            call.fields["explain"] = level
            return response
        finally:
            slot.release()

    # --- RPCs ---

    def Match(self, request: mpb.MatchRequest, context: grpc.ServicerContext) -> mpb.MatchResponse:
        return self._unary("Match", context, lambda call: self._match(call, context, request))

    def StreamMatch(self, request: mpb.StreamMatchRequest, context: grpc.ServicerContext
                    ) -> Iterator[mpb.StreamMatchResponse]:
        call = _Call("StreamMatch")
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def progress(p: Progress) -> None:
            elapsed = mapping.duration(p.elapsed_s)
            events.put(("progress", mpb.MatchProgress(matching_rank=p.matching_rank, objective_value=p.objective,
                                                      objective_bound=p.bound, elapsed=elapsed)))

        def run() -> None:
            try:
                events.put(("result", self._match(call, context, request, progress)))
            except BaseException as error:  # handed to the streaming thread, which turns it into a status
                events.put(("error", error))

        worker = threading.Thread(target=run, name="mentormatch-stream-solve", daemon=True)
        worker.start()
        try:
            while True:
                try:
                    kind, value = events.get(timeout=0.25)
                except queue.Empty:
                    if context.is_active():
                        continue
                    break  # the client went away; the slot was freed by the cancellation callback
                if kind == "progress":
                    yield mpb.StreamMatchResponse(progress=value)
                elif kind == "result":
                    yield mpb.StreamMatchResponse(result=value)
                    break
                else:
                    raise value
        except Exception as error:
            self._fail(call, context, error)
            raise
        if context.is_active():
            self._log_call(call, "OK")
        else:
            self._log_call(call, "CANCELLED")

    def ExplainPair(self, request: mpb.ExplainPairRequest, context: grpc.ServicerContext) -> mpb.ExplainPairResponse:
        return self._unary("ExplainPair", context, lambda call: self._explain_pair(call, context, request))

    def _explain_pair(self, call: _Call, context: grpc.ServicerContext, request: mpb.ExplainPairRequest
                      ) -> mpb.ExplainPairResponse:
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False)
        cohort = checked.cohort
        missing = []
        if request.mentee_id not in cohort.mentee_index():
            missing.append(mpb.InputProblem(code=mpb.PROBLEM_CODE_UNKNOWN_ID, field_path="mentee_id",
                                            message="no mentee of the cohort has this id"))
        if request.mentor_id not in cohort.mentor_index():
            missing.append(mpb.InputProblem(code=mpb.PROBLEM_CODE_UNKNOWN_ID, field_path="mentor_id",
                                            message="no mentor of the cohort has this id"))
        if missing:
            raise invalid_argument(missing, reason="UNKNOWN_PARTICIPANT", max_violations=self.limits.max_violations,
                                   max_bytes=self.limits.max_error_details_bytes)
        slot = self._take_slot(context)
        try:
            # The baseline gets half the time; the forced re-solve what is left, so both fit the deadline.
            half = lambda o: dataclasses.replace(o, alternatives=1, time_limit_s=o.time_limit_s / 2)  # noqa: E731
            baseline, _ = self._solve(call, context, checked, slot, adjust=half)
            remaining = bounded_time_limit(checked.options.solve.time_limit_s, context.time_remaining(), self.limits)
            options = dataclasses.replace(baseline.options, time_limit_s=remaining)
            verdict = explain.why_not(cohort, request.mentee_id, request.mentor_id, options,
                                      result=dataclasses.replace(baseline, options=options))
            call.fields.update(allowed=verdict.allowed, forced=verdict.forced is not None)
            return mapping.verdict_to_proto(verdict, request.label)
        finally:
            slot.release()

    def CompareScenarios(self, request: mpb.CompareScenariosRequest, context: grpc.ServicerContext
                         ) -> mpb.CompareScenariosResponse:
        return self._unary("CompareScenarios", context, lambda call: self._compare(call, context, request))

    def Rematch(self, request: mpb.RematchRequest, context: grpc.ServicerContext) -> mpb.RematchResponse:
        return self._unary("Rematch", context, lambda call: self._rematch(call, context, request))

    # --- workflows ---

    def _deadline_guard(self, context: grpc.ServicerContext, slot: Slot) -> threading.Timer | None:
        """Stop the solver shortly before the deadline, whatever a workflow's solves were given (a safety net:
        the workflows share the time out among their solves already)."""
        remaining = context.time_remaining()
        if remaining is None:
            return None
        timer = threading.Timer(max(0.0, remaining - deadline_margin(remaining, self.limits)), slot.stop.set)
        timer.daemon = True
        timer.start()
        return timer

    def _share(self, context: grpc.ServicerContext, requested: float, parts: int) -> float:
        """A time limit for one of `parts` solves run one after another within the call's deadline."""
        remaining = context.time_remaining()
        return bounded_time_limit(requested, None if remaining is None else remaining / parts, self.limits)

    def _observe(self, status: str, seconds: float, mentees: int, mentors: int, matched: int) -> None:
        self.metrics.solve_seconds.labels(status).observe(seconds)
        self.metrics.cohort_participants.observe(mentees + mentors)
        if mentees:
            self.metrics.matched_ratio.observe(matched / mentees)

    def _reject(self, problems: Sequence[mpb.InputProblem], reason: str) -> ServiceError:
        self.metrics.rejected.labels("invalid").inc()
        return invalid_argument(problems, reason=reason, max_violations=self.limits.max_violations,
                                max_bytes=self.limits.max_error_details_bytes)

    def _compare(self, call: _Call, context: grpc.ServicerContext, request: mpb.CompareScenariosRequest
                 ) -> mpb.CompareScenariosResponse:
        self._refuse_too_large(request.cohort)
        call.fields.update(mentees=len(request.cohort.mentees), mentors=len(request.cohort.mentors),
                           scenarios=len(request.scenarios), counterfactuals=request.counterfactuals)
        checked = check_request(request.cohort, request.HasField("cohort"), request.options, self.limits)
        base_broken = any(not p.field_path.startswith("options") for p in checked.problems)
        scenarios, scenario_problems = mapping.scenarios_from_proto(
            checked.cohort, request.scenarios, apply=not base_broken, max_participants=self.limits.max_participants)
        problems = checked.problems + scenario_problems
        call.fields["problems"] = len(problems)
        if problems:
            raise self._reject(problems, "COHORT_INVALID" if base_broken else "SCENARIO_INVALID")
        slot = self._take_slot(context)
        guard = None
        try:
            parts = (1 + len(scenarios)) * (2 if request.counterfactuals else 1)
            options = checked.options.solve
            limit = self._share(context, options.time_limit_s, parts)
            options = dataclasses.replace(options, time_limit_s=limit, stop=slot.stop)
            budget = dataclasses.replace(COUNTERFACTUAL_BUDGET, time_budget_s=min(COUNTERFACTUAL_BUDGET.time_budget_s, limit),
                                         resolve_time_limit_s=min(COUNTERFACTUAL_BUDGET.resolve_time_limit_s, limit))
            guard = self._deadline_guard(context, slot)
            base = Scenario(label=request.base_label or mapping.DEFAULT_BASE_LABEL, cohort=checked.cohort)
            comparison = compare_scenarios([base, *scenarios], options, counterfactuals=request.counterfactuals,
                                           explain_options=budget)
            for outcome in comparison.scenarios:
                self._observe(outcome.status, outcome.solve_seconds, outcome.mentees, outcome.mentors, outcome.matched)
            call.fields.update(status=comparison.scenarios[0].status, time_limit_s=round(limit, 4),
                               stopped=slot.stop.is_set())
            return mapping.comparison_to_proto(comparison, request.label)
        finally:
            if guard is not None:
                guard.cancel()
            slot.release()

    def _rematch(self, call: _Call, context: grpc.ServicerContext, request: mpb.RematchRequest) -> mpb.RematchResponse:
        inputs, input_problems = mapping.rematch_inputs_from_proto(request)
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False,
                                input_problems, "REMATCH_INVALID")
        slot = self._take_slot(context)
        guard = None
        try:
            call.fields.update(current_pairs=len(inputs.current), left=len(inputs.left), joined=len(inputs.joined))
            # Two solves one after the other: the re-match and the fresh optimum it is measured against.
            limit = self._share(context, checked.options.solve.time_limit_s, 2)
            options = dataclasses.replace(checked.options.solve, time_limit_s=limit, stop=slot.stop)
            guard = self._deadline_guard(context, slot)
            started = time.perf_counter()
            try:
                result = rematch(checked.cohort, inputs.current, left=inputs.left, joined=inputs.joined,
                                 keep=inputs.keep, penalty=inputs.penalty, max_changes=inputs.max_changes,
                                 options=options)
            except CohortInvalid as invalid:
                problems = mapping.rematch_problems_to_proto(invalid.problems, checked.cohort, inputs)
                call.fields["problems"] = len(problems)
                raise self._reject(problems, "REMATCH_INVALID") from None
            self._observe(result.status, time.perf_counter() - started, result.mentees, result.mentors, result.matched)
            call.fields.update(status=result.status, disrupted_pairs=result.disrupted_pairs,
                               time_limit_s=round(limit, 4), stopped=slot.stop.is_set())
            return mapping.rematch_response_from_result(result, request.label)
        finally:
            if guard is not None:
                guard.cancel()
            slot.release()


SERVICE_NAME: str = mpb.DESCRIPTOR.services_by_name["MatchingService"].full_name
"""`mentormatch.v1.MatchingService`: the name in method paths, health checks and reflection."""


class _Undecodable:
    """What a request that is not a valid protobuf message of its method's type deserializes to."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def _lenient(message: Any) -> Callable[[bytes], Any]:
    """A deserializer that never raises: gRPC's own failure would answer INTERNAL, uncounted and unexplained."""

    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except Exception:  # DecodeError and whatever else malformed bytes provoke
            return _Undecodable(message.DESCRIPTOR.full_name)

    return parse


def _refuse_undecodable(service: MatchingService, name: str, method: Callable[[Any, grpc.ServicerContext], T]
                        ) -> Callable[[Any, grpc.ServicerContext], T]:
    def handle(request: Any, context: grpc.ServicerContext) -> T:
        if isinstance(request, _Undecodable):
            text = f"the request is not a valid {request.type_name} message"
            bad = error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
                field="", description=f"UNDECODABLE: {text}", reason="UNDECODABLE")])
            error = ServiceError(_status(code_pb2.INVALID_ARGUMENT, text, bad, error_info("REQUEST_UNDECODABLE")),
                                 "REQUEST_UNDECODABLE")
            service._fail(_Call(name), context, error)
        return method(request, context)

    return handle


def method_handlers(service: MatchingService) -> grpc.GenericRpcHandler:
    """The service's methods for `grpc.Server.add_generic_rpc_handlers` (what the generated `_pb2_grpc` would add)."""
    unary, stream = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler

    def guard(name: str, method: Callable[[Any, grpc.ServicerContext], T]) -> Callable[[Any, grpc.ServicerContext], T]:
        return _refuse_undecodable(service, name, method)

    return grpc.method_handlers_generic_handler(SERVICE_NAME, {
        "Match": unary(guard("Match", service.Match), _lenient(mpb.MatchRequest),
                       mpb.MatchResponse.SerializeToString),
        "StreamMatch": stream(guard("StreamMatch", service.StreamMatch), _lenient(mpb.StreamMatchRequest),
                              mpb.StreamMatchResponse.SerializeToString),
        "ExplainPair": unary(guard("ExplainPair", service.ExplainPair), _lenient(mpb.ExplainPairRequest),
                             mpb.ExplainPairResponse.SerializeToString),
        "CompareScenarios": unary(guard("CompareScenarios", service.CompareScenarios),
                                  _lenient(mpb.CompareScenariosRequest),
                                  mpb.CompareScenariosResponse.SerializeToString),
        "Rematch": unary(guard("Rematch", service.Rematch), _lenient(mpb.RematchRequest),
                         mpb.RematchResponse.SerializeToString),
    })

"""The `mentormatch.v1.MatchingService` servicer: request checks, concurrency slots, deadlines, cancellation, errors.

The solving and explaining is the library's (`solver`); the proto <-> domain conversion is `server.convert`'s.
This module owns what a call needs around them, cheapest first: the size cap (before reading the cohort),
one concurrency slot per call that solves (refused in milliseconds when none is free), then the full
checks and the candidate-pair budget inside the slot. A slot is held until its work has really ended: the
work runs on the slots' own threads and is given one stop (`solver.stop.StopToken`: the call's deadline and
its cancellation) that every phase checks, so a call that ends, is cancelled or is drained stops its work
within a fraction of a second. Then rich error details, and a log line with counts and durations only.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import importlib.util
import logging
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server import convert as mapping
from server.metrics import ServiceMetrics
from solver import explain
from solver.budget import MAX_CANDIDATE_PAIRS, estimate_pairs, too_dense
from solver.candidates import CohortArrays, cohort_arrays
from solver.compare import COUNTERFACTUAL_BUDGET, Scenario, compare_scenarios
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.rematch import rematch
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import Progress, SolveOptions, SolveResult, solve
from solver.stop import Stopped, StopReason, StopToken
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
    max_candidate_pairs: int = MAX_CANDIDATE_PAIRS  # pairs a cohort may make (solver.budget); beyond, INVALID_ARGUMENT
    explain_share: float = 0.4  # of the time before the deadline, kept from the solve for explanations (PAIRS, FULL)


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
    """One concurrency slot: taken before a call's work starts, given back once that work has really ended.

    `stop` is the work's one stop: the call's deadline, and an event set when the call is cancelled or the
    server drains. `cancel` only sets it; the work notices at its next check and its end releases the slot, so
    `--max-concurrent` bounds the work running (CPU, memory), not just the calls open.
    """

    def __init__(self, owner: SolveSlots, stop: StopToken) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._held = True
        self.stop = stop

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._owner._give_back(self)

    def cancel(self) -> None:
        """Ask the work to stop (the client went away); the slot is given back when the work has ended."""
        self.stop.set()


MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
"""glibc maps blocks from this size up on their own, so freeing them gives them back (`return_freed_memory`)."""
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def _glibc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()


def return_freed_memory() -> bool:
    """A fixed glibc mmap threshold of `MMAP_THRESHOLD_BYTES`: the arrays of a solve (megabytes each) are mapped on
    their own and go back to the system when freed. glibc otherwise raises the threshold (up to 32 MiB) after the
    first such block is freed, and from then on they come from the heap and stay resident. From 4 MiB on it costs
    no measurable speed (1 MiB cost 30 % on 3,000 x 3,000). Returns whether it took (glibc only)."""
    try:
        return _LIBC is not None and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except AttributeError:
        return False


def _trim_freed_memory() -> None:
    """Give the free pages of every glibc arena back to the system (0.2 ms on a quiet heap, ~40 ms after a dense
    solve). Measured: six abandoned 1,500 x 1,500 StreamMatch calls left 1,040 MiB resident without it, 155 with."""
    with contextlib.suppress(AttributeError):
        if _LIBC is not None:
            _LIBC.malloc_trim(0)


SOLVE_NICENESS = 10
"""Niceness of the solve threads (and of CP-SAT's, which inherit it): when solves keep every core busy, the
gRPC threads still answer health checks and refuse overload in milliseconds, ahead of the solves."""


def _lower_priority() -> None:
    """Run this thread at `SOLVE_NICENESS` (Linux: niceness is per thread; lowering priority needs no privilege)."""
    # Not Linux, or not allowed: solves run at the server's priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SOLVE_NICENESS)


class SolveSlots:
    """A fixed number of concurrent solves, each run on a thread of the slots' own pool; `try_take` never waits."""

    def __init__(self, capacity: int, metrics: ServiceMetrics) -> None:
        if capacity < 1:
            raise ValueError("max_concurrent must be 1 or more")
        self._semaphore = threading.BoundedSemaphore(capacity)
        self._active: set[Slot] = set()
        self._lock = threading.Lock()
        self._metrics = metrics
        # One thread per slot: a slot's work runs here and releases the slot as its last step.
        self._pool = futures.ThreadPoolExecutor(max_workers=capacity, thread_name_prefix="mentormatch-solve",
                                                initializer=_lower_priority)
        metrics.solve_slots.set(capacity)

    def try_take(self, deadline: float | None = None) -> Slot | None:
        """A slot whose work must end by `deadline` (time.monotonic(); None: no deadline), or None when all are busy."""
        if not self._semaphore.acquire(blocking=False):
            return None
        slot = Slot(self, StopToken(deadline=deadline))
        with self._lock:
            self._active.add(slot)
        self._metrics.solves_in_flight.inc()
        return slot

    def run(self, slot: Slot, work: Callable[[], T]) -> futures.Future[T]:
        """Run `work` on the slots' pool; the slot is released when it returns or raises, not before."""

        def job() -> T:
            try:
                return work()
            except BaseException as error:
                # The traceback's frames hold the work's locals (candidates, a model: a gigabyte on a dense cohort),
                # and a stopped StreamMatch's traceback is part of a reference cycle through its progress queue:
                # cleared here, the memory goes with the work, not whenever the garbage collector next runs.
                traceback.clear_frames(error.__traceback__)
                raise
            finally:
                _trim_freed_memory()  # before the slot is free: the next solve starts from a heap given back
                slot.release()

        try:
            return self._pool.submit(job)
        except BaseException:
            slot.release()
            raise

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
    arrays: CohortArrays | None = None  # of a valid cohort: what the pair budget counted, reused by the candidates


def check_request(cohort_msg: pb.Cohort, has_cohort: bool, options_msg: mpb.MatchOptions,
                  limits: ServiceLimits, stop: StopToken | None = None) -> Checked:
    """Every problem of a request's cohort and options at once, with field paths relative to the request; for a
    valid cohort also the candidate-pair budget (`solver.budget`: a cohort too dense is a TOO_LARGE problem).
    `stop` is checked between the steps (raises `Stopped`)."""
    stop = stop if stop is not None else StopToken()
    stop.check()  # a call cancelled while it waited for its thread is not even read
    options, option_problems = mapping.options_from_proto(options_msg)
    cohort, mapping_problems = mapping.cohort_from_proto_checked(cohort_msg)
    stop.check()
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
    stop.check()
    arrays = None
    if not any(not p.path.startswith("options.") for p in problems):
        # Once valid, participants in id order: the order of the request's rows decides no tie (README).
        cohort = cohort.canonical()
        arrays = cohort_arrays(cohort)
        dense = too_dense(arrays, estimate_pairs(arrays), limits.max_candidate_pairs)
        if dense is not None:
            problems.append(dense)
    out = [mapping.problem_to_proto(p, "" if p.path.startswith("options.") else mapping.ROOT_FIELD)
           for p in problems]
    return Checked(cohort, options, out, arrays)


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
RESOLVE_SHARE = 0.5
"""Of an explanation's time, what its re-solves may take; the rest explains every unmatched person without them."""


def explanation_of(result: SolveResult, level: str, stop: StopToken) -> explain.Explanation | None:
    """PAIRS: why each pair of every matching, and its blocking pairs (no re-solves); FULL: everything
    `solver.explain.explain` gives; NONE: nothing. Both end by `stop`'s deadline (FULL's re-solves included):
    what is not explained by then is left out, and the explanation says so (`truncated`, a note)."""
    if level == "NONE":
        return None
    # Re-solves get half the time: the other half explains everyone (reasons, funnels, nearest misses) without.
    budget = RESOLVE_SHARE * stop.remaining()
    options = explain.ExplainOptions(max_people=EXPLAIN_MAX_PEOPLE, time_budget_s=budget,
                                     resolve_time_limit_s=min(explain.ExplainOptions.resolve_time_limit_s, budget),
                                     stability_pairs_listed=mapping.STABILITY_PAIRS_LISTED, stop=stop,
                                     unmatched=level == "FULL")
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
        self._draining = False

    def start_call(self, method: str) -> _Call:
        """The bookkeeping of one call (its log line), for handlers of services built on this one."""
        return _Call(method)

    def begin_drain(self) -> None:
        """The server is stopping: a call whose work the drain stops before it has an answer gets UNAVAILABLE (call
        again: another replica answers), not CANCELLED."""
        self._draining = True

    # --- the one place where failures become statuses ---

    def _fail(self, call: _Call, context: grpc.ServicerContext, error: BaseException) -> None:
        if isinstance(error, Stopped):
            error = self._stopped(error)
        elif isinstance(error, CohortInvalid):  # a check inside the engine (a what-if cohort too dense, say)
            error = self._reject([mapping.problem_to_proto(p, mapping.ROOT_FIELD) for p in error.problems],
                                 "COHORT_INVALID")
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

    def _stopped(self, stopped: Stopped) -> ServiceError:
        """The status of a call whose work stopped before it had an answer (its client has mostly gone already)."""
        if self._draining:
            return ServiceError(_status(
                code_pb2.UNAVAILABLE, "the server is stopping; call again (another replica will answer)",
                error_info("SERVER_STOPPING"), error_details_pb2.RetryInfo(retry_delay={"nanos": 100_000_000})),
                "SERVER_STOPPING")
        if stopped.reason is StopReason.DEADLINE:
            return ServiceError(_status(code_pb2.DEADLINE_EXCEEDED, "the deadline passed before an answer was ready"),
                                "DEADLINE_EXCEEDED")
        return ServiceError(_status(code_pb2.CANCELLED, "the call was cancelled"), "CANCELLED")

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
        """A slot, or RESOURCE_EXHAUSTED with a RetryInfo at once: the first thing a call that solves does after the
        size cap, so overload is refused in milliseconds whatever the cohort."""
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:  # dead on arrival: no slot for it
            raise self._stopped(Stopped(StopReason.DEADLINE))
        slot = self.slots.try_take(None if remaining is None else time.monotonic() + remaining)
        if slot is None:
            self.metrics.rejected.labels("busy").inc()
            raise ServiceError(_status(
                code_pb2.RESOURCE_EXHAUSTED,
                f"the service is busy ({self.limits.max_concurrent} solve(s) running); retry with backoff",
                error_info("SOLVER_BUSY", max_concurrent=self.limits.max_concurrent),
                error_details_pb2.RetryInfo(retry_delay={"nanos": 500_000_000})), "SOLVER_BUSY")
        # On cancellation the callback stops the work; its end (not the callback) gives the slot back.
        if not context.add_callback(slot.cancel):
            slot.cancel()
        return slot

    def _in_slot(self, slot: Slot, work: Callable[[], T]) -> T:
        """Run a call's work on the slot's thread and wait for it: the slot is held until the work has ended."""
        return self.slots.run(slot, work).result()

    def _refuse_too_large(self, call: _Call, cohort_msg: pb.Cohort) -> None:
        """Cohorts above the size cap are refused before anything else is read, and counted."""
        call.fields.update(mentees=len(cohort_msg.mentees), mentors=len(cohort_msg.mentors))
        refused = too_large(cohort_msg, self.limits)
        if refused is not None:
            self.metrics.rejected.labels("too_large").inc()
            raise refused

    def _checked(self, call: _Call, cohort_msg: pb.Cohort, has_cohort: bool, options_msg: mpb.MatchOptions,
                 validate_only: bool, stop: StopToken | None = None, extra: Sequence[mpb.InputProblem] = (),
                 extra_reason: str = "COHORT_INVALID") -> Checked:
        """The request's checks; INVALID_ARGUMENT with every problem (`extra` ones too, found by the caller) unless
        `validate_only`. The reason is COHORT_INVALID, or `extra_reason` when only `extra` problems were found."""
        checked = check_request(cohort_msg, has_cohort, options_msg, self.limits, stop)
        reason = "COHORT_INVALID" if checked.problems else extra_reason
        checked.problems += extra
        call.fields["problems"] = len(checked.problems)
        if checked.problems and not validate_only:
            raise self._reject(checked.problems, reason)
        return checked

    def _solve(self, call: _Call, checked: Checked, slot: Slot, on_progress: Callable[[Progress], None] | None = None,
               adjust: Callable[[SolveOptions], SolveOptions] | None = None, share: float = 1.0
               ) -> tuple[SolveResult, float]:
        """Candidate pairs (the slot's stop checked between their chunks), then the solve, within `share` of the
        time left before the deadline less the answer's margin; returns the result and the time limit used."""
        candidates = candidate_pairs(checked.cohort, checked.arrays, stop=slot.stop,
                                     max_pairs=self.limits.max_candidate_pairs)
        return self._solve_candidates(call, candidates, checked.options.solve, slot, on_progress, adjust, share)

    def _solve_candidates(self, call: _Call, candidates: CandidatePairs, options: SolveOptions, slot: Slot,
                          on_progress: Callable[[Progress], None] | None = None,
                          adjust: Callable[[SolveOptions], SolveOptions] | None = None, share: float = 1.0
                          ) -> tuple[SolveResult, float]:
        slot.stop.check()
        remaining = slot.stop.remaining()
        limit = bounded_time_limit(options.time_limit_s, None if remaining == float("inf") else remaining * share,
                                   self.limits)
        options = dataclasses.replace(options, time_limit_s=limit, stop=slot.stop, on_progress=on_progress)
        if adjust is not None:
            options = adjust(options)
        result = solve(candidates, options)
        target = candidates.cohort
        participants = len(target.mentors) + len(target.mentees)
        self.metrics.solve_seconds.labels(result.status.value).observe(result.stats.wall_s)
        self.metrics.cohort_participants.observe(participants)
        if target.mentees and result.best is not None:
            self.metrics.matched_ratio.observe(result.best.objective.matched / len(target.mentees))
        call.fields.update(status=result.status.value, matchings=len(result.matchings),
                           candidate_pairs=result.stats.candidate_pairs, solve_s=round(result.stats.wall_s, 4),
                           time_limit_s=round(limit, 4), stopped=slot.stop.is_set())
        return result, limit

    def _validated_response(self, call: _Call, request: mpb.MatchRequest | mpb.StreamMatchRequest
                            ) -> mpb.MatchResponse:
        """validate_only: every problem as data, on the handler's thread (it needs no slot)."""
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, True)
        return mpb.MatchResponse(label=request.label, problems=checked.problems, mode=mpb.OBJECTIVE_MODE_UNSPECIFIED,
                                 mentee_count=len(request.cohort.mentees), mentor_count=len(request.cohort.mentors))

    def _match(self, call: _Call, context: grpc.ServicerContext, request: mpb.MatchRequest | mpb.StreamMatchRequest,
               slot: Slot, on_progress: Callable[[Progress], None] | None = None) -> mpb.MatchResponse:
        """A Match call's work, in its slot: checks, candidates, the solve, the answer and its explanation, sharing
        the time left before the deadline (explanations degrade, and say so, rather than run over)."""
        stop = slot.stop
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False, stop)
        level = checked.options.explain
        call.fields["explain"] = level
        result, limit = self._solve(call, checked, slot, on_progress,
                                    share=1.0 if level == "NONE" else 1.0 - self.limits.explain_share)
        if not context.is_active():
            raise Stopped(StopReason.CANCELLED)  # nobody to answer: skip building it
        response = mapping.match_response_from_result(result, label=request.label, time_limit_s=limit)
        remaining = stop.remaining()
        budget = (self.limits.max_time_limit_s if remaining == float("inf")
                  else remaining - deadline_margin(remaining, self.limits))
        explanation = explanation_of(result, level, stop.sooner(budget))
        if explanation is not None:
            response.explanation.CopyFrom(mapping.explanation_to_proto(explanation))
            if explanation.truncated is not None:
                call.fields["explanation_truncated"] = explanation.truncated.value
        return response

    # --- RPCs ---

    def Match(self, request: mpb.MatchRequest, context: grpc.ServicerContext) -> mpb.MatchResponse:
        def body(call: _Call) -> mpb.MatchResponse:
            self._refuse_too_large(call, request.cohort)
            if request.validate_only:
                return self._validated_response(call, request)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._match(call, context, request, slot))

        return self._unary("Match", context, body)

    def StreamMatch(self, request: mpb.StreamMatchRequest, context: grpc.ServicerContext
                    ) -> Iterator[mpb.StreamMatchResponse]:
        call = _Call("StreamMatch")
        try:
            self._refuse_too_large(call, request.cohort)
            if request.validate_only:
                yield mpb.StreamMatchResponse(result=self._validated_response(call, request))
                self._log_call(call, "OK")
                return
            slot = self._take_slot(context)
        except Exception as error:
            self._fail(call, context, error)
            raise
        events: queue.Queue[tuple[str, Any]] = queue.Queue()

        def progress(p: Progress) -> None:
            elapsed = mapping.duration(p.elapsed_s)
            events.put(("progress", mpb.MatchProgress(matching_rank=p.matching_rank, objective_value=p.objective,
                                                      objective_bound=p.bound, elapsed=elapsed)))

        # The work runs on the slot's thread, like every solve; this thread streams what it reports.
        work = self.slots.run(slot, lambda: self._match(call, context, request, slot, progress))
        work.add_done_callback(lambda done: events.put(("done", done)))
        try:
            while True:
                try:
                    kind, value = events.get(timeout=0.25)
                except queue.Empty:
                    if context.is_active():
                        continue
                    break  # the client went away: the cancellation stopped the work, whose end frees the slot
                if kind == "progress":
                    yield mpb.StreamMatchResponse(progress=value)
                else:
                    yield mpb.StreamMatchResponse(result=value.result())
                    break
        except Exception as error:
            self._fail(call, context, error)
            raise
        self._log_call(call, "OK" if context.is_active() else "CANCELLED")

    def ExplainPair(self, request: mpb.ExplainPairRequest, context: grpc.ServicerContext) -> mpb.ExplainPairResponse:
        def body(call: _Call) -> mpb.ExplainPairResponse:
            self._refuse_too_large(call, request.cohort)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._explain_pair(call, request, slot))

        return self._unary("ExplainPair", context, body)

    def _explain_pair(self, call: _Call, request: mpb.ExplainPairRequest, slot: Slot) -> mpb.ExplainPairResponse:
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False, slot.stop)
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
        # The baseline gets half the time; the forced re-solve what is left, so both fit the deadline.
        half = lambda o: dataclasses.replace(o, alternatives=1, time_limit_s=o.time_limit_s / 2)  # noqa: E731
        baseline, _ = self._solve(call, checked, slot, adjust=half)
        remaining = slot.stop.remaining()
        limit = bounded_time_limit(checked.options.solve.time_limit_s,
                                   None if remaining == float("inf") else remaining, self.limits)
        options = dataclasses.replace(baseline.options, time_limit_s=limit)
        slot.stop.check()
        verdict = explain.why_not(cohort, request.mentee_id, request.mentor_id, options,
                                  result=dataclasses.replace(baseline, options=options))
        call.fields.update(allowed=verdict.allowed, forced=verdict.forced is not None)
        return mapping.verdict_to_proto(verdict, request.label)

    def CompareScenarios(self, request: mpb.CompareScenariosRequest, context: grpc.ServicerContext
                         ) -> mpb.CompareScenariosResponse:
        def body(call: _Call) -> mpb.CompareScenariosResponse:
            self._refuse_too_large(call, request.cohort)
            call.fields.update(scenarios=len(request.scenarios), counterfactuals=request.counterfactuals)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._compare(call, context, request, slot))

        return self._unary("CompareScenarios", context, body)

    def Rematch(self, request: mpb.RematchRequest, context: grpc.ServicerContext) -> mpb.RematchResponse:
        def body(call: _Call) -> mpb.RematchResponse:
            self._refuse_too_large(call, request.cohort)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._rematch(call, context, request, slot))

        return self._unary("Rematch", context, body)

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
        # A cohort too dense (solver.budget) is a TOO_LARGE problem at the rules that make it so.
        dense = bool(problems) and all(p.code == mpb.PROBLEM_CODE_TOO_LARGE and p.field_path.startswith(
            f"{mapping.ROOT_FIELD}.rules") for p in problems)
        self.metrics.rejected.labels("too_dense" if dense else "invalid").inc()
        return invalid_argument(problems, reason="COHORT_TOO_DENSE" if dense else reason,
                                max_violations=self.limits.max_violations,
                                max_bytes=self.limits.max_error_details_bytes)

    def _compare(self, call: _Call, context: grpc.ServicerContext, request: mpb.CompareScenariosRequest, slot: Slot
                 ) -> mpb.CompareScenariosResponse:
        checked = check_request(request.cohort, request.HasField("cohort"), request.options, self.limits, slot.stop)
        base_broken = any(not p.field_path.startswith("options") for p in checked.problems)
        scenarios, scenario_problems = mapping.scenarios_from_proto(
            checked.cohort, request.scenarios, apply=not base_broken, max_participants=self.limits.max_participants)
        problems = checked.problems + scenario_problems
        call.fields["problems"] = len(problems)
        if problems:
            raise self._reject(problems, "COHORT_INVALID" if base_broken else "SCENARIO_INVALID")
        slot.stop.check()
        guard = None
        try:
            parts = (1 + len(scenarios)) * (2 if request.counterfactuals else 1)
            options = checked.options.solve
            limit = self._share(context, options.time_limit_s, parts)
            options = dataclasses.replace(options, time_limit_s=limit, stop=slot.stop.event)
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

    def _rematch(self, call: _Call, context: grpc.ServicerContext, request: mpb.RematchRequest, slot: Slot
                 ) -> mpb.RematchResponse:
        inputs, input_problems = mapping.rematch_inputs_from_proto(request)
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False, slot.stop,
                                input_problems, "REMATCH_INVALID")
        guard = None
        try:
            call.fields.update(current_pairs=len(inputs.current), left=len(inputs.left), joined=len(inputs.joined))
            # Two solves one after the other: the re-match and the fresh optimum it is measured against.
            limit = self._share(context, checked.options.solve.time_limit_s, 2)
            options = dataclasses.replace(checked.options.solve, time_limit_s=limit, stop=slot.stop.event)
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

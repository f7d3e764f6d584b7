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

import dataclasses
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from google.rpc import code_pb2, error_details_pb2

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server import convert as mapping
from server.checks import (
    EXPLANATION_ANSWER_S_PER_PERSON,
    Checked,
    bounded_time_limit,
    check_request,
    deadline_margin,
    explanation_of,
    too_large,
)
from server.metrics import ServiceMetrics, gone_code, past_deadline
from server.slots import Slot, SolveSlots
from server.status import (
    ServiceError,
    ServiceLimits,
    answer_too_large,
    error_info,
    error_status,
    invalid_argument,
    problems_to_list,
)
from server.wire import sets_top_level_flag
from solver import explain
from solver.compare import COUNTERFACTUAL_BUDGET, Comparison, Scenario, ScenarioOutcome, solve_and_measure
from solver.errors import AnswerCheckFailed, CohortInvalid
from solver.rematch import rematch
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import Progress, SolveOptions, SolveResult, solve
from solver.stop import Stopped, StopReason, StopToken, run_in_child
from solver.validate import control_characters
from solver.workflows import PairRef

T = TypeVar("T")

WAIT_POLL_S = 0.05
"""How often a call waiting for its work looks whether a drain has given up waiting."""

ANSWER_ADVICE = ("ask for less (fewer alternatives or scenarios, explain NONE or PAIRS, fewer people per call, "
                 "a shorter label), or run the server with a larger --max-message-mb")
"""What an answer too large to send (`answer_too_large`) tells the client to do instead."""

VALIDATE_IN_CHILD_ABOVE_BYTES = 1024 * 1024
"""A validate_only cohort larger than this is checked in a forked child (`_validated_response`): ~50,000 list rows,
0.3-1 s of checks; a fork costs ~3 ms."""

DENSE_PATHS = frozenset(f"{mapping.ROOT_FIELD}.{path}" for path in ("rules", "rules.field_depth", "rules.max_distance_km"))
"""Where `solver.budget.too_dense` places a cohort too dense to solve: the rules that leave it so."""

BUSY_RETRY_DELAY_NS = 500_000_000
"""The RetryInfo of a SOLVER_BUSY refusal: 0.5 s (docs/service.md)."""


# The servicer ------------------------------------------------------------------------------------------


BUSY_LOG_INTERVAL_S = 1.0
"""Busy refusals are logged at most once per this many seconds (each line says how many were not logged since
the one before); every one is counted in the metrics. A line per refusal made the log the bottleneck of a burst."""


class LogSampler:
    """At most one log line per `interval_s` seconds for a kind of event that can come in bursts."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._next = 0.0
        self._skipped = 0

    def sample(self) -> int | None:
        """None: do not log this one; otherwise log it, with this many of the kind left unlogged before it."""
        now = time.monotonic()
        with self._lock:
            if now < self._next:
                self._skipped += 1
                return None
            self._next = now + self.interval_s
            skipped, self._skipped = self._skipped, 0
            return skipped

    def take_skipped(self) -> int:
        """The events not logged since the last line, now counted as logged."""
        with self._lock:
            skipped, self._skipped = self._skipped, 0
            return skipped


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
        # validate_only calls solve nothing, so they take no solve slot (a platform validates while the server is
        # busy solving), but they are not free: a list of a million rows is seconds of CPU and a gigabyte to check.
        # They run on a bounded pool of their own, as many at once as solves, stopped by the call's deadline and
        # cancellation like a solve; beyond, RESOURCE_EXHAUSTED (VALIDATION_BUSY) at once.
        self.validation_slots = SolveSlots(limits.max_concurrent, metrics, validation=True)
        self.log = logger
        self._draining = False
        # Set shortly before a drain's grace ends: calls whose work has not answered by then stop waiting for it and
        # answer UNAVAILABLE (SERVER_STOPPING, with a RetryInfo) themselves, before gRPC cancels them bare.
        self._given_up = threading.Event()
        self._refused_busy = metrics.rejected.labels("busy")
        self._solve_seconds: dict[str, Any] = {}  # the solve-time histogram's child per status, looked up once each
        self._busy_log = LogSampler(BUSY_LOG_INTERVAL_S)
        # One status for every busy refusal, built once: under overload the refusals are the hot path. (The status,
        # not the exception: an exception raised again keeps every earlier raise's frames, and so their requests.)
        self._busy_status = (error_status(
            code_pb2.RESOURCE_EXHAUSTED,
            f"the service is busy ({limits.max_concurrent} solve(s) running); retry with backoff",
            error_info("SOLVER_BUSY", max_concurrent=limits.max_concurrent),
            error_details_pb2.RetryInfo(retry_delay={"nanos": BUSY_RETRY_DELAY_NS})), "SOLVER_BUSY")
        self._validation_busy_status = (error_status(
            code_pb2.RESOURCE_EXHAUSTED,
            f"the service is busy ({limits.max_concurrent} validation(s) running); retry with backoff",
            error_info("VALIDATION_BUSY", max_concurrent=limits.max_concurrent),
            error_details_pb2.RetryInfo(retry_delay={"nanos": BUSY_RETRY_DELAY_NS})), "VALIDATION_BUSY")

    def start_call(self, method: str) -> _Call:
        """The bookkeeping of one call (its log line), for handlers of services built on this one."""
        return _Call(method)

    def begin_drain(self) -> None:
        """The server is stopping: a call whose work the drain stops before it has an answer gets UNAVAILABLE (call
        again: another replica answers), not CANCELLED."""
        self._draining = True

    def log_unlogged_refusals(self) -> None:
        """At the end of a drain: one line with the busy refusals no line has counted yet (the tail of the last burst)."""
        unlogged = self._busy_log.take_skipped()
        if unlogged:
            self.log.info("refusals", extra={"fields": {"outcome": "SOLVER_BUSY", "refusals_not_logged": unlogged}})

    def give_up_waiting(self) -> None:
        """The drain's grace is nearly over: calls still waiting for their work answer SERVER_STOPPING now."""
        self._given_up.set()

    # --- the one place where failures become statuses ---

    def _fail(self, call: _Call, context: grpc.ServicerContext, error: BaseException) -> None:
        if isinstance(error, Stopped):
            error = self._stopped(error, context)
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
            reason, what = "INTERNAL", "internal error"
            if isinstance(error, AnswerCheckFailed):  # a wrong answer caught before it left: never sent
                self.metrics.answer_check_failures.inc()
                reason, what = "ANSWER_CHECK_FAILED", "the answer failed its independent check and was withheld"
            status = error_status(code_pb2.INTERNAL, f"{what} (incident {incident}); it was logged",
                                  error_info(reason, incident=incident))
            outcome, level = "INTERNAL", logging.ERROR
        self._log_call(call, outcome, level)
        context.abort_with_status(status)

    def _stopped(self, stopped: Stopped, context: grpc.ServicerContext | None = None) -> ServiceError:
        """The status of a call whose work stopped before it had an answer (its client has mostly gone already).
        A call past its deadline is DEADLINE_EXCEEDED, as its client saw it, also when the work was stopped as
        cancelled (the deadline ends the call, and that cancels the slot's work before it notices the deadline)."""
        if self._draining:
            return ServiceError(error_status(
                code_pb2.UNAVAILABLE, "the server is stopping; call again (another replica will answer)",
                error_info("SERVER_STOPPING"), error_details_pb2.RetryInfo(retry_delay={"nanos": 100_000_000})),
                "SERVER_STOPPING")
        if stopped.reason is StopReason.DEADLINE or (context is not None and past_deadline(context)):
            return ServiceError(error_status(code_pb2.DEADLINE_EXCEEDED, "the deadline passed before an answer was ready"),
                                "DEADLINE_EXCEEDED")
        return ServiceError(error_status(code_pb2.CANCELLED, "the call was cancelled"), "CANCELLED")

    def _log_call(self, call: _Call, outcome: str, level: int = logging.INFO) -> None:
        fields: dict[str, object] = {"method": call.method, "outcome": outcome,
                                     "duration_s": round(time.perf_counter() - call.started, 4), **call.fields}
        if outcome in ("SOLVER_BUSY", "VALIDATION_BUSY"):
            unlogged = self._busy_log.sample()
            if unlogged is None:
                return
            fields["refusals_not_logged"] = unlogged
        self.log.log(level, "call", extra={"fields": fields})

    def _unary(self, method: str, context: grpc.ServicerContext, body: Callable[[_Call], T]) -> T:
        call = _Call(method)
        try:
            response = body(call)
            self.refuse_too_large_answer(call, response)
        except Exception as error:  # every failure: one status, never a traceback to the client
            self._fail(call, context, error)
            raise  # abort_with_status raised already; this line is never reached
        self._log_call(call, "OK")
        return response

    def refuse_too_large_answer(self, call: _Call, response: Any) -> None:
        """An answer larger than this server sends is an error that says so (RESOURCE_EXHAUSTED, ANSWER_TOO_LARGE),
        counted and logged as what the client gets: gRPC's own refusal, after the handler, was a bare status
        while the metrics and the log said OK."""
        size = response.ByteSize()
        call.fields["answer_bytes"] = size
        if size > self.limits.max_message_bytes:
            raise answer_too_large(size, self.limits, ANSWER_ADVICE)

    # --- shared steps ---

    def _take_slot(self, context: grpc.ServicerContext, validation: bool = False) -> Slot:
        """A slot (of the validation pool with `validation`), or RESOURCE_EXHAUSTED with a RetryInfo at once: the
        first thing a call that solves does after the size cap, so overload is refused in milliseconds whatever the
        cohort."""
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:  # dead on arrival: no slot for it
            raise self._stopped(Stopped(StopReason.DEADLINE))
        slots = self.validation_slots if validation else self.slots
        slot = slots.try_take(None if remaining is None else time.monotonic() + remaining)
        if slot is None:
            raise self._busy(validation)
        # On cancellation the callback stops the work; its end (not the callback) gives the slot back.
        if not context.add_callback(slot.cancel):
            slot.cancel()
        return slot

    def refuse_if_busy(self, method: str, context: grpc.ServicerContext, validation: bool = False) -> None:
        """RESOURCE_EXHAUSTED (SOLVER_BUSY, with RetryInfo; VALIDATION_BUSY for a validation) at once when every slot
        is taken, before the request is even parsed (a cohort takes 0.1 ms and more to parse: under a burst of calls
        that is most of a refusal)."""
        if (self.validation_slots if validation else self.slots).full():
            self._fail(_Call(method), context, self._busy(validation))

    def _busy(self, validation: bool = False) -> ServiceError:
        """A busy refusal, counted: a new error each time (see `_busy_status`)."""
        self._refused_busy.inc()
        return ServiceError(*(self._validation_busy_status if validation else self._busy_status))

    def _in_slot(self, slot: Slot, work: Callable[[], T], validation: bool = False) -> T:
        """Run a call's work on the slot's thread and wait for it: the slot is held until the work has ended. A drain
        whose grace is nearly over stops the wait (the work, already told to stop, ends on its own)."""
        running = (self.validation_slots if validation else self.slots).run(slot, work)
        while True:
            try:
                return running.result(timeout=WAIT_POLL_S)
            except futures.TimeoutError:
                if self._given_up.is_set():
                    raise self._stopped(Stopped(StopReason.CANCELLED)) from None

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
        self._observe_solve(result.status.value, result.stats.wall_s)
        self.metrics.cohort_participants.observe(participants)
        if target.mentees and result.best is not None:
            self.metrics.matched_ratio.observe(result.best.objective.matched / len(target.mentees))
        call.fields.update(status=result.status.value, matchings=len(result.matchings),
                           candidate_pairs=result.stats.candidate_pairs, solve_s=round(result.stats.wall_s, 4),
                           time_limit_s=round(limit, 4), stopped=slot.stop.is_set())
        return result, limit

    def _observe_solve(self, status: str, seconds: float) -> None:
        """A solve's wall time in the histogram of its status (its labelled child looked up once per status: a
        `labels` call takes a lock and builds the key each time)."""
        child = self._solve_seconds.get(status)
        if child is None:
            child = self._solve_seconds[status] = self.metrics.solve_seconds.labels(status)
        child.observe(seconds)

    def _validate(self, call: _Call, context: grpc.ServicerContext, request: mpb.MatchRequest | mpb.StreamMatchRequest
                  ) -> mpb.MatchResponse:
        """validate_only: the problems as data, checked on a validation slot's thread (see `validation_slots`)."""
        slot = self._take_slot(context, validation=True)
        return self._in_slot(slot, lambda: self._validated_response(call, request, slot.stop), validation=True)

    def _validated_response(self, call: _Call, request: mpb.MatchRequest | mpb.StreamMatchRequest, stop: StopToken
                            ) -> mpb.MatchResponse:
        """The validation's answer; a large cohort's checked in a forked child that the stop kills (`run_in_child`):
        reading and checking a list of a million rows is seconds in steps that cannot look at a stop, and a gigabyte
        of memory, both ended there when the call ends. The child sends the answer's bytes, after the total."""
        answer = None
        if request.cohort.ByteSize() > VALIDATE_IN_CHILD_ABOVE_BYTES:
            def work(send: Callable[[bytes], None], stopping: threading.Event) -> bytes:
                response, total = self._validated(request, StopToken(stopping))
                return total.to_bytes(8, "big") + response.SerializeToString()

            answer = run_in_child(work, stop)
        if answer is None:  # small, or no process can be forked here
            response, total = self._validated(request, stop)
        else:
            response, total = mpb.MatchResponse.FromString(answer[8:]), int.from_bytes(answer[:8], "big")
        call.fields["problems"] = total
        if len(response.problems) < total:
            call.fields["problems_listed"] = len(response.problems)
        return response

    def _validated(self, request: mpb.MatchRequest | mpb.StreamMatchRequest, stop: StopToken
                   ) -> tuple[mpb.MatchResponse, int]:
        """The answer and the number of problems found: every problem counted, the first ones listed
        (`problems_to_list`: a million duplicate rows get an answer that names the first problems and says how many
        there are, not one too large to send)."""
        checked = check_request(request.cohort, request.HasField("cohort"), request.options, self.limits, stop)
        total = len(checked.problems)
        listed = problems_to_list(checked.problems, self.limits)
        stop.check()
        response = mpb.MatchResponse(label=request.label, problems=checked.problems[:listed],
                                     mode=mpb.OBJECTIVE_MODE_UNSPECIFIED, mentee_count=len(request.cohort.mentees),
                                     mentor_count=len(request.cohort.mentors), warnings=checked.warnings)
        if listed < total:
            response.notes.append(f"{total:,} problems; the first {listed:,} are listed (in request order): fix them "
                                  "and validate again (problems of one kind are mostly one mistake)")
        return response, total

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
        response.warnings.extend(checked.warnings)
        explanation = None
        if level != "NONE":  # (explanation_of gives none for NONE: its time budget is not worked out for it)
            remaining = stop.remaining()
            people = len(checked.cohort.mentees) + len(checked.cohort.mentors)
            budget = (self.limits.max_time_limit_s if remaining == float("inf") else
                      remaining - deadline_margin(remaining, self.limits) - EXPLANATION_ANSWER_S_PER_PERSON * people)
            explanation = explanation_of(result, level, stop.sooner(budget))
        if not context.is_active():
            raise Stopped(StopReason.CANCELLED)  # the deadline passed while explaining: nobody to answer
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
                return self._validate(call, context, request)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._match(call, context, request, slot))

        return self._unary("Match", context, body)

    def StreamMatch(self, request: mpb.StreamMatchRequest, context: grpc.ServicerContext
                    ) -> Iterator[mpb.StreamMatchResponse]:
        call = _Call("StreamMatch")
        try:
            self._refuse_too_large(call, request.cohort)
            if request.validate_only:
                validated = self._validate(call, context, request)
                self.refuse_too_large_answer(call, validated)
                yield mpb.StreamMatchResponse(result=validated)
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

        for kind, value in self.stream_slot_work(call, context, slot, events,
                                                 lambda: self._match(call, context, request, slot, progress)):
            yield (mpb.StreamMatchResponse(progress=value) if kind == "progress"
                   else mpb.StreamMatchResponse(result=value))

    def stream_slot_work(self, call: _Call, context: grpc.ServicerContext, slot: Slot,
                         events: queue.Queue[tuple[str, Any]], work: Callable[[], Any]) -> Iterator[tuple[str, Any]]:
        """Run `work` on the slot's thread, like every solve, and yield what it reports on `events` as it comes,
        then ("done", its result); stop when the client goes away (its cancellation stops the work, whose end
        frees the slot). Failures answer the call; the call is logged at the end."""
        running = self.slots.run(slot, work)
        running.add_done_callback(lambda done: events.put(("done", done)))
        try:
            while True:
                try:
                    kind, value = events.get(timeout=WAIT_POLL_S)
                except queue.Empty:
                    if self._given_up.is_set():
                        raise self._stopped(Stopped(StopReason.CANCELLED)) from None
                    if context.is_active():
                        continue
                    break
                if kind == "done":
                    result = value.result()
                    self.refuse_too_large_answer(call, result)
                    yield kind, result
                    break
                yield kind, value
        except Exception as error:
            self._fail(call, context, error)
            raise
        self._log_call(call, "OK" if context.is_active() else gone_code(context))

    def ExplainPair(self, request: mpb.ExplainPairRequest, context: grpc.ServicerContext) -> mpb.ExplainPairResponse:
        def body(call: _Call) -> mpb.ExplainPairResponse:
            self._refuse_too_large(call, request.cohort)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._explain_pair(call, request, slot))

        return self._unary("ExplainPair", context, body)

    def _explain_pair(self, call: _Call, request: mpb.ExplainPairRequest, slot: Slot) -> mpb.ExplainPairResponse:
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False, slot.stop)
        cohort = checked.cohort
        missing = [mapping.problem_to_proto(unsafe, "") for field_name, value in
                   (("mentee_id", request.mentee_id), ("mentor_id", request.mentor_id))
                   if (unsafe := control_characters(field_name, value, field_name, edges=True)) is not None]
        if missing:  # an id that prints like another is named as such, not as an id the cohort lacks
            raise invalid_argument(missing, reason="UNKNOWN_PARTICIPANT", max_violations=self.limits.max_violations,
                                   max_bytes=self.limits.max_error_details_bytes)
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
        response = mapping.verdict_to_proto(verdict, request.label)
        response.warnings.extend(checked.warnings)
        return response

    def CompareScenarios(self, request: mpb.CompareScenariosRequest, context: grpc.ServicerContext
                         ) -> mpb.CompareScenariosResponse:
        def body(call: _Call) -> mpb.CompareScenariosResponse:
            self._refuse_too_large(call, request.cohort)
            call.fields.update(scenarios=len(request.scenarios), counterfactuals=request.counterfactuals)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._compare(call, request, slot))

        return self._unary("CompareScenarios", context, body)

    def Rematch(self, request: mpb.RematchRequest, context: grpc.ServicerContext) -> mpb.RematchResponse:
        def body(call: _Call) -> mpb.RematchResponse:
            self._refuse_too_large(call, request.cohort)
            slot = self._take_slot(context)
            return self._in_slot(slot, lambda: self._rematch(call, request, slot))

        return self._unary("Rematch", context, body)

    # --- workflows ---

    def _margin_stop(self, slot: Slot) -> StopToken:
        """The slot's stop, with its deadline brought forward by the answer's margin: a workflow's solves end in time
        to answer, and a stop by it is a DEADLINE (a timer that set the stop's event read as a cancellation: a call
        cut short by it answered CANCELLED before its client's deadline)."""
        if slot.stop.deadline is None:
            return slot.stop
        return slot.stop.until(slot.stop.deadline - deadline_margin(slot.stop.remaining(), self.limits))

    def _share(self, context: grpc.ServicerContext, requested: float, parts: int) -> float:
        """A time limit for one of `parts` solves run one after another within the call's deadline."""
        remaining = context.time_remaining()
        return bounded_time_limit(requested, None if remaining is None else remaining / parts, self.limits)

    def _observe(self, status: str, seconds: float, mentees: int, mentors: int, matched: int) -> None:
        self._observe_solve(status, seconds)
        self.metrics.cohort_participants.observe(mentees + mentors)
        if mentees:
            self.metrics.matched_ratio.observe(matched / mentees)

    def _reject(self, problems: Sequence[mpb.InputProblem], reason: str, dense: int = 0) -> ServiceError:
        # A cohort too dense (solver.budget) is a TOO_LARGE problem at the rules that make it so (a list of the rules
        # above its cap is TOO_LARGE too, and no density); `dense` counts those found elsewhere (a what-if scenario).
        dense_here = sum(p.code == mpb.PROBLEM_CODE_TOO_LARGE and p.field_path in DENSE_PATHS for p in problems)
        dense = bool(problems) and dense_here + dense == len(problems)
        self.metrics.rejected.labels("too_dense" if dense else "invalid").inc()
        return invalid_argument(problems, reason="COHORT_TOO_DENSE" if dense else reason,
                                max_violations=self.limits.max_violations,
                                max_bytes=self.limits.max_error_details_bytes)

    def _compare(self, call: _Call, request: mpb.CompareScenariosRequest, slot: Slot
                 ) -> mpb.CompareScenariosResponse:
        checked = check_request(request.cohort, request.HasField("cohort"), request.options, self.limits, slot.stop)
        base_problems = [p for p in checked.problems if not p.field_path.startswith("options")]
        base_broken = checked.arrays is None  # the base's data (a cohort too dense to solve is valid data)
        # Every scenario is checked (messages, validation, size, pair budget) before anything is solved.
        found = mapping.scenarios_from_proto(
            checked.as_sent or checked.cohort, request.scenarios, base_problems=base_problems if base_broken else (),
            base_warnings=checked.warnings, max_participants=self.limits.max_participants,
            max_pairs=self.limits.max_candidate_pairs, stop=slot.stop, base_label=request.base_label)
        problems = checked.problems + found.problems
        call.fields["problems"] = len(problems)
        if problems:
            raise self._reject(problems, "COHORT_INVALID" if base_problems else "SCENARIO_INVALID", found.dense)
        slot.stop.check()
        # The solves end a margin before the deadline, by a deadline of their own (not an event set by a timer: a
        # stop by it is a DEADLINE, and the base's DEADLINE_EXCEEDED when even it has no matching).
        stop = self._margin_stop(slot)
        loaded = [Scenario(label=request.base_label or mapping.DEFAULT_BASE_LABEL, cohort=checked.cohort),
                  *found.scenarios]
        outcomes: list[ScenarioOutcome] = []
        limit = checked.options.solve.time_limit_s
        beyond_limit = 0.0  # the most a scenario took beyond its time limit (candidates, measures, counterfactuals)
        for i, scenario in enumerate(loaded):
            # The time left is shared among the scenarios left (twice as many shares with counterfactuals), scenario
            # by scenario: what one did not use goes to the rest, and one that overran takes from them, not from the
            # margin. A share fixed at the start let the scenarios' set-up (candidates, measures) overrun the lot.
            # Each scenario left also takes time beyond its time limit (candidates, measures, counterfactuals): as
            # much as the most any took so far, kept free before the time left is shared.
            parts = (len(loaded) - i) * (2 if request.counterfactuals else 1)
            left = stop.remaining()
            limit = max(0.01, min(checked.options.solve.time_limit_s, self.limits.max_time_limit_s,
                                  (left - beyond_limit * (len(loaded) - i)) / parts))
            options = dataclasses.replace(checked.options.solve, alternatives=1, time_limit_s=limit, stop=stop)
            budget = dataclasses.replace(COUNTERFACTUAL_BUDGET, stop=stop,
                                         time_budget_s=min(COUNTERFACTUAL_BUDGET.time_budget_s, limit),
                                         resolve_time_limit_s=min(COUNTERFACTUAL_BUDGET.resolve_time_limit_s, limit))
            base_pairs = [PairRef(p.mentee_id, p.mentor_id) for p in outcomes[0].pairs] if outcomes else None
            started = time.monotonic()
            try:
                if outcomes and left < beyond_limit:  # it could not end by the deadline: not started, as if stopped
                    raise Stopped(StopReason.DEADLINE)
                outcome = solve_and_measure(scenario, options, base_pairs, request.counterfactuals, budget)
            except Stopped:
                if not outcomes or stop.abandoned:  # no base to compare with, or nobody to answer
                    raise
                # The deadline came before this scenario had a matching: it and those after it answer UNKNOWN with a
                # note, beside the scenarios solved (docs/service.md), rather than the whole call failing.
                outcomes += [unsolved_outcome(s) for s in loaded[i:]]
                call.fields["unsolved"] = len(loaded) - i
                break
            beyond_limit = max(beyond_limit, time.monotonic() - started - limit)
            self._observe(outcome.status, outcome.solve_seconds, outcome.mentees, outcome.mentors, outcome.matched)
            outcomes.append(outcome)
        comparison = Comparison(base_label=loaded[0].label, scenarios=outcomes)
        call.fields.update(status=outcomes[0].status, time_limit_s=round(limit, 4), stopped=stop.is_set())
        response = mapping.comparison_to_proto(comparison, request.label)
        response.warnings.extend([*checked.warnings, *found.warnings])
        return response

    def _rematch(self, call: _Call, request: mpb.RematchRequest, slot: Slot) -> mpb.RematchResponse:
        inputs, input_problems = mapping.rematch_inputs_from_proto(request)
        checked = self._checked(call, request.cohort, request.HasField("cohort"), request.options, False, slot.stop,
                                input_problems, "REMATCH_INVALID")
        call.fields.update(current_pairs=len(inputs.current), left=len(inputs.left), joined=len(inputs.joined))
        stop = self._margin_stop(slot)
        # Two solves one after the other: the re-match and the fresh optimum it is measured against.
        remaining = stop.remaining()
        limit = max(0.01, min(checked.options.solve.time_limit_s, self.limits.max_time_limit_s, remaining / 2))
        options = dataclasses.replace(checked.options.solve, time_limit_s=limit, stop=stop)
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
                           time_limit_s=round(limit, 4), stopped=stop.is_set())
        response = mapping.rematch_response_from_result(result, request.label)
        response.warnings.extend(checked.warnings)
        return response


UNSOLVED_NOTE = ("not solved: the call's deadline came before this scenario had a matching; call again with a "
                 "longer deadline or fewer scenarios")


def unsolved_outcome(scenario: Scenario) -> ScenarioOutcome:
    """A what-if the deadline left without a matching: status UNKNOWN, its people counted, nothing matched, a note."""
    cohort = scenario.cohort
    return ScenarioOutcome(
        label=scenario.label, source=scenario.source, description=scenario.description, changes=list(scenario.changes),
        status="UNKNOWN", mentees=len(cohort.mentees), mentors=len(cohort.mentors),
        capacity=sum(max(m.capacity, 0) for m in cohort.mentors), matched=0, matched_share=0.0, objective_value=0,
        total_score=0, mean_score=None, worst_score=None, mean_travel_km=None, ranking_mentees=0, top_choice_mentees=0,
        top_choice_share=None, blocking_pairs=0, unmatched_by_reason=[], pairs_kept=0, pairs_removed=0, pairs_added=0,
        pairs=[], unmatched=[], blocking=[], removed_vs_base=[], added_vs_base=[], solve_seconds=0.0,
        notes=[UNSOLVED_NOTE])


SERVICE_NAME: str = mpb.DESCRIPTOR.services_by_name["MatchingService"].full_name
"""`mentormatch.v1.MatchingService`: the name in method paths, health checks and reflection."""


class Undecodable:
    """What a request that is not a valid protobuf message of its method's type deserializes to."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def lenient_parser(message: Any) -> Callable[[bytes], Any]:
    """A deserializer that never raises: gRPC's own failure would answer INTERNAL, uncounted and unexplained."""

    def parse(data: bytes) -> Any:
        try:
            return message.FromString(data)
        except Exception:  # DecodeError and whatever else malformed bytes provoke
            return Undecodable(message.DESCRIPTOR.full_name)

    return parse


def refusing_undecodable(service: MatchingService, name: str, method: Callable[[Any, grpc.ServicerContext], T]
                          ) -> Callable[[Any, grpc.ServicerContext], T]:
    """`method`, answering INVALID_ARGUMENT (REQUEST_UNDECODABLE, counted) for bytes `lenient_parser` could not read."""
    def handle(request: Any, context: grpc.ServicerContext) -> T:
        if isinstance(request, Undecodable):
            text = f"the request is not a valid {request.type_name} message"
            bad = error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
                field="", description=f"UNDECODABLE: {text}", reason="UNDECODABLE")])
            error = ServiceError(error_status(code_pb2.INVALID_ARGUMENT, text, bad, error_info("REQUEST_UNDECODABLE")),
                                 "REQUEST_UNDECODABLE")
            service.metrics.rejected.labels("invalid").inc()
            service._fail(_Call(name), context, error)
        return method(request, context)

    return handle


def solving_method(service: MatchingService, name: str, method: Callable[[Any, grpc.ServicerContext], T],
                   message: Any) -> tuple[Callable[[bytes, grpc.ServicerContext], T], None]:
    """The behaviour and request deserializer (none: the handler gets the bytes) of a method that takes a solve
    slot. When every slot is taken, the call is refused SOLVER_BUSY before its request is parsed, unless it asks
    for `validate_only` (which needs no slot); otherwise the request is parsed as `lenient_parser` does and goes to
    `method`, undecodable bytes answered as `refusing_undecodable` does."""
    parse = lenient_parser(message)
    fields = message.DESCRIPTOR.fields_by_name
    flag = fields["validate_only"].number if "validate_only" in fields else None
    handle = refusing_undecodable(service, name, method)

    def behaviour(data: bytes, context: grpc.ServicerContext) -> T:
        validating = None if flag is None else sets_top_level_flag(data, flag)
        if flag is None or validating is False:
            service.refuse_if_busy(name, context)
        elif validating:
            service.refuse_if_busy(name, context, validation=True)
        return handle(parse(data), context)

    return behaviour, None


def method_handlers(service: MatchingService) -> grpc.GenericRpcHandler:
    """The service's methods for `grpc.Server.add_generic_rpc_handlers` (what the generated `_pb2_grpc` would add)."""
    unary, stream = grpc.unary_unary_rpc_method_handler, grpc.unary_stream_rpc_method_handler

    return grpc.method_handlers_generic_handler(SERVICE_NAME, {
        "Match": unary(*solving_method(service, "Match", service.Match, mpb.MatchRequest),
                       mpb.MatchResponse.SerializeToString),
        "StreamMatch": stream(*solving_method(service, "StreamMatch", service.StreamMatch, mpb.StreamMatchRequest),
                              mpb.StreamMatchResponse.SerializeToString),
        "ExplainPair": unary(*solving_method(service, "ExplainPair", service.ExplainPair, mpb.ExplainPairRequest),
                             mpb.ExplainPairResponse.SerializeToString),
        "CompareScenarios": unary(*solving_method(service, "CompareScenarios", service.CompareScenarios,
                                                  mpb.CompareScenariosRequest),
                                  mpb.CompareScenariosResponse.SerializeToString),
        "Rematch": unary(*solving_method(service, "Rematch", service.Rematch, mpb.RematchRequest),
                         mpb.RematchResponse.SerializeToString),
    })

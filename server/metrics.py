"""Prometheus metrics of one server: a registry of its own, the gRPC interceptor that counts calls, the HTTP endpoint.

Naming follows Prometheus' rules (base units, `_total` on counters) and the go-grpc-prometheus
conventions dashboards already know (`grpc_server_handled_total{grpc_service,grpc_method,grpc_code}`,
`grpc_server_msg_received_total`, `grpc_server_msg_sent_total`). Labels carry method names, status codes,
solve statuses and the build's versions only, never participant data. No `*_created` series: they would
double every counter's series and no query here needs them (prometheus-client's default is turned off when
this module is imported, for every registry of the process).
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from wsgiref.simple_server import WSGIServer

import grpc
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

prometheus_client.disable_created_metrics()

# Handling times of quick calls (validation, health) and long solves alike, in seconds.
_HANDLING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_PARTICIPANT_BUCKETS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000)
_RATIO_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def build_versions() -> dict[str, str]:
    """The versions `mentormatch_build_info` reports: the package, Python and OR-Tools (read from the installed
    distributions, without importing OR-Tools)."""

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return {"version": installed("mentormatch"), "python": platform.python_version(), "ortools": installed("ortools")}


class ServiceMetrics:
    """Every metric of one server, registered in its own `CollectorRegistry` (several servers per process in tests).

    Under `serve --workers N` each worker process writes its samples to the supervisor's directory
    (prometheus-client's multiprocess mode) and the supervisor serves the sum; the gauges add up live workers."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.started = Counter(
            "grpc_server_started_total", "gRPC calls started on the server.",
            ["grpc_type", "grpc_service", "grpc_method"], registry=r)
        self.handled = Counter(
            "grpc_server_handled_total", "gRPC calls completed on the server, by status code.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"], registry=r)
        self.handling = Histogram(
            "grpc_server_handling_seconds", "Time from the start of a gRPC call to its status, in seconds.",
            ["grpc_type", "grpc_service", "grpc_method"], buckets=_HANDLING_BUCKETS, registry=r)
        self.msg_received = Counter(
            "grpc_server_msg_received_total", "gRPC messages received by the server (a unary call's request is one).",
            ["grpc_type", "grpc_service", "grpc_method"], registry=r)
        self.msg_sent = Counter(
            "grpc_server_msg_sent_total", "gRPC messages sent by the server (a unary call's answer is one).",
            ["grpc_type", "grpc_service", "grpc_method"], registry=r)
        versions = build_versions()
        self.build_info = Gauge(
            "mentormatch_build_info", "Always 1; its labels are the versions of the package, Python and OR-Tools.",
            list(versions), registry=r, multiprocess_mode="max")
        self.build_info.labels(**versions).set(1)
        self.solve_seconds = Histogram(
            "mentormatch_solve_seconds", "Wall time of one solve (all matchings), in seconds, by solve status.",
            ["status"], buckets=_HANDLING_BUCKETS, registry=r)
        self.solves_in_flight = Gauge(
            "mentormatch_solves_in_flight", "Solves running now (each holds one concurrency slot).", registry=r,
            multiprocess_mode="livesum")
        self.solve_slots = Gauge(
            "mentormatch_solve_slots", "Concurrency slots for solves (the most solves that run at once).",
            registry=r, multiprocess_mode="livesum")
        self.validations_in_flight = Gauge(
            "mentormatch_validations_in_flight",
            "Validation-only calls being checked now (each holds one validation slot).", registry=r,
            multiprocess_mode="livesum")
        self.validation_slots = Gauge(
            "mentormatch_validation_slots", "Validation slots (the most validation-only calls checked at once).",
            registry=r, multiprocess_mode="livesum")
        self.rejected = Counter(
            "mentormatch_requests_rejected_total",
            "Calls refused before solving, by reason (busy, too_large, invalid, unauthenticated).",
            ["reason"], registry=r)
        self.cohort_participants = Histogram(
            "mentormatch_cohort_participants", "Participants (mentors and mentees) per solved cohort.",
            buckets=_PARTICIPANT_BUCKETS, registry=r)
        self.answer_check_failures = Counter(
            "mentormatch_answer_check_failures_total",
            "Answers withheld because a matching failed its independent re-check against the rules (an engine bug).",
            registry=r)
        self.matched_ratio = Histogram(
            "mentormatch_matched_ratio", "Share of mentees the best matching matches, 0 to 1, per solve.",
            buckets=_RATIO_BUCKETS, registry=r)

    def serve_http(self, host: str, port: int) -> MetricsEndpoint:
        """Serve the exposition at http://host:port/metrics on a daemon thread (port 0 picks a free port)."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsEndpoint(server, thread)


@dataclass
class MetricsEndpoint:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _split_method(full_method: str) -> tuple[str, str]:
    """"/mentormatch.v1.MatchingService/Match" -> ("mentormatch.v1.MatchingService", "Match")."""
    _, _, rest = full_method.partition("/")
    service, _, method = rest.partition("/")
    return service, method


DEADLINE_SLACK_S = 0.05
"""A call that ended this close to its deadline ended because of it: gRPC's core ends it at the deadline by its own
clock, and `time_remaining()` (the deadline less Python's `time.time()`) can still read a few milliseconds then."""


def past_deadline(context: grpc.ServicerContext) -> bool:
    """Whether the call's deadline has passed (within `DEADLINE_SLACK_S`)."""
    remaining = context.time_remaining()
    return remaining is not None and remaining <= DEADLINE_SLACK_S


def gone_code(context: grpc.ServicerContext) -> str:
    """The status of a call that ended before its handler answered: DEADLINE_EXCEEDED when its deadline has passed
    (what its client saw, whatever stopped the work: the deadline also ends the call, and that cancels the work),
    CANCELLED otherwise."""
    return "DEADLINE_EXCEEDED" if past_deadline(context) else "CANCELLED"


def _code_name(context: grpc.ServicerContext, failed: bool) -> str:
    code = context.code()
    if code is not None and isinstance(code, grpc.StatusCode):
        return str(code.name)
    if not context.is_active():
        # The call ended before the handler answered: the client cancelled, or its deadline passed. A handler that
        # raised then (a request stream ending under it as the client went away) failed because of that.
        return gone_code(context)
    if failed:
        return "UNKNOWN"
    return "OK"


class OpenCalls:
    """Calls of one gRPC service from the moment their handler starts until gRPC has closed them (status sent, or
    cancelled): what a drain waits for before it cancels what is left (health watches, reflection streams)."""

    def __init__(self, service: str, *more_services: str) -> None:
        self.service = service
        self.services = frozenset((service, *more_services))  # a server's own services: what a drain waits for
        self._open = 0
        self._changed = threading.Condition()

    def enter(self, context: grpc.ServicerContext) -> None:
        with self._changed:
            self._open += 1
        if not context.add_callback(self._leave):  # already closed: it leaves at once
            self._leave()

    def _leave(self) -> None:
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def count(self) -> int:
        with self._changed:
            return self._open

    def wait_closed(self, timeout: float) -> bool:
        """Wait until no call is open, at most `timeout` seconds; returns whether none is."""
        with self._changed:
            return self._changed.wait_for(lambda: self._open == 0, timeout=max(0.0, timeout))


class MetricsInterceptor(grpc.ServerInterceptor):
    """Counts every call of a known method (started, handled by code, handling time); unknown methods are not counted.

    With `open_calls`, the calls of its service are also tracked from start to close (see `OpenCalls`)."""

    def __init__(self, metrics: ServiceMetrics, open_calls: OpenCalls | None = None) -> None:
        self._metrics = metrics
        self._open_calls = open_calls
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(self, continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        # The counting handler of a method is built once (its labelled metrics looked up once): under a burst of
        # refusals, building it per call was a fifth of each call's CPU.
        cached = self._wrapped.get(handler_call_details.method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler, handler_call_details.method)
        self._wrapped[handler_call_details.method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, full_method: str) -> grpc.RpcMethodHandler:
        service, method = _split_method(full_method)
        m = self._metrics
        if handler.unary_unary is not None:
            kind, inner = "unary", handler.unary_unary
        elif handler.unary_stream is not None:
            kind, inner = "server_stream", handler.unary_stream
        elif handler.stream_unary is not None:
            kind, inner = "client_stream", handler.stream_unary
        else:
            kind, inner = "bidi_stream", handler.stream_stream
        labels = (kind, service, method)
        tracked = self._open_calls if self._open_calls is not None and service in self._open_calls.services else None
        started_count, handling = m.started.labels(*labels), m.handling.labels(*labels)
        handled: dict[str, Any] = {}

        def begin(context: grpc.ServicerContext) -> float:
            started_count.inc()
            if tracked is not None:
                tracked.enter(context)
            return time.perf_counter()

        def finish(context: grpc.ServicerContext, started: float, failed: bool) -> None:
            code = _code_name(context, failed)
            counter = handled.get(code)
            if counter is None:
                counter = handled[code] = m.handled.labels(*labels, code)
            counter.inc()
            handling.observe(time.perf_counter() - started)

        received, sent = m.msg_received.labels(*labels), m.msg_sent.labels(*labels)
        streamed_requests = kind in ("client_stream", "bidi_stream")

        def requests_of(request: Any) -> Any:
            """A unary request counted as it arrives; a request stream counted message by message."""
            if not streamed_requests:
                received.inc()
                return request

            def each(messages: Iterable[Any]) -> Iterator[Any]:
                for message in messages:
                    received.inc()
                    yield message
            return each(request)

        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            started = begin(context)
            failed = True
            try:
                response = inner(requests_of(request), context)
                failed = False
                sent.inc()
                return response
            finally:
                finish(context, started, failed)

        def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started = begin(context)
            failed = True
            try:
                for message in inner(requests_of(request), context):
                    yield message
                    sent.inc()  # gRPC asks for the next message once this one is sent
                failed = False
            except GeneratorExit:
                failed = False  # the stream was closed early (the client went away): counted by its status
                raise
            finally:
                finish(context, started, failed)

        if kind == "unary":
            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer)
        if kind == "server_stream":
            return grpc.unary_stream_rpc_method_handler(
                streaming, handler.request_deserializer, handler.response_serializer)
        if kind == "client_stream":
            return grpc.stream_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(
            streaming, handler.request_deserializer, handler.response_serializer)

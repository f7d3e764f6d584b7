"""Assembling and running the gRPC server: configuration, health, reflection, security, metrics, draining.

`create_server(config)` starts a server and returns at once (tests bind port 0 and read `.port`);
`serve(config)` runs one until SIGTERM or SIGINT, then drains: health goes NOT_SERVING, new calls are
refused, and calls in flight get the grace period to finish (their solves are asked to stop and answer
with their best so far shortly before it ends).
"""

from __future__ import annotations

import faulthandler
import gc
import importlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

from server.auth import ConfigError, TokenAuthInterceptor, load_token, server_credentials
from server.logging_setup import server_logger
from server.metrics import MetricsEndpoint, MetricsInterceptor, OpenCalls, ServiceMetrics
from server.service import (
    SERVICE_NAME,
    MatchingService,
    Undecodable,
    lenient_parser,
    method_handlers,
    refusing_undecodable,
)
from server.shortlist_rpc import SHORTLIST_SERVICE_NAME, ShortlistServicer, shortlist_handlers
from server.slots import return_freed_memory
from server.speeddating_rpc import SPEED_DATING_SERVICE_NAME, SpeedDatingServicer, speed_dating_handlers
from server.status import ServiceLimits
from server.sweep_service import SWEEP_SERVICE_NAME, SweepingService, sweep_handlers

MiB = 1024 * 1024
CLOSE_WAIT_S = 0.4
"""After a drain's grace, how long gRPC gets to close the calls it has cancelled before the process goes anyway."""
SIGNAL_POLL_S = 0.25
"""How often the main thread wakes to run a pending SIGTERM's handler (it may have been delivered to another thread)."""
EXIT_WATCHDOG_S = 2.0
"""After a drain's grace and its closing waits, how long the way out (log flush, exit) may take before the process is
ended by faulthandler's watchdog, with every thread's stack on stderr."""


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server is started with; `mentormatch serve` sets these from its options."""

    host: str = "127.0.0.1"
    port: int = 50051  # 0 picks a free port
    metrics_host: str | None = None  # None: the same as `host`
    metrics_port: int | None = 9464  # None: no metrics endpoint; 0 picks a free port
    max_concurrent: int = 2  # solves at once; beyond, RESOURCE_EXHAUSTED
    max_participants: int = 20_000  # mentors + mentees per cohort; beyond, INVALID_ARGUMENT (COHORT_TOO_LARGE)
    max_message_bytes: int = 64 * MiB  # the largest request (and response) message
    max_time_limit_s: float = 300.0  # the longest solve, whatever a request asks
    grace_s: float = 10.0  # how long calls in flight may take to finish when the server stops
    extra_workers: int = 8  # threads beyond the solve slots: health checks, validation, refusals
    reuse_port: bool = False  # SO_REUSEPORT: several worker processes on one port (`serve --workers N`)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # with it, mutual TLS: clients need a certificate this CA signed
    token_file: Path | None = None  # with it, every call but health checks needs `authorization: Bearer <token>`
    limits: ServiceLimits = field(default_factory=ServiceLimits)  # finer knobs; max_* above override theirs

    def service_limits(self) -> ServiceLimits:
        from dataclasses import replace

        return replace(self.limits, max_concurrent=self.max_concurrent, max_participants=self.max_participants,
                       max_time_limit_s=self.max_time_limit_s, max_message_bytes=self.max_message_bytes)

    def check(self) -> None:
        """Raise ConfigError for options that cannot work together."""
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("--tls-cert and --tls-key go together")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
        if self.max_concurrent < 1:
            raise ConfigError("--max-concurrent must be 1 or more")
        if self.max_participants < 1:
            raise ConfigError("--max-participants must be 1 or more")
        if self.max_message_bytes < 1024:
            raise ConfigError("--max-message-bytes must be 1024 or more")
        if not self.max_time_limit_s > 0:
            raise ConfigError("--max-time-limit must be more than 0")


GIVE_UP_BEFORE_GRACE_END_S = 0.2
"""A drain's calls whose work has not answered this long before the grace ends answer SERVER_STOPPING themselves."""


class RunningServer:
    """A started server: its ports, its health servicer and metrics, and `stop(grace)`."""

    def __init__(self, server: grpc.Server, port: int, service: MatchingService, health_servicer: health.HealthServicer,
                 metrics: ServiceMetrics, endpoint: MetricsEndpoint | None, config: ServerConfig,
                 open_calls: OpenCalls) -> None:
        self.server = server
        self.port = port
        self.service = service
        self.health = health_servicer
        self.metrics = metrics
        self.config = config
        self._endpoint = endpoint
        self.open_calls = open_calls
        self.clean = False  # after `stop`: whether gRPC closed every call
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def metrics_port(self) -> int | None:
        return self._endpoint.port if self._endpoint is not None else None

    @property
    def address(self) -> str:
        return f"{self.config.host}:{self.port}"

    def stop(self, grace: float | None = None) -> threading.Event:
        """Drain: NOT_SERVING, refuse new calls, let calls in flight finish within `grace` seconds.

        Shortly before the grace period ends, running solves are asked to stop and answer with their
        best matching so far (status FEASIBLE), so their callers get an answer, not a cancellation. Once
        every call of the service has closed (or the grace is over), whatever is still open (a health Watch,
        a reflection stream) is cancelled at once: the drain never waits for a stream that would never end.
        Returns an event set when the server has stopped; `clean` then says whether gRPC closed every call
        (a client can keep a call gRPC has already answered from closing; the process may exit regardless).
        """
        grace = self.config.grace_s if grace is None else max(0.0, grace)
        with self._lock:
            if self._stopping:
                return self._stopped
            self._stopping = True
        started = time.monotonic()
        log = server_logger()
        log.info("draining", extra={"fields": {"grace_s": grace, "solves_in_flight": self.service.slots.active(),
                                               "calls_open": self.open_calls.count()}})
        self.service.begin_drain()
        self.health.enter_graceful_shutdown()
        done = self.server.stop(grace)  # refuses new calls from now on; cancels every call still open after `grace`
        # Solves are told to stop and answer with what they have halfway through a short grace (2 s before the end of
        # a long one): answering a large cohort (its check, its message) can take a second. Calls whose work has
        # still not answered 0.2 s before the end answer UNAVAILABLE SERVER_STOPPING themselves.
        solves_told_at = started + (grace - max(0.5, min(2.0, 0.5 * grace)) if grace > 0 else 0.0)
        give_up_at = started + max(0.0, grace - GIVE_UP_BEFORE_GRACE_END_S)

        def finish() -> None:
            if not self.open_calls.wait_closed(solves_told_at - time.monotonic()):
                self.service.slots.stop_all()  # answer with the best matching so far
                if not self.open_calls.wait_closed(give_up_at - time.monotonic()):
                    self.service.give_up_waiting()
                self.open_calls.wait_closed(started + grace - time.monotonic())
            self.service.log_unlogged_refusals()
            self.server.stop(0)  # nothing of ours is left (or the grace is over): cancel the rest now
            self.clean = done.wait(CLOSE_WAIT_S)
            if self._endpoint is not None:
                # Closing waits for the endpoint's poll (up to 0.5 s): not on the way out of the drain.
                threading.Thread(target=self._endpoint.close, name="mentormatch-metrics-close", daemon=True).start()
            log.info("stopped", extra={"fields": {"clean": self.clean, "calls_open": self.open_calls.count(),
                                                  "solves_in_flight": self.service.slots.active(),
                                                  "seconds": round(time.monotonic() - started, 3)}})
            self._stopped.set()

        threading.Thread(target=finish, name="mentormatch-stop", daemon=True).start()
        return self._stopped

    def wait(self) -> None:
        self._stopped.wait()


def _refuse(service: MatchingService, name: str, request: Undecodable, context: grpc.ServicerContext) -> None:
    """Answer INVALID_ARGUMENT (REQUEST_UNDECODABLE) for bytes that are no message of the method's type; raises."""
    refusing_undecodable(service, name, lambda _request, _context: None)(request, context)


def health_handlers(service: MatchingService, servicer: health.HealthServicer) -> grpc.GenericRpcHandler:
    """grpc.health.v1.Health as `add_HealthServicer_to_server` adds it, but reading requests with `lenient_parser`:
    bytes that are no HealthCheckRequest get INVALID_ARGUMENT, not gRPC's own INTERNAL "Exception deserializing
    request!" (uncounted, unexplained, and logged by gRPC with a traceback)."""
    def watch(request: object, context: grpc.ServicerContext, send_response_callback: object = None) -> object:
        if isinstance(request, Undecodable):
            _refuse(service, "Health/Watch", request, context)
        return servicer.Watch(request, context, send_response_callback)

    # The servicer's Watch answers through a callback on its own thread (experimental_non_blocking): keep that.
    watch.experimental_non_blocking = getattr(servicer.Watch, "experimental_non_blocking", False)  # type: ignore[attr-defined]
    watch.experimental_thread_pool = getattr(servicer.Watch, "experimental_thread_pool", None)  # type: ignore[attr-defined]
    parse = lenient_parser(health_pb2.HealthCheckRequest)
    serialize = health_pb2.HealthCheckResponse.SerializeToString
    return grpc.method_handlers_generic_handler(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, {
        "Check": grpc.unary_unary_rpc_method_handler(refusing_undecodable(service, "Health/Check", servicer.Check),
                                                     parse, serialize),
        "Watch": grpc.unary_stream_rpc_method_handler(watch, parse, serialize),
    })


REFLECTION_V1_SERVICE_NAME = "grpc.reflection.v1.ServerReflection"
"""Server reflection's stable name: grpcio-reflection ships only `grpc.reflection.v1alpha`, whose messages are the
v1 ones on the wire, so the same handler answers under both names (newer grpcurl and Postman ask v1 first)."""


def reflection_handlers(service: MatchingService, servicer: reflection.ReflectionServicer
                        ) -> tuple[grpc.GenericRpcHandler, grpc.GenericRpcHandler]:
    """Server reflection as `enable_server_reflection` adds it, under `grpc.reflection.v1alpha` and
    `grpc.reflection.v1`, reading requests with `lenient_parser`: a stream that sends bytes that are no
    ServerReflectionRequest ends at once with INVALID_ARGUMENT, rather than with gRPC's INTERNAL, after which a
    client that keeps its side open held a drain for ever."""
    def info(requests: Iterator[object], context: grpc.ServicerContext) -> Iterator[object]:
        def readable() -> Iterator[object]:
            for request in requests:
                if isinstance(request, Undecodable):
                    _refuse(service, "ServerReflectionInfo", request, context)
                yield request

        yield from servicer.ServerReflectionInfo(readable(), context)

    methods = {"ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
        info, lenient_parser(reflection_pb2.ServerReflectionRequest),
        reflection_pb2.ServerReflectionResponse.SerializeToString)}
    return grpc.method_handlers_generic_handler(reflection.SERVICE_NAME, methods), \
        grpc.method_handlers_generic_handler(REFLECTION_V1_SERVICE_NAME, methods)


class Servicer(SweepingService, SpeedDatingServicer, ShortlistServicer):
    """MatchingService, SweepService, SpeedDatingService and ShortlistService on one set of slots, limits and
    metrics."""


SERVICE_NAMES = (SERVICE_NAME, SWEEP_SERVICE_NAME, SPEED_DATING_SERVICE_NAME, SHORTLIST_SERVICE_NAME)
"""Every service this server answers: in health checks, reflection and the drain's open calls."""


def create_server(config: ServerConfig, logger: logging.Logger | None = None) -> RunningServer:
    """Build, bind and start a server (and its metrics endpoint); returns at once."""
    config.check()
    return_freed_memory()
    log = logger or server_logger()
    metrics = ServiceMetrics()
    limits = config.service_limits()
    service = Servicer(limits, metrics, log)
    open_calls = OpenCalls(*SERVICE_NAMES)
    interceptors: list[grpc.ServerInterceptor] = [MetricsInterceptor(metrics, open_calls)]
    if config.token_file is not None:
        token = load_token(config.token_file)
        interceptors.append(TokenAuthInterceptor(token, on_denied=metrics.rejected.labels("unauthenticated").inc))
    workers = config.max_concurrent + config.extra_workers
    options = [
        ("grpc.max_receive_message_length", config.max_message_bytes),
        ("grpc.max_send_message_length", config.max_message_bytes),
        ("grpc.so_reuseport", 1 if config.reuse_port else 0),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mentormatch-rpc"),
        interceptors=interceptors,
        options=options,
        # No `maximum_concurrent_rpcs`: gRPC's own refusal has no RetryInfo and is not counted. Calls wait for a
        # thread instead, and every call that would solve is refused in milliseconds when no slot is free.
    )
    server.add_generic_rpc_handlers((method_handlers(service), sweep_handlers(service), speed_dating_handlers(service),
                                     shortlist_handlers(service)))
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mentormatch-health"))
    reflected = (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME,
                 REFLECTION_V1_SERVICE_NAME)
    server.add_generic_rpc_handlers((health_handlers(service, health_servicer),
                                     *reflection_handlers(service, reflection.ReflectionServicer(reflected))))
    address = f"{config.host}:{config.port}"
    try:
        if config.tls_cert is not None and config.tls_key is not None:
            port = server.add_secure_port(address, server_credentials(config.tls_cert, config.tls_key,
                                                                      config.tls_client_ca))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise ConfigError(f"cannot listen on {address}")
    endpoint = None
    if config.metrics_port is not None:
        try:
            endpoint = metrics.serve_http(config.metrics_host or config.host, config.metrics_port)
        except OSError as error:
            raise ConfigError(f"cannot serve metrics on port {config.metrics_port}: {error.strerror}") from None
    server.start()
    for name in ("", *SERVICE_NAMES):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", extra={"fields": {
        "port": port, "metrics_port": endpoint.port if endpoint else None, "tls": config.tls_cert is not None,
        "mutual_tls": config.tls_client_ca is not None, "token": config.token_file is not None,
        "max_concurrent": config.max_concurrent, "max_participants": config.max_participants,
        "max_message_bytes": config.max_message_bytes}})
    return RunningServer(server, port, service, health_servicer, metrics, endpoint, config, open_calls)


WARM_MODULES = ("scipy.optimize", "scipy.sparse.csgraph", "google.protobuf.json_format", "server.convert.results",
                "server.convert.explanations", "server.convert.protojson")
"""What a call imports on first use (the exact ranking's and re-optimisation's scipy, the answer's converters)."""


def settle_heap() -> None:
    """Import what calls import on first use, then move every object alive now (modules, classes, the protobuf
    descriptors: ~115,000 objects) into the cyclic collector's permanent generation (`gc.freeze`).

    Each of the collector's full passes otherwise walks all of them again: ~0.45 ms of every 15 x 15 Match call
    (~6 ms of CPU) went to collections, 0.01 ms after (benchmarks/README.md). They live as long as the process,
    so nothing is lost that could have been freed; the first call does not pay the imports either. `serve` calls
    it before it builds its server; tests' in-process servers do not (freezing a test run's heap would keep its
    garbage)."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()


def serve(config: ServerConfig, logger: logging.Logger | None = None) -> None:
    """Run a server until SIGTERM or SIGINT, then drain within `config.grace_s` seconds.

    SIGINT (Ctrl-C) drains exactly like SIGTERM; a second signal changes nothing. The process is done within the
    grace and `CLOSE_WAIT_S`: when gRPC has not closed every call by then (a client keeping an answered call
    open; work that did not stop), the process exits 0 at once rather than wait for threads that may never end.
    Once drained it exits at once too (`os._exit` after the logs are flushed): the interpreter's own shutdown
    (joining pools, freeing every module) took ~1 s after dense solves, past the grace's last second.
    """
    settle_heap()  # before the server is built: the first call neither waits for imports nor meets a collection
    running = create_server(config, logger)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    # `kill -USR1`: every thread's stack to stderr (code locations only, no data), for a server that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        # Woken regularly: a signal's Python handler runs in the main thread only once it leaves a blocking wait.
        while not stopping.wait(SIGNAL_POLL_S):
            pass
        # Past this the process ends whatever holds it (a lock, a call that will not close): every thread's stack
        # goes to stderr and it exits 1, as the promise of a bounded drain holds even when the drain does not.
        faulthandler.dump_traceback_later(config.grace_s + 2 * CLOSE_WAIT_S + EXIT_WATCHDOG_S, exit=True)
        running.stop(config.grace_s).wait(config.grace_s + 2 * CLOSE_WAIT_S)
        # Interpreter shutdown would join the gRPC pool's threads (some may never end) and free every module:
        # exit without it.
        for log_handler in (logger or server_logger()).handlers:
            log_handler.flush()
        os._exit(0)
    finally:
        faulthandler.cancel_dump_traceback_later()
        faulthandler.unregister(signal.SIGUSR1)
        for sig, handler in previous.items():
            signal.signal(sig, handler)

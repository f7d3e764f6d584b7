"""A small typed Python client of the mentormatch services (MatchingService, ShortlistService, SweepService,
SpeedDatingService), and `solve_remote` for `mentormatch solve --server`."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2
from grpc_status import rpc_status

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import shortlist_pb2 as slpb
from mentormatch.v1 import speeddating_pb2 as sdpb
from mentormatch.v1 import sweep_pb2 as spb
from server import convert as mapping
from server.replicas import names_replicas, service_config, single_server_config
from solver.compare import ScenarioChanges
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.solve import SolveOptions
from solver.workflows import PairRef

SERVICE_PATH = "/mentormatch.v1.MatchingService/"
SHORTLIST_PATH = "/mentormatch.v1.ShortlistService/Shortlist"
SWEEP_PATH = "/mentormatch.v1.SweepService/Sweep"
SPEED_DATING_PATH = "/mentormatch.v1.SpeedDatingService/PlanSpeedDating"
TOKEN_ENV = "MENTORMATCH_TOKEN"
"""`solve_remote` reads the bearer token from this environment variable when none is given."""
CA_ENV = "MENTORMATCH_TLS_CA"
"""`solve_remote` uses TLS with this CA certificate file (PEM) when the variable is set."""
DEADLINE_SLACK_S = 10.0
"""A call's deadline is the solve's time limit plus this: the service answers with its best before then."""
RETRYABLE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE})
"""Refusals the client calls again after the delay their RetryInfo asks for (busy, draining)."""

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How `MentormatchClient` answers a refusal that carries a `google.rpc.RetryInfo` (RESOURCE_EXHAUSTED
    when every solve slot is busy, UNAVAILABLE when the server drains): it waits the delay the service asks
    for, plus up to `jitter` of it at random (so that refused clients do not come back at the same instant),
    and calls again; at most `max_attempts` calls in all, and never past the call's deadline (a delay that
    would end after it is not waited: the refusal is raised at once). A refusal without a RetryInfo (a
    message over the size cap, bad input) is raised as it comes. `RetryPolicy(max_attempts=1)`: no retries.

    gRPC's own retryPolicy (the channel's service config, `server.replicas`) cannot do this: it does not
    read RetryInfo, and gives up after at most 5 attempts within about a second."""

    max_attempts: int = 8
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("max_attempts >= 1, 0 <= jitter <= 1")


@dataclass
class RemoteError(Exception):
    """A call failed: the gRPC status code, its message and the structured details the service sent."""

    code: grpc.StatusCode
    message: str
    reason: str = ""  # google.rpc.ErrorInfo.reason ("COHORT_INVALID", "SOLVER_BUSY", ...)
    violations: list[tuple[str, str]] = field(default_factory=list)  # (field path, description) from BadRequest
    metadata: dict[str, str] = field(default_factory=dict)  # ErrorInfo.metadata
    retry_delay_s: float | None = None  # RetryInfo.retry_delay: how long to wait before calling again

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


def remote_error(error: grpc.RpcError) -> RemoteError:
    """The `RemoteError` of a failed call: its code, message and the details the service sent."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    out = RemoteError(code, message or "")
    try:
        status = rpc_status.from_call(error)
    except ValueError:
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out.violations = [(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            out.reason, out.metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            out.retry_delay_s = retry.retry_delay.ToNanoseconds() / 1e9
    return out


def _read(path: Path | str | bytes | None) -> bytes | None:
    if path is None or isinstance(path, bytes):
        return path
    return Path(path).read_bytes()


class MentormatchClient:
    """A channel to one server, and one typed method per RPC. Raises `RemoteError` when a call fails.

    `root_certificates` (PEM bytes or a file) turns on TLS; `client_cert` and `client_key` add a client
    certificate for mutual TLS; `token` is sent as `authorization: Bearer <token>` on every call.

    Retries: a refusal with a `RetryInfo` is called again after the delay it asks for (`retry`, see
    `RetryPolicy`; `match_future` excepted), within the call's timeout. The channel's gRPC service config
    (`service_config`, by default chosen from the target) retries calls that failed UNAVAILABLE before the
    service saw them; a target naming several replicas (`ipv4:a:1,b:2,c:3`, or `dns:///name:port`) gets
    `server.replicas.service_config()`: round_robin over every healthy replica, and a refused call tried
    again at once on another one.
    """

    def __init__(self, target: str, token: str | None = None, root_certificates: bytes | Path | str | None = None,
                 client_cert: bytes | Path | str | None = None, client_key: bytes | Path | str | None = None,
                 *, max_message_bytes: int = 64 * 1024 * 1024, retry: RetryPolicy | None = None,
                 service_config: dict[str, Any] | None = None) -> None:
        if service_config is None:
            service_config = server_config_for(target)
        self.retry = retry or RetryPolicy()
        options = [("grpc.max_receive_message_length", max_message_bytes),
                   ("grpc.max_send_message_length", max_message_bytes),
                   ("grpc.service_config", json.dumps(service_config)), ("grpc.enable_retries", 1),
                   ("grpc.service_config_disable_resolution", 1)]
        if root_certificates is not None or client_cert is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=_read(root_certificates),
                                                       private_key=_read(client_key),
                                                       certificate_chain=_read(client_cert))
            self.channel = grpc.secure_channel(target, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(target, options=options)
        self._metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        unary, stream = self.channel.unary_unary, self.channel.unary_stream
        self._match = unary(SERVICE_PATH + "Match", request_serializer=mpb.MatchRequest.SerializeToString,
                            response_deserializer=mpb.MatchResponse.FromString)
        self._stream_match = stream(SERVICE_PATH + "StreamMatch",
                                    request_serializer=mpb.StreamMatchRequest.SerializeToString,
                                    response_deserializer=mpb.StreamMatchResponse.FromString)
        self._explain_pair = unary(SERVICE_PATH + "ExplainPair",
                                   request_serializer=mpb.ExplainPairRequest.SerializeToString,
                                   response_deserializer=mpb.ExplainPairResponse.FromString)
        self._compare = unary(SERVICE_PATH + "CompareScenarios",
                              request_serializer=mpb.CompareScenariosRequest.SerializeToString,
                              response_deserializer=mpb.CompareScenariosResponse.FromString)
        self._rematch = unary(SERVICE_PATH + "Rematch", request_serializer=mpb.RematchRequest.SerializeToString,
                              response_deserializer=mpb.RematchResponse.FromString)
        self._shortlist = unary(SHORTLIST_PATH, request_serializer=slpb.ShortlistRequest.SerializeToString,
                                response_deserializer=slpb.ShortlistResponse.FromString)
        self._sweep = stream(SWEEP_PATH, request_serializer=spb.SweepRequest.SerializeToString,
                             response_deserializer=spb.SweepResponse.FromString)
        self._plan_speed_dating = unary(SPEED_DATING_PATH,
                                        request_serializer=sdpb.PlanSpeedDatingRequest.SerializeToString,
                                        response_deserializer=sdpb.PlanSpeedDatingResponse.FromString)
        self._health = unary("/grpc.health.v1.Health/Check",
                             request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                             response_deserializer=health_pb2.HealthCheckResponse.FromString)

    def __enter__(self) -> MentormatchClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    @staticmethod
    def request_fields(cohort: Cohort | pb.Cohort, options: SolveOptions | None, explain: bool | str,
                       ) -> tuple[pb.Cohort, mpb.MatchOptions, float]:
        """The cohort and options as messages, and the call's timeout (the time limit plus slack)."""
        options = options or SolveOptions()
        level = ("FULL" if explain else "NONE") if isinstance(explain, bool) else explain.upper()
        return _cohort_message(cohort), mapping.options_to_proto(options, level), options.time_limit_s + DEADLINE_SLACK_S

    def _retrying(self, attempt: Callable[[float | None], T], timeout: float | None) -> T:
        """`attempt(time left)` until it returns, or raises a `RemoteError` that `self.retry` does not retry."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for number in range(1, self.retry.max_attempts + 1):
            left = None if deadline is None else deadline - time.monotonic()
            try:
                return attempt(left)
            except grpc.RpcError as error:
                failure = remote_error(error)
            delay = failure.retry_delay_s
            if failure.code not in RETRYABLE or delay is None or number == self.retry.max_attempts:
                raise failure from None
            delay *= 1 + random.uniform(0, self.retry.jitter)
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise failure from None
            time.sleep(delay)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        return self._retrying(lambda left: method(request, timeout=left, metadata=self._metadata), timeout)

    def match(self, cohort: Cohort | pb.Cohort, options: SolveOptions | None = None, *, explain: bool | str = False,
              label: str = "", validate_only: bool = False, timeout: float | None = None) -> mpb.MatchResponse:
        """Solve (or with `validate_only`, check) a cohort. `explain`: False/True or "NONE", "PAIRS", "FULL"."""
        msg, opts, default_timeout = self.request_fields(cohort, options, explain)
        request = mpb.MatchRequest(cohort=msg, options=opts, label=label, validate_only=validate_only)
        response: mpb.MatchResponse = self._call(self._match, request, timeout or default_timeout)
        return response

    def match_future(self, cohort: Cohort | pb.Cohort, options: SolveOptions | None = None, *,
                     explain: bool | str = False, timeout: float | None = None) -> grpc.Future:
        """Start a Match call without waiting (`.result()`, `.cancel()`); errors stay `grpc.RpcError`, and a
        refusal is not called again (only the channel's gRPC retries apply)."""
        msg, opts, default_timeout = self.request_fields(cohort, options, explain)
        return self._match.future(mpb.MatchRequest(cohort=msg, options=opts), timeout=timeout or default_timeout,
                                  metadata=self._metadata)

    def stream_match(self, cohort: Cohort | pb.Cohort, options: SolveOptions | None = None, *,
                     explain: bool | str = False, label: str = "", timeout: float | None = None
                     ) -> Iterator[mpb.StreamMatchResponse]:
        """Progress messages while the solve runs, then one message with the full result. A refusal is called
        again as `match` does, until the first message has arrived (not after: the solve has begun)."""
        msg, opts, default_timeout = self.request_fields(cohort, options, explain)
        request = mpb.StreamMatchRequest(cohort=msg, options=opts, label=label)
        yield from self._streamed(self._stream_match, request, timeout or default_timeout)

    def _streamed(self, method: Any, request: Any, timeout: float | None) -> Iterator[Any]:
        """A server stream's messages; a refusal is called again until the first message has arrived."""

        def first(left: float | None) -> tuple[Any, Any]:
            stream = method(request, timeout=left, metadata=self._metadata)
            return stream, next(stream, None)

        stream, head = self._retrying(first, timeout)
        if head is None:
            return
        yield head
        try:
            yield from stream
        except grpc.RpcError as error:
            raise remote_error(error) from None

    def explain_pair(self, cohort: Cohort | pb.Cohort, mentee_id: str, mentor_id: str,
                     options: SolveOptions | None = None, *, timeout: float | None = None) -> mpb.ExplainPairResponse:
        """Why (not) this pair: the hard rules it breaks, or its score and what forcing it would cost."""
        msg, opts, default_timeout = self.request_fields(cohort, options, False)
        request = mpb.ExplainPairRequest(cohort=msg, mentee_id=mentee_id, mentor_id=mentor_id, options=opts)
        response: mpb.ExplainPairResponse = self._call(self._explain_pair, request, timeout or 2 * default_timeout)
        return response

    def compare_scenarios(self, cohort: Cohort | pb.Cohort | mpb.CompareScenariosRequest,
                          scenarios: Sequence[mpb.Scenario | tuple[str, ScenarioChanges]] = (),
                          options: SolveOptions | None = None, *, base_label: str = "",
                          counterfactuals: bool = False, label: str = "", timeout: float | None = None
                          ) -> mpb.CompareScenariosResponse:
        """Solve the base cohort and each what-if scenario; `response.base`, then `response.scenarios[i]` for
        `scenarios[i]`. A scenario is a `Scenario` message or (label, `solver.compare.ScenarioChanges`).

        A ready `CompareScenariosRequest` may be passed instead of the cohort (the other arguments then
        do not apply). The default timeout gives every scenario its time limit (twice with
        `counterfactuals`) plus slack.
        """
        if isinstance(cohort, mpb.CompareScenariosRequest):
            request = cohort
        else:
            msg, opts, _ = self.request_fields(cohort, options, False)
            request = mpb.CompareScenariosRequest(
                cohort=msg, options=opts, label=label, base_label=base_label, counterfactuals=counterfactuals,
                scenarios=[s if isinstance(s, mpb.Scenario) else mapping.scenario_to_proto(s[0], s[1])
                           for s in scenarios])
        if timeout is None:
            per_solve = _time_limit_s(request.options)
            solves = (1 + len(request.scenarios)) * (2 if request.counterfactuals else 1)
            timeout = per_solve * solves + DEADLINE_SLACK_S
        response: mpb.CompareScenariosResponse = self._call(self._compare, request, timeout)
        return response

    def rematch(self, cohort: Cohort | pb.Cohort | mpb.RematchRequest,
                current_pairs: Iterable[PairRef | tuple[str, str]] = (), *, left: Iterable[str] = (),
                joined: Iterable[str] = (), keep: Iterable[PairRef | tuple[str, str]] = (),
                penalty: int | None = None, max_changes: int | None = None, options: SolveOptions | None = None,
                label: str = "", timeout: float | None = None) -> mpb.RematchResponse:
        """Re-match today's cohort given the pairs running now, who left and who joined (see
        `solver.rematch.rematch`). `penalty` None is the service's default (300 points per changed pair).

        A ready `RematchRequest` may be passed instead of the cohort (the other arguments then do not
        apply). The default timeout covers the two solves (the re-match and the fresh optimum) plus slack.
        """
        if isinstance(cohort, mpb.RematchRequest):
            request = cohort
        else:
            msg, opts, _ = self.request_fields(cohort, options, False)
            request = mpb.RematchRequest(
                cohort=msg, options=opts, label=label, current_pairs=_pair_refs(current_pairs), left_ids=list(left),
                joined_ids=list(joined), keep_pairs=_pair_refs(keep), penalty=penalty, max_changes=max_changes)
        if timeout is None:
            per_solve = _time_limit_s(request.options)
            timeout = 2 * per_solve + DEADLINE_SLACK_S
        response: mpb.RematchResponse = self._call(self._rematch, request, timeout)
        return response

    def shortlist(self, cohort: Cohort | pb.Cohort | slpb.ShortlistRequest, *, size: int = 0,
                  side: str | int = "mentee", max_lists: int | None = None, seed: int = 0,
                  time_limit_s: float | None = None, label: str = "", timeout: float | None = None
                  ) -> slpb.ShortlistResponse:
        """Shortlists (ShortlistService.Shortlist): each person's partner in the optimum first, then proposals
        with what choosing them costs the cohort, and the clashes. `size` 0 is the service's default (3);
        `side` "mentee" (each mentee's mentors) or "mentor", or an `mpb.Side` value; `max_lists` None: `size`.

        A ready `ShortlistRequest` may be passed instead of the cohort (the other arguments then do not apply).
        The default timeout is the time limit (30 s when absent) plus slack."""
        if isinstance(cohort, slpb.ShortlistRequest):
            request = cohort
        else:
            request = slpb.ShortlistRequest(cohort=_cohort_message(cohort), size=size, side=_side(side),
                                            max_lists=max_lists, seed=seed, label=label)
            if time_limit_s is not None:
                request.time_limit.FromNanoseconds(round(time_limit_s * 1e9))
        response: slpb.ShortlistResponse = self._call(
            self._shortlist, request, timeout or _time_limit_s(request) + DEADLINE_SLACK_S)
        return response

    def sweep(self, cohort: Cohort | pb.Cohort | spb.SweepRequest,
              axes: Sequence[spb.SweepAxis | tuple[str, Sequence[mpb.Scenario | tuple[str, ScenarioChanges]]]] = (),
              options: SolveOptions | None = None, *, label: str = "", timeout: float | None = None
              ) -> Iterator[spb.SweepResponse]:
        """A grid of rule settings (SweepService.Sweep), streamed: one message per setting's outcome, in grid
        order, then one with the summary and its Pareto frontier. An axis is a `SweepAxis` or (rule, values),
        each value a `Scenario` message or (label, `solver.compare.ScenarioChanges`). A refusal is called again
        as `match` does, until the first message has arrived.

        A ready `SweepRequest` may be passed instead of the cohort (the other arguments then do not apply).
        The default timeout gives every setting its time limit plus slack."""
        if isinstance(cohort, spb.SweepRequest):
            request = cohort
        else:
            msg, opts, _ = self.request_fields(cohort, options, False)
            request = spb.SweepRequest(cohort=msg, options=opts, label=label, axes=[
                a if isinstance(a, spb.SweepAxis) else spb.SweepAxis(rule=a[0], values=[
                    v if isinstance(v, mpb.Scenario) else mapping.scenario_to_proto(v[0], v[1]) for v in a[1]])
                for a in axes])
        if timeout is None:
            settings = 1
            for axis in request.axes:
                settings *= max(1, len(axis.values))
            timeout = _time_limit_s(request.options) * settings + DEADLINE_SLACK_S
        yield from self._streamed(self._sweep, request, timeout)

    def plan_speed_dating(self, cohort: Cohort | pb.Cohort | sdpb.PlanSpeedDatingRequest, *, rounds: int = 6,
                          minutes: int = 8, tables: int | None = None, max_breaks: int | None = None,
                          alternatives: int = 0, seed: int = 0, time_limit_s: float | None = None,
                          label: str = "", timeout: float | None = None) -> sdpb.PlanSpeedDatingResponse:
        """A kick-off's speed-dating rounds (SpeedDatingService.PlanSpeedDating): `rounds` of `minutes` each,
        at most `tables` meetings a round (None: no limit), `max_breaks` rounds a person may sit out (None: no
        limit), covering the pairs of `alternatives` matchings (0: the service's default, 3).

        A ready `PlanSpeedDatingRequest` may be passed instead of the cohort (the other arguments then do not
        apply). The default timeout is the time limit (30 s when absent) plus slack."""
        if isinstance(cohort, sdpb.PlanSpeedDatingRequest):
            request = cohort
        else:
            request = sdpb.PlanSpeedDatingRequest(cohort=_cohort_message(cohort), rounds=rounds, minutes=minutes,
                                                  tables=tables, max_breaks=max_breaks, alternatives=alternatives,
                                                  seed=seed, label=label)
            if time_limit_s is not None:
                request.time_limit.FromNanoseconds(round(time_limit_s * 1e9))
        response: sdpb.PlanSpeedDatingResponse = self._call(
            self._plan_speed_dating, request, timeout or _time_limit_s(request) + DEADLINE_SLACK_S)
        return response

    def health(self, service: str = "", *, timeout: float = 5.0) -> str:
        """The serving status ("SERVING", "NOT_SERVING", ...) of the server ("") or one service."""
        response = self._call(self._health, health_pb2.HealthCheckRequest(service=service), timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def server_config_for(target: str) -> dict[str, Any]:
    """The gRPC service config `MentormatchClient` uses for `target`: `server.replicas.service_config()` when it
    names several replicas, `server.replicas.single_server_config()` otherwise."""
    return service_config() if names_replicas(target) else single_server_config()


def _cohort_message(cohort: Cohort | pb.Cohort) -> pb.Cohort:
    return cohort if isinstance(cohort, pb.Cohort) else mapping.cohort_to_proto(cohort)


def _side(side: str | int) -> mpb.Side.ValueType:
    """A `Side` value from "mentee"/"mentor" (any case) or the enum's number."""
    if isinstance(side, int):
        return mpb.Side.ValueType(side)
    return mpb.Side.Value(f"SIDE_{side.upper()}")


def _time_limit_s(message: Any) -> float:
    """A request's (or options') `time_limit` in seconds; the service's default when absent."""
    if message.HasField("time_limit"):
        return float(message.time_limit.ToNanoseconds() / 1e9)
    return float(mapping.DEFAULT_TIME_LIMIT_S)


def _pair_refs(pairs: Iterable[PairRef | tuple[str, str]]) -> list[pb.PairRef]:
    return [pb.PairRef(mentee_id=p.mentee_id, mentor_id=p.mentor_id) if isinstance(p, PairRef)
            else pb.PairRef(mentee_id=p[0], mentor_id=p[1]) for p in pairs]


def _problems(error: RemoteError) -> list[Problem]:
    out = []
    for path, description in error.violations:
        code_text, _, message = description.partition(": ")
        code = ProblemCode(code_text) if code_text in ProblemCode.__members__ else ProblemCode.BAD_VALUE
        out.append(Problem(code, path, message or description, location=path))
    return out


def solve_remote(target: str, cohort: Cohort, options: SolveOptions, explain: bool = False) -> mpb.MatchResponse:
    """Solve on a server: its `MatchResponse` (with the explanation when asked), the message a local
    `mentormatch solve` builds too. Input problems raise `CohortInvalid`; other failures `RemoteError`.

    The token comes from $MENTORMATCH_TOKEN and a TLS CA file from $MENTORMATCH_TLS_CA, when set.
    """
    token = os.environ.get(TOKEN_ENV) or None
    ca = os.environ.get(CA_ENV) or None
    with MentormatchClient(target, token=token, root_certificates=ca) as client:
        try:
            response = client.match(cohort, options, explain=explain)
        except RemoteError as error:
            if error.code == grpc.StatusCode.INVALID_ARGUMENT and error.violations:
                raise CohortInvalid(_problems(error)) from None
            raise
    return response

"""What the service answers when it does not answer: limits, errors with rich details (google.rpc), in one place."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from mentormatch.v1 import matching_pb2 as mpb
from server import convert as mapping
from solver.budget import MAX_CANDIDATE_PAIRS

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
    max_message_bytes: int = 64 * 1024 * 1024  # the largest answer gRPC sends (--max-message-mb): checked before
    max_listed_problems: int = 10_000  # problems a validate_only answer lists (and at most half its largest message)


class ServiceError(Exception):
    """A call ends with this status (raised inside handlers, turned into the call's status in one place)."""

    def __init__(self, status: grpc.Status, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason  # for the log: an ErrorInfo reason or a short code, no input values


RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
"""Trailing metadata gRPC's own retries read (gRFC A6): wait this many milliseconds before the next attempt."""


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):
    """A status to abort a call with (grpc.Status is an interface)."""


def error_status(code: int, message: str, *details: Any) -> grpc.Status:
    """The status with its details (google.rpc.Status in `grpc-status-details-bin`); a RetryInfo's delay also as
    `grpc-retry-pushback-ms`, so that a client's built-in retry policy (any language) waits it out too."""
    packed = []
    for detail in details:
        holder = any_pb2.Any()
        holder.Pack(detail)
        packed.append(holder)
    status = rpc_status.to_status(status_pb2.Status(code=code, message=message, details=packed))
    delays = [d.retry_delay.ToMilliseconds() for d in details if isinstance(d, error_details_pb2.RetryInfo)]
    if not delays:
        return status
    return _Status(status.code, status.details,
                   (*status.trailing_metadata, (RETRY_PUSHBACK_KEY, str(max(delays)))))


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
        message += f"; the first {listed} are listed (call with validate_only=true to get them as data)"
    info = error_info(reason, problems=total, listed=listed)
    return ServiceError(error_status(code_pb2.INVALID_ARGUMENT, message, bad, info), reason)


NO_RETRY_PUSHBACK = "-1"
"""`grpc-retry-pushback-ms` that tells gRPC's own retries not to call again (gRFC A6: a negative pushback)."""


def answer_too_large(size: int, limits: ServiceLimits, instead: str) -> ServiceError:
    """RESOURCE_EXHAUSTED (ANSWER_TOO_LARGE) for an answer of `size` bytes above the largest message this server sends,
    saying both sizes and what to ask for `instead`. No RetryInfo, and a pushback that stops gRPC's own retries: the
    same request gets the same answer."""
    status = error_status(
        code_pb2.RESOURCE_EXHAUSTED,
        f"the answer is {size:,} bytes, more than this server's largest message of {limits.max_message_bytes:,} bytes "
        f"(--max-message-mb); {instead}",
        error_info("ANSWER_TOO_LARGE", answer_bytes=size, max_message_bytes=limits.max_message_bytes))
    return ServiceError(_Status(status.code, status.details,
                                (*status.trailing_metadata, (RETRY_PUSHBACK_KEY, NO_RETRY_PUSHBACK))),
                        "ANSWER_TOO_LARGE")


def problems_to_list(problems: Sequence[mpb.InputProblem], limits: ServiceLimits) -> int:
    """How many of `problems` (the first ones) a validate_only answer lists: at most `max_listed_problems`, and as
    many as fit in half the largest message (the rest of the answer has room; every problem is still counted)."""
    budget = limits.max_message_bytes // 2
    size = 0
    for listed, problem in enumerate(problems[:limits.max_listed_problems]):
        size += problem.ByteSize() + 4  # the field's tag and length
        if size > budget:
            return listed
    return min(len(problems), limits.max_listed_problems)

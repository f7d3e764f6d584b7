"""A request's `MatchOptions` <-> the engine's `SolveOptions`, and durations."""

from __future__ import annotations

import dataclasses
import math

from google.protobuf import duration_pb2

from mentormatch.v1 import matching_pb2 as mpb
from solver.cohort_proto import field_default
from solver.domain import ObjectiveMode
from solver.errors import Problem, ProblemCode
from solver.solve import SolveOptions

MODE_TO_PROTO: dict[ObjectiveMode, mpb.ObjectiveMode.ValueType] = {
    m: mpb.ObjectiveMode.Value(f"OBJECTIVE_MODE_{m.name}") for m in ObjectiveMode
}
MODE_FROM_PROTO: dict[int, ObjectiveMode] = {int(v): m for m, v in MODE_TO_PROTO.items()}
MODE_FROM_PROTO[int(mpb.OBJECTIVE_MODE_UNSPECIFIED)] = ObjectiveMode.SCORE
_EXPLAIN_NAMES: dict[int, str] = {
    int(mpb.EXPLAIN_LEVEL_UNSPECIFIED): "NONE",
    int(mpb.EXPLAIN_LEVEL_NONE): "NONE",
    int(mpb.EXPLAIN_LEVEL_PAIRS): "PAIRS",
    int(mpb.EXPLAIN_LEVEL_FULL): "FULL",
}

DEFAULT_ALTERNATIVES = field_default(SolveOptions, "alternatives")
DEFAULT_TIME_LIMIT_S: float = field_default(SolveOptions, "time_limit_s")
MAX_ALTERNATIVES = 50


@dataclasses.dataclass(frozen=True)
class RequestOptions:
    """What a request's `MatchOptions` ask for, in domain terms."""

    solve: SolveOptions
    explain: str  # "NONE", "PAIRS" or "FULL"
    time_limit_given: bool


def options_from_proto(msg: mpb.MatchOptions, path: str = "options") -> tuple[RequestOptions, list[Problem]]:
    """Domain solve options from `MatchOptions`, and every problem with them (paths like `options.alternatives`).

    Never raises. Absent fields take the defaults of `solver.solve.SolveOptions`; the time limit is as
    asked (the service bounds it by the deadline and its own maximum).
    """
    problems: list[Problem] = []

    def bad(name: str, message: str) -> None:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"{path}.{name}", message))

    alternatives = msg.alternatives if msg.HasField("alternatives") else DEFAULT_ALTERNATIVES
    if not 1 <= alternatives <= MAX_ALTERNATIVES:
        bad("alternatives", f"{alternatives} is not in 1..{MAX_ALTERNATIVES}")
        alternatives = DEFAULT_ALTERNATIVES
    min_difference: int | None = msg.min_difference if msg.HasField("min_difference") else None
    if min_difference is not None and min_difference < 1:
        bad("min_difference", f"{min_difference} is below 1 (leave it out for 10 % of the pairs)")
        min_difference = None
    mode = MODE_FROM_PROTO.get(msg.mode)
    if mode is None:
        bad("mode", f"unknown objective mode number {msg.mode}")
        mode = ObjectiveMode.SCORE
    explain = _EXPLAIN_NAMES.get(msg.explain)
    if explain is None:
        bad("explain", f"unknown explain level number {msg.explain}")
        explain = "NONE"
    time_limit = DEFAULT_TIME_LIMIT_S
    given = msg.HasField("time_limit")
    if given:
        seconds = msg.time_limit.seconds + msg.time_limit.nanos / 1e9
        if not (seconds > 0 and math.isfinite(seconds)) or msg.time_limit.nanos < 0 or msg.time_limit.nanos >= 10**9:
            bad("time_limit", "the time limit must be more than 0 s (leave it out for the default)")
        else:
            time_limit = seconds
    solve = SolveOptions(mode=mode, alternatives=alternatives, min_difference=min_difference,
                         time_limit_s=time_limit, seed=msg.seed, stable=msg.stable)
    return RequestOptions(solve=solve, explain=explain, time_limit_given=given), problems


def options_to_proto(options: SolveOptions, explain: str = "NONE") -> mpb.MatchOptions:
    """`MatchOptions` asking for what `options` say (explain: "NONE", "PAIRS" or "FULL")."""
    msg = mpb.MatchOptions(
        alternatives=options.alternatives,
        mode=MODE_TO_PROTO[options.mode],
        seed=options.seed,
        stable=options.stable,
        explain=mpb.ExplainLevel.Value(f"EXPLAIN_LEVEL_{explain}"),
    )
    if options.min_difference is not None:
        msg.min_difference = options.min_difference
    msg.time_limit.FromNanoseconds(round(options.time_limit_s * 1e9))
    return msg


def duration(value: float) -> duration_pb2.Duration:
    """Seconds as a `google.protobuf.Duration` (negative values as 0)."""
    out = duration_pb2.Duration()
    out.FromNanoseconds(max(0, round(value * 1e9)))
    return out

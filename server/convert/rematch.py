"""Rematch: the request -> the engine's arguments, its problems at request paths, the result -> the answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.messages import to_message
from server.convert.origins import RequestOrigins, filtered_paths
from server.convert.problems import problem_message
from solver.domain import Cohort
from solver.errors import Problem, ProblemCode
from solver.rematch import DEFAULT_PENALTY, RematchResult
from solver.workflows import PairRef

_REMATCH_FIELDS = {"current": "current_pairs", "left": "left_ids", "joined": "joined_ids", "keep": "keep_pairs"}


@dataclasses.dataclass(frozen=True)
class RematchInputs:
    """A Rematch request's arguments of `solver.rematch.rematch`, besides the cohort and the options."""

    current: tuple[PairRef, ...]
    left: tuple[str, ...]
    joined: tuple[str, ...]
    keep: tuple[PairRef, ...]
    penalty: int
    max_changes: int | None


MAX_PENALTY = 10**14
"""The largest disruption penalty a Rematch call takes: far above any cohort's `points_per_matched_mentee`
times its mentees, and low enough that `rematch_value` (the objective minus penalty x changes) fits an int64."""


def rematch_inputs_from_proto(msg: mpb.RematchRequest) -> tuple[RematchInputs, list[mpb.InputProblem]]:
    """The library's arguments, and the problems the library cannot see (a penalty too large for the answer).

    Absent `penalty` is the library's default (`solver.rematch.DEFAULT_PENALTY`); absent `max_changes` no cap.
    The library checks the rest (unknown ids, negative values) when it is called.
    """
    problems = []
    if msg.HasField("penalty") and msg.penalty > MAX_PENALTY:
        problems.append(problem_message(ProblemCode.OUT_OF_RANGE, "penalty",
                                         f"penalty {msg.penalty} is above {MAX_PENALTY}"))
    return RematchInputs(
        current=tuple(PairRef(p.mentee_id, p.mentor_id) for p in msg.current_pairs),
        left=tuple(msg.left_ids),
        joined=tuple(msg.joined_ids),
        keep=tuple(PairRef(p.mentee_id, p.mentor_id) for p in msg.keep_pairs),
        penalty=min(msg.penalty, MAX_PENALTY) if msg.HasField("penalty") else DEFAULT_PENALTY,
        max_changes=msg.max_changes if msg.HasField("max_changes") else None,
    ), problems


def rematch_problems_to_proto(problems: Sequence[Problem], cohort: Cohort, inputs: RematchInputs
                              ) -> list[mpb.InputProblem]:
    """`solver.rematch.rematch`'s problems at request paths: `current[2].mentee_id` -> `current_pairs[2].mentee_id`,
    and a problem of the cohort it solves (the request's minus who left, with the kept pairs pinned) at the
    element it came from (`keep_pairs[1]`, `cohort.mentees[4]`)."""
    gone = set(inputs.left)
    stays = lambda ids: not gone & set(ids)  # noqa: E731
    rules = cohort.rules
    pin_origin: dict[tuple[str, str], str] = {}
    for j, pin in enumerate(rules.pins):
        pin_origin.setdefault(pin, f"cohort.rules.pins[{j}]")
    for j, kept in enumerate(inputs.keep):
        pin_origin.setdefault((kept.mentee_id, kept.mentor_id), f"keep_pairs[{j}]")
    origins = RequestOrigins("", fallback_rules="cohort.rules")
    origins.items = {
        "mentors": filtered_paths("cohort.mentors", cohort.mentors, lambda m: m.id not in gone),
        "mentees": filtered_paths("cohort.mentees", cohort.mentees, lambda m: m.id not in gone),
        "rankings": filtered_paths("cohort.rankings", cohort.rankings, lambda r: stays((r.from_id, r.to_id))),
        "rules.pins": [origin for pin, origin in pin_origin.items() if stays(pin)],
        "rules.bans": filtered_paths("cohort.rules.bans", rules.bans, stays),
        "rules.travel_times": filtered_paths("cohort.rules.travel_times", rules.travel_times,
                                        lambda t: stays((t.mentee_id, t.mentor_id))),
        "rules.organisation_caps": [f"cohort.rules.organisation_caps[{j}]" for j in range(len(rules.organisation_caps))],
        "rules.gender_quotas": [f"cohort.rules.gender_quotas[{j}]" for j in range(len(rules.gender_quotas))],
    }
    if inputs.keep:
        origins.rules["rules.pins"] = "keep_pairs"
    out = []
    for problem in problems:
        head, sep, rest = problem.path.partition("[")
        if head in _REMATCH_FIELDS and sep:
            out.append(problem_message(problem.code, f"{_REMATCH_FIELDS[head]}[{rest}", problem.message))
        elif problem.path in ("penalty", "max_changes"):
            out.append(problem_message(problem.code, problem.path, problem.message))
        else:
            out.append(origins.problem(problem))
    return out


def rematch_response_from_result(result: RematchResult, label: str = "") -> mpb.RematchResponse:
    """A `solver.rematch.RematchResult` as the Rematch answer."""
    msg = to_message(result, mpb.RematchResponse(label=label))
    msg.mentee_count, msg.mentor_count = result.mentees, result.mentors
    msg.kept_count, msg.ended_count, msg.new_count = result.kept, result.ended, result.new
    return msg

"""A request's problems: domain problem paths as request field paths, and `InputProblem` messages."""

from __future__ import annotations

import re

from mentormatch.v1 import matching_pb2 as mpb
from solver.errors import Problem, ProblemCode

ROOT_FIELD = "cohort"
"""The request field that holds the cohort: field paths in errors start with it."""
_PROBLEM_TO_PROTO: dict[ProblemCode, mpb.ProblemCode.ValueType] = {
    c: mpb.ProblemCode.Value(f"PROBLEM_CODE_{c.name}")
    for c in ProblemCode
    if f"PROBLEM_CODE_{c.name}" in mpb.ProblemCode.DESCRIPTOR.values_by_name
}
_LOCATED = re.compile(r"^(mentors|mentees)\[(\d+)\]\.(lat|lon)$")


def proto_field_path(path: str, root: str = ROOT_FIELD) -> str:
    """A domain problem path as a field path of the request: `mentors[2].lat` -> `cohort.mentors[2].location.lat`.

    The domain keeps coordinates on the participant and travel times beside the rules; the contract
    nests them (`location`, `rules.travel_times`). An empty path (the cohort as a whole) is `root`.
    """
    if not path:
        return root
    path = _LOCATED.sub(r"\1[\2].location.\3", path)
    if path.startswith("travel_times"):
        path = f"rules.{path}"
    return f"{root}.{path}" if root else path


def problem_to_proto(problem: Problem, root: str = ROOT_FIELD) -> mpb.InputProblem:
    """One problem with its path relative to the request (`root` is the field holding the cohort; "" for none)."""
    path = proto_field_path(problem.path, root) if problem.path or root else problem.path
    return problem_message(problem.code, path, problem.message)


def proto_code(code: ProblemCode) -> mpb.ProblemCode.ValueType:
    """The contract's code of a domain problem code (UNSPECIFIED for a code the contract does not name)."""
    return _PROBLEM_TO_PROTO.get(code, mpb.PROBLEM_CODE_UNSPECIFIED)


def problem_code_name(code: int) -> str:
    """The stable code's name without its prefix: PROBLEM_CODE_BAD_VALUE -> "BAD_VALUE"."""
    return mpb.ProblemCode.Name(mpb.ProblemCode.ValueType(code)).removeprefix("PROBLEM_CODE_")


def problem_message(code: ProblemCode, path: str, message: str) -> mpb.InputProblem:
    """An `InputProblem` at a request path as given."""
    return mpb.InputProblem(code=proto_code(code), field_path=path, message=message)

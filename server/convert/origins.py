"""Where each element of a cohort derived from a request came from, so that its problems name request paths."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.problems import ROOT_FIELD, problem_message, proto_field_path
from solver.errors import Problem, ProblemCode

# A scenario (or a re-match) is solved on a cohort *derived* from the request: the base minus the people
# removed (or who left), plus the people added, with changed rules and extra pins. The library validates
# that derived cohort, so its problems name positions in it (`mentees[17].languages[1]`); `RequestOrigins`
# records where each element of the derived cohort came from in the request, and turns those paths into
# request paths (`scenarios[2].add_mentees[0].languages[1]`, `keep_pairs[1]`).

_INDEXED = re.compile(r"^(mentors|mentees|rankings|rules\.(?:pins|bans|travel_times|organisation_caps|gender_quotas))"
                      r"\[(\d+)\](.*)$")


@dataclasses.dataclass
class RequestOrigins:
    """Per indexed collection of a derived cohort, the request path of each element; rule paths likewise.

    `scope` is the request field the derived cohort belongs to ("scenarios[2]", or "" for a re-match);
    a problem at an element that came from elsewhere in the request (the base cohort) is reported at
    `scope` when it is set, its message naming the element, since it is the scenario that made it a problem.
    """

    scope: str
    items: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    rules: dict[str, str] = dataclasses.field(default_factory=dict)  # "rules.field_depth" -> request path
    fallback_rules: str = "cohort.rules"
    ids: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # "mentors" -> ids in derived order
    added: dict[str, str] = dataclasses.field(default_factory=dict)  # id of an added participant -> its path

    def request_path(self, path: str) -> str:
        """The request path of a derived cohort's problem path ("" for the cohort as a whole)."""
        proto = proto_field_path(path, "")
        found = _INDEXED.match(proto)
        if found is not None:
            collection, index, rest = found.group(1), int(found.group(2)), found.group(3)
            origins = self.items.get(collection, [])
            if index < len(origins):
                return origins[index] + rest
            return self.scope or ROOT_FIELD
        for prefix in sorted(self.rules, key=len, reverse=True):
            if proto == prefix or proto.startswith(prefix + ".") or proto.startswith(prefix + "["):
                return self.rules[prefix] + proto[len(prefix):]
        if proto.startswith("rules"):
            return self.fallback_rules + proto[len("rules"):]
        return proto_field_path(proto, ROOT_FIELD) if proto else (self.scope or ROOT_FIELD)

    def problem(self, problem: Problem) -> mpb.InputProblem:
        path = self.request_path(problem.path)
        if problem.code is ProblemCode.DUPLICATE_ID:
            # Validation flags the later of two equal ids (mentors before mentees); the base's ids are unique,
            # so the other one is an added participant: point at it, since it is the one to change.
            found = _INDEXED.match(problem.path.removesuffix(".id"))
            ids = self.ids.get(found.group(1), []) if found is not None else []
            index = int(found.group(2)) if found is not None else len(ids)
            outside = not (path == self.scope or path.startswith(self.scope + "."))
            if self.scope and outside and index < len(ids) and ids[index] in self.added:
                path = f"{self.added[ids[index]]}.id"
        if self.scope and not (path == self.scope or path.startswith(self.scope + ".")):
            return problem_message(problem.code, self.scope, f"{path}: {problem.message}")
        return problem_message(problem.code, path, problem.message)


def filtered_paths(prefix: str, items: Any, keep: Callable[[Any], bool]) -> list[str]:
    return [f"{prefix}[{j}]" for j, item in enumerate(items) if keep(item)]

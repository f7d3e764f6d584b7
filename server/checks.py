"""Request checks, cheapest first, and the share of a call's time each phase gets (solve, explanations, answer)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from google.rpc import code_pb2, error_details_pb2

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server import convert as mapping
from server.status import ServiceError, ServiceLimits, error_info, error_status
from solver import explain
from solver.arrays import CohortArrays, cohort_arrays
from solver.budget import estimate_pairs, too_dense
from solver.cohort_warnings import cohort_warnings
from solver.domain import Cohort
from solver.errors import Problem, ProblemCode
from solver.solve import SolveResult
from solver.stop import StopToken
from solver.validate import validate


def _under(path: str, parents: set[str]) -> bool:
    return any(path.startswith(parent + ".") or path.startswith(parent + "[") for parent in parents)


@dataclass
class Checked:
    """A request after its checks: the cohort and options in domain terms, or the problems found."""

    cohort: Cohort  # valid: in id order (canonical), so that the rows' order decides no tie
    options: mapping.RequestOptions
    problems: list[mpb.InputProblem] = field(default_factory=list)
    arrays: CohortArrays | None = None  # of a valid cohort: what the pair budget counted, reused by the candidates
    warnings: list[mpb.InputProblem] = field(default_factory=list)  # valid but probably not meant, at request paths
    as_sent: Cohort | None = None  # the cohort in the request's order: what request paths index


def check_request(cohort_msg: pb.Cohort, has_cohort: bool, options_msg: mpb.MatchOptions,
                  limits: ServiceLimits, stop: StopToken | None = None) -> Checked:
    """Every problem of a request's cohort and options at once, with field paths relative to the request; for a
    valid cohort also the candidate-pair budget (`solver.budget`: a cohort too dense is a TOO_LARGE problem).
    The cohort's warnings (`solver.cohort_warnings.cohort_warnings`: people far outside its area, swapped coordinates,
    mentees without a programme language) come with it, valid or not: they may explain a problem (a swapped
    file shows as pins that break the distance rule). `stop` is checked between the steps (raises `Stopped`)."""
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
    built: list[tuple[Cohort, CohortArrays]] = []  # the canonical cohort's arrays, once the pin check built them

    def arrays_of(clean: Cohort) -> tuple[Cohort, CohortArrays]:
        if clean is not cohort:  # some people left out (they have problems): this cohort is not solved
            return clean, cohort_arrays(clean)
        canonical = cohort.canonical()
        built.append((canonical, cohort_arrays(canonical)))
        return built[-1]

    # A problem the mapping found (a missing location) is not reported again by validation (its lat/lon).
    problems += [p for p in validate(cohort, max_participants=limits.max_participants, arrays_of=arrays_of)
                 if not _under(mapping.proto_field_path(p.path, ""), reported)]
    if options.solve.stable and importlib.util.find_spec("solver.stability") is None:
        problems.append(Problem(ProblemCode.BAD_VALUE, "options.stable",
                                "stable matchings are not available in this version of the service"))
    warnings = [mapping.problem_to_proto(w, mapping.ROOT_FIELD) for w in cohort_warnings(cohort)] if has_cohort else []
    as_sent = cohort
    stop.check()
    arrays = None
    if not any(not p.path.startswith("options.") for p in problems):
        # Once valid, participants in id order: the order of the request's rows decides no tie (README).
        # The pins were checked with the canonical cohort's arrays: the same arrays, not built again.
        if built:
            cohort, arrays = built[-1]
        else:
            cohort = cohort.canonical()
            arrays = cohort_arrays(cohort)
        dense = too_dense(arrays, estimate_pairs(arrays), limits.max_candidate_pairs)
        if dense is not None:
            problems.append(dense)
    out: list[mpb.InputProblem] = []
    for start in range(0, len(problems), PROBLEMS_PER_STOP_CHECK):  # 300,000 problems take ~1.7 s to convert
        stop.check()
        out += [mapping.problem_to_proto(p, "" if p.path.startswith("options.") else mapping.ROOT_FIELD)
                for p in problems[start:start + PROBLEMS_PER_STOP_CHECK]]
    return Checked(cohort, options, out, arrays, warnings, as_sent)


PROBLEMS_PER_STOP_CHECK = 10_000
"""Problems converted to messages between two looks at the call's stop (~60 ms of work)."""


MAX_LIST_ENTRIES: dict[str, int] = {
    "rankings": 100_000,  # speed-dating rankings: 5 per person at the participant cap
    "rules.travel_times": 1_000_000,  # a travel-time row per candidate pair of a large programme
    "rules.pins": 20_000,
    "rules.bans": 100_000,
    "rules.segments": 100,
    "rules.field_families": 1_000,
    "history": 200_000,  # pairs of earlier rounds: ten years of a large programme
    "history.term_points": 2_500_000,  # recorded points, one per soft term and pair at most
    "decisions": 100_000,
}
"""Entries a cohort's lists may hold: counted, like the participants, before any of the cohort is read (a small
message can hold a million rankings, and reading and checking them costs seconds of CPU outside any slot)."""


def too_large(cohort_msg: pb.Cohort, limits: ServiceLimits) -> ServiceError | None:
    """Refuse a cohort above the size caps before reading any of it (INVALID_ARGUMENT, reason COHORT_TOO_LARGE):
    the participants, and the entries of every list (`MAX_LIST_ENTRIES`), all reported at once."""
    participants = len(cohort_msg.mentors) + len(cohort_msg.mentees)
    rules, history = cohort_msg.rules, cohort_msg.history
    counts = {"rankings": len(cohort_msg.rankings), "rules.travel_times": len(rules.travel_times),
              "rules.pins": len(rules.pins), "rules.bans": len(rules.bans), "rules.segments": len(rules.segments),
              "rules.field_families": len(rules.field_families), "history": len(history),
              "history.term_points": (sum(len(h.term_points) for h in history[:MAX_LIST_ENTRIES["history"]])
                                      if len(history) else 0),
              "decisions": len(cohort_msg.decisions)}
    problems = []
    if participants > limits.max_participants:
        problems.append(mpb.InputProblem(
            code=mpb.PROBLEM_CODE_TOO_LARGE, field_path=mapping.ROOT_FIELD,
            message=f"{participants} participants; this service takes at most {limits.max_participants}"))
    problems += [mpb.InputProblem(code=mpb.PROBLEM_CODE_TOO_LARGE, field_path=f"{mapping.ROOT_FIELD}.{name}",
                                  message=f"{count:,} entries; this service takes at most {MAX_LIST_ENTRIES[name]:,}")
                 for name, count in counts.items() if count > MAX_LIST_ENTRIES[name]]
    if not problems:
        return None
    bad = error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
        field=p.field_path, description=f"TOO_LARGE: {p.message}", reason="TOO_LARGE") for p in problems])
    info = error_info("COHORT_TOO_LARGE", participants=participants, max_participants=limits.max_participants)
    return ServiceError(error_status(code_pb2.INVALID_ARGUMENT, "; ".join(p.message for p in problems), bad, info),
                        "COHORT_TOO_LARGE")


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

EXPLANATION_ANSWER_S_PER_PERSON = 1e-4
"""Seconds kept, per participant, for turning an explanation into the answer message (measured: a FULL
explanation of 3,000 + 3,000 people takes ~0.3 s to map), so that the explanation stops in time for it."""
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

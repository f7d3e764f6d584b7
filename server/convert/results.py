"""Solve results -> `MatchResponse`, and the one JSON writer both the command line and the service's answers use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server.convert.options import MODE_TO_PROTO, duration
from server.convert.protojson import json_text, message_dict
from solver.output import result_dict
from solver.scores import Term
from solver.solve import SolveResult, SolveStatus

# A result goes out as one message, `MatchResponse`: the service returns it and `mentormatch solve --json`
# prints it through `response_json`, so a platform that tries the command line first reads the same schema.

_STATUS_TO_PROTO: dict[str, mpb.SolveStatus.ValueType] = {
    s.value: mpb.SolveStatus.Value(f"SOLVE_STATUS_{s.name}") for s in SolveStatus
}
_TERM_TO_PROTO: dict[str, mpb.ScoreTerm.ValueType] = {t.value: mpb.ScoreTerm.Value(f"SCORE_TERM_{t.name}") for t in Term}
EXACT_LIMIT = 2**53
"""Whole numbers up to this are exact in a double (the objective values' JSON type); beyond, the answer says so."""


def response_json(message: Message) -> str:
    """A message in the protobuf JSON mapping, as the command line prints it: proto field names (snake_case, as
    in the cohort's JSON form), enum names, every field even at its default (absent only where the field has
    presence and is not set), 2-space indents, UTF-8 text. The same text as `json_format.MessageToJson` with
    those options, written several times faster (`server.convert.protojson`)."""
    return json_text(message_dict(message))


def response_dict(message: Message) -> dict[str, Any]:
    """`response_json` as Python data."""
    data: dict[str, Any] = message_dict(message)
    return data


def _breakdown_to_proto(breakdown: Mapping[str, int]) -> list[Any]:
    """The points per term as the constructor's dicts (it builds each `TermPoints` in C: twice as fast; the type
    stubs name only messages, hence Any)."""
    return [{"term": _TERM_TO_PROTO[term], "points": points} for term, points in breakdown.items()]


def _pair_to_proto(p: Mapping[str, Any]) -> mpb.MatchedPair:
    pair = mpb.MatchedPair(
        mentee_id=p["mentee"], mentor_id=p["mentor"], score=p["score"], distance_km=p["distance_km"],
        breakdown=_breakdown_to_proto(p["breakdown"]), reasons=p["reasons"], pinned=p["pinned"],
        mentee_rank=p["mentee_rank"], mentor_rank=p["mentor_rank"], field_digits=p["field_digits"],
        shared_interests=p["shared_interests"])
    if p["travel_minutes"] is not None:
        pair.travel_minutes = p["travel_minutes"]
    return pair


def _pairs_to_proto(pairs: list[Mapping[str, Any]], made: dict[tuple[str, str], mpb.MatchedPair]
                    ) -> list[mpb.MatchedPair]:
    """The pairs' messages; `made`: those of the answer's earlier matchings (a pair's data is the same in every
    matching that holds it, and each matching's message gets its own copy)."""
    out = []
    for p in pairs:
        key = (p["mentee"], p["mentor"])
        message = made.get(key)
        if message is None:
            message = made[key] = _pair_to_proto(p)
        out.append(message)
    return out


def _matching_to_proto(data: Mapping[str, Any], made: dict[tuple[str, str], mpb.MatchedPair] | None = None
                       ) -> mpb.Matching:
    parts = data["objective_parts"]
    diff = data["diff_vs_best"]
    return mpb.Matching(
        rank=data["rank"],
        status=_STATUS_TO_PROTO[data["status"]],
        objective=mpb.Objective(
            value=parts["value"], matched=parts["matched"], matched_priority=parts["matched_priority"],
            total_score=parts["total_score"], worst_score=parts["worst_score"], rank_profile=parts["rank_profile"],
            seat_cost=parts["seat_cost"],
        ),
        gap_to_best=data["gap_to_best"],
        pairs=_pairs_to_proto(data["pairs"], {} if made is None else made),
        unmatched_mentee_ids=[u["id"] for u in data["unmatched"]],
        mentors_with_free_capacity=[
            mpb.MentorFreeCapacity(mentor_id=m["id"], free=m["free"]) for m in data["mentors_with_free_capacity"]
        ],
        diff_vs_best=mpb.MatchingDiff(
            kept=diff["kept"],
            removed=[pb.PairRef(mentee_id=a, mentor_id=b) for a, b in diff["removed"]],
            added=[pb.PairRef(mentee_id=a, mentor_id=b) for a, b in diff["added"]],
        ),
    )


def match_response_from_result(result: SolveResult, *, label: str = "", time_limit_s: float | None = None
                               ) -> mpb.MatchResponse:
    """The `MatchResponse` of a solve (explanations are added apart: `explanation_to_proto`)."""
    data = result_dict(result)
    best = result.best
    made: dict[tuple[str, str], mpb.MatchedPair] = {}
    response = mpb.MatchResponse(
        label=label,
        status=_STATUS_TO_PROTO[data["status"]],
        matchings=[_matching_to_proto(m, made) for m in data["matchings"]],
        statistics=mpb.SolveStatistics(
            backend=result.stats.backend,
            candidate_pairs=result.stats.candidate_pairs,
            wall_time=duration(result.stats.wall_s),
            solve_time=duration(result.stats.solve_s),
            min_difference=result.stats.min_difference,
            time_limit=duration(result.options.time_limit_s if time_limit_s is None else time_limit_s),
        ),
        notes=data["notes"],
        mode=MODE_TO_PROTO[result.options.mode],
        mentee_count=data["mentees"],
        mentor_count=data["mentors"],
    )
    if best is not None:
        response.objective_value = best.objective.value
    if result.status is not SolveStatus.INFEASIBLE:  # no matching meets the rules: nothing to bound
        response.objective_bound = data["bound"]
    if max([abs(result.bound), *(abs(m.objective.value) for m in result.matchings)]) > EXACT_LIMIT:
        response.notes.append("objective values above 2^53 are rounded to the nearest double in this answer "
                              "(the matchings themselves are exact)")
    return response

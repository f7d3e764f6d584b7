"""Solve results -> `MatchResponse`, and back to the JSON view the command line prints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from server.convert.options import MODE_FROM_PROTO, MODE_TO_PROTO, duration
from solver.domain import Cohort, ObjectiveMode, cefr_name
from solver.output import result_dict
from solver.scores import Term
from solver.solve import SolveResult, SolveStatus

# A result goes out as the JSON view the command line prints (`solver.output.result_dict`), carried
# field by field in `MatchResponse`; `result_dict_from_response` turns it back into that same dict,
# so a remote solve prints exactly what a local one does.

_STATUS_TO_PROTO: dict[str, mpb.SolveStatus.ValueType] = {
    s.value: mpb.SolveStatus.Value(f"SOLVE_STATUS_{s.name}") for s in SolveStatus
}
_STATUS_FROM_PROTO: dict[int, str] = {int(v): s for s, v in _STATUS_TO_PROTO.items()}
_TERM_TO_PROTO: dict[str, mpb.ScoreTerm.ValueType] = {t.value: mpb.ScoreTerm.Value(f"SCORE_TERM_{t.name}") for t in Term}
_TERM_FROM_PROTO: dict[int, str] = {int(v): t for t, v in _TERM_TO_PROTO.items()}


def _breakdown_to_proto(breakdown: Mapping[str, int]) -> list[mpb.TermPoints]:
    return [mpb.TermPoints(term=_TERM_TO_PROTO[term], points=points) for term, points in breakdown.items()]


def _breakdown_from_proto(entries: Any) -> dict[str, int]:
    return {_TERM_FROM_PROTO.get(e.term, str(e.term)): int(e.points) for e in entries}


def _matching_to_proto(data: Mapping[str, Any]) -> mpb.Matching:
    parts = data["objective_parts"]
    diff = data["diff_vs_best"]
    return mpb.Matching(
        rank=data["rank"],
        status=_STATUS_TO_PROTO[data["status"]],
        objective=mpb.Objective(
            value=parts["value"], matched=parts["matched"], matched_priority=parts["matched_priority"],
            total_score=parts["total_score"], worst_score=parts["worst_score"], rank_profile=parts["rank_profile"],
        ),
        gap_to_best=data["gap_to_best"],
        pairs=[
            mpb.MatchedPair(mentee_id=p["mentee"], mentor_id=p["mentor"], score=p["score"],
                            distance_km=p["distance_km"], breakdown=_breakdown_to_proto(p["breakdown"]),
                            reasons=p["reasons"])
            for p in data["pairs"]
        ],
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
    """The `MatchResponse` of a solve (explanations are added by `add_explanations`)."""
    data = result_dict(result)
    best = result.best
    return mpb.MatchResponse(
        label=label,
        status=_STATUS_TO_PROTO[data["status"]],
        objective_value=best.objective.value if best is not None else 0,
        objective_bound=data["bound"],
        matchings=[_matching_to_proto(m) for m in data["matchings"]],
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


def _matching_from_proto(m: mpb.Matching) -> dict[str, Any]:
    parts = m.objective
    return {
        "rank": m.rank,
        "status": _STATUS_FROM_PROTO.get(m.status, "UNKNOWN"),
        "objective": parts.value,
        "objective_parts": {
            "value": parts.value,
            "matched": parts.matched,
            "matched_priority": parts.matched_priority,
            "total_score": parts.total_score,
            "worst_score": parts.worst_score,
            "rank_profile": list(parts.rank_profile),
        },
        "gap_to_best": m.gap_to_best,
        "pairs": [
            {"mentee": p.mentee_id, "mentor": p.mentor_id, "score": p.score, "distance_km": p.distance_km,
             "breakdown": _breakdown_from_proto(p.breakdown), "reasons": list(p.reasons)}
            for p in m.pairs
        ],
        "unmatched": [{"id": i} for i in m.unmatched_mentee_ids],
        "mentors_with_free_capacity": [{"id": f.mentor_id, "free": f.free} for f in m.mentors_with_free_capacity],
        "diff_vs_best": {
            "kept": m.diff_vs_best.kept,
            "removed": [[p.mentee_id, p.mentor_id] for p in m.diff_vs_best.removed],
            "added": [[p.mentee_id, p.mentor_id] for p in m.diff_vs_best.added],
        },
    }


def result_dict_from_response(response: mpb.MatchResponse, cohort: Cohort) -> dict[str, Any]:
    """The `solver.output.result_dict` view of a remote answer; `cohort` is the one that was sent."""
    rules = cohort.rules
    stats = response.statistics
    return {
        "cohort": cohort.name,
        "status": _STATUS_FROM_PROTO.get(response.status, "UNKNOWN"),
        "mode": MODE_FROM_PROTO.get(response.mode, ObjectiveMode.SCORE).value,
        "bound": response.objective_bound,
        "mentees": response.mentee_count,
        "mentors": response.mentor_count,
        "rules": {
            "max_distance_km": rules.max_distance_km,
            "field_depth": rules.field_depth,
            "min_language_level": cefr_name(rules.min_language_level),
        },
        "stats": {
            "backend": stats.backend,
            "candidate_pairs": stats.candidate_pairs,
            "wall_s": round(stats.wall_time.ToNanoseconds() / 1e9, 4),
            "min_difference": stats.min_difference,
        },
        "notes": list(response.notes),
        "matchings": [_matching_from_proto(m) for m in response.matchings],
    }

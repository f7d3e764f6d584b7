"""Solve results -> `MatchResponse`, and the one JSON writer both the command line and the service's answers use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from google.protobuf.message import Message

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.options import MODE_TO_PROTO, duration
from server.convert.protojson import message_dict, message_json
from server.wire import field_tag, length_delimited
from solver.model import Matching
from solver.output import AnswerPairs, MatchingFacts, answer_facts, answer_pairs, answer_rows
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
    return message_json(message)


def response_dict(message: Message) -> dict[str, Any]:
    """`response_json` as Python data."""
    data: dict[str, Any] = message_dict(message)
    return data


_POINTS_ENTRIES: dict[str, dict[int, bytes]] = {term.value: {} for term in Term}
"""Per term, its `MatchedPair.breakdown` entries by points as the library writes them (a `TermPoints` with its field
tag and length): made once each, then every pair's breakdown is those entries joined and read in C, which is ~10x
faster than the constructor making each `TermPoints` from a dict. Points are weight x 0..100 per term, so the tables
stay small; each is emptied at `_POINTS_ENTRIES_MAX` entries all the same."""
_POINTS_ENTRIES_MAX = 4096


def _points_entry(term: str, points: int) -> bytes:
    known = _POINTS_ENTRIES[term]
    if len(known) >= _POINTS_ENTRIES_MAX:
        known.clear()
    breakdown: list[Any] = [{"term": _TERM_TO_PROTO[term], "points": points}]
    entry = mpb.MatchedPair(breakdown=breakdown).SerializeToString()
    known[points] = entry
    return entry


def _breakdown_bytes(points: Mapping[str, list[int]], count: int) -> list[bytes]:
    """Each of `count` rows' `breakdown` entries joined (`_POINTS_ENTRIES`), from its points per term (in the fixed
    term order, a list over the rows per term): each term's entries looked up in one pass."""
    if not points:
        return [b""] * count
    columns = []
    for term, values in points.items():
        entries = list(map(_POINTS_ENTRIES[term].get, values))
        if None in entries:
            entries = [entry or _points_entry(term, n) for entry, n in zip(entries, values, strict=True)]
        columns.append(entries)
    return [b"".join(entries) for entries in zip(*columns, strict=True)]


_PAIR_TAG = field_tag(mpb.Matching, "pairs")
_MATCHING: Any = mpb.Matching  # made with dicts for its sub-messages (built in C), which its stubs do not type
_MATCHING_TAG = field_tag(mpb.MatchResponse, "matchings")


def _pair_entries(p: AnswerPairs) -> list[bytes]:
    """Each row's pair as a `Matching.pairs` entry (tag, length, message bytes), one per row of `p`: its fields
    written by the constructor, its points per term joined from their entries' bytes (`_breakdown_bytes`). A pair
    is written once for the whole answer and its bytes shared by every matching that holds it."""
    out = []
    for a, b, score, km, breakdown, reasons, pinned, mentee_rank, mentor_rank, digits, shared, minutes in zip(
            p.mentee, p.mentor, p.score, p.distance_km, _breakdown_bytes(p.points, len(p.mentee)), p.reasons,
            p.pinned, p.mentee_rank, p.mentor_rank, p.field_digits, p.shared_interests, p.travel_minutes, strict=True):
        pair = mpb.MatchedPair(mentee_id=a, mentor_id=b, score=score, distance_km=km, reasons=reasons, pinned=pinned,
                               mentee_rank=mentee_rank, mentor_rank=mentor_rank, field_digits=digits,
                               shared_interests=shared)
        if minutes is not None:
            pair.travel_minutes = minutes
        out.append(length_delimited(_PAIR_TAG, pair.SerializeToString() + breakdown))
    return out


def _matching_entry(result: SolveResult, matching: Matching, facts: MatchingFacts, pair_of: Mapping[int, bytes]
                    ) -> bytes:
    """One matching as a `MatchResponse.matchings` entry: its own fields written by the constructor (sub-messages
    as its dicts, built in C), then its pairs' entries (`_pair_entries`, made once for the whole answer: a pair's
    data is the same in every matching that holds it). The answer reads every matching's bytes at once, in C: one
    parse instead of a copy of each pair's message into each matching."""
    objective = matching.objective
    own = _MATCHING(
        rank=matching.rank,
        status=_STATUS_TO_PROTO[matching.status.value],
        objective={"value": objective.value, "matched": objective.matched,
                   "matched_priority": objective.matched_priority, "total_score": objective.total_score,
                   "worst_score": objective.worst_score, "rank_profile": objective.rank_profile,
                   "seat_cost": objective.seat_cost},
        gap_to_best=result.matchings[0].objective.value - objective.value,
        unmatched_mentee_ids=facts.unmatched,
        mentors_with_free_capacity=[{"mentor_id": i, "free": n} for i, n in facts.free],
        diff_vs_best={"kept": facts.kept, "removed": [{"mentee_id": a, "mentor_id": b} for a, b in facts.removed],
                      "added": [{"mentee_id": a, "mentor_id": b} for a, b in facts.added]},
    ).SerializeToString()
    rows = np.asarray(matching.rows, dtype=np.int64).tolist()
    return length_delimited(_MATCHING_TAG, b"".join([own, *map(pair_of.__getitem__, rows)]))


def match_response_from_result(result: SolveResult, *, label: str = "", time_limit_s: float | None = None
                               ) -> mpb.MatchResponse:
    """The `MatchResponse` of a solve (explanations are added apart: `explanation_to_proto`): the messages made
    from the result directly (what `solver.output.result_dict` says, without its dicts of every matching)."""
    best = result.best
    cohort = result.candidates.cohort
    rows = answer_rows(result)
    pair_of = dict(zip(rows.tolist(), _pair_entries(answer_pairs(result.candidates, rows)), strict=True))
    response = mpb.MatchResponse(
        label=label,
        status=_STATUS_TO_PROTO[result.status.value],
        statistics=mpb.SolveStatistics(
            backend=result.stats.backend,
            candidate_pairs=result.stats.candidate_pairs,
            wall_time=duration(result.stats.wall_s),
            solve_time=duration(result.stats.solve_s),
            min_difference=result.stats.min_difference,
            time_limit=duration(result.options.time_limit_s if time_limit_s is None else time_limit_s),
        ),
        notes=result.notes,
        mode=MODE_TO_PROTO[result.options.mode],
        mentee_count=len(cohort.mentees),
        mentor_count=len(cohort.mentors),
    )
    response.MergeFromString(b"".join([_matching_entry(result, matching, facts, pair_of) for matching, facts
                                       in zip(result.matchings, answer_facts(result), strict=True)]))
    if best is not None:
        response.objective_value = best.objective.value
    if result.status is not SolveStatus.INFEASIBLE:  # no matching meets the rules: nothing to bound
        response.objective_bound = result.bound
    if max([abs(result.bound), *(abs(m.objective.value) for m in result.matchings)]) > EXACT_LIMIT:
        response.notes.append("objective values above 2^53 are rounded to the nearest double in this answer "
                              "(the matchings themselves are exact)")
    return response

"""The `MatchResponse` of a solve says what the solve found: each matching's pairs with their scores, points per
term, flags and facts, who is left unmatched, which mentors keep seats, and how each alternative differs from
the best; checked field by field against the result's own candidate table and matchings (the README's Output
section), not against the code that writes the message."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.results import match_response_from_result
from solver.domain import Cohort, TravelTime
from solver.ingest import load_cohort
from solver.scores import TERMS
from solver.solve import SolveOptions, SolveResult, solve
from tests.conftest import SCENARIOS


def _with_travel_times(cohort: Cohort) -> Cohort:
    rng = random.Random(4)
    times = tuple(TravelTime(a.id, b.id, float(rng.randint(5, 90))) for a in cohort.mentees for b in cohort.mentors)
    return replace(cohort, rules=replace(cohort.rules, travel_times=times, max_travel_minutes=80, pins=()))


def _zero_weights(cohort: Cohort) -> Cohort:
    weights = replace(cohort.rules.weights, travel=0, seniority=0, interests=0)
    return replace(cohort, rules=replace(cohort.rules, weights=weights))


def _expected_pairs(result: SolveResult, rows: list[int]) -> list[dict[str, Any]]:
    candidates = result.candidates
    cohort = candidates.cohort
    weights = cohort.rules.weights.as_dict()
    pins = set(cohort.rules.pins)
    out = []
    for row in rows:
        a, b = cohort.mentees[int(candidates.mentee[row])].id, cohort.mentors[int(candidates.mentor[row])].id
        minutes = float(candidates.column("travel_minutes")[row])
        out.append({
            "ids": (a, b), "score": int(candidates.score[row]), "pinned": (a, b) in pins,
            "breakdown": [(term.value, weights[term.weight_name] * int(candidates.column(term.column)[row]))
                          for term in TERMS if weights[term.weight_name]],
            "mentee_rank": int(candidates.column("mentee_rank")[row]),
            "mentor_rank": int(candidates.column("mentor_rank")[row]),
            "field_digits": int(candidates.column("field_digits")[row]),
            "shared_interests": int(candidates.column("shared_interests")[row]),
            "travel_minutes": minutes if math.isfinite(minutes) else None,
            "km": float(candidates.column("distance_km")[row]),
        })
    return out


VARIANTS: dict[str, Callable[[Cohort], Cohort]] = {
    "lyngby": lambda cohort: cohort, "travel_times": _with_travel_times, "zero_weights": _zero_weights}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_answer_message_says_what_the_solve_found(variant: str) -> None:
    cohort = VARIANTS[variant](load_cohort(SCENARIOS / "lyngby_career"))
    result = solve(cohort, SolveOptions(alternatives=3))
    assert len(result.matchings) == 3
    response = match_response_from_result(result, label="run", time_limit_s=2.0)
    candidates = result.candidates
    solved = candidates.cohort
    best_pairs = set(result.matchings[0].pairs(candidates))
    assert response.label == "run"
    assert (response.mentee_count, response.mentor_count) == (len(solved.mentees), len(solved.mentors))
    assert response.objective_value == result.matchings[0].objective.value
    assert list(response.notes) == result.notes
    assert [m.rank for m in response.matchings] == [1, 2, 3]
    for message, matching in zip(response.matchings, result.matchings, strict=True):
        objective = matching.objective
        assert (message.objective.value, message.objective.matched, message.objective.total_score,
                list(message.objective.rank_profile)) == (objective.value, objective.matched,
                                                          objective.total_score, list(objective.rank_profile))
        assert message.gap_to_best == result.matchings[0].objective.value - objective.value
        rows = np.asarray(matching.rows).tolist()
        for pair, want in zip(message.pairs, _expected_pairs(result, rows), strict=True):
            assert (pair.mentee_id, pair.mentor_id) == want["ids"]
            assert pair.score == want["score"] and pair.pinned == want["pinned"]
            assert [(p.term, p.points) for p in pair.breakdown] == [
                (mpb.ScoreTerm.Value(f"SCORE_TERM_{name}"), points) for name, points in want["breakdown"]]
            assert sum(p.points for p in pair.breakdown) == pair.score
            assert (pair.mentee_rank, pair.mentor_rank, pair.field_digits, pair.shared_interests) == (
                want["mentee_rank"], want["mentor_rank"], want["field_digits"], want["shared_interests"])
            assert pair.HasField("travel_minutes") == (want["travel_minutes"] is not None)
            if want["travel_minutes"] is not None:
                assert pair.travel_minutes == want["travel_minutes"]
            assert abs(pair.distance_km - want["km"]) <= 0.051  # rounded to a tenth of a km as shown
            assert 1 <= len(pair.reasons) <= 3
        matched = {a for a, _ in matching.pairs(candidates)}
        assert list(message.unmatched_mentee_ids) == [p.id for p in solved.mentees if p.id not in matched]
        load = {p.id: 0 for p in solved.mentors}
        for _, b in matching.pairs(candidates):
            load[b] += 1
        assert [(m.mentor_id, m.free) for m in message.mentors_with_free_capacity] == [
            (p.id, p.capacity - load[p.id]) for p in solved.mentors if p.capacity - load[p.id] > 0]
        these = set(matching.pairs(candidates))
        assert message.diff_vs_best.kept == len(these & best_pairs)
        assert [(p.mentee_id, p.mentor_id) for p in message.diff_vs_best.removed] == sorted(best_pairs - these)
        assert [(p.mentee_id, p.mentor_id) for p in message.diff_vs_best.added] == sorted(these - best_pairs)

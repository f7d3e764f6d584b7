"""Plain-data views of results: pairs with their points, facts and top reasons; the library's dict of a solve."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from solver.domain import cefr_name
from solver.explain.wording import KM_DECIMALS, km_text, round_km
from solver.scores import TERMS, CandidatePairs, Term
from solver.solve import Matching, Objective, SolveResult

_REASON_COLUMNS = ("mentee_rank", "mentor_rank", "shared_interests", "field_digits", "distance_km",
                   Term.GOAL.column)
_FACT_COLUMNS = (*_REASON_COLUMNS, "travel_minutes")
_TERM_FIELDS: tuple[tuple[str, str, str], ...] = tuple((term.value, term.weight_name, term.column) for term in TERMS)
"""Each term's code, weight name and points column, in the fixed term order: read once, not per answer."""


def _columns(candidates: CandidatePairs, rows: np.ndarray, names: tuple[str, ...]) -> dict[str, list[Any]]:
    """The given rows of some table columns, as Python lists: one slice per column, not one lookup per cell."""
    return {name: candidates.column(name)[rows].tolist() for name in names}


def _term_points(candidates: CandidatePairs, rows: np.ndarray) -> dict[str, list[int]]:
    """The given rows' weighted points per soft term (terms with weight 0 left out), in the fixed term order: one
    slice per term."""
    weights = candidates.cohort.rules.weights.as_dict()
    points = {}
    for value, name, column in _TERM_FIELDS:
        weight = weights[name]
        if weight:
            raw: list[int] = candidates.column(column)[rows].tolist()
            points[value] = raw if weight == 1 else [weight * n for n in raw]  # most weights are 1
    return points


def _breakdowns(points: Mapping[str, list[int]], count: int) -> list[dict[str, int]]:
    """Each of `count` rows' points per term (`_term_points`) as a dict in the fixed term order."""
    if not points:
        return [{} for _ in range(count)]
    names = list(points)
    return [dict(zip(names, values, strict=True)) for values in zip(*points.values(), strict=True)]


Facts = Mapping[str, list[Any]]
"""Fact columns of some rows (`_columns`): a pair's fact is `facts[name][k]`, k its place among the rows."""

_PHRASES: dict[str, Callable[[Facts, int], str]] = {
    "MUTUAL_RANK": lambda facts, k: "ranked each other",
    "MENTEE_RANK": lambda facts, k: f"mentee ranked mentor #{facts['mentee_rank'][k]}",
    "MENTOR_RANK": lambda facts, k: f"mentor ranked mentee #{facts['mentor_rank'][k]}",
    "INTERESTS": lambda facts, k: f"{facts['shared_interests'][k]} shared interest(s)",
    "FIELD": lambda facts, k: f"{facts['field_digits'][k]} ISCO digits in common",
    # Full points when the mentor lists her goal, half when he lists none (open to any goal).
    "GOAL": lambda facts, k: "supports her goal" if facts[Term.GOAL.column][k] >= 100 else "open to any goal",
    "TRAVEL": lambda facts, k: km_text(facts["distance_km"][k]),
    "HOME_MARKET": lambda facts, k: "knows the home market",
    "FIRST_LANGUAGE": lambda facts, k: "speaks the first language",
    "SENIORITY": lambda facts, k: "seniority",
    "RETURNING": lambda facts, k: "returning mentor",
}
"""Each soft term's short phrase, from the pair's facts: written only for the terms a pair's reasons name."""

_ROUNDED_PHRASES: dict[str, Callable[[Facts, int], str]] = {
    **_PHRASES, "TRAVEL": lambda facts, k: _rounded_km_text(facts["distance_km"][k])}
"""`_PHRASES` for facts whose distances are rounded already (`round_km`, as the answer shows them)."""


def _rounded_km_text(km: float) -> str:
    """`km_text` of a distance rounded already by `round_km` (rounding it again would give the same number)."""
    return f"{km:.{KM_DECIMALS}f} km" if math.isfinite(km) else "no limit"


def _reasons(points: Mapping[str, list[int]], count: int, facts: Facts, k: int,
             table: Mapping[str, Callable[[Facts, int], str]] = _PHRASES) -> list[list[str]]:
    """For each of `count` pairs (its place in `facts`, its points per term as `_term_points` gives them), the k
    terms that gave it most points (ties: the later term name first), as short phrases. The terms are put in name
    order once; a stable sort of each pair's by its points alone keeps that order among equal points."""
    if not points:
        return [[] for _ in range(count)]
    phrases = [table[term] for term in points]
    by_name = sorted(range(len(phrases)), key=list(points).__getitem__, reverse=True)
    return [[phrases[j](facts, row) for j in sorted(by_name, key=values.__getitem__, reverse=True)[:k] if values[j] > 0]
            for row, values in enumerate(zip(*points.values(), strict=True))]


def pair_breakdowns(candidates: CandidatePairs, rows: np.ndarray) -> list[dict[str, int]]:
    """Weighted points per soft term (terms with weight 0 left out) for each of the given candidate rows."""
    rows = np.asarray(rows, dtype=np.int64)
    return _breakdowns(_term_points(candidates, rows), len(rows))


def reasons_of(candidates: CandidatePairs, rows: np.ndarray, k: int = 3) -> list[list[str]]:
    """For each row, the k terms that gave the pair most points, as short phrases."""
    rows = np.asarray(rows, dtype=np.int64)
    return _reasons(_term_points(candidates, rows), len(rows), _columns(candidates, rows, _REASON_COLUMNS), k)


def top_reasons(candidates: CandidatePairs, row: int, k: int = 3) -> list[str]:
    """The k terms that gave the pair most points, as short phrases."""
    return reasons_of(candidates, np.array([row], dtype=np.int64), k)[0]


@dataclass(frozen=True)
class AnswerPairs:
    """What the answer says of some candidate rows' pairs, a list per field (row k's pair: each list's k-th):
    the ids, score, facts, weighted points per term (a list per term, over the rows) and top reasons."""

    mentee: list[str]
    mentor: list[str]
    score: list[int]
    distance_km: list[float]  # rounded as the answer shows it
    points: dict[str, list[int]]  # terms with a weight, in the fixed term order (`_term_points`)
    reasons: list[list[str]]
    pinned: list[bool]
    mentee_rank: list[int]
    mentor_rank: list[int]
    field_digits: list[int]
    shared_interests: list[int]
    travel_minutes: list[float | None]  # None: no travel-time table


def answer_pairs(candidates: CandidatePairs, rows: np.ndarray) -> AnswerPairs:
    """`AnswerPairs` of the given rows: one slice per column, the ids by index, the reasons from the points."""
    rows = np.asarray(rows, dtype=np.int64)
    cohort = candidates.cohort
    facts = _columns(candidates, rows, ("mentee", "mentor", "score", *_FACT_COLUMNS))
    points = _term_points(candidates, rows)
    mentees, mentors = cohort.mentees, cohort.mentors
    mentee_ids = [mentees[i].id for i in facts["mentee"]]
    mentor_ids = [mentors[j].id for j in facts["mentor"]]
    pins = set(cohort.rules.pins)
    facts["distance_km"] = distance_km = [round_km(km) for km in facts["distance_km"]]  # as the answer shows them
    return AnswerPairs(
        mentee=mentee_ids, mentor=mentor_ids, score=facts["score"], distance_km=distance_km, points=points,
        reasons=_reasons(points, len(rows), facts, 3, _ROUNDED_PHRASES),
        pinned=[pair in pins for pair in zip(mentee_ids, mentor_ids, strict=True)] if pins else [False] * len(rows),
        mentee_rank=facts["mentee_rank"], mentor_rank=facts["mentor_rank"], field_digits=facts["field_digits"],
        shared_interests=facts["shared_interests"],
        travel_minutes=[minutes if math.isfinite(minutes) else None for minutes in facts["travel_minutes"]])


def objective_dict(objective: Objective) -> dict[str, Any]:
    return {
        "value": objective.value,
        "matched": objective.matched,
        "matched_priority": objective.matched_priority,
        "total_score": objective.total_score,
        "worst_score": objective.worst_score,
        "rank_profile": list(objective.rank_profile),
        "seat_cost": objective.seat_cost,
    }


def _pair_dicts(candidates: CandidatePairs, rows: np.ndarray) -> list[dict[str, Any]]:
    """Each row's pair as plain data: the ids, score, facts, points per term and top reasons."""
    p = answer_pairs(candidates, rows)
    return [{"mentee": a, "mentor": b, "score": score, "distance_km": km, "breakdown": breakdown, "reasons": reasons,
             "pinned": pinned, "mentee_rank": mentee_rank, "mentor_rank": mentor_rank, "field_digits": digits,
             "shared_interests": shared, "travel_minutes": minutes}
            for a, b, score, km, breakdown, reasons, pinned, mentee_rank, mentor_rank, digits, shared, minutes
            in zip(p.mentee, p.mentor, p.score, p.distance_km, _breakdowns(p.points, len(p.mentee)), p.reasons,
                   p.pinned, p.mentee_rank, p.mentor_rank, p.field_digits, p.shared_interests, p.travel_minutes,
                   strict=True)]


def _copied(pair: dict[str, Any]) -> dict[str, Any]:
    """A pair's data of its own (alternatives share most pairs: each matching gets its copy)."""
    return {**pair, "breakdown": dict(pair["breakdown"]), "reasons": list(pair["reasons"])}


def answer_rows(result: SolveResult) -> np.ndarray:
    """Every candidate row some matching of the result holds, once, in row order: alternatives share most of their
    pairs, so each pair's data is made once, from one slice per column."""
    if not result.matchings:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([np.asarray(m.rows, dtype=np.int64) for m in result.matchings]))


def pair_dicts(candidates: CandidatePairs, rows: np.ndarray) -> list[dict[str, Any]]:
    """Each row's pair as plain data (`_pair_dicts`): the ids, score, facts, points per term and top reasons."""
    return _pair_dicts(candidates, np.asarray(rows, dtype=np.int64))


@dataclass(frozen=True)
class MatchingFacts:
    """What a matching's answer says besides its pairs: who is left, who has seats left, and how it differs from
    the best matching (pairs by ids, sorted)."""

    unmatched: list[str]
    free: list[tuple[str, int]]  # (mentor id, free seats), mentors in cohort order
    kept: int
    removed: list[tuple[str, str]]
    added: list[tuple[str, str]]


def answer_facts(result: SolveResult) -> list[MatchingFacts]:
    """`MatchingFacts` of each matching of the result, in order; what they share (the ids, the seats, the best
    matching's rows) read once. A pair is one candidate row, so the difference from the best is taken over rows (sets
    of ints), and only the differing rows are named."""
    if not result.matchings:
        return []
    candidates = result.candidates
    cohort = candidates.cohort
    mentee, mentor = candidates.mentee, candidates.mentor
    mentee_ids = [p.id for p in cohort.mentees]
    mentor_seats = [(p.id, p.capacity) for p in cohort.mentors]
    rows_of = [np.asarray(m.rows, dtype=np.int64) for m in result.matchings]
    best = set(rows_of[0].tolist())

    def named(chosen: set[int]) -> list[tuple[str, str]]:
        return sorted([(mentee_ids[mentee.item(r)], mentor_seats[mentor.item(r)][0]) for r in chosen])

    out = []
    for rows in rows_of:
        matched = set(mentee[rows].tolist())
        load = np.bincount(mentor[rows], minlength=len(mentor_seats)).tolist()
        these = set(rows.tolist())
        out.append(MatchingFacts(
            unmatched=[i for k, i in enumerate(mentee_ids) if k not in matched],
            free=[(i, seats - n) for (i, seats), n in zip(mentor_seats, load, strict=True) if seats > n],
            kept=len(best & these), removed=named(best - these), added=named(these - best)))
    return out


def matching_dict(result: SolveResult, matching: Matching, facts: MatchingFacts,
                  pairs_by_row: Mapping[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One matching as plain data, with its `facts` (`answer_facts`). `pairs_by_row`: the pairs' data by candidate
    row, made once for every matching of the result (`result_dict`); else made here."""
    candidates = result.candidates
    best = result.matchings[0]
    rows = np.asarray(matching.rows, dtype=np.int64)
    if pairs_by_row is None:
        pairs = _pair_dicts(candidates, rows)
    else:
        pairs = [_copied(pairs_by_row[row]) for row in rows.tolist()]
    return {
        "rank": matching.rank,
        "status": matching.status.value,
        "objective": objective_dict(matching.objective)["value"],
        "objective_parts": objective_dict(matching.objective),
        "gap_to_best": best.objective.value - matching.objective.value,
        "pairs": pairs,
        "unmatched": [{"id": i} for i in facts.unmatched],
        "mentors_with_free_capacity": [{"id": i, "free": free} for i, free in facts.free],
        "diff_vs_best": {
            "kept": facts.kept,
            "removed": [list(p) for p in facts.removed],
            "added": [list(p) for p in facts.added],
        },
    }


def result_dict(result: SolveResult) -> dict[str, Any]:
    """The whole answer as plain data: status, bound, statistics and every matching. The library's view, for
    tests and for the mapping to `MatchResponse` (`server.convert.results`), which is what the command line and
    the service print."""
    cohort = result.candidates.cohort
    rules = cohort.rules
    rows = answer_rows(result)
    pairs_by_row = dict(zip(rows.tolist(), _pair_dicts(result.candidates, rows), strict=True))
    return {
        "cohort": cohort.name,
        "status": result.status.value,
        "mode": result.options.mode.value,
        "bound": result.bound,
        "mentees": len(cohort.mentees),
        "mentors": len(cohort.mentors),
        "rules": {
            "max_distance_km": rules.max_distance_km,
            "field_depth": rules.field_depth,
            "min_language_level": cefr_name(rules.min_language_level),
        },
        "stats": {
            "backend": result.stats.backend,
            "candidate_pairs": result.stats.candidate_pairs,
            "wall_s": round(result.stats.wall_s, 4),
            "min_difference": result.stats.min_difference,
        },
        "notes": list(result.notes),
        "matchings": [matching_dict(result, m, facts, pairs_by_row)
                      for m, facts in zip(result.matchings, answer_facts(result), strict=True)],
    }


def nearest_town(lat: float, lon: float) -> tuple[str, float] | None:
    """The nearest bundled Danish town, when the scenario reference data is installed."""
    try:
        from scenarios import geography
    except ImportError:
        return None
    towns = getattr(geography, "TOWNS", None)
    if not towns:
        return None
    best = min(towns.values(), key=lambda t: geography.distance_km(lat, lon, t.lat, t.lon))
    return best.name, geography.distance_km(lat, lon, best.lat, best.lon)

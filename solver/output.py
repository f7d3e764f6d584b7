"""Plain-data views of results: pairs with their points, facts and top reasons; the library's dict of a solve."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from solver.domain import cefr_name
from solver.explain.wording import km_text, round_km
from solver.scores import TERMS, CandidatePairs, Term
from solver.solve import Matching, Objective, SolveResult

_REASON_COLUMNS = ("mentee_rank", "mentor_rank", "shared_interests", "field_digits", "distance_km",
                   Term.GOAL.column)
_FACT_COLUMNS = (*_REASON_COLUMNS, "travel_minutes")


def _columns(candidates: CandidatePairs, rows: np.ndarray, names: tuple[str, ...]) -> dict[str, list[Any]]:
    """The given rows of some table columns, as Python lists: one slice per column, not one lookup per cell."""
    return {name: candidates.column(name)[rows].tolist() for name in names}


def _breakdowns(candidates: CandidatePairs, rows: np.ndarray) -> list[dict[str, int]]:
    """Weighted points per soft term (terms with weight 0 left out), for each of the given rows."""
    weights = candidates.cohort.rules.weights.as_dict()
    active = [(term.value, weights[term.weight_name], term.column) for term in TERMS if weights[term.weight_name]]
    points = {value: (weight * candidates.column(column)[rows].astype(np.int64)).tolist()
              for value, weight, column in active}
    return [{value: points[value][k] for value, _, _ in active} for k in range(len(rows))]


_PHRASES: dict[str, Callable[[dict[str, Any]], str]] = {
    "MUTUAL_RANK": lambda facts: "ranked each other",
    "MENTEE_RANK": lambda facts: f"mentee ranked mentor #{facts['mentee_rank']}",
    "MENTOR_RANK": lambda facts: f"mentor ranked mentee #{facts['mentor_rank']}",
    "INTERESTS": lambda facts: f"{facts['shared_interests']} shared interest(s)",
    "FIELD": lambda facts: f"{facts['field_digits']} ISCO digits in common",
    # Full points when the mentor lists her goal, half when he lists none (open to any goal).
    "GOAL": lambda facts: "supports her goal" if facts[Term.GOAL.column] >= 100 else "open to any goal",
    "TRAVEL": lambda facts: km_text(facts["distance_km"]),
    "HOME_MARKET": lambda facts: "knows the home market",
    "FIRST_LANGUAGE": lambda facts: "speaks the first language",
    "SENIORITY": lambda facts: "seniority",
    "RETURNING": lambda facts: "returning mentor",
}
"""Each soft term's short phrase, from the pair's facts: written only for the terms a pair's reasons name."""


def _reasons(breakdown: dict[str, int], facts: dict[str, Any], k: int) -> list[str]:
    ranked = sorted(((points, term) for term, points in breakdown.items() if points > 0), reverse=True)[:k]
    return [_PHRASES[term](facts) for _, term in ranked]


def pair_breakdowns(candidates: CandidatePairs, rows: np.ndarray) -> list[dict[str, int]]:
    """Weighted points per soft term (terms with weight 0 left out) for each of the given candidate rows."""
    return _breakdowns(candidates, np.asarray(rows, dtype=np.int64))


def reasons_of(candidates: CandidatePairs, rows: np.ndarray, k: int = 3) -> list[list[str]]:
    """For each row, the k terms that gave the pair most points, as short phrases."""
    rows = np.asarray(rows, dtype=np.int64)
    facts = _columns(candidates, rows, _REASON_COLUMNS)
    return [_reasons(breakdown, {name: values[i] for name, values in facts.items()}, k)
            for i, breakdown in enumerate(_breakdowns(candidates, rows))]


def top_reasons(candidates: CandidatePairs, row: int, k: int = 3) -> list[str]:
    """The k terms that gave the pair most points, as short phrases."""
    return reasons_of(candidates, np.array([row], dtype=np.int64), k)[0]


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
    cohort = candidates.cohort
    columns = _columns(candidates, rows, ("mentee", "mentor", "score", *_FACT_COLUMNS))
    breakdowns = _breakdowns(candidates, rows)
    pins = set(cohort.rules.pins)
    pairs = []
    for k, breakdown in enumerate(breakdowns):
        facts = {name: values[k] for name, values in columns.items()}
        mentee_id, mentor_id = cohort.mentees[int(facts["mentee"])].id, cohort.mentors[int(facts["mentor"])].id
        minutes = float(facts["travel_minutes"])
        pairs.append({
            "mentee": mentee_id,
            "mentor": mentor_id,
            "score": int(facts["score"]),
            "distance_km": round_km(facts["distance_km"]),
            "breakdown": breakdown,
            "reasons": _reasons(breakdown, facts, 3),
            "pinned": (mentee_id, mentor_id) in pins,
            "mentee_rank": int(facts["mentee_rank"]),
            "mentor_rank": int(facts["mentor_rank"]),
            "field_digits": int(facts["field_digits"]),
            "shared_interests": int(facts["shared_interests"]),
            "travel_minutes": minutes if math.isfinite(minutes) else None,
        })
    return pairs


def _copied(pair: dict[str, Any]) -> dict[str, Any]:
    """A pair's data of its own (alternatives share most pairs: each matching gets its copy)."""
    return {**pair, "breakdown": dict(pair["breakdown"]), "reasons": list(pair["reasons"])}


def matching_dict(result: SolveResult, matching: Matching,
                  pairs_by_row: Mapping[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One matching as plain data. `pairs_by_row`: the pairs' data by candidate row, made once for every
    matching of the result (`result_dict`); else made here."""
    candidates = result.candidates
    cohort = candidates.cohort
    best = result.matchings[0]
    rows = np.asarray(matching.rows, dtype=np.int64)
    if pairs_by_row is None:
        pairs = _pair_dicts(candidates, rows)
    else:
        pairs = [_copied(pairs_by_row[row]) for row in rows.tolist()]
    matched = set(candidates.mentee[matching.rows].tolist())
    load = np.bincount(candidates.mentor[matching.rows], minlength=len(cohort.mentors))
    best_pairs = set(best.pairs(candidates))
    these = set(matching.pairs(candidates))
    return {
        "rank": matching.rank,
        "status": matching.status.value,
        "objective": objective_dict(matching.objective)["value"],
        "objective_parts": objective_dict(matching.objective),
        "gap_to_best": best.objective.value - matching.objective.value,
        "pairs": pairs,
        "unmatched": [{"id": p.id} for i, p in enumerate(cohort.mentees) if i not in matched],
        "mentors_with_free_capacity": [
            {"id": p.id, "free": int(p.capacity - load[j])} for j, p in enumerate(cohort.mentors)
            if p.capacity - load[j] > 0
        ],
        "diff_vs_best": {
            "kept": len(best_pairs & these),
            "removed": sorted([list(p) for p in best_pairs - these]),
            "added": sorted([list(p) for p in these - best_pairs]),
        },
    }


def result_dict(result: SolveResult) -> dict[str, Any]:
    """The whole answer as plain data: status, bound, statistics and every matching. The library's view, for
    tests and for the mapping to `MatchResponse` (`server.convert.results`), which is what the command line and
    the service print."""
    cohort = result.candidates.cohort
    rules = cohort.rules
    # Alternatives share most of their pairs: each pair's data is made once, from one slice per column.
    rows = (np.unique(np.concatenate([np.asarray(m.rows, dtype=np.int64) for m in result.matchings]))
            if result.matchings else np.zeros(0, dtype=np.int64))
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
        "matchings": [matching_dict(result, m, pairs_by_row) for m in result.matchings],
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

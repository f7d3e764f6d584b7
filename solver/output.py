"""Plain-data views of results (dicts ready for JSON), shared by the command line, reports and tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from solver.domain import cefr_name
from solver.scores import TERMS, CandidatePairs
from solver.solve import Matching, Objective, SolveResult


def pair_breakdown(candidates: CandidatePairs, row: int) -> dict[str, int]:
    """Weighted points per soft term for one candidate row (terms with weight 0 left out)."""
    weights = candidates.cohort.rules.weights.as_dict()
    table = candidates.table
    out = {}
    for term in TERMS:
        weight = weights[term.weight_name]
        if weight:
            out[term.value] = weight * int(table[term.column][row])
    return out


def top_reasons(candidates: CandidatePairs, row: int, k: int = 3) -> list[str]:
    """The k terms that gave the pair most points, as short phrases."""
    table = candidates.table
    breakdown = pair_breakdown(candidates, row)
    phrases = {
        "MUTUAL_RANK": "ranked each other",
        "MENTEE_RANK": f"mentee ranked mentor #{table['mentee_rank'][row]}",
        "MENTOR_RANK": f"mentor ranked mentee #{table['mentor_rank'][row]}",
        "INTERESTS": f"{table['shared_interests'][row]} shared interest(s)",
        "FIELD": f"{table['field_digits'][row]} ISCO digits in common",
        "GOAL": "goal supported",
        "TRAVEL": f"{table['distance_km'][row]:.1f} km",
        "HOME_MARKET": "knows the home market",
        "FIRST_LANGUAGE": "speaks the first language",
        "SENIORITY": "seniority",
        "RETURNING": "returning mentor",
    }
    ranked = sorted(((points, term) for term, points in breakdown.items() if points > 0), reverse=True)[:k]
    return [phrases[term] for _, term in ranked]


def objective_dict(objective: Objective) -> dict[str, Any]:
    return {
        "value": objective.value,
        "matched": objective.matched,
        "matched_priority": objective.matched_priority,
        "total_score": objective.total_score,
        "worst_score": objective.worst_score,
        "rank_profile": list(objective.rank_profile),
    }


def matching_dict(result: SolveResult, matching: Matching) -> dict[str, Any]:
    candidates = result.candidates
    cohort = candidates.cohort
    table = candidates.table
    best = result.matchings[0]
    pairs = []
    for row in matching.rows.tolist():
        pairs.append({
            "mentee": cohort.mentees[int(table["mentee"][row])].id,
            "mentor": cohort.mentors[int(table["mentor"][row])].id,
            "score": int(table["score"][row]),
            "distance_km": round(float(table["distance_km"][row]), 2),
            "breakdown": pair_breakdown(candidates, row),
            "reasons": top_reasons(candidates, row),
        })
    matched = set(table["mentee"].to_numpy()[matching.rows].tolist())
    load = np.bincount(table["mentor"].to_numpy()[matching.rows], minlength=len(cohort.mentors))
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
    """The whole answer: status, bound, statistics and every matching."""
    cohort = result.candidates.cohort
    rules = cohort.rules
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
        "matchings": [matching_dict(result, m) for m in result.matchings],
    }

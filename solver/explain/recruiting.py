"""Which mentor profiles to recruit so that the most unmatched mentees could be matched."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from solver.candidates import CohortArrays, haversine_km
from solver.domain import cefr_name
from solver.explain.types import RecruitmentAdvice
from solver.explain.wording import id_list
from solver.solve import Matching, SolveResult

# Recruitment ------------------------------------------------------------------------------------------

_MAX_SITES = 200  # candidate workplace locations tried per mentor profile


def recruitment_advice(result: SolveResult, matching: Matching | None = None, k: int = 3
                       ) -> tuple[RecruitmentAdvice, ...]:
    """Up to k mentor profiles (field, language, gender, area), each reaching the most still-unmatched mentees.

    Greedy: the profile and workplace area that reach the most unmatched eligible mentees, then the next
    one for the mentees left, and so on. A mentee is reached when the new mentor would pass every hard rule
    with her (assuming he meets the experience rule and speaks the language at the programme's level).
    """
    matching = matching if matching is not None else result.best
    if matching is None or k <= 0:
        return ()
    cohort, arrays = result.candidates.cohort, result.candidates.arrays
    rules = cohort.rules
    depth = max(rules.field_depth, 0)
    matched = set(result.candidates.table["mentee"].to_numpy()[matching.rows].tolist())
    groups: dict[int, set[str]] = {}
    languages: dict[int, set[str]] = {}
    for i, mentee in enumerate(cohort.mentees):
        if i in matched or not arrays.mentee_eligible[i]:
            continue
        valid = [o for o in mentee.occupations if len(o) == 4 and o.isdigit()]
        groups[i] = {o[:depth] for o in valid} if depth else {""}
        languages[i] = {lang.code for lang in mentee.languages if lang.level >= rules.min_language_level}
    request = {i: cohort.mentees[i].requested_mentor_gender if rules.gender_requests_hard else "" for i in groups}
    remaining = set(groups)
    out: list[RecruitmentAdvice] = []
    while remaining and len(out) < k:
        profiles: dict[tuple[str, str, str], list[int]] = {}
        for i in sorted(remaining):
            for group in groups[i]:
                for language in languages[i]:
                    genders = {request[i]} if request[i] else {"", "f", "m", "x"}
                    for gender in genders:
                        profiles.setdefault((group, language, gender), []).append(i)
        # A gendered profile also reaches the mentees without a request: "" is then dominated, keep it only alone.
        ranked = sorted(profiles.items(), key=lambda p: (-len(p[1]), p[0][2] != "", p[0]))
        best: tuple[int, float, tuple[str, str, str], list[int], float, float] | None = None
        for profile, reached in ranked:
            if best is not None and len(reached) < best[0]:
                break
            covered, slack, lat, lon = _best_site(arrays, reached)
            if best is None or (len(covered), slack) > (best[0], best[1]):
                best = (len(covered), slack, profile, covered, lat, lon)
        if best is None or best[0] == 0:
            break
        count, slack, (group, language, gender), covered, lat, lon = best
        ids = tuple(cohort.mentees[i].id for i in covered)
        codes = Counter(o for i in covered for o in cohort.mentees[i].occupations if o.startswith(group))
        example = min(codes, key=lambda c: (-codes[c], c)) if codes else ""
        radius = slack if math.isfinite(slack) else None
        level = cefr_name(rules.min_language_level)
        where = (f"working within {radius:.1f} km of ({lat:.4f}, {lon:.4f})" if radius is not None
                 else "working anywhere")
        field_text = f"in ISCO group {group} (e.g. {example})" if group else "in any field"
        sentence = (f"recruit a mentor {field_text} who speaks {language} at {level} or better"
                    + (f", gender {gender}" if gender else "")
                    + (f", with at least {rules.min_mentor_years} years of experience" if rules.min_mentor_years
                       else "")
                    + f", {where}: reaches {count} unmatched mentee(s) ({id_list(list(ids))})")
        if arrays.uses_travel_times:
            sentence += "; with a travel-time table the new mentor also needs travel times to them"
        out.append(RecruitmentAdvice(group, example, language, level, gender, round(lat, 5), round(lon, 5),
                                     None if radius is None else round(radius, 2), ids, sentence))
        remaining -= set(covered)
    return tuple(out)


def _best_site(arrays: CohortArrays, reached: list[int]) -> tuple[list[int], float, float, float]:
    """The workplace location reaching most of these mentees: (covered, slack km, lat, lon)."""
    people = np.asarray(reached, dtype=np.int64)
    lat, lon = arrays.mentee_lat[people], arrays.mentee_lon[people]
    limit = arrays.mentee_limit_km[people]
    sites_lat = np.concatenate([lat[:_MAX_SITES], [lat.mean()]])
    sites_lon = np.concatenate([lon[:_MAX_SITES], [lon.mean()]])
    distance = haversine_km(np.repeat(sites_lat, len(people)), np.repeat(sites_lon, len(people)),
                            np.tile(lat, len(sites_lat)), np.tile(lon, len(sites_lat))).reshape(len(sites_lat), -1)
    margin = limit[None, :] - distance
    covers = margin >= 0
    counts = covers.sum(axis=1)
    slack = np.where(covers, margin, np.inf).min(axis=1)
    site = int(np.lexsort((-slack, -counts))[0])
    covered = people[covers[site]].tolist()
    return covered, float(slack[site]), float(sites_lat[site]), float(sites_lon[site])

"""Hard constraints: which mentee-mentor pairs are allowed, built by joins and vectorised rule masks.

Every hard rule is one vectorised mask over arrays of (mentee, mentor) index pairs (`rule_masks`).
The candidate builder narrows the pairs with joins first (shared field group, nearby grid cells) and
then applies the same masks, so the large path and the per-person funnel can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import polars as pl

from solver.domain import Cohort

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0
CROSS_PRODUCT_LIMIT = 2_000_000  # below this many pairs, masks over the full product beat any join
CHUNK = 1_000_000

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


class HardRule(StrEnum):
    """Hard rules in funnel order: each removes partners that survived the ones before it."""

    ELIGIBILITY = "ELIGIBILITY"  # mentee municipality / track; mentor years of experience
    FIELD = "FIELD"  # shared ISCO-08 prefix of the programme's depth
    DISTANCE = "DISTANCE"  # within the programme's and the mentee's own limit (km or minutes)
    LANGUAGE = "LANGUAGE"  # a common language at the minimum CEFR level
    GENDER = "GENDER"  # the mentee's requested mentor gender, when requests are hard
    BAN = "BAN"  # the coordinator ruled the pair out


@dataclass(frozen=True)
class CohortArrays:
    """A columnar view of a cohort: what the vectorised rules and scores read."""

    n_mentees: int
    n_mentors: int
    mentee_lat: FloatArray
    mentee_lon: FloatArray
    mentor_lat: FloatArray
    mentor_lon: FloatArray
    mentee_limit_km: FloatArray  # min(programme, personal); inf = none
    mentee_limit_minutes: FloatArray
    mentee_eligible: BoolArray
    mentor_eligible: BoolArray
    mentee_occupations: IntArray  # [n, k] ISCO codes as ints, padded with -1
    mentor_occupations: IntArray  # [m, k] padded with -2 so padding never matches
    mentee_languages: npt.NDArray[np.uint64]  # [n, words] bit per language spoken at the minimum level
    mentor_languages: npt.NDArray[np.uint64]
    mentee_requested_gender: IntArray  # 0 = no request
    mentor_gender: IntArray
    banned_keys: IntArray  # sorted mentee * n_mentors + mentor
    travel_keys: IntArray  # sorted keys with a travel time; empty when distance is straight-line
    travel_minutes: FloatArray  # aligned with travel_keys
    uses_travel_times: bool
    field_depth: int
    gender_requests_hard: bool
    max_distance_km: float | None


def _gender_code(gender: str) -> int:
    return {"f": 1, "m": 2, "x": 3}.get(gender, 0)


def _occupation_matrix(occupations: list[tuple[str, ...]], pad: int) -> IntArray:
    width = max((len(o) for o in occupations), default=0) or 1
    matrix = np.full((len(occupations), width), pad, dtype=np.int64)
    for i, codes in enumerate(occupations):
        for k, code in enumerate(codes):
            if len(code) == 4 and code.isdigit():
                matrix[i, k] = int(code)
    return matrix


def _language_bits(people: list[tuple[tuple[str, int], ...]], codes: dict[str, int], min_level: int
                   ) -> npt.NDArray[np.uint64]:
    words = max(1, (len(codes) + 63) // 64)
    bits = np.zeros((len(people), words), dtype=np.uint64)
    for i, languages in enumerate(people):
        for code, level in languages:
            if level >= min_level and code in codes:
                index = codes[code]
                bits[i, index // 64] |= np.uint64(1) << np.uint64(index % 64)
    return bits


def cohort_arrays(cohort: Cohort) -> CohortArrays:
    """Columnar arrays of everything the hard rules and scores need; one pass over the participants."""
    rules = cohort.rules
    mentees, mentors = cohort.mentees, cohort.mentors
    n, m = len(mentees), len(mentors)
    programme_km = rules.max_distance_km if rules.max_distance_km is not None else math.inf
    programme_minutes = rules.max_travel_minutes if rules.max_travel_minutes is not None else math.inf
    municipalities = set(rules.eligible_municipalities)
    tracks = set(rules.eligible_tracks)
    language_codes: dict[str, int] = {}
    for languages in [p.languages for p in mentees] + [p.languages for p in mentors]:
        for lang in languages:
            language_codes.setdefault(lang.code, len(language_codes))
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    bans = sorted({mentee_index[a] * m + mentor_index[b] for a, b in rules.bans
                   if a in mentee_index and b in mentor_index})
    travel: dict[int, float] = {}
    for t in rules.travel_times:
        if t.mentee_id in mentee_index and t.mentor_id in mentor_index:
            travel[mentee_index[t.mentee_id] * m + mentor_index[t.mentor_id]] = t.minutes
    travel_keys = np.array(sorted(travel), dtype=np.int64)
    return CohortArrays(
        n_mentees=n,
        n_mentors=m,
        mentee_lat=np.array([p.lat for p in mentees], dtype=np.float64),
        mentee_lon=np.array([p.lon for p in mentees], dtype=np.float64),
        mentor_lat=np.array([p.lat for p in mentors], dtype=np.float64),
        mentor_lon=np.array([p.lon for p in mentors], dtype=np.float64),
        mentee_limit_km=np.array([min(programme_km, p.max_travel_km if p.max_travel_km is not None else math.inf)
                                  for p in mentees], dtype=np.float64),
        mentee_limit_minutes=np.array(
            [min(programme_minutes, p.max_travel_minutes if p.max_travel_minutes is not None else math.inf)
             for p in mentees], dtype=np.float64),
        mentee_eligible=np.array([(not municipalities or p.municipality in municipalities)
                                  and (not tracks or p.track in tracks) for p in mentees], dtype=np.bool_),
        mentor_eligible=np.array([p.years_experience >= rules.min_mentor_years for p in mentors], dtype=np.bool_),
        mentee_occupations=_occupation_matrix([p.occupations for p in mentees], -1),
        mentor_occupations=_occupation_matrix([p.occupations for p in mentors], -2),
        mentee_languages=_language_bits([tuple((lang.code, lang.level) for lang in p.languages) for p in mentees],
                                        language_codes, rules.min_language_level),
        mentor_languages=_language_bits([tuple((lang.code, lang.level) for lang in p.languages) for p in mentors],
                                        language_codes, rules.min_language_level),
        mentee_requested_gender=np.array([_gender_code(p.requested_mentor_gender) for p in mentees], dtype=np.int64),
        mentor_gender=np.array([_gender_code(p.gender) for p in mentors], dtype=np.int64),
        banned_keys=np.array(bans, dtype=np.int64),
        travel_keys=travel_keys,
        travel_minutes=np.array([travel[k] for k in travel_keys.tolist()], dtype=np.float64),
        uses_travel_times=bool(rules.travel_times),
        field_depth=rules.field_depth,
        gender_requests_hard=rules.gender_requests_hard,
        max_distance_km=rules.max_distance_km,
    )


def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def field_digits(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> npt.NDArray[np.int8]:
    """Per pair, the most leading ISCO digits any occupation of the mentee shares with one of the mentor."""
    best = np.zeros(len(mentee), dtype=np.int8)
    a = arrays.mentee_occupations[mentee]  # [p, ka]
    b = arrays.mentor_occupations[mentor]  # [p, kb]
    # Padding (negative) must never match, not even padding against padding after division.
    both_real = (a[:, :, None] >= 0) & (b[:, None, :] >= 0)
    for digits in (1, 2, 3, 4):
        divisor = 10 ** (4 - digits)
        shared = (((a[:, :, None] // divisor) == (b[:, None, :] // divisor)) & both_real).any(axis=(1, 2))
        best = np.where(shared, np.int8(digits), best)
    return best


def pair_travel(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> tuple[FloatArray, FloatArray]:
    """(km, minutes) per pair; minutes are NaN where no travel-time table entry exists."""
    km = haversine_km(arrays.mentee_lat[mentee], arrays.mentee_lon[mentee],
                      arrays.mentor_lat[mentor], arrays.mentor_lon[mentor])
    minutes = np.full(len(mentee), np.nan)
    if arrays.uses_travel_times and len(arrays.travel_keys):
        keys = mentee * arrays.n_mentors + mentor
        pos = np.searchsorted(arrays.travel_keys, keys)
        pos = np.minimum(pos, len(arrays.travel_keys) - 1)
        found = arrays.travel_keys[pos] == keys
        minutes = np.where(found, arrays.travel_minutes[pos], np.nan)
    return km, minutes


def rule_masks(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> dict[HardRule, BoolArray]:
    """For each hard rule, which of the given pairs pass it (independently of the other rules)."""
    km, minutes = pair_travel(arrays, mentee, mentor)
    if arrays.uses_travel_times:
        # With a travel-time table, a pair without an entry has no known route, so it is not allowed.
        within = ~np.isnan(minutes) & (minutes <= arrays.mentee_limit_minutes[mentee])
        within &= km <= arrays.mentee_limit_km[mentee]
    else:
        within = km <= arrays.mentee_limit_km[mentee]
    common = (arrays.mentee_languages[mentee] & arrays.mentor_languages[mentor]).any(axis=1)
    if arrays.field_depth > 0:
        field = field_digits(arrays, mentee, mentor) >= arrays.field_depth
    else:
        field = np.ones(len(mentee), dtype=np.bool_)
    requested = arrays.mentee_requested_gender[mentee]
    gender = (requested == 0) | (requested == arrays.mentor_gender[mentor]) | (not arrays.gender_requests_hard)
    if len(arrays.banned_keys):
        banned = np.isin(mentee * arrays.n_mentors + mentor, arrays.banned_keys)
    else:
        banned = np.zeros(len(mentee), dtype=np.bool_)
    return {
        HardRule.ELIGIBILITY: arrays.mentee_eligible[mentee] & arrays.mentor_eligible[mentor],
        HardRule.FIELD: field,
        HardRule.DISTANCE: within,
        HardRule.LANGUAGE: common,
        HardRule.GENDER: gender,
        HardRule.BAN: ~banned,
    }


def allowed(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    masks = rule_masks(arrays, mentee, mentor)
    result = np.ones(len(mentee), dtype=np.bool_)
    for mask in masks.values():
        result &= mask
    return result


def funnel(arrays: CohortArrays, *, mentee: int | None = None, mentor: int | None = None
           ) -> list[tuple[HardRule, int]]:
    """For one participant, how many partners each rule removed, in funnel order, from all on the other side."""
    if (mentee is None) == (mentor is None):
        raise ValueError("give exactly one of mentee or mentor")
    if mentee is not None:
        others = np.arange(arrays.n_mentors, dtype=np.int64)
        masks = rule_masks(arrays, np.full(len(others), mentee, dtype=np.int64), others)
    else:
        others = np.arange(arrays.n_mentees, dtype=np.int64)
        masks = rule_masks(arrays, others, np.full(len(others), mentor, dtype=np.int64))
    alive = np.ones(len(others), dtype=np.bool_)
    removed = []
    for rule in HardRule:
        after = alive & masks[rule]
        removed.append((rule, int(alive.sum() - after.sum())))
        alive = after
    return removed


def _prefilter_by_joins(arrays: CohortArrays, mentees: IntArray, mentors: IntArray) -> tuple[IntArray, IntArray]:
    """A superset of the allowed pairs among eligible people, by joins on field group and grid cell."""
    depth = max(arrays.field_depth, 0)
    divisor = 10 ** (4 - depth) if depth else 10**9  # depth 0: everybody shares one group

    def exploded(people: IntArray, occupations: IntArray) -> pl.DataFrame:
        codes = occupations[people]
        rows = np.repeat(people, codes.shape[1])
        groups = codes.reshape(-1)
        keep = groups >= 0
        return pl.DataFrame({"person": rows[keep], "group": groups[keep] // divisor}).unique()

    left = exploded(mentees, arrays.mentee_occupations).rename({"person": "mentee"})
    right = exploded(mentors, arrays.mentor_occupations).rename({"person": "mentor"})
    keys = ["group"]
    limit = arrays.max_distance_km
    all_lat = np.concatenate([arrays.mentee_lat, arrays.mentor_lat])
    if limit is not None and not arrays.uses_travel_times and len(all_lat) and np.nanmax(np.abs(all_lat)) < 80:
        # Cells at least `limit` wide in both directions: an allowed pair lies in the same or a neighbouring cell.
        lat_cell = limit / KM_PER_DEGREE * 1.01
        widest = math.cos(math.radians(min(89.0, float(np.nanmax(np.abs(all_lat))) + lat_cell)))
        lon_cell = limit / (KM_PER_DEGREE * widest) * 1.01
        mentor_cells = pl.DataFrame({
            "mentor": np.arange(arrays.n_mentors),
            "cy": np.floor(arrays.mentor_lat / lat_cell).astype(np.int64),
            "cx": np.floor(arrays.mentor_lon / lon_cell).astype(np.int64),
        })
        right = right.join(mentor_cells, on="mentor")
        base_y = np.floor(arrays.mentee_lat / lat_cell).astype(np.int64)
        base_x = np.floor(arrays.mentee_lon / lon_cell).astype(np.int64)
        offsets = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        mentee_cells = pl.concat([
            pl.DataFrame({"mentee": np.arange(arrays.n_mentees), "cy": base_y + dy, "cx": base_x + dx})
            for dy, dx in offsets
        ])
        left = left.join(mentee_cells, on="mentee")
        keys = ["group", "cy", "cx"]
    joined = left.join(right, on=keys).select("mentee", "mentor").unique()
    return joined["mentee"].to_numpy().astype(np.int64), joined["mentor"].to_numpy().astype(np.int64)


def candidate_pair_indices(arrays: CohortArrays) -> tuple[IntArray, IntArray]:
    """All allowed (mentee, mentor) index pairs, sorted by mentee then mentor."""
    mentees = np.flatnonzero(arrays.mentee_eligible).astype(np.int64)
    mentors = np.flatnonzero(arrays.mentor_eligible).astype(np.int64)
    if len(mentees) == 0 or len(mentors) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if len(mentees) * len(mentors) <= CROSS_PRODUCT_LIMIT:
        mentee = np.repeat(mentees, len(mentors))
        mentor = np.tile(mentors, len(mentees))
    else:
        mentee, mentor = _prefilter_by_joins(arrays, mentees, mentors)
    keep_mentee, keep_mentor = [], []
    for start in range(0, len(mentee), CHUNK):
        a, b = mentee[start:start + CHUNK], mentor[start:start + CHUNK]
        ok = allowed(arrays, a, b)
        keep_mentee.append(a[ok])
        keep_mentor.append(b[ok])
    mentee = np.concatenate(keep_mentee) if keep_mentee else np.zeros(0, dtype=np.int64)
    mentor = np.concatenate(keep_mentor) if keep_mentor else np.zeros(0, dtype=np.int64)
    order = np.lexsort((mentor, mentee))
    return mentee[order], mentor[order]

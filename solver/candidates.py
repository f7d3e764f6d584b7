"""Hard constraints: which mentee-mentor pairs are allowed, built by joins and vectorised rule masks.

Every hard rule is one vectorised mask over arrays of (mentee, mentor) index pairs (`rule_masks`).
The candidate builder narrows the pairs with joins first (shared field group, nearby grid cells) and
then applies the same masks, so the large path and the per-person funnel can never disagree.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from solver.data import builtin_field_families
from solver.domain import Cohort, FieldFamily, FieldRule, Goal, Language, MutualChoice
from solver.stop import StopToken, check

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0
CROSS_PRODUCT_LIMIT = 2_000_000  # below this many pairs, masks over the full product beat any join
CHUNK = 250_000  # pairs filtered between two stop checks: a stop waits at most one chunk (~30 ms)

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
    GOAL = "GOAL"  # the mentee's segment allows only mentors supporting some goals
    CHOICE = "CHOICE"  # mutual choice: the pair needs speed-dating rankings (mentee's, mentor's, either or both)
    CONFLICT = "CONFLICT"  # the mentor's organisation is one the mentee must avoid (a conflict of interest)
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
    mentee_limit_km: FloatArray  # her km limit (README: Distance); inf = none
    mentee_limit_minutes: FloatArray
    mentee_eligible: BoolArray  # municipality and track
    mentor_eligible: BoolArray  # years enough for at least one mentee's rules (a prefilter; see mentee_min_years)
    mentee_occupations: IntArray  # [n, k] ISCO codes as ints, padded with -1
    mentor_occupations: IntArray  # [m, k] padded with -2 so padding never matches
    mentee_languages: npt.NDArray[np.uint64]  # [n, words] bit per language she speaks at her rules' minimum level,
    # among her rules' programme languages
    mentor_languages_by_level: npt.NDArray[np.uint64]  # [7, m, words]: languages spoken at level >= index
    mentee_language_level: IntArray  # her rules' minimum CEFR level, 1..6
    mentee_requested_gender: IntArray  # 0 = no request
    mentor_gender: IntArray
    banned_keys: IntArray  # sorted mentee * n_mentors + mentor
    travel_keys: IntArray  # sorted keys with a travel time; empty when distance is straight-line
    travel_minutes: FloatArray  # aligned with travel_keys
    uses_travel_times: bool
    gender_requests_hard: bool
    mentee_field_depth: IntArray  # her rules' field depth (0 = no field rule)
    mentee_by_family: BoolArray  # her rules' field rule is "family"
    mentee_families: npt.NDArray[np.uint64]  # [n, words] bit per field family of her occupations
    mentor_families: npt.NDArray[np.uint64]
    mentee_min_years: IntArray  # the mentor years her rules require
    mentor_years: IntArray
    mentee_online: BoolArray  # she accepts online meetings and her rules allow them
    mentor_online: BoolArray
    mentee_goal_bits: IntArray  # the mentor goals her segment allows, as bits (0 = any)
    mentor_goal_bits: IntArray  # the goals the mentor supports (0 = any)
    mentee_choice: IntArray  # her rules' mutual choice, as MutualChoice index (0 = none)
    mentee_ranked_keys: IntArray  # sorted mentee * n_mentors + mentor: the mentee ranked the mentor
    mentor_ranked_keys: IntArray  # sorted keys: the mentor ranked the mentee
    mentor_org: IntArray  # organisation code per mentor, -1 = none
    avoid_keys: IntArray  # sorted mentee * n_orgs + organisation code she must avoid
    n_orgs: int
    # The loosest rules over all mentees, for the joins that narrow the pairs before the masks decide.
    field_depth: int  # the fewest digits any mentee's rules require (0 with a family rule anywhere)
    max_distance_km: float | None  # the longest km limit; None when some pair may have none (online, no limit)
    # Derived lookup tables, built on first use (e.g. shared field digits per pair of occupation profiles).
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


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


def _language_mask(languages: tuple[Language, ...], codes: dict[str, int], min_level: int,
                   only: tuple[str, ...]) -> int:
    """A bit per language spoken at `min_level` or better (among `only`, when given), as a Python int."""
    mask = 0
    for lang in languages:
        if lang.level >= min_level and (not only or lang.code in only):
            mask |= 1 << codes[lang.code]
    return mask


def _bit_words(masks: list[int], words: int) -> npt.NDArray[np.uint64]:
    """Python-int bit sets as a [len, words] uint64 matrix (bit k in word k // 64)."""
    bits = np.zeros((len(masks), words), dtype=np.uint64)
    low = (1 << 64) - 1
    for w in range(words):
        shift = 64 * w
        bits[:, w] = np.array([(mask >> shift) & low for mask in masks], dtype=np.uint64)
    return bits


_CHOICES = tuple(MutualChoice)  # index 0 = NONE
_GOAL_BIT: dict[Goal, int] = {goal: 1 << k for k, goal in enumerate(g for g in Goal if g is not Goal.UNSPECIFIED)}


def _goal_bits(goals: tuple[Goal, ...]) -> int:
    bits = 0
    for goal in goals:
        bits |= _GOAL_BIT.get(goal, 0)
    return bits


def _family_masks(occupations: list[tuple[str, ...]], families: tuple[FieldFamily, ...]) -> list[int]:
    """Per person, a bit per field family that one of their occupations belongs to (it starts with a prefix)."""
    out = []
    for codes in occupations:
        mask = 0
        for k, family in enumerate(families):
            if any(code.startswith(prefix) for code in codes for prefix in family.prefixes):
                mask |= 1 << k
        out.append(mask)
    return out


def cohort_arrays(cohort: Cohort) -> CohortArrays:
    """Columnar arrays of everything the hard rules and scores need; one pass over the participants."""
    rules = cohort.rules
    mentees, mentors = cohort.mentees, cohort.mentors
    n, m = len(mentees), len(mentors)
    uses_travel_times = bool(rules.travel_times)
    per_mentee = [rules.for_mentee(p) for p in mentees]
    municipalities = set(rules.eligible_municipalities)
    tracks = set(rules.eligible_tracks)
    language_codes: dict[str, int] = {}
    for languages in [p.languages for p in mentees] + [p.languages for p in mentors]:
        for lang in languages:
            language_codes.setdefault(lang.code, len(language_codes))
    words = max(1, (len(language_codes) + 63) // 64)
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    bans = sorted({mentee_index[a] * m + mentor_index[b] for a, b in rules.bans
                   if a in mentee_index and b in mentor_index})
    travel: dict[int, float] = {}
    for t in rules.travel_times:
        if t.mentee_id in mentee_index and t.mentor_id in mentor_index:
            travel[mentee_index[t.mentee_id] * m + mentor_index[t.mentor_id]] = t.minutes
    travel_keys = np.array(sorted(travel), dtype=np.int64)

    def limit(programme: float | None, personal: float | None, extend: bool) -> float:
        if personal is not None and extend:
            return personal  # her own limit replaces the programme's, longer or shorter
        return min(math.inf if programme is None else programme, math.inf if personal is None else personal)

    # A travel-time table replaces straight-line distance: then no km limit applies, programme or personal.
    limit_km = np.array([math.inf if uses_travel_times else limit(r.max_distance_km, p.max_travel_km,
                                                                    r.personal_limits_extend)
                         for p, r in zip(mentees, per_mentee, strict=True)], dtype=np.float64)
    limit_minutes = np.array([limit(r.max_travel_minutes, p.max_travel_minutes, r.personal_limits_extend)
                              for p, r in zip(mentees, per_mentee, strict=True)], dtype=np.float64)
    mentee_languages = [_language_mask(p.languages, language_codes, r.min_language_level, r.programme_languages)
                        for p, r in zip(mentees, per_mentee, strict=True)]
    by_level = np.zeros((7, m, words), dtype=np.uint64)
    for level in range(1, 7):
        by_level[level] = _bit_words([_language_mask(q.languages, language_codes, level, ()) for q in mentors], words)
    families = rules.field_families or builtin_field_families()
    family_words = max(1, (len(families) + 63) // 64)
    organisations = sorted({q.organisation for q in mentors if q.organisation})
    org_code = {org: k for k, org in enumerate(organisations)}
    avoid = sorted({i * max(1, len(organisations)) + org_code[org] for i, p in enumerate(mentees)
                    for org in p.avoid_organisations if org in org_code})
    mentee_ranked: set[int] = set()
    mentor_ranked: set[int] = set()
    for ranking in cohort.rankings:
        if ranking.from_id in mentee_index and ranking.to_id in mentor_index:
            mentee_ranked.add(mentee_index[ranking.from_id] * m + mentor_index[ranking.to_id])
        elif ranking.from_id in mentor_index and ranking.to_id in mentee_index:
            mentor_ranked.add(mentee_index[ranking.to_id] * m + mentor_index[ranking.from_id])
    depths = [0 if r.field_rule is FieldRule.FAMILY else max(r.field_depth, 0) for r in per_mentee]
    min_years = np.array([r.min_mentor_years for r in per_mentee], dtype=np.int64)
    mentor_years = np.array([q.years_experience for q in mentors], dtype=np.int64)
    online = np.array([p.online and r.online_meetings for p, r in zip(mentees, per_mentee, strict=True)],
                      dtype=np.bool_)
    mentor_online = np.array([q.online for q in mentors], dtype=np.bool_)
    finite = limit_km[np.isfinite(limit_km)]
    join_km = None if (uses_travel_times or len(finite) < n or (online.any() and mentor_online.any())
                       or n == 0) else float(finite.max())
    return CohortArrays(
        n_mentees=n,
        n_mentors=m,
        mentee_lat=np.array([p.lat for p in mentees], dtype=np.float64),
        mentee_lon=np.array([p.lon for p in mentees], dtype=np.float64),
        mentor_lat=np.array([p.lat for p in mentors], dtype=np.float64),
        mentor_lon=np.array([p.lon for p in mentors], dtype=np.float64),
        mentee_limit_km=limit_km,
        mentee_limit_minutes=limit_minutes,
        mentee_eligible=np.array([(not municipalities or p.municipality in municipalities)
                                  and (not tracks or p.track in tracks) for p in mentees], dtype=np.bool_),
        mentor_eligible=mentor_years >= (int(min_years.min()) if n else rules.min_mentor_years),
        mentee_occupations=_occupation_matrix([p.occupations for p in mentees], -1),
        mentor_occupations=_occupation_matrix([p.occupations for p in mentors], -2),
        mentee_languages=_bit_words(mentee_languages, words),
        mentor_languages_by_level=by_level,
        mentee_language_level=np.array([min(max(r.min_language_level, 1), 6) for r in per_mentee], dtype=np.int64),
        mentee_requested_gender=np.array([_gender_code(p.requested_mentor_gender) for p in mentees], dtype=np.int64),
        mentor_gender=np.array([_gender_code(p.gender) for p in mentors], dtype=np.int64),
        banned_keys=np.array(bans, dtype=np.int64),
        travel_keys=travel_keys,
        travel_minutes=np.array([travel[k] for k in travel_keys.tolist()], dtype=np.float64),
        uses_travel_times=uses_travel_times,
        gender_requests_hard=rules.gender_requests_hard,
        mentee_field_depth=np.array([max(r.field_depth, 0) for r in per_mentee], dtype=np.int64),
        mentee_by_family=np.array([r.field_rule is FieldRule.FAMILY for r in per_mentee], dtype=np.bool_),
        mentee_families=_bit_words(_family_masks([p.occupations for p in mentees], families), family_words),
        mentor_families=_bit_words(_family_masks([q.occupations for q in mentors], families), family_words),
        mentee_min_years=min_years,
        mentor_years=mentor_years,
        mentee_online=online,
        mentor_online=mentor_online,
        mentee_goal_bits=np.array([_goal_bits(r.mentor_goals) for r in per_mentee], dtype=np.int64),
        mentor_goal_bits=np.array([_goal_bits(q.goals) for q in mentors], dtype=np.int64),
        mentee_choice=np.array([_CHOICES.index(r.mutual_choice) for r in per_mentee], dtype=np.int64),
        mentee_ranked_keys=np.array(sorted(mentee_ranked), dtype=np.int64),
        mentor_ranked_keys=np.array(sorted(mentor_ranked), dtype=np.int64),
        mentor_org=np.array([org_code.get(q.organisation, -1) for q in mentors], dtype=np.int64),
        avoid_keys=np.array(avoid, dtype=np.int64),
        n_orgs=max(1, len(organisations)),
        field_depth=min(depths) if n else max(rules.field_depth, 0),
        max_distance_km=join_km,
    )


def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


FIELD_TABLE_LIMIT = 4096  # distinct ISCO codes up to which shared digits come from a code x code table
PROFILE_TABLE_LIMIT = 16_000_000  # mentee x mentor occupation profiles up to which one table holds every pair


@dataclass(frozen=True)
class _FieldLookup:
    """Shared leading digits for any mentee x mentor pair as one table lookup.

    Each person's occupations are a *profile* (the row of their code indices); `table[pa * width + pb]` is the
    most leading digits any code of profile pa shares with any code of profile pb (padding never shares).
    """

    mentee_profile: IntArray
    mentor_profile: IntArray
    table: npt.NDArray[np.int8]  # flattened [mentee profiles, mentor profiles]
    width: int


def _field_lookup(arrays: CohortArrays) -> _FieldLookup | None:
    if "field" in arrays.cache:
        return arrays.cache["field"]  # type: ignore[return-value]
    a, b = arrays.mentee_occupations, arrays.mentor_occupations
    codes = np.unique(np.concatenate([a[a >= 0], b[b >= 0]]))
    u = len(codes)
    lookup = None
    if u <= FIELD_TABLE_LIMIT:
        shared = np.zeros((u + 1, u + 1), dtype=np.int8)  # index u = padding, shares nothing
        for digits in (1, 2, 3, 4):
            prefix = codes // 10 ** (4 - digits)
            shared[:u, :u] = np.where(prefix[:, None] == prefix[None, :], np.int8(digits), shared[:u, :u])
        a_codes = np.where(a >= 0, np.searchsorted(codes, a), u)
        b_codes = np.where(b >= 0, np.searchsorted(codes, b), u)
        a_rows, a_profile = np.unique(a_codes, axis=0, return_inverse=True)
        b_rows, b_profile = np.unique(b_codes, axis=0, return_inverse=True)
        if len(a_rows) * len(b_rows) <= PROFILE_TABLE_LIMIT:
            table = np.zeros((len(a_rows), len(b_rows)), dtype=np.int8)
            for i in range(a_rows.shape[1]):
                for j in range(b_rows.shape[1]):
                    np.maximum(table, shared[a_rows[:, i][:, None], b_rows[:, j][None, :]], out=table)
            lookup = _FieldLookup(a_profile.reshape(-1).astype(np.int64), b_profile.reshape(-1).astype(np.int64),
                                  table.reshape(-1), len(b_rows))
    arrays.cache["field"] = lookup
    return lookup


def field_digits(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> npt.NDArray[np.int8]:
    """Per pair, the most leading ISCO digits any occupation of the mentee shares with one of the mentor."""
    # The lookup table pays from a few thousand pairs on; below, the direct comparison is cheaper.
    lookup = _field_lookup(arrays) if len(mentee) >= 4096 or "field" in arrays.cache else None
    if lookup is not None:
        return lookup.table[lookup.mentee_profile[mentee] * lookup.width + lookup.mentor_profile[mentor]]
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


def _pair_km(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> FloatArray:
    """`haversine_km` of the pairs, bit for bit, with the per-person radians and cosines computed once."""
    p1, p2 = np.radians(arrays.mentee_lat), np.radians(arrays.mentor_lat)
    c1, c2 = np.cos(p1), np.cos(p2)
    dp, dl = p2[mentor] - p1[mentee], np.radians(arrays.mentor_lon[mentor] - arrays.mentee_lon[mentee])
    a = np.sin(dp / 2) ** 2 + c1[mentee] * c2[mentor] * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=np.float64)


def pair_travel(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> tuple[FloatArray, FloatArray]:
    """(km, minutes) per pair; minutes are NaN where no travel-time table entry exists."""
    km = _pair_km(arrays, mentee, mentor)
    minutes = np.full(len(mentee), np.nan)
    if arrays.uses_travel_times and len(arrays.travel_keys):
        keys = mentee * arrays.n_mentors + mentor
        pos = np.searchsorted(arrays.travel_keys, keys)
        pos = np.minimum(pos, len(arrays.travel_keys) - 1)
        found = arrays.travel_keys[pos] == keys
        minutes = np.where(found, arrays.travel_minutes[pos], np.nan)
    return km, minutes


def _reach(arrays: CohortArrays, mentee: IntArray, mentor: IntArray
           ) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Per pair, km and minutes from home to workplace, and whether the distance rule allows it."""
    km, minutes = pair_travel(arrays, mentee, mentor)
    if arrays.uses_travel_times:
        # A travel-time table replaces straight-line distance: no km limit applies, and a pair without an entry
        # has no known route, so it is not allowed.
        within = ~np.isnan(minutes) & (minutes <= arrays.mentee_limit_minutes[mentee])
    else:
        within = km <= arrays.mentee_limit_km[mentee]
    # A pair who both accept online meetings, where her rules allow them, is not bound by distance.
    within |= arrays.mentee_online[mentee] & arrays.mentor_online[mentor]
    return km, minutes, within


def _in_keys(keys: IntArray, sorted_keys: IntArray) -> BoolArray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=np.bool_)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return np.asarray(sorted_keys[pos] == keys, dtype=np.bool_)


def _language_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    spoken = arrays.mentor_languages_by_level[arrays.mentee_language_level[mentee], mentor]
    return np.asarray((arrays.mentee_languages[mentee] & spoken).any(axis=1), dtype=np.bool_)


def _gender_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    requested = arrays.mentee_requested_gender[mentee]
    return (requested == 0) | (requested == arrays.mentor_gender[mentor]) | (not arrays.gender_requests_hard)


def _goal_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    wanted, offered = arrays.mentee_goal_bits[mentee], arrays.mentor_goal_bits[mentor]
    return (wanted == 0) | (offered == 0) | ((wanted & offered) != 0)


def _choice_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    choice = arrays.mentee_choice[mentee]
    if not choice.any():
        return np.ones(len(mentee), dtype=np.bool_)
    keys = mentee * arrays.n_mentors + mentor
    by_mentee, by_mentor = _in_keys(keys, arrays.mentee_ranked_keys), _in_keys(keys, arrays.mentor_ranked_keys)
    codes = {c: k for k, c in enumerate(MutualChoice)}
    return np.select([choice == codes[MutualChoice.MENTEE], choice == codes[MutualChoice.MENTOR],
                      choice == codes[MutualChoice.EITHER], choice == codes[MutualChoice.BOTH]],
                     [by_mentee, by_mentor, by_mentee | by_mentor, by_mentee & by_mentor], default=True)


def _conflict_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    org = arrays.mentor_org[mentor]
    return ~((org >= 0) & _in_keys(mentee * arrays.n_orgs + org, arrays.avoid_keys))


def _ban_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    return ~_in_keys(mentee * arrays.n_mentors + mentor, arrays.banned_keys)


def _field_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray, digits: npt.NDArray[np.int8]) -> BoolArray:
    depth = arrays.mentee_field_depth[mentee]
    ok = (depth <= 0) | (digits >= depth)
    family = arrays.mentee_by_family[mentee] & ~ok
    if family.any():
        shared = (arrays.mentee_families[mentee[family]] & arrays.mentor_families[mentor[family]]).any(axis=1)
        ok[np.flatnonzero(family)[shared]] = True
    return ok


def rule_masks(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> dict[HardRule, BoolArray]:
    """For each hard rule, which of the given pairs pass it (independently of the other rules)."""
    _, _, within = _reach(arrays, mentee, mentor)
    return {
        HardRule.ELIGIBILITY: arrays.mentee_eligible[mentee]
        & (arrays.mentor_years[mentor] >= arrays.mentee_min_years[mentee]),
        HardRule.FIELD: _field_rule(arrays, mentee, mentor, field_digits(arrays, mentee, mentor)),
        HardRule.DISTANCE: within,
        HardRule.LANGUAGE: _language_rule(arrays, mentee, mentor),
        HardRule.GENDER: _gender_rule(arrays, mentee, mentor),
        HardRule.GOAL: _goal_rule(arrays, mentee, mentor),
        HardRule.CHOICE: _choice_rule(arrays, mentee, mentor),
        HardRule.CONFLICT: _conflict_rule(arrays, mentee, mentor),
        HardRule.BAN: _ban_rule(arrays, mentee, mentor),
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


def _person_groups(people: IntArray, occupations: IntArray, divisor: int | None) -> tuple[IntArray, IntArray]:
    """(person, field group) rows, unique, sorted by person then group; divisor None: one group for everybody."""
    if divisor is None:
        return people, np.zeros(len(people), dtype=np.int64)
    codes = occupations[people]
    rows = np.repeat(people, codes.shape[1])
    groups = codes.reshape(-1)
    keep = groups >= 0
    rows, groups = rows[keep], groups[keep] // divisor
    span = int(groups.max()) + 1 if len(groups) else 1
    key = np.unique(rows * span + groups)
    return key // span, key % span


@dataclass(frozen=True)
class PairJoin:
    """The sort-merge join on field group and grid cell, counted but not built: each query (a mentee's field
    group in one of the cells around theirs) with the run of mentors that share it, `mentors[lo:hi]`."""

    mentee: IntArray  # per query
    lo: IntArray
    hi: IntArray
    mentors: IntArray  # eligible mentors sorted by join key
    width: int  # queries per (mentee, field group) entry: 1, or 9 with the grid
    entry_group: IntArray  # field group of each entry (ISCO code // divisor); 0 for all when the field is not joined
    divisor: int | None  # ISCO code // divisor = field group; None: the field does not narrow the join
    cell_km: float | None  # the grid's cell size (the distance limit); None: distance does not narrow the join

    @property
    def pairs(self) -> int:
        """Pairs the join yields, before the rules: what building the candidates must examine."""
        return int((self.hi - self.lo).sum())


def pair_join(arrays: CohortArrays, mentees: IntArray, mentors: IntArray) -> PairJoin:
    """The join of `_prefilter_by_joins`, counted: cheap (sorting and binary search over people), no pair built."""
    depth = max(arrays.field_depth, 0)
    divisor = 10 ** (4 - depth) if depth else None  # depth 0: everybody shares one group, occupations or not
    left_person, left_group = _person_groups(mentees, arrays.mentee_occupations, divisor)
    right_person, right_group = _person_groups(mentors, arrays.mentor_occupations, divisor)
    if len(left_person) == 0 or len(right_person) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairJoin(empty, empty, empty, empty, 1, empty, divisor, None)
    right_key = right_group.copy()
    left_keys = left_group[:, None]  # [entries, offsets]
    limit = arrays.max_distance_km
    cell_km = None
    all_lat = np.concatenate([arrays.mentee_lat, arrays.mentor_lat])
    if (limit is not None and limit > 0 and not arrays.uses_travel_times and len(all_lat)
            and np.nanmax(np.abs(all_lat)) < 80):
        # Cells at least `limit` wide in both directions: an allowed pair lies in the same or a neighbouring cell.
        cell_km = limit
        lat_cell = limit / KM_PER_DEGREE * 1.01
        widest = math.cos(math.radians(min(89.0, float(np.nanmax(np.abs(all_lat))) + lat_cell)))
        # Two points `limit` km apart differ in longitude by at most 2 asin(sin(limit / 2R) / cos(lat)) (from the
        # haversine formula), which exceeds limit / (R cos(lat)) for long limits.
        reach = math.sin(min(math.pi / 2, limit / (2 * EARTH_RADIUS_KM))) / widest
        lon_cell = 360.0 if reach >= 1 else math.degrees(2 * math.asin(reach)) * 1.01
        cy = np.floor(np.concatenate([arrays.mentee_lat, arrays.mentor_lat]) / lat_cell).astype(np.int64)
        # Longitude wraps at ±180°: `nx` columns around the whole globe, each at least `lon_cell` wide, and the
        # neighbouring columns are taken modulo `nx`, so pairs across the antimeridian meet in the join too.
        nx = max(1, int(360.0 // lon_cell))
        all_lon = np.concatenate([arrays.mentee_lon, arrays.mentor_lon])
        cx = np.floor((all_lon + 180.0) / (360.0 / nx)).astype(np.int64) % nx
        y0 = int(cy.min()) - 1
        ny = int(cy.max()) - y0 + 2
        n = arrays.n_mentees
        right_key = (right_group * ny + (cy[n + right_person] - y0)) * nx + cx[n + right_person]
        row = left_group * ny + (cy[left_person] - y0)
        column = cx[left_person]
        left_keys = np.stack([(row + dy) * nx + (column + dx) % nx for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
                             axis=1)
    order = np.argsort(right_key, kind="stable")  # within a key, mentors stay in index order
    sorted_key, sorted_mentor = right_key[order], right_person[order]
    queries = left_keys.reshape(-1)
    lo = np.searchsorted(sorted_key, queries, side="left")
    hi = np.searchsorted(sorted_key, queries, side="right")
    return PairJoin(np.repeat(left_person, left_keys.shape[1]), lo, hi, sorted_mentor, left_keys.shape[1], left_group,
                    divisor, cell_km)


def _prefilter_by_joins(join: PairJoin) -> tuple[IntArray, IntArray]:
    """A superset of the allowed pairs among eligible people: the pairs of the join on field group and grid cell.

    Pairs come grouped by mentee, not sorted, and a pair sharing several field groups comes several times.
    """
    counts = join.hi - join.lo
    total = int(counts.sum())
    mentee = np.repeat(join.mentee, counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(total, dtype=np.int64) - np.repeat(starts - join.lo, counts)
    return mentee, join.mentors[position]


@dataclass(frozen=True)
class PairFacts:
    """Allowed pairs, sorted by mentee then mentor, with the facts the rules computed on the way."""

    mentee: IntArray
    mentor: IntArray
    km: FloatArray
    minutes: FloatArray  # NaN without a travel-time entry
    digits: npt.NDArray[np.int8]  # leading ISCO digits shared (`field_digits`)


def _filter(arrays: CohortArrays, a: IntArray, b: IntArray, stop: StopToken | threading.Event | None) -> PairFacts:
    """The pairs among (a, b), all of eligible people, that every hard rule allows: `allowed`, cheapest rules first."""
    ok = arrays.mentor_years[b] >= arrays.mentee_min_years[a]
    for rule in (_language_rule, _gender_rule, _goal_rule, _choice_rule, _conflict_rule, _ban_rule):
        a, b = a[ok], b[ok]
        ok = rule(arrays, a, b)
    a, b = a[ok], b[ok]
    check(stop)
    km, minutes, within = _reach(arrays, a, b)
    a, b, km, minutes = a[within], b[within], km[within], minutes[within]
    check(stop)
    digits = field_digits(arrays, a, b)
    shared = _field_rule(arrays, a, b, digits)
    return PairFacts(a[shared], b[shared], km[shared], minutes[shared], digits[shared])


def allowed_pair_facts(arrays: CohortArrays, *, stop: StopToken | threading.Event | None = None,
                       join: PairJoin | None = None) -> PairFacts:
    """All allowed (mentee, mentor) pairs, sorted by mentee then mentor, with distance, minutes and field digits.

    `stop` is checked between chunks of pairs (raises `solver.stop.Stopped`); `join` is `pair_join` of the eligible
    people when the caller has it already (`solver.budget` counts it before anything is built).
    """
    mentees = np.flatnonzero(arrays.mentee_eligible).astype(np.int64)
    mentors = np.flatnonzero(arrays.mentor_eligible).astype(np.int64)
    if len(mentees) == 0 or len(mentors) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairFacts(empty, empty, np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int8))
    product = len(mentees) * len(mentors) <= CROSS_PRODUCT_LIMIT
    if product:
        mentee = np.repeat(mentees, len(mentors))  # already in mentee, mentor order
        mentor = np.tile(mentors, len(mentees))
    else:
        mentee, mentor = _prefilter_by_joins(join if join is not None else pair_join(arrays, mentees, mentors))
    parts = []
    for start in range(0, len(mentee), CHUNK):
        check(stop)
        parts.append(_filter(arrays, mentee[start:start + CHUNK], mentor[start:start + CHUNK], stop))
    if not parts:
        parts = [_filter(arrays, mentee, mentor, stop)]
    check(stop)
    facts = PairFacts(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("mentee", "mentor", "km", "minutes", "digits")))
    if product:
        return facts
    # Sort by mentee then mentor and drop repeats (pairs sharing several field groups). The join yields runs
    # that are already sorted, which the stable sort (timsort) exploits.
    key = facts.mentee * max(1, arrays.n_mentors) + facts.mentor
    order = np.argsort(key, kind="stable")
    key = key[order]
    first = np.ones(len(key), dtype=np.bool_)
    first[1:] = key[1:] != key[:-1]
    keep = order[first]
    return PairFacts(facts.mentee[keep], facts.mentor[keep], facts.km[keep], facts.minutes[keep], facts.digits[keep])


def candidate_pair_indices(arrays: CohortArrays) -> tuple[IntArray, IntArray]:
    """All allowed (mentee, mentor) index pairs, sorted by mentee then mentor."""
    facts = allowed_pair_facts(arrays)
    return facts.mentee, facts.mentor

"""The cohort as columns: every attribute the hard rules and the scores read, one array per attribute, per mentee
her own rules (the programme's with her segment's overrides), built in one pass over the participants."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from operator import attrgetter
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from solver.data import builtin_field_families
from solver.domain import Cohort, FieldFamily, FieldRule, Goal, Language, MenteeRules, MutualChoice
from solver.history import available_mentors, finished_pair_keys
from solver.stop import StopToken, check

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


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
    repeat_keys: IntArray  # sorted mentee * n_mentors + mentor: paired in a finished earlier round (REPEAT)
    mentor_available: BoolArray  # available at the intake's start date (AVAILABILITY)
    # The loosest rules over all mentees, for the joins that narrow the pairs before the masks decide.
    field_depth: int  # the fewest digits any mentee's rules require (0 with a family rule anywhere)
    max_distance_km: float | None  # the longest km limit; None when some pair may have none (online, no limit)
    # Derived lookup tables, built on first use (e.g. shared field digits per pair of occupation profiles).
    cache: dict[str, object] = field(default_factory=dict, compare=False, repr=False)


_GENDER_CODE = {"f": 1, "m": 2, "x": 3}
_CODE, _LANGUAGES = attrgetter("code"), attrgetter("languages")


def _occupation_matrix(occupations: list[tuple[str, ...]], pad: int) -> IntArray:
    """[people, most occupations] ISCO codes as ints; `pad` for a code that is not four digits and after the last.
    Every cell's code in one flat list (short rows filled with ""), then one array: no numpy call a cell."""
    width = max(map(len, occupations), default=0) or 1
    flat: list[str] = []
    for codes in occupations:
        flat += codes
        if len(codes) < width:
            flat += ("",) * (width - len(codes))
    return np.array([int(code) if len(code) == 4 and code.isdigit() else pad for code in flat],
                    dtype=np.int64).reshape(len(occupations), width)


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
    if words == 1:  # every bit set fits one word (the usual case: fewer than 64 languages or families)
        return np.array(masks, dtype=np.uint64).reshape(len(masks), 1)
    bits = np.zeros((len(masks), words), dtype=np.uint64)
    low = (1 << 64) - 1
    for w in range(words):
        shift = 64 * w
        bits[:, w] = np.array([(mask >> shift) & low for mask in masks], dtype=np.uint64)
    return bits


_LEVELS_UP_TO = [sum(1 << (64 * level) for level in range(1, top + 1)) for top in range(7)]
"""Bit 0 of the 64-bit words 1..top, for top 0..6: a language of level `top` (code c) is this shifted by c."""

SMALL_LANGUAGE_PEOPLE = 256
"""Up to this many people (with at most 64 languages) `_languages_by_level` sets the bits in Python."""


def _languages_by_level(languages: list[tuple[Language, ...]], codes: dict[str, int], words: int
                        ) -> npt.NDArray[np.uint64]:
    """[7, people, words]: bit per language each person speaks at the index's level or better (index 0 unused).

    One pass over the people's languages, then a bitwise OR per level over all of them at once (a bit set per
    person and level in Python cost six passes: ~0.2 s on 10,000 mentors)."""
    if words == 1 and len(languages) <= SMALL_LANGUAGE_PEOPLE:
        # A few people: each one's bits per level in Python (the arrays' way is ~25 numpy calls whatever the size),
        # her seven words as one int of 7 x 64 bits (word k: levels >= k), a language's bit set in the words of its
        # level and below by one shift of a constant, then all people's bytes as one array.
        rows = []
        for spoken in languages:
            packed = 0
            for lang in spoken:
                if lang.level >= 1:
                    packed |= _LEVELS_UP_TO[6 if lang.level > 6 else lang.level] << codes[lang.code]
            rows.append(packed.to_bytes(56, "little"))  # word k at bytes 8k..8k+7, least significant first
        words_by_person = np.frombuffer(b"".join(rows), dtype="<u8").reshape(len(languages), 7)
        return words_by_person.T.reshape(7, len(languages), 1).astype(np.uint64)
    out = np.zeros((7, len(languages), words), dtype=np.uint64)
    person, code, level = [], [], []
    for i, spoken in enumerate(languages):
        for lang in spoken:
            person.append(i)
            code.append(codes[lang.code])
            level.append(lang.level)
    if not person:
        return out
    who, what, how = np.array(person), np.array(code, dtype=np.int64), np.array(level, dtype=np.int64)
    bit = np.left_shift(np.uint64(1), (what % 64).astype(np.uint64))
    for at_least in range(1, 7):
        chosen = how >= at_least
        np.bitwise_or.at(out[at_least], (who[chosen], what[chosen] // 64), bit[chosen])
    return out


@dataclass(frozen=True, eq=False)
class RankedPairs:
    """The cohort's rankings as pair keys (mentee * n_mentors + mentor), sorted, each with the best (lowest) rank
    given for it: the mentees' of mentors, and the mentors' of mentees. Made of `rankings`, `mentees` and
    `mentors` (kept to tell whose they are: `of`)."""

    rankings: tuple[object, ...]
    mentees: tuple[object, ...]
    mentors: tuple[object, ...]
    mentee_keys: IntArray
    mentee_ranks: IntArray
    mentor_keys: IntArray
    mentor_ranks: IntArray
    least: int  # the lowest rank of either side's (0 without any): below 0 only in input no check has passed
    dense: dict[str, tuple[IntArray, IntArray]] = field(default_factory=dict, repr=False)  # the scores' per-pair
    # tables of both sides' ranks, made on first use

    def of(self, cohort: Cohort) -> bool:
        """Made of this cohort's rankings and people (the same objects: the same keys and ranks)."""
        return (self.rankings is cohort.rankings and self.mentees is cohort.mentees
                and self.mentors is cohort.mentors)


def ranked_pairs(cohort: Cohort, mentee_index: Mapping[str, int], mentor_index: Mapping[str, int]) -> RankedPairs:
    """`RankedPairs` of the cohort (its people numbered by the indices given); a ranking naming someone not in the
    cohort, or two people of one side, counts for nothing."""
    m = len(cohort.mentors)
    by_mentee: dict[int, int] = {}
    by_mentor: dict[int, int] = {}
    for ranking in cohort.rankings:  # `in` and subscripts: ~2x faster than dict.get's calls here
        giver, taker = ranking.from_id, ranking.to_id
        if giver in mentee_index and taker in mentor_index:
            key, table = mentee_index[giver] * m + mentor_index[taker], by_mentee
        elif giver in mentor_index and taker in mentee_index:
            key, table = mentee_index[taker] * m + mentor_index[giver], by_mentor
        else:
            continue
        rank = ranking.rank
        if key not in table or rank < table[key]:
            table[key] = rank
    keys = [sorted(by_mentee), sorted(by_mentor)]
    return RankedPairs(cohort.rankings, cohort.mentees, cohort.mentors,
                       np.array(keys[0], dtype=np.int64), np.array([by_mentee[k] for k in keys[0]], dtype=np.int64),
                       np.array(keys[1], dtype=np.int64), np.array([by_mentor[k] for k in keys[1]], dtype=np.int64),
                       min(min(by_mentee.values(), default=0), min(by_mentor.values(), default=0)))


T = TypeVar("T")


def _by_rules(per_mentee: list[MenteeRules], shared: bool, value: Callable[[MenteeRules], T]) -> list[T]:
    """Each mentee's `value` of her rules (`per_mentee`), computed once when they are one `shared` object."""
    if shared and per_mentee:
        return [value(per_mentee[0])] * len(per_mentee)
    return [value(r) for r in per_mentee]


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


def cohort_arrays(cohort: Cohort, stop: StopToken | threading.Event | None = None) -> CohortArrays:
    """Columnar arrays of everything the hard rules and scores need; one pass over the participants, with `stop`
    checked between its steps (raises `solver.stop.Stopped`: a re-solve of a large cohort spends ~0.3 s here)."""
    rules = cohort.rules
    mentees, mentors = cohort.mentees, cohort.mentors
    n, m = len(mentees), len(mentors)
    uses_travel_times = bool(rules.travel_times)
    check(stop)
    # Without segments everyone has the programme's rules: one (frozen) object for all, not one per mentee.
    per_mentee = ([rules.for_mentee(p) for p in mentees] if rules.segments
                  else [rules.for_mentee(mentees[0])] * n if n else [])
    each = partial(_by_rules, per_mentee, not rules.segments)  # without segments one MenteeRules object for all
    municipalities = set(rules.eligible_municipalities)
    tracks = set(rules.eligible_tracks)
    # Every language code, numbered in order of first appearance (mentees', then mentors'), by C-level iteration.
    spoken = dict.fromkeys(map(_CODE, chain.from_iterable(chain(map(_LANGUAGES, mentees), map(_LANGUAGES, mentors)))))
    language_codes = dict(zip(spoken, range(len(spoken)), strict=True))
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
    if rules.segments or not n:
        limit_km = np.array([math.inf if uses_travel_times else limit(r.max_distance_km, p.max_travel_km,
                                                                        r.personal_limits_extend)
                             for p, r in zip(mentees, per_mentee, strict=True)], dtype=np.float64)
        limit_minutes = np.array([limit(r.max_travel_minutes, p.max_travel_minutes, r.personal_limits_extend)
                                  for p, r in zip(mentees, per_mentee, strict=True)], dtype=np.float64)
    else:  # everyone has the programme's rules: her limit is the programme's unless she has her own
        r = per_mentee[0]
        km, extend = math.inf if uses_travel_times else limit(r.max_distance_km, None, False), r.personal_limits_extend
        minutes = limit(r.max_travel_minutes, None, False)
        limit_km = np.array([km if uses_travel_times or p.max_travel_km is None
                             else limit(r.max_distance_km, p.max_travel_km, extend) for p in mentees], dtype=np.float64)
        limit_minutes = np.array([minutes if p.max_travel_minutes is None
                                  else limit(r.max_travel_minutes, p.max_travel_minutes, extend) for p in mentees],
                                 dtype=np.float64)
    check(stop)
    mentee_languages = [_language_mask(p.languages, language_codes, r.min_language_level, r.programme_languages)
                        for p, r in zip(mentees, per_mentee, strict=True)]
    check(stop)
    by_level = _languages_by_level([q.languages for q in mentors], language_codes, words)
    # Family masks cost a pass over everyone's occupations per family: only when some mentee's rules use them.
    by_family = each(lambda r: r.field_rule is FieldRule.FAMILY)
    families = (rules.field_families or builtin_field_families()) if any(by_family) else ()
    family_words = max(1, (len(families) + 63) // 64)
    organisations = sorted({q.organisation for q in mentors if q.organisation})
    org_code = {org: k for k, org in enumerate(organisations)}
    avoid = sorted({i * max(1, len(organisations)) + org_code[org] for i, p in enumerate(mentees)
                    for org in p.avoid_organisations if org in org_code})
    check(stop)
    ranked = ranked_pairs(cohort, mentee_index, mentor_index)  # the scores' ranks too: one pass for both
    depths = each(lambda r: 0 if r.field_rule is FieldRule.FAMILY else max(r.field_depth, 0))
    min_years = np.array(each(lambda r: r.min_mentor_years), dtype=np.int64)
    mentor_years = np.array([q.years_experience for q in mentors], dtype=np.int64)
    online = np.array([p.online and r.online_meetings for p, r in zip(mentees, per_mentee, strict=True)],
                      dtype=np.bool_)
    mentor_online = np.array([q.online for q in mentors], dtype=np.bool_)
    finite = limit_km[np.isfinite(limit_km)]
    join_km = None if (uses_travel_times or len(finite) < n or (online.any() and mentor_online.any())
                       or n == 0) else float(finite.max())
    check(stop)
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
        mentee_language_level=np.array(each(lambda r: min(max(r.min_language_level, 1), 6)), dtype=np.int64),
        mentee_requested_gender=np.array([_GENDER_CODE.get(p.requested_mentor_gender, 0) for p in mentees],
                                         dtype=np.int64),
        mentor_gender=np.array([_GENDER_CODE.get(p.gender, 0) for p in mentors], dtype=np.int64),
        banned_keys=np.array(bans, dtype=np.int64),
        travel_keys=travel_keys,
        travel_minutes=np.array([travel[k] for k in travel_keys.tolist()], dtype=np.float64),
        uses_travel_times=uses_travel_times,
        gender_requests_hard=rules.gender_requests_hard,
        mentee_field_depth=np.array(each(lambda r: max(r.field_depth, 0)), dtype=np.int64),
        mentee_by_family=np.array(by_family, dtype=np.bool_),
        mentee_families=(_bit_words(_family_masks([p.occupations for p in mentees], families), family_words)
                         if families else np.zeros((n, 1), dtype=np.uint64)),  # no family: no bit
        mentor_families=(_bit_words(_family_masks([q.occupations for q in mentors], families), family_words)
                         if families else np.zeros((m, 1), dtype=np.uint64)),
        mentee_min_years=min_years,
        mentor_years=mentor_years,
        mentee_online=online,
        mentor_online=mentor_online,
        mentee_goal_bits=np.array(each(lambda r: _goal_bits(r.mentor_goals)), dtype=np.int64),
        mentor_goal_bits=np.array([_goal_bits(q.goals) for q in mentors], dtype=np.int64),
        mentee_choice=np.array(each(lambda r: _CHOICES.index(r.mutual_choice)), dtype=np.int64),
        mentee_ranked_keys=ranked.mentee_keys,
        mentor_ranked_keys=ranked.mentor_keys,
        mentor_org=np.array([org_code.get(q.organisation, -1) for q in mentors], dtype=np.int64),
        avoid_keys=np.array(avoid, dtype=np.int64),
        n_orgs=max(1, len(organisations)),
        repeat_keys=finished_pair_keys(cohort, mentee_index, mentor_index),
        mentor_available=available_mentors(cohort),
        field_depth=min(depths) if n else max(rules.field_depth, 0),
        max_distance_km=join_km,
        cache={"ranks": ranked},
    )

"""Hard constraints: which mentee-mentor pairs are allowed, built by joins and vectorised rule masks.

Every hard rule is one vectorised mask over arrays of (mentee, mentor) index pairs (`rule_masks`).
The candidate builder narrows the pairs with joins first (shared field group, nearby grid cells) and
then applies the same masks, so the large path and the per-person funnel can never disagree.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from solver.arrays import BoolArray, CohortArrays, FloatArray, IntArray
from solver.domain import MutualChoice
from solver.stop import StopToken, check

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0
CROSS_PRODUCT_LIMIT = 2_000_000  # below this many pairs, masks over the full product beat any join
CHUNK = 250_000  # pairs filtered between two stop checks: a stop waits at most one chunk (~30 ms)



class HardRule(StrEnum):
    """Hard rules in funnel order: each removes partners that survived the ones before it."""

    ELIGIBILITY = "ELIGIBILITY"  # mentee municipality / track; mentor years of experience
    AVAILABILITY = "AVAILABILITY"  # the mentor is available at the intake's start date
    FIELD = "FIELD"  # shared ISCO-08 prefix of the programme's depth
    DISTANCE = "DISTANCE"  # within the programme's and the mentee's own limit (km or minutes)
    LANGUAGE = "LANGUAGE"  # a common language at the minimum CEFR level
    GENDER = "GENDER"  # the mentee's requested mentor gender, when requests are hard
    GOAL = "GOAL"  # the mentee's segment allows only mentors supporting some goals
    CHOICE = "CHOICE"  # mutual choice: the pair needs speed-dating rankings (mentee's, mentor's, either or both)
    CONFLICT = "CONFLICT"  # the mentor's organisation is one the mentee must avoid (a conflict of interest)
    REPEAT = "REPEAT"  # the pair met in a finished earlier round (the history), unless repeats are allowed
    BAN = "BAN"  # the coordinator ruled the pair out


def haversine_km(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray) -> FloatArray:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(clip(a, 0.0, 1.0))), dtype=np.float64)


FIELD_TABLE_LIMIT = 4096  # distinct ISCO codes up to which shared digits come from a code x code table
PERSON_TABLE_LIMIT = 16_000_000  # people x codes up to which one table holds each person's best digits per code
FIELD_LOOKUP_MIN_PAIRS = 4096  # pairs from which the table pays; below, the direct comparison is cheaper


@dataclass(frozen=True)
class _FieldLookup:
    """Shared leading digits for any mentee x mentor pair as a few table lookups.

    `best[person * width + code]` is the most leading digits `code` shares with any occupation of one person of
    the table's side (`mentor_side`: mentors, else mentees); a pair's digits are the most of that over the codes
    of its other person (`codes`, [occupations, people of the other side]; padding is code width - 1, which
    shares nothing).
    """

    mentor_side: bool
    codes: IntArray
    best: npt.NDArray[np.int8]  # flattened [people of the table's side, width]
    width: int


def _field_lookup(arrays: CohortArrays) -> _FieldLookup | None:
    if "field" in arrays.cache:
        return arrays.cache["field"]  # type: ignore[return-value]
    a, b = arrays.mentee_occupations, arrays.mentor_occupations
    codes = np.unique(np.concatenate([a[a >= 0], b[b >= 0]]))
    u = len(codes)
    lookup = None
    # The table on the side with more occupations a person: a pair then looks up the other side's few codes.
    mentor_side = b.shape[1] >= a.shape[1]
    table_side, other = (b, a) if mentor_side else (a, b)
    if u <= FIELD_TABLE_LIMIT and len(table_side) * (u + 1) <= PERSON_TABLE_LIMIT:
        shared = np.zeros((u + 1, u + 1), dtype=np.int8)  # index u = padding, shares nothing
        for digits in (1, 2, 3, 4):
            prefix = codes // 10 ** (4 - digits)
            shared[:u, :u] = np.where(prefix[:, None] == prefix[None, :], np.int8(digits), shared[:u, :u])
        table_codes = np.where(table_side >= 0, np.searchsorted(codes, table_side), u)
        best = np.zeros((len(table_side), u + 1), dtype=np.int8)
        for j in range(table_codes.shape[1]):
            np.maximum(best, shared[table_codes[:, j]], out=best)
        other_codes = np.ascontiguousarray(np.where(other >= 0, np.searchsorted(codes, other), u).T, dtype=np.int64)
        lookup = _FieldLookup(mentor_side, other_codes, best.reshape(-1), u + 1)
    arrays.cache["field"] = lookup
    return lookup


DENSE_DIGITS_LIMIT = 4096
"""Mentees x mentors x the most occupations a mentee has x the most a mentor has, up to which every pair's shared
digits are made at once, one table per cohort (`_dense_digits`: ~16 us at 15 x 15 x 2 x 3): a few pairs' are then
one look-up, not the ~10 calls of comparing their prefixes (~60 us at 15 x 15) at every call. Above, the table
costs more than the pairs' comparisons it saves (80 x 80 x 2 x 4: ~0.2 ms to make, for two pins and ~1,200 pairs)."""


@functools.cache
def _leading_zero_nibbles() -> npt.NDArray[np.int8]:
    """For each 16-bit number, how many of its four hexadecimal digits, from the first, are 0 (4 for 0)."""
    x = np.arange(1 << 16)
    return ((x < 0x1000).astype(np.int8) + (x < 0x100) + (x < 0x10) + (x == 0)).astype(np.int8)


@functools.cache
def _bcd_codes(pad: int) -> IntArray:
    """Each four-digit code (0..9999) with a decimal digit a hexadecimal one (2512 -> 0x2512), then `pad` (index -1:
    a negative code, clipped to -1, is padding)."""
    x = np.arange(10_000, dtype=np.int64)
    return np.append(x + 6 * (x // 10) + 96 * (x // 100) + 1536 * (x // 1000), np.int64(pad))


def _dense_digits(arrays: CohortArrays) -> npt.NDArray[np.int8] | None:
    """`field_digits` of every pair, [mentee * n_mentors + mentor], once per cohort; None above `DENSE_DIGITS_LIMIT`.

    With the codes' digits as hexadecimal ones, two codes share as many leading digits as their exclusive or has
    leading zero digits; the paddings (0xF000 mentees', 0xE000 mentors') differ from every code and each other in
    the first. The codes come from a table (one look-up a side), and every pair of occupations is laid out as
    [her occupation, his occupation, pair] before the exclusive or: each numpy call then runs over whole rows of
    pairs and the most shared digits is one reduction down the first axis (~90,000 instructions at 15 x 15, where
    a call per pair of occupations or a reduction over short inner rows took ~200,000 more)."""
    if "digits" in arrays.cache:
        return arrays.cache["digits"]  # type: ignore[return-value]
    a, b = arrays.mentee_occupations, arrays.mentor_occupations
    (n, ka), (m, kb) = a.shape, b.shape
    table = None
    if n * m * ka * kb <= DENSE_DIGITS_LIMIT:
        hers = _bcd_codes(0xF000)[np.maximum(a.T, -1)].repeat(m, axis=1)  # [ka, n * m]: her codes, pair by pair
        his = _bcd_codes(0xE000)[np.maximum(b.T, -1)][:, None, :].repeat(n, axis=1).reshape(kb, n * m)
        both = (hers[:, None, :] ^ his[None, :, :]).reshape(ka * kb, n * m)
        table = np.maximum.reduce(_leading_zero_nibbles()[both], axis=0)
    arrays.cache["digits"] = table
    return table


def field_digits(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> npt.NDArray[np.int8]:
    """Per pair, the most leading ISCO digits any occupation of the mentee shares with one of the mentor."""
    if len(mentee) < FIELD_LOOKUP_MIN_PAIRS and "field" not in arrays.cache:
        every = _dense_digits(arrays)
        if every is not None:
            return every[mentee * arrays.n_mentors + mentor]
    lookup = _field_lookup(arrays) if len(mentee) >= FIELD_LOOKUP_MIN_PAIRS or "field" in arrays.cache else None
    if lookup is not None:
        person, other = (mentor, mentee) if lookup.mentor_side else (mentee, mentor)
        digits = np.zeros(len(mentee), dtype=np.int8)
        row = person * lookup.width if len(lookup.codes) else person
        for codes in lookup.codes:
            np.maximum(digits, lookup.best[row + codes[other]], out=digits)
        return digits
    mentee_prefixes, mentor_prefixes = _prefixes(arrays)
    # Prefixes agree from the first digit up to where they part: how many agree is how many leading digits match.
    agree = (mentee_prefixes[mentee][:, :, None, :] == mentor_prefixes[mentor][:, None, :, :]).sum(axis=3)
    return np.asarray(agree.max(axis=(1, 2), initial=0), dtype=np.int8)


_DIVISORS = np.array([1000, 100, 10, 1], dtype=np.int64)


def _prefixes(arrays: CohortArrays) -> tuple[IntArray, IntArray]:
    """Each person's occupations' 1- to 4-digit prefixes, [people, occupations, 4], once per cohort; padding
    (negative codes) is -1 for mentees and -2 for mentors at every length, so it never matches anything."""
    found = arrays.cache.get("prefixes")
    if found is None:
        found = tuple(np.where(codes[:, :, None] >= 0, codes[:, :, None] // _DIVISORS, pad)
                      for codes, pad in ((arrays.mentee_occupations, -1), (arrays.mentor_occupations, -2)))
        arrays.cache["prefixes"] = found
    return found  # type: ignore[return-value]


CLIP_IN_TWO_MAX = 4096


def clip(values: FloatArray, low: float, high: float) -> FloatArray:
    """`np.clip`'s values (NaN kept): up to `CLIP_IN_TWO_MAX` values as a maximum then a minimum, without np.clip's
    wrapper (~3 us, most of it at a few pairs); above, np.clip's one pass over them."""
    if len(values) <= CLIP_IN_TWO_MAX:
        return np.minimum(np.maximum(values, low), high)
    return np.clip(values, low, high)


def _pair_km(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> FloatArray:
    """`haversine_km` of the pairs, bit for bit, with the per-person radians and cosines computed once."""
    p1, p2 = np.radians(arrays.mentee_lat), np.radians(arrays.mentor_lat)
    c1, c2 = np.cos(p1), np.cos(p2)
    dp, dl = p2[mentor] - p1[mentee], np.radians(arrays.mentor_lon[mentor] - arrays.mentee_lon[mentee])
    a = np.sin(dp / 2) ** 2 + c1[mentee] * c2[mentor] * np.sin(dl / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(clip(a, 0.0, 1.0))), dtype=np.float64)


def pair_travel(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> tuple[FloatArray, FloatArray]:
    """(km, minutes) per pair; minutes are NaN where no travel-time table entry exists."""
    km = _pair_km(arrays, mentee, mentor)
    minutes = np.empty(len(mentee))
    minutes.fill(np.nan)  # np.full's wrapper costs more than this at a few pairs
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
    pos = np.minimum(sorted_keys.searchsorted(keys), len(sorted_keys) - 1)  # the method: np.searchsorted's wrapper
    return np.asarray(sorted_keys[pos] == keys, dtype=np.bool_)


def _language_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    by_level, hers = arrays.mentor_languages_by_level, arrays.mentee_languages
    if hers.shape[1] == 1:  # up to 64 languages: one word a person, one-dimensional look-ups
        spoken = by_level[:, :, 0][arrays.mentee_language_level[mentee], mentor]
        return np.asarray((hers[:, 0][mentee] & spoken) != 0, dtype=np.bool_)
    spoken = by_level[arrays.mentee_language_level[mentee], mentor]
    return np.asarray((hers[mentee] & spoken).any(axis=1), dtype=np.bool_)


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
    if not len(arrays.avoid_keys):  # nobody avoids an organisation: every pair passes (one call, not six)
        return np.ones(len(mentee), dtype=np.bool_)
    org = arrays.mentor_org[mentor]
    return ~((org >= 0) & _in_keys(mentee * arrays.n_orgs + org, arrays.avoid_keys))


def _ban_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    if not len(arrays.banned_keys):  # no bans: every pair passes
        return np.ones(len(mentee), dtype=np.bool_)
    return ~_in_keys(mentee * arrays.n_mentors + mentor, arrays.banned_keys)


def _availability_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    return arrays.mentor_available[mentor]


def _repeat_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    if not len(arrays.repeat_keys):  # no earlier round: every pair passes
        return np.ones(len(mentee), dtype=np.bool_)
    return ~_in_keys(mentee * arrays.n_mentors + mentor, arrays.repeat_keys)


def _field_rule(arrays: CohortArrays, mentee: IntArray, mentor: IntArray, digits: npt.NDArray[np.int8]) -> BoolArray:
    depth = arrays.mentee_field_depth[mentee]
    ok = (depth <= 0) | (digits >= depth)
    family = arrays.mentee_by_family[mentee] & ~ok
    if family.any():
        shared = (arrays.mentee_families[mentee[family]] & arrays.mentor_families[mentor[family]]).any(axis=1)
        ok[np.flatnonzero(family)[shared]] = True
    return ok


FEW_PAIRS = 4
"""Pairs up to which `rule_masks` reads each pair's values one by one in Python (`_few_rule_masks`: a request's
pins, an explanation's pair): ~55 numpy calls of ~1-2 us each, whatever the size, cost more than the look-ups."""


def rule_masks(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> dict[HardRule, BoolArray]:
    """For each hard rule, which of the given pairs pass it (independently of the other rules)."""
    if len(mentee) <= FEW_PAIRS:
        return _few_rule_masks(arrays, mentee, mentor)
    _, _, within = _reach(arrays, mentee, mentor)
    return {
        HardRule.ELIGIBILITY: arrays.mentee_eligible[mentee]
        & (arrays.mentor_years[mentor] >= arrays.mentee_min_years[mentee]),
        HardRule.AVAILABILITY: _availability_rule(arrays, mentee, mentor),
        HardRule.FIELD: _field_rule(arrays, mentee, mentor, field_digits(arrays, mentee, mentor)),
        HardRule.DISTANCE: within,
        HardRule.LANGUAGE: _language_rule(arrays, mentee, mentor),
        HardRule.GENDER: _gender_rule(arrays, mentee, mentor),
        HardRule.GOAL: _goal_rule(arrays, mentee, mentor),
        HardRule.CHOICE: _choice_rule(arrays, mentee, mentor),
        HardRule.CONFLICT: _conflict_rule(arrays, mentee, mentor),
        HardRule.REPEAT: _repeat_rule(arrays, mentee, mentor),
        HardRule.BAN: _ban_rule(arrays, mentee, mentor),
    }


_NEAR_LIMIT = 1e-9
"""Relative distance from a pair's km limit within which `_few_within` leaves the call to numpy's formula (its
sines may differ from the math module's in the last bit: ~1e-15 relative, far inside this)."""


def _few_within(arrays: CohortArrays, a: int, b: int) -> bool | None:
    """`_reach`'s verdict on one pair by the math module (the same haversine formula), or None where numpy's must
    decide: travel times, or a distance within `_NEAR_LIMIT` of the limit."""
    if arrays.uses_travel_times:
        return None
    if arrays.mentee_online[a] and arrays.mentor_online[b]:
        return True
    limit = float(arrays.mentee_limit_km[a])
    p1, p2 = math.radians(float(arrays.mentee_lat[a])), math.radians(float(arrays.mentor_lat[b]))
    dl = math.radians(float(arrays.mentor_lon[b]) - float(arrays.mentee_lon[a]))
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    if math.isnan(h) or math.isnan(limit):
        return None
    km = 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(max(h, 0.0), 1.0)))
    if abs(km - limit) <= _NEAR_LIMIT * max(1.0, abs(km)):
        return None
    return km <= limit


def _few_rule_masks(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> dict[HardRule, BoolArray]:
    """`rule_masks` of a few pairs (`FEW_PAIRS`), each pair's values read one by one: the same masks. The rules that
    search sorted keys (choice, conflict, repeat, ban) take their vectorised masks when the cohort has such keys,
    the distance too when a pair needs numpy's formula (`_few_within`), and the shared field digits are
    `field_digits`' own."""
    pairs = list(zip(mentee.tolist(), mentor.tolist(), strict=True))
    digits = field_digits(arrays, mentee, mentor).tolist()
    gender_hard = arrays.gender_requests_hard
    one_word = arrays.mentee_languages.shape[1] == 1
    eligible, available, field, language, gender, goal = [], [], [], [], [], []
    for (a, b), shared in zip(pairs, digits, strict=True):
        eligible.append(bool(arrays.mentee_eligible[a]) and int(arrays.mentor_years[b]) >= int(arrays.mentee_min_years[a]))
        available.append(bool(arrays.mentor_available[b]))
        depth = int(arrays.mentee_field_depth[a])
        ok = depth <= 0 or shared >= depth
        if not ok and arrays.mentee_by_family[a]:
            ok = bool((arrays.mentee_families[a] & arrays.mentor_families[b]).any())
        field.append(ok)
        level = int(arrays.mentee_language_level[a])
        if one_word:
            language.append(int(arrays.mentee_languages[a, 0]) & int(arrays.mentor_languages_by_level[level, b, 0]) != 0)
        else:
            language.append(bool((arrays.mentee_languages[a] & arrays.mentor_languages_by_level[level, b]).any()))
        requested = int(arrays.mentee_requested_gender[a])
        gender.append(requested == 0 or requested == int(arrays.mentor_gender[b]) or not gender_hard)
        wanted, offered = int(arrays.mentee_goal_bits[a]), int(arrays.mentor_goal_bits[b])
        goal.append(wanted == 0 or offered == 0 or (wanted & offered) != 0)
    verdicts = [_few_within(arrays, a, b) for a, b in pairs]
    within = _reach(arrays, mentee, mentor)[2] if None in verdicts else np.array(verdicts, dtype=np.bool_)
    return {
        HardRule.ELIGIBILITY: np.array(eligible, dtype=np.bool_),
        HardRule.AVAILABILITY: np.array(available, dtype=np.bool_),
        HardRule.FIELD: np.array(field, dtype=np.bool_),
        HardRule.DISTANCE: within,
        HardRule.LANGUAGE: np.array(language, dtype=np.bool_),
        HardRule.GENDER: np.array(gender, dtype=np.bool_),
        HardRule.GOAL: np.array(goal, dtype=np.bool_),
        HardRule.CHOICE: _choice_rule(arrays, mentee, mentor),  # each passes every pair at once with nothing to check
        HardRule.CONFLICT: _conflict_rule(arrays, mentee, mentor),
        HardRule.REPEAT: _repeat_rule(arrays, mentee, mentor),
        HardRule.BAN: _ban_rule(arrays, mentee, mentor),
    }


def allowed(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    masks = rule_masks(arrays, mentee, mentor)
    result = np.ones(len(mentee), dtype=np.bool_)
    for mask in masks.values():
        result &= mask
    return result


def funnel(arrays: CohortArrays, *, mentee: int | None = None, mentor: int | None = None,
           masks: dict[HardRule, BoolArray] | None = None) -> list[tuple[HardRule, int]]:
    """For one participant, how many partners each rule removed, in funnel order, from all on the other side.
    `masks`: the participant's `rule_masks` against everyone on the other side (in index order), when known."""
    if (mentee is None) == (mentor is None):
        raise ValueError("give exactly one of mentee or mentor")
    if masks is not None:
        others = np.arange(arrays.n_mentors if mentee is not None else arrays.n_mentees, dtype=np.int64)
    elif mentee is not None:
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
    """The pairs among (a, b), all of eligible people, that every hard rule allows: `allowed`, cheapest rules first.

    The rules that read per-person arrays make one mask, applied once; a rule that cannot remove a pair of this
    cohort (no hard gender requests, no mentor goals asked, no rankings required, no organisations to avoid, no
    history, no bans) is not evaluated at all (it would allow every pair).
    """
    ok = (arrays.mentor_years[b] >= arrays.mentee_min_years[a]) & arrays.mentor_available[b]
    ok &= _language_rule(arrays, a, b)
    if arrays.gender_requests_hard:
        ok &= _gender_rule(arrays, a, b)
    if arrays.mentee_goal_bits.any():
        ok &= _goal_rule(arrays, a, b)
    a, b = a[ok], b[ok]
    for rule, needed in ((_choice_rule, arrays.mentee_choice.any()), (_conflict_rule, len(arrays.avoid_keys)),
                         (_repeat_rule, len(arrays.repeat_keys)), (_ban_rule, len(arrays.banned_keys))):
        if needed:
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
    mentees = arrays.mentee_eligible.nonzero()[0].astype(np.int64)
    mentors = (arrays.mentor_eligible & arrays.mentor_available).nonzero()[0].astype(np.int64)
    if len(mentees) == 0 or len(mentors) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return PairFacts(empty, empty, np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int8))
    product = len(mentees) * len(mentors) <= CROSS_PRODUCT_LIMIT
    if product:
        mentee = mentees.repeat(len(mentors))  # already in mentee, mentor order
        mentor = mentors[None, :].repeat(len(mentees), axis=0).reshape(-1)  # np.tile, without its wrapper
    else:
        mentee, mentor = _prefilter_by_joins(join if join is not None else pair_join(arrays, mentees, mentors))
    parts = []
    for start in range(0, len(mentee), CHUNK):
        check(stop)
        parts.append(_filter(arrays, mentee[start:start + CHUNK], mentor[start:start + CHUNK], stop))
    if not parts:
        parts = [_filter(arrays, mentee, mentor, stop)]
    check(stop)
    facts = parts[0] if len(parts) == 1 else _joined(parts, stop)
    if product:
        return facts
    # Sort by mentee then mentor and drop repeats (pairs sharing several field groups). The join yields runs
    # that are already sorted, which the stable sort (timsort) exploits. A stop is checked between the steps: at
    # 1.5 million pairs and more each takes 0.05-0.2 s, together more than a stopped call may go on spending.
    width = max(1, arrays.n_mentors)
    key = facts.mentee * width + facts.mentor
    check(stop)
    order = np.argsort(key, kind="stable")
    check(stop)
    key = key[order]
    first = np.ones(len(key), dtype=np.bool_)
    first[1:] = key[1:] != key[:-1]
    keep = order[first]
    mentee, mentor = np.divmod(key[first], width)  # from the sorted keys: no gather in random order
    return PairFacts(mentee, mentor, facts.km[keep], facts.minutes[keep], facts.digits[keep])


def _joined(parts: list[PairFacts], stop: StopToken | threading.Event | None) -> PairFacts:
    """The chunks' facts as one, column by column with a stop check between the columns."""
    columns: list[Any] = []
    for name in ("mentee", "mentor", "km", "minutes", "digits"):
        check(stop)
        columns.append(np.concatenate([getattr(p, name) for p in parts]))
    return PairFacts(*columns)


def candidate_pair_indices(arrays: CohortArrays) -> tuple[IntArray, IntArray]:
    """All allowed (mentee, mentor) index pairs, sorted by mentee then mentor."""
    facts = allowed_pair_facts(arrays)
    return facts.mentee, facts.mentor

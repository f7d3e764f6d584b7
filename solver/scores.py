"""Soft preferences: each term a named integer column of 0..100 points per candidate pair; the score is their weighted sum.

`candidate_pairs(cohort)` is the one table the solver and the explanations read: one row per allowed
pair with its facts (distance, shared field digits, ranks) and every term's points.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from solver.arrays import CohortArrays, FloatArray, IntArray, RankedPairs, cohort_arrays, ranked_pairs
from solver.budget import MAX_CANDIDATE_PAIRS, check_pair_budget
from solver.candidates import CHUNK, allowed_pair_facts, clip, field_digits, pair_travel
from solver.domain import Cohort, Goal
from solver.stop import StopToken, check

NO_RANK = 0  # in the rank columns: the person did not rank this partner


class Term(StrEnum):
    """Soft terms; the value is the stable code used in breakdowns, weights are `Weights.<lower name>`."""

    MUTUAL_RANK = "MUTUAL_RANK"  # both ranked each other at speed-dating; mutual first choices most
    MENTEE_RANK = "MENTEE_RANK"  # how high the mentee ranked the mentor
    MENTOR_RANK = "MENTOR_RANK"  # how high the mentor ranked the mentee
    INTERESTS = "INTERESTS"  # shared interest tags
    FIELD = "FIELD"  # ISCO digits shared beyond the programme's minimum depth
    GOAL = "GOAL"  # the mentor supports the mentee's goal
    TRAVEL = "TRAVEL"  # shorter travel than the limit
    HOME_MARKET = "HOME_MARKET"  # the mentor knows the mentee's home country or market
    FIRST_LANGUAGE = "FIRST_LANGUAGE"  # the mentor speaks the mentee's first language
    SENIORITY = "SENIORITY"  # leadership experience and years
    RETURNING = "RETURNING"  # a returning mentor

    @property
    def weight_name(self) -> str:
        return _WEIGHT_NAME[self._value_]

    @property
    def column(self) -> str:
        return _COLUMN[self._value_]


# Looked up per pair and term when results are rendered: computed once, not per access.
_WEIGHT_NAME: dict[str, str] = {term.value: term.value.lower() for term in Term}
_COLUMN: dict[str, str] = {term.value: f"points_{term.value.lower()}" for term in Term}


TERMS: tuple[Term, ...] = tuple(Term)
MAX_POINTS = 100
NO_LIMIT_TRAVEL_KM = 50.0  # with no distance limit, travel points fall to 0 at this distance


@dataclass(frozen=True)
class CandidatePairs:
    """The allowed pairs of a cohort with facts, per-term points and the weighted score.

    `columns` holds them as numpy arrays (one per column, aligned by row); `table` is the same as a polars
    DataFrame, built on first use: a small solve never needs it (building it costs ~0.3 ms whatever the size).
    """

    cohort: Cohort
    arrays: CohortArrays
    columns: Mapping[str, npt.NDArray[np.generic]] = field(repr=False, compare=False)
    # columns: mentee, mentor (indices), distance_km, travel_minutes, field_digits, mentee_rank, mentor_rank,
    # shared_interests, points_<term>..., score

    @cached_property
    def table(self) -> pl.DataFrame:
        return pl.DataFrame(dict(self.columns))

    def column(self, name: str) -> npt.NDArray[np.generic]:
        """A column as a read-only numpy array (index columns as int64), made once: a solve, its alternatives,
        the answer check and the answer read the same columns many times."""
        try:  # ~40 reads a small call: the made column by two subscripts, no method call
            return self.__dict__["_columns"][name]
        except KeyError:
            pass
        cache: dict[str, npt.NDArray[np.generic]] = self.__dict__.setdefault("_columns", {})
        found = np.asarray(self.columns[name], dtype=np.int64 if name in _INDEX_COLUMNS else None).view()
        found.setflags(write=False)  # a view: the column itself stays as it is, no copy
        cache[name] = found
        return found

    def with_scores(self, score: IntArray) -> CandidatePairs:
        """The same pairs with other scores (re-matching's penalty weights), row for row."""
        return replace(self, columns={**self.columns, "score": np.asarray(score, dtype=np.int64)})

    @property
    def mentee(self) -> IntArray:
        return self.column("mentee")  # type: ignore[return-value]

    @property
    def mentor(self) -> IntArray:
        return self.column("mentor")  # type: ignore[return-value]

    @property
    def score(self) -> IntArray:
        return self.column("score")  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.columns["mentee"])


_INDEX_COLUMNS = frozenset({"mentee", "mentor", "score"})  # read as int64, whatever polars stores


_RANK_POINTS = np.array([0, 100, 80, 60, 40, 20, 10], dtype=np.int64)  # by rank 0 (unranked) .. 6 and lower


def rank_points(rank: npt.NDArray[np.int64]) -> IntArray:
    """1st choice 100, 2nd 80, 3rd 60, 4th 40, 5th 20, lower 10; unranked 0."""
    if not rank.any():  # nobody ranked: all unranked
        return np.zeros(len(rank), dtype=np.int64)
    if np.minimum.reduce(rank) >= 0:  # the usual ranks: one look-up, not ten numpy calls
        return _RANK_POINTS[np.minimum(rank, 6)]
    points = np.where(rank == 1, 100, np.maximum(10, 100 - 20 * (rank - 1)))
    return np.where(rank == NO_RANK, 0, points).astype(np.int64)


# By the sum of two ranks of 1 or more (2: both first choices), capped at 10: 100, 90, 80, ..., at least 20.
_MUTUAL_POINTS = np.array([0, 0, 100, 90, 80, 70, 60, 50, 40, 30, 20], dtype=np.int64)


def mutual_points(mentee_rank: IntArray, mentor_rank: IntArray) -> IntArray:
    """Both ranked each other: 100 for mutual first choices, falling with the sum of the ranks, at least 20."""
    both = (mentee_rank != NO_RANK) & (mentor_rank != NO_RANK)
    if not both.any():
        return np.zeros(len(both), dtype=np.int64)
    ranks = mentee_rank + mentor_rank
    if np.minimum.reduce(mentee_rank) >= 0 and np.minimum.reduce(mentor_rank) >= 0:  # the usual ranks: a look-up
        return np.where(both, _MUTUAL_POINTS[np.minimum(ranks, 10)], 0)
    points = np.where((mentee_rank == 1) & (mentor_rank == 1), 100,
                      np.maximum(20, 90 - 10 * (mentee_rank + mentor_rank - 3)))
    return np.where(both, points, 0).astype(np.int64)


# Points of a pair by its two ranks, each capped at 10 (the same points beyond): [her rank * 11 + his rank].
_HER_RANK, _HIS_RANK = np.divmod(np.arange(121, dtype=np.int64), 11)
_RANK_TERMS = {Term.MUTUAL_RANK: mutual_points(_HER_RANK, _HIS_RANK), Term.MENTEE_RANK: rank_points(_HER_RANK),
               Term.MENTOR_RANK: rank_points(_HIS_RANK)}


def _rank_terms(mentee_rank: IntArray, mentor_rank: IntArray, plain: bool, ranked: bool) -> dict[Term, IntArray]:
    """MUTUAL_RANK, MENTEE_RANK and MENTOR_RANK of the pairs: with ranks of 0 or more (`plain`), three look-ups
    by the two ranks (7 numpy calls, not ~20); none without rankings (`ranked`)."""
    if not ranked:
        return {term: np.zeros(len(mentee_rank), dtype=np.int64) for term in _RANK_TERMS}
    if plain:
        at = np.minimum(mentee_rank, 10) * 11 + np.minimum(mentor_rank, 10)
        return {term: table[at] for term, table in _RANK_TERMS.items()}
    return {Term.MUTUAL_RANK: mutual_points(mentee_rank, mentor_rank), Term.MENTEE_RANK: rank_points(mentee_rank),
            Term.MENTOR_RANK: rank_points(mentor_rank)}


DENSE_RANK_PAIRS = 1 << 16
"""Mentees x mentors up to which a pair's ranks are looked up in a table over every pair (two gathers; made once per
cohort), above it by binary search in the ranked pairs' keys (~7 numpy calls a side)."""


def _rank_lookup(cohort: Cohort, arrays: CohortArrays, mentee: IntArray, mentor: IntArray
                 ) -> tuple[IntArray, IntArray, bool]:
    """Per pair: the mentee's rank of the mentor and the mentor's rank of the mentee (0 = unranked); and whether
    every rank is 0 or more (any valid input's)."""
    if not cohort.rankings:
        return np.zeros(len(mentee), dtype=np.int64), np.zeros(len(mentee), dtype=np.int64), True
    ranked = arrays.cache.get("ranks")  # `cohort_arrays` made them when it read the rankings
    if not (isinstance(ranked, RankedPairs) and ranked.of(cohort)):
        ranked = ranked_pairs(cohort, cohort.mentee_index(), cohort.mentor_index())
    her, his = _ranks_of(ranked, cohort, mentee, mentor)
    return her, his, ranked.least >= 0


def _ranks_of(ranked: RankedPairs, cohort: Cohort, mentee: IntArray, mentor: IntArray) -> tuple[IntArray, IntArray]:
    """The pairs' ranks from the ranked pairs: a table over every pair (small cohorts), else binary search."""
    m = len(cohort.mentors)
    keys = mentee * m + mentor
    pairs = len(cohort.mentees) * m
    if pairs <= DENSE_RANK_PAIRS:
        tables = ranked.dense.get("both")
        if tables is None:
            her, his = np.zeros(pairs, dtype=np.int64), np.zeros(pairs, dtype=np.int64)  # NO_RANK
            her[ranked.mentee_keys], his[ranked.mentor_keys] = ranked.mentee_ranks, ranked.mentor_ranks
            tables = ranked.dense["both"] = (her, his)  # one assignment: a thread reading beside sees both or none
        return tables[0][keys], tables[1][keys]
    out = []
    for sorted_keys, values in ((ranked.mentee_keys, ranked.mentee_ranks), (ranked.mentor_keys, ranked.mentor_ranks)):
        if not len(sorted_keys):
            out.append(np.zeros(len(keys), dtype=np.int64))
            continue
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        out.append(np.where(sorted_keys[pos] == keys, values[pos], NO_RANK).astype(np.int64))
    return out[0], out[1]


def _tag_bits(tags: list[tuple[str, ...]], vocabulary: dict[str, int], *, empty_is_tag: bool = True
              ) -> npt.NDArray[np.uint64]:
    """Each person's tags as bits over `vocabulary` ([people, words], or [people] with one word), new tags added to
    it (the empty text only with `empty_is_tag`). One pass over the tags in C (chain, map), then one bitwise OR over all of them
    (a Python set per person cost ~0.1 s on 10,000 people)."""
    flat = list(chain.from_iterable(tags))
    for tag in dict.fromkeys(flat):  # the distinct tags, in order of appearance
        if (tag or empty_is_tag) and tag not in vocabulary:
            vocabulary[tag] = len(vocabulary)
    return _bits(tags, flat, vocabulary)


SMALL_TAG_PEOPLE = 256
"""Up to this many people, with a vocabulary of at most 64 tags, each person's bits are made as a Python int (a
few operations per tag): the arrays' way costs some 15 numpy calls whatever the size, most of a small call's."""


def _bits(tags: list[tuple[str, ...]], flat: list[str], vocabulary: dict[str, int]) -> npt.NDArray[np.uint64]:
    """`_tag_bits` of tags already in the vocabulary, or not in it (those set no bit)."""
    words = max(1, (len(vocabulary) + 63) // 64)
    if words == 1 and len(tags) <= SMALL_TAG_PEOPLE:
        get = vocabulary.get
        masks = []
        for own in tags:
            mask = 0
            for tag in own:
                at = get(tag)
                if at is not None:
                    mask |= 1 << at
            masks.append(mask)
        return np.array(masks, dtype=np.uint64)
    code = np.fromiter(map(vocabulary.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
    person = np.repeat(np.arange(len(tags), dtype=np.int64), np.fromiter(map(len, tags), dtype=np.int64,
                                                                           count=len(tags)))
    known = code >= 0
    person, code = person[known], code[known]
    out = np.zeros((len(tags), words), dtype=np.uint64)
    np.bitwise_or.at(out, (person, code // 64), np.left_shift(np.uint64(1), (code % 64).astype(np.uint64)))
    return out[:, 0].copy() if words == 1 else out


def _small_tag_bits(tags: list[tuple[str, ...]], empty_is_tag: bool) -> tuple[dict[str, int], list[int]] | None:
    """A small side's tags (`SMALL_TAG_PEOPLE`, at most 64 distinct) as each tag's bit and each person's OR of
    them, as Python ints, in one pass over the tags (the empty text a tag only with `empty_is_tag`); None for a
    larger side, which `_tag_bits` makes."""
    if len(tags) > SMALL_TAG_PEOPLE:
        return None
    bit: dict[str, int] = {}
    masks = []
    for own in tags:
        mask = 0
        for tag in own:
            flag = bit.get(tag)
            if flag is None:
                if not (tag or empty_is_tag):
                    continue
                flag = bit[tag] = 1 << len(bit)
            mask |= flag
        masks.append(mask)
    return (bit, masks) if len(bit) <= 64 else None


OVERLAP_CELLS = 4_000_000
"""Bit words (or list items) of the pairs counted at once by `_set_overlap`: its temporaries stay at tens of MB
whatever the cohort (all pairs at once, 500 x 500 people with 100 interests each took over 3 GB)."""
BITSET_TAGS = 4_096
"""Shared tags up to which each person's are bits (64 words a person at most); beyond, sparse rows."""


def _set_overlap(left: list[tuple[str, ...]], right: list[tuple[str, ...]], mentee: IntArray, mentor: IntArray,
                 stop: StopToken | threading.Event | None = None) -> IntArray:
    """Per pair, how many distinct tags the mentee's and the mentor's share; a stop check between parts."""
    small = _small_tag_bits(right, True) if len(left) <= SMALL_TAG_PEOPLE else None
    if small is not None:
        flags, his = small
        if not flags:
            return np.zeros(len(mentee), dtype=np.int64)
        known, hers = flags.get, []
        for own in left:
            mask = 0
            for tag in own:
                mask |= known(tag, 0)  # a tag only she has shares nothing
            hers.append(mask)
        return np.bitwise_count(np.array(hers, dtype=np.uint64)[mentee]
                                & np.array(his, dtype=np.uint64)[mentor]).astype(np.int64)
    # Only a tag both sides hold can be shared: free-text interests, each person's own, make no bits at all.
    left_flat, right_flat = list(chain.from_iterable(left)), list(chain.from_iterable(right))
    both = set(left_flat).intersection(right_flat)
    out = np.zeros(len(mentee), dtype=np.int64)
    if not both:
        return out
    vocabulary = {tag: k for k, tag in enumerate(sorted(both))}
    if len(vocabulary) <= BITSET_TAGS:
        left_bits, right_bits = _bits(left, left_flat, vocabulary), _bits(right, right_flat, vocabulary)
        words = 1 if left_bits.ndim == 1 else left_bits.shape[1]
        step = max(1, OVERLAP_CELLS // words)
        for start in range(0, len(mentee), step):
            check(stop)
            part = slice(start, start + step)
            shared = np.bitwise_count(left_bits[mentee[part]] & right_bits[mentor[part]])
            out[part] = shared if shared.ndim == 1 else shared.sum(axis=1)
        return out
    hers, his = _tag_rows(left, left_flat, vocabulary), _tag_rows(right, right_flat, vocabulary)
    longest = max(1, int(np.diff(hers.indptr).max(initial=1)))
    step = max(1, OVERLAP_CELLS // longest)
    for start in range(0, len(mentee), step):
        check(stop)
        part = slice(start, start + step)
        out[part] = np.asarray(hers[mentee[part]].multiply(his[mentor[part]]).sum(axis=1)).ravel()
    return out


def _tag_rows(tags: list[tuple[str, ...]], flat: list[str], vocabulary: dict[str, int]) -> Any:
    """Each person's tags of `vocabulary` as a sparse 0/1 row (a tag listed twice is one), for vocabularies too
    large for bits."""
    from scipy.sparse import csr_matrix  # scipy is loaded by the solver already; sparse only on this path

    code = np.fromiter(map(vocabulary.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
    person = np.repeat(np.arange(len(tags), dtype=np.int64), np.fromiter(map(len, tags), dtype=np.int64,
                                                                           count=len(tags)))
    known = code >= 0
    rows = csr_matrix((np.ones(int(known.sum()), dtype=np.int64), (person[known], code[known])),
                      shape=(len(tags), len(vocabulary)))
    rows.sum_duplicates()
    rows.data[:] = 1
    return rows


def _has_tag(left: list[str], right: list[tuple[str, ...]], mentee: IntArray, mentor: IntArray) -> IntArray:
    """Per pair, 1 when the mentee's one tag (the empty text: none) is among the mentor's tags, else 0."""
    small = _small_tag_bits(right, False)
    if small is not None:
        flags, his = small
        if not flags:
            return np.zeros(len(mentee), dtype=np.int64)
        hers = np.array([flags.get(tag, 0) for tag in left], dtype=np.uint64)
        return ((hers[mentee] & np.array(his, dtype=np.uint64)[mentor]) != 0).astype(np.int64)
    vocabulary: dict[str, int] = {}
    right_bits = _tag_bits(right, vocabulary, empty_is_tag=False)
    if not vocabulary:
        return np.zeros(len(mentee), dtype=np.int64)
    code = np.fromiter(map(vocabulary.get, left, repeat(-1)), dtype=np.int64, count=len(left))[mentee]
    known = code >= 0
    code = np.maximum(code, 0)
    word = right_bits[mentor] if right_bits.ndim == 1 else right_bits[mentor, code // 64]
    bit = (word >> (code % 64).astype(np.uint64)) & np.uint64(1)
    return np.where(known, bit, 0).astype(np.int64)


# The terms that her rules or the mentor's goals decide (a relaxation can move them); the others depend on the
# two people alone. `solver.explain` rescores relaxed pairs with these.


def travel_points(arrays: CohortArrays, mentee: IntArray, km: FloatArray, minutes: FloatArray) -> IntArray:
    """TRAVEL: 100 at the door, falling linearly to 0 at her limit (at NO_LIMIT_TRAVEL_KM without one)."""
    limits = arrays.mentee_limit_minutes if arrays.uses_travel_times else arrays.mentee_limit_km
    travelled = minutes if arrays.uses_travel_times else km
    limit = limits[mentee]
    # No travel known is infinitely far (np.nan_to_num's wrapper, ~10 us, only where some distance is infinite).
    infinite = np.isinf(travelled).any()
    distance = np.nan_to_num(travelled, nan=np.inf) if infinite else np.where(np.isnan(travelled), np.inf, travelled)
    scale = np.where(np.isfinite(limits) & (limits > 0), limits, NO_LIMIT_TRAVEL_KM)[mentee]  # per mentee, then pair
    points = clip(np.floor(100.0 * (1.0 - distance / scale)), 0, 100)
    # Beyond her limit only an online pair is allowed at all, and it gets no travel points (README: TRAVEL).
    return np.where(distance > limit, 0, points).astype(np.int64)


def _field_points_table(depth: IntArray) -> IntArray:
    """Points for 0..4 shared digits at each depth, [depth * 5 + digits]: 100 x the digits beyond the depth over
    the digits there are beyond it; none at depth 4 or more (the field rule takes them all)."""
    depth = depth[:, None]
    return np.asarray(np.where(depth < 4, 100 * np.clip(np.arange(5) - depth, 0, 4) // np.maximum(4 - depth, 1), 0)
                      .astype(np.int64).reshape(-1), dtype=np.int64)


_FIELD_POINTS = _field_points_table(np.arange(5, dtype=np.int64))


def field_points(arrays: CohortArrays, mentee: IntArray, digits: npt.NDArray[np.integer]) -> IntArray:
    """FIELD: the ISCO digits shared beyond her rules' depth (a segment may set its own), 0..100."""
    shared = np.asarray(digits)
    if len(shared) and (int(np.minimum.reduce(shared)) < 0 or int(np.maximum.reduce(shared)) > 4):
        raise ValueError("shared ISCO digits lie in 0..4")
    depths = arrays.mentee_field_depth
    if len(depths) and np.minimum.reduce(depths) >= 0:  # depths 0..4 and beyond (none then): rows of a fixed table
        return _FIELD_POINTS.reshape(5, 5)[np.minimum(depths, 4)].reshape(-1)[np.asarray(mentee, dtype=np.int64) * 5
                                                                             + shared]
    # Per mentee, her points for 0..4 shared digits: a pair's are one look-up in it.
    return _field_points_table(depths)[np.asarray(mentee, dtype=np.int64) * 5 + shared]


_GOAL_CODES: dict[Goal, int] = {g: k for k, g in enumerate(Goal)}
_GOAL_COLUMN = np.arange(len(_GOAL_CODES), dtype=np.int64)[:, None]  # each goal's code, down a table's rows


def goal_points(cohort: Cohort, mentee: IntArray, mentor: IntArray) -> IntArray:
    """GOAL: 100 when the mentor supports her goal, 50 when he lists no goals, 0 otherwise or without a goal."""
    goal_codes = _GOAL_CODES
    mentee_goal = np.array([goal_codes[p.goal] for p in cohort.mentees], dtype=np.int64)
    # Each goal he lists is one bit, however often he lists it (a goal named twice is still one goal: README, GOAL).
    mentor_goals = np.array([sum(1 << goal_codes[g] for g in frozenset(p.goals)) for p in cohort.mentors],
                            dtype=np.int64)
    # Per goal and mentor, the points: a pair's are one look-up in it. 100 where he supports the goal, 50 where he
    # lists none, 0 for no goal (UNSPECIFIED).
    table = np.where(mentor_goals == 0, 50, 100 * ((mentor_goals >> _GOAL_COLUMN) & 1))
    table[goal_codes[Goal.UNSPECIFIED]] = 0
    m = len(cohort.mentors)
    return np.asarray(table.reshape(-1)[mentee_goal[mentee] * m + mentor], dtype=np.int64)


_CODE = attrgetter("code")


def score_pairs(cohort: Cohort, arrays: CohortArrays, mentee: IntArray, mentor: IntArray, *,
                travel: tuple[FloatArray, FloatArray] | None = None,
                digits: npt.NDArray[np.integer] | None = None,
                stop: StopToken | threading.Event | None = None) -> pl.DataFrame:
    """The facts and every term's points for the given pairs (allowed or not), and the weighted score.

    `travel` ((km, minutes), as `pair_travel` gives) and `digits` (as `field_digits` gives) skip recomputing
    what the candidate builder already knows. `stop` is checked between the terms (raises `solver.stop.Stopped`).
    """
    return pl.DataFrame(score_columns(cohort, arrays, mentee, mentor, travel=travel, digits=digits, stop=stop))


SMALL_SCORE_ROWS = 4096
"""Pairs up to which `score_columns` keeps the terms' points as the rows of one matrix (a copy of each) and makes the
score as one product with the weights; above, each term's column as it comes and the score summed term by term
(no copy of every term's points at millions of pairs)."""


def _by_chunk(rows: int, stop: StopToken | threading.Event | None,
              make: Callable[[slice], IntArray]) -> IntArray:
    """A per-pair term made `CHUNK` rows at a time with a stop check between (the same values: each row's depend on
    that row alone), for a term of many passes over the pairs (TRAVEL: ~200 ms at 1.5 million pairs in one go)."""
    if rows <= CHUNK:
        return make(slice(None))
    out = np.empty(rows, dtype=np.int64)
    for start in range(0, rows, CHUNK):
        check(stop)
        out[start:start + CHUNK] = make(slice(start, start + CHUNK))
    return out


def score_columns(cohort: Cohort, arrays: CohortArrays, mentee: IntArray, mentor: IntArray, *,
                  travel: tuple[FloatArray, FloatArray] | None = None,
                  digits: npt.NDArray[np.integer] | None = None,
                  stop: StopToken | threading.Event | None = None) -> dict[str, npt.NDArray[np.generic]]:
    """`score_pairs` as numpy columns."""
    weights = cohort.rules.weights.as_dict()
    km, minutes = travel if travel is not None else pair_travel(arrays, mentee, mentor)
    digits = (digits if digits is not None else field_digits(arrays, mentee, mentor)).astype(np.int64)
    check(stop)
    mentee_rank, mentor_rank, plain = _rank_lookup(cohort, arrays, mentee, mentor)
    check(stop)
    mentees, mentors = cohort.mentees, cohort.mentors
    shared_interests = _set_overlap([p.interests for p in mentees], [p.interests for p in mentors], mentee, mentor,
                                    stop)
    check(stop)
    market = _has_tag([p.country_of_origin for p in mentees], [p.markets for p in mentors], mentee, mentor)
    check(stop)
    first_language = _has_tag([p.first_language for p in mentees],
                              [tuple(map(_CODE, p.languages)) for p in mentors], mentee, mentor)
    check(stop)
    years = np.array([p.years_experience for p in mentors], dtype=np.int64)
    leadership = np.array([p.leadership for p in mentors], dtype=np.int64)
    seniority = 50 * leadership + 2 * np.minimum(np.maximum(years, 0), 25)  # per mentor, then per pair
    back = cohort.returning_mentors()  # `returning`, or a pair in the history
    returning = 100 * np.array([p.id in back for p in mentors], dtype=np.int64)
    points = _rank_terms(mentee_rank, mentor_rank, plain, bool(cohort.rankings))
    # Term by term with a stop check before each: at 1.5 million pairs the terms took ~0.3-0.4 s together, past
    # what a cancelled or timed-out call may go on spending (docs/service.md: 200 ms of CPU after its end).
    for term, make in ((Term.INTERESTS, lambda: np.minimum(100, 34 * shared_interests)),
                       (Term.FIELD, lambda: field_points(arrays, mentee, digits)),
                       (Term.GOAL, lambda: goal_points(cohort, mentee, mentor)),
                       (Term.TRAVEL, lambda: _by_chunk(len(mentee), stop, lambda part: travel_points(
                           arrays, mentee[part], km[part], minutes[part]))),
                       (Term.HOME_MARKET, lambda: 100 * np.minimum(market, 1)),
                       (Term.FIRST_LANGUAGE, lambda: 100 * np.minimum(first_language, 1)),
                       (Term.SENIORITY, lambda: seniority[mentor]),
                       (Term.RETURNING, lambda: returning[mentor])):
        check(stop)
        points[term] = make()
    columns: dict[str, npt.NDArray[np.generic]] = {
        "mentee": mentee.astype(np.int64),
        "mentor": mentor.astype(np.int64),
        "distance_km": km,
        "travel_minutes": minutes,
        "field_digits": digits,
        "mentee_rank": mentee_rank,
        "mentor_rank": mentor_rank,
        "shared_interests": shared_interests,
    }
    weight = np.array([weights[term.weight_name] for term in points])
    if len(mentee) <= SMALL_SCORE_ROWS and weight.dtype == np.int64:
        # The terms as rows of one matrix, the score one product with the weights: not three numpy calls a term.
        stacked = np.empty((len(points), len(mentee)), dtype=np.int64)
        for k, (term, values) in enumerate(points.items()):  # (a few thousand rows a term: no stop check needed)
            stacked[k] = values
            columns[term.column] = stacked[k]
        columns["score"] = weight @ stacked
        return columns
    score = np.zeros(len(mentee), dtype=np.int64)
    for term, values in points.items():
        check(stop)
        column = np.asarray(values, dtype=np.int64)
        columns[term.column] = column
        score += weights[term.weight_name] * column
    columns["score"] = score
    check(stop)
    return columns


def candidate_pairs(cohort: Cohort, arrays: CohortArrays | None = None, *,
                    stop: StopToken | threading.Event | None = None,
                    max_pairs: int = MAX_CANDIDATE_PAIRS) -> CandidatePairs:
    """Every allowed pair of the cohort, scored. Assumes a valid cohort (see `solver.validate`).

    Raises `CohortInvalid` (TOO_LARGE, naming the rule that makes the cohort so dense) before building anything when
    it would examine more than `max_pairs` pairs (`solver.budget`), and `solver.stop.Stopped` when `stop` is set
    or its deadline passes.
    """
    arrays = arrays if arrays is not None else cohort_arrays(cohort, stop)
    estimate = check_pair_budget(arrays, max_pairs)
    facts = allowed_pair_facts(arrays, stop=stop, join=estimate.join)
    columns = score_columns(cohort, arrays, facts.mentee, facts.mentor, travel=(facts.km, facts.minutes),
                            digits=facts.digits, stop=stop)
    return CandidatePairs(cohort, arrays, columns)

"""A relaxed cohort as a change to the best matching's network (`solver.reopt.FlowChange`), without new candidates.

A relaxation (`codes.apply_relaxation`) loosens one hard rule for some people, or changes one participant, or a
cap. Instead of building the relaxed cohort's candidate pairs anew, the change is read off the two cohorts:

- who it touches: the mentees whose own rules change (by segment: her rules are her segment's), whose eligibility
  or personal limits change, and the mentors whose goals or online meetings change; capacities, organisation
  caps and gender quotas apart;
- the columns of the rules (`solver.arrays.CohortArrays`) for them, under the relaxed rules;
- their pairs that fail exactly one hard rule in the baseline (`NearPairs`, found once per person): loosening one
  rule can allow only these, so they are checked again, whole (`solver.candidates.rule_masks`), under the relaxed
  columns; the pairs allowed before must stay allowed;
- the TRAVEL, FIELD and GOAL points of their pairs, the only terms rules move (`solver.scores`), recomputed; every
  other term is the baseline's.

Anything else that differs (another attribute of a person, the weights, the rankings, a segment's selectors, pins)
gives None: the caller solves the relaxed cohort in full. `tests/test_reoptimise.py` holds the result against the
relaxed cohort's own candidate pairs.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from solver.arrays import CohortArrays, cohort_arrays
from solver.candidates import BoolArray, FloatArray, HardRule, IntArray, rule_masks
from solver.domain import Cohort, FieldRule, Mentee, MenteeRules, Mentor, MutualChoice, Rules
from solver.reopt import FlowChange
from solver.scores import CandidatePairs, field_points, goal_points, score_columns, travel_points
from solver.stop import StopToken

if TYPE_CHECKING:
    from collections.abc import Mapping

    from solver.domain import FieldFamily
    from solver.explain.types import ExplainOptions
    from solver.solve import SolveResult


class ExplainContext(Protocol):
    """What a relaxation reads of its explanation's baseline (`solver.explain.context.ExplainContext` has it).

    A protocol here rather than an import of the context, which builds its `Relaxer`: no import circle."""

    @property
    def result(self) -> SolveResult: ...
    @property
    def candidates(self) -> CandidatePairs: ...
    @property
    def cohort(self) -> Cohort: ...
    @property
    def arrays(self) -> CohortArrays: ...
    @property
    def explain_options(self) -> ExplainOptions: ...
    @property
    def mentee_rules(self) -> Sequence[MenteeRules]: ...
    @property
    def language_codes(self) -> Sequence[str]: ...
    @property
    def mentee_levels(self) -> npt.NDArray[Any]: ...
    @property
    def mentee_index(self) -> Mapping[str, int]: ...
    @property
    def mentor_index(self) -> Mapping[str, int]: ...
    @property
    def field_families(self) -> Sequence[FieldFamily]: ...
    def families_of(self, occupations: Sequence[str]) -> list[str]: ...

NEAR_MAX_PAIRS = 6_000_000  # pairs examined for near pairs per explanation; beyond, rule changes are solved in full
NEAR_MAX_KEPT = 1_500_000  # near pairs kept (about 90 bytes each); beyond, too
FULL_SCAN_PAIRS = 400_000  # up to this many pairs in all, every row is scanned at the first need (one scoring call)
_CHUNK = 200_000  # pairs whose rules are checked at once

# What a relaxation may change and still be read off here; any other difference: a full solve.
_MENTEE_FIELDS = frozenset({"max_travel_km", "max_travel_minutes", "requested_mentor_gender", "online"})
_MENTOR_FIELDS = frozenset({"capacity", "online", "goals"})
_PER_MENTEE_RULES = frozenset({"max_distance_km", "field_depth", "min_language_level", "min_mentor_years",
                               "max_travel_minutes", "online_meetings", "personal_limits_extend",
                               "programme_languages", "field_rule", "mutual_choice", "segments"})
_OTHER_RULES = frozenset({"eligible_municipalities", "eligible_tracks", "organisation_caps", "gender_quotas",
                          "bans"})
_SELECTORS = ("id", "goals", "tracks", "municipalities", "tags")
_GENDER = {"f": 1, "m": 2, "x": 3}
_CHOICES = tuple(MutualChoice)


def _same(a: object, b: object) -> bool:
    return a is b or a == b


# Near pairs ---------------------------------------------------------------------------------------------


@dataclass
class _Pairs:
    mentee: IntArray
    mentor: IntArray
    rule: IntArray  # the one hard rule (index in HardRule order) the pair fails in the baseline
    score: IntArray
    travel: IntArray  # baseline TRAVEL, FIELD and GOAL points
    field: IntArray
    goal: IntArray
    km: FloatArray
    minutes: FloatArray
    digits: IntArray
    rank: IntArray  # how the mentee ranked the mentor (0 = not ranked), the model's `mentee_rank`

    def take(self, index: IntArray | BoolArray) -> _Pairs:
        if index.dtype == np.bool_:  # positions once, not a pass over the mask per column
            index = np.flatnonzero(index)
        return _Pairs(*(getattr(self, f.name)[index] for f in fields(self)))


def _concat(parts: list[_Pairs]) -> _Pairs:
    return _Pairs(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(_Pairs)))


def _no_pairs() -> _Pairs:
    empty = np.zeros(0, dtype=np.int64)
    return _Pairs(empty, empty, empty, empty, empty, empty, empty, np.zeros(0), np.zeros(0), empty, empty)


class NearPairs:
    """Per mentee row or mentor column, found on first use: the pairs that fail exactly one hard rule in the
    baseline (and which), with their baseline scores, points and facts."""

    def __init__(self, ctx: ExplainContext) -> None:
        self.ctx = ctx
        self.by_row, self.by_column = _no_pairs(), _no_pairs()
        self._scores: tuple[IntArray, IntArray] | None = None
        self.dense_score: IntArray | None = None  # [n, m] baseline scores, after a whole scan
        self.row_done = np.zeros(ctx.arrays.n_mentees, dtype=np.bool_)
        self.column_done = np.zeros(ctx.arrays.n_mentors, dtype=np.bool_)
        self.examined = 0

    def _found(self, mentee: IntArray, mentor: IntArray, keep_scores: bool = False) -> _Pairs:
        near, rule = self._near(mentee, mentor)
        if keep_scores:  # every pair scored once: any pair's baseline score is then a lookup
            table = score_columns(self.ctx.cohort, self.ctx.arrays, mentee, mentor, stop=self.ctx.explain_options.stop)
            shape = self.ctx.arrays.n_mentees, self.ctx.arrays.n_mentors
            self.dense_score = np.asarray(table["score"]).astype(np.int64).reshape(shape)
            return self._scored(mentee[near], mentor[near], rule, {name: values[near] for name, values in table.items()})
        return self._scored(mentee[near], mentor[near], rule)

    def _near(self, mentee: IntArray, mentor: IntArray) -> tuple[BoolArray, IntArray]:
        """Which pairs fail exactly one hard rule, and that rule (index in HardRule order) for each of them."""
        masks = np.stack(list(rule_masks(self.ctx.arrays, mentee, mentor).values()))
        near = (~masks).sum(axis=0) == 1
        return near, np.argmin(masks[:, near], axis=0).astype(np.int64)

    def _scored(self, mentee: IntArray, mentor: IntArray, rule: IntArray,
                table: Mapping[str, npt.NDArray[np.generic]] | None = None) -> _Pairs:
        # Numpy columns, not a polars table: these re-solves may run in a forked child (`ExplainOptions.processes`),
        # where polars' thread pool is not there to answer.
        if table is None:
            table = score_columns(self.ctx.cohort, self.ctx.arrays, mentee, mentor, stop=self.ctx.explain_options.stop)

        def column(name: str, dtype: npt.DTypeLike = np.int64) -> npt.NDArray[Any]:
            return np.asarray(table[name]).astype(dtype)

        return _Pairs(mentee, mentor, rule, column("score"), column("points_travel"), column("points_field"),
                      column("points_goal"), column("distance_km", np.float64), column("travel_minutes", np.float64),
                      column("field_digits"), column("mentee_rank"))

    def _room(self, pairs: int) -> bool:
        if self.examined + pairs > NEAR_MAX_PAIRS:
            return False
        self.examined += pairs
        return True

    def scan_all(self) -> bool:
        """Every pair at once (a small cohort): near pairs, and every pair's baseline score (`dense_score`)."""
        n, m = self.ctx.arrays.n_mentees, self.ctx.arrays.n_mentors
        if self.dense_score is None:
            if not self._room(n * m):
                return False
            self.by_row = self._found(np.repeat(np.arange(n, dtype=np.int64), m),
                                      np.tile(np.arange(m, dtype=np.int64), n), keep_scores=True)
            self.row_done[:] = True
            self._scores = None
        return True

    def _scan(self, people: IntArray, rows: bool) -> bool:
        """Finds the near pairs of these mentees' rows (or mentors' columns) not found yet."""
        done = self.row_done if rows else self.column_done
        others = self.ctx.arrays.n_mentors if rows else self.ctx.arrays.n_mentees
        missing = people[~done[people]]
        if len(missing) == 0:
            return True
        if not self._room(len(missing) * others):
            return False
        stop = StopToken.of(self.ctx.explain_options.stop)
        step = max(1, _CHUNK // max(others, 1))
        kept = len(self.by_row.mentee) + len(self.by_column.mentee)
        found: list[tuple[IntArray, IntArray, IntArray]] = []
        for start in range(0, len(missing), step):
            stop.check()
            chunk = missing[start:start + step]
            mine, theirs = np.repeat(chunk, others), np.tile(np.arange(others, dtype=np.int64), len(chunk))
            mentee, mentor = (mine, theirs) if rows else (theirs, mine)
            near, rule = self._near(mentee, mentor)
            found.append((mentee[near], mentor[near], rule))
            kept += len(rule)
            if kept > NEAR_MAX_KEPT:
                self.examined = NEAR_MAX_PAIRS  # no more: what is found would be too much to keep
                return False
        # Scored together (a scoring call costs a pass over everyone besides its pairs), in blocks.
        mentee, mentor, rule = (np.concatenate([f[k] for f in found]) for k in range(3))
        parts = [self.by_row if rows else self.by_column]
        for start in range(0, len(rule), _CHUNK):
            block = slice(start, start + _CHUNK)
            parts.append(self._scored(mentee[block], mentor[block], rule[block]))
        if rows:
            self.by_row = _concat(parts)
        else:
            self.by_column = _concat(parts)
        done[missing] = True
        self._scores = None
        return True

    def select(self, mentees: IntArray, mentors: IntArray, rules: IntArray) -> list[tuple[_Pairs, IntArray]] | None:
        """The near pairs in these mentees' rows or these mentors' columns that fail one of `rules` (indices in
        HardRule order), each once, as positions in the pairs found by rows, then in those found by columns (not
        copied out: most of them are dropped next); None beyond `NEAR_MAX_PAIRS` or `NEAR_MAX_KEPT`. A small cohort
        is scanned whole at once."""
        n, m = self.ctx.arrays.n_mentees, self.ctx.arrays.n_mentors
        if n * m <= FULL_SCAN_PAIRS:
            scanned = self.scan_all()  # every column is in the rows then
        else:
            scanned = self._scan(mentees, True) and self._scan(mentors, False)
        if not scanned:
            return None
        rule_ok = np.zeros(len(HardRule), dtype=np.bool_)
        rule_ok[rules] = True
        rows = np.zeros(n, dtype=np.bool_)
        rows[mentees] = True
        columns = np.zeros(m, dtype=np.bool_)
        columns[mentors] = True
        by_row, by_column = self.by_row, self.by_column
        found = [(by_row, np.flatnonzero(rule_ok[by_row.rule] & (rows[by_row.mentee] | columns[by_row.mentor])))]
        if len(by_column.mentee) and len(mentors):  # from the columns, the pairs of rows not scanned
            found.append((by_column, np.flatnonzero(rule_ok[by_column.rule] & columns[by_column.mentor]
                                                    & ~self.row_done[by_column.mentee])))
        return found

    def baseline_scores(self) -> tuple[IntArray, IntArray]:
        """(keys mentee * n_mentors + mentor, sorted; scores) of every near pair found so far."""
        if self._scores is None:
            every = _concat([self.by_row, self.by_column])
            keys = every.mentee * max(1, self.ctx.arrays.n_mentors) + every.mentor
            keys, first = np.unique(keys, return_index=True)
            self._scores = keys, every.score[first]
        return self._scores


@dataclass(frozen=True)
class Relaxed:
    """A relaxed cohort read off the baseline: the change to the best matching's network, and what it takes to
    build the relaxed cohort's candidate pairs without computing them."""

    cohort: Cohort
    arrays: CohortArrays  # the baseline's columns with the relaxed values of the people it touches
    change: FlowChange
    new_rank: IntArray  # `mentee_rank` of the pairs allowed anew

    def candidates(self, baseline: CandidatePairs) -> CandidatePairs:
        """The relaxed cohort's candidate pairs, as `candidate_pairs(cohort)` gives them (sorted by mentee, then
        mentor) in the columns a solve reads: so `solve(candidates)` is `solve(cohort)`, ties and all."""
        change = self.change
        score = baseline.score.copy()
        score[change.rescored_rows] = change.rescored
        m = max(1, baseline.arrays.n_mentors)
        mentee = np.concatenate([baseline.mentee, change.new_mentee])
        mentor = np.concatenate([baseline.mentor, change.new_mentor])
        order = np.argsort(mentee * m + mentor, kind="stable")
        rank = np.concatenate([np.asarray(baseline.column("mentee_rank"), dtype=np.int64), self.new_rank])
        columns = {"mentee": mentee[order], "mentor": mentor[order],
                   "score": np.concatenate([score, change.new_score])[order], "mentee_rank": rank[order]}
        return CandidatePairs(self.cohort, self.arrays, columns)


# What changed ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Delta:
    mentees: IntArray  # rows to check again (her rules, eligibility or personal limits changed, or a ban lifted)
    mentors: IntArray  # columns to check again (goals or online meetings)
    rules_changed: bool
    capacity: tuple[tuple[int, int], ...]
    org_caps: tuple[tuple[int, int], ...]
    quotas: tuple[tuple[int, int, int | None], ...] | None


class Relaxer:
    """Reads relaxed cohorts off the baseline of one explanation (`ExplainContext.relaxer`)."""

    def __init__(self, ctx: ExplainContext) -> None:
        self.ctx = ctx
        self.near = NearPairs(ctx)
        cohort = ctx.cohort
        segment_of = [r.segment for r in ctx.mentee_rules]
        self.segments = sorted(set(segment_of))
        index = {s: k for k, s in enumerate(self.segments)}
        self.segment = np.array([index[s] for s in segment_of], dtype=np.int64)
        self.representative = [segment_of.index(s) for s in self.segments]
        # The language bit of each code, as `solver.arrays` numbers them (first seen, mentees then mentors).
        codes: dict[str, int] = {}
        people: list[Mentee | Mentor] = [*cohort.mentees, *cohort.mentors]
        for person in people:
            for lang in person.languages:
                codes.setdefault(lang.code, len(codes))
        self.language_bit = np.array([codes[c] for c in ctx.language_codes], dtype=np.int64) \
            if ctx.language_codes else np.zeros(0, dtype=np.int64)
        self._families: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]] | None = None
        column = ctx.candidates.column
        self.row_travel = column("points_travel").astype(np.int64)
        self.row_field = column("points_field").astype(np.int64)
        self.row_goal = column("points_goal").astype(np.int64)
        self.row_km = column("distance_km").astype(np.float64)
        self.row_minutes = column("travel_minutes").astype(np.float64)
        self.row_digits = column("field_digits").astype(np.int64)
        weights = cohort.rules.weights
        self.weights = (weights.travel, weights.field, weights.goal)
        self._changes: dict[Hashable, Relaxed | None] = {}
        # Each mentee's own values her rules' columns read (`_personal`), as arrays.
        own = [_personal(p) for p in cohort.mentees]
        self.personal = {name: np.array([o[name] for o in own], dtype=np.float64 if name.startswith("max")
                                        else np.int64) for name in _PERSONAL}

    # The delta -----------------------------------------------------------------------------------------

    def _delta(self, relaxed: Cohort) -> _Delta | None:
        ctx, base = self.ctx, self.ctx.cohort
        if (len(relaxed.mentees) != len(base.mentees) or len(relaxed.mentors) != len(base.mentors)
                or not _same(relaxed.rankings, base.rankings)):
            return None
        mentees: set[int] = set()
        mentors: set[int] = set()
        capacity: list[tuple[int, int]] = []
        for i, (old, new) in enumerate(zip(base.mentees, relaxed.mentees, strict=True)):
            if old is not new:
                if not _changes_within(old, new, _MENTEE_FIELDS):
                    return None
                mentees.add(i)
        for j, (old_m, new_m) in enumerate(zip(base.mentors, relaxed.mentors, strict=True)):
            if old_m is not new_m:
                if not _changes_within(old_m, new_m, _MENTOR_FIELDS):
                    return None
                if old_m.capacity != new_m.capacity:
                    capacity.append((j, new_m.capacity))
                if old_m.online != new_m.online or old_m.goals != new_m.goals:
                    mentors.add(j)
        old_rules, rules = base.rules, relaxed.rules
        changed = {f.name for f in fields(Rules) if not _same(getattr(old_rules, f.name), getattr(rules, f.name))}
        if not changed <= _PER_MENTEE_RULES | _OTHER_RULES:
            return None
        if changed & _PER_MENTEE_RULES:
            if len(rules.segments) != len(old_rules.segments) or any(
                    getattr(a, key) != getattr(b, key) for a, b in zip(old_rules.segments, rules.segments, strict=True)
                    for key in _SELECTORS):
                return None  # who is in which segment could change
            for k, rep in enumerate(self.representative):
                if rules.for_mentee(base.mentees[rep]) != ctx.mentee_rules[rep]:
                    mentees.update(np.flatnonzero(self.segment == k).tolist())
        if "eligible_municipalities" in changed or "eligible_tracks" in changed:
            eligible = _eligible(relaxed.mentees, rules)
            mentees.update(np.flatnonzero(eligible != ctx.arrays.mentee_eligible).tolist())
        if "bans" in changed:
            for a, _ in set(old_rules.bans) ^ set(rules.bans):
                if a in ctx.mentee_index:
                    mentees.add(ctx.mentee_index[a])
        org_caps: list[tuple[int, int]] = []
        if "organisation_caps" in changed:
            old_caps, new_caps = old_rules.organisation_cap_map, rules.organisation_cap_map
            if set(old_caps) != set(new_caps):
                return None
            names = sorted(old_caps)
            org_caps = [(k, new_caps[o]) for k, o in enumerate(names) if new_caps[o] != old_caps[o]]
        quotas = None
        if "gender_quotas" in changed:
            quotas = tuple((_GENDER.get(q.gender, 0), q.min_pairs, q.max_pairs) for q in rules.gender_quotas)
        return _Delta(np.array(sorted(mentees), dtype=np.int64), np.array(sorted(mentors), dtype=np.int64),
                      bool(changed & ({"bans"} | _PER_MENTEE_RULES | {"eligible_municipalities", "eligible_tracks"})),
                      tuple(capacity), tuple(org_caps), quotas)

    # The relaxed columns ---------------------------------------------------------------------------------

    def relaxed_arrays(self, relaxed: Cohort, mentees: IntArray, mentors: IntArray) -> CohortArrays:
        """The baseline's columns with the relaxed values of these mentees and mentors (and the relaxed bans and
        eligibility): what `cohort_arrays(relaxed)` gives for their pairs."""
        ctx, base = self.ctx, self.ctx.arrays
        rules = relaxed.rules
        changes: dict[str, object] = {}
        if len(mentees):
            changes.update(self._mentee_columns(relaxed, mentees))
        if len(mentors):
            sub = cohort_arrays(replace(relaxed, mentees=(), rankings=(), mentors=tuple(
                relaxed.mentors[j] for j in mentors.tolist()), rules=replace(rules, bans=(), travel_times=())))
            for name in ("mentor_online", "mentor_goal_bits"):
                column = getattr(base, name).copy()
                column[mentors] = getattr(sub, name)
                changes[name] = column
        if not _same(rules.bans, ctx.cohort.rules.bans):
            m = base.n_mentors
            changes["banned_keys"] = np.array(sorted({ctx.mentee_index[a] * m + ctx.mentor_index[b]
                                                      for a, b in rules.bans if a in ctx.mentee_index
                                                      and b in ctx.mentor_index}), dtype=np.int64)
        return replace(base, **changes)  # type: ignore[arg-type]

    def _mentee_columns(self, relaxed: Cohort, mentees: IntArray) -> dict[str, object]:
        """Every column of her rules for these mentees, vectorised by segment (her rules are her segment's)."""
        ctx, base = self.ctx, self.ctx.arrays
        rules = relaxed.rules
        per_segment = [rules.for_mentee(relaxed.mentees[rep]) for rep in self.representative]
        seg = self.segment[mentees]
        own = {name: values[mentees] for name, values in self.personal.items()}
        for k, i in enumerate(mentees.tolist()):
            if relaxed.mentees[i] is not ctx.cohort.mentees[i]:  # her own values changed
                for name, value in _personal(relaxed.mentees[i]).items():
                    own[name][k] = value

        def by_segment(value: object, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
            return np.array([getattr(r, str(value)) for r in per_segment], dtype=dtype)[seg]

        def limit(programme: str, personal: str) -> FloatArray:
            prog = np.array([math.inf if getattr(r, programme) is None else getattr(r, programme)
                             for r in per_segment], dtype=np.float64)[seg]
            has = ~np.isnan(own[personal])
            extend = by_segment("personal_limits_extend", np.bool_)
            return np.where(has & extend, own[personal], np.minimum(prog, np.where(has, own[personal], math.inf)))

        columns: dict[str, object] = {}

        def put(name: str, values: npt.NDArray[np.generic]) -> None:
            column = getattr(base, name).copy()
            column[mentees] = values
            columns[name] = column

        put("mentee_limit_km", np.full(len(mentees), math.inf) if base.uses_travel_times
            else limit("max_distance_km", "max_travel_km"))
        put("mentee_limit_minutes", limit("max_travel_minutes", "max_travel_minutes"))
        level = by_segment("min_language_level", np.int64)
        put("mentee_language_level", np.clip(level, 1, 6))
        put("mentee_languages", self._language_bits(mentees, level, per_segment, seg))
        put("mentee_requested_gender", own["requested_mentor_gender"])
        put("mentee_field_depth", np.maximum(by_segment("field_depth", np.int64), 0))
        family = np.array([r.field_rule is FieldRule.FAMILY for r in per_segment], dtype=np.bool_)[seg]
        put("mentee_by_family", family)
        if family.any() and not base.mentee_by_family.any():
            # The baseline built no family bits (nobody used the family rule): everyone's, once.
            columns["mentee_families"], columns["mentor_families"] = self._family_bits()
        put("mentee_min_years", by_segment("min_mentor_years", np.int64))
        put("mentee_online", own["online"].astype(np.bool_) & by_segment("online_meetings", np.bool_))
        put("mentee_choice", np.array([_CHOICES.index(r.mutual_choice) for r in per_segment], dtype=np.int64)[seg])
        if not (_same(rules.eligible_municipalities, ctx.cohort.rules.eligible_municipalities)
                and _same(rules.eligible_tracks, ctx.cohort.rules.eligible_tracks)):
            put("mentee_eligible", _eligible([relaxed.mentees[i] for i in mentees.tolist()], rules))
        return columns

    def _language_bits(self, mentees: IntArray, level: IntArray, per_segment: list[MenteeRules], seg: IntArray
                       ) -> npt.NDArray[np.uint64]:
        """A bit per language she speaks at her rules' level, among her rules' programme languages."""
        ctx = self.ctx
        words = ctx.arrays.mentee_languages.shape[1]
        out = np.zeros((len(mentees), words), dtype=np.uint64)
        if not ctx.language_codes:
            return out
        allowed = np.array([[not r.programme_languages or code in r.programme_languages for code in ctx.language_codes]
                            for r in per_segment], dtype=np.bool_)[seg]
        speaks = (ctx.mentee_levels[mentees] >= level[:, None]) & allowed
        for k, bit in enumerate(self.language_bit.tolist()):
            out[:, bit // 64] |= speaks[:, k].astype(np.uint64) << np.uint64(bit % 64)
        return out

    def _family_bits(self) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
        if self._families is None:
            ctx = self.ctx
            order = {f.id: k for k, f in enumerate(ctx.field_families)}
            words = max(1, (len(ctx.field_families) + 63) // 64)

            def bits(people: Sequence[Mentee | Mentor]) -> npt.NDArray[np.uint64]:
                out = np.zeros((len(people), words), dtype=np.uint64)
                for i, person in enumerate(people):
                    for family in ctx.families_of(person.occupations):
                        k = order[family]
                        out[i, k // 64] |= np.uint64(1) << np.uint64(k % 64)
                return out

            self._families = bits(ctx.cohort.mentees), bits(ctx.cohort.mentors)
        return self._families

    # The change ------------------------------------------------------------------------------------------

    def change(self, relaxed: Cohort, key: Hashable | None = None) -> Relaxed | None:
        """The relaxed cohort as a change to the best matching's network; None when it cannot be read off here (then
        solve it in full). With a `key` naming the relaxation, the answer is kept for the next person who asks."""
        if key is not None and key in self._changes:
            return self._changes[key]
        found = self._change(relaxed)
        if key is not None:
            self._changes[key] = found
        return found

    def _change(self, relaxed: Cohort) -> Relaxed | None:
        delta = self._delta(relaxed)
        if delta is None:
            return None
        ctx = self.ctx
        empty = np.zeros(0, dtype=np.int64)
        new, new_score, rescored_rows, rescored = _no_pairs(), empty, empty, empty
        arrays = ctx.arrays
        if len(delta.mentees) or len(delta.mentors):
            arrays = self.relaxed_arrays(relaxed, delta.mentees, delta.mentors)
            changed = _changed_columns(ctx.arrays, arrays)
            # Only a rule whose columns changed can now allow a pair that failed it, and it alone.
            near = self.near.select(delta.mentees, delta.mentors, _rules_reading(changed))
            if near is None:
                return None
            # Allowed now: read from the pairs' people alone, then only those pairs taken out whole.
            allowed = _allowed(arrays, np.concatenate([pairs.mentee[at] for pairs, at in near]),
                               np.concatenate([pairs.mentor[at] for pairs, at in near]))
            bounds = np.cumsum([0] + [len(at) for _, at in near])
            new = _concat([pairs.take(at[allowed[lo:hi]]) for (pairs, at), lo, hi
                           in zip(near, bounds[:-1], bounds[1:], strict=True)])
            # Relaxations only loosen (`codes.apply_relaxation`): every pair allowed before still is; the scores of
            # those in a changed row or column move when her limits, her depth or his goals do.
            rescore_rows = len(changed & _TRAVEL_FIELD) > 0
            rescore_columns = len(changed & _GOAL) > 0
            rows = self._rows_of(delta.mentees if rescore_rows else delta.mentees[:0],
                                 delta.mentors if rescore_columns else delta.mentors[:0])
            model = ctx.result.model
            scores = self._rescore(relaxed, arrays, model.mentee[rows], model.mentor[rows], model.score[rows],
                                   (self.row_travel[rows], self.row_field[rows], self.row_goal[rows]),
                                   (self.row_km[rows], self.row_minutes[rows], self.row_digits[rows]), delta)
            moved = scores != model.score[rows]
            rescored_rows, rescored = rows[moved], scores[moved]
            new_score = self._rescore(relaxed, arrays, new.mentee, new.mentor, new.score,
                                      (new.travel, new.field, new.goal), (new.km, new.minutes, new.digits), delta)
        change = FlowChange(new_mentee=new.mentee, new_mentor=new.mentor, new_score=new_score,
                            rescored_rows=rescored_rows, rescored=rescored, capacity=delta.capacity,
                            org_caps=delta.org_caps, quotas=delta.quotas)
        return Relaxed(relaxed, arrays, change, new.rank)

    def _rows_of(self, mentees: IntArray, mentors: IntArray) -> IntArray:
        """Model rows (allowed pairs) in these mentees' rows or these mentors' columns."""
        model, arrays = self.ctx.result.model, self.ctx.arrays
        touched = _marks(arrays.n_mentees, mentees)[model.mentee] | _marks(arrays.n_mentors, mentors)[model.mentor]
        return np.flatnonzero(touched).astype(np.int64)

    def _rescore(self, relaxed: Cohort, arrays: CohortArrays, mentee: IntArray, mentor: IntArray, score: IntArray,
                 points: tuple[IntArray, IntArray, IntArray], facts: tuple[FloatArray, FloatArray, IntArray],
                 delta: _Delta) -> IntArray:
        """The pairs' scores under the relaxed rules: the baseline's, with TRAVEL, FIELD and GOAL recomputed."""
        w_travel, w_field, w_goal = self.weights
        travel, field, goal = points
        km, minutes, digits = facts
        score = score.copy()
        in_rows = _marks(arrays.n_mentees, delta.mentees)[mentee]
        if in_rows.any():
            a = mentee[in_rows]
            score[in_rows] += (w_travel * (travel_points(arrays, a, km[in_rows], minutes[in_rows]) - travel[in_rows])
                               + w_field * (field_points(arrays, a, digits[in_rows]) - field[in_rows]))
        in_columns = _marks(arrays.n_mentors, delta.mentors)[mentor]
        if in_columns.any():
            score[in_columns] += w_goal * (goal_points(relaxed, mentee[in_columns], mentor[in_columns])
                                           - goal[in_columns])
        return score


# The columns each hard rule reads (`solver.candidates.rule_masks`), by rule index in HardRule order.
_RULE_COLUMNS: dict[HardRule, tuple[str, ...]] = {
    HardRule.ELIGIBILITY: ("mentee_eligible", "mentee_min_years", "mentor_years"),
    HardRule.AVAILABILITY: ("mentor_available",),
    HardRule.FIELD: ("mentee_field_depth", "mentee_by_family", "mentee_families", "mentor_families",
                     "mentee_occupations", "mentor_occupations"),
    HardRule.DISTANCE: ("mentee_limit_km", "mentee_limit_minutes", "mentee_online", "mentor_online",
                        "travel_keys", "travel_minutes"),
    HardRule.LANGUAGE: ("mentee_languages", "mentee_language_level", "mentor_languages_by_level"),
    HardRule.GENDER: ("mentee_requested_gender", "mentor_gender"),
    HardRule.GOAL: ("mentee_goal_bits", "mentor_goal_bits"),
    HardRule.CHOICE: ("mentee_choice", "mentee_ranked_keys", "mentor_ranked_keys"),
    HardRule.CONFLICT: ("mentor_org", "avoid_keys"),
    HardRule.REPEAT: ("repeat_keys",),
    HardRule.BAN: ("banned_keys",),
}
_READ = frozenset(name for names in _RULE_COLUMNS.values() for name in names)


_TRAVEL_FIELD = frozenset({"mentee_limit_km", "mentee_limit_minutes", "mentee_field_depth"})  # what moves the points
_GOAL = frozenset({"mentor_goal_bits"})


def _changed_columns(before: CohortArrays, after: CohortArrays) -> set[str]:
    return {f.name for f in fields(before) if f.name != "cache" and getattr(before, f.name) is not
            getattr(after, f.name) and not _equal(getattr(before, f.name), getattr(after, f.name))}


def _rules_reading(changed: set[str]) -> IntArray:
    """Indices (HardRule order) of the rules that read a changed column; every rule when another column changed."""
    if not changed <= _READ:
        return np.arange(len(HardRule), dtype=np.int64)
    return np.array([k for k, rule in enumerate(HardRule) if set(_RULE_COLUMNS[rule]) & changed], dtype=np.int64)


def _equal(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return a == b


_PERSONAL = ("max_travel_km", "max_travel_minutes", "requested_mentor_gender", "online")


def _personal(mentee: Mentee) -> dict[str, float | int]:
    """Her own values that her rules' columns read: personal limits (NaN: none), gender request, online."""
    return {"max_travel_km": math.nan if mentee.max_travel_km is None else mentee.max_travel_km,
            "max_travel_minutes": math.nan if mentee.max_travel_minutes is None else mentee.max_travel_minutes,
            "requested_mentor_gender": _GENDER.get(mentee.requested_mentor_gender, 0), "online": int(mentee.online)}


def _changes_within(old: Mentee | Mentor, new: Mentee | Mentor, allowed: frozenset[str]) -> bool:
    return all(f.name in allowed or _same(getattr(old, f.name), getattr(new, f.name)) for f in fields(old))


def _eligible(people: list[Mentee] | tuple[Mentee, ...], rules: Rules) -> BoolArray:
    municipalities, tracks = set(rules.eligible_municipalities), set(rules.eligible_tracks)
    return np.array([(not municipalities or p.municipality in municipalities) and (not tracks or p.track in tracks)
                     for p in people], dtype=np.bool_)


def _marks(size: int, people: IntArray) -> BoolArray:
    """Which of `size` people are among `people` (a lookup table: `np.isin` sorts both sides each time)."""
    out = np.zeros(size, dtype=np.bool_)
    out[people] = True
    return out


def _allowed(arrays: CohortArrays, mentee: IntArray, mentor: IntArray) -> BoolArray:
    ok = np.ones(len(mentee), dtype=np.bool_)
    if len(mentee):
        for mask in rule_masks(arrays, mentee, mentor).values():
            ok &= mask
    return ok

"""What explaining needs, computed once: the solve result keyed for lookups, one person against the other side."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt

from solver.candidates import BoolArray, FloatArray, HardRule, IntArray, field_digits, pair_travel, rule_masks
from solver.data import builtin_field_families
from solver.domain import FieldFamily, Mentee, MenteeRules, Mentor, ObjectiveMode
from solver.explain.codes import Side
from solver.explain.relaxed import FULL_SCAN_PAIRS, Relaxer
from solver.explain.types import ExplainOptions, NearMiss
from solver.reopt import Reoptimiser
from solver.scores import MAX_POINTS, score_columns
from solver.solve import Matching, SolveOptions, SolveResult, SolveStatus

REOPT_MAX_ROWS = 500_000
"""Up to this many candidate pairs, re-solves re-optimise the best matching's flow in process; beyond, they are full
solves, whose big flows run in a child process the stop can end (`solver.flow`)."""

# The context ------------------------------------------------------------------------------------------

_T = TypeVar("_T")


class _once(Generic[_T]):
    """A property computed on first read and then kept in the instance: `functools.cached_property` without its lock
    (in Python 3.11 one per property, shared by every instance: a fork for shared re-solves could copy it held by
    another thread)."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> _once[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> _T: ...
    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> _once[_T] | _T:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


class ExplainContext:
    """What explaining one solve result needs, computed once."""

    def __init__(self, result: SolveResult, options: ExplainOptions) -> None:
        self.result = result
        self.candidates = result.candidates
        self.cohort = result.candidates.cohort
        self.arrays = result.candidates.arrays
        self.explain_options = options
        self.solve_options = _resolve_options(result.options)
        best = result.best
        self.objective_value = best.objective.value if best is not None else 0
        self.matched = best.objective.matched if best is not None else 0
        self.total_score = best.objective.total_score if best is not None else 0
        self.big = result.model.big
        self.seat_costs = result.model.mentor_seat_costs
        self.mentee_index = self.cohort.mentee_index()
        self.mentor_index = self.cohort.mentor_index()
        # Per person (capacities, priorities, years, languages by level, her rules): made on first use (the
        # cached properties below), since pair explanations alone (PAIRS) read none of them.
        self._ranks: dict[tuple[str, str], int] | None = None

        # The candidate table, keyed for lookups: allowed partners and their scores without rescoring.
        candidates = self.candidates
        m = max(1, self.arrays.n_mentors)
        table_mentee, table_mentor = candidates.mentee, candidates.mentor
        keys = table_mentee * m + table_mentor
        order = np.argsort(keys, kind="stable")
        self.table_keys = keys[order]
        self.table_scores = candidates.score[order]
        self.table_mentee = table_mentee[order]
        self.table_mentor = table_mentor[order]
        self.by_mentor = np.argsort(self.table_mentor, kind="stable")
        self.mentor_sorted = self.table_mentor[self.by_mentor]
        self.near_misses: dict[tuple[Side, int], tuple[NearMiss, ...]] = {}
        self.views: dict[tuple[Side, int], PersonView] = {}  # unscored, by person (`person_view`)
        self._families: dict[tuple[str, ...], list[str]] = {}
        self._family_prefixes: dict[str, set[int]] | None = None
        self._reoptimiser: Reoptimiser | bool | None = False  # False: not built yet
        self._relaxer: Relaxer | None = None
        self._best_keys: frozenset[int] | None = None
        self.solved: dict[Hashable, Any] = {}  # full re-solves by the relaxation they solved (counterfactual.Resolved)

    @_once
    def best_pairs(self) -> frozenset[tuple[str, str]]:
        """The best matching's pairs as (mentee id, mentor id)."""
        best = self.result.best
        return frozenset(best.pairs(self.candidates)) if best is not None else frozenset()

    @_once
    def capacity(self) -> IntArray:
        return np.array([max(p.capacity, 0) for p in self.cohort.mentors], dtype=np.int64)

    @_once
    def priority(self) -> IntArray:
        return np.array(self.cohort.priorities(), dtype=np.int64)

    @_once
    def years(self) -> FloatArray:
        return np.array([p.years_experience for p in self.cohort.mentors], dtype=np.float64)

    @_once
    def language_codes(self) -> list[str]:
        """Every language code anyone gives, sorted: the columns of `mentee_levels` and `mentor_levels`."""
        people: list[Mentee | Mentor] = [*self.cohort.mentees, *self.cohort.mentors]
        return sorted({lang.code for p in people for lang in p.languages})

    @_once
    def mentee_levels(self) -> npt.NDArray[np.int64]:
        return _level_matrix(self.cohort.mentees, self.language_codes)

    @_once
    def mentor_levels(self) -> npt.NDArray[np.int64]:
        return _level_matrix(self.cohort.mentors, self.language_codes)

    @_once
    def mentee_rules(self) -> list[MenteeRules]:
        """Her rules: the programme's with her segment's overrides (README: Her rules)."""
        rules = self.cohort.rules
        return [rules.for_mentee(p) for p in self.cohort.mentees]

    @_once
    def field_families(self) -> tuple[FieldFamily, ...]:
        return self.cohort.rules.field_families or builtin_field_families()

    def reoptimiser(self) -> Reoptimiser | None:
        """The best matching as an optimal flow that re-solves re-optimise (`solver.reopt`), built on first use;
        None where the flow is not the whole model: another mode than score, stability, extra constraints, a
        binding gender quota, or a best matching not proven optimal. Then every re-solve is a full solve."""
        if self._reoptimiser is False:
            self._reoptimiser = _build_reoptimiser(self)
        return self._reoptimiser if isinstance(self._reoptimiser, Reoptimiser) else None

    def best_keys(self) -> frozenset[int]:
        """The best matching's pairs as keys mentee x max(1, mentors) + mentor (indices of the cohort)."""
        if self._best_keys is None:
            best, m = self.result.best, max(1, self.arrays.n_mentors)
            rows = best.rows if best is not None else np.zeros(0, dtype=np.int64)
            self._best_keys = frozenset((self.candidates.mentee[rows].astype(np.int64) * m
                                         + self.candidates.mentor[rows].astype(np.int64)).tolist())
        return self._best_keys

    def relaxer(self) -> Relaxer:
        """Relaxed cohorts read off this baseline as changes to the network (`relaxed.Relaxer`)."""
        if self._relaxer is None:
            self._relaxer = Relaxer(self)
        return self._relaxer

    def rank(self, from_id: str, to_id: str) -> int:
        """How `from_id` ranked `to_id` at the speed-dating (1 = first choice); 0 when not ranked."""
        if self._ranks is None:
            self._ranks = {}
            for r in self.cohort.rankings:
                key = (r.from_id, r.to_id)
                self._ranks[key] = min(self._ranks.get(key, r.rank), r.rank)
        return self._ranks.get((from_id, to_id), 0)

    def families_of(self, occupations: Sequence[str]) -> list[str]:
        """The field families (ids, in file order) that one of these occupations belongs to."""
        key = tuple(occupations)
        found = self._families.get(key)
        if found is None:
            if self._family_prefixes is None:  # prefix -> the families (by position) that list it
                self._family_prefixes = {}
                for k, family in enumerate(self.field_families):
                    for prefix in family.prefixes:
                        self._family_prefixes.setdefault(prefix, set()).add(k)
            by_prefix, longest = self._family_prefixes, max(map(len, self._family_prefixes), default=0)
            hits = {k for code in occupations for n in range(1, min(len(code), longest) + 1)
                    for k in by_prefix.get(code[:n], ())}
            hits |= {k for k, f in enumerate(self.field_families) if "" in f.prefixes}
            found = self._families[key] = [self.field_families[k].id for k in sorted(hits)]
        return found

    def common_level(self, a: int, b: int, codes: Sequence[str] = ()) -> tuple[str, int]:
        """(code, level) of the pair's best common language, among `codes` when given; ("", 0) when none."""
        common = np.minimum(self.mentee_levels[a], self.mentor_levels[b])
        if codes:
            common = np.where(np.isin(np.array(self.language_codes or [""]), np.array(list(codes))), common, 0)
        if not self.language_codes or int(common.max()) <= 0:
            return "", 0
        return self.language_codes[int(common.argmax())], int(common.max())

    def scores(self, mentee: IntArray, mentor: IntArray) -> IntArray:
        """Baseline scores of any pairs: from the candidate table, and by one `score_pairs` call for the rest."""
        out = np.zeros(len(mentee), dtype=np.int64)
        if len(mentee) == 0:
            return out
        keys = mentee * max(1, self.arrays.n_mentors) + mentor
        found = np.zeros(len(keys), dtype=np.bool_)
        if len(self.table_keys):
            pos = np.minimum(np.searchsorted(self.table_keys, keys), len(self.table_keys) - 1)
            found = self.table_keys[pos] == keys
            out[found] = self.table_scores[pos[found]]
        missing = np.flatnonzero(~found)
        if len(missing) and self._relaxer is not None and self._relaxer.near.dense_score is not None:
            out[missing] = self._relaxer.near.dense_score[mentee[missing], mentor[missing]]
            return out
        if len(missing) and self._relaxer is not None:  # pairs the re-solves examined: known already
            near_keys, near_scores = self._relaxer.near.baseline_scores()
            if len(near_keys):
                pos = np.minimum(np.searchsorted(near_keys, keys[missing]), len(near_keys) - 1)
                known = near_keys[pos] == keys[missing]
                out[missing[known]] = near_scores[pos[known]]
                missing = missing[~known]
        if len(missing):
            scored = score_columns(self.cohort, self.arrays, mentee[missing], mentor[missing])  # numpy: see relaxed
            out[missing] = np.asarray(scored["score"]).astype(np.int64)
        return out

    def allowed_partners(self, side: Side, index: int) -> tuple[IntArray, IntArray]:
        """(partner indices, pair scores) of the person's allowed pairs, from the candidate table."""
        if side is Side.MENTEE:
            lo, hi = np.searchsorted(self.table_mentee, [index, index + 1])
            return self.table_mentor[lo:hi], self.table_scores[lo:hi]
        lo, hi = np.searchsorted(self.mentor_sorted, [index, index + 1])
        rows = self.by_mentor[lo:hi]
        return self.table_mentee[rows], self.table_scores[rows]


def _level_matrix(people: Sequence[Mentee | Mentor], codes: list[str]) -> npt.NDArray[np.int64]:
    column = {code: k for k, code in enumerate(codes)}
    levels = np.zeros((len(people), max(1, len(codes))), dtype=np.int64)
    for i, person in enumerate(people):
        for lang in person.languages:
            levels[i, column[lang.code]] = max(levels[i, column[lang.code]], lang.level)
    return levels


def _build_reoptimiser(ctx: ExplainContext) -> Reoptimiser | None:
    options, best = ctx.result.options, ctx.result.best
    if (options.mode is not ObjectiveMode.SCORE or options.stable or options.extra_constraints is not None
            or options.synthetic_scores or best is None or best.status is not SolveStatus.OPTIMAL):
        return None
    weights = ctx.cohort.rules.weights.as_dict().values()
    if ctx.result.model.n_rows > REOPT_MAX_ROWS:
        return None
    return Reoptimiser.build(ctx.result.model, best.rows, MAX_POINTS * sum(max(w, 0) for w in weights),
                             stop=ctx.explain_options.stop)


def _resolve_options(options: SolveOptions) -> SolveOptions:
    # `solve` folds `stable` into `extra_constraints`, so options read back from a result already carry it.
    stable = options.stable and options.extra_constraints is None
    return replace(options, alternatives=1, on_progress=None, stable=stable)

# One person against the other side --------------------------------------------------------------------


@dataclass(frozen=True)
class PersonView:
    """One person against everyone on the other side: one entry per partner."""

    side: Side
    index: int
    person_id: str
    mentee: IntArray
    mentor: IntArray
    partner: IntArray  # the partner's index on the other side
    masks: dict[HardRule, BoolArray]
    allowed: BoolArray
    room: BoolArray  # the pair could be used at all: the mentor's capacity is above 0
    km: FloatArray
    minutes: FloatArray
    digits: IntArray
    language: IntArray  # best common CEFR level over shared language codes (0 = none shared)
    score: IntArray  # baseline pair scores (zeros when built without them)

    def partner_id(self, ctx: ExplainContext, k: int) -> str:
        people = ctx.cohort.mentors if self.side is Side.MENTEE else ctx.cohort.mentees
        return people[int(self.partner[k])].id


def person_view(ctx: ExplainContext, side: Side, index: int, *, scored: bool = True) -> PersonView:
    n, m = ctx.arrays.n_mentees, ctx.arrays.n_mentors
    if scored and ctx.reoptimiser() is not None and n * m <= FULL_SCAN_PAIRS:
        ctx.relaxer().near.scan_all()  # re-solves come next: every pair scored once, for them and for this
    view = ctx.views.get((side, index))
    if view is None:  # the rules of one row or column, once per explanation (every matching asks again)
        if side is Side.MENTEE:
            mentor = np.arange(m, dtype=np.int64)
            mentee = np.full(m, index, dtype=np.int64)
            partner = mentor
            person_id = ctx.cohort.mentees[index].id
        else:
            mentee = np.arange(n, dtype=np.int64)
            mentor = np.full(n, index, dtype=np.int64)
            partner = mentee
            person_id = ctx.cohort.mentors[index].id
        masks = rule_masks(ctx.arrays, mentee, mentor)
        allowed_mask = np.ones(len(mentee), dtype=np.bool_)
        for mask in masks.values():
            allowed_mask &= mask
        km, minutes = pair_travel(ctx.arrays, mentee, mentor)
        language = (np.minimum(ctx.mentee_levels[mentee], ctx.mentor_levels[mentor]).max(axis=1)
                    if len(mentee) else np.zeros(0, dtype=np.int64))
        view = PersonView(
            side=side, index=index, person_id=person_id, mentee=mentee, mentor=mentor, partner=partner,
            masks=masks, allowed=allowed_mask, room=ctx.capacity[mentor] > 0, km=km, minutes=minutes,
            digits=field_digits(ctx.arrays, mentee, mentor).astype(np.int64), language=language.astype(np.int64),
            score=np.zeros(len(mentee), dtype=np.int64))
        if n * m <= FULL_SCAN_PAIRS:  # kept in a small cohort only: a view holds a whole row
            ctx.views[(side, index)] = view
    return replace(view, score=ctx.scores(view.mentee, view.mentor)) if scored else view


@dataclass(frozen=True)
class MatchingState:
    """Who is matched with whom in one matching."""

    partner_of_mentee: IntArray  # mentor index or -1
    load: IntArray
    mentees_of_mentor: dict[int, list[int]]
    score_of_mentee: IntArray  # the pair score of each matched mentee


def matching_state(ctx: ExplainContext, matching: Matching) -> MatchingState:
    candidates = ctx.candidates
    rows = matching.rows
    mentee, mentor, score = candidates.mentee[rows], candidates.mentor[rows], candidates.score[rows]
    partner = np.full(ctx.arrays.n_mentees, -1, dtype=np.int64)
    partner[mentee] = mentor
    scores = np.zeros(ctx.arrays.n_mentees, dtype=np.int64)
    scores[mentee] = score
    by_mentor: dict[int, list[int]] = {}
    for a, b in sorted(zip(mentee.tolist(), mentor.tolist(), strict=True)):
        by_mentor.setdefault(b, []).append(a)
    return MatchingState(partner, np.bincount(mentor, minlength=ctx.arrays.n_mentors).astype(np.int64), by_mentor, scores)

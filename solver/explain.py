"""Explanations a coordinator can act on: why each pair, why each unmatched, what would change it, why not a pair."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass, replace
from enum import Enum, StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from ortools.sat.python import cp_model

from solver.candidates import (
    BoolArray,
    CohortArrays,
    FloatArray,
    HardRule,
    IntArray,
    field_digits,
    funnel,
    haversine_km,
    pair_travel,
    rule_masks,
)
from solver.domain import Cohort, Goal, Mentee, Mentor, Track, cefr_level, cefr_name
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.scores import TERMS, CandidatePairs, Term, score_pairs
from solver.solve import (
    AssignmentModel,
    Matching,
    SolveOptions,
    SolveResult,
    SolveStatus,
    chain_constraints,
    solve,
)
from solver.stability import StabilityAudit, audit

ExtraConstraints = Callable[[cp_model.CpModel, Sequence[cp_model.IntVar], AssignmentModel], None]


# Codes ------------------------------------------------------------------------------------------------


class Side(StrEnum):
    MENTEE = "mentee"
    MENTOR = "mentor"


class UnmatchedReason(StrEnum):
    """Why a participant has no partner. A fixed list: codes keep their meaning (docs/explanations.md).

    The hard-rule codes name the rule where the elimination funnel ends at zero partners.
    """

    # Either side.
    NOT_ELIGIBLE = "NOT_ELIGIBLE"  # funnel ends at ELIGIBILITY: the person is not eligible, or no partner is
    ALL_BANNED = "ALL_BANNED"  # funnel ends at BAN: every partner left by the other rules is banned
    SIDE_CONSTRAINTS = "SIDE_CONSTRAINTS"  # an allowed partner had room; a side constraint kept them apart
    # Mentees.
    NO_MENTORS = "NO_MENTORS"  # the cohort has no mentors
    NO_SHARED_FIELD = "NO_SHARED_FIELD"  # funnel ends at FIELD
    NO_MENTOR_WITHIN_DISTANCE = "NO_MENTOR_WITHIN_DISTANCE"  # funnel ends at DISTANCE
    NO_COMMON_LANGUAGE = "NO_COMMON_LANGUAGE"  # funnel ends at LANGUAGE
    GENDER_REQUEST_UNMET = "GENDER_REQUEST_UNMET"  # funnel ends at GENDER
    NO_MENTOR_CAPACITY = "NO_MENTOR_CAPACITY"  # allowed mentors exist, all with capacity 0
    CANDIDATES_ALL_TAKEN = "CANDIDATES_ALL_TAKEN"  # allowed mentors exist, all full with other mentees
    # Mentors left with no mentee at all.
    NO_MENTEES = "NO_MENTEES"  # the cohort has no mentees
    NO_CAPACITY = "NO_CAPACITY"  # the mentor's capacity is 0
    NO_MENTEE_IN_FIELD = "NO_MENTEE_IN_FIELD"  # funnel ends at FIELD
    NO_MENTEE_WITHIN_DISTANCE = "NO_MENTEE_WITHIN_DISTANCE"  # funnel ends at DISTANCE
    NO_MENTEE_WITH_COMMON_LANGUAGE = "NO_MENTEE_WITH_COMMON_LANGUAGE"  # funnel ends at LANGUAGE
    NO_MENTEE_ACCEPTS_GENDER = "NO_MENTEE_ACCEPTS_GENDER"  # funnel ends at GENDER
    MENTEES_ALL_TAKEN = "MENTEES_ALL_TAKEN"  # allowed mentees exist, all matched to other mentors


_RULE_REASON: dict[Side, dict[HardRule, UnmatchedReason]] = {
    Side.MENTEE: {
        HardRule.ELIGIBILITY: UnmatchedReason.NOT_ELIGIBLE,
        HardRule.FIELD: UnmatchedReason.NO_SHARED_FIELD,
        HardRule.DISTANCE: UnmatchedReason.NO_MENTOR_WITHIN_DISTANCE,
        HardRule.LANGUAGE: UnmatchedReason.NO_COMMON_LANGUAGE,
        HardRule.GENDER: UnmatchedReason.GENDER_REQUEST_UNMET,
        HardRule.BAN: UnmatchedReason.ALL_BANNED,
    },
    Side.MENTOR: {
        HardRule.ELIGIBILITY: UnmatchedReason.NOT_ELIGIBLE,
        HardRule.FIELD: UnmatchedReason.NO_MENTEE_IN_FIELD,
        HardRule.DISTANCE: UnmatchedReason.NO_MENTEE_WITHIN_DISTANCE,
        HardRule.LANGUAGE: UnmatchedReason.NO_MENTEE_WITH_COMMON_LANGUAGE,
        HardRule.GENDER: UnmatchedReason.NO_MENTEE_ACCEPTS_GENDER,
        HardRule.BAN: UnmatchedReason.ALL_BANNED,
    },
}


class Relaxation(StrEnum):
    """One change to the rules or to one participant that can make an unmatched person matchable."""

    PERSONAL_DISTANCE_KM = "PERSONAL_DISTANCE_KM"  # a mentee's own km limit
    PROGRAMME_DISTANCE_KM = "PROGRAMME_DISTANCE_KM"  # rules.max_distance_km
    PERSONAL_TRAVEL_MINUTES = "PERSONAL_TRAVEL_MINUTES"  # a mentee's own minutes limit
    PROGRAMME_TRAVEL_MINUTES = "PROGRAMME_TRAVEL_MINUTES"  # rules.max_travel_minutes
    FIELD_DEPTH = "FIELD_DEPTH"  # rules.field_depth, lowered
    LANGUAGE_LEVEL = "LANGUAGE_LEVEL"  # rules.min_language_level, lowered
    LIFT_GENDER_REQUEST = "LIFT_GENDER_REQUEST"  # a mentee's requested mentor gender, dropped
    MENTOR_YEARS = "MENTOR_YEARS"  # rules.min_mentor_years, lowered
    ADD_MUNICIPALITY = "ADD_MUNICIPALITY"  # one more eligible municipality
    ADD_TRACK = "ADD_TRACK"  # one more eligible track
    LIFT_BAN = "LIFT_BAN"  # one coordinator ban removed
    MENTOR_CAPACITY = "MENTOR_CAPACITY"  # one mentor takes one more mentee

    @property
    def rule(self) -> HardRule | None:
        return _RELAXATION_RULE[self]

    @property
    def personal(self) -> bool:
        """True when it changes one participant or one pair, not the programme's rules for everyone."""
        return self in _PERSONAL


_RELAXATION_RULE: dict[Relaxation, HardRule | None] = {
    Relaxation.PERSONAL_DISTANCE_KM: HardRule.DISTANCE,
    Relaxation.PROGRAMME_DISTANCE_KM: HardRule.DISTANCE,
    Relaxation.PERSONAL_TRAVEL_MINUTES: HardRule.DISTANCE,
    Relaxation.PROGRAMME_TRAVEL_MINUTES: HardRule.DISTANCE,
    Relaxation.FIELD_DEPTH: HardRule.FIELD,
    Relaxation.LANGUAGE_LEVEL: HardRule.LANGUAGE,
    Relaxation.LIFT_GENDER_REQUEST: HardRule.GENDER,
    Relaxation.MENTOR_YEARS: HardRule.ELIGIBILITY,
    Relaxation.ADD_MUNICIPALITY: HardRule.ELIGIBILITY,
    Relaxation.ADD_TRACK: HardRule.ELIGIBILITY,
    Relaxation.LIFT_BAN: HardRule.BAN,
    Relaxation.MENTOR_CAPACITY: None,
}
_PERSONAL = frozenset({Relaxation.PERSONAL_DISTANCE_KM, Relaxation.PERSONAL_TRAVEL_MINUTES,
                       Relaxation.LIFT_GENDER_REQUEST, Relaxation.LIFT_BAN, Relaxation.MENTOR_CAPACITY})


# Plain data -------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-ready data: dataclasses to dicts (by their own `to_dict`), enums to their codes, tuples to lists,
    non-finite floats to None."""
    if isinstance(value, _ToDict | StabilityAudit):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}


class _ToDict:
    def to_dict(self) -> dict[str, Any]:
        """The dataclass fields as JSON-ready data: exactly the fields, so every transport maps the same."""
        return _fields(self)


@dataclass(frozen=True)
class TermPoints(_ToDict):
    """One soft term's share of a pair's score, with the facts behind it."""

    term: Term
    points: int  # weighted: weight * raw_points; the pair's score is the sum over terms
    raw_points: int  # 0..100
    weight: int
    facts: tuple[str, ...]


@dataclass(frozen=True)
class PairExplanation(_ToDict):
    """Why this pair: each weighted term's points and facts (largest first), and one readable sentence."""

    mentee_id: str
    mentor_id: str
    score: int
    allowed: bool  # False for a hypothetical pair the hard rules forbid (why-not)
    terms: tuple[TermPoints, ...]
    sentence: str


@dataclass(frozen=True)
class Shortfall(_ToDict):
    """How far a pair is from passing one hard rule."""

    rule: HardRule
    amount: float | None  # in `unit`; None when no amount applies (a ban, a gender, no common language)
    unit: str  # "km", "minutes", "ISCO digits", "CEFR levels", "years" or ""
    detail: str


@dataclass(frozen=True)
class RuleCheck(_ToDict):
    """One hard rule applied to one pair: passed or not, with the facts."""

    rule: HardRule
    passed: bool
    facts: tuple[str, ...]
    shortfall: Shortfall | None  # None when passed


@dataclass(frozen=True)
class FunnelStep(_ToDict):
    rule: HardRule
    removed: int  # partners this rule removed from those left by the rules before it
    remaining: int


@dataclass(frozen=True)
class Funnel(_ToDict):
    """How the other side narrows, rule by rule in `HardRule` order, to one person's allowed partners."""

    partners: int  # everyone on the other side
    steps: tuple[FunnelStep, ...]
    allowed: int  # partners that pass every rule
    with_capacity: int  # allowed partners that can take anyone (mentors with capacity > 0)
    free: int  # allowed partners with room left in the matching (mentors below capacity; unmatched mentees)

    @property
    def ends_at(self) -> HardRule | None:
        """The rule after which no partner remains; None when partners remain (or there were none)."""
        for step in self.steps:
            if step.remaining == 0:
                return step.rule if step.removed > 0 else None
        return None


@dataclass(frozen=True)
class Reason(_ToDict):
    code: UnmatchedReason
    rule: HardRule | None  # the hard rule behind the code, when there is one
    message: str


@dataclass(frozen=True)
class NearMiss(_ToDict):
    """A partner that failed by little: the rules it failed and by how much."""

    partner_id: str
    failed: tuple[Shortfall, ...]
    score: int  # the pair's score if it were allowed


@dataclass(frozen=True)
class TakenBy(_ToDict):
    """An allowed partner of an unmatched person, and whom the matching gave that partner instead."""

    partner_id: str
    score: int  # the unmatched person's score with this partner
    taken_by: tuple[str, ...]  # the partner's partners in the matching
    scores: tuple[int, ...]  # their pair scores, aligned with taken_by


@dataclass(frozen=True)
class Impact(_ToDict):
    """The effect of a change (a forced person or pair, a relaxation) on the best matching, after re-solving.

    Objectives are in the baseline's terms: pair scores from the baseline's rules and weights, and the
    baseline's weight of one matched mentee, so that only the change of matching shows.
    """

    status: SolveStatus
    person_matched: bool | None  # None when the change concerns a pair, not a person
    partners: tuple[str, ...]  # the person's partners after the change
    matched_before: int
    matched_after: int | None  # None when the re-solve found no matching
    total_score_before: int
    total_score_after: int | None
    objective_before: int
    objective_after: int | None
    pairs_removed: tuple[tuple[str, str], ...]  # best-matching pairs the change breaks
    pairs_added: tuple[tuple[str, str], ...]

    @property
    def objective_change(self) -> int | None:
        return None if self.objective_after is None else self.objective_after - self.objective_before

    @property
    def matched_change(self) -> int | None:
        return None if self.matched_after is None else self.matched_after - self.matched_before

    @property
    def total_score_change(self) -> int | None:
        return None if self.total_score_after is None else self.total_score_after - self.total_score_before

    @property
    def pairs_changed(self) -> int:
        return len(self.pairs_removed)

    def summary(self) -> str:
        if self.matched_after is None or self.total_score_after is None:
            return f"no matching ({self.status.value})"
        return (f"matched {self.matched_before} -> {self.matched_after}, total score "
                f"{_signed(self.total_score_after - self.total_score_before)}, "
                f"{self.pairs_changed} pair(s) changed")


@dataclass(frozen=True)
class Counterfactual(_ToDict):
    """A single relaxation that makes a person matchable, and what re-solving with it does.

    `matchable_at` is exact: the smallest change under which the person has an allowed partner with room
    (a new one, when she had some already). `proposed` is the smallest of the values tried, in order from
    `matchable_at`, under which the re-solved best matching matches her; when none of them does,
    `proposed` is the last value tried and `person_matched` is False.
    """

    person_id: str
    relaxation: Relaxation
    rule: HardRule | None
    subject_id: str  # whose attribute changes (a mentee, a mentor); "" for a programme rule
    current: str
    matchable_at: str
    proposed: str  # what `apply_relaxation` applies
    new_partners: tuple[str, ...]  # partners allowed at `proposed` that were not before
    person_matched: bool
    effect: Impact | None  # None when the re-solve budget ran out
    values_tried: int
    sentence: str

    def apply(self, cohort: Cohort) -> Cohort:
        return apply_relaxation(cohort, self.relaxation, self.subject_id, self.proposed)


@dataclass(frozen=True)
class UnmatchedExplanation(_ToDict):
    """Why one participant has no partner, and what would change it."""

    person_id: str
    side: Side
    reasons: tuple[Reason, ...]  # the first is the primary reason
    funnel: Funnel
    nearest_misses: tuple[NearMiss, ...]
    taken_by: tuple[TakenBy, ...]  # for *_ALL_TAKEN and SIDE_CONSTRAINTS: where the allowed partners went
    forced_in: Impact | None  # the best matching with this person forced in (best matching only, within budget)
    counterfactuals: tuple[Counterfactual, ...]  # best first
    notes: tuple[str, ...]


@dataclass(frozen=True)
class RecruitmentAdvice(_ToDict):
    """A mentor profile that would reach the most (remaining) unmatched mentees."""

    isco_group: str  # the ISCO prefix at the programme's field depth ("" = any field)
    example_occupation: str  # the most common 4-digit code among the mentees reached
    language: str  # ISO 639-1
    min_level: str  # CEFR level the mentor needs in it
    gender: str  # "" = any; set when some mentees reached asked for this gender
    lat: float
    lon: float
    radius_km: float | None  # a workplace within this distance of (lat, lon) reaches every mentee listed; None = anywhere
    mentees: tuple[str, ...]
    sentence: str


@dataclass(frozen=True)
class MatchingExplanation(_ToDict):
    rank: int
    pairs: tuple[PairExplanation, ...]
    unmatched_mentees: tuple[UnmatchedExplanation, ...]
    mentors_without_mentee: tuple[UnmatchedExplanation, ...]
    stability: StabilityAudit


@dataclass(frozen=True)
class Explanation(_ToDict):
    matchings: tuple[MatchingExplanation, ...]
    recruitment: tuple[RecruitmentAdvice, ...]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class PairVerdict(_ToDict):
    """Why not these two: the hard rules that forbid the pair, or what forcing it would cost."""

    mentee_id: str
    mentor_id: str
    allowed: bool
    failed_rules: tuple[HardRule, ...]
    checks: tuple[RuleCheck, ...]  # every hard rule, in funnel order
    already_matched: bool
    mentee_partner: str | None  # the mentee's mentor in the best matching
    mentor_mentees: tuple[str, ...]  # the mentor's mentees in the best matching
    explanation: PairExplanation  # the soft terms, also for a forbidden pair
    forced: Impact | None  # re-solved with the pair pinned; None when forbidden or already matched
    forcing_cost: int | None  # objective(best) - objective(best with the pair pinned)
    sentence: str


@dataclass(frozen=True)
class ExplainOptions:
    nearest_misses: int = 3
    taken_by: int = 5
    max_people: int = 20  # unmatched people of the best matching that get re-solves (forced in, counterfactuals)
    values_per_relaxation: int = 3  # values tried per relaxation, from the exact one, until the person is matched
    max_resolves: int = 200  # re-solves in all
    time_budget_s: float = 30.0  # for all re-solves
    resolve_time_limit_s: float = 10.0  # per re-solve
    recruitment: int = 3  # mentor profiles to suggest
    matchings: int | None = None  # explain the first k matchings; None = all
    stability_pairs_listed: int | None = None  # blocking pairs kept per matching (the count stays complete)


# Small helpers ----------------------------------------------------------------------------------------


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def _km(value: float | None) -> str:
    return "no limit" if value is None or not math.isfinite(value) else f"{value:.1f} km"


def _minutes(value: float | None) -> str:
    return "no limit" if value is None or not math.isfinite(value) else f"{value:.0f} min"


def _ceil_tenth(value: float) -> str:
    """The smallest one-decimal number not below `value`, as text (what a coordinator would type)."""
    tenths = math.ceil(round(value * 10, 6))
    while float(f"{tenths / 10:.1f}") < value:
        tenths += 1
    return f"{tenths / 10:.1f}"


def _languages_text(person: Mentee | Mentor) -> str:
    return ", ".join(f"{lang.code} {cefr_name(lang.level)}" for lang in person.languages) or "(none)"


def _shared_prefix(a: str, b: str) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def _id_list(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# Why this pair ----------------------------------------------------------------------------------------


def _term_facts(cohort: Cohort, limit_km: float, limit_minutes: float, uses_travel_times: bool,
                row: dict[str, Any]) -> dict[Term, tuple[str, ...]]:
    mentee, mentor = cohort.mentees[int(row["mentee"])], cohort.mentors[int(row["mentor"])]
    rules = cohort.rules
    by_mentee, by_mentor = int(row["mentee_rank"]), int(row["mentor_rank"])
    facts: dict[Term, tuple[str, ...]] = {}
    if by_mentee and by_mentor:
        facts[Term.MUTUAL_RANK] = (("ranked each other first",) if by_mentee == by_mentor == 1 else
                                   (f"ranked each other (mentee put the mentor {_ordinal(by_mentee)}, "
                                    f"mentor put the mentee {_ordinal(by_mentor)})",))
    else:
        facts[Term.MUTUAL_RANK] = ("did not rank each other" if not (by_mentee or by_mentor) else
                                   "only one of them ranked the other",)
    facts[Term.MENTEE_RANK] = ((f"mentee ranked the mentor {_ordinal(by_mentee)}",) if by_mentee
                               else ("mentee did not rank this mentor",))
    facts[Term.MENTOR_RANK] = ((f"mentor ranked the mentee {_ordinal(by_mentor)}",) if by_mentor
                               else ("mentor did not rank this mentee",))
    shared = sorted(set(mentee.interests) & set(mentor.interests))
    facts[Term.INTERESTS] = (f"share interests: {', '.join(shared)}",) if shared else ("no shared interests",)
    best = max(((_shared_prefix(a, b), a, b) for a in mentee.occupations for b in mentor.occupations),
               default=(0, "", ""))
    digits, seeks, works = best
    depth = max(rules.field_depth, 0)
    required = f"{depth} required" if depth else "field not required"
    if digits == 4:
        field_fact = f"same occupation ISCO {seeks} (4 digits; {required})"
    elif digits > 0:
        field_fact = (f"share ISCO {seeks[:digits]} ({digits} digit(s); {required}): mentee seeks {seeks}, "
                      f"mentor works in {works}")
    else:
        field_fact = f"no ISCO digits in common ({required})"
    facts[Term.FIELD] = (field_fact,)
    if mentee.goal is Goal.UNSPECIFIED:
        facts[Term.GOAL] = ("mentee gave no goal",)
    elif not mentor.goals:
        facts[Term.GOAL] = (f"mentor supports any goal (mentee's goal: {mentee.goal.value})",)
    elif mentee.goal in mentor.goals:
        facts[Term.GOAL] = (f"mentor supports the goal {mentee.goal.value}",)
    else:
        facts[Term.GOAL] = (f"mentor does not list the goal {mentee.goal.value}",)
    km = float(row["distance_km"])
    if uses_travel_times:
        minutes = row["travel_minutes"]
        travel = ("no known travel time" if minutes is None or not math.isfinite(minutes) else
                  f"{minutes:.0f} min travel to the workplace (limit {_minutes(limit_minutes)})")
        facts[Term.TRAVEL] = (travel, f"{km:.1f} km")
    else:
        facts[Term.TRAVEL] = (f"{km:.1f} km from the workplace (limit {_km(limit_km)})",)
    origin = mentee.country_of_origin
    facts[Term.HOME_MARKET] = ((f"mentor knows the {origin} market",) if origin and origin in mentor.markets else
                               (f"mentor does not list the {origin} market",) if origin else
                               ("mentee's home market not given",))
    first = mentee.first_language
    speaks = {lang.code for lang in mentor.languages}
    facts[Term.FIRST_LANGUAGE] = ((f"speaks the mentee's first language {first}",) if first and first in speaks else
                                  (f"does not speak the mentee's first language {first}",) if first else
                                  ("mentee's first language not given",))
    seniority = [f"{mentor.years_experience} years of experience"]
    if mentor.leadership:
        seniority.insert(0, "leadership experience")
    facts[Term.SENIORITY] = tuple(seniority)
    facts[Term.RETURNING] = ("returning mentor",) if mentor.returning else ("first time as a mentor",)
    return facts


def _explain_rows(cohort: Cohort, arrays: CohortArrays, table: pl.DataFrame, allowed_pairs: bool
                  ) -> list[PairExplanation]:
    """Explanations of the rows of a scored table (from `score_pairs` or the candidate table)."""
    weights = cohort.rules.weights.as_dict()
    out = []
    for row in table.iter_rows(named=True):
        a = int(row["mentee"])
        facts = _term_facts(cohort, float(arrays.mentee_limit_km[a]), float(arrays.mentee_limit_minutes[a]),
                            arrays.uses_travel_times, row)
        terms = []
        for term in TERMS:
            weight = weights[term.weight_name]
            if weight:
                raw = int(row[term.column])
                terms.append(TermPoints(term, weight * raw, raw, weight, facts[term]))
        terms.sort(key=lambda t: (-t.points, TERMS.index(t.term)))
        mentee_id, mentor_id = cohort.mentees[a].id, cohort.mentors[int(row["mentor"])].id
        score = int(row["score"])
        positive = [f"{', '.join(t.facts)} (+{t.points})" for t in terms if t.points > 0]
        sentence = (f"{mentee_id} and {mentor_id} score {score}: " + ("; ".join(positive) if positive
                                                                       else "no soft term adds points") + ".")
        if not allowed_pairs:
            sentence = f"(not allowed) {sentence}"
        out.append(PairExplanation(mentee_id, mentor_id, score, allowed_pairs, tuple(terms), sentence))
    return out


def explain_pair(candidates: CandidatePairs, row: int) -> PairExplanation:
    """Why the pair in this row of the candidate table scores what it does."""
    return _explain_rows(candidates.cohort, candidates.arrays, candidates.table[[int(row)]], True)[0]


def explain_pairs(candidates: CandidatePairs, rows: IntArray | Sequence[int]) -> list[PairExplanation]:
    """Why each pair of a matching (rows of the candidate table) scores what it does, in row order."""
    rows = [int(r) for r in np.asarray(rows, dtype=np.int64).tolist()]
    if not rows:
        return []
    return _explain_rows(candidates.cohort, candidates.arrays, candidates.table[rows], True)


# Hard-rule facts --------------------------------------------------------------------------------------


class _Context:
    """What explaining one solve result needs, computed once."""

    def __init__(self, result: SolveResult, options: ExplainOptions) -> None:
        self.result = result
        self.candidates = result.candidates
        self.cohort = result.candidates.cohort
        self.arrays = result.candidates.arrays
        self.explain_options = options
        self.solve_options = _resolve_options(result.options)
        best = result.best
        self.best_pairs = frozenset(best.pairs(self.candidates)) if best is not None else frozenset()
        self.objective_value = best.objective.value if best is not None else 0
        self.matched = best.objective.matched if best is not None else 0
        self.total_score = best.objective.total_score if best is not None else 0
        self.big = result.model.big
        self.mentee_index = self.cohort.mentee_index()
        self.mentor_index = self.cohort.mentor_index()
        self.capacity = np.array([max(p.capacity, 0) for p in self.cohort.mentors], dtype=np.int64)
        self.priority = np.array([p.priority for p in self.cohort.mentees], dtype=np.int64)
        self.years = np.array([p.years_experience for p in self.cohort.mentors], dtype=np.float64)
        people: list[Mentee | Mentor] = [*self.cohort.mentees, *self.cohort.mentors]
        codes = sorted({lang.code for p in people for lang in p.languages})
        self.language_codes = codes
        self.mentee_levels = _level_matrix(self.cohort.mentees, codes)
        self.mentor_levels = _level_matrix(self.cohort.mentors, codes)

        # The candidate table, keyed for lookups: allowed partners and their scores without rescoring.
        table = self.candidates.table
        m = max(1, self.arrays.n_mentors)
        table_mentee = table["mentee"].to_numpy().astype(np.int64)
        table_mentor = table["mentor"].to_numpy().astype(np.int64)
        keys = table_mentee * m + table_mentor
        order = np.argsort(keys, kind="stable")
        self.table_keys = keys[order]
        self.table_scores = table["score"].to_numpy().astype(np.int64)[order]
        self.table_mentee = table_mentee[order]
        self.table_mentor = table_mentor[order]
        self.by_mentor = np.argsort(self.table_mentor, kind="stable")
        self.mentor_sorted = self.table_mentor[self.by_mentor]
        self.near_misses: dict[tuple[Side, int], tuple[NearMiss, ...]] = {}

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
        if len(missing):
            scored = score_pairs(self.cohort, self.arrays, mentee[missing], mentor[missing])
            out[missing] = scored["score"].to_numpy().astype(np.int64)
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


def _resolve_options(options: SolveOptions) -> SolveOptions:
    # `solve` folds `stable` into `extra_constraints`, so options read back from a result already carry it.
    stable = options.stable and options.extra_constraints is None
    return replace(options, alternatives=1, on_progress=None, stable=stable)


def _check(ctx: _Context, a: int, b: int, rule: HardRule, passed: bool) -> RuleCheck:
    """The facts of one hard rule for one pair, and the shortfall when it fails."""
    cohort, arrays, rules = ctx.cohort, ctx.arrays, ctx.cohort.rules
    mentee, mentor = cohort.mentees[a], cohort.mentors[b]
    facts: list[str] = []
    shortfall: Shortfall | None = None
    if rule is HardRule.ELIGIBILITY:
        bad_place = bool(rules.eligible_municipalities) and mentee.municipality not in rules.eligible_municipalities
        bad_track = bool(rules.eligible_tracks) and mentee.track not in rules.eligible_tracks
        few_years = mentor.years_experience < rules.min_mentor_years
        if rules.eligible_municipalities:
            facts.append(f"mentee municipality {mentee.municipality or '(none)'} is "
                         f"{'not ' if bad_place else ''}eligible")
        if rules.eligible_tracks:
            facts.append(f"mentee track {mentee.track.value or '(none)'} is {'not ' if bad_track else ''}eligible")
        if rules.min_mentor_years:
            facts.append(f"mentor has {mentor.years_experience} years of experience, "
                         f"{rules.min_mentor_years} required")
        if not facts:
            facts.append("no eligibility rules")
        if not passed:
            if few_years and not (bad_place or bad_track):
                shortfall = Shortfall(rule, float(rules.min_mentor_years - mentor.years_experience), "years",
                                      f"mentor has {mentor.years_experience} years, {rules.min_mentor_years} required")
            else:
                failing = ([f"municipality {mentee.municipality or '(none)'} not eligible"] if bad_place else []) + (
                    [f"track {mentee.track.value or '(none)'} not eligible"] if bad_track else []) + (
                    [f"mentor has {mentor.years_experience} of {rules.min_mentor_years} years"] if few_years else [])
                shortfall = Shortfall(rule, None, "", "; ".join(failing))
    elif rule is HardRule.FIELD:
        digits = int(field_digits(arrays, np.array([a]), np.array([b]))[0])
        depth = rules.field_depth
        facts.append(f"mentee seeks {', '.join(mentee.occupations) or '(none)'}; "
                     f"mentor works in {', '.join(mentor.occupations) or '(none)'}")
        facts.append(f"{digits} leading ISCO digit(s) in common, {depth} required" if depth > 0
                     else "field not required")
        if not passed:
            shortfall = Shortfall(rule, float(depth - digits), "ISCO digits",
                                  f"{digits} ISCO digit(s) in common, {depth} required")
    elif rule is HardRule.DISTANCE:
        km_arr, minutes_arr = pair_travel(arrays, np.array([a]), np.array([b]))
        km, minutes = float(km_arr[0]), float(minutes_arr[0])
        limit_km = float(arrays.mentee_limit_km[a])
        facts.append(f"{km:.1f} km from the mentee's home to the mentor's workplace; limit {_km(limit_km)} "
                     f"(programme {_km(rules.max_distance_km)}, personal {_km(mentee.max_travel_km)})")
        limit_minutes = float(arrays.mentee_limit_minutes[a])
        if arrays.uses_travel_times:
            facts.append("no known travel time for this pair" if math.isnan(minutes) else
                         f"{minutes:.0f} min travel; limit {_minutes(limit_minutes)} (programme "
                         f"{_minutes(rules.max_travel_minutes)}, personal {_minutes(mentee.max_travel_minutes)})")
        if not passed:
            if km > limit_km:
                shortfall = Shortfall(rule, round(km - limit_km, 2), "km",
                                      f"{km:.1f} km, {km - limit_km:.1f} km beyond the {_km(limit_km)} limit")
            elif math.isnan(minutes):
                shortfall = Shortfall(rule, None, "minutes", "no known travel time for this pair")
            else:
                shortfall = Shortfall(rule, round(minutes - limit_minutes, 2), "minutes",
                                      f"{minutes:.0f} min, {minutes - limit_minutes:.0f} min beyond the "
                                      f"{_minutes(limit_minutes)} limit")
    elif rule is HardRule.LANGUAGE:
        level = rules.min_language_level
        facts.append(f"mentee speaks {_languages_text(mentee)}; mentor speaks {_languages_text(mentor)}")
        facts.append(f"a common language at {cefr_name(level)} or better required")
        if not passed:
            common = np.minimum(ctx.mentee_levels[a], ctx.mentor_levels[b])
            best = int(common.max()) if len(ctx.language_codes) else 0
            if best <= 0:
                shortfall = Shortfall(rule, None, "", "no language in common")
            else:
                code = ctx.language_codes[int(common.argmax())]
                shortfall = Shortfall(rule, float(level - best), "CEFR levels",
                                      f"best common language {code} at {cefr_name(best)}, "
                                      f"{cefr_name(level)} required")
    elif rule is HardRule.GENDER:
        wanted = mentee.requested_mentor_gender
        if not wanted:
            facts.append("no gender request")
        else:
            facts.append(f"mentee asked for a mentor of gender {wanted}; mentor's gender is "
                         f"{mentor.gender or 'not given'}" + ("" if rules.gender_requests_hard
                                                              else " (requests are only preferences)"))
        if not passed:
            shortfall = Shortfall(rule, None, "", f"asked for {wanted}, mentor is {mentor.gender or 'not given'}")
    else:
        facts.append("the coordinator ruled this pair out" if not passed else "not banned")
        if not passed:
            shortfall = Shortfall(rule, None, "", "banned by the coordinator")
    return RuleCheck(rule, passed, tuple(facts), shortfall)


def _pair_checks(ctx: _Context, a: int, b: int) -> tuple[RuleCheck, ...]:
    masks = rule_masks(ctx.arrays, np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    return tuple(_check(ctx, a, b, rule, bool(masks[rule][0])) for rule in HardRule)


# One person against the other side --------------------------------------------------------------------


@dataclass(frozen=True)
class _View:
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

    def partner_id(self, ctx: _Context, k: int) -> str:
        people = ctx.cohort.mentors if self.side is Side.MENTEE else ctx.cohort.mentees
        return people[int(self.partner[k])].id


def _view(ctx: _Context, side: Side, index: int, *, scored: bool = True) -> _View:
    n, m = ctx.arrays.n_mentees, ctx.arrays.n_mentors
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
    return _View(
        side=side, index=index, person_id=person_id, mentee=mentee, mentor=mentor, partner=partner,
        masks=masks, allowed=allowed_mask, room=ctx.capacity[mentor] > 0, km=km, minutes=minutes,
        digits=field_digits(ctx.arrays, mentee, mentor).astype(np.int64), language=language.astype(np.int64),
        score=ctx.scores(mentee, mentor) if scored else np.zeros(len(mentee), dtype=np.int64),
    )


@dataclass(frozen=True)
class _State:
    """Who is matched with whom in one matching."""

    partner_of_mentee: IntArray  # mentor index or -1
    load: IntArray
    mentees_of_mentor: dict[int, list[int]]
    score_of_mentee: IntArray  # the pair score of each matched mentee


def _state(ctx: _Context, matching: Matching) -> _State:
    table = ctx.candidates.table
    rows = matching.rows
    mentee = table["mentee"].to_numpy().astype(np.int64)[rows]
    mentor = table["mentor"].to_numpy().astype(np.int64)[rows]
    score = table["score"].to_numpy().astype(np.int64)[rows]
    partner = np.full(ctx.arrays.n_mentees, -1, dtype=np.int64)
    partner[mentee] = mentor
    scores = np.zeros(ctx.arrays.n_mentees, dtype=np.int64)
    scores[mentee] = score
    by_mentor: dict[int, list[int]] = {}
    for a, b in sorted(zip(mentee.tolist(), mentor.tolist(), strict=True)):
        by_mentor.setdefault(b, []).append(a)
    return _State(partner, np.bincount(mentor, minlength=ctx.arrays.n_mentors).astype(np.int64), by_mentor, scores)


def _funnel(ctx: _Context, side: Side, index: int, state: _State) -> Funnel:
    """The elimination funnel (`solver.candidates.funnel`) and what is left of it in this matching."""
    partners, _ = ctx.allowed_partners(side, index)
    if side is Side.MENTEE:
        steps = funnel(ctx.arrays, mentee=index)
        total = ctx.arrays.n_mentors
        room = ctx.capacity[partners] > 0
        free = room & (state.load[partners] < ctx.capacity[partners])
    else:
        steps = funnel(ctx.arrays, mentor=index)
        total = ctx.arrays.n_mentees
        room = np.ones(len(partners), dtype=np.bool_)
        free = state.partner_of_mentee[partners] < 0
    left = total
    out = []
    for rule, removed in steps:
        left -= removed
        out.append(FunnelStep(rule, removed, left))
    return Funnel(total, tuple(out), len(partners), int(room.sum()), int(free.sum()))


def _reason(ctx: _Context, side: Side, index: int, found: Funnel) -> Reason:
    cohort, rules = ctx.cohort, ctx.cohort.rules
    other = "mentor" if side is Side.MENTEE else "mentee"
    if found.partners == 0:
        code = UnmatchedReason.NO_MENTORS if side is Side.MENTEE else UnmatchedReason.NO_MENTEES
        return Reason(code, None, f"the cohort has no {other}s")
    if side is Side.MENTOR and ctx.capacity[index] == 0:
        return Reason(UnmatchedReason.NO_CAPACITY, None, "the mentor's capacity is 0")
    ends = found.ends_at
    if ends is not None:
        before = next(s.remaining + s.removed for s in found.steps if s.rule is ends)
        code = _RULE_REASON[side][ends]
        if ends is HardRule.ELIGIBILITY:
            if side is Side.MENTEE and not ctx.arrays.mentee_eligible[index]:
                message = "the mentee is not eligible (municipality or track)"
            elif side is Side.MENTOR and not ctx.arrays.mentor_eligible[index]:
                message = f"the mentor has fewer than the {rules.min_mentor_years} years of experience required"
            else:
                message = f"no eligible {other}"
        elif ends is HardRule.FIELD:
            message = f"none of the {before} eligible {other}s shares the field at {rules.field_depth} ISCO digit(s)"
        elif ends is HardRule.DISTANCE:
            if side is Side.MENTEE:
                limit = (_minutes(float(ctx.arrays.mentee_limit_minutes[index])) if ctx.arrays.uses_travel_times
                         else _km(float(ctx.arrays.mentee_limit_km[index])))
                message = f"none of the {before} mentors in the field is within reach ({limit})"
            else:
                message = f"none of the {before} mentees in the field lives within reach of the workplace"
        elif ends is HardRule.LANGUAGE:
            message = (f"none of the {before} {other}s within reach has a common language at "
                       f"{cefr_name(rules.min_language_level)} or better")
        elif ends is HardRule.GENDER:
            message = (f"the mentee asked for a mentor of gender {cohort.mentees[index].requested_mentor_gender}; "
                       f"none of the {before} otherwise suitable mentors is" if side is Side.MENTEE else
                       f"all {before} otherwise suitable mentees asked for a mentor of another gender")
        else:
            message = f"all {before} otherwise suitable {other}s are banned for this {side.value}"
        return Reason(code, ends, message)
    if side is Side.MENTEE and found.with_capacity == 0:
        return Reason(UnmatchedReason.NO_MENTOR_CAPACITY, None,
                      f"the {found.allowed} allowed mentor(s) all have capacity 0")
    if found.free > 0:
        return Reason(UnmatchedReason.SIDE_CONSTRAINTS, None,
                      f"{found.free} allowed {other}(s) had room, but a side constraint (organisation cap, gender "
                      f"quota, stability, a pin, or the difference from a better matching) kept the pair out")
    code = UnmatchedReason.CANDIDATES_ALL_TAKEN if side is Side.MENTEE else UnmatchedReason.MENTEES_ALL_TAKEN
    return Reason(code, None, f"{found.with_capacity} allowed {other}(s), all matched with others")


_MISS_POOL = 2000  # per person, the closest misses whose scores break ties


def _miss_gap(ctx: _Context, view: _View) -> tuple[IntArray, FloatArray]:
    """Per partner: how many rules fail, and the sum of their relative shortfalls (each 0..1)."""
    arrays, rules = ctx.arrays, ctx.cohort.rules
    failed = np.zeros(len(view.partner), dtype=np.int64)
    gap = np.zeros(len(view.partner), dtype=np.float64)
    for rule, mask in view.masks.items():
        fails = ~mask
        failed += fails
        if rule is HardRule.ELIGIBILITY:
            short = np.clip((rules.min_mentor_years - ctx.years[view.mentor]) / max(rules.min_mentor_years, 1), 0, 1)
            part = np.where(arrays.mentee_eligible[view.mentee], short, 1.0)
        elif rule is HardRule.FIELD:
            part = (rules.field_depth - view.digits) / max(rules.field_depth, 1)
        elif rule is HardRule.DISTANCE:
            part = _relative_excess(view.km, arrays.mentee_limit_km[view.mentee])
            if arrays.uses_travel_times:
                over = _relative_excess(np.nan_to_num(view.minutes), arrays.mentee_limit_minutes[view.mentee])
                part = np.maximum(part, np.where(np.isnan(view.minutes), 1.0, over))
        elif rule is HardRule.LANGUAGE:
            part = np.where(view.language > 0, (rules.min_language_level - view.language) / 6.0, 1.0)
        else:
            part = np.ones(len(view.partner))
        gap += np.where(fails, part, 0.0)
    return failed, gap


def _nearest_misses(ctx: _Context, people: Sequence[tuple[Side, int]], k: int) -> None:
    """Fills `ctx.near_misses` for these people: the partners that fail the fewest rules, by the least
    (summed relative shortfall), then the highest score. Scores come from one batched call."""
    todo = [p for p in people if p not in ctx.near_misses]
    pools: list[tuple[tuple[Side, int], _View, IntArray, IntArray, FloatArray]] = []
    for side, index in todo:
        view = _view(ctx, side, index, scored=False)
        candidates = np.flatnonzero(~view.allowed & view.room)
        if k <= 0 or len(candidates) == 0:
            ctx.near_misses[(side, index)] = ()
            continue
        failed, gap = _miss_gap(ctx, view)
        order = candidates[np.lexsort((view.partner[candidates], gap[candidates], failed[candidates]))]
        # Everything tied with the k-th closest takes part in the score tie-break.
        kth = order[min(k, len(order)) - 1]
        tied = order[(failed[order] < failed[kth]) | ((failed[order] == failed[kth]) & (gap[order] <= gap[kth]))]
        pool = tied[:_MISS_POOL]
        pools.append(((side, index), view, pool, failed[pool], gap[pool]))
    if not pools:
        return
    scores = ctx.scores(np.concatenate([v.mentee[pool] for _, v, pool, _, _ in pools]),
                        np.concatenate([v.mentor[pool] for _, v, pool, _, _ in pools]))
    start = 0
    for person, view, pool, failed, gap in pools:
        score = scores[start:start + len(pool)]
        start += len(pool)
        best = np.lexsort((view.partner[pool], -score, gap, failed))[:k]
        out = []
        for j in best.tolist():
            a, b = int(view.mentee[pool[j]]), int(view.mentor[pool[j]])
            checks = _pair_checks(ctx, a, b)
            out.append(NearMiss(view.partner_id(ctx, int(pool[j])),
                                tuple(c.shortfall for c in checks if c.shortfall is not None), int(score[j])))
        ctx.near_misses[person] = tuple(out)


def _relative_excess(value: FloatArray, limit: FloatArray) -> FloatArray:
    """How far beyond its limit each value lies, as a fraction of the limit (0 within it or without a limit)."""
    finite = np.isfinite(limit)
    scale = np.where(finite & (limit > 0), limit, 1.0)
    return np.asarray(np.where(finite, np.clip((value - np.where(finite, limit, 0.0)) / scale, 0, None), 0.0),
                      dtype=np.float64)


def _taken_by(ctx: _Context, side: Side, index: int, state: _State, k: int) -> tuple[TakenBy, ...]:
    partners, scores = ctx.allowed_partners(side, index)
    if side is Side.MENTEE:
        usable = ctx.capacity[partners] > 0
        partners, scores = partners[usable], scores[usable]
    out = []
    for j in np.lexsort((partners, -scores))[:k].tolist():
        if side is Side.MENTEE:
            b = int(partners[j])
            others = state.mentees_of_mentor.get(b, [])
            out.append(TakenBy(ctx.cohort.mentors[b].id, int(scores[j]),
                               tuple(ctx.cohort.mentees[a].id for a in others),
                               tuple(int(state.score_of_mentee[a]) for a in others)))
        else:
            a = int(partners[j])
            b = int(state.partner_of_mentee[a])
            out.append(TakenBy(ctx.cohort.mentees[a].id, int(scores[j]),
                               (ctx.cohort.mentors[b].id,) if b >= 0 else (),
                               (int(state.score_of_mentee[a]),) if b >= 0 else ()))
    return tuple(out)


# Re-solving -------------------------------------------------------------------------------------------


class _Budget:
    """How many re-solves, and how much time, explanations may still spend."""

    def __init__(self, resolves: int, seconds: float, per_solve_s: float) -> None:
        self.left = resolves
        self.deadline = time.monotonic() + seconds
        self.per_solve_s = per_solve_s
        self.exhausted = False

    def take(self) -> float | None:
        """Seconds for one more re-solve, or None when the budget is spent."""
        remaining = self.deadline - time.monotonic()
        if self.left <= 0 or remaining <= 0.05:
            self.exhausted = True
            return None
        self.left -= 1
        return min(self.per_solve_s, remaining)


def _resolve(ctx: _Context, cohort: Cohort, budget: _Budget, extra: ExtraConstraints | None = None
             ) -> SolveResult | None:
    seconds = budget.take()
    if seconds is None:
        return None
    options = replace(ctx.solve_options, time_limit_s=min(ctx.solve_options.time_limit_s, seconds))
    if extra is not None:
        options = replace(options, extra_constraints=chain_constraints(options.extra_constraints, extra))
    return solve(cohort, options)


def _impact(ctx: _Context, after: SolveResult, person: tuple[Side, str] | None) -> Impact:
    best = after.best
    before = dict(matched_before=ctx.matched, total_score_before=ctx.total_score, objective_before=ctx.objective_value)
    if best is None:
        return Impact(status=after.status, person_matched=None if person is None else False, partners=(),
                      matched_after=None, total_score_after=None, objective_after=None, pairs_removed=(),
                      pairs_added=(), **before)
    pairs = best.pairs(after.candidates)
    mentee = np.array([ctx.mentee_index[a] for a, _ in pairs], dtype=np.int64)
    mentor = np.array([ctx.mentor_index[b] for _, b in pairs], dtype=np.int64)
    total = int(ctx.scores(mentee, mentor).sum())
    matched_priority = int(ctx.priority[mentee].sum())
    after_set = set(pairs)
    partners: tuple[str, ...] = ()
    matched: bool | None = None
    if person is not None:
        side, person_id = person
        partners = tuple(sorted(b if side is Side.MENTEE else a for a, b in pairs
                                if (a if side is Side.MENTEE else b) == person_id))
        matched = bool(partners)
    return Impact(
        status=best.status, person_matched=matched, partners=partners,
        matched_after=len(pairs), total_score_after=total, objective_after=ctx.big * matched_priority + total,
        pairs_removed=tuple(sorted(ctx.best_pairs - after_set)), pairs_added=tuple(sorted(after_set - ctx.best_pairs)),
        **before,
    )


def _force_in(ctx: _Context, view: _View, budget: _Budget) -> Impact | None:
    """The best matching in which this person has a partner."""
    if not (view.allowed & view.room).any():
        return None
    if view.side is Side.MENTEE:
        # A priority above everyone else's together puts her first, then the usual objective.
        top = int(ctx.priority.sum()) + 1
        mentees = tuple(replace(p, priority=top) if k == view.index else p for k, p in enumerate(ctx.cohort.mentees))
        after = _resolve(ctx, replace(ctx.cohort, mentees=mentees), budget)
    else:
        j = view.index

        def has_mentee(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], model: AssignmentModel) -> None:
            rows = np.flatnonzero(model.mentor == j).tolist()
            cp.add(cp_model.LinearExpr.sum([x[r] for r in rows]) >= 1)

        after = _resolve(ctx, ctx.cohort, budget, extra=has_mentee)
    return None if after is None else _impact(ctx, after, (view.side, view.person_id))


# Counterfactuals --------------------------------------------------------------------------------------


def apply_relaxation(cohort: Cohort, relaxation: Relaxation, subject_id: str, value: str) -> Cohort:
    """The cohort with one relaxation applied (`value` as in `Counterfactual.proposed`)."""
    rules = cohort.rules

    def mentee_changed(**changes: Any) -> Cohort:
        return replace(cohort, mentees=tuple(replace(p, **changes) if p.id == subject_id else p
                                             for p in cohort.mentees))

    if relaxation is Relaxation.PERSONAL_DISTANCE_KM:
        return mentee_changed(max_travel_km=float(value))
    if relaxation is Relaxation.PERSONAL_TRAVEL_MINUTES:
        return mentee_changed(max_travel_minutes=float(value))
    if relaxation is Relaxation.LIFT_GENDER_REQUEST:
        return mentee_changed(requested_mentor_gender="")
    if relaxation is Relaxation.MENTOR_CAPACITY:
        return replace(cohort, mentors=tuple(replace(p, capacity=int(value)) if p.id == subject_id else p
                                             for p in cohort.mentors))
    if relaxation is Relaxation.PROGRAMME_DISTANCE_KM:
        new_rules = replace(rules, max_distance_km=float(value))
    elif relaxation is Relaxation.PROGRAMME_TRAVEL_MINUTES:
        new_rules = replace(rules, max_travel_minutes=float(value))
    elif relaxation is Relaxation.FIELD_DEPTH:
        new_rules = replace(rules, field_depth=int(value))
    elif relaxation is Relaxation.LANGUAGE_LEVEL:
        new_rules = replace(rules, min_language_level=cefr_level(value))
    elif relaxation is Relaxation.MENTOR_YEARS:
        new_rules = replace(rules, min_mentor_years=int(value))
    elif relaxation is Relaxation.ADD_MUNICIPALITY:
        new_rules = replace(rules, eligible_municipalities=(*rules.eligible_municipalities, value))
    elif relaxation is Relaxation.ADD_TRACK:
        new_rules = replace(rules, eligible_tracks=(*rules.eligible_tracks, Track(value)))
    elif relaxation is Relaxation.LIFT_BAN:
        new_rules = replace(rules, bans=tuple(p for p in rules.bans if p != (subject_id, value)))
    else:
        raise ValueError(f"unknown relaxation {relaxation}")
    return replace(cohort, rules=new_rules)


@dataclass(frozen=True)
class _Step:
    key: tuple[float, ...]  # smaller = a smaller relaxation
    subject_id: str
    value: str
    current: str


def _relaxation_steps(ctx: _Context, view: _View, state: _State) -> dict[Relaxation, list[_Step]]:
    """Per relaxation, the changes that each give the person at least one new allowed partner, smallest first."""
    cohort, arrays, rules = ctx.cohort, ctx.arrays, ctx.cohort.rules
    steps: dict[Relaxation, dict[tuple[str, str], _Step]] = {}

    def add(kind: Relaxation, key: tuple[float, ...], subject: str, value: str, current: str) -> None:
        found = steps.setdefault(kind, {})
        old = found.get((subject, value))
        if old is None or key < old.key:
            found[(subject, value)] = _Step(key, subject, value, current)

    if view.side is Side.MENTOR and ctx.capacity[view.index] == 0:
        if view.allowed.any():
            add(Relaxation.MENTOR_CAPACITY, (0.0,), view.person_id, "1", "0")
        return {k: sorted(v.values(), key=lambda s: (s.key, s.subject_id, s.value)) for k, v in steps.items()}

    def fixable(rule: HardRule) -> list[int]:
        return _fixable(view, rule).tolist()

    programme_km, programme_minutes = rules.max_distance_km, rules.max_travel_minutes
    for k in fixable(HardRule.DISTANCE):
        mentee = cohort.mentees[int(view.mentee[k])]
        km, minutes = float(view.km[k]), float(view.minutes[k])
        km_ok = km <= float(arrays.mentee_limit_km[view.mentee[k]])
        minutes_ok = (not arrays.uses_travel_times
                      or (not math.isnan(minutes) and minutes <= float(arrays.mentee_limit_minutes[view.mentee[k]])))
        if minutes_ok and not km_ok:
            value = _ceil_tenth(km)
            personal = mentee.max_travel_km
            if personal is not None and personal < km and (programme_km is None or km <= programme_km):
                add(Relaxation.PERSONAL_DISTANCE_KM, (km,), mentee.id, value, f"{personal:.1f}")
            if programme_km is not None and programme_km < km and (personal is None or km <= personal):
                add(Relaxation.PROGRAMME_DISTANCE_KM, (km,), "", value, f"{programme_km:.1f}")
        elif km_ok and not minutes_ok and not math.isnan(minutes):
            value = _ceil_tenth(minutes)
            personal = mentee.max_travel_minutes
            if personal is not None and personal < minutes and (programme_minutes is None
                                                                  or minutes <= programme_minutes):
                add(Relaxation.PERSONAL_TRAVEL_MINUTES, (minutes,), mentee.id, value, f"{personal:.1f}")
            if programme_minutes is not None and programme_minutes < minutes and (personal is None
                                                                                  or minutes <= personal):
                add(Relaxation.PROGRAMME_TRAVEL_MINUTES, (minutes,), "", value, f"{programme_minutes:.1f}")
    for k in fixable(HardRule.FIELD):
        digits = int(view.digits[k])
        add(Relaxation.FIELD_DEPTH, (-float(digits),), "", str(digits), str(rules.field_depth))
    for k in fixable(HardRule.LANGUAGE):
        level = int(view.language[k])
        if level >= 1:
            add(Relaxation.LANGUAGE_LEVEL, (-float(level),), "", cefr_name(level), cefr_name(rules.min_language_level))
    for k in fixable(HardRule.GENDER):
        mentee = cohort.mentees[int(view.mentee[k])]
        add(Relaxation.LIFT_GENDER_REQUEST, (-float(view.score[k]),), mentee.id, "", mentee.requested_mentor_gender)
    for k in fixable(HardRule.ELIGIBILITY):
        a, b = int(view.mentee[k]), int(view.mentor[k])
        mentee, mentor = cohort.mentees[a], cohort.mentors[b]
        if arrays.mentee_eligible[a] and not arrays.mentor_eligible[b]:
            add(Relaxation.MENTOR_YEARS, (-float(mentor.years_experience),), "", str(mentor.years_experience),
                str(rules.min_mentor_years))
        elif arrays.mentor_eligible[b] and not arrays.mentee_eligible[a]:
            bad_place = bool(rules.eligible_municipalities) and mentee.municipality not in rules.eligible_municipalities
            bad_track = bool(rules.eligible_tracks) and mentee.track not in rules.eligible_tracks
            if bad_place and not bad_track and mentee.municipality:
                add(Relaxation.ADD_MUNICIPALITY, (-float(view.score[k]),), "", mentee.municipality,
                    ",".join(rules.eligible_municipalities))
            if bad_track and not bad_place and mentee.track is not Track.UNSPECIFIED:
                add(Relaxation.ADD_TRACK, (-float(view.score[k]),), "", mentee.track.value,
                    ",".join(t.value for t in rules.eligible_tracks))
    for k in fixable(HardRule.BAN):
        a, b = int(view.mentee[k]), int(view.mentor[k])
        add(Relaxation.LIFT_BAN, (-float(view.score[k]),), cohort.mentees[a].id, cohort.mentors[b].id, "banned")
    if view.side is Side.MENTEE:
        for k in np.flatnonzero(view.allowed).tolist():
            b = int(view.mentor[k])
            if state.load[b] >= ctx.capacity[b]:
                add(Relaxation.MENTOR_CAPACITY, (-float(view.score[k]),), cohort.mentors[b].id,
                    str(int(ctx.capacity[b]) + 1), str(int(ctx.capacity[b])))
    return {k: sorted(v.values(), key=lambda s: (s.key, s.subject_id, s.value)) for k, v in steps.items()}


def _fixable(view: _View, rule: HardRule) -> IntArray:
    """Partners (positions in the view) with room that fail `rule` and pass every other hard rule: the only
    ones a relaxation of that rule alone can make allowed."""
    others = view.room.copy()
    for other, mask in view.masks.items():
        if other is not rule:
            others &= mask
    return np.flatnonzero(~view.masks[rule] & others).astype(np.int64)


def _usable_partners(cohort: Cohort, view: _View, pool: IntArray) -> set[str]:
    """Ids of the partners in `pool` (positions in the view) allowed with the person, and with room, in a
    (relaxed) cohort. Checked on a sub-cohort of the person and the pool, so it costs O(pool)."""
    from solver.candidates import cohort_arrays

    if len(pool) == 0:
        return set()
    if view.side is Side.MENTEE:
        sub = replace(cohort, mentees=(cohort.mentees[view.index],),
                      mentors=tuple(cohort.mentors[int(j)] for j in view.mentor[pool].tolist()), rankings=())
        mentee, mentor = np.zeros(len(pool), dtype=np.int64), np.arange(len(pool), dtype=np.int64)
        capacity = np.array([p.capacity for p in sub.mentors], dtype=np.int64)
    else:
        sub = replace(cohort, mentors=(cohort.mentors[view.index],),
                      mentees=tuple(cohort.mentees[int(i)] for i in view.mentee[pool].tolist()), rankings=())
        mentee, mentor = np.arange(len(pool), dtype=np.int64), np.zeros(len(pool), dtype=np.int64)
        capacity = np.full(len(pool), sub.mentors[0].capacity, dtype=np.int64)
    masks = rule_masks(cohort_arrays(sub), mentee, mentor)
    ok = capacity > 0
    for mask in masks.values():
        ok &= mask
    people = sub.mentors if view.side is Side.MENTEE else sub.mentees
    return {people[k].id for k in np.flatnonzero(ok).tolist()}


def _describe(relaxation: Relaxation, step: _Step) -> str:
    subject, value, current = step.subject_id, step.value, step.current
    return {
        Relaxation.PERSONAL_DISTANCE_KM: f"raise {subject}'s own distance limit from {current} km to {value} km",
        Relaxation.PROGRAMME_DISTANCE_KM: f"raise the programme's distance limit from {current} km to {value} km",
        Relaxation.PERSONAL_TRAVEL_MINUTES: f"raise {subject}'s own travel limit from {current} to {value} min",
        Relaxation.PROGRAMME_TRAVEL_MINUTES: f"raise the programme's travel limit from {current} to {value} min",
        Relaxation.FIELD_DEPTH: (f"lower the field depth from {current} to {value} ISCO digit(s)" if value != "0"
                                 else "drop the field requirement"),
        Relaxation.LANGUAGE_LEVEL: f"lower the required language level from {current} to {value}",
        Relaxation.LIFT_GENDER_REQUEST: f"lift {subject}'s request for a mentor of gender {current}",
        Relaxation.MENTOR_YEARS: f"lower the required mentor experience from {current} to {value} years",
        Relaxation.ADD_MUNICIPALITY: f"make municipality {value} eligible",
        Relaxation.ADD_TRACK: f"make the track {value} eligible",
        Relaxation.LIFT_BAN: f"lift the ban on {subject} with {value}",
        Relaxation.MENTOR_CAPACITY: f"let {subject} take {value} mentee(s) instead of {current}",
    }[relaxation]


def _counterfactual(ctx: _Context, view: _View, relaxation: Relaxation, steps: list[_Step], budget: _Budget
                    ) -> Counterfactual | None:
    pool = _fixable(view, relaxation.rule) if relaxation.rule is not None else np.zeros(0, dtype=np.int64)
    matchable_at: str | None = None
    tried = 0
    last: tuple[_Step, tuple[str, ...], Impact | None] | None = None
    for step in steps:
        if tried >= ctx.explain_options.values_per_relaxation:
            break
        relaxed = apply_relaxation(ctx.cohort, relaxation, step.subject_id, step.value)
        new = tuple(sorted(_usable_partners(relaxed, view, pool)))
        if relaxation is Relaxation.MENTOR_CAPACITY:
            new = (step.subject_id,)
        if not new:
            continue
        if matchable_at is None:
            matchable_at = step.value
        tried += 1
        after = _resolve(ctx, relaxed, budget)
        effect = None if after is None else _impact(ctx, after, (view.side, view.person_id))
        last = (step, new, effect)
        if effect is None or effect.person_matched:
            break
    if last is None or matchable_at is None:
        return None
    step, new, effect = last
    matched = bool(effect is not None and effect.person_matched)
    sentence = f"{_describe(relaxation, step)}: {view.person_id} gains {len(new)} allowed partner(s) ({_id_list(new)})"
    if effect is None:
        sentence += "; not re-solved (explanation budget spent)"
    elif matched:
        sentence += f" and is matched with {_id_list(effect.partners)}; {effect.summary()}"
    else:
        sentence += f" but is still not matched; {effect.summary()}"
    return Counterfactual(
        person_id=view.person_id, relaxation=relaxation, rule=relaxation.rule, subject_id=step.subject_id,
        current=step.current, matchable_at=matchable_at, proposed=step.value, new_partners=new,
        person_matched=matched, effect=effect, values_tried=tried, sentence=sentence,
    )


def _counterfactuals(ctx: _Context, view: _View, state: _State, budget: _Budget) -> tuple[Counterfactual, ...]:
    found = []
    for relaxation, steps in _relaxation_steps(ctx, view, state).items():
        made = _counterfactual(ctx, view, relaxation, steps, budget)
        if made is not None:
            found.append(made)
    order = list(Relaxation)
    found.sort(key=lambda c: (not c.person_matched, not c.relaxation.personal,
                              c.effect.pairs_changed if c.effect is not None else 1 << 30,
                              order.index(c.relaxation)))
    return tuple(found)


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
                    + f", {where}: reaches {count} unmatched mentee(s) ({_id_list(list(ids))})")
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


# Whole results ----------------------------------------------------------------------------------------


def _explain_person(ctx: _Context, side: Side, index: int, state: _State, deep: bool, budget: _Budget
                    ) -> UnmatchedExplanation:
    found = _funnel(ctx, side, index, state)
    reason = _reason(ctx, side, index, found)
    person_id = (ctx.cohort.mentees if side is Side.MENTEE else ctx.cohort.mentors)[index].id
    taken: tuple[TakenBy, ...] = ()
    if reason.code in (UnmatchedReason.CANDIDATES_ALL_TAKEN, UnmatchedReason.MENTEES_ALL_TAKEN,
                       UnmatchedReason.SIDE_CONSTRAINTS):
        taken = _taken_by(ctx, side, index, state, ctx.explain_options.taken_by)
    forced: Impact | None = None
    counterfactuals: tuple[Counterfactual, ...] = ()
    notes: list[str] = []
    if deep:
        view = _view(ctx, side, index)
        forced = _force_in(ctx, view, budget)
        counterfactuals = _counterfactuals(ctx, view, state, budget)
        if not counterfactuals:
            notes.append("no single relaxation of the rules or of one participant gives a new allowed partner")
    _nearest_misses(ctx, [(side, index)], ctx.explain_options.nearest_misses)
    return UnmatchedExplanation(person_id, side, (reason,), found, ctx.near_misses[(side, index)], taken, forced,
                                counterfactuals, tuple(notes))


_BATCH = 256  # people whose nearest misses are scored together


def explain_unmatched(result: SolveResult, matching: Matching | None = None, options: ExplainOptions | None = None,
                      *, deep: bool = True) -> tuple[tuple[UnmatchedExplanation, ...], tuple[UnmatchedExplanation, ...],
                                                     tuple[str, ...]]:
    """(unmatched mentees, mentors with no mentee, notes) of one matching (default: the best).

    With `deep`, the first `options.max_people` of them (mentees by priority first) also get re-solves: the
    cost of forcing them in and counterfactuals.
    """
    options = options or ExplainOptions()
    ctx = _Context(result, options)
    budget = _Budget(options.max_resolves, options.time_budget_s, options.resolve_time_limit_s)
    matching = matching if matching is not None else result.best
    if matching is None:
        return (), (), ("no matching to explain",)
    return _explain_matching_people(ctx, matching, deep, budget)


def _explain_matching_people(ctx: _Context, matching: Matching, deep: bool, budget: _Budget
                             ) -> tuple[tuple[UnmatchedExplanation, ...], tuple[UnmatchedExplanation, ...],
                                        tuple[str, ...]]:
    state = _state(ctx, matching)
    cohort = ctx.cohort
    mentees = [i for i in range(len(cohort.mentees)) if state.partner_of_mentee[i] < 0]
    mentees.sort(key=lambda i: (-cohort.mentees[i].priority, i))
    mentors = [j for j in range(len(cohort.mentors)) if state.load[j] == 0]
    people = [(Side.MENTEE, i) for i in mentees] + [(Side.MENTOR, j) for j in mentors]
    limit = ctx.explain_options.max_people
    explained: dict[Side, list[UnmatchedExplanation]] = {side: [] for side in Side}
    for k, (side, index) in enumerate(people):
        if k % _BATCH == 0:
            _nearest_misses(ctx, people[k:k + _BATCH], ctx.explain_options.nearest_misses)
        explained[side].append(_explain_person(ctx, side, index, state, deep and k < limit, budget))
    notes = []
    if deep and len(people) > limit:
        notes.append(f"re-solves (forcing in, counterfactuals) for the first {limit} of {len(people)} unmatched "
                     f"people only (mentees first, by priority); raise ExplainOptions.max_people "
                     f"(`--explain-people`) for more")
    if budget.exhausted:
        notes.append("the re-solve budget ran out: some counterfactuals were not re-solved")
    order = {i: k for k, i in enumerate(sorted(mentees))}
    explained[Side.MENTEE].sort(key=lambda e: order[ctx.mentee_index[e.person_id]])
    return tuple(explained[Side.MENTEE]), tuple(explained[Side.MENTOR]), tuple(notes)


def explain(result: SolveResult, options: ExplainOptions | None = None) -> Explanation:
    """Everything for a coordinator: pairs, the unmatched (reasons, funnel, nearest misses, counterfactuals),
    blocking pairs per matching, and which mentors to recruit. Re-solves only for the best matching."""
    options = options or ExplainOptions()
    ctx = _Context(result, options)
    budget = _Budget(options.max_resolves, options.time_budget_s, options.resolve_time_limit_s)
    notes: list[str] = []
    out = []
    wanted = result.matchings if options.matchings is None else result.matchings[:options.matchings]
    for matching in wanted:
        pairs = tuple(explain_pairs(ctx.candidates, matching.rows))
        mentees, mentors, people_notes = _explain_matching_people(ctx, matching, matching.rank == 1, budget)
        notes.extend(people_notes)
        stability = audit(ctx.candidates, matching.rows)
        if options.stability_pairs_listed is not None:
            stability = replace(stability, pairs=stability.pairs[:options.stability_pairs_listed])
        out.append(MatchingExplanation(matching.rank, pairs, mentees, mentors, stability))
    if not result.matchings:
        notes.append(f"no matching to explain ({result.status.value})")
        if result.options.stable and result.status is SolveStatus.INFEASIBLE:
            notes.append(_why_no_stable_matching(ctx))
    recruitment = recruitment_advice(result, k=options.recruitment)
    return Explanation(tuple(out), recruitment, tuple(dict.fromkeys(notes)))


def _why_no_stable_matching(ctx: _Context) -> str:
    """Which blocking pairs (and pins) stand in the way when no stable matching exists."""
    plain = replace(ctx.result.options, stable=False, extra_constraints=None, alternatives=1, on_progress=None)
    result = solve(ctx.candidates, plain)
    if result.best is None:
        return "no stable matching exists; without stability there is no valid matching either (pins or quotas)"
    found = audit(result.candidates, result.best.rows)
    blocking = [(b.mentee_id, b.mentor_id) for b in found.pairs]
    people = {x for pair in blocking for x in pair}
    pins = [f"{a}-{b}" for a, b in ctx.cohort.rules.pins if a in people or b in people]
    text = (f"no stable matching exists under these pins and side constraints; the best matching without "
            f"stability has {found.count} blocking pair(s): {_id_list([f'{a}-{b}' for a, b in blocking])}")
    return text + (f"; pinned pair(s) involved: {_id_list(pins)}" if pins else "")


# Why not these two? -----------------------------------------------------------------------------------


def why_not(cohort: Cohort, mentee_id: str, mentor_id: str, options: SolveOptions | None = None, *,
            result: SolveResult | None = None) -> PairVerdict:
    """Why this mentee and this mentor are not a pair in the best matching.

    Names the hard rules that forbid the pair, with the facts; when it is allowed, re-solves with the pair
    pinned and reports what forcing it costs: `forcing_cost` = objective(best) - objective(best with the pin).
    Pass the baseline `result` of the same cohort and options to save one solve.
    """
    problems = []
    if mentee_id not in cohort.mentee_index():
        problems.append(Problem(ProblemCode.UNKNOWN_ID, "mentee_id", f"'{mentee_id}' is no mentee of the cohort"))
    if mentor_id not in cohort.mentor_index():
        problems.append(Problem(ProblemCode.UNKNOWN_ID, "mentor_id", f"'{mentor_id}' is no mentor of the cohort"))
    if problems:
        raise CohortInvalid(problems)
    if result is None:
        result = solve(cohort, replace(options or SolveOptions(), alternatives=1))
    ctx = _Context(result, ExplainOptions())
    a, b = ctx.mentee_index[mentee_id], ctx.mentor_index[mentor_id]
    checks = _pair_checks(ctx, a, b)
    failed = tuple(c.rule for c in checks if not c.passed)
    scored = score_pairs(cohort, ctx.arrays, np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    explanation = _explain_rows(cohort, ctx.arrays, scored, not failed)[0]
    partner = next((m for t, m in ctx.best_pairs if t == mentee_id), None)
    mentor_mentees = tuple(sorted(t for t, m in ctx.best_pairs if m == mentor_id))
    already = partner == mentor_id
    forced: Impact | None = None
    cost: int | None = None
    if failed:
        sentence = (f"{mentee_id} and {mentor_id} cannot be matched: "
                    + "; ".join(f"{c.rule.value}: {c.shortfall.detail if c.shortfall else ''}"
                                for c in checks if not c.passed) + ".")
    elif already:
        sentence = f"{mentee_id} and {mentor_id} are already matched together (score {explanation.score})."
    elif result.best is None:
        sentence = f"{mentee_id} and {mentor_id} are allowed, but there is no matching to compare with."
    else:
        pins = (*(p for p in cohort.rules.pins if p[0] != mentee_id), (mentee_id, mentor_id))
        budget = _Budget(1, ctx.solve_options.time_limit_s, ctx.solve_options.time_limit_s)
        after = _resolve(ctx, replace(cohort, rules=replace(cohort.rules, pins=pins)), budget)
        assert after is not None
        forced = _impact(ctx, after, None)
        if forced.objective_after is None:
            pinned = [t for t, m in cohort.rules.pins if m == mentor_id and t != mentee_id]
            capacity = cohort.mentors[b].capacity
            why = (f"{mentor_id}'s capacity ({capacity}) is taken by pinned mentee(s) {_id_list(pinned)}"
                   if len(pinned) >= capacity else "pins, capacities or side constraints rule it out")
            sentence = (f"{mentee_id} and {mentor_id} are allowed, but forcing them together leaves no valid "
                        f"matching ({forced.status.value}): {why}.")
        else:
            cost = ctx.objective_value - forced.objective_after
            now = (f"{mentee_id} is matched with {partner}" if partner else f"{mentee_id} is unmatched")
            if any(p[0] == mentee_id for p in cohort.rules.pins):
                now += " (by a pin, which forcing replaces)"
            sentence = (f"{mentee_id} and {mentor_id} are allowed (score {explanation.score}) but not chosen: {now}, "
                        f"{mentor_id} has {_id_list(list(mentor_mentees)) or 'no mentee'}. Forcing the pair costs "
                        f"{cost} in the objective: {forced.summary()}.")
    return PairVerdict(mentee_id, mentor_id, not failed, failed, checks, already, partner, mentor_mentees,
                       explanation, forced, cost, sentence)

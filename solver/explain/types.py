"""The results of explaining, as frozen dataclasses with a JSON-ready `to_dict`, and the options."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

import numpy as np

from solver.candidates import HardRule
from solver.domain import Cohort
from solver.explain.codes import Relaxation, Side, UnmatchedReason, apply_relaxation
from solver.explain.wording import id_list, signed
from solver.scores import Term
from solver.solve import SolveStatus
from solver.stability import StabilityAudit
from solver.stop import StopReason, StopToken

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

    @property
    def mentees_gained(self) -> tuple[str, ...]:
        """Mentees without a mentor before the change who have one after it (from the re-solve's pairs)."""
        return tuple(sorted({a for a, _ in self.pairs_added} - {a for a, _ in self.pairs_removed}))

    @property
    def mentees_lost(self) -> tuple[str, ...]:
        """Mentees with a mentor before the change who have none after it."""
        return tuple(sorted({a for a, _ in self.pairs_removed} - {a for a, _ in self.pairs_added}))

    def summary(self) -> str:
        """What the re-solve shows, and nothing more: who gains and who loses a mentor, the counts, the score."""
        if self.matched_after is None or self.total_score_after is None:
            return f"no matching ({self.status.value})"
        moves = []
        if self.mentees_gained:
            moves.append(f"{id_list(self.mentees_gained)} gain(s) a mentor")
        if self.mentees_lost:
            moves.append(f"{id_list(self.mentees_lost)} lose(s) theirs")
        return (f"matched {self.matched_before} -> {self.matched_after}"
                + (f" ({'; '.join(moves)})" if moves else "")
                + f", total score {signed(self.total_score_after - self.total_score_before)}, "
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
    # Set when the explanation is incomplete: its time ran out (DEADLINE: fewer re-solves, or none, or fewer
    # matchings explained) or it was asked to stop (CANCELLED); `notes` says what is missing.
    truncated: StopReason | None = None


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
    unmatched: bool = True  # False: the pairs and blocking pairs only (no unmatched people, no recruiting advice)
    stability_pairs_listed: int | None = None  # blocking pairs kept per matching (the count stays complete)
    # Processes for the re-solves of the unmatched people (forced in, counterfactuals): with 2 or more, those people
    # are shared with a forked child beside this process, on a machine with two cores or more (the command line's
    # choice; the service keeps 1: its cores are its solve slots). The same explanation.
    processes: int = 1
    # Checked between matchings and people: once it is set (or its deadline passes), the explanation stops where
    # it is and comes back truncated (`Explanation.truncated`); re-solves are bounded by its deadline too.
    stop: StopToken | threading.Event | None = field(default=None, compare=False)

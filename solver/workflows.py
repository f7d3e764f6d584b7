"""Records and measures shared by coordinators' workflows (what-if comparison, re-matching): pairs, unmatched, diffs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from solver.candidates import IntArray
from solver.domain import Cohort
from solver.errors import Problem, ProblemCode
from solver.explain import ExplainOptions, UnmatchedExplanation, UnmatchedReason, explain_unmatched
from solver.output import pair_breakdowns, reasons_of
from solver.scores import CandidatePairs
from solver.solve import Matching, SolveResult


@dataclass(frozen=True)
class TermPoints:
    """The weighted points one soft term (`solver.scores.Term` value) gives a pair."""

    term: str
    points: int


@dataclass(frozen=True)
class PairRecord:
    """One matched pair by participant id, with the facts a coordinator reads."""

    mentee_id: str
    mentor_id: str
    score: int
    distance_km: float  # not rounded (means are taken over it); shown with `solver.explain.wording.km_text`
    mentee_rank: int  # the mentee's speed-dating rank of the mentor; 0 = not ranked
    mentor_rank: int  # the mentor's rank of the mentee; 0 = not ranked
    reasons: list[str] = field(default_factory=list)  # the terms that gave the pair most points
    breakdown: list[TermPoints] = field(default_factory=list)  # points per term of weight above 0
    pinned: bool = False  # the rules pin the pair
    field_digits: int = 0  # leading ISCO digits the pair shares
    shared_interests: int = 0
    travel_minutes: float | None = None  # from the travel-time table; None without one


@dataclass(frozen=True)
class UnmatchedRecord:
    """A mentee left without a mentor: the reason and what would change it."""

    mentee_id: str
    reason: str  # an `UnmatchedReason` code (solver.explain)
    message: str
    would_help: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReasonCount:
    reason: str  # an `UnmatchedReason` code
    count: int


@dataclass(frozen=True)
class PairRef:
    """A pair by participant id only (previous pairs survive added or removed people this way)."""

    mentee_id: str
    mentor_id: str


def pair_records(candidates: CandidatePairs, rows: IntArray) -> list[PairRecord]:
    """The pairs of a matching (candidate rows), in row order."""
    cohort = candidates.cohort
    table = candidates.table
    mentee = table["mentee"].to_numpy()
    mentor = table["mentor"].to_numpy()
    score = table["score"].to_numpy()
    km = table["distance_km"].to_numpy()
    mentee_rank = table["mentee_rank"].to_numpy()
    mentor_rank = table["mentor_rank"].to_numpy()
    digits = table["field_digits"].to_numpy()
    interests = table["shared_interests"].to_numpy()
    minutes = table["travel_minutes"].to_numpy()
    rows = np.asarray(rows, dtype=np.int64)
    reasons = reasons_of(candidates, rows)
    breakdowns = pair_breakdowns(candidates, rows)
    pins = set(cohort.rules.pins)
    records = []
    for k, r in enumerate(rows.tolist()):
        mentee_id, mentor_id = cohort.mentees[int(mentee[r])].id, cohort.mentors[int(mentor[r])].id
        records.append(PairRecord(
            mentee_id=mentee_id,
            mentor_id=mentor_id,
            score=int(score[r]),
            distance_km=float(km[r]),
            mentee_rank=int(mentee_rank[r]),
            mentor_rank=int(mentor_rank[r]),
            reasons=reasons[k],
            breakdown=[TermPoints(term, points) for term, points in breakdowns[k].items()],
            pinned=(mentee_id, mentor_id) in pins,
            field_digits=int(digits[r]),
            shared_interests=int(interests[r]),
            travel_minutes=float(minutes[r]) if np.isfinite(minutes[r]) else None,
        ))
    return records


def reason_counts(unmatched: Iterable[UnmatchedRecord]) -> list[ReasonCount]:
    """Unmatched mentees per reason, in the fixed order of `UnmatchedReason`."""
    counts = Counter(u.reason for u in unmatched)
    order = {reason.value: k for k, reason in enumerate(UnmatchedReason)}
    return [ReasonCount(reason, counts[reason]) for reason in sorted(counts, key=lambda r: (order.get(r, len(order)), r))]


def unmatched_records(result: SolveResult, matching: Matching | None = None, *, counterfactuals: bool = False,
                      options: ExplainOptions | None = None) -> tuple[list[UnmatchedRecord], list[str]]:
    """Every mentee the matching (default: the best) leaves alone, with the reason and what would help.

    Reasons and hints come from `solver.explain`: the funnel's reason code, then (with `counterfactuals`,
    which re-solves and costs time) the single changes that would get the mentee matched, where her
    allowed mentors went, and the nearest misses.
    """
    matching = matching if matching is not None else result.best
    cohort = result.candidates.cohort
    if matching is None:
        message = f"no matching satisfies the side constraints ({result.status.value})"
        return [UnmatchedRecord(m.id, UnmatchedReason.SIDE_CONSTRAINTS.value, message) for m in cohort.mentees], []
    mentees, _, notes = explain_unmatched(result, matching, options, deep=counterfactuals)
    return [UnmatchedRecord(e.person_id, e.reasons[0].code.value, e.reasons[0].message, would_help(e))
            for e in mentees], list(notes)


def would_help(explained: UnmatchedExplanation | Any, limit: int = 2, partner: str = "mentor") -> list[str]:
    """What would help an unmatched person, in English: the single changes that would match her (re-solved
    counterfactuals), where her allowed partners went, her nearest misses; at most `limit` of each. `explained`
    is a `solver.explain.UnmatchedExplanation` or the `UnmatchedExplanation` message, which has its fields;
    `partner` names the other side ("mentee" for a mentor left alone)."""
    hints = [c.sentence for c in explained.counterfactuals[:limit]]
    for taken in explained.taken_by[:limit]:
        others = ", ".join(f"{who} ({score})" for who, score in zip(taken.taken_by, taken.scores, strict=True))
        where = f"went to {others}" if others else "had room, but a side constraint kept them apart"
        hints.append(f"allowed {partner} {taken.partner_id} (score {taken.score} here) {where}")
    for miss in explained.nearest_misses[:limit]:
        hints.append(f"nearest miss {miss.partner_id}: " + "; ".join(f.detail for f in miss.failed))
    return hints


# Measures ----------------------------------------------------------------------------------------------


def top_choice_counts(candidates: CandidatePairs, rows: IntArray, top: int = 3) -> tuple[int, int]:
    """(mentees who ranked any mentor, of them those matched to one of their `top` choices)."""
    cohort = candidates.cohort
    mentee_ids = cohort.mentee_index()
    mentor_ids = cohort.mentor_index()
    ranked = {r.from_id for r in cohort.rankings if r.from_id in mentee_ids and r.to_id in mentor_ids}
    table = candidates.table
    ranks = table["mentee_rank"].to_numpy()[np.asarray(rows, dtype=np.int64)]
    return len(ranked), int(((ranks >= 1) & (ranks <= top)).sum())


def changed_pairs(before: Sequence[PairRef], after: Sequence[PairRef]) -> tuple[int, list[PairRef], list[PairRef]]:
    """(kept, pairs only before, pairs only after), each list sorted by mentee then mentor id."""
    old = {(p.mentee_id, p.mentor_id) for p in before}
    new = {(p.mentee_id, p.mentor_id) for p in after}
    return (len(old & new), [PairRef(*p) for p in sorted(old - new)], [PairRef(*p) for p in sorted(new - old)])


# People and files ------------------------------------------------------------------------------------------


def without_people(cohort: Cohort, gone: set[str]) -> Cohort:
    """The cohort without these participants, and without their rankings, pins, bans and travel times."""
    if not gone:
        return cohort
    rules = cohort.rules
    return replace(
        cohort,
        mentors=tuple(m for m in cohort.mentors if m.id not in gone),
        mentees=tuple(m for m in cohort.mentees if m.id not in gone),
        rankings=tuple(r for r in cohort.rankings if not gone & {r.from_id, r.to_id}),
        rules=replace(
            rules,
            pins=tuple(p for p in rules.pins if not gone & set(p)),
            bans=tuple(p for p in rules.bans if not gone & set(p)),
            travel_times=tuple(t for t in rules.travel_times if not gone & {t.mentee_id, t.mentor_id}),
        ),
        decisions=tuple(d for d in cohort.decisions if not gone & {d.mentee_id, d.mentor_id}),
    )


def text_list(data: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> tuple[str, ...]:
    """`key = ["a", "b"]` of a parsed TOML file (absent: empty); anything else is a BAD_VALUE problem."""
    raw = data.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
        problems.append(Problem(ProblemCode.BAD_VALUE, key, "expected a list of texts", f"{where} {key}"))
        return ()
    return tuple(raw)


def id_pairs(data: Mapping[str, Any], key: str, where: str, problems: list[Problem]) -> tuple[PairRef, ...]:
    """`key = [["mentee", "mentor"], ...]` of a parsed TOML file; a malformed item is a BAD_VALUE problem."""
    raw = data.get(key, [])
    if not isinstance(raw, list):
        problems.append(Problem(ProblemCode.BAD_VALUE, key, "expected a list of [mentee_id, mentor_id]",
                                f"{where} {key}"))
        return ()
    out = []
    for k, item in enumerate(raw):
        if isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item):
            out.append(PairRef(item[0], item[1]))
        else:
            problems.append(Problem(ProblemCode.BAD_VALUE, f"{key}[{k}]", "expected [mentee_id, mentor_id]",
                                    f"{where} {key}[{k}]"))
    return tuple(out)

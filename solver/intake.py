"""Rolling intake: match the newcomers while the running pairs stay as they are, and write what the next intake
reads (the next current.csv and history.csv), so a coordinator goes from one intake to the next with files alone.

The current pairs are current.csv's when one is given, else the running pairs of the history (entries without an
`ended` date). Each current pair that the rules still allow is locked (a pin); one they no longer allow (a mentor
not available any more, a pair the history now records as ended) ends. Everyone else is matched as a solve
would: new arrivals, mentees whose pair ended, and mentors with a free or freed place, with the waiting priority
of `[intake]` in the matched count and no pair that met in an earlier round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from solver.domain import Cohort, HistoryEntry, months_between
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.history import date_text, running_pair_problems
from solver.rematch import ChangeKind, PairChange, RematchResult, read_current_pairs, rematch
from solver.solve import SolveOptions
from solver.workflows import PairRef

CURRENT_FILE = "current.csv"
NEVER_CHANGE = 2**40  # a disruption penalty no gain can pay: with every working pair pinned it never applies anyway


@dataclass(frozen=True)
class Waiting:
    """A mentee who waited: since when, how many whole months to the start, her priority, and her new mentor."""

    mentee_id: str
    waiting_since: str
    months: int
    priority: int
    mentor_id: str  # "" when still unmatched


@dataclass(frozen=True)
class IntakeResult:
    """One intake's matching: the re-match of the cohort with every working current pair locked."""

    cohort: str
    start_date: str
    current_from: str  # "current.csv", "history" (its running pairs) or "" (none)
    result: RematchResult
    waiting: list[Waiting]  # mentees with waiting priority, most priority first
    returning_matched: list[str]  # mentors with an earlier round who got a new mentee in this intake
    next_current: list[PairRef]  # every pair running after this intake: kept and new
    next_history: tuple[HistoryEntry, ...] = field(default=())  # the history plus this intake's new pairs

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        out["next_history"] = [{"mentee_id": h.mentee_id, "mentor_id": h.mentor_id, "started": date_text(h.started),
                                "ended": date_text(h.ended), "outcome": h.outcome.value, "programme": h.programme}
                               for h in self.next_history]
        return out


def running_pairs(cohort: Cohort) -> list[PairRef]:
    """The pairs of the history still running (no `ended` date), in the history's order."""
    return [PairRef(h.mentee_id, h.mentor_id) for h in cohort.history if not h.finished]


def locked_running_pairs(cohort: Cohort) -> list[PairRef]:
    """The running pairs of the history whose people are both in the cohort and whom the rules still allow."""
    mentees, mentors = {m.id for m in cohort.mentees}, {m.id for m in cohort.mentors}
    present = [p for p in running_pairs(cohort) if p.mentee_id in mentees and p.mentor_id in mentors]
    return [p for p, ok in zip(present, allowed_pairs(cohort, present), strict=True) if ok]


def current_pairs_for(cohort: Cohort, directory: Path | None, current_path: Path | None
                      ) -> tuple[list[PairRef], str]:
    """The current pairs: the file given, else the cohort directory's current.csv, else the history's running pairs."""
    if current_path is None and directory is not None and directory.is_dir() and (directory / CURRENT_FILE).exists():
        current_path = directory / CURRENT_FILE
    if current_path is not None:
        return read_current_pairs(current_path), current_path.name
    running = running_pairs(cohort)
    return running, "history" if running else ""


def merged_current(cohort: Cohort, current: Sequence[PairRef], source: str, left: set[str]
                   ) -> tuple[list[PairRef], list[Problem]]:
    """The current pairs of a file together with the history's running pairs, which the file cannot end (an end is
    recorded in history.csv): the file's pairs, then the running pairs it does not list. A person in two different
    pairs of the two (a mentee twice, or a pair the file lists while the history runs another for that mentee) is a
    problem naming both pairs: the next history would hold two running pairs for one person."""
    if source == "history":
        return list(current), []
    listed = {(p.mentee_id, p.mentor_id) for p in current}
    extra = [p for p in running_pairs(cohort) if (p.mentee_id, p.mentor_id) not in listed]
    merged = [*current, *extra]
    by_mentee: dict[str, list[PairRef]] = {}
    for p in merged:
        if p.mentee_id not in left and p.mentor_id not in left and p not in by_mentee.get(p.mentee_id, []):
            by_mentee.setdefault(p.mentee_id, []).append(p)
    running = {(p.mentee_id, p.mentor_id) for p in running_pairs(cohort)}

    def where(p: PairRef) -> str:
        return " and ".join(([source or "the current pairs"] if (p.mentee_id, p.mentor_id) in listed else [])
                            + (["history.csv (running)"] if (p.mentee_id, p.mentor_id) in running else []))

    problems = [Problem(ProblemCode.CONFLICTING_PINS, "current",
                        f"mentee {mentee} is in {len(pairs)} running pairs: "
                        + "; ".join(f"{p.mentee_id}-{p.mentor_id} in {where(p)}" for p in pairs)
                        + ": record the end of the pair that is over in history.csv (ended, outcome), or give "
                          "the current pairs that agree with it")
                for mentee, pairs in sorted(by_mentee.items()) if len(pairs) > 1]
    return merged, problems


def allowed_pairs(cohort: Cohort, pairs: Sequence[PairRef]) -> list[bool]:
    """Whether every hard rule allows each pair (both people in the cohort)."""
    from solver.arrays import cohort_arrays
    from solver.candidates import allowed

    if not pairs:
        return []
    arrays = cohort_arrays(cohort)
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    a = np.array([mentee_index[p.mentee_id] for p in pairs], dtype=np.int64)
    b = np.array([mentor_index[p.mentor_id] for p in pairs], dtype=np.int64)
    return [bool(ok) for ok in allowed(arrays, a, b)]


def rolling_intake(cohort: Cohort, current: Sequence[PairRef] = (), *, current_from: str = "",
                   left: Sequence[str] = (), options: SolveOptions | None = None) -> IntakeResult:
    """Match one intake: every current pair the rules still allow stays (locked), the rest is matched.

    Raises CohortInvalid with every problem (unknown ids in the current pairs, a running pair of the history naming
    someone who is gone, the cohort's own problems).
    """
    gone = set(left)
    current, problems = merged_current(cohort, current, current_from, gone)
    problems = [*running_pair_problems(cohort, gone), *problems]
    if problems:
        raise CohortInvalid(problems)
    present = ({m.id for m in cohort.mentees}, {m.id for m in cohort.mentors})
    staying = [p for p in current if p.mentee_id in present[0] and p.mentor_id in present[1]
               and p.mentee_id not in gone and p.mentor_id not in gone]
    from solver.workflows import without_people

    locked = [p for p, ok in zip(staying, allowed_pairs(without_people(cohort, gone), staying), strict=True) if ok]
    result = rematch(cohort, current, left=left, keep=locked, penalty=NEVER_CHANGE, options=options)
    # Every working pair is locked, so the disruption penalty never applies: its note would only puzzle.
    notes = [n for n in result.notes if not n.startswith("a disrupted pair costs")]
    result = replace(result, notes=[f"{len(locked)} running pair(s) locked", *notes])
    start = cohort.rules.intake.start_date
    new_pairs = {c.mentee_id: c.mentor_id for c in result.changes if c.kind == ChangeKind.NEW}
    pair_of = {p.mentee_id: p.mentor_id for p in result.pairs}
    priorities = dict(zip((m.id for m in cohort.mentees), cohort.priorities(), strict=True))
    waiting = []
    if start is not None:
        for m in cohort.mentees:
            if m.waiting_since is not None and m.id not in gone and not any(p.mentee_id == m.id for p in locked):
                waiting.append(Waiting(m.id, m.waiting_since.isoformat(), months_between(m.waiting_since, start),
                                       priorities[m.id], pair_of.get(m.id, "")))
    waiting.sort(key=lambda w: (-w.priority, w.mentee_id))
    returning = cohort.returning_mentors()
    next_current = [PairRef(p.mentee_id, p.mentor_id) for p in result.pairs]
    return IntakeResult(
        cohort=cohort.name, start_date=date_text(start), current_from=current_from, result=result, waiting=waiting,
        returning_matched=sorted({b for b in new_pairs.values() if b in returning}),
        next_current=next_current, next_history=next_history(cohort, result.changes, start))


def next_history(cohort: Cohort, changes: Sequence[PairChange], start: date | None) -> tuple[HistoryEntry, ...]:
    """The history for the next intake: running pairs this intake ended get the start date as `ended` (the outcome
    is the coordinator's to record), and each new pair is added as running from the start date, with its score and
    each soft term's points (0..100) as matched, for the outcomes report."""
    ended = {(c.mentee_id, c.mentor_id) for c in changes if c.kind == ChangeKind.ENDED}
    history = tuple(replace(h, ended=start or h.ended) if not h.finished and (h.mentee_id, h.mentor_id) in ended
                    else h for h in cohort.history)
    running = {(h.mentee_id, h.mentor_id) for h in cohort.history if not h.finished}
    # A kept pair the history does not hold (from current.csv, e.g. one accepted in `decide`) runs on: recorded
    # as running, its start unknown, so that the next intake reads it from the history too.
    kept = tuple(HistoryEntry(c.mentee_id, c.mentor_id, score=c.score) for c in changes
                 if c.kind == ChangeKind.KEPT and (c.mentee_id, c.mentor_id) not in running)
    new = [c for c in changes if c.kind == ChangeKind.NEW]
    points = term_points(cohort, [(c.mentee_id, c.mentor_id) for c in new])
    programme = cohort.rules.intake.programme or cohort.name
    added = tuple(HistoryEntry(c.mentee_id, c.mentor_id, started=start, programme=programme, score=c.score,
                               term_points=points[k]) for k, c in enumerate(new))
    return history + kept + added


def term_points(cohort: Cohort, pairs: Sequence[tuple[str, str]]) -> list[tuple[tuple[str, int], ...]]:
    """Each pair's points (0..100) on every soft term, as `solver.scores` gives them, by term code."""
    from solver.arrays import cohort_arrays
    from solver.scores import TERMS, score_pairs

    if not pairs:
        return []
    mentee_index, mentor_index = cohort.mentee_index(), cohort.mentor_index()
    a = np.array([mentee_index[x] for x, _ in pairs], dtype=np.int64)
    b = np.array([mentor_index[y] for _, y in pairs], dtype=np.int64)
    table = score_pairs(cohort, cohort_arrays(cohort), a, b)
    columns = {term.value: table[term.column].to_list() for term in TERMS}
    return [tuple((term, int(values[k])) for term, values in columns.items()) for k in range(len(pairs))]


def read_intake(cohort_path: Path, current_path: Path | None = None, left: Sequence[str] = ()
                ) -> tuple[Cohort, list[PairRef], str]:
    """The cohort and its current pairs (see `current_pairs_for`), every problem of both at once: the running
    pairs naming someone not in the cohort (nor in `left`) with the cohort's own."""
    from solver.ingest import load_cohort

    problems: list[Problem] = []
    cohort: Cohort | None = None
    try:
        cohort = load_cohort(cohort_path, checks=lambda read: running_pair_problems(read, left))
    except CohortInvalid as invalid:
        problems += invalid.problems
    current: list[PairRef] = []
    source = ""
    if cohort is not None or current_path is not None:
        try:
            current, source = current_pairs_for(cohort or Cohort((), ()), cohort_path if cohort_path.is_dir() else None,
                                                current_path)
        except CohortInvalid as invalid:
            problems += invalid.problems
    if problems or cohort is None:
        raise CohortInvalid(problems)
    return cohort, current, source

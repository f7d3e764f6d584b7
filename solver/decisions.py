"""Decisions fed back: people's answers to proposed pairs (decisions.csv), applied to the cohort, and the next
matching for the people still open.

decisions.csv has `mentee_id,mentor_id,decision,by`: `decision` is `accepted` or `declined`, `by` is `mentee`,
`mentor` or `coordinator`. A pair with a `declined` row is declined (whoever else accepted it): it becomes a ban,
and explanations say who declined. A pair with an `accepted` row and none declined is accepted: it becomes a pin.
A cohort directory's decisions.csv (and the contract's `Cohort.decisions`) is applied whenever the cohort is read,
so `solve`, `shortlist`, `why-not` and the service all honour it; `mentormatch decide` adds a file of new answers
and proposes pairs for the people still open. Each round adds a ban or a pin that no later round removes, so the
loop ends (at the latest when every allowed pair was answered): everyone is then matched with an accepted mentor,
or unmatched with a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from solver.decision_rows import (
    DECISION_COLUMNS,
    DECISIONS_FILE,
    accepted_pairs,
    add_decisions,
    decisions_from_rows,
    declined_pairs,
    located_decision_problems,
    with_decisions,
    without_decisions,
)
from solver.domain import Cohort, Decision
from solver.errors import CohortInvalid, Problem, ProblemCode

if TYPE_CHECKING:
    from solver.solve import SolveOptions, SolveResult
    from solver.workflows import PairRecord, UnmatchedRecord

__all__ = [
    "DECISIONS_FILE",
    "DecideResult",
    "Proposal",
    "accepted_pairs",
    "add_decisions",
    "decide",
    "declined_pairs",
    "read_decisions_file",
    "with_decisions",
    "without_decisions",
]

# Reading -----------------------------------------------------------------------------------------------


def read_decisions_file(path: Path) -> tuple[Decision, ...]:
    """A decisions CSV given on the command line; raises CohortInvalid with every problem (ids are checked against
    the cohort when the decisions are applied)."""
    found, problems = read_decisions_rows(path)
    if problems:
        raise CohortInvalid(problems)
    return found


def read_decisions_rows(path: Path) -> tuple[tuple[Decision, ...], list[Problem]]:
    """A decisions CSV given on the command line, one decision per row (a bad cell read as its first choice), and
    the problems of its cells, so that the ids can be checked against the cohort at the same time."""
    from solver.ingest import RowReader

    reader = RowReader()
    if not path.exists():
        return (), [Problem(ProblemCode.MISSING_FILE, "decisions", f"{path} is missing", str(path))]
    stem = path.name.removesuffix(".csv").removesuffix(".parquet")
    rows = reader.table(path.parent, stem, DECISION_COLUMNS, DECISION_COLUMNS)
    return decisions_from_rows(reader, rows or [], stem), list(reader.problems)


def new_decision_problems(cohort: Cohort, new: Sequence[Decision], new_source: str) -> list[Problem]:
    """What `decide` would refuse in the new decisions (ids not in the cohort, accepted pairs the rules forbid), at
    their rows in `new_source`: reported with the file's other problems (its cells'), so that a typo in one row
    hides no problem of another. `cohort` is valid with its own decisions (it was read)."""
    from solver.validate import validate

    merged = add_decisions(cohort, new)
    return located_decision_problems(merged, validate(merged), len(cohort.decisions), new_source)


# Writing -----------------------------------------------------------------------------------------------


# The next matching -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A pair of the next matching: accepted already (fixed), or proposed to two people still open."""

    mentee_id: str
    mentor_id: str
    score: int
    accepted: bool  # True: both kept it (a pin made by an accepted decision)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DecideResult:
    """The cohort after the decisions and the matching proposed for the people still open."""

    cohort: str
    status: str
    running: list[Proposal]  # running pairs of the history, kept as they are
    accepted: list[Proposal]  # pairs fixed by accepted decisions
    proposed: list[Proposal]  # new proposals, for people with no accepted pair
    declined: list[tuple[str, str, str]]  # (mentee, mentor, who declined)
    unmatched: list[UnmatchedRecord]
    open_mentees: int  # mentees with no accepted pair
    done: bool  # nothing left to answer: every matched pair is accepted (the unmatched have reasons)
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def decide(cohort: Cohort, new: Sequence[Decision] = (), options: SolveOptions | None = None, *,
           new_source: str = "the new decisions", own_source: str = "decisions.csv"
           ) -> tuple[Cohort, DecideResult, SolveResult]:
    """Apply `new` decisions to the cohort (after its own) and solve for the people still open; the running pairs of
    the history that the rules still allow stay as they are (as in a rolling intake).

    Returns the cohort with every decision (to write for the next round), the result for people, and the solve.
    Raises CohortInvalid for decisions that name unknown people or fix pairs the rules do not allow, each at its
    row: of the cohort's own decisions (`own_source`) or of the new ones (`new_source`, a file's name).
    """
    from solver.intake import locked_running_pairs
    from solver.solve import SolveOptions, solve
    from solver.validate import validate
    from solver.workflows import pair_records, unmatched_records

    merged = add_decisions(cohort, new)
    problems = validate(merged)
    if problems:
        raise CohortInvalid(located_decision_problems(merged, problems, len(cohort.decisions), new_source,
                                                      own_source))
    running = {(p.mentee_id, p.mentor_id) for p in locked_running_pairs(merged)}
    pins = tuple(dict.fromkeys((*merged.rules.pins, *sorted(running))))
    result = solve(replace(merged, rules=replace(merged.rules, pins=pins)), replace(options or SolveOptions(),
                                                                                    alternatives=1))
    accepted = accepted_pairs(merged.decisions)
    best = result.best
    rows = best.rows if best is not None else np.zeros(0, dtype=np.int64)
    records: list[PairRecord] = pair_records(result.candidates, rows)
    unmatched, notes = unmatched_records(result)
    def proposals(which: Callable[[tuple[str, str]], bool]) -> list[Proposal]:
        return [Proposal(r.mentee_id, r.mentor_id, r.score, (r.mentee_id, r.mentor_id) in accepted, list(r.reasons))
                for r in records if which((r.mentee_id, r.mentor_id))]

    kept = proposals(lambda p: p in running)
    fixed = proposals(lambda p: p in accepted and p not in running)
    proposed = proposals(lambda p: p not in accepted and p not in running)
    declined = [(a, b, by.value) for (a, b), by in declined_pairs(merged.decisions).items()]
    settled = {a for a, _ in accepted} | {a for a, _ in running}
    out = DecideResult(
        cohort=merged.name, status=result.status.value, running=kept, accepted=fixed, proposed=proposed,
        declined=declined, unmatched=unmatched,
        open_mentees=sum(1 for m in merged.mentees if m.id not in settled),
        done=not proposed, notes=list(result.notes) + notes)
    return merged, out, result

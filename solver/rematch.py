"""Re-matching mid-programme: keep the pairs that work, pair the people left alone and the late joiners."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from ortools.sat.python import cp_model

from solver.candidates import HardRule, rule_masks
from solver.csv_text import read_csv_text
from solver.defaults import DEFAULT_PENALTY
from solver.domain import Cohort, ObjectiveMode
from solver.errors import CohortInvalid, Problem, ProblemCode, did_you_mean, gathered
from solver.explain import ExtraConstraints
from solver.fileio import TABLE_LIMIT_BYTES, read_input, read_toml
from solver.ingest import RowReader, load_cohort, row_text
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import (
    AssignmentModel,
    Matching,
    SolveOptions,
    build_model,
    chain_constraints,
    evaluate,
    solve,
)
from solver.validate import validate
from solver.verify import verify_matchings
from solver.workflows import (
    PairRecord,
    PairRef,
    UnmatchedRecord,
    id_pairs,
    pair_records,
    text_list,
    unmatched_records,
    without_people,
)

CURRENT_FILE = "current.csv"
CHANGES_FILE = "changes.toml"
CHANGES_KEYS = ("left", "joined", "keep", "penalty", "max_changes")
T = TypeVar("T")


class ChangeKind(StrEnum):
    KEPT = "KEPT"
    ENDED = "ENDED"
    NEW = "NEW"


class EndReason(StrEnum):
    """Why a current pair is not in the new matching."""

    LEFT = "LEFT"  # the mentee or the mentor left the programme
    NOT_ALLOWED = "NOT_ALLOWED"  # the rules (or changed data) no longer allow the pair
    CHANGED = "CHANGED"  # changed for a better matching, worth more than the disruption penalty


class NewReason(StrEnum):
    """Why the mentee of a new pair needed a mentor."""

    JOINED = "JOINED"  # a late joiner (listed in `joined`)
    PARTNER_LEFT = "PARTNER_LEFT"  # their mentor left
    PAIR_NOT_ALLOWED = "PAIR_NOT_ALLOWED"  # their pair is no longer allowed
    REASSIGNED = "REASSIGNED"  # their pair was changed for a better matching
    NOT_MATCHED_BEFORE = "NOT_MATCHED_BEFORE"  # in the cohort but in no current pair (unmatched, or joined)


@dataclass(frozen=True)
class PairChange:
    """One line of the change list: a kept, ended or new pair, with its reason code and a readable detail."""

    kind: str  # a `ChangeKind` value
    mentee_id: str
    mentor_id: str
    reason: str  # "" for kept pairs, an `EndReason` for ended ones, a `NewReason` for new ones
    detail: str
    score: int | None  # the pair's score now; None when it is no longer allowed or someone left


@dataclass(frozen=True)
class RematchResult:
    cohort: str
    status: str  # a `SolveStatus` value
    penalty: int
    max_changes: int | None
    points_per_matched_mentee: int  # the engine's weight of one matched mentee (priority 1)
    mentees: int
    mentors: int
    matched: int
    total_score: int
    objective_value: int  # the engine's objective of the new matching (without the penalty)
    disrupted_pairs: int  # working current pairs that were changed
    rematch_value: int  # objective_value - penalty * disrupted_pairs: what was maximised
    fresh_optimum_value: int  # the engine's optimum for the same people, ignoring the current pairs
    kept: int
    ended: int
    new: int
    pairs: list[PairRecord]
    changes: list[PairChange]
    unmatched: list[UnmatchedRecord]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Inputs ----------------------------------------------------------------------------------------------


def _check_inputs(cohort: Cohort, current: Sequence[PairRef], left: Sequence[str], joined: Sequence[str],
                  keep: Sequence[PairRef], penalty: int, max_changes: int | None) -> list[Problem]:
    """Every problem with the current pairs and the change lists (the cohort itself is validated apart)."""
    out: list[Problem] = []
    mentee_ids = {m.id for m in cohort.mentees}
    mentor_ids = {m.id for m in cohort.mentors}
    gone = set(left)
    in_current = {p.mentee_id for p in current} | {p.mentor_id for p in current}

    def side(value: str, want: set[str], other: set[str], what: str, path: str, allow_left: bool) -> None:
        if not value:
            out.append(Problem(ProblemCode.EMPTY_ID, path, "the id is empty"))
            return
        if value in want or (allow_left and value in gone):
            return
        message = (f"'{value}' is a {'mentor' if what == 'mentee' else 'mentee'}, not a {what}" if value in other
                   else f"'{value}' is no {what} in the cohort and not in the left list")
        out.append(Problem(ProblemCode.UNKNOWN_ID, path, message))

    seen_mentee: dict[str, PairRef] = {}
    for k, pair in enumerate(current):
        side(pair.mentee_id, mentee_ids, mentor_ids, "mentee", f"current[{k}].mentee_id", True)
        side(pair.mentor_id, mentor_ids, mentee_ids, "mentor", f"current[{k}].mentor_id", True)
        if pair.mentee_id and pair.mentee_id in seen_mentee:
            out.append(Problem(ProblemCode.DUPLICATE_ID, f"current[{k}].mentee_id",
                               f"mentee '{pair.mentee_id}' is already paired, with "
                               f"'{seen_mentee[pair.mentee_id].mentor_id}' in an earlier pair"))
        seen_mentee.setdefault(pair.mentee_id, pair)
    for k, person in enumerate(left):
        if person not in mentee_ids and person not in mentor_ids and person not in in_current:
            out.append(Problem(ProblemCode.UNKNOWN_ID, f"left[{k}]",
                               f"'{person}' is neither in the cohort nor in the current pairs"))
    for k, person in enumerate(joined):
        if person not in mentee_ids and person not in mentor_ids:
            out.append(Problem(ProblemCode.UNKNOWN_ID, f"joined[{k}]", f"'{person}' is not in the cohort"))
        elif person in gone:
            out.append(Problem(ProblemCode.BAD_VALUE, f"joined[{k}]", f"'{person}' both joined and left"))
        elif person in in_current:
            out.append(Problem(ProblemCode.BAD_VALUE, f"joined[{k}]",
                               f"'{person}' joined but is already in a current pair"))
    for k, pair in enumerate(keep):
        for name, value in (("mentee_id", pair.mentee_id), ("mentor_id", pair.mentor_id)):
            if value in gone:
                out.append(Problem(ProblemCode.BAD_VALUE, f"keep[{k}].{name}", f"'{value}' left: the pair cannot stay"))
    return out + setting_problems(penalty, max_changes)


def setting_problems(penalty: int, max_changes: int | None) -> list[Problem]:
    """The re-match's settings: neither the penalty nor the change limit may be negative."""
    out = []
    if penalty < 0:
        out.append(Problem(ProblemCode.NEGATIVE_VALUE, "penalty", f"penalty {penalty} is negative"))
    if max_changes is not None and max_changes < 0:
        out.append(Problem(ProblemCode.NEGATIVE_VALUE, "max_changes", f"max_changes {max_changes} is negative"))
    return out


@dataclass(frozen=True)
class RematchSources:
    """Where a re-match's inputs came from, so that each problem says where to look as people see it: the row of
    the current-pairs file as the spreadsheet numbers it (`current.csv row 4, column mentee_id`), the item of a
    list given on the command line or in changes.toml (`--left item 2`). Empty: the library's paths alone."""

    current: str = ""  # the current pairs' file name
    left: str = ""
    joined: str = ""
    keep: str = ""
    penalty: str = ""
    max_changes: str = ""

    @staticmethod
    def command_line(current_file: str | Path) -> RematchSources:
        """`mentormatch rematch COHORT CURRENT --left ... --joined ... --keep ...`."""
        return RematchSources(Path(current_file).name, "--left", "--joined", "--keep", "--penalty", "--max-changes")

    @staticmethod
    def batch() -> RematchSources:
        """A batch directory's current.csv and changes.toml."""
        return RematchSources(CURRENT_FILE, *(f"{CHANGES_FILE} {key}" for key in CHANGES_KEYS))


def _locate(problems: Sequence[Problem], sources: RematchSources, pin_origins: Sequence[str]) -> list[Problem]:
    """The problems with their places in the sources (`RematchSources`); a pin of the changed cohort is placed at
    the kept pair it came from (`pin_origins`: "keep[2]", or "" for one of the cohort's own pins)."""
    lists = {"left": sources.left, "joined": sources.joined, "keep": sources.keep}
    out = []
    for problem in problems:
        head, bracket, rest = problem.path.partition("[")
        index, _, tail = rest.partition("]")
        column = tail.lstrip(".")
        place = ""
        if head == "current" and bracket and index.isdigit() and sources.current:
            place = f"{sources.current} {row_text(int(index))}" + (f", column {column}" if column else "")
        elif head in lists and bracket and index.isdigit() and lists[head]:
            place = f"{lists[head]} item {int(index) + 1}"
        elif problem.path in ("penalty", "max_changes"):
            place = getattr(sources, problem.path)
        elif head == "rules.pins" and bracket and index.isdigit() and int(index) < len(pin_origins):
            kept = pin_origins[int(index)]
            if kept and sources.keep:
                place = f"{sources.keep} item {int(kept[len('keep['):-1]) + 1}"
        out.append(replace(problem, location=place) if place and not problem.location else problem)
    return out


def rematch_problems(cohort: Cohort, current_pairs: Iterable[PairRef | tuple[str, str]], *, left: Sequence[str] = (),
                     joined: Sequence[str] = (), keep: Iterable[PairRef | tuple[str, str]] = (),
                     penalty: int = DEFAULT_PENALTY, max_changes: int | None = None,
                     sources: RematchSources | None = None) -> list[Problem]:
    """Every problem `rematch` would refuse, at once: the current pairs and change lists, and the cohort they make
    (today's minus who left, the kept pairs pinned: a kept pair that breaks a rule). With `sources`, each is
    placed in the files and options it came from."""
    current = [p if isinstance(p, PairRef) else PairRef(*p) for p in current_pairs]
    kept = [p if isinstance(p, PairRef) else PairRef(*p) for p in keep]
    return _rematch_check(cohort, current, left, joined, kept, penalty, max_changes, sources)[0]


def _rematch_check(cohort: Cohort, current: Sequence[PairRef], left: Sequence[str], joined: Sequence[str],
                   keep: Sequence[PairRef], penalty: int, max_changes: int | None, sources: RematchSources | None
                   ) -> tuple[list[Problem], Cohort]:
    """The problems of a re-match's inputs and of the cohort it solves (always both: one run lists them all), and
    that cohort: today's minus who left, with the kept pairs pinned."""
    problems = _check_inputs(cohort, current, left, joined, keep, penalty, max_changes)
    gone = set(left)
    origins = {pin: "" for pin in cohort.rules.pins}
    for k, pair in enumerate(keep):
        origins.setdefault((pair.mentee_id, pair.mentor_id), f"keep[{k}]")
    staying = without_people(replace(cohort, rules=replace(cohort.rules, pins=tuple(origins))), gone)
    problems += validate(staying)
    if sources is not None:
        problems = _locate(problems, sources, [origins[pin] for pin in staying.rules.pins])
    return problems, staying


# Re-matching -----------------------------------------------------------------------------------------


def rematch(
    cohort: Cohort,
    current_pairs: Iterable[PairRef | tuple[str, str]],
    *,
    left: Sequence[str] = (),
    joined: Sequence[str] = (),
    keep: Iterable[PairRef | tuple[str, str]] = (),
    penalty: int = DEFAULT_PENALTY,
    max_changes: int | None = None,
    options: SolveOptions | None = None,
    sources: RematchSources | None = None,
) -> RematchResult:
    """Re-match `cohort` (today's snapshot, late joiners included) given the pairs running now.

    The objective is the engine's own scalar minus a disruption penalty:

        value = points_per_matched_mentee * matched_priority + total_score - penalty * disrupted_pairs

    `points_per_matched_mentee` is the engine's weight of one matched mentee of priority 1 (`AssignmentModel.big`,
    more than the whole score can add), so with penalty 0 this is exactly the fresh optimum's objective. A
    *disrupted* pair is a current pair that still works (both people stay, the rules allow it) and is not in
    the new matching. A working pair therefore changes only when the change raises the engine's objective by
    more than `penalty` per changed pair; a penalty above `points_per_matched_mentee` times the mentees' total
    priority means no working pair ever changes, even to match one more person. `max_changes` caps the
    number of disrupted pairs as a hard constraint.

    `left` people are taken out of the cohort if still in it; `keep` pairs are pinned. Raises
    CohortInvalid with every problem in the inputs (unknown ids in the current pairs that are not in
    `left`, a mentee paired twice, ...) and in the resulting cohort, all at once (`rematch_problems`); with
    `sources` each is placed where it came from (`current.csv row 4, column mentee_id`, `--left item 2`).
    """
    current = [p if isinstance(p, PairRef) else PairRef(*p) for p in current_pairs]
    kept_pairs = [p if isinstance(p, PairRef) else PairRef(*p) for p in keep]
    gone = set(left)
    problems, staying = _rematch_check(cohort, current, left, joined, kept_pairs, penalty, max_changes, sources)
    if problems:
        raise CohortInvalid(problems)
    staying = staying.canonical()  # the order of the rows decides no tie
    options = replace(options or SolveOptions(), alternatives=1, mode=ObjectiveMode.SCORE)

    candidates = candidate_pairs(staying)
    model = build_model(candidates)
    row_of = _row_lookup(candidates)
    working = {p: row_of[(p.mentee_id, p.mentor_id)] for p in current if (p.mentee_id, p.mentor_id) in row_of}
    working_rows = np.array(sorted(working.values()), dtype=np.int64)

    weights = _rematch_weights(model, working_rows, penalty)
    disruption_cap = _cap_disruption(working_rows, max_changes) if max_changes is not None else None
    constraints = options.extra_constraints if disruption_cap is None else chain_constraints(options.extra_constraints,
                                                                                  disruption_cap)
    # The engine ranks the matched count above the score; here the penalty must be able to outweigh a
    # matched mentee, so the whole objective goes into the score and the engine's first tier is switched
    # off (priority 0 everywhere). Rows stay in the same order, so solutions map back one to one.
    flat = replace(candidates.with_scores(weights),
                   cohort=replace(staying, mentees=tuple(replace(m, priority=0) for m in staying.mentees)))
    result = solve(flat, replace(options, extra_constraints=constraints, synthetic_scores=True))
    fresh = solve(candidates, options)
    best = result.best
    notes = list(result.notes)
    notes.append(f"a disrupted pair costs {penalty} points; one more matched mentee (priority 1) is worth "
                 f"{model.big} points")
    rows = best.rows if best is not None else np.zeros(0, dtype=np.int64)
    objective = evaluate(model, rows)
    if best is not None:  # the answer in real scores, re-checked against the rules like every solve's
        verify_matchings(candidates, [Matching(1, rows, objective, best.status)], ObjectiveMode.SCORE, stable=False,
                         min_difference=1)
    chosen = set(rows.tolist())
    disrupted = sum(1 for r in working_rows.tolist() if r not in chosen)
    pairs = pair_records(candidates, rows)
    # Reasons for the unmatched read the real scores: the new matching, seen against the fresh solve's candidates.
    status = best.status if best is not None else result.status
    if best is not None:
        unmatched, explain_notes = unmatched_records(fresh, Matching(1, rows, objective, status))
    else:
        unmatched, explain_notes = unmatched_records(replace(fresh, matchings=[], status=status))
    notes += explain_notes
    changes = _change_list(staying, candidates, current, working, pairs, rows, gone, set(joined))
    return RematchResult(
        cohort=cohort.name,
        status=status.value,
        penalty=penalty,
        max_changes=max_changes,
        points_per_matched_mentee=model.big,
        mentees=len(staying.mentees),
        mentors=len(staying.mentors),
        matched=objective.matched,
        total_score=objective.total_score,
        objective_value=objective.value,
        disrupted_pairs=disrupted,
        rematch_value=objective.value - penalty * disrupted,
        fresh_optimum_value=fresh.best.objective.value if fresh.best is not None else 0,
        kept=sum(1 for c in changes if c.kind == ChangeKind.KEPT),
        ended=sum(1 for c in changes if c.kind == ChangeKind.ENDED),
        new=sum(1 for c in changes if c.kind == ChangeKind.NEW),
        pairs=pairs,
        changes=changes,
        unmatched=unmatched,
        notes=notes,
    )


def _row_lookup(candidates: CandidatePairs) -> dict[tuple[str, str], int]:
    cohort = candidates.cohort
    mentee = candidates.mentee.tolist()
    mentor = candidates.mentor.tolist()
    return {(cohort.mentees[a].id, cohort.mentors[b].id): r for r, (a, b) in enumerate(zip(mentee, mentor, strict=True))}


def _rematch_weights(model: AssignmentModel, working_rows: np.ndarray, penalty: int) -> np.ndarray:
    """Per candidate row: the engine's weight (big * priority + score), plus the penalty saved by keeping it.

    Maximising the sum equals maximising `value - penalty * disrupted` (they differ by the constant
    penalty * len(working_rows)).
    """
    weights = model.big * model.priority[model.mentee] + model.score
    weights[working_rows] += penalty
    return np.asarray(weights, dtype=np.int64)


def _cap_disruption(working_rows: np.ndarray, max_changes: int) -> ExtraConstraints | None:
    if max_changes >= len(working_rows):
        return None  # the cap cannot bind; the flow solver stays exact without CP-SAT

    def at_most_changes(cp: cp_model.CpModel, x: Sequence[cp_model.IntVar], _model: AssignmentModel) -> None:
        cp.add(sum(x[int(r)] for r in working_rows) >= len(working_rows) - max_changes)

    return at_most_changes


def _change_list(staying: Cohort, candidates: CandidatePairs, current: Sequence[PairRef],
                 working: dict[PairRef, int], pairs: list[PairRecord], rows: np.ndarray, gone: set[str],
                 joined: set[str]) -> list[PairChange]:
    """Kept, ended (with why) and new pairs (with why the mentee needed one), by participant id."""
    score = candidates.score
    new_pairs = {p.mentee_id: p for p in pairs}
    chosen = set(np.asarray(rows).tolist())
    out: list[PairChange] = []
    why_new: dict[str, tuple[NewReason, str]] = {}
    for pair in current:
        a, b = pair.mentee_id, pair.mentor_id
        if a in gone or b in gone:
            who = " and ".join(f"{role} {pid}" for role, pid in (("mentee", a), ("mentor", b)) if pid in gone)
            out.append(PairChange(ChangeKind.ENDED, a, b, EndReason.LEFT, f"{who} left", None))
            why_new[a] = (NewReason.PARTNER_LEFT, f"mentor {b} left")
        elif pair not in working:
            broken = _broken_rules(staying, candidates, a, b)
            out.append(PairChange(ChangeKind.ENDED, a, b, EndReason.NOT_ALLOWED,
                                  f"no longer allowed: {broken}", None))
            why_new[a] = (NewReason.PAIR_NOT_ALLOWED, f"the pair with {b} is no longer allowed ({broken})")
        elif working[pair] in chosen:
            out.append(PairChange(ChangeKind.KEPT, a, b, "", "still works", int(score[working[pair]])))
        else:
            now = new_pairs.get(a)
            detail = f"mentee {a} now with {now.mentor_id}" if now else f"mentee {a} now unmatched"
            out.append(PairChange(ChangeKind.ENDED, a, b, EndReason.CHANGED,
                                  f"changed for a better matching: {detail}", int(score[working[pair]])))
            why_new[a] = (NewReason.REASSIGNED, f"the pair with {b} was changed for a better matching")
    current_set = {(p.mentee_id, p.mentor_id) for p in current}
    for record in new_pairs.values():
        if (record.mentee_id, record.mentor_id) in current_set:
            continue
        if record.mentee_id in joined:
            reason, detail = NewReason.JOINED, f"mentee {record.mentee_id} joined"
        else:
            reason, detail = why_new.get(record.mentee_id, (NewReason.NOT_MATCHED_BEFORE, "had no mentor"))
        if record.mentor_id in joined:
            detail += f"; mentor {record.mentor_id} joined"
        out.append(PairChange(ChangeKind.NEW, record.mentee_id, record.mentor_id, reason,
                              f"{detail}; {'; '.join(record.reasons)}" if record.reasons else detail, record.score))
    return out


def _broken_rules(cohort: Cohort, candidates: CandidatePairs, mentee_id: str, mentor_id: str) -> str:
    """The hard rules a pair breaks, as codes (e.g. 'DISTANCE, LANGUAGE')."""
    a = cohort.mentee_index()[mentee_id]
    b = cohort.mentor_index()[mentor_id]
    masks = rule_masks(candidates.arrays, np.array([a], dtype=np.int64), np.array([b], dtype=np.int64))
    broken = [rule.value for rule, ok in masks.items() if not ok[0]]
    return ", ".join(broken) or HardRule.ELIGIBILITY.value


# Files and batches -----------------------------------------------------------------------------------


def new_problems(known: Sequence[Problem], found: Sequence[Problem]) -> list[Problem]:
    """`found` less the problems `known` has already (the same code at the same path): the re-match's checks find
    again an empty id that reading the current pairs reported."""
    seen = {(p.code, p.path) for p in known}
    return [p for p in found if (p.code, p.path) not in seen]


def read_current_pairs(path: str | Path) -> list[PairRef]:
    """The pairs running now, from a CSV with columns mentee_id,mentor_id; raises CohortInvalid."""
    pairs, problems = read_current_pairs_checked(path)
    if problems:
        raise CohortInvalid(problems)
    return pairs


def read_current_pairs_checked(path: str | Path) -> tuple[list[PairRef], list[Problem]]:
    """`read_current_pairs`, but a row with an empty id is kept (the id "") with its EMPTY_ID problem beside the
    pairs, so that the other rows are checked too and keep their row numbers; raises CohortInvalid for a file that
    cannot be read as the pairs' table."""
    path = Path(path)
    where = path.name
    if not path.exists():
        raise CohortInvalid([Problem(ProblemCode.MISSING_FILE, "current", f"{where} is missing", where)])
    raw = read_input(path, limit=TABLE_LIMIT_BYTES, field_path="current", location=where)
    columns = ("mentee_id", "mentor_id")
    try:
        frame = read_csv_text(raw, where, columns)
    except Exception as error:  # polars raises many types for malformed files
        raise CohortInvalid([Problem(ProblemCode.NOT_CSV, "current", f"cannot read {where}: {error}", where)]
                            ) from None
    frame.columns = [c.strip() for c in frame.columns]
    reader = RowReader()
    # Extra columns (a coordinator's notes) are allowed: the pairs are all that is read.
    if not reader.columns_ok("current", where, frame.columns, columns, columns, others_allowed=True):
        raise CohortInvalid(reader.problems)
    problems = []
    pairs = []
    for k, row in enumerate(frame.fill_null("").iter_rows(named=True)):
        a, b = row["mentee_id"].strip(), row["mentor_id"].strip()
        for name, value in (("mentee_id", a), ("mentor_id", b)):
            if not value:
                problems.append(Problem(ProblemCode.EMPTY_ID, f"current[{k}].{name}", "the id is empty",
                                        f"{where} {row_text(k)}, column {name}"))
        pairs.append(PairRef(a, b))
    return pairs, problems


@dataclass(frozen=True)
class RematchChanges:
    """A cohort directory's changes.toml: who left and joined, pairs to keep, and the disruption settings."""

    left: tuple[str, ...] = ()
    joined: tuple[str, ...] = ()
    keep: tuple[PairRef, ...] = ()
    penalty: int | None = None  # None: the caller's default
    max_changes: int | None = None


def read_changes(path: str | Path) -> RematchChanges:
    """A changes.toml (absent: no changes); raises CohortInvalid with every problem of its keys."""
    changes, problems = read_changes_checked(path)
    if problems:
        raise CohortInvalid(problems)
    return changes


def read_changes_checked(path: str | Path) -> tuple[RematchChanges, list[Problem]]:
    """`read_changes`, but the problems beside what could be read, so that the caller checks that too (an unknown
    id in `left` is reported with a malformed `keep`). A key with a problem reads as absent: a list is not cut
    short, which would move its other items' indexes."""
    path = Path(path)
    if not path.exists():
        return RematchChanges(), []
    where = path.name
    data = read_toml(path, location=where)
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(ProblemCode.BAD_VALUE, key, message, f"{where} {key}"))

    def whole(before: int, value: tuple[T, ...]) -> tuple[T, ...]:
        """`value` (read after `before` problems were known) if reading it found none, else empty."""
        return value if len(problems) == before else ()

    for key in data:
        if key not in CHANGES_KEYS:
            bad(key, f"unknown key '{key}'{did_you_mean(key, CHANGES_KEYS)} (known: {', '.join(CHANGES_KEYS)})")
    # (`whole`'s first argument is evaluated before its second reads the key.)
    left = whole(len(problems), text_list(data, "left", where, problems))
    joined = whole(len(problems), text_list(data, "joined", where, problems))
    keep = whole(len(problems), id_pairs(data, "keep", where, problems))
    numbers: dict[str, int | None] = {}
    for key in ("penalty", "max_changes"):
        value = data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            bad(key, "expected a whole number")
            value = None
        numbers[key] = value
    return RematchChanges(left, joined, keep, numbers["penalty"], numbers["max_changes"]), problems


def read_rematch_inputs(cohort_path: str | Path, current_path: str | Path, changes_path: str | Path | None = None
                        ) -> tuple[Cohort, list[PairRef], RematchChanges]:
    """The cohort, the current pairs and the changes (if a file is given), with the problems of all three at once."""
    cohort, current, changes, problems = read_rematch_parts(cohort_path, current_path, changes_path)
    if problems or cohort is None or current is None:
        raise CohortInvalid(problems)
    return cohort, current, changes


def read_rematch_parts(cohort_path: str | Path, current_path: str | Path, changes_path: str | Path | None
                         ) -> tuple[Cohort | None, list[PairRef] | None, RematchChanges, list[Problem]]:
    """The cohort and the current pairs (None where they could not be read), the changes (the keys that could be
    read) and every problem of the three."""
    problems: list[Problem] = []
    cohort = gathered(lambda: load_cohort(cohort_path), problems)
    current: list[PairRef] | None = None
    pairs = gathered(lambda: read_current_pairs_checked(current_path), problems)
    if pairs is not None:
        current, found = pairs
        problems += found
    changes = RematchChanges()
    if changes_path is not None:
        read = gathered(lambda: read_changes_checked(changes_path), problems)  # None: not TOML at all
        if read is not None:
            changes, found = read
            problems += found
    return cohort, current, changes, problems


def read_batch_directory(directory: str | Path, *, penalty: int | None = None, max_changes: int | None = None
                         ) -> tuple[Cohort, list[PairRef], RematchChanges]:
    """A batch directory's cohort, current.csv and changes.toml, the changes with the `penalty` and `max_changes`
    that apply (given here, else changes.toml's, else the default penalty). Raises CohortInvalid with every problem
    at once: the files' and, where the cohort and current.csv could be read, what the changes that could be read
    ask of them (an unknown id in `left` beside a malformed `keep`); a directory without problems may still be
    refused by `rematch` (a kept pair that breaks a rule)."""
    directory = Path(directory)
    cohort, current, changes, problems = read_rematch_parts(directory, directory / CURRENT_FILE,
                                                              directory / CHANGES_FILE)
    changes = replace(changes, penalty=penalty if penalty is not None else changes.penalty
                      if changes.penalty is not None else DEFAULT_PENALTY,
                      max_changes=max_changes if max_changes is not None else changes.max_changes)
    if problems or cohort is None or current is None:
        if cohort is not None and current is not None:
            problems += new_problems(problems, rematch_problems(
                cohort, current, left=changes.left, joined=changes.joined, keep=changes.keep,
                penalty=changes.penalty or 0, max_changes=changes.max_changes, sources=RematchSources.batch()))
        raise CohortInvalid(problems)
    return cohort, current, changes


def rematch_directory(directory: str | Path, *, penalty: int | None = None, max_changes: int | None = None,
                      options: SolveOptions | None = None) -> RematchResult:
    """Re-match one batch directory: the cohort files, current.csv and an optional changes.toml.

    `penalty` and `max_changes` given here override changes.toml; otherwise its values, then the defaults.
    """
    cohort, current, changes = read_batch_directory(directory, penalty=penalty, max_changes=max_changes)
    return rematch(cohort, current, left=changes.left, joined=changes.joined, keep=changes.keep,
                   penalty=changes.penalty or 0, max_changes=changes.max_changes, options=options,
                   sources=RematchSources.batch())


@dataclass(frozen=True)
class BatchItem:
    """One cohort of a batch: its result, or the problems (or internal error) that stopped it."""

    name: str
    ok: bool
    problems: list[Problem]
    error: str  # an unexpected failure's type and message; "" otherwise
    result: RematchResult | None


def batch_directories(directory: str | Path) -> list[Path]:
    """The cohort subdirectories of a batch directory, in name order."""
    return sorted(p for p in Path(directory).iterdir() if p.is_dir() and not p.name.startswith("."))


def rematch_one(directory: Path, *, penalty: int | None = None, max_changes: int | None = None,
                options: SolveOptions | None = None) -> BatchItem:
    """A batch item: never raises, so one broken cohort does not stop the rest."""
    try:
        result = rematch_directory(directory, penalty=penalty, max_changes=max_changes, options=options)
    except CohortInvalid as invalid:
        return BatchItem(directory.name, False, invalid.problems, "", None)
    except Exception as error:  # a batch reports each cohort's failure and goes on with the others
        return BatchItem(directory.name, False, [], f"{type(error).__name__}: {error}", None)
    return BatchItem(directory.name, True, [], "", result)


def rematch_batch(directory: str | Path, *, penalty: int | None = None, max_changes: int | None = None,
                  options: SolveOptions | None = None,
                  on_item: Callable[[BatchItem], None] | None = None) -> list[BatchItem]:
    """Re-match every cohort under `directory`; `on_item` is called after each (e.g. a progress bar)."""
    items = []
    for path in batch_directories(directory):
        item = rematch_one(path, penalty=penalty, max_changes=max_changes, options=options)
        items.append(item)
        if on_item is not None:
            on_item(item)
    return items

"""The programme year in the snapshot: earlier rounds' pairs (history.csv), mentors' availability and how long
mentees have waited, as files, as the contract's messages and as the two hard rules they add.

The service keeps no state: a platform sends the history with the cohort. Read from here:

- history.csv (`mentee_id,mentor_id,started,ended,outcome`, optional `programme`, `score` and `term_<term>`):
  a pair with an `ended` date is over and is never matched again (hard rule REPEAT, unless rules.toml
  `[intake] allow_repeat_pairs = true`); a pair without one is still running (a current pair); a mentor with any
  pair in it counts as returning (`Cohort.returning_mentors`).
- mentors.csv `available_from`, `available_until`: a mentor not available at `[intake] start_date` has no allowed
  pair (hard rule AVAILABILITY).
- mentees.csv `waiting_since`: her priority grows by `[intake] waiting_priority_per_month` per whole month waited
  up to `start_date` (`Cohort.priorities`).

Dates are ISO 8601 calendar dates (2026-04-15). Every problem is reported at once, at its file, row and column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from solver.decision_rows import (
    decision_problems,
    decisions_frame,
    decisions_from_proto,
    decisions_to_proto,
    read_decisions,
    with_decisions,
)
from solver.domain import (
    Cohort,
    HistoryEntry,
    Intake,
    Mentee,
    Mentor,
    Outcome,
    Weights,
)
from solver.errors import Problem, ProblemCode, did_you_mean
from solver.row_reader import RowReader

if TYPE_CHECKING:
    import polars as pl

    from mentormatch.v1 import cohort_pb2 as pb


HISTORY_FILE = "history.csv"
TERM_NAMES: tuple[str, ...] = tuple(Weights().as_dict())
"""The soft terms by weight name (`interests`); their code is the name in capitals (`INTERESTS`)."""
TERM_COLUMNS: tuple[str, ...] = tuple(f"term_{name}" for name in TERM_NAMES)
HISTORY_REQUIRED = ("mentee_id", "mentor_id")
HISTORY_COLUMNS = (*HISTORY_REQUIRED, "started", "ended", "outcome", "programme", "score", *TERM_COLUMNS)
MENTOR_DATE_COLUMNS = ("available_from", "available_until")
MENTEE_DATE_COLUMNS = ("waiting_since",)
INTAKE_KEYS = ("start_date", "waiting_priority_per_month", "allow_repeat_pairs", "programme")
MAX_STEP = 1000  # priority per month: beyond it one month outweighs any priority


# Dates -------------------------------------------------------------------------------------------------


def parse_date(text: str) -> date | None:
    """An ISO 8601 calendar date ('2026-04-15'); None for empty text; ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        raise ValueError(text)
    return date.fromisoformat(text)


def date_text(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def _date_cell(reader: RowReader, text: str, path: str, where: str) -> date | None:
    try:
        return parse_date(text)
    except ValueError:
        reader.problem(ProblemCode.BAD_VALUE, path, f"'{text}' is not a date YYYY-MM-DD (e.g. 2026-04-15)", where)
        return None


# Files in ----------------------------------------------------------------------------------------------


def _whole(reader: RowReader, text: str, path: str, where: str) -> int:
    """A whole number cell (0 when it is none, reported)."""
    try:
        return int(text.strip())
    except ValueError:
        reader.problem(ProblemCode.BAD_VALUE, path, f"'{text}' is not a whole number", where)
        return 0


def dated_people(reader: RowReader, mentor_rows: Sequence[Mapping[str, str]] | None,
                 mentee_rows: Sequence[Mapping[str, str]] | None, mentors: tuple[Mentor, ...],
                 mentees: tuple[Mentee, ...]) -> tuple[tuple[Mentor, ...], tuple[Mentee, ...]]:
    """The people with the date columns of their rows read (`available_from`, `available_until`,
    `waiting_since`); a person without dates is returned as is."""
    out_mentors = list(mentors)
    for i, row in enumerate(mentor_rows or []):
        if any(row.get(c, "") for c in MENTOR_DATE_COLUMNS) and i < len(out_mentors):
            days = [_date_cell(reader, row.get(c, ""), f"mentors[{i}].{c}", reader.where("mentors", i, c))
                    for c in MENTOR_DATE_COLUMNS]
            out_mentors[i] = replace(out_mentors[i], available_from=days[0], available_until=days[1])
    out_mentees = list(mentees)
    for i, row in enumerate(mentee_rows or []):
        text = row.get("waiting_since", "")
        if text and i < len(out_mentees):
            out_mentees[i] = replace(out_mentees[i], waiting_since=_date_cell(
                reader, text, f"mentees[{i}].waiting_since", reader.where("mentees", i, "waiting_since")))
    return tuple(out_mentors), tuple(out_mentees)


def history_from_rows(reader: RowReader, rows: Iterable[Mapping[str, str]], stem: str = "history"
                      ) -> tuple[HistoryEntry, ...]:
    """History entries from the rows of history.csv; each problem at its row and column."""
    out = []
    for i, row in enumerate(rows):
        def where(column: str, i: int = i) -> str:
            return reader.where(stem, i, column)

        path = f"history[{i}]"
        outcome_text = row.get("outcome", "").strip().lower()
        try:
            outcome = Outcome(outcome_text)
        except ValueError:
            known = [o.value for o in Outcome if o.value]
            reader.problem(ProblemCode.BAD_VALUE, f"{path}.outcome", f"'{outcome_text}' is not one of: "
                           f"{', '.join(known)}{did_you_mean(outcome_text, known)}", where("outcome"))
            outcome = Outcome.UNSPECIFIED
        score_text = row.get("score", "")
        points = []
        for name, column in zip(TERM_NAMES, TERM_COLUMNS, strict=True):
            if row.get(column, ""):
                points.append((name.upper(), _whole(reader, row[column], f"{path}.term_points.{name.upper()}",
                                                    where(column))))
        out.append(HistoryEntry(
            mentee_id=row.get("mentee_id", "").strip(),
            mentor_id=row.get("mentor_id", "").strip(),
            started=_date_cell(reader, row.get("started", ""), f"{path}.started", where("started")),
            ended=_date_cell(reader, row.get("ended", ""), f"{path}.ended", where("ended")),
            outcome=outcome,
            programme=row.get("programme", "").strip(),
            score=_whole(reader, score_text, f"{path}.score", where("score")) if score_text else None,
            term_points=tuple(points),
        ))
    return tuple(out)


def read_history(reader: RowReader, directory: Path) -> tuple[HistoryEntry, ...]:
    """history.csv (or history.parquet) of a cohort directory, when there is one."""
    rows = reader.table(directory, "history", HISTORY_REQUIRED, HISTORY_COLUMNS, optional=True)
    return history_from_rows(reader, rows or [])


def _has_columns(directory: Path, stem: str, names: Iterable[str]) -> bool:
    """Whether `stem`.csv's first row (or `stem`.parquet's schema) names one of `names`: a look at the header only."""
    csv, parquet = directory / f"{stem}.csv", directory / f"{stem}.parquet"
    wanted = tuple(names)
    if csv.is_file():
        with csv.open("rb") as file:
            head = file.read(1 << 16).replace(b"\x00", b"")  # UTF-16 text becomes its ASCII letters
        first = head.split(b"\n", 1)[0]
        return any(name.encode("ascii") in first for name in wanted)
    if parquet.is_file():
        import polars as pl

        try:
            return any(name in pl.read_parquet_schema(parquet) for name in wanted)
        except Exception:  # an unreadable file is the people reader's to report
            return False
    return False


def year_files(reader: RowReader, directory: Path, cohort: Cohort, mentor_columns: Sequence[str],
               mentee_columns: Sequence[str]) -> Cohort:
    """The cohort read from a directory with its year: the date columns of mentors.csv and mentees.csv (read apart,
    and only when their header names one: `mentor_columns` and `mentee_columns` are the tables' known columns),
    history.csv and decisions.csv (applied: accepted pairs pinned, declined ones banned); problems go to `reader`
    (a table's own header problems are the people reader's, reported once)."""
    rows: list[list[dict[str, str]] | None] = [None, None]
    for k, (stem, dates, known) in enumerate((("mentors", MENTOR_DATE_COLUMNS, mentor_columns),
                                               ("mentees", MENTEE_DATE_COLUMNS, mentee_columns))):
        if _has_columns(directory, stem, dates):
            rows[k] = type(reader)().table(directory, stem, ("id",), known)
    mentors, mentees = dated_people(reader, rows[0], rows[1], cohort.mentors, cohort.mentees)
    history = read_history(reader, directory)
    decisions = read_decisions(reader, directory)
    if not (history or decisions) and mentors == cohort.mentors and mentees == cohort.mentees:
        return cohort
    return with_decisions(replace(cohort, mentors=mentors, mentees=mentees, history=history, decisions=decisions))


# Files out ---------------------------------------------------------------------------------------------


_P = TypeVar("_P", Mentor, Mentee)
MENTOR_DATE_FORMAT: dict[str, Callable[[Mentor], str]] = {
    "available_from": lambda m: date_text(m.available_from),
    "available_until": lambda m: date_text(m.available_until),
}
MENTEE_DATE_FORMAT: dict[str, Callable[[Mentee], str]] = {"waiting_since": lambda m: date_text(m.waiting_since)}


def dated(people: Sequence[_P], formats: Mapping[str, Callable[[_P], str]]) -> dict[str, Callable[[_P], str]]:
    """The date columns someone has a value in, of `formats` (`MENTOR_DATE_FORMAT` or `MENTEE_DATE_FORMAT`)."""
    return {column: fmt for column, fmt in formats.items() if any(fmt(p) for p in people)}


def history_rows(entries: Iterable[HistoryEntry]) -> list[dict[str, str]]:
    """history.csv rows; the recorded points' columns only when some entry has them."""
    entries = list(entries)
    recorded = {name for e in entries for name, _ in e.term_points}
    with_score = any(e.score is not None for e in entries)
    rows = []
    for e in entries:
        row = {"mentee_id": e.mentee_id, "mentor_id": e.mentor_id, "started": date_text(e.started),
               "ended": date_text(e.ended), "outcome": e.outcome.value, "programme": e.programme}
        if with_score:
            row["score"] = "" if e.score is None else str(e.score)
        points = dict(e.term_points)
        for name in TERM_NAMES:
            if name.upper() in recorded:
                row[f"term_{name}"] = str(points[name.upper()]) if name.upper() in points else ""
        rows.append(row)
    return rows


def history_frame(entries: Iterable[HistoryEntry]) -> pl.DataFrame:
    import polars as pl

    rows = history_rows(entries)
    columns = list(rows[0]) if rows else ["mentee_id", "mentor_id", "started", "ended", "outcome", "programme"]
    return pl.DataFrame({c: [r.get(c, "") for r in rows] for c in columns}, schema={c: pl.String for c in columns})


def history_csv(entries: Iterable[HistoryEntry]) -> bytes:
    """history.csv as bytes, empty cells empty."""
    import polars as pl

    frame = history_frame(entries)
    blank = [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in frame.columns]
    return frame.select(blank).write_csv().encode("utf-8")


def write_year_files(cohort: Cohort, directory: Path, save: Callable[[pl.DataFrame, str], None],
                     there: Callable[[str], bool] = lambda stem: False) -> None:
    """history.csv and decisions.csv of a cohort directory (`save(frame, stem)` writes one file whole), when the
    cohort has them or a file of theirs is `there` already (then empty, never an earlier cohort's)."""
    if cohort.history or there("history"):
        save(history_frame(cohort.history), "history")
    if cohort.decisions or there("decisions"):
        save(decisions_frame(cohort.decisions), "decisions")


# rules.toml [intake] -----------------------------------------------------------------------------------


def intake_from_toml(raw: Any, bad: Callable[[str, str], None]) -> Intake:
    """The `[intake]` table of rules.toml; each problem at `intake.<key>`. TOML dates (2026-04-15) or text."""
    default = Intake()
    if raw is None:
        return default
    if not isinstance(raw, dict):
        bad("intake", "expected a table ([intake] with start_date, waiting_priority_per_month, ...)")
        return default
    for key in raw:
        if key not in INTAKE_KEYS:
            bad(f"intake.{key}", f"unknown intake key '{key}'{did_you_mean(key, INTAKE_KEYS)} (known: "
                f"{', '.join(INTAKE_KEYS)})")
    start = raw.get("start_date")
    if isinstance(start, str):
        try:
            start = parse_date(start)
        except ValueError:
            bad("intake.start_date", f"'{start}' is not a date YYYY-MM-DD")
            start = None
    elif start is not None and (not isinstance(start, date) or hasattr(start, "hour")):
        bad("intake.start_date", "expected a date such as 2026-04-15")
        start = None
    step = raw.get("waiting_priority_per_month", default.waiting_priority_per_month)
    if isinstance(step, bool) or not isinstance(step, int):
        bad("intake.waiting_priority_per_month", "expected a whole number")
        step = default.waiting_priority_per_month
    repeat = raw.get("allow_repeat_pairs", default.allow_repeat_pairs)
    if not isinstance(repeat, bool):
        bad("intake.allow_repeat_pairs", "expected true/false")
        repeat = default.allow_repeat_pairs
    programme = raw.get("programme", "")
    if not isinstance(programme, str):
        bad("intake.programme", "expected text")
        programme = ""
    return Intake(start, step, repeat, programme)


def intake_toml_lines(intake: Intake) -> list[str]:
    """The `[intake]` table, or nothing when every key is at its default."""
    if intake == Intake():
        return []
    lines = ["", "[intake]"]
    if intake.start_date is not None:
        lines.append(f"start_date = {intake.start_date.isoformat()}")
    lines.append(f"waiting_priority_per_month = {intake.waiting_priority_per_month}")
    lines.append(f"allow_repeat_pairs = {'true' if intake.allow_repeat_pairs else 'false'}")
    if intake.programme:
        lines.append('programme = "' + intake.programme.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return lines


# The contract ------------------------------------------------------------------------------------------

_OUTCOME_TO_PROTO = {o: f"OUTCOME_{o.name}" for o in Outcome}


def year_to_proto(cohort: Cohort, msg: pb.Cohort) -> pb.Cohort:
    """Fill the year's fields of a `Cohort` message: dates, the intake, history and decisions (unfolded: the
    decisions' pins and bans travel as decisions, not as rules)."""
    from mentormatch.v1 import cohort_pb2 as pb

    for mentor_msg, mentor in zip(msg.mentors, cohort.mentors, strict=True):
        mentor_msg.available_from = date_text(mentor.available_from)
        mentor_msg.available_until = date_text(mentor.available_until)
    for mentee_msg, mentee in zip(msg.mentees, cohort.mentees, strict=True):
        mentee_msg.waiting_since = date_text(mentee.waiting_since)
    intake = cohort.rules.intake
    msg.rules.intake.CopyFrom(pb.Intake(start_date=date_text(intake.start_date),
                                        waiting_priority_per_month=intake.waiting_priority_per_month,
                                        allow_repeat_pairs=intake.allow_repeat_pairs, programme=intake.programme))
    for entry in cohort.history:
        item = msg.history.add(mentee_id=entry.mentee_id, mentor_id=entry.mentor_id, started=date_text(entry.started),
                               ended=date_text(entry.ended), outcome=pb.Outcome.Value(_OUTCOME_TO_PROTO[entry.outcome]),
                               programme=entry.programme)
        if entry.score is not None:
            item.score = entry.score
        item.term_points.extend(pb.RecordedPoints(term=term, points=points) for term, points in entry.term_points)
    decisions_to_proto(cohort, msg)
    return msg


def year_from_proto(msg: pb.Cohort, cohort: Cohort, bad: Callable[[str, str], None],
                    people: tuple[Sequence[pb.Mentor], Sequence[pb.Mentee]] | None = None) -> Cohort:
    """The cohort with the year's fields of the message read (dates, intake, history, decisions, the decisions
    folded into pins and bans); what the domain cannot hold is reported through `bad(path, message)`. `people`:
    the message's mentors and mentees as lists, when the caller has them."""

    def day(text: str, path: str) -> date | None:
        try:
            return parse_date(text)
        except ValueError:
            bad(path, f"'{text}' is not a date YYYY-MM-DD (e.g. 2026-04-15)")
            return None

    # Only the people with dates are copied; the rest (most, in a call without a year) stay as they are.
    # The repeated fields read by slice: upb makes the list in one step, where iterating costs one per element.
    mentors, mentees = cohort.mentors, cohort.mentees
    mentor_msgs, mentee_msgs = people if people is not None else (msg.mentors[:], msg.mentees[:])
    if len(mentor_msgs) != len(mentors) or len(mentee_msgs) != len(mentees):
        raise ValueError("the cohort and its message have different people")
    dated_mentors = [(i, p) for i, p in enumerate(mentor_msgs) if p.available_from or p.available_until]
    if dated_mentors:
        changed_mentors = list(mentors)
        for i, p in dated_mentors:
            changed_mentors[i] = replace(changed_mentors[i],
                                         available_from=day(p.available_from, f"mentors[{i}].available_from"),
                                         available_until=day(p.available_until, f"mentors[{i}].available_until"))
        mentors = tuple(changed_mentors)
    waiting = [(i, q) for i, q in enumerate(mentee_msgs) if q.waiting_since]
    if waiting:
        changed_mentees = list(mentees)
        for i, q in waiting:
            changed_mentees[i] = replace(changed_mentees[i],
                                         waiting_since=day(q.waiting_since, f"mentees[{i}].waiting_since"))
        mentees = tuple(changed_mentees)
    intake = Intake()
    if msg.HasField("rules") and msg.rules.HasField("intake"):
        given = msg.rules.intake
        intake = Intake(day(given.start_date, "rules.intake.start_date"),
                        (given.waiting_priority_per_month if given.HasField("waiting_priority_per_month")
                         else intake.waiting_priority_per_month),
                        given.allow_repeat_pairs, given.programme)
    history = []
    if len(msg.history):
        from mentormatch.v1 import cohort_pb2 as pb

        outcomes = {pb.Outcome.Value(name): o for o, name in _OUTCOME_TO_PROTO.items()}
        for k, h in enumerate(msg.history):
            outcome = outcomes.get(h.outcome)
            if outcome is None:
                bad(f"history[{k}].outcome",
                    f"unknown outcome number {h.outcome} (known: {', '.join(map(str, outcomes))})")
                outcome = Outcome.UNSPECIFIED
            history.append(HistoryEntry(h.mentee_id, h.mentor_id, day(h.started, f"history[{k}].started"),
                                        day(h.ended, f"history[{k}].ended"), outcome, h.programme,
                                        h.score if h.HasField("score") else None,
                                        tuple((p.term, p.points) for p in h.term_points)))
    decisions, unread = decisions_from_proto(msg, bad) if len(msg.decisions) else ((), frozenset[int]())
    rules = cohort.rules if intake == cohort.rules.intake else replace(cohort.rules, intake=intake)
    year = cohort
    if (mentors is not cohort.mentors or mentees is not cohort.mentees or rules is not cohort.rules
            or tuple(history) != cohort.history or decisions != cohort.decisions):
        # Rules and the cohort are copied only when the year changes them (a copy is ~10 us).
        year = replace(cohort, mentors=mentors, mentees=mentees, rules=rules, history=tuple(history),
                       decisions=decisions)
    return with_decisions(year, unread)


# The hard rules ----------------------------------------------------------------------------------------


def finished_pair_keys(cohort: Cohort, mentee_index: Mapping[str, int], mentor_index: Mapping[str, int]
                       ) -> npt.NDArray[np.int64]:
    """Sorted `mentee * n_mentors + mentor` of the cohort's pairs that met in a finished round (REPEAT); empty when
    repeats are allowed."""
    if cohort.rules.intake.allow_repeat_pairs or not cohort.history:
        return np.zeros(0, dtype=np.int64)
    m = len(cohort.mentors)
    met = _finished_by_mentee(cohort.history)
    keys = {mentee_index[a] * m + mentor_index[b] for a in mentee_index for b in met.get(a, ()) if b in mentor_index}
    return np.array(sorted(keys), dtype=np.int64)


def _finished_by_mentee(history: tuple[HistoryEntry, ...]) -> dict[str, tuple[str, ...]]:
    """Per mentee, the mentors of her finished pairs; built once per history, so that the arrays of a small part of
    a cohort (explanations build many) cost their people, not the whole history."""
    def build() -> dict[str, tuple[str, ...]]:
        index: dict[str, list[str]] = {}
        for entry in history:
            if entry.finished:
                index.setdefault(entry.mentee_id, []).append(entry.mentor_id)
        return {mentee: tuple(mentors) for mentee, mentors in index.items()}

    return _per_history("finished", history, build)


_INDEXES: dict[tuple[str, int], tuple[tuple[HistoryEntry, ...], Any]] = {}
_I = TypeVar("_I")


def _per_history(kind: str, history: tuple[HistoryEntry, ...], build: Callable[[], _I]) -> _I:
    """An index of a history, built once per history object (a few are kept): rules, scores and explanations ask
    about one pair or person at a time."""
    held = _INDEXES.get((kind, id(history)))
    if held is not None and held[0] is history:
        return held[1]
    index = build()
    if len(_INDEXES) >= 16:
        _INDEXES.clear()
    _INDEXES[(kind, id(history))] = (history, index)  # the history is held, so its id is not reused meanwhile
    return index


def mentor_available(mentor: Mentor, start: date | None) -> bool:
    """README, Availability: without a start date every mentor is available."""
    if start is None:
        return True
    return ((mentor.available_from is None or mentor.available_from <= start)
            and (mentor.available_until is None or start <= mentor.available_until))


def available_mentors(cohort: Cohort) -> npt.NDArray[np.bool_]:
    """Per mentor, whether he is available at the intake's start date (AVAILABILITY)."""
    start = cohort.rules.intake.start_date
    return np.array([mentor_available(m, start) for m in cohort.mentors], dtype=np.bool_)


# Validation --------------------------------------------------------------------------------------------


def entry_problems(entries: Sequence[HistoryEntry], control: Callable[[str, str, str], Problem | None]
                   ) -> list[Problem]:
    """Problems of history entries on their own: ids, dates in order, an outcome only for a pair that ended, one
    running pair per mentee, recorded points 0..100; `control` as for `year_problems`."""
    out = []
    running: dict[str, int] = {}
    for k, e in enumerate(entries):
        path = f"history[{k}]"
        for name, value in (("mentee_id", e.mentee_id), ("mentor_id", e.mentor_id), ("programme", e.programme)):
            if not value and name != "programme":
                out.append(Problem(ProblemCode.EMPTY_ID, f"{path}.{name}", "the id is empty"))
            found = control(f"{path}.{name}", value, name.removesuffix("_id"))
            if found is not None:
                out.append(found)
        if e.started is not None and e.ended is not None and e.ended < e.started:
            out.append(Problem(ProblemCode.BAD_VALUE, f"{path}.ended",
                               f"ended {e.ended.isoformat()} is before started {e.started.isoformat()}"))
        if e.outcome is not Outcome.UNSPECIFIED and e.ended is None:
            out.append(Problem(ProblemCode.BAD_VALUE, f"{path}.ended", f"outcome '{e.outcome.value}' is recorded "
                               "but the pair has no ended date: give the date it ended"))
        if not e.finished and e.mentee_id:
            if e.mentee_id in running:
                out.append(Problem(ProblemCode.BAD_VALUE, f"{path}.ended", f"mentee '{e.mentee_id}' has a second "
                                   f"running pair (also history[{running[e.mentee_id]}]): give the earlier one's "
                                   "ended date"))
            running.setdefault(e.mentee_id, k)
        for term, points in e.term_points:
            if not 0 <= points <= 100:
                out.append(Problem(ProblemCode.OUT_OF_RANGE, f"{path}.term_points.{term}",
                                   f"{points} points is not in 0..100"))
    return out


def year_problems(cohort: Cohort, control: Callable[[str, str, str], Problem | None]) -> list[Problem]:
    """The year's problems of a cohort: its history, the intake's values, availability dates in order, and the
    decisions (`decision_problems`); `control(path, text, what)` is the validator's check for control characters."""
    out = entry_problems(cohort.history, control)
    step = cohort.rules.intake.waiting_priority_per_month
    if not 0 <= step <= MAX_STEP:
        out.append(Problem(ProblemCode.OUT_OF_RANGE if step > 0 else ProblemCode.NEGATIVE_VALUE,
                           "rules.intake.waiting_priority_per_month", f"{step} is not in 0..{MAX_STEP}"))
    for i, m in enumerate(cohort.mentors):
        if m.available_from is not None and m.available_until is not None and m.available_until < m.available_from:
            out.append(Problem(ProblemCode.BAD_VALUE, f"mentors[{i}].available_until",
                               f"available until {m.available_until.isoformat()}, before available from "
                               f"{m.available_from.isoformat()}"))
    return out + decision_problems(cohort)


def running_pair_problems(cohort: Cohort, left: Iterable[str] = ()) -> list[Problem]:
    """A running pair of the history (no `ended`) naming a mentee or mentor who is not in the cohort: its end must
    be recorded first (or the person listed as left, `intake --left`). `intake` and `validate` check this; a
    fresh `solve` does not need the history's running pairs."""
    ids = {m.id for m in cohort.mentees} | {m.id for m in cohort.mentors} | set(left)
    out = []
    for k, entry in enumerate(cohort.history):
        if entry.finished:
            continue
        for name, who in (("mentee_id", entry.mentee_id), ("mentor_id", entry.mentor_id)):
            if who and who not in ids:
                out.append(Problem(ProblemCode.UNKNOWN_ID, f"history[{k}].{name}",
                                   f"the running pair {entry.mentee_id}-{entry.mentor_id} names {who}, who is not "
                                   "in the cohort: record when the pair ended (ended, outcome) or list them as "
                                   "left (intake --left)"))
    return out


# Explanations ------------------------------------------------------------------------------------------


def earlier_rounds(cohort: Cohort, mentee_id: str, mentor_id: str) -> list[HistoryEntry]:
    """The history entries of the pair, finished ones first."""
    history = cohort.history

    def build() -> dict[tuple[str, str], list[HistoryEntry]]:
        index: dict[tuple[str, str], list[HistoryEntry]] = {}
        for entry in history:
            index.setdefault((entry.mentee_id, entry.mentor_id), []).append(entry)
        return index

    rounds = _per_history("pairs", history, build).get((mentee_id, mentor_id), ())
    return sorted(rounds, key=lambda h: (not h.finished, h.started or date.min))


def round_text(entry: HistoryEntry) -> str:
    """'2026-01-15 to 2026-03-31, dropped_out' for one earlier round of a pair."""
    span = f"{date_text(entry.started) or '?'} to {date_text(entry.ended) or 'now'}"
    return span + (f", {entry.outcome.value}" if entry.outcome is not Outcome.UNSPECIFIED else "")


def repeat_fact(cohort: Cohort, mentee_id: str, mentor_id: str) -> tuple[str, str]:
    """(the fact, the shortfall) of the REPEAT rule for a pair; the shortfall is '' when the pair passes."""
    rounds = earlier_rounds(cohort, mentee_id, mentor_id)
    finished = [h for h in rounds if h.finished]
    if not rounds:
        return "not paired in an earlier round", ""
    told = "; ".join(round_text(h) for h in rounds)
    if not finished:
        return f"their pair is running ({told})", ""
    if cohort.rules.intake.allow_repeat_pairs:
        return f"paired before ({told}); repeats are allowed ([intake] allow_repeat_pairs)", ""
    return f"paired before ({told})", f"{mentee_id} and {mentor_id} were paired before ({told})"


def availability_fact(cohort: Cohort, mentor: Mentor) -> tuple[str, str]:
    """(the fact, the shortfall) of the AVAILABILITY rule for a mentor; the shortfall is '' when he is available."""
    start = cohort.rules.intake.start_date
    window = ", ".join(part for part in (
        f"from {mentor.available_from.isoformat()}" if mentor.available_from else "",
        f"until {mentor.available_until.isoformat()}" if mentor.available_until else "") if part)
    if start is None:
        return (f"mentor available {window}; no intake start date to check it against" if window
                else "no intake start date"), ""
    if not window:
        return f"mentor available at the intake's start {start.isoformat()}", ""
    if mentor_available(mentor, start):
        return f"mentor available {window}; the intake starts {start.isoformat()}", ""
    return (f"mentor available {window}; the intake starts {start.isoformat()}",
            f"mentor {mentor.id} is available {window}, not at the intake's start {start.isoformat()}")


def _rounds_by_mentor(history: tuple[HistoryEntry, ...]) -> dict[str, list[HistoryEntry]]:
    """The history's entries per mentor."""
    def build() -> dict[str, list[HistoryEntry]]:
        index: dict[str, list[HistoryEntry]] = {}
        for entry in history:
            index.setdefault(entry.mentor_id, []).append(entry)
        return index

    return _per_history("mentors", history, build)


def returning_fact(cohort: Cohort, mentor: Mentor) -> str:
    """Why a mentor counts as returning, for the RETURNING term's fact."""
    rounds = _rounds_by_mentor(cohort.history).get(mentor.id, []) if cohort.history else []
    if not rounds:
        return "returning mentor" if mentor.returning else "first time as a mentor"
    outcomes = sorted({h.outcome.value for h in rounds if h.outcome is not Outcome.UNSPECIFIED})
    told = f"; outcomes {', '.join(outcomes)}" if outcomes else ""
    return f"returning mentor: {len(rounds)} pair(s) in earlier rounds{told}"

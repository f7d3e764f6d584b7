"""Reading and writing cohorts as files: a directory of CSV or Parquet tables plus rules.toml, or one JSON file.

Parsing problems are collected, never raised one at a time: `load_cohort` raises `CohortInvalid` with every
problem found in every file, each with its file, row and column. Rows are numbered as a spreadsheet shows
them: the header is row 1, so the first person is row 2. CSV as spreadsheets save it is read too: ';' or tab
separators, decimal commas, cp1252 / latin-1 or UTF-16 text (a note says how).

A table is read by polars as text and turned into typed columns a column at a time (`solver.columns`): no
Python dict or parser call per row, problems made for the failing rows only. A file whose header is wrong is
still read for what it can give: an unknown column is reported and the rest read; a missing required column is
reported once and its cells left empty (their checks, and the checks that need them, wait); a file that is no
table at all, or lacks its ids, is one problem, and the checks that need its people (ids named in rankings,
travel times, pins and bans) wait until it can be read. Every other problem of every file is reported at once.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import polars as pl

from solver.columns import WHITESPACE
from solver.csv_text import HEADER_ROW, blank_rows, read_csv_text, row_runs, row_shapes
from solver.decision_rows import without_decisions
from solver.domain import Cohort, Language, Mentee, Mentor, Rules, TravelTime, cefr_name
from solver.errors import CohortInvalid, Problem, ProblemCode, did_you_mean, nearest_known
from solver.fileio import TABLE_LIMIT_BYTES, read_input, read_toml_checked, write_atomic
from solver.history import (
    MENTEE_DATE_COLUMNS,
    MENTEE_DATE_FORMAT,
    MENTOR_DATE_COLUMNS,
    MENTOR_DATE_FORMAT,
    dated,
    write_year_files,
    year_files,
)
from solver.people_tables import (
    Cells,
    Columns,
    People,
    cell_place,
    keep_out_of_collections,
    mentee_columns,
    mentor_columns,
    no_collection,
    people_problems,
    rankings_from,
    row_text,
    travel_from,
)
from solver.rules_toml import format_bool, format_float, rules_from_mapping, rules_to_toml

if TYPE_CHECKING:
    from solver.cohort_warnings import Coordinates

__all__ = ["cell_place", "row_text"]  # re-exported: where a cell is, as problems say it

MENTOR_COLUMNS = (
    "id", "lat", "lon", "occupations", "languages", "years_experience", "capacity", "leadership",
    "gender", "interests", "organisation", "markets", "returning", "goals", "online",
)  # fmt: skip
MENTOR_REQUIRED = ("id", "lat", "lon", "occupations", "languages", "years_experience", "capacity")
MENTEE_COLUMNS = (
    "id", "lat", "lon", "occupations", "languages", "max_travel_km", "max_travel_minutes", "interests",
    "goal", "gender", "requested_mentor_gender", "country_of_origin", "first_language", "municipality",
    "track", "priority", "online", "tags", "avoid_organisations",
)  # fmt: skip
MENTEE_REQUIRED = ("id", "lat", "lon", "occupations", "languages")
MENTOR_FILE_COLUMNS = (*MENTOR_COLUMNS, *MENTOR_DATE_COLUMNS)  # mentors.csv may hold the year's dates too
MENTEE_FILE_COLUMNS = (*MENTEE_COLUMNS, *MENTEE_DATE_COLUMNS)  # (read by solver.history)
RANKING_COLUMNS = ("from_id", "to_id", "rank")
TRAVEL_COLUMNS = ("mentee_id", "mentor_id", "minutes")
PEOPLE = ("mentors", "mentees")

T = TypeVar("T")


def load_cohort(path: str | Path, *, warnings: list[Problem] | None = None,
                checks: Callable[[Cohort], list[Problem]] | None = None) -> Cohort:
    """A cohort from a directory (CSV or Parquet tables + rules.toml) or a single protobuf-JSON file.

    Warnings (`solver.cohort_warnings.cohort_warnings`: people far outside the cohort's area, mentees without a
    programme language), located in the
    files, are appended to `warnings` when it is given, also when the cohort has problems (a swapped file
    shows as pins that break the distance rule: the warning says why); they do not stop a valid cohort.
    `checks` adds a command's own checks of the cohort read (paths as the validator's), reported with the rest.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and not path.is_dir():
        # The JSON form is the protobuf JSON mapping, so the one proto <-> domain mapping reads it.
        from solver.cohort_json import json_location, load_cohort_json
        from solver.cohort_warnings import cohort_warnings
        from solver.validate import validate

        cohort = load_cohort_json(path)
        # Value checks as for a directory: the JSON mapping reports only what the domain types cannot hold.
        problems = validate(cohort) + (checks(cohort) if checks is not None else [])
        if warnings is not None:  # paths are JSON indices
            warnings += [Problem(w.code, w.path, w.message, json_location(str(path), w.path))
                         for w in cohort_warnings(cohort)]
        if problems:
            raise CohortInvalid([Problem(p.code, p.path, p.message, json_location(str(path), p.path) if p.path
                                         else str(path)) for p in problems])
        return cohort
    return read_cohort_dir(path, warnings=warnings, checks=checks)


@dataclass(frozen=True)
class Header:
    """What a table's first row allows: `readable` (some known column, none twice); `missing`: required columns
    it lacks (a misspelt one included); `unknown`: columns that are no known one (nor a misspelt required one)."""

    readable: bool
    missing: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()


@dataclass
class Table:
    """A table file as text cells (as written: `solver.columns` trims them), with every known column (those the
    file lacks are empty)."""

    stem: str
    frame: pl.DataFrame
    missing: tuple[str, ...]  # required columns the file lacks (reported): their cells are empty
    unknown: tuple[str, ...]  # columns that are no known one (reported), not read
    present: tuple[str, ...]  # the known columns the file has, in its order
    source: Path | None = None  # the file read

    def take_columns(self) -> Columns:
        """The text columns by name, given up by the table (whoever takes them out frees them)."""
        frame, self.frame = self.frame, pl.DataFrame()
        return dict(zip(frame.columns, frame.get_columns(), strict=True))


class RowReader:
    """Collects problems while reading tables into typed values.

    `first_row` is the number a problem gives the first row: 2 for a file with a header (the spreadsheet's
    numbering), 1 for a list of inline tables. `failed` is set when a file could not be read as a table (or, by
    `table`, when its header has a problem)."""

    def __init__(self, first_row: int = HEADER_ROW + 1) -> None:
        self.problems: list[Problem] = []
        self.blank: list[Problem] = []  # one per run of blank rows (`text_table`): kept when their rows' go
        self.blank_rows: dict[str, set[int]] = {}  # the blank rows (indices) of each table read
        self.first_row = first_row
        self.failed = False

    def where(self, stem: str, index: int, column: str) -> str:
        return cell_place(stem, index, column, self.first_row)

    def problem(self, code: ProblemCode, path: str, message: str, location: str = "") -> None:
        self.problems.append(Problem(code, path, message, location))

    def text_table(self, directory: Path, stem: str, required: Sequence[str], known: Sequence[str],
                   optional: bool = False) -> Table | None:
        """`stem`.csv or `stem`.parquet as text cells; None when absent or unreadable (binary, no known
        column, a column twice). A header with unknown or missing columns is reported and the table still read."""
        csv, parquet = directory / f"{stem}.csv", directory / f"{stem}.parquet"
        source = csv if csv.exists() else parquet if parquet.exists() else None
        if source is None:
            if not optional:
                self.problem(ProblemCode.MISSING_FILE, stem, f"{stem}.csv (or {stem}.parquet) is missing",
                             f"{stem}.csv")
            return None
        try:
            raw = read_input(source, limit=TABLE_LIMIT_BYTES, field_path=stem, location=source.name)
        except CohortInvalid as refused:
            self.problems += refused.problems
            self.failed = True
            return None
        try:
            if source.suffix == ".csv":
                frame = read_csv_text(raw, source.name, known)
            else:
                frame = _parquet_as_text(pl.read_parquet(io.BytesIO(raw)))
        except Exception as error:  # polars raises many types for malformed files
            shapes = row_shapes(raw, source.name, known, unread=True) if source.suffix == ".csv" else []
            for message in shapes or [f"cannot read {source.name} as a table: {_short(error)}"]:
                self.problem(ProblemCode.NOT_CSV, stem, message, source.name)
            self.failed = True
            return None
        del raw
        frame, unnamed = _without_unnamed_columns(frame)
        for position in unnamed:  # each once, by its place: a name would be polars' own ('_duplicated_0')
            self.problem(ProblemCode.MISSING_COLUMN, stem, f"column {position} has no name in the header but holds "
                         "data: name it or delete it", source.name)
        columns = [c.strip() for c in frame.columns]
        header = self.header(stem, source.name, columns, required, known)
        if not header.readable:
            self.failed = True
            return None
        frame.columns = columns
        present = tuple(c for c in columns if c in known)
        blank = blank_rows(frame)
        self.blank_rows.setdefault(stem, set()).update(blank)
        for first, last in row_runs(blank):
            rows = f"row {first + self.first_row}" if first == last else \
                f"rows {first + self.first_row}-{last + self.first_row}"
            one = first == last
            self.problem(ProblemCode.BAD_VALUE, f"{stem}[{first}]", f"the {'row is' if one else 'rows are'} empty "
                         f"(every cell blank, as a spreadsheet's empty row): delete {'it' if one else 'them'}",
                         f"{source.name} {rows}")
            self.blank.append(self.problems[-1])
        cells = [pl.col(c).fill_null("") if c in present else pl.lit("").alias(c) for c in known]
        return Table(stem, frame.select(cells), header.missing, header.unknown, present, source)

    def table(self, directory: Path, stem: str, required: Iterable[str], known: Iterable[str],
              optional: bool = False) -> list[dict[str, str]] | None:
        """Rows of `stem`.csv or `stem`.parquet as dicts of trimmed text (the file's columns); None when absent,
        unreadable, or its header has a problem (reported)."""
        required, known = tuple(required), tuple(known)
        table = self.text_table(directory, stem, required, known, optional)
        if table is None:
            return None
        if table.missing or table.unknown:
            self.failed = True
            return None
        return table.frame.select(pl.col(c).str.strip_chars(WHITESPACE) for c in table.present).to_dicts()

    def header(self, stem: str, where: str, columns: list[str], required: Iterable[str], known: Iterable[str],
               *, others_allowed: bool = False) -> Header:
        """Check a header: every required column and only known ones (any others too, with `others_allowed`),
        once each; each problem reported once: a misspelt required column is one problem with the name it is
        probably meant to be."""
        known = tuple(known)
        if columns and not any(c in known or nearest_known(c, known) for c in columns):
            shown = ", ".join(columns[:5]) + (", ..." if len(columns) > 5 else "")
            self.problem(ProblemCode.MISSING_COLUMN, stem, f"no known column in the first row ({shown}): the first "
                         f"row must be the header, with columns such as {', '.join(tuple(required)[:4])}", where)
            return Header(False)
        # polars names a header's second 'gender' 'gender_duplicated_0': it is 'gender' twice, as the file says.
        columns = [_POLARS_DUPLICATE.sub("", c) if _POLARS_DUPLICATE.sub("", c) in columns else c for c in columns]
        twice = sorted({c for c in columns if columns.count(c) > 1})
        for column in twice:  # " id" and "id" after stripping, or the same name twice
            self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{column}", f"column '{column}' appears twice", where)
        missing = [c for c in required if c not in columns]
        renamed: list[str] = []
        others: list[str] = []
        for column in [c for c in columns if c not in set(known)]:
            nearest = nearest_known(column, [k for k in known if k not in columns])
            if nearest in missing and nearest not in renamed:
                renamed.append(nearest)
                self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{nearest}", f"required column '{nearest}' is "
                             f"missing; is '{column}' meant to be '{nearest}'?", where)
            else:
                others.append(column)
                if not others_allowed:
                    self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{column}", f"unknown column '{column}'"
                                 f"{did_you_mean(column, known)} (known: {', '.join(known)})", where)
        for column in missing:
            if column not in renamed:
                self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{column}",
                             f"required column '{column}' is missing (columns: {', '.join(columns)})", where)
        return Header(not twice, tuple(missing), tuple(others))

    def columns_ok(self, stem: str, where: str, columns: list[str], required: Iterable[str],
                   known: Iterable[str], *, others_allowed: bool = False) -> bool:
        """Whether a header holds every required column and only known ones (any others too, with
        `others_allowed`), once each (see `header`; each problem reported)."""
        header = self.header(stem, where, columns, required, known, others_allowed=others_allowed)
        return header.readable and not header.missing and (others_allowed or not header.unknown)


def _without_unnamed_columns(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[int]]:
    """The table less its columns with no name in the header, and the places (1-based) of those that hold data:
    an empty one is what a spreadsheet leaves after a separator at the end of each line (`a,b,`), ignored; one
    with data is a problem of its own, reported by its place."""
    unnamed = [c for c in frame.columns if not _POLARS_DUPLICATE.sub("", c).strip(WHITESPACE)]
    if not unnamed:
        return frame, []
    filled = frame.select(pl.col(c).str.strip_chars(WHITESPACE).fill_null("").ne("").any() for c in unnamed).row(0)
    used = {c for c, holds in zip(unnamed, filled, strict=True) if holds}
    return frame.drop(unnamed), [k + 1 for k, c in enumerate(frame.columns) if c in used]


def _parquet_as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Parquet may carry typed columns (numbers, lists); read them as the same text a CSV holds."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.List):
            columns.append(column.cast(pl.List(pl.String)).list.join(";").alias(name))
        else:
            columns.append(column.cast(pl.String).alias(name))
    return frame.select(columns)


def _short(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


def read_cohort_dir(directory: str | Path, *, warnings: list[Problem] | None = None,
                    checks: Callable[[Cohort], list[Problem]] | None = None) -> Cohort:
    """Read mentors, mentees, rankings, travel times and rules; raise CohortInvalid with every problem of every
    file at once (see the module's note on files that cannot be read whole). Coordinate warnings, located in the
    files, are appended to `warnings` when it is given.

    The cyclic garbage collector stays off while the files are read and checked (millions of new tuples and
    objects, no cycles among them), and a large cohort's objects are kept out of its later passes
    (`solver.people_tables.keep_out_of_collections`)."""
    with no_collection():
        cohort = _read_cohort_dir(Path(directory), warnings, checks)
        keep_out_of_collections(len(cohort.mentors) + len(cohort.mentees))
    return cohort


def _read_cohort_dir(directory: Path, warnings: list[Problem] | None,
                     checks: Callable[[Cohort], list[Problem]] | None) -> Cohort:
    reader = RowReader()
    if not directory.is_dir():
        raise CohortInvalid([Problem(ProblemCode.MISSING_FILE, "", f"no cohort directory or .json file at {directory}",
                                     str(directory))])
    tables = {
        "mentors": reader.text_table(directory, "mentors", MENTOR_REQUIRED, MENTOR_FILE_COLUMNS),
        "mentees": reader.text_table(directory, "mentees", MENTEE_REQUIRED, MENTEE_FILE_COLUMNS),
        "rankings": reader.text_table(directory, "rankings", RANKING_COLUMNS, RANKING_COLUMNS, optional=True),
        "travel_times": reader.text_table(directory, "travel_times", TRAVEL_COLUMNS, TRAVEL_COLUMNS, optional=True),
    }
    # A table without its ids (or no table at all) gives nobody; one without another required column gives
    # everybody with that column empty, and the checks of that column are left to its problem.
    usable = {stem: table for stem, table in tables.items()
              if table is not None and not (table.missing if stem not in PEOPLE else "id" in table.missing)}
    unread = {stem for stem in PEOPLE if stem not in usable}
    missing = {stem: table.missing for stem, table in usable.items() if table.missing}
    read = {stem: (table.source, tuple(table.frame.columns)) for stem, table in usable.items()}
    tables.clear()  # each table's text goes once its values are made
    mentor_values = _values(reader, usable.pop("mentors", None), mentor_columns)
    mentors = mentor_values.build() if mentor_values else []
    mentee_values = _values(reader, usable.pop("mentees", None), mentee_columns)
    mentees = mentee_values.build() if mentee_values else []
    rankings = _values(reader, usable.pop("rankings", None), rankings_from) or []
    travel = tuple(_values(reader, usable.pop("travel_times", None), travel_from) or [])
    rules = _rules(reader, directory / "rules.toml", travel)
    # `.` and `..` have no name of their own: the directory they stand for has.
    name = directory.name if directory.name not in ("", "..") else directory.resolve().name
    cohort = Cohort(tuple(mentors), tuple(mentees), tuple(rankings), rules, name=name)
    # The year (solver.history): the date columns, history.csv, decisions.csv (applied: pins and bans).
    cohort = year_files(reader, directory, cohort, MENTOR_FILE_COLUMNS, MENTEE_FILE_COLUMNS)
    del mentors, mentees, rankings
    # Value checks (ranges, codes, ids, pins against the hard rules) are the validator's, shared with gRPC input;
    # the participants' own values are checked by columns first, the validator judging the rows that need it.
    from solver.cohort_warnings import cohort_warnings, coordinate_warnings
    from solver.validate import validate

    people = people_problems(cohort.mentors, cohort.mentees, mentor_values, mentee_values)
    coordinates = _coordinates(mentor_values, mentee_values) if warnings is not None else None
    del mentor_values, mentee_values
    checked = validate(cohort, people=people) + (checks(cohort) if checks is not None else [])
    # A cell that could not be read is one problem: what the checks then find at its path follows from the
    # placeholder it was read as (`latitude nan`, `rank 0`), a value the file does not hold.
    unreadable = {p.path for p in reader.problems if p.path}
    problems = [p for p in reader.problems if not _in_missing(p, missing)]  # (an empty lat of no lat column)
    # A pin is checked against the rules' values: with a rule broken it would be checked against the default the
    # broken value fell back to, a problem the file does not have (that rule's own problem says what to fix).
    rules_broken = any(_rule_dependent(p.path) for p in reader.problems)
    problems += [_locate(p) for p in checked if not _waits(p, unread, missing, rules_broken)
                 and p.path not in unreadable]
    # A blank row is one problem; what the checks find in it (an empty id, no coordinates) says nothing more.
    # Rows with fewer cells than the header are read with their last cells empty (as a spreadsheet may write
    # trailing empty cells), unless they have problems: then one problem per row shape, and nothing of the file.
    problems, shaped = _row_problems(reader, problems, read)
    if shaped:
        unread |= shaped & set(PEOPLE)
        problems = [p for p in problems if not _waits(p, unread, missing)]
    if cohort.decisions:  # a pin that decisions.csv accepted: at that row, not at a rules.toml pin
        from solver.decision_rows import located_decision_problems

        problems = located_decision_problems(cohort, problems, len(cohort.decisions), "")
    if warnings is not None:  # rows are the files' rows
        found = (coordinate_warnings(coordinates) if coordinates is not None and coordinates.mentors == len(cohort.mentors)
                 and len(coordinates.lat) == len(cohort.mentors) + len(cohort.mentees) else None)
        warnings += [_locate(w) for w in cohort_warnings(cohort, found) if not _waits(w, unread, missing)
                     and not _in_rows(w, reader.blank_rows, shaped)]
    if problems:
        raise CohortInvalid(_by_file(problems))
    return cohort


def _coordinates(mentors: People | None, mentees: People | None) -> Coordinates | None:
    """A large cohort's coordinates as read, for its coordinate warnings (`solver.cohort_warnings.Coordinates`: a
    million people's are not asked of their objects again); None for a cohort of few people (its warnings are found
    from the cohort, as they were)."""
    from solver.cohort_warnings import MEDIAN_IN_PYTHON, Coordinates

    sides = [people.coordinates if people is not None else (np.zeros(0), np.zeros(0)) for people in (mentors, mentees)]
    if len(sides[0][0]) + len(sides[1][0]) <= MEDIAN_IN_PYTHON:
        return None
    return Coordinates(np.concatenate([sides[0][0], sides[1][0]]), np.concatenate([sides[0][1], sides[1][1]]),
                       len(sides[0][0]))


_ROW_NUMBER = re.compile(r" rows? (\d+)")


def _by_file(problems: list[Problem]) -> list[Problem]:
    """The problems of each file together (the files in the order they are read: the people, rankings, travel
    times, rules.toml, then the year's files), a file's own first (no row: its header, its shape), then by row;
    problems of one row keep their order (by column, as read)."""
    files = {stem: k for k, stem in enumerate((*PEOPLE, "rankings", "travel_times", "rules"))}
    for problem in problems:
        files.setdefault(problem.location.split(" ")[0].partition(".")[0], len(files))

    def key(problem: Problem) -> tuple[int, int]:
        row = _ROW_NUMBER.search(problem.location)
        return files[problem.location.split(" ")[0].partition(".")[0]], int(row.group(1)) if row else -1

    return sorted(problems, key=key)


ReadTables = Mapping[str, tuple[Path | None, tuple[str, ...]]]
"""Each table of people, rankings or travel times read: its file and columns."""


def _row_of(problem: Problem) -> tuple[str, int] | None:
    """The table and row index (from 0) a problem's path is in: `mentees[3].lat` -> ("mentees", 3)."""
    match = _ROW.match(problem.path)
    return (match.group(1), int(match.group(2))) if match else None


def _in_rows(problem: Problem, blank: Mapping[str, set[int]], shaped: set[str]) -> bool:
    """Whether a problem is in a blank row or a file that is one problem per row shape (`_row_problems`)."""
    row = _row_of(problem)
    return row is not None and (row[0] in shaped or row[1] in blank.get(row[0], ()))


def _row_problems(reader: RowReader, problems: list[Problem], read: ReadTables) -> tuple[list[Problem], set[str]]:
    """`problems` without those of blank rows (each run of them is one problem, kept), and with the row problems
    of a CSV file whose rows with problems have more or fewer cells than the header names columns replaced by
    one problem per row shape; and the tables so replaced."""
    rows: dict[str, set[int]] = {}
    for problem in problems:
        row = _row_of(problem)
        if row is not None and row[0] in read and row[1] not in reader.blank_rows.get(row[0], ()):
            rows.setdefault(row[0], set()).add(row[1])
    shaped: dict[str, list[str]] = {}
    for stem, at in rows.items():
        source, columns = read[stem]
        if source is None or source.suffix != ".csv":
            continue
        try:
            raw = read_input(source, limit=TABLE_LIMIT_BYTES, field_path=stem, location=source.name)
        except CohortInvalid:
            continue
        found = row_shapes(raw, source.name, columns, at)
        if found:
            shaped[stem] = found
    blank = set(map(id, reader.blank))
    kept = [p for p in problems if id(p) in blank or not _in_rows(p, reader.blank_rows, set(shaped))]
    for stem, messages in shaped.items():
        source = read[stem][0]
        kept += [Problem(ProblemCode.NOT_CSV, stem, message, source.name if source else stem) for message in messages]
    return kept, set(shaped)


def _values(reader: RowReader, table: Table | None, read: Callable[[Columns, Cells], T]) -> T | None:
    """What `read` makes of a table's columns (None without a table), the cells' problems into `reader`. The
    table gives its columns up, so that each goes as it is read."""
    if table is None:
        return None
    cells = Cells(table.stem, table.frame.columns)
    values = read(table.take_columns(), cells)
    reader.problems += cells.problems()
    return values


_POLARS_DUPLICATE = re.compile(r"_duplicated_\d+$")
_ROW = re.compile(r"^(mentors|mentees|rankings|travel_times|history|decisions)\[(\d+)\]")
_ITEM = re.compile(r"^(mentors|mentees|rankings|travel_times)\[\d+\]\.?([a-z_]*)")


def _in_missing(problem: Problem, missing: Mapping[str, tuple[str, ...]]) -> bool:
    """Whether a problem is at a cell of a column its file lacks (reported once as missing)."""
    item = _ITEM.match(problem.path)
    return item is not None and item.group(2) in missing.get(item.group(1), ())


def _rule_dependent(path: str) -> bool:
    """Whether a problem at `path` is one of a rule that pins are checked against (rules.toml unreadable, or a key
    other than the pins, bans, weights and the like: `solver.validate.PIN_INDEPENDENT_RULES`)."""
    from solver.validate import PIN_INDEPENDENT_RULES

    return (path == "rules" or path.startswith("rules.")) and not path.startswith(PIN_INDEPENDENT_RULES)


def _waits(problem: Problem, unread: set[str], missing: Mapping[str, tuple[str, ...]],
           rules_broken: bool = False) -> bool:
    """Whether a problem only follows from a file, a column or a rule that could not be read (and is reported as
    such): a cell of a missing column, an id of an unread file's side, a pin checked against people read in part
    or against a broken rule."""
    if rules_broken and problem.code is ProblemCode.PIN_BREAKS_RULE:
        return True
    if _in_missing(problem, missing):
        return True
    if problem.code is ProblemCode.EMPTY_SIDE:  # nobody on a side whose file could not be read: that file's problem
        return problem.path in unread
    if problem.code is ProblemCode.UNKNOWN_ID:
        side = ({"mentors"} if problem.path.endswith(".mentor_id") else {"mentees"}
                if problem.path.endswith(".mentee_id") else set(PEOPLE))
        return bool(side & unread)
    if problem.code in (ProblemCode.PIN_BREAKS_RULE, ProblemCode.PINS_EXCEED_CAPACITY):
        return bool(unread) or any(stem in missing for stem in PEOPLE)
    return False


def _locate(problem: Problem) -> Problem:
    """Give a validator problem on `mentees[3].languages[1]` its place in the files as well."""
    head, _, rest = problem.path.partition(".")
    stem, bracket, index = head.partition("[")
    if not bracket or stem not in ("mentors", "mentees", "rankings", "travel_times", "history", "decisions"):
        if problem.path.startswith("rules"):
            return Problem(problem.code, problem.path, problem.message, f"rules.toml {problem.path[6:] or ''}".strip())
        return problem
    row = int(index.rstrip("]")) if index.rstrip("]").isdigit() else -1
    if stem == "travel_times" and not rest:
        rest = "minutes"
    if not rest and stem not in PEOPLE:  # the row as a whole (a ranking given twice): its files have no id column
        return Problem(problem.code, problem.path, problem.message, f"{stem}.csv {row_text(row)}")
    column = rest.split("[")[0].split(".")[0] if rest else "id"
    return Problem(problem.code, problem.path, problem.message, cell_place(stem, row, column))


def people_from_rows(reader: RowReader, rows: Sequence[Mapping[str, str]], mentors: bool,
                     first_index: int = 0) -> list[Mentor] | list[Mentee]:
    """Mentors (or mentees) from rows of text cells keyed by column (a column a row lacks is empty), the cells'
    problems into `reader` at the paths `mentors[first_index + k]...`."""
    columns = MENTOR_COLUMNS if mentors else MENTEE_COLUMNS
    stem = "mentors" if mentors else "mentees"
    text = {c: pl.Series(c, [row.get(c, "") for row in rows], dtype=pl.String) for c in columns}
    cells = Cells(stem, columns, first_index=first_index, first_row=reader.first_row)
    people = (mentor_columns if mentors else mentee_columns)(text, cells).build()
    # A cell the caller already reported (a required key missing from an inline table) is not also empty.
    reported = {p.path.partition("[")[2] for p in reader.problems if "[" in p.path}
    reader.problems += [p for p in cells.problems() if p.path.partition("[")[2] not in reported]
    return people


def _rules(reader: RowReader, path: Path, travel: tuple[TravelTime, ...]) -> Rules:
    if not path.exists():
        return Rules(travel_times=travel)  # the defaults are documented in the README
    try:
        data, out_of_range = read_toml_checked(path, field_path="rules", location="rules.toml")
    except CohortInvalid as unreadable:
        reader.problems += unreadable.problems
        return Rules(travel_times=travel)
    # An integer beyond 64 bits is one problem at its key; the rest of the file is still checked, and what the
    # checks would say of the clamped value it was read as (a value the file does not hold) is left out.
    checked: list[Problem] = []
    rules = rules_from_mapping(data, checked, travel, directory=path.parent)
    reported = {problem.path for problem in out_of_range}
    reader.problems += out_of_range
    reader.problems += [p for p in checked if p.path not in reported]
    return rules


# Writing ---------------------------------------------------------------------------------------------


def _langs(languages: Iterable[Language]) -> str:
    return ";".join(f"{lang.code}:{cefr_name(lang.level)}" for lang in languages)


MENTOR_FORMAT: dict[str, Callable[[Mentor], str]] = {
    "id": lambda m: m.id,
    "lat": lambda m: format_float(m.lat),
    "lon": lambda m: format_float(m.lon),
    "occupations": lambda m: ";".join(m.occupations),
    "languages": lambda m: _langs(m.languages),
    "years_experience": lambda m: str(m.years_experience),
    "capacity": lambda m: str(m.capacity),
    "leadership": lambda m: format_bool(m.leadership),
    "gender": lambda m: m.gender,
    "interests": lambda m: ";".join(m.interests),
    "organisation": lambda m: m.organisation,
    "markets": lambda m: ";".join(m.markets),
    "returning": lambda m: format_bool(m.returning),
    "goals": lambda m: ";".join(g.value for g in m.goals),
    "online": lambda m: format_bool(m.online),
}
MENTEE_FORMAT: dict[str, Callable[[Mentee], str]] = {
    "id": lambda m: m.id,
    "lat": lambda m: format_float(m.lat),
    "lon": lambda m: format_float(m.lon),
    "occupations": lambda m: ";".join(m.occupations),
    "languages": lambda m: _langs(m.languages),
    "max_travel_km": lambda m: format_float(m.max_travel_km),
    "max_travel_minutes": lambda m: format_float(m.max_travel_minutes),
    "interests": lambda m: ";".join(m.interests),
    "goal": lambda m: m.goal.value,
    "gender": lambda m: m.gender,
    "requested_mentor_gender": lambda m: m.requested_mentor_gender,
    "country_of_origin": lambda m: m.country_of_origin,
    "first_language": lambda m: m.first_language,
    "municipality": lambda m: m.municipality,
    "track": lambda m: m.track.value,
    "priority": lambda m: str(m.priority),
    "online": lambda m: format_bool(m.online),
    "tags": lambda m: ";".join(m.tags),
    "avoid_organisations": lambda m: ";".join(m.avoid_organisations),
}


def _frame(rows: Iterable[Any], formats: Mapping[str, Callable[[Any], str]]) -> pl.DataFrame:
    items = list(rows)
    return pl.DataFrame({col: [fmt(x) for x in items] for col, fmt in formats.items()},
                        schema={col: pl.String for col in formats})


def write_cohort_dir(cohort: Cohort, directory: str | Path, *, parquet: bool = False) -> Path:
    """Write the cohort as a directory that `read_cohort_dir` reads back to an equal cohort; each file is
    written whole or not at all (`solver.fileio.write_atomic`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)

    def save(frame: pl.DataFrame, stem: str) -> None:
        if parquet:
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            write_atomic(directory / f"{stem}.parquet", buffer.getvalue())
        else:
            # Empty cells as nothing at all ("" would be quoted), as people write them by hand.
            blank = [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c) for c in frame.columns]
            write_atomic(directory / f"{stem}.csv", frame.select(blank).write_csv())

    # The date columns (solver.history) only when someone has a date: older files stay as they were.
    save(_frame(cohort.mentors, {**MENTOR_FORMAT, **dated(cohort.mentors, MENTOR_DATE_FORMAT)}), "mentors")
    save(_frame(cohort.mentees, {**MENTEE_FORMAT, **dated(cohort.mentees, MENTEE_DATE_FORMAT)}), "mentees")
    def there(stem: str) -> bool:
        """A file of this optional table is in the directory already: it is written (empty if need be), or the
        directory would read back with an earlier cohort's table (decide --out into last round's folder)."""
        return (directory / f"{stem}.csv").exists() or (directory / f"{stem}.parquet").exists()

    if cohort.rankings or there("rankings"):
        save(pl.DataFrame({"from_id": [r.from_id for r in cohort.rankings],
                           "to_id": [r.to_id for r in cohort.rankings],
                           "rank": [str(r.rank) for r in cohort.rankings]}), "rankings")
    if cohort.rules.travel_times or there("travel_times"):
        save(pl.DataFrame({"mentee_id": [t.mentee_id for t in cohort.rules.travel_times],
                           "mentor_id": [t.mentor_id for t in cohort.rules.travel_times],
                           "minutes": [format_float(t.minutes) for t in cohort.rules.travel_times]}), "travel_times")
    write_year_files(cohort, directory, save, there)  # history.csv and decisions.csv, when the cohort has them
    write_atomic(directory / "rules.toml", rules_to_toml(without_decisions(cohort).rules))
    return directory



"""Reading and writing cohorts as files: a directory of CSV or Parquet tables plus rules.toml, or one JSON file.

Parsing problems are collected, never raised one at a time: `load_cohort` raises `CohortInvalid`
with every problem found in every file, each with its file, row and column. Rows are numbered as a
spreadsheet shows them: the header is row 1, so the first person is row 2. CSV as spreadsheets save it
is read too: ';' or tab separators, decimal commas, cp1252 / latin-1 or UTF-16 text (a note says how).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import polars as pl

from solver.domain import (
    CEFR_LEVELS,
    Cohort,
    Goal,
    Language,
    Mentee,
    Mentor,
    Ranking,
    Rules,
    Track,
    TravelTime,
    cefr_level,
    cefr_name,
)
from solver.errors import CohortInvalid, Problem, ProblemCode, did_you_mean, nearest_known
from solver.fileio import TABLE_LIMIT_BYTES, read_input, read_toml, reading_note, write_atomic
from solver.rules_toml import format_bool, format_float, rules_from_mapping, rules_to_toml

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
RANKING_COLUMNS = ("from_id", "to_id", "rank")
TRAVEL_COLUMNS = ("mentee_id", "mentor_id", "minutes")

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}
HEADER_ROW = 1  # a data row's number is its index + 2: the header is the spreadsheet's row 1
SEPARATORS = {",": "','", ";": "';'", "\t": "tab"}
NUMBER_COLUMNS = ("lat", "lon", "max_travel_km", "max_travel_minutes", "minutes")
"""Columns that hold decimals: where a spreadsheet in a comma-decimal locale writes 55,68 for 55.68."""
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


def decode_table(raw: bytes, name: str) -> tuple[str, str]:
    """The text of a table file and the encoding it was read in: UTF-8 (with or without a byte-order mark),
    UTF-16 with a byte-order mark (Excel's "Unicode text"), else cp1252 (Windows in Western Europe, as
    Danish Excel saves CSV), else latin-1. Raises ValueError for binary data or an empty file."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "UTF-16"
    if b"\x00" in raw or not raw.strip():
        raise ValueError(f"{name} is empty or binary data, not a table")
    try:
        return raw.decode("utf-8-sig"), ""
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # one of the five bytes cp1252 leaves undefined
        return raw.decode("latin-1"), "latin-1"


def _separator(header: str, known: Iterable[str]) -> str:
    """The separator under which the header line names most known columns (',' on a tie)."""
    names = set(known)

    def score(separator: str) -> int:
        return sum(1 for c in header.split(separator) if c.strip().strip('"') in names)

    return max(SEPARATORS, key=lambda sep: (score(sep), sep == ","))


def read_csv_text(raw: bytes, name: str, known: Iterable[str]) -> pl.DataFrame:
    """A CSV table as text columns, read the way a spreadsheet wrote it (see `decode_table`; the separator that
    makes the header name most `known` columns; decimal commas in `NUMBER_COLUMNS` with ';' or tab), with one
    note (`solver.fileio.reading_note`) when it was not plain UTF-8, comma-separated and decimal points. Raises
    ValueError or polars' errors for what cannot be read as a table."""
    text, encoding = decode_table(raw, name)
    header = text.split("\n", 1)[0]
    separator = _separator(header, known)
    frame = pl.read_csv(text.encode("utf-8"), separator=separator, infer_schema=False)
    decimal_commas = False
    if separator != ",":
        for column in frame.columns:
            if column.strip() in NUMBER_COLUMNS:
                values = frame[column].drop_nulls().str.strip_chars()
                if values.str.contains(_DECIMAL_COMMA.pattern).any():
                    decimal_commas = True
                    fixed = pl.col(column).str.strip_chars()
                    frame = frame.with_columns(
                        pl.when(fixed.str.contains(f"^{_DECIMAL_COMMA.pattern}$"))
                        .then(fixed.str.replace(",", ".", literal=True)).otherwise(pl.col(column)).alias(column))
    how = [f"read as {encoding}"] if encoding else []
    how += [f"{SEPARATORS[separator]}-separated"] if separator != "," else []
    how += ["decimal commas"] if decimal_commas else []
    if how:
        reading_note(f"{name}: {', '.join(how)}")
    return frame


def row_text(index: int, first_row: int = HEADER_ROW + 1) -> str:
    """The row a person or pair at `index` (from 0) is on, as the spreadsheet numbers it."""
    return f"row {index + first_row}"


def cell_place(stem: str, index: int, column: str, first_row: int = HEADER_ROW + 1) -> str:
    """Where a cell is, for people: "mentees.csv row 5, column lat" for the mentee at index 3."""
    return f"{stem}.csv {row_text(index, first_row)}, column {column}"


def load_cohort(path: str | Path, *, warnings: list[Problem] | None = None) -> Cohort:
    """A cohort from a directory (CSV or Parquet tables + rules.toml) or a single protobuf-JSON file.

    Warnings (`solver.validate.cohort_warnings`: people far outside the cohort's area, mentees without a
    programme language), located in the
    files, are appended to `warnings` when it is given, also when the cohort has problems (a swapped file
    shows as pins that break the distance rule: the warning says why); they do not stop a valid cohort.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and not path.is_dir():
        # The JSON form is the protobuf JSON mapping, so the one proto <-> domain mapping reads it.
        from solver.cohort_json import load_cohort_json
        from solver.validate import cohort_warnings, validate

        cohort = load_cohort_json(path)
        # Value checks as for a directory: the JSON mapping reports only what the domain types cannot hold.
        problems = validate(cohort)
        if warnings is not None:  # paths are JSON indices
            warnings += [Problem(w.code, w.path, w.message, f"{path}, {w.path}")
                         for w in cohort_warnings(cohort)]
        if problems:
            raise CohortInvalid([Problem(p.code, p.path, p.message, f"{path}, {p.path}" if p.path else str(path))
                                 for p in problems])
        return cohort
    return read_cohort_dir(path, warnings=warnings)


class RowReader:
    """Collects problems while turning table cells into typed values.

    `first_row` is the number a problem gives the first row: 2 for a file with a header (the spreadsheet's
    numbering), 1 for a list of inline tables. `failed` is set when a file could not be read as a table."""

    def __init__(self, first_row: int = HEADER_ROW + 1) -> None:
        self.problems: list[Problem] = []
        self.first_row = first_row
        self.failed = False

    def where(self, stem: str, index: int, column: str) -> str:
        return cell_place(stem, index, column, self.first_row)

    def problem(self, code: ProblemCode, path: str, message: str, location: str = "") -> None:
        self.problems.append(Problem(code, path, message, location))

    def table(self, directory: Path, stem: str, required: Iterable[str], known: Iterable[str],
              optional: bool = False) -> list[dict[str, str]] | None:
        """Rows of `stem`.csv or `stem`.parquet as dicts of text; None when absent or unreadable."""
        csv, parquet = directory / f"{stem}.csv", directory / f"{stem}.parquet"
        source = csv if csv.exists() else parquet if parquet.exists() else None
        if source is None:
            if not optional:
                self.problem(ProblemCode.MISSING_FILE, stem, f"{stem}.csv (or {stem}.parquet) is missing",
                             f"{directory.name}/{stem}.csv")
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
            self.problem(ProblemCode.NOT_CSV, stem, f"cannot read {source.name} as a table: {_short(error)}",
                         source.name)
            self.failed = True
            return None
        columns = [c.strip() for c in frame.columns]
        if not self.columns_ok(stem, source.name, columns, required, known):
            self.failed = True
            return None
        frame.columns = columns
        return [{k: (v or "").strip() for k, v in row.items()} for row in frame.fill_null("").iter_rows(named=True)]

    def columns_ok(self, stem: str, where: str, columns: list[str], required: Iterable[str],
                   known: Iterable[str], *, others_allowed: bool = False) -> bool:
        """Whether a header holds every required column and only known ones (any others too, with
        `others_allowed`), once each; each problem reported once: a misspelt required column is one problem with
        the name it is probably meant to be."""
        known = tuple(known)
        if columns and not any(c in known or nearest_known(c, known) for c in columns):
            shown = ", ".join(columns[:5]) + (", ..." if len(columns) > 5 else "")
            self.problem(ProblemCode.MISSING_COLUMN, stem, f"no known column in the first row ({shown}): the first "
                         f"row must be the header, with columns such as {', '.join(tuple(required)[:4])}", where)
            return False
        for column in sorted({c for c in columns if columns.count(c) > 1}):  # " id" and "id" after stripping
            self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{column}", f"column '{column}' appears twice", where)
        missing = [c for c in required if c not in columns]
        unknown = [c for c in columns if c not in set(known)]
        renamed = []
        for column in unknown:
            nearest = nearest_known(column, [k for k in known if k not in columns])
            if nearest in missing:
                missing.remove(nearest)
                renamed.append(column)
                self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{nearest}", f"required column '{nearest}' is "
                             f"missing; is '{column}' meant to be '{nearest}'?", where)
            elif not others_allowed:
                self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{column}", f"unknown column '{column}'"
                             f"{did_you_mean(column, known)} (known: {', '.join(known)})", where)
        for column in missing:
            self.problem(ProblemCode.MISSING_COLUMN, f"{stem}.{column}",
                         f"required column '{column}' is missing (columns: {', '.join(columns)})", where)
        return not (missing or renamed or (unknown and not others_allowed) or len(set(columns)) < len(columns))

    # Cell parsers: each reports its own problem and returns a value the validator can still see.

    def number(self, text: str, path: str, where: str, default: float | None = None) -> float | None:
        if text == "":
            return default
        try:
            return float(text)
        except ValueError:
            self.problem(ProblemCode.BAD_VALUE, path, f"'{text}' is not a number", where)
            return math.nan if default is None else default

    def coordinate(self, text: str, path: str, where: str) -> float:
        """A missing or unreadable coordinate becomes NaN, which the validator reports as out of range."""
        value = self.number(text, path, where, math.nan)
        return math.nan if value is None else value

    def integer(self, text: str, path: str, where: str, default: int) -> int:
        if text == "":
            return default
        try:
            value = float(text)
            if value != int(value):
                raise ValueError
            return int(value)
        except (ValueError, OverflowError):
            self.problem(ProblemCode.BAD_VALUE, path, f"'{text}' is not a whole number", where)
            return default

    def boolean(self, text: str, path: str, where: str) -> bool:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered not in _FALSE:
            self.problem(ProblemCode.BAD_VALUE, path, f"'{text}' is not true/false", where)
        return False

    def languages(self, text: str, path: str, where: str) -> tuple[Language, ...]:
        skills = []
        for i, item in enumerate(_split(text)):
            code, sep, level = item.partition(":")
            if not sep:
                self.problem(ProblemCode.MALFORMED_LANGUAGE, f"{path}[{i}]",
                             f"'{item}' is not code:level (e.g. da:C1)", where)
                continue
            parsed = cefr_level(level)
            if parsed == 0:
                self.problem(ProblemCode.MALFORMED_CEFR, f"{path}[{i}].level", f"'{level}' is not a CEFR level"
                             f"{did_you_mean(level, CEFR_LEVELS)} ({', '.join(CEFR_LEVELS)})", where)
                parsed = -1  # keeps the entry visible but never valid; reported once here
            skills.append(Language(code.strip().lower(), parsed))
        return tuple(skills)

    def enum(self, kind: type[Goal] | type[Track], text: str, path: str, where: str) -> Any:
        try:
            return kind(text.lower())
        except ValueError:
            allowed = [v.value for v in kind if v.value]
            self.problem(ProblemCode.BAD_VALUE, path, f"'{text}' is not one of: {', '.join(allowed)}"
                         f"{did_you_mean(text, allowed)}", where)
            return kind("")


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


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(";") if part.strip()]


def _short(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__


def read_cohort_dir(directory: str | Path, *, warnings: list[Problem] | None = None) -> Cohort:
    """Read mentors, mentees, rankings, travel times and rules; raise CohortInvalid with every problem.
    Coordinate warnings, located in the files, are appended to `warnings` when it is given."""
    directory = Path(directory)
    reader = RowReader()
    if not directory.is_dir():
        raise CohortInvalid([Problem(ProblemCode.MISSING_FILE, "", f"no cohort directory or .json file at {directory}",
                                     str(directory))])
    mentor_rows = reader.table(directory, "mentors", MENTOR_REQUIRED, MENTOR_COLUMNS)
    mentee_rows = reader.table(directory, "mentees", MENTEE_REQUIRED, MENTEE_COLUMNS)
    ranking_rows = reader.table(directory, "rankings", RANKING_COLUMNS, RANKING_COLUMNS, optional=True)
    travel_rows = reader.table(directory, "travel_times", TRAVEL_COLUMNS, TRAVEL_COLUMNS, optional=True)
    mentors = tuple(mentor_from_row(reader, row, i) for i, row in enumerate(mentor_rows or []))
    mentees = tuple(mentee_from_row(reader, row, i) for i, row in enumerate(mentee_rows or []))
    rankings = tuple(
        Ranking(row["from_id"], row["to_id"],
                reader.integer(row["rank"], f"rankings[{i}].rank", reader.where("rankings", i, "rank"), 0))
        for i, row in enumerate(ranking_rows or [])
    )
    travel = tuple(
        TravelTime(row["mentee_id"], row["mentor_id"],
                   reader.coordinate(row["minutes"], f"travel_times[{i}].minutes",
                                     reader.where("travel_times", i, "minutes")))
        for i, row in enumerate(travel_rows or [])
    )
    rules = _rules(reader, directory / "rules.toml", travel)
    if reader.failed:
        # A file that could not be read as a table is the one problem to fix: checking the rest against it
        # would only add a cascade (every ranking of a mentor in an unread mentors.csv an unknown id).
        raise CohortInvalid(reader.problems)
    cohort = Cohort(mentors, mentees, rankings, rules, name=directory.name)
    # Value checks (ranges, codes, ids, pins against the hard rules) are the validator's, shared with gRPC input.
    from solver.validate import cohort_warnings, validate

    problems = reader.problems + [_locate(p) for p in validate(cohort)]
    if warnings is not None:  # rows are the files' rows
        warnings += [_locate(w) for w in cohort_warnings(cohort)]
    if problems:
        raise CohortInvalid(problems)
    return cohort


def _locate(problem: Problem) -> Problem:
    """Give a validator problem on `mentees[3].languages[1]` its place in the files as well."""
    head, _, rest = problem.path.partition(".")
    stem, bracket, index = head.partition("[")
    if not bracket or stem not in ("mentors", "mentees", "rankings", "travel_times"):
        if problem.path.startswith("rules"):
            return Problem(problem.code, problem.path, problem.message, f"rules.toml {problem.path[6:] or ''}".strip())
        return problem
    row = int(index.rstrip("]")) if index.rstrip("]").isdigit() else -1
    column = rest.split("[")[0].split(".")[0] if rest else "id"
    if stem == "travel_times":
        column = column if rest else "minutes"
    return Problem(problem.code, problem.path, problem.message, cell_place(stem, row, column))


def mentor_from_row(reader: RowReader, row: Mapping[str, str], i: int) -> Mentor:
    def where(column: str) -> str:
        return reader.where("mentors", i, column)

    path = f"mentors[{i}]"
    return Mentor(
        id=row["id"],
        lat=reader.coordinate(row["lat"], f"{path}.lat", where("lat")),
        lon=reader.coordinate(row["lon"], f"{path}.lon", where("lon")),
        occupations=tuple(_split(row["occupations"])),
        languages=reader.languages(row["languages"], f"{path}.languages", where("languages")),
        years_experience=reader.integer(row["years_experience"], f"{path}.years_experience",
                                        where("years_experience"), 0),
        capacity=reader.integer(row["capacity"], f"{path}.capacity", where("capacity"), 1),
        leadership=reader.boolean(row.get("leadership", ""), f"{path}.leadership", where("leadership")),
        gender=row.get("gender", "").lower(),
        interests=tuple(t.lower() for t in _split(row.get("interests", ""))),
        organisation=row.get("organisation", ""),
        markets=tuple(c.upper() for c in _split(row.get("markets", ""))),
        returning=reader.boolean(row.get("returning", ""), f"{path}.returning", where("returning")),
        goals=tuple(reader.enum(Goal, g, f"{path}.goals[{k}]", where("goals"))
                    for k, g in enumerate(_split(row.get("goals", "")))),
        online=reader.boolean(row.get("online", ""), f"{path}.online", where("online")),
    )


def mentee_from_row(reader: RowReader, row: Mapping[str, str], i: int) -> Mentee:
    def where(column: str) -> str:
        return reader.where("mentees", i, column)

    path = f"mentees[{i}]"
    return Mentee(
        id=row["id"],
        lat=reader.coordinate(row["lat"], f"{path}.lat", where("lat")),
        lon=reader.coordinate(row["lon"], f"{path}.lon", where("lon")),
        occupations=tuple(_split(row["occupations"])),
        languages=reader.languages(row["languages"], f"{path}.languages", where("languages")),
        max_travel_km=reader.number(row.get("max_travel_km", ""), f"{path}.max_travel_km", where("max_travel_km")),
        max_travel_minutes=reader.number(row.get("max_travel_minutes", ""), f"{path}.max_travel_minutes",
                                         where("max_travel_minutes")),
        interests=tuple(t.lower() for t in _split(row.get("interests", ""))),
        goal=reader.enum(Goal, row.get("goal", ""), f"{path}.goal", where("goal")),
        gender=row.get("gender", "").lower(),
        requested_mentor_gender=row.get("requested_mentor_gender", "").lower(),
        country_of_origin=row.get("country_of_origin", "").upper(),
        first_language=row.get("first_language", "").lower(),
        municipality=row.get("municipality", ""),
        track=reader.enum(Track, row.get("track", ""), f"{path}.track", where("track")),
        priority=reader.integer(row.get("priority", ""), f"{path}.priority", where("priority"), 1),
        online=reader.boolean(row.get("online", ""), f"{path}.online", where("online")),
        tags=tuple(t.lower() for t in _split(row.get("tags", ""))),
        avoid_organisations=tuple(_split(row.get("avoid_organisations", ""))),
    )


def _rules(reader: RowReader, path: Path, travel: tuple[TravelTime, ...]) -> Rules:
    if not path.exists():
        return Rules(travel_times=travel)  # the defaults are documented in the README
    try:
        data = read_toml(path, field_path="rules", location="rules.toml")
    except CohortInvalid as unreadable:
        reader.problems += unreadable.problems
        return Rules(travel_times=travel)
    return rules_from_mapping(data, reader.problems, travel, directory=path.parent)


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

    save(_frame(cohort.mentors, MENTOR_FORMAT), "mentors")
    save(_frame(cohort.mentees, MENTEE_FORMAT), "mentees")
    if cohort.rankings:
        save(pl.DataFrame({"from_id": [r.from_id for r in cohort.rankings],
                           "to_id": [r.to_id for r in cohort.rankings],
                           "rank": [str(r.rank) for r in cohort.rankings]}), "rankings")
    if cohort.rules.travel_times:
        save(pl.DataFrame({"mentee_id": [t.mentee_id for t in cohort.rules.travel_times],
                           "mentor_id": [t.mentor_id for t in cohort.rules.travel_times],
                           "minutes": [format_float(t.minutes) for t in cohort.rules.travel_times]}), "travel_times")
    write_atomic(directory / "rules.toml", rules_to_toml(cohort.rules))
    return directory



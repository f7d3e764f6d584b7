"""Table cells to typed columns: each column split, cast and checked at once by polars expressions, problems made for
the failing rows only, and the domain objects built from the columns (no Python dict, no parser call per row).

A cell means what the README's input-file sections say, exactly as the per-cell reading did before: numbers as
Python's `float` reads them, whole numbers, true/false words, `code:level` languages, goals and tracks, `;`-lists
trimmed of Python's whitespace, codes lower- or upper-cased. Two tiers keep it exact at polars' speed:

- a text the fast tier's pattern accepts (a plain decimal number, a clean language list, an ASCII text to be
  lower-cased) is parsed by polars, where both readings provably agree (the tests compare them);
- any other text is parsed by the Python functions here, which also word its problems. Texts are parsed once per
  distinct text (a column of a million rows holds far fewer), so equal values share one Python object.

Values checks (`solver.validate`) follow the same idea: polars finds the rows that are not plainly valid, with
patterns stricter than the rules; the validator's own per-person checks judge those rows only.
"""

from __future__ import annotations

import gc
import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from functools import partial
from itertools import repeat
from typing import Any, Generic, TypeVar

import numpy as np
import polars as pl

from solver.domain import CEFR_LEVELS, Goal, Language, Mentee, Mentor, Ranking, Track, TravelTime, cefr_level
from solver.errors import Problem, ProblemCode, did_you_mean
from solver.validate import (
    MAX_CAPACITY,
    MAX_PRIORITY,
    MAX_YEARS,
    duplicate_id,
    mentee_problems,
    mentor_problems,
)

WHITESPACE = ("\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
              "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""What Python's `str.strip()` removes (every character whose `isspace()` is true); polars' own strip knows fewer."""
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", ""})
PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
"""Decimal numbers that polars' cast and Python's `float` read to the same double (both round correctly); other
texts ("1_000", "inf", Arabic-Indic digits, words) go to `float` itself."""
ASCII = r"^[\x00-\x7f]*$"  # case mapping agrees with Python's on ASCII text
_LEVELS = "(?:" + "|".join(CEFR_LEVELS) + ")"
PLAIN_LANGUAGES = rf"^(?:[a-z]{{2}}:{_LEVELS}(?:;[a-z]{{2}}:{_LEVELS})*)?$"
# Texts that are plainly valid: stricter than the rules (`solver.validate`), which judge every other row.
PLAIN_ID = r"^[0-9A-Za-z_.:/+#@-]{1,64}$"
PLAIN_OCCUPATIONS = r"^(?:[0-9]{4}(?:;[0-9]{4})*)?$"
PLAIN_COUNTRIES = r"^(?:[A-Za-z]{2}(?:;[A-Za-z]{2})*)?$"
PLAIN_CODE = r"^(?:[A-Za-z]{2})?$"
PLAIN_GENDER = r"^[fmxFMX]?$"
EXACT_INT = 2**53  # floats below this in size are whole numbers exactly when polars says so; larger ones: Python

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CellProblem:
    """A problem of a cell's text, the same wherever the text stands: `suffix` extends the cell's field path
    ("" for the cell itself, "[1].level" for the second language's level)."""

    code: ProblemCode
    suffix: str
    message: str


Parsed = tuple[Any, tuple[CellProblem, ...]]
"""A text's value and its problems."""
RowProblems = dict[int, tuple[CellProblem, ...]]
"""Problems by row index: only the rows that have some."""


# --- one text at a time: the rules themselves (and the wording of their problems) -------------------------------


def split_list(text: str) -> list[str]:
    """A `;`-list: each item trimmed, empty items dropped."""
    return [part.strip() for part in text.split(";") if part.strip()]


def parse_languages(text: str) -> Parsed:
    """`da:C1;en:B2` as Languages. An item without ':' is left out, a level that is no CEFR level kept as -1
    (visible, never valid: the validator leaves it to this problem)."""
    skills, problems = [], []
    for i, item in enumerate(split_list(text)):
        code, sep, level = item.partition(":")
        if not sep:
            problems.append(CellProblem(ProblemCode.MALFORMED_LANGUAGE, f"[{i}]",
                                        f"'{item}' is not code:level (e.g. da:C1)"))
            continue
        parsed = cefr_level(level)
        if parsed == 0:
            problems.append(CellProblem(ProblemCode.MALFORMED_CEFR, f"[{i}].level", f"'{level}' is not a CEFR level"
                                        f"{did_you_mean(level, CEFR_LEVELS)} ({', '.join(CEFR_LEVELS)})"))
            parsed = -1
        skills.append(Language(code.strip().lower(), parsed))
    return tuple(skills), tuple(problems)


def enum_problem(kind: type[Goal] | type[Track], text: str, suffix: str = "") -> CellProblem:
    allowed = [v.value for v in kind if v.value]
    return CellProblem(ProblemCode.BAD_VALUE, suffix, f"'{text}' is not one of: {', '.join(allowed)}"
                       f"{did_you_mean(text, allowed)}")


def parse_enum(kind: type[Goal] | type[Track], text: str) -> Parsed:
    try:
        return kind(text.lower()), ()
    except ValueError:
        return kind(""), (enum_problem(kind, text),)


def parse_goals(text: str) -> Parsed:
    goals, problems = [], []
    for k, item in enumerate(split_list(text)):
        try:
            goals.append(Goal(item.lower()))
        except ValueError:
            goals.append(Goal.UNSPECIFIED)
            problems.append(enum_problem(Goal, item, f"[{k}]"))
    return tuple(goals), tuple(problems)


# --- a column at a time ---------------------------------------------------------------------------------------


def by_text(column: pl.Series, parse: Callable[[str], Parsed],
            fast: tuple[str, Callable[[pl.Series], Iterable[Any]]] | None = None) -> tuple[list[Any], RowProblems]:
    """Each row's value and problems: texts matching the pattern of `fast` go to its converter (a Series of texts
    at once, values in the same order; the pattern must not match a text that trimming would change, unless the
    converter trims its parts), the others one by one to `parse` (trimmed). A column of few distinct texts is
    parsed once per distinct text, and equal values are one shared object."""
    n = column.len()
    if n == 0:
        return [], {}
    if (column == column[0]).all():  # often so for an optional column: one text, parsed once, nothing hashed
        return _by_distinct(column, column.head(1), parse, fast)
    sample = column.gather_every(max(1, n // 4096))
    if sample.n_unique() > sample.len() // 2:  # mostly distinct: hashing every text would save nothing
        return _each(column, parse, fast)
    return _by_distinct(column, column.unique(), parse, fast)


def _each(column: pl.Series, parse: Callable[[str], Parsed],
          fast: tuple[str, Callable[[pl.Series], Iterable[Any]]] | None) -> tuple[list[Any], RowProblems]:
    """`by_text` row by row: the fast tier on the whole column, `parse` on each other row."""
    plain = column.str.contains(fast[0]).to_numpy() if fast is not None else np.zeros(column.len(), dtype=np.bool_)
    if fast is not None and plain.all():
        return list(fast[1](column)), {}
    values = np.empty(column.len(), dtype=object)
    if fast is not None and plain.any():
        converted = list(fast[1](column.filter(plain)))
        values[plain] = np.fromiter(converted, dtype=object, count=len(converted))
    problems: RowProblems = {}
    slow = np.flatnonzero(~plain)
    for row, text in zip(slow.tolist(), column.gather(slow).to_list(), strict=True):
        values[row], found = parse(text.strip())
        if found:
            problems[row] = found
    return values.tolist(), problems


def _by_distinct(column: pl.Series, distinct: pl.Series, parse: Callable[[str], Parsed],
                 fast: tuple[str, Callable[[pl.Series], Iterable[Any]]] | None) -> tuple[list[Any], RowProblems]:
    """`by_text` once per distinct text (`distinct`: every text of the column, once)."""
    values, failing = _each(distinct, parse, fast)
    if len(distinct) == 1:
        codes = np.zeros(column.len(), dtype=np.uint32)
        out: list[Any] = values * column.len()
    else:
        table = np.fromiter(values, dtype=object, count=len(values))
        codes = column.replace_strict(distinct, np.arange(len(distinct)), return_dtype=pl.UInt32).to_numpy()
        out = table[codes].tolist()
    problems_by_row: RowProblems = {}
    if failing:
        for row in np.flatnonzero(np.isin(codes, list(failing))).tolist():
            problems_by_row[row] = failing[int(codes[row])]
    return out, problems_by_row


def shared_tuples(parts: pl.Series, item: Callable[[str], Any] | None = None,
                  clean: Callable[[pl.Series], pl.Series] | None = None) -> list[tuple[Any, ...]]:
    """Each list of `parts` (a cell's texts split on ';') as a tuple: each item cleaned by `clean` (a Series of
    texts at once; applied to the distinct items only), empty items left out, equal items one shared object
    (`item` makes it from the cleaned text; by default the text). Made by arrays and `zip`, without a Python step
    per row: a vocabulary of codes costs its size once, not once per mention."""
    counts = parts.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = parts.explode()
    if (counts == 0).any() or flat.len() != int(counts.sum()):  # not what splitting texts makes
        return [tuple(item(t) if item else t for t in items if t) for items in parts.to_list()]
    vocabulary = flat.unique()
    codes = flat.replace_strict(vocabulary, np.arange(len(vocabulary)), return_dtype=pl.UInt32).to_numpy()
    del flat
    texts = (clean(vocabulary) if clean is not None else vocabulary).to_list()
    shared: dict[str, Any] = {}  # cleaning may make two raw items one ("Chess", "chess ")
    objects = np.empty(len(texts), dtype=object)
    for k, text in enumerate(texts):
        if text:
            if text not in shared:
                shared[text] = text if item is None else item(text)
            objects[k] = shared[text]
    kept = np.fromiter((bool(text) for text in texts), dtype=np.bool_, count=len(texts))[codes]
    lengths = np.add.reduceat(kept.astype(np.int64), np.cumsum(counts) - counts) if len(counts) else counts
    items = objects[codes[kept]]
    if len(items) == 0:
        return [()] * len(counts)
    starts = np.cumsum(lengths) - lengths
    out = np.empty(len(lengths), dtype=object)
    sizes, how_many = np.unique(lengths, return_counts=True)
    flat_items: list[Any] | None = None
    for size, rows in zip(sizes.tolist(), how_many.tolist(), strict=True):
        chosen = np.flatnonzero(lengths == size)
        made: Iterable[tuple[Any, ...]]
        if size == 0:
            made = repeat((), rows)
        elif rows >= 64:  # rows of one length: their k-th items as a column each, zipped into tuples
            at = starts[chosen]
            made = zip(*(items[at + k].tolist() for k in range(size)), strict=True)
        else:  # a few rows of a rare length: sliced one by one
            flat_items = items.tolist() if flat_items is None else flat_items
            made = (tuple(flat_items[a:a + size]) for a in starts[chosen].tolist())
        out[chosen] = np.fromiter(made, dtype=object, count=rows)
    return out.tolist()


def _lists(case: str) -> Callable[[pl.Series], Iterable[tuple[str, ...]]]:
    def clean(items: pl.Series) -> pl.Series:
        items = items.str.strip_chars(WHITESPACE)
        return items.str.to_lowercase() if case == "lower" else items.str.to_uppercase() if case == "upper" else items

    def convert(texts: pl.Series) -> list[tuple[str, ...]]:
        return shared_tuples(texts.str.split(";"), clean=clean)
    return convert


def text_lists(column: pl.Series, case: str = "") -> list[tuple[str, ...]]:
    """A `;`-list column as tuples of texts, optionally lower- or upper-cased (`case`)."""

    def slow(text: str) -> Parsed:
        items = split_list(text)
        return tuple(t.lower() for t in items) if case == "lower" else tuple(
            t.upper() for t in items) if case == "upper" else tuple(items), ()

    values, _ = by_text(column, slow, (ASCII if case else "", _lists(case)))
    return values


def texts(column: pl.Series, case: str = "") -> list[str]:
    """A text column, lower- or upper-cased as Python does; equal texts share one object."""
    change: Callable[[str], str] = str.lower if case == "lower" else str.upper if case == "upper" else str
    values, _ = by_text(column, lambda text: (change(text), ()))
    return values


def languages(column: pl.Series) -> tuple[list[tuple[Language, ...]], RowProblems]:
    def language(item: str) -> Language:
        code, _, level = item.partition(":")
        return Language(code, CEFR_LEVELS.index(level) + 1)

    def convert(plain: pl.Series) -> list[tuple[Language, ...]]:
        return shared_tuples(plain.str.split(";"), language)

    return by_text(column, parse_languages, (PLAIN_LANGUAGES, convert))


def floats(column: pl.Series, *, empty: float | None, failed: float = math.nan, quiet: bool = False
           ) -> tuple[pl.Series, RowProblems]:
    """Numbers as Python's `float` reads them; an empty cell is `empty` (None: null), one that is no number
    `failed`, with a problem unless `quiet`."""
    plain = column.str.contains(PLAIN_NUMBER)
    values = pl.select(pl.when(plain).then(column.cast(pl.Float64, strict=False)).otherwise(
        pl.lit(empty, dtype=pl.Float64)).alias(column.name)).to_series()
    other = (~plain & (column != "")).to_numpy()
    problems: RowProblems = {}
    if other.any():
        rows = np.flatnonzero(other)
        parsed: list[float | None] = []
        for row, cell in zip(rows.tolist(), column.gather(rows).to_list(), strict=True):
            text = cell.strip()
            try:
                parsed.append(float(text) if text else empty)
            except ValueError:
                parsed.append(failed)
                if not quiet:
                    problems[row] = (CellProblem(ProblemCode.BAD_VALUE, "", f"'{text}' is not a number"),)
        values = values.scatter(rows, parsed)
    return values, problems


def integers(column: pl.Series, default: int) -> tuple[list[int], pl.Series, RowProblems]:
    """Whole numbers as `float` reads them ("3", "3.0", "1e3"); empty: `default`; anything else a problem and
    `default`. Also returns the values as a Float64 Series (NaN where no whole number), for range checks."""
    number, _ = floats(column, empty=float(default), quiet=True)
    whole = (number.is_finite() & (number == number.floor())).fill_null(False)
    small = whole & (number.abs() < EXACT_INT)
    ints = pl.select(pl.when(small).then(number.cast(pl.Int64, strict=False)).otherwise(default)).to_series()
    out: list[int] = ints.to_list()
    for row in np.flatnonzero((whole & ~small).to_numpy()).tolist():
        out[row] = int(number[row])  # beyond 2**53: Python's exact int of the double, as int(float(text))
    problems: RowProblems = {
        row: (CellProblem(ProblemCode.BAD_VALUE, "", f"'{text.strip()}' is not a whole number"),)
        for row, text in zip(np.flatnonzero((~whole).to_numpy()).tolist(),
                             column.filter(~whole).to_list(), strict=True)}
    return out, number.set(~whole, math.nan), problems


def parse_boolean(text: str) -> Parsed:
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True, ()
    if lowered in FALSE_WORDS:
        return False, ()
    return False, (CellProblem(ProblemCode.BAD_VALUE, "", f"'{text}' is not true/false"),)


def booleans(column: pl.Series) -> tuple[list[bool], RowProblems]:
    return by_text(column, parse_boolean)


def trimmed(column: pl.Series) -> pl.Series:
    """A column of texts such as ids, trimmed as Python's `str.strip()` does."""
    return column.str.strip_chars(WHITESPACE)


# --- domain objects from columns ----------------------------------------------------------------------------------


@contextmanager
def no_collection() -> Iterator[None]:
    """The cyclic garbage collector off while a million new objects (which form no cycles) are made: it would
    otherwise walk the growing heap again and again (each 700 new tuples or objects start a collection). Nested
    uses are fine: the outermost turns it back on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Builder(Generic[T]):
    """`n` instances of the frozen slotted dataclass `kind`, made empty and then filled a field at a time
    (`builder[name] = values`: each slot set through its descriptor, without a constructor call per object), so
    that each column's list can go as soon as it is set. `done` gives them, a field never given set to its
    default. Equal to `kind(**row)` for each row (the tests compare); `kind` must do nothing in `__post_init__`."""

    def __init__(self, kind: type[T], n: int) -> None:
        if hasattr(kind, "__post_init__"):  # it would be skipped: such a class must be built row by row
            raise TypeError(f"{kind.__name__} has a __post_init__, which building by columns would skip")
        self.kind, self.n = kind, n
        self.unset = {spec.name: spec for spec in fields(kind)}  # type: ignore[arg-type]
        with no_collection():
            self.objects: list[T] = list(map(object.__new__, repeat(kind, n)))

    def __setitem__(self, name: str, values: Iterable[Any]) -> None:
        if self.unset.pop(name, None) is None:
            raise ValueError(f"{self.kind.__name__} has no field {name} (or it is set already)")
        if isinstance(values, Sized) and len(values) != self.n:
            raise ValueError(f"column {name} has {len(values)} values, not {self.n}")
        with no_collection():
            deque(map(getattr(self.kind, name).__set__, self.objects, values), maxlen=0)

    def done(self) -> list[T]:
        for name, spec in list(self.unset.items()):
            if spec.default is not MISSING:
                self[name] = repeat(spec.default, self.n)
            elif spec.default_factory is not MISSING:
                self[name] = (spec.default_factory() for _ in range(self.n))
            else:
                raise ValueError(f"{self.kind.__name__}.{name} has no column and no default")
        return self.objects


def build(kind: type[T], n: int, columns: Mapping[str, Iterable[Any]]) -> list[T]:
    """`n` instances of `kind` from its columns (see `Builder`; a field without a column takes its default)."""
    builder = Builder(kind, n)
    for name, values in columns.items():
        builder[name] = values
    return builder.done()


@dataclass
class People:
    """Mentors or mentees being built from their columns (`build` gives them), which rows are plainly valid (the
    validator need not look at them), and the ids as polars has them."""

    builder: Builder[Any]
    plain: np.ndarray
    ids: pl.Series

    def build(self) -> list[Any]:
        return self.builder.done()


# --- tables -------------------------------------------------------------------------------------------------------


def row_text(index: int, first_row: int = 2) -> str:
    """The row a person or pair at `index` (from 0) is on, as the spreadsheet numbers it (the header is row 1)."""
    return f"row {index + first_row}"


def cell_place(stem: str, index: int, column: str, first_row: int = 2) -> str:
    """Where a cell is, for people: "mentees.csv row 5, column lat" for the mentee at index 3."""
    return f"{stem}.csv {row_text(index, first_row)}, column {column}"


@dataclass
class Cells:
    """Problems of a table's cells, each with its row and column, worded (`problems`) in the file's order: row by
    row, in a row column by column."""

    stem: str
    columns: Sequence[str]  # the table's columns in order
    first_index: int = 0  # the index in the file (and in field paths) of the frame's first row
    first_row: int = 2  # the row number the spreadsheet shows for index 0
    found: list[tuple[int, int, int, CellProblem, str]] = field(default_factory=list)  # row, order, item, ..., column

    def add(self, column: str, problems: RowProblems) -> None:
        order = self.columns.index(column)
        for row, row_problems in problems.items():
            self.found += [(row, order, k, problem, column) for k, problem in enumerate(row_problems)]

    def problems(self) -> list[Problem]:
        out = []
        for row, _, _, problem, column in sorted(self.found, key=lambda item: item[:3]):
            index = row + self.first_index
            out.append(Problem(problem.code, f"{self.stem}[{index}].{column}{problem.suffix}", problem.message,
                               cell_place(self.stem, index, column, self.first_row)))
        return out


def _within(values: pl.Series, low: float, high: float) -> pl.Series:
    return (values.is_finite() & values.is_between(low, high)).fill_null(False)


Columns = dict[str, pl.Series]
"""A table's text columns by name: the readers below take each out (`pop`) as they read it, so that its memory goes
before the next is made, as long as nothing else holds the table's frame."""


class _Taking:
    """A table's text columns, taken out one by one; and which rows are plainly valid so far."""

    def __init__(self, columns: Columns, kind: type[Mentor] | type[Mentee]) -> None:
        self.n = next(iter(columns.values())).len()
        self.columns = columns
        self.plain = np.ones(self.n, dtype=np.bool_)
        self.kind = kind
        self.values: dict[str, Sequence[Any]] = {}  # until the objects are made
        self.builder: Builder[Any] | None = None

    def start_building(self) -> Builder[Any]:
        """The objects, made now (the columns read so far set into them): from here on each column is set as
        soon as it is read, and its list goes."""
        self.builder = Builder(self.kind, self.n)
        while self.values:
            name = next(iter(self.values))
            self.builder[name] = self.values.pop(name)
        return self.builder

    def take(self, name: str) -> pl.Series:
        return self.columns.pop(name)

    def check(self, mask: pl.Series) -> None:
        self.plain &= mask.fill_null(False).to_numpy()


def _person_columns(taking: _Taking, cells: Cells) -> None:
    """The columns mentors and mentees share, taken from `taking` after their own: the ones that make many new
    Python objects come last, when the text of the others has gone (the memory polars frees returns to the
    system about a second later)."""
    values = taking.start_building()
    text = taking.take("gender")
    taking.check(text.str.contains(PLAIN_GENDER))
    values["gender"] = texts(text, "lower")
    values["online"], problems = booleans(taking.take("online"))
    cells.add("online", problems)
    ids = trimmed(id_text := taking.take("id"))
    taking.check(id_text.str.contains(PLAIN_ID))
    del id_text
    values["id"] = ids.to_list()
    taking.columns["id"] = ids  # kept (trimmed) for the ids used twice
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        number, problems = floats(taking.take(name), empty=math.nan)
        cells.add(name, problems)
        taking.check(_within(number, low, high))
        values[name] = number.to_list()
    text = taking.take("occupations")
    taking.check(text.str.contains(PLAIN_OCCUPATIONS))
    values["occupations"] = text_lists(text)
    text = taking.take("languages")
    taking.check(text.str.contains(PLAIN_LANGUAGES))
    values["languages"], problems = languages(text)
    cells.add("languages", problems)
    values["interests"] = text_lists(taking.take("interests"), "lower")


def _people(taking: _Taking) -> People:
    return People(taking.builder or taking.start_building(), taking.plain, taking.take("id"))


def mentor_columns(columns: Columns, cells: Cells) -> People:
    """Mentors as columns from text columns (every mentor column; taken out of `columns` as they are read), cell
    problems into `cells`."""
    taking = _Taking(columns, Mentor)
    values = taking.values
    for name, default, high in (("years_experience", 0, MAX_YEARS), ("capacity", 1, MAX_CAPACITY)):
        values[name], number, problems = integers(taking.take(name), default)
        cells.add(name, problems)
        taking.check(_within(number, 0, high))
    for name in ("leadership", "returning"):
        values[name], problems = booleans(taking.take(name))
        cells.add(name, problems)
    values["organisation"] = texts(taking.take("organisation"))
    text = taking.take("markets")
    taking.check(text.str.contains(PLAIN_COUNTRIES))
    values["markets"] = text_lists(text, "upper")
    values["goals"], problems = by_text(taking.take("goals"), parse_goals)
    cells.add("goals", problems)
    _person_columns(taking, cells)
    return _people(taking)


def mentee_columns(columns: Columns, cells: Cells) -> People:
    """Mentees as columns from text columns (every mentee column; taken out of `columns` as they are read), cell
    problems into `cells`."""
    taking = _Taking(columns, Mentee)
    values = taking.values
    for name in ("max_travel_km", "max_travel_minutes"):
        number, problems = floats(taking.take(name), empty=None)
        cells.add(name, problems)
        taking.check((number.is_finite() & (number >= 0)).fill_null(True))
        values[name] = number.to_list()
    for name, kind in (("goal", Goal), ("track", Track)):
        values[name], problems = by_text(taking.take(name), partial(parse_enum, kind))
        cells.add(name, problems)
    values["priority"], number, problems = integers(taking.take("priority"), 1)
    cells.add("priority", problems)
    taking.check(_within(number, 1, MAX_PRIORITY))
    text = taking.take("requested_mentor_gender")
    taking.check(text.str.contains(PLAIN_GENDER))
    values["requested_mentor_gender"] = texts(text, "lower")
    for name, case in (("country_of_origin", "upper"), ("first_language", "lower")):
        text = taking.take(name)
        taking.check(text.str.contains(PLAIN_CODE))
        values[name] = texts(text, case)
    values["municipality"] = texts(taking.take("municipality"))
    values["tags"] = text_lists(taking.take("tags"), "lower")
    values["avoid_organisations"] = text_lists(taking.take("avoid_organisations"))
    _person_columns(taking, cells)
    return _people(taking)


def rankings_from(columns: Columns, cells: Cells) -> list[Ranking]:
    """Rankings from text columns (taken out of `columns`), cell problems into `cells`."""
    rank, _, problems = integers(columns.pop("rank"), 0)
    cells.add("rank", problems)
    return build(Ranking, len(rank), {"from_id": trimmed(columns.pop("from_id")).to_list(),
                                      "to_id": trimmed(columns.pop("to_id")).to_list(), "rank": rank})


def travel_from(columns: Columns, cells: Cells) -> list[TravelTime]:
    """Travel times from text columns (taken out of `columns`), cell problems into `cells`."""
    minutes, problems = floats(columns.pop("minutes"), empty=math.nan)
    cells.add("minutes", problems)
    return build(TravelTime, minutes.len(), {"mentee_id": trimmed(columns.pop("mentee_id")).to_list(),
                                             "mentor_id": trimmed(columns.pop("mentor_id")).to_list(),
                                             "minutes": minutes.to_list()})


def people_problems(mentors: Sequence[Mentor], mentees: Sequence[Mentee], mentor_columns: People | None,
                    mentee_columns: People | None) -> list[Problem]:
    """What `solver.validate.people_problems` finds (the same problems in the same order), with the validator's
    per-person checks run only on the rows the columns do not show plainly valid, and ids used twice found by
    polars. A side without columns has nobody."""
    nobody = pl.Series([], dtype=pl.String)
    ids = pl.concat([mentor_columns.ids if mentor_columns else nobody, mentee_columns.ids if mentee_columns else nobody])
    again = np.flatnonzero((~ids.is_first_distinct() & (ids != "")).to_numpy()).tolist()
    out = [duplicate_id(f"mentors[{k}].id" if k < len(mentors) else f"mentees[{k - len(mentors)}].id", ids[k])
           for k in again]
    if mentor_columns is not None:
        for i in np.flatnonzero(~mentor_columns.plain).tolist():
            out += mentor_problems(i, mentors[i])
    if mentee_columns is not None:
        for i in np.flatnonzero(~mentee_columns.plain).tolist():
            out += mentee_problems(i, mentees[i])
    return out

"""Table cells to typed columns: each column split, cast and checked at once by polars expressions, problems made for
the failing rows only, and the domain objects built from the columns (no Python dict, no parser call per row).

A cell means what the README's input-file sections say, exactly as the per-cell reading did before: numbers as
Python's `float` reads them, whole numbers, true/false words, `code:level` languages, goals and tracks, `;`-lists
trimmed of Python's whitespace, codes lower- or upper-cased. What keeps it exact at polars' speed:

- a plain decimal number is cast by polars, where both readings provably agree (the tests compare them); any
  other number text goes to `float` itself;
- every other text is read by the Python functions here (which also word its problems), once per distinct text:
  a column of a million rows holds far fewer (a `;`-list column is split by polars and read once per distinct
  item, its tuples made by arrays). Equal values share one Python object.

Values checks (`solver.validate`) follow the same idea: polars (or the distinct items) find the rows that are not
plainly valid, by rules stricter than the validator's, whose own per-person checks judge those rows only.
"""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from functools import cache, partial
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
TRUE_WORDS = frozenset({"true", "1", "yes", "y", "t", "sand", "ja"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "f", "falsk", "nej", ""})
"""Booleans in any case: English words, 1/0, and Danish as Danish Excel writes TRUE/FALSE (SAND/FALSK) and ja/nej."""
PLAIN_NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
"""Decimal numbers that polars' cast and Python's `float` read to the same double (both round correctly); other
texts ("1_000", "inf", Arabic-Indic digits, words) go to `float` itself."""
# Texts that are plainly valid: stricter than the rules (`solver.validate`), which judge every other row.
PLAIN_ID = r"^[0-9A-Za-z_.:/+#@-]{1,64}$"
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


def _distinct_texts(column: pl.Series) -> pl.Series | None:
    """Every text of the column once, when it holds few distinct texts (worth parsing once each); else None."""
    if (column == column[0]).all():  # often so for an optional column: one text, nothing hashed
        return column.head(1)
    sample = column.gather_every(max(1, column.len() // 4096))
    if sample.n_unique() > sample.len() // 2:  # mostly distinct: hashing every text would save nothing
        return None
    return column.unique()


def _codes(column: pl.Series, distinct: pl.Series) -> np.ndarray:
    """Each text's index in `distinct` (every text of the column, once)."""
    return column.cast(pl.Enum(distinct)).to_physical().to_numpy()


@dataclass
class Texts:
    """A text column, its distinct texts and each row's index among them, when it holds few distinct texts (else
    None): polars' part of `by_text`, which a large table has made on the second thread (`_Taking`)."""

    column: pl.Series
    distinct: pl.Series | None
    codes: np.ndarray | None


def distinct_texts(column: pl.Series) -> Texts:
    """The column as `Texts`."""
    distinct = _distinct_texts(column) if column.len() else None
    if distinct is None:
        return Texts(column, None, None)
    codes = np.zeros(column.len(), dtype=np.uint32) if len(distinct) == 1 else _codes(column, distinct)
    return Texts(column, distinct, codes)


def by_text(column: pl.Series | Texts, parse: Callable[[str], Parsed]) -> tuple[list[Any], RowProblems]:
    """Each row's value and problems by `parse` (of the trimmed text). A column of few distinct texts is parsed
    once per distinct text, and equal values are one shared object."""
    found = column if isinstance(column, Texts) else distinct_texts(column)
    return _each(found.column, parse) if found.distinct is None else _by_distinct(found, parse)[:2]


def _each(column: pl.Series, parse: Callable[[str], Parsed]) -> tuple[list[Any], RowProblems]:
    """`by_text` row by row."""
    values: list[Any] = []
    problems: RowProblems = {}
    for row, text in enumerate(column.to_list()):
        value, found = parse(text.strip())
        values.append(value)
        if found:
            problems[row] = found
    return values, problems


def _by_distinct(texts: Texts, parse: Callable[[str], Parsed]) -> tuple[list[Any], RowProblems, np.ndarray]:
    """`by_text` once per distinct text (of a column that has them: `texts.distinct`); and each row's index among
    them."""
    assert texts.distinct is not None and texts.codes is not None
    values, failing = _each(texts.distinct, parse)
    codes = texts.codes
    if len(values) == 1:
        out: list[Any] = values * len(codes)
    else:
        table = np.fromiter(values, dtype=object, count=len(values))
        out = table[codes].tolist()
    problems_by_row: RowProblems = {}
    if failing:
        for row in np.flatnonzero(np.isin(codes, list(failing))).tolist():
            problems_by_row[row] = failing[int(codes[row])]
    return out, problems_by_row, codes


ItemStatus = int
"""What a list item's text is: `PLAIN` (valid, and plainly so: the validator need not look), `CHECK` (read, but the
validator is to judge it) or `FAILED` (a problem of the cell: the row is read whole by the text's own rules)."""
PLAIN, CHECK, FAILED = 0, 1, 2
Item = Callable[[str], tuple[Any, ItemStatus]]
"""A `;`-list item's value (None: left out) and status, from its text as split (untrimmed)."""


@dataclass
class SplitLists:
    """A `;`-list column as polars splits it (`split_lists`): the lists of its distinct texts (or of every row, in
    a column of mostly distinct texts) as codes into a vocabulary of item texts; what `item_lists` makes tuples of.
    All of it polars and numpy, so it can be made on another thread while Python makes the objects of others."""

    texts: pl.Series  # the column's texts
    row_codes: np.ndarray | None  # each row's index among the lists below (None: the lists are the rows)
    counts: np.ndarray  # items per list
    item_codes: np.ndarray  # each item's index in `vocabulary`, list after list
    vocabulary: list[str]
    irregular: list[list[str]] | None = None  # the lists themselves, when not what splitting texts makes


def split_lists(column: pl.Series) -> SplitLists:
    """A `;`-list column split (see `SplitLists`); a column of few distinct texts is split once per distinct text."""
    distinct = _distinct_texts(column) if column.len() else None
    row_codes = None if distinct is None else _codes(column, distinct)
    parts = (column if distinct is None else distinct).str.split(";")
    counts = parts.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = parts.explode()
    if (counts == 0).any() or flat.len() != int(counts.sum()):  # not what splitting texts makes
        return SplitLists(column, row_codes, counts, np.zeros(0, dtype=np.uint32), [], parts.to_list())
    vocabulary = flat.unique()
    return SplitLists(column, row_codes, counts, _codes(flat, vocabulary), vocabulary.to_list())


def item_lists(column: pl.Series | SplitLists, item: Item) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """A `;`-list column (or the column split) as tuples of the values `item` makes (called once per distinct
    item text, equal values one shared object), and each row's status: the highest of its items' (`PLAIN` for a
    row without items)."""
    split = column if isinstance(column, SplitLists) else split_lists(column)
    values, status = shared_tuples(split, item)
    if split.row_codes is None:
        return values, status
    table = np.fromiter(values, dtype=object, count=len(values))
    return table[split.row_codes].tolist(), status[split.row_codes]


def shared_tuples(split: SplitLists, item: Item) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    """The lists of `split` as tuples of the values `item` makes of their texts (`item_lists`), and each list's
    status. Made by arrays and `zip`, without a Python step per list: a vocabulary of codes costs its size once,
    not once per mention."""
    if split.irregular is not None:
        return _tuples_one_by_one(split.irregular, item)
    counts, codes = split.counts, split.item_codes
    shared: dict[Any, Any] = {}  # two texts may make one value ("Chess", "chess ")
    objects = np.empty(len(split.vocabulary), dtype=object)
    statuses = np.zeros(len(split.vocabulary), dtype=np.int8)
    for k, text in enumerate(split.vocabulary):
        value, statuses[k] = item(text)
        if value is not None:
            objects[k] = shared.setdefault(value, value)
    starts = np.cumsum(counts) - counts
    row_status = (np.maximum.reduceat(statuses[codes], starts) if len(counts) and statuses.any()
                  else np.zeros(len(counts), dtype=np.int8))
    kept_texts = np.fromiter((value is not None for value in objects), dtype=np.bool_, count=len(objects))
    if kept_texts.all():
        lengths, items = counts, objects[codes]
    else:
        kept = kept_texts[codes]
        lengths = np.add.reduceat(kept.astype(np.int64), starts) if len(counts) else counts
        items = objects[codes[kept]]
    if len(items) == 0:
        return [()] * len(counts), row_status
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
    return out.tolist(), row_status


def _tuples_one_by_one(lists: list[list[str]], item: Item) -> tuple[list[tuple[Any, ...]], np.ndarray]:
    made: dict[str, tuple[Any, ItemStatus]] = {}
    values, status = [], np.zeros(len(lists), dtype=np.int8)
    for row, texts in enumerate(lists):
        found = [made[t] if t in made else made.setdefault(t, item(t)) for t in texts or ()]
        values.append(tuple(value for value, _ in found if value is not None))
        status[row] = max((s for _, s in found), default=PLAIN)
    return values, status


_CASES: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "": str}


def text_lists(column: pl.Series | SplitLists, case: str = "", plain: str | None = None
               ) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """A `;`-list column (or the column split) as tuples of texts (each trimmed as `str.strip` does, empty ones left out), lower- or
    upper-cased as Python does (`case`); and which rows are plain: every item a full match of the pattern `plain`
    (all rows without one)."""
    change, pattern = _CASES[case], re.compile(plain) if plain is not None else None

    def item(text: str) -> tuple[str | None, ItemStatus]:
        value = change(text.strip())
        return value or None, PLAIN if pattern is None or pattern.fullmatch(value) or not value else CHECK

    values, status = item_lists(column, item)
    return values, status == PLAIN


def texts(column: pl.Series | Texts, case: str = "") -> list[str]:
    """A text column, lower- or upper-cased as Python does; equal texts share one object."""
    change = _CASES[case]
    values, _ = by_text(column, lambda text: (change(text), ()))
    return values


def plain_texts(column: pl.Series | Texts, case: str, plain: str) -> tuple[list[str], np.ndarray]:
    """`texts`, and which rows are plain: their text (as written) a match of the pattern `plain` (as polars'
    `str.contains` finds it). A column of few distinct texts has the pattern looked for once per distinct text."""
    found = column if isinstance(column, Texts) else distinct_texts(column)
    if found.distinct is None:
        return texts(found, case), _mask(found.column.str.contains(plain))
    change = _CASES[case]
    values, _, codes = _by_distinct(found, lambda text: (change(text), ()))
    return values, _mask(found.distinct.str.contains(plain))[codes]


TWO_LETTERS = re.compile("[a-z]{2}")  # a language code the validator need not look at


def _language_item(text: str) -> tuple[Language | None, ItemStatus]:
    """One item of a languages cell, as `parse_languages` reads it; `FAILED` when that has a problem with it."""
    text = text.strip()
    if not text:
        return None, PLAIN
    code, sep, level = text.partition(":")
    parsed = cefr_level(level) if sep else 0
    if parsed == 0:
        return None, FAILED
    language = Language(code.strip().lower(), parsed)
    return language, PLAIN if TWO_LETTERS.fullmatch(language.code) else CHECK


def languages(column: pl.Series | SplitLists) -> tuple[list[tuple[Language, ...]], RowProblems, np.ndarray]:
    """`code:level` lists (or their column split) as Languages, the problems of the rows that have some (read
    whole by `parse_languages`), and which rows are plain (valid codes and levels: the validator need not look)."""
    split = column if isinstance(column, SplitLists) else split_lists(column)
    values, status = item_lists(split, _language_item)
    problems: RowProblems = {}
    failed = np.flatnonzero(status == FAILED)
    for row, text in zip(failed.tolist(), split.texts.gather(failed).to_list(), strict=True):
        values[row], found = parse_languages(text.strip())
        if found:
            problems[row] = found
    return values, problems, status == PLAIN


def floats(column: pl.Series, *, empty: float | None, failed: float = math.nan, quiet: bool = False
           ) -> tuple[pl.Series, RowProblems]:
    """Numbers as Python's `float` reads them; an empty cell is `empty` (None: null), one that is no number
    `failed`, with a problem unless `quiet`."""
    plain = column.str.contains(PLAIN_NUMBER)
    if plain.all():  # (coordinates, as a rule)
        return column.cast(pl.Float64, strict=False), {}
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


def coordinates(column: pl.Series, what: str) -> tuple[pl.Series, RowProblems]:
    """A required coordinate column as `floats` reads it (an empty cell NaN), with one problem for each empty cell
    (the validator's "latitude nan" would name a value the file does not hold)."""
    values, problems = floats(column, empty=math.nan)
    missing = values.is_nan().fill_null(True).to_numpy()
    if missing.any():  # (NaN also from the text "nan", which the file does hold: the validator's to judge)
        rows = np.flatnonzero(missing)
        for row, text in zip(rows.tolist(), column.gather(rows).to_list(), strict=True):
            if text is None or not text.strip():
                problems[row] = (CellProblem(ProblemCode.BAD_VALUE, "", f"the {what} is empty (it is required)"),)
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


def booleans(column: pl.Series | Texts) -> tuple[list[bool], RowProblems]:
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


FROZEN_PEOPLE = 100_000
"""From this many participants read, their objects are kept out of the garbage collector's later passes."""


def keep_out_of_collections(people: int) -> None:
    """With `FROZEN_PEOPLE` participants or more just read, move every object the cyclic garbage collector tracks
    into its permanent generation (`gc.freeze`): a million people are some four million tuples and objects, and
    each full pass over them costs about half a second (three such passes followed a read of 10^6 mentees). They
    form no cycles, so reference counting alone frees them when they go. The cost: cyclic garbage among the
    objects alive now (few, in a command reading its files) is never collected."""
    if people >= FROZEN_PEOPLE:
        gc.freeze()


class Builder(Generic[T]):
    """`n` instances of the frozen slotted dataclass `kind`, from its fields' columns (`builder[name] = values`;
    `done` gives them, a field never given set to its default). The objects are made row by row by a twin class
    of `kind` (`_rows_class`): the same slots, a plain `__init__` that fills them and then gives the object its
    class, `kind` (the layouts are equal, so Python allows it). That skips the frozen dataclass's
    `object.__setattr__` per field, about four times faster. Equal to `kind(**row)` for each row (the tests
    compare); `kind` must do nothing in `__post_init__`."""

    def __init__(self, kind: type[T], n: int) -> None:
        if hasattr(kind, "__post_init__"):  # it would be skipped: such a class must be built row by row
            raise TypeError(f"{kind.__name__} has a __post_init__, which building by columns would skip")
        self.kind, self.n = kind, n
        self.unset = dict(_field_specs(kind))  # type: ignore[arg-type]
        self.columns: dict[str, Iterable[Any]] = {}

    def __setitem__(self, name: str, values: Iterable[Any]) -> None:
        if self.unset.pop(name, None) is None:
            raise ValueError(f"{self.kind.__name__} has no field {name} (or it is set already)")
        _check_length(name, values, self.n)
        self.columns[name] = values

    def done(self) -> list[T]:
        kind: Any = self.kind  # (a class, hashable)
        make, factories = _plan(kind, tuple(self.columns))
        for name, _ in factories:
            self.unset.pop(name)
        columns, self.columns = self.columns, {}
        return _made(make, factories, columns, self.n)


FEW_ROWS = 700
"""Up to this many objects (the collector's first threshold) are made with the collector left as it is: turning it
off and on costs more than the pass it might save."""


def _made(make: Callable[..., T], factories: tuple[tuple[str, Callable[[], Any]], ...],
          columns: dict[str, Iterable[Any]], n: int) -> list[T]:
    for name, factory in factories:
        columns[name] = (factory() for _ in range(n))
    if n <= FEW_ROWS:
        return list(map(make, *columns.values())) if columns else [make() for _ in range(n)]
    with no_collection():
        return list(map(make, *columns.values())) if columns else [make() for _ in range(n)]


def _check_length(name: str, values: Iterable[Any], n: int) -> None:
    if (type(values) is list or isinstance(values, Sized)) and len(values) != n:
        raise ValueError(f"column {name} has {len(values)} values, not {n}")


@cache
def _field_specs(kind: Any) -> tuple[tuple[str, Any], ...]:
    return tuple((spec.name, spec) for spec in fields(kind))


@cache
def _plan(kind: Any, given: tuple[str, ...]) -> tuple[Callable[..., Any], tuple[tuple[str, Callable[[], Any]], ...]]:
    """How `kind`'s objects are made from the columns `given` (in that order): the maker (`_rows_class`), and the
    fields without a column whose default comes from a factory (a column each, after the given ones). Raises for a
    field `kind` lacks, or one without a column and without a default."""
    specs = dict(_field_specs(kind))
    for name in given:
        if specs.pop(name, None) is None:
            raise ValueError(f"{kind.__name__} has no field {name} (or it is set already)")
    constants: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, spec in specs.items():
        if spec.default is not MISSING:
            constants[name] = spec.default
        elif spec.default_factory is not MISSING:
            factories.append((name, spec.default_factory))
        else:
            raise ValueError(f"{kind.__name__}.{name} has no column and no default")
    make = _rows_class(kind, given + tuple(name for name, _ in factories), tuple(constants.items()))
    return make, tuple(factories)


@cache
def _rows_class(kind: Any, given: tuple[str, ...], constants: tuple[tuple[str, Any], ...]) -> Callable[..., Any]:
    """A class whose instances, made from the fields `given` (in that order; the others take `constants`), turn
    into instances of the slotted `kind` with those values, as `kind(**row)` would make them."""
    slots = tuple(spec.name for spec in fields(kind))
    if getattr(kind, "__slots__", None) != slots or kind.__bases__ != (object,):
        raise TypeError(f"{kind.__name__} is no slotted dataclass of its own fields")
    body = [f"    self.{name} = {name}\n" for name in given]
    body += [f"    self.{name} = _default_{name}\n" for name, _ in constants]
    source = f"def __init__(self, {', '.join(given)}):\n{''.join(body)}    self.__class__ = _kind\n"
    scope: dict[str, Any] = {"_kind": kind} | {f"_default_{name}": value for name, value in constants}
    exec(source, scope)  # field names of a dataclass (identifiers): no outside text
    return type(f"_{kind.__name__}Rows", (), {"__slots__": slots, "__init__": scope["__init__"]})


def build(kind: type[T], n: int, columns: Mapping[str, Iterable[Any]]) -> list[T]:
    """`n` instances of `kind` from its columns (see `Builder`; a field without a column takes its default)."""
    if hasattr(kind, "__post_init__"):
        raise TypeError(f"{kind.__name__} has a __post_init__, which building by columns would skip")
    for name, values in columns.items():
        _check_length(name, values, n)
    make, factories = _plan(kind, tuple(columns))  # type: ignore[arg-type]  # the names checked once per kind and set of columns
    return _made(make, factories, dict(columns), n)


@dataclass
class People:
    """Mentors or mentees being built from their columns (`build` gives them), which rows are plainly valid (the
    validator need not look at them), the ids as polars has them (trimmed), which rows repeat an id of an
    earlier row of the same side (not counting empty ids), and the latitudes and longitudes as arrays (NaN for
    a cell that is no number)."""

    builder: Builder[Any]
    plain: np.ndarray
    ids: pl.Series
    repeated: np.ndarray
    coordinates: tuple[np.ndarray, np.ndarray]

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


AHEAD_ROWS = 50_000
"""From this many rows, the polars side of some columns is read ahead on another thread (`_Taking`)."""


def _ids(column: pl.Series) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """Ids trimmed, which are plainly valid, and which repeat an earlier row's (not counting empty ones)."""
    plain = column.str.contains(PLAIN_ID)
    ids = column if plain.all() else trimmed(column)  # (a plain id holds no whitespace to trim)
    return ids, _mask(plain), _repeated(ids)


def _repeated(ids: pl.Series) -> np.ndarray:
    """Which ids repeat an earlier row's (not counting empty ones). Ids whose hashes all differ are all different:
    sorting a million hashes costs a tenth of hashing the texts into a table, which only ids with a hash twice
    need (the same hash for different texts is no repeat)."""
    hashes = np.sort(ids.hash().to_numpy())
    if not (hashes[1:] == hashes[:-1]).any():
        return np.zeros(ids.len(), dtype=np.bool_)
    return _mask(~ids.is_first_distinct() & (ids != ""))


def _mask(values: pl.Series) -> np.ndarray:
    return values.fill_null(False).to_numpy()


def _ahead() -> dict[str, Callable[[pl.Series], Any]]:
    """The readers of the columns read ahead (those a table has), in the order the columns are read."""
    return {"max_travel_km": partial(floats, empty=None), "max_travel_minutes": partial(floats, empty=None),
            "goal": distinct_texts, "track": distinct_texts, "priority": partial(integers, default=1),
            "requested_mentor_gender": distinct_texts,
            "country_of_origin": distinct_texts, "first_language": distinct_texts, "municipality": distinct_texts,
            "tags": split_lists, "avoid_organisations": split_lists, "gender": distinct_texts,
            "online": distinct_texts, "id": _ids, "lat": partial(coordinates, what="latitude"),
            "lon": partial(coordinates, what="longitude"), "occupations": split_lists, "languages": split_lists,
            "interests": split_lists}


class _Taking:
    """A table's text columns, taken out one by one; and which rows are plainly valid so far. In a large table the
    columns that are mostly polars' work (numbers, `;`-lists split) are read ahead on a second thread, while this
    one makes Python objects of the others (polars leaves the interpreter's lock while it works); `read` gives
    them. A context manager: the thread ends with it."""

    def __init__(self, columns: Columns, kind: type[Mentor] | type[Mentee]) -> None:
        self.n = next(iter(columns.values())).len()
        self.columns = columns
        self.plain = np.ones(self.n, dtype=np.bool_)
        self.kind = kind
        self.values: Builder[Any] = Builder(kind, self.n)
        self.repeated = np.zeros(self.n, dtype=np.bool_)
        self.coordinates: dict[str, np.ndarray] = {}
        self.readers = _ahead()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="columns-ahead") if self.n >= AHEAD_ROWS else None
        self.ahead: dict[str, Future[Any]] = {}
        if self.pool is not None:
            self.ahead = {name: self.pool.submit(read, columns.pop(name)) for name, read in self.readers.items()
                          if name in columns}

    def __enter__(self) -> _Taking:
        return self

    def __exit__(self, *_: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)

    def take(self, name: str) -> pl.Series:
        return self.columns.pop(name)

    def read(self, name: str) -> Any:
        """What the column's reader of `_ahead` makes of it: read ahead, or now."""
        future = self.ahead.pop(name, None)
        return future.result() if future is not None else self.readers[name](self.take(name))

    def check(self, mask: pl.Series) -> None:
        self.plain &= _mask(mask)


def _person_columns(taking: _Taking, cells: Cells) -> None:
    """The columns mentors and mentees share, taken from `taking` after their own: the ones that make many new
    Python objects come last, when the text of the others has gone."""
    values = taking.values
    values["gender"], plain = plain_texts(taking.read("gender"), "lower", PLAIN_GENDER)
    taking.plain &= plain
    values["online"], problems = booleans(taking.read("online"))
    cells.add("online", problems)
    ids, plain, taking.repeated = taking.read("id")
    taking.plain &= plain
    values["id"] = ids.to_list()
    taking.columns["id"] = ids  # kept (trimmed) for the ids used twice
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        number, problems = taking.read(name)
        cells.add(name, problems)
        taking.check(_within(number, low, high))
        taking.coordinates[name] = number.to_numpy()
        # (numpy makes the floats faster than polars; a null, which no coordinate is read as, would be NaN there)
        values[name] = taking.coordinates[name].tolist() if not number.has_nulls() else number.to_list()
    values["occupations"], plain = text_lists(taking.read("occupations"), plain="[0-9]{4}")
    taking.plain &= plain
    values["languages"], problems, plain = languages(taking.read("languages"))
    cells.add("languages", problems)
    taking.plain &= plain
    values["interests"], _ = text_lists(taking.read("interests"), "lower")


def _people(taking: _Taking) -> People:
    return People(taking.values, taking.plain, taking.take("id"), taking.repeated,
                  (taking.coordinates["lat"], taking.coordinates["lon"]))


def mentor_columns(columns: Columns, cells: Cells) -> People:
    """Mentors as columns from text columns (every mentor column; taken out of `columns` as they are read), cell
    problems into `cells`."""
    with _Taking(columns, Mentor) as taking:
        values = taking.values
        for name, default, high in (("years_experience", 0, MAX_YEARS), ("capacity", 1, MAX_CAPACITY)):
            values[name], number, problems = integers(taking.take(name), default)
            cells.add(name, problems)
            taking.check(_within(number, 0, high))
        for name in ("leadership", "returning"):
            values[name], problems = booleans(taking.take(name))
            cells.add(name, problems)
        values["organisation"] = texts(taking.take("organisation"))
        values["markets"], plain = text_lists(taking.take("markets"), "upper", plain="[A-Z]{2}")
        taking.plain &= plain
        values["goals"], problems = by_text(taking.take("goals"), parse_goals)
        cells.add("goals", problems)
        _person_columns(taking, cells)
        return _people(taking)


def mentee_columns(columns: Columns, cells: Cells) -> People:
    """Mentees as columns from text columns (every mentee column; taken out of `columns` as they are read), cell
    problems into `cells`."""
    with _Taking(columns, Mentee) as taking:
        values = taking.values
        for name in ("max_travel_km", "max_travel_minutes"):
            number, problems = taking.read(name)
            cells.add(name, problems)
            taking.check((number.is_finite() & (number >= 0)).fill_null(True))
            values[name] = number.to_list()
        for name, kind in (("goal", Goal), ("track", Track)):
            values[name], problems = by_text(taking.read(name), partial(parse_enum, kind))
            cells.add(name, problems)
        values["priority"], number, problems = taking.read("priority")
        cells.add("priority", problems)
        taking.check(_within(number, 1, MAX_PRIORITY))
        values["requested_mentor_gender"], plain = plain_texts(taking.read("requested_mentor_gender"), "lower",
                                                               PLAIN_GENDER)
        taking.plain &= plain
        for name, case in (("country_of_origin", "upper"), ("first_language", "lower")):
            values[name], plain = plain_texts(taking.read(name), case, PLAIN_CODE)
            taking.plain &= plain
        values["municipality"] = texts(taking.read("municipality"))
        values["tags"], _ = text_lists(taking.read("tags"), "lower")
        values["avoid_organisations"], _ = text_lists(taking.read("avoid_organisations"))
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
    out: list[Problem] = []
    for side, people in (("mentors", mentor_columns), ("mentees", mentee_columns)):
        if people is None:
            continue
        repeated = people.repeated
        if side == "mentees" and mentor_columns is not None and len(mentor_columns.ids):  # a mentor's id too
            repeated = repeated | _mask(people.ids.is_in(mentor_columns.ids.unique().implode()) & (people.ids != ""))
        again = np.flatnonzero(repeated)
        out += [duplicate_id(f"{side}[{k}].id", id_)
                for k, id_ in zip(again.tolist(), people.ids.gather(again).to_list(), strict=True)]
    if mentor_columns is not None:
        for i in np.flatnonzero(~mentor_columns.plain).tolist():
            out += mentor_problems(i, mentors[i])
    if mentee_columns is not None:
        for i in np.flatnonzero(~mentee_columns.plain).tolist():
            out += mentee_problems(i, mentees[i])
    return out

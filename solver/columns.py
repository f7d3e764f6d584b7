"""Table cells to typed columns: each column split, cast and checked at once by polars expressions, problems made for
the failing rows only (the domain objects are built from the columns by `solver.people_tables`: no Python dict, no
parser call per row).

A cell means what the README's input-file sections say, exactly as the per-cell reading did before: numbers as
Python's `float` reads them, whole numbers, true/false words, `code:level` languages, goals and tracks, `;`-lists
trimmed of Python's whitespace, codes lower- or upper-cased by their ASCII letters only (`solver.codes.fold_code`).
What keeps it exact at polars' speed:

- a plain decimal number is cast by polars, where both readings provably agree (the tests compare them); any
  other number text goes to `float` itself;
- every other text is read by the Python functions here (which also word its problems), once per distinct text:
  a column of a million rows holds far fewer (a `;`-list column is split by polars and read once per distinct
  item, its tuples made by arrays). Equal values share one Python object.

Values checks (`solver.validate`) follow the same idea: polars (or the distinct items) find the rows that are not
plainly valid, by rules stricter than the validator's, whose own per-person checks judge those rows only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import Any

import numpy as np
import polars as pl

from solver.codes import LANGUAGE_CODES, fold_code
from solver.domain import CEFR_LEVELS, Goal, Language, Track, cefr_level
from solver.errors import ProblemCode, did_you_mean

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
        skills.append(Language(fold_code(code.strip(), upper=False), parsed))
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


_CASES: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "": str,
                                           "code_lower": partial(fold_code, upper=False),
                                           "code_upper": partial(fold_code, upper=True)}
"""How a column's texts are case-folded; codes (languages, countries) by ASCII letters only (`fold_code`)."""


def text_lists(column: pl.Series | SplitLists, case: str = "", plain: Callable[[str], object] | None = None
               ) -> tuple[list[tuple[str, ...]], np.ndarray]:
    """A `;`-list column (or the column split) as tuples of texts (each trimmed as `str.strip` does, empty ones left out), lower- or
    upper-cased as Python does (`case`); and which rows are plain: every item (as cased) one that `plain` holds
    true of (all rows without `plain`)."""
    change = _CASES[case]

    def item(text: str) -> tuple[str | None, ItemStatus]:
        value = change(text.strip())
        return value or None, PLAIN if plain is None or not value or plain(value) else CHECK

    values, status = item_lists(column, item)
    return values, status == PLAIN


def texts(column: pl.Series | Texts, case: str = "") -> list[str]:
    """A text column, lower- or upper-cased as Python does; equal texts share one object."""
    change = _CASES[case]
    values, _ = by_text(column, lambda text: (change(text), ()))
    return values


def plain_texts(column: pl.Series | Texts, case: str, plain: str, known: frozenset[str] | None = None
                ) -> tuple[list[str], np.ndarray]:
    """`texts`, and which rows are plain: their text (as written) a match of the pattern `plain` (as polars'
    `str.contains` finds it) and, with `known`, their value empty or one of `known`. A column of few distinct
    texts is looked at once per distinct text."""
    found = column if isinstance(column, Texts) else distinct_texts(column)
    if found.distinct is None:
        values = texts(found, case)
        return values, true_rows(found.column.str.contains(plain)) & _known(values, known)
    change = _CASES[case]
    values, _, codes = _by_distinct(found, lambda text: (change(text), ()))
    distinct = [change(text.strip()) for text in found.distinct.to_list()] if known is not None else []
    return values, (true_rows(found.distinct.str.contains(plain)) & _known(distinct, known))[codes]


def _known(values: list[str], known: frozenset[str] | None) -> np.ndarray | bool:
    """Which values are empty or `known` (True for all without `known`)."""
    if known is None:
        return True
    return np.fromiter((not value or value in known for value in values), dtype=np.bool_, count=len(values))


def _language_item(text: str) -> tuple[Language | None, ItemStatus]:
    """One item of a languages cell, as `parse_languages` reads it; `FAILED` when that has a problem with it."""
    text = text.strip()
    if not text:
        return None, PLAIN
    code, sep, level = text.partition(":")
    parsed = cefr_level(level) if sep else 0
    if parsed == 0:
        return None, FAILED
    language = Language(fold_code(code.strip(), upper=False), parsed)
    return language, PLAIN if language.code in LANGUAGE_CODES else CHECK  # else the validator words its problem


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


def true_rows(values: pl.Series) -> np.ndarray:
    """A boolean column as a numpy mask, missing values false."""
    return values.fill_null(False).to_numpy()

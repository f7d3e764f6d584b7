"""Domain objects from typed columns: the people, rankings and travel times of a table built column by column
(`build`: one class per set of given columns, no per-row dict), each cell's place for the problems (`Cells`), and
the whole of a mentor or mentee table read into columns (`mentor_columns`, `mentee_columns`). The cells are read
by `solver.columns`."""

from __future__ import annotations

import gc
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import MISSING, dataclass, field, fields
from functools import cache, partial
from typing import Any, Generic, TypeVar

import numpy as np
import polars as pl

from solver.codes import COUNTRY_CODES, LANGUAGE_CODES
from solver.columns import (
    PLAIN_CODE,
    PLAIN_GENDER,
    PLAIN_ID,
    CellProblem,
    RowProblems,
    booleans,
    by_text,
    coordinates,
    distinct_texts,
    floats,
    integers,
    languages,
    parse_enum,
    parse_goals,
    plain_texts,
    split_lists,
    text_lists,
    texts,
    trimmed,
    true_rows,
)
from solver.domain import Goal, Mentee, Mentor, Ranking, Track, TravelTime
from solver.errors import Problem
from solver.validate import (
    MAX_CAPACITY,
    MAX_PRIORITY,
    MAX_YEARS,
    duplicate_id,
    mentee_problems,
    mentor_problems,
)

T = TypeVar("T")
_FOUR_DIGITS = re.compile("[0-9]{4}")  # an occupation the validator need not look at (ISCO-08 unit group)


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
    return ids, true_rows(plain), _repeated(ids)


def _repeated(ids: pl.Series) -> np.ndarray:
    """Which ids repeat an earlier row's (not counting empty ones). Ids whose hashes all differ are all different:
    sorting a million hashes costs a tenth of hashing the texts into a table, which only ids with a hash twice
    need (the same hash for different texts is no repeat)."""
    hashes = np.sort(ids.hash().to_numpy())
    if not (hashes[1:] == hashes[:-1]).any():
        return np.zeros(ids.len(), dtype=np.bool_)
    return true_rows(~ids.is_first_distinct() & (ids != ""))


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

    def check(self, mask: pl.Series | np.ndarray) -> None:
        """Rows not plainly valid by `mask` (a column's own test; missing values false) are no longer plain."""
        self.plain &= mask if isinstance(mask, np.ndarray) else true_rows(mask)


def _person_columns(taking: _Taking, cells: Cells) -> None:
    """The columns mentors and mentees share, taken from `taking` after their own: the ones that make many new
    Python objects come last, when the text of the others has gone."""
    values = taking.values
    values["gender"], plain = plain_texts(taking.read("gender"), "lower", PLAIN_GENDER)
    taking.check(plain)
    values["online"], problems = booleans(taking.read("online"))
    cells.add("online", problems)
    ids, plain, taking.repeated = taking.read("id")
    taking.check(plain)
    values["id"] = ids.to_list()
    taking.columns["id"] = ids  # kept (trimmed) for the ids used twice
    for name, low, high in (("lat", -90, 90), ("lon", -180, 180)):
        number, problems = taking.read(name)
        cells.add(name, problems)
        taking.check(_within(number, low, high))
        taking.coordinates[name] = number.to_numpy()
        # (numpy makes the floats faster than polars; a null, which no coordinate is read as, would be NaN there)
        values[name] = taking.coordinates[name].tolist() if not number.has_nulls() else number.to_list()
    values["occupations"], plain = text_lists(taking.read("occupations"), plain=_FOUR_DIGITS.fullmatch)
    taking.check(plain)
    values["languages"], problems, plain = languages(taking.read("languages"))
    cells.add("languages", problems)
    taking.check(plain)
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
        values["markets"], plain = text_lists(taking.take("markets"), "code_upper", plain=COUNTRY_CODES.__contains__)
        taking.check(plain)
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
        taking.check(plain)
        for name, case, known in (("country_of_origin", "code_upper", COUNTRY_CODES),
                                  ("first_language", "code_lower", LANGUAGE_CODES)):
            values[name], plain = plain_texts(taking.read(name), case, PLAIN_CODE, known)
            taking.check(plain)
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
            repeated = repeated | true_rows(people.ids.is_in(mentor_columns.ids.unique().implode()) & (people.ids != ""))
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

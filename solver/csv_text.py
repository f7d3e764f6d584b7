"""Table files as a spreadsheet wrote them, read as text: the encoding and separator (`utf8_table`,
`read_csv_text`), and the shape of their rows: blank rows, and rows with more or fewer cells than the header
(`blank_rows`, `row_shapes`). `solver.ingest` reads a cohort's files through it."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Sequence

import polars as pl

from solver.columns import WHITESPACE
from solver.fileio import reading_note

HEADER_ROW = 1  # a data row's number is its index + 2: the header is the spreadsheet's row 1
SEPARATORS = {",": "','", ";": "';'", "\t": "tab"}
NUMBER_COLUMNS = ("lat", "lon", "max_travel_km", "max_travel_minutes", "minutes")
"""Columns that hold decimals: where a spreadsheet in a comma-decimal locale writes 55,68 for 55.68."""
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")


def utf8_table(raw: bytes, name: str) -> tuple[bytes, str]:
    """A table file's bytes as UTF-8 without a byte-order mark, and the encoding it was read in ("" for UTF-8):
    UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark (Excel's "Unicode text"), else
    cp1252 (Windows in Western Europe, as Danish Excel saves CSV), else latin-1. UTF-8 is checked, not copied.
    Raises ValueError for binary data or an empty file."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16").encode("utf-8"), "UTF-16"
    if b"\x00" in raw or not raw or raw.isspace():
        raise ValueError(f"{name} is empty or binary data, not a table")
    if raw.isascii():
        return raw, ""
    body = raw[len(codecs.BOM_UTF8):] if raw.startswith(codecs.BOM_UTF8) else raw
    try:
        body.decode("utf-8")
        return body, ""
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252").encode("utf-8"), "cp1252"
    except UnicodeDecodeError:  # one of the five bytes cp1252 leaves undefined
        return raw.decode("latin-1").encode("utf-8"), "latin-1"


def _separator(header: str, known: Iterable[str]) -> str:
    """The separator under which the header line names most known columns (',' on a tie)."""
    names = set(known)

    def score(separator: str) -> int:
        return sum(1 for c in header.split(separator) if c.strip().strip('"') in names)

    return max(SEPARATORS, key=lambda sep: (score(sep), sep == ","))


def read_csv_text(raw: bytes, name: str, known: Iterable[str]) -> pl.DataFrame:
    """A CSV table as text columns, read the way a spreadsheet wrote it (see `utf8_table`; the separator that
    makes the header name most `known` columns; decimal commas in `NUMBER_COLUMNS` with ';' or tab), with one
    note (`solver.fileio.reading_note`) when it was not plain UTF-8, comma-separated and decimal points. Raises
    ValueError or polars' errors for what cannot be read as a table."""
    data, encoding = utf8_table(raw, name)
    end = data.find(b"\n")
    separator = _separator(data[: end if end >= 0 else len(data)].decode("utf-8"), known)
    frame = pl.read_csv(data, separator=separator, infer_schema=False)
    del data
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


def blank_rows(frame: pl.DataFrame) -> tuple[int, ...]:
    """The rows (indices) whose every cell is empty or blank: a spreadsheet's empty row, or a row of separators
    only. Only the rows whose first cell is empty are looked at (polars' nulls: free for a million rows, where
    none is; a row whose first cell holds spaces is read as a row, its empty id a problem)."""
    if not frame.width or not frame.height:
        return ()
    empty_first = frame.to_series(0).is_null().arg_true()
    if empty_first.len() == 0:
        return ()
    empty = pl.all_horizontal(pl.col(c).fill_null("").str.strip_chars(WHITESPACE) == "" for c in frame.columns)
    return tuple(empty_first.filter(frame[empty_first.to_list()].select(empty).to_series()).to_list())


def row_runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive rows as (first, last) runs."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and runs[-1][1] == row - 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


def _ranges(rows: Sequence[int], first_row: int, shown: int = 4) -> str:
    """Row numbers as ranges, "2-40, 42, 44-131", the first `shown` runs and a count of the others."""
    runs = row_runs(rows)
    text = ", ".join(f"{a + first_row}" if a == b else f"{a + first_row}-{b + first_row}" for a, b in runs[:shown])
    return text + (f" and {len(runs) - shown} more runs" if len(runs) > shown else "")


def cells_per_row(raw: bytes, name: str, known: Iterable[str]) -> tuple[int, list[int]] | None:
    """The header's cell count and each data row's (a blank line: 0), as the csv module splits the file read as
    `read_csv_text` reads it; None when it cannot be read so."""
    try:
        data, _ = utf8_table(raw, name)
        text = data.decode("utf-8")
        end = text.find("\n")
        separator = _separator(text[: end if end >= 0 else len(text)], known)
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
        header = next(rows, None)
        counts = [len(row) if any(cell.strip() for cell in row) else 0 for row in rows]
    except (ValueError, csv.Error):
        return None
    return (len(header), counts) if header else None


def row_shapes(raw: bytes, name: str, known: Iterable[str], rows: Iterable[int] | None = None,
               first_row: int = HEADER_ROW + 1, *, unread: bool = False) -> list[str]:
    """One problem per row shape: which rows have more cells than the header names columns (or fewer), e.g.
    "mentors.csv rows 2-131 have 13 cells, the header names 15 columns"; blank rows are left out (their own
    problem). With `rows`, only shapes that some of those rows (indices) have. With `unread` (the file could not
    be read as a table), only the rows with more cells, when there are any: those are the ones that cannot be
    read; a row short of trailing cells is read with them empty, and is judged by its values once the file reads.
    [] when every row fits."""
    counted = cells_per_row(raw, name, known)
    if counted is None:
        return []
    width, counts = counted
    by_count: dict[int, list[int]] = {}
    for k, count in enumerate(counts):
        if count != width and count > 0:
            by_count.setdefault(count, []).append(k)
    if unread and any(count > width for count in by_count):
        by_count = {count: at for count, at in by_count.items() if count > width}
    if rows is not None:
        wanted = set(rows)
        by_count = {count: at for count, at in by_count.items() if wanted.intersection(at)}
    return [f"{'row' if len(at) == 1 else 'rows'} {_ranges(at, first_row)} "
            f"{'has' if len(at) == 1 else 'have'} {count} cells, the header names {width} columns: "
            f"a column {'added' if count > width else 'left out'} in the rows but not in the header (or the other way "
            "round)?" for count, at in sorted(by_count.items(), key=lambda shape: shape[1][0])]

"""Text cells for spreadsheets: a cell that a spreadsheet would run as a formula is written as text.

A spreadsheet program opening a CSV file (or a cell of a workbook being edited) takes a cell that begins with
`=`, `+`, `-` or `@` as a formula, and a tab or carriage return first can hide one: an id or a label such as
`=HYPERLINK("http://...")` would run on a coordinator's machine ("CSV injection"). Every text cell of the CSV
and XLSX files the project writes that begins with one of these is prefixed with an apostrophe, which the
spreadsheet shows as text (`'=1+1` shows `=1+1`). Numbers are numbers, never prefixed; Parquet and JSON carry
data for programs and stay verbatim, as does the next `current.csv` of a re-match (read back by the tool).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may take as the start of a formula (OWASP's list for CSV injection)."""
TEXT_MARK = "'"
"""Put before such a cell: the spreadsheet shows the rest as text."""


def defuse_cell(text: str) -> str:
    """The text as a cell no spreadsheet runs: prefixed with an apostrophe when it begins like a formula."""
    return TEXT_MARK + text if text.startswith(FORMULA_LEADS) else text


def defused(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text column's cells defused (`defuse_cell`); other columns as they are."""
    import polars as pl

    leads = "^[" + "".join("\\" + c if c in "-+" else c for c in FORMULA_LEADS) + "]"
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(leads)).then(pl.lit(TEXT_MARK) + pl.col(name)).otherwise(pl.col(name))
        .alias(name) for name in text)

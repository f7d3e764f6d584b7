"""Tables out: named sheets written as CSV, Parquet or XLSX, the format chosen by the file's extension, whole or not
at all and never over an input.

One sheet goes to the path itself. Several go to one XLSX workbook (a worksheet each), or with CSV and Parquet to
one file per sheet beside the path: `out.csv` with sheets `pairs` and `unmatched` is `out.pairs.csv` and
`out.unmatched.csv`. polars (and xlsxwriter for XLSX) load only when a table is written.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from solver.cells import defused
from solver.errors import Problem, ProblemCode
from solver.fileio import InputFiles, output_problems, write_atomic

if TYPE_CHECKING:
    import polars as pl

TABLE_FORMATS = (".csv", ".parquet", ".xlsx")

Sheets = Mapping[str, Sequence[Mapping[str, Any]]]
"""Sheet name -> rows; every row of a sheet has the same keys, in column order."""


def table_format_problem(path: Path) -> str | None:
    """Why a table cannot be written to `path` (its extension names no format), or None when it can."""
    if path.suffix.lower() not in TABLE_FORMATS:
        return f"{path.name}: tables are written as {', '.join(TABLE_FORMATS)}, chosen by the file's extension"
    return None


def table_paths(path: Path, names: Sequence[str]) -> list[Path]:
    """The files `write_tables(path, sheets)` writes for sheets of these names."""
    if len(names) == 1 or path.suffix.lower() == ".xlsx":
        return [path]
    return [path.with_name(f"{path.stem}.{name}{path.suffix}") for name in names]


def output_table_problems(path: Path, names: Sequence[str], inputs: InputFiles | None, field_path: str
                          ) -> list[Problem]:
    """Every reason the tables may not be written (checked before anything is solved): an extension that names
    no format, a target that is a directory or one of the command's inputs."""
    unwritable = table_format_problem(path)
    if unwritable:
        return [Problem(ProblemCode.BAD_VALUE, field_path, unwritable, field_path)]
    return [p for target in table_paths(path, names) for p in output_problems(target, inputs, field_path)]


def frame(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pl.DataFrame:
    """The rows as a frame with `columns` in order (an empty sheet keeps its header, as text columns)."""
    import polars as pl

    if not rows:
        return pl.DataFrame(schema={c: pl.String for c in columns})
    return pl.DataFrame({c: [row[c] for row in rows] for c in columns}, strict=False)


def frame_bytes(frames: Mapping[str, pl.DataFrame], suffix: str, *, defuse: bool = True) -> bytes:
    """One file's content: a single frame as CSV or Parquet, or every frame as a worksheet of one workbook. In CSV
    and XLSX a text cell that a spreadsheet would run as a formula is written as text (`solver.cells`), unless
    `defuse` is False (a file the tool reads back)."""
    buffer = io.BytesIO()
    suffix = suffix.lower()
    if defuse and suffix in (".csv", ".xlsx"):
        frames = {name: defused(data) for name, data in frames.items()}
    if suffix == ".xlsx":
        import xlsxwriter

        with xlsxwriter.Workbook(buffer) as workbook:
            for name, data in frames.items():
                data.write_excel(workbook, worksheet=name, autofit=True)
        return buffer.getvalue()
    if len(frames) != 1:
        raise ValueError(f"one frame per {suffix} file")
    (data,) = frames.values()
    if suffix == ".csv":
        data.write_csv(buffer)
    elif suffix == ".parquet":
        data.write_parquet(buffer)
    else:
        raise ValueError(f"unknown table format '{suffix or '(none)'}': use one of {', '.join(TABLE_FORMATS)}")
    return buffer.getvalue()


def write_frames(path: str | Path, frames: Mapping[str, pl.DataFrame], *, inputs: InputFiles | None = None,
                 field_path: str = "--output") -> list[Path]:
    """Write the frames (see the module's note on files per sheet); each file whole or not at all."""
    path = Path(path)
    targets = table_paths(path, list(frames))
    if len(targets) == 1:
        return [write_atomic(path, frame_bytes(frames, path.suffix), inputs=inputs, field_path=field_path)]
    return [write_atomic(target, frame_bytes({name: data}, path.suffix), inputs=inputs, field_path=field_path)
            for target, (name, data) in zip(targets, frames.items(), strict=True)]


def write_tables(path: str | Path, sheets: Sheets, columns: Mapping[str, Sequence[str]], *,
                 inputs: InputFiles | None = None, field_path: str = "--output") -> list[Path]:
    """Write row sheets (`columns` gives each sheet's columns in order) by `write_frames`."""
    return write_frames(path, {name: frame(rows, columns[name]) for name, rows in sheets.items()}, inputs=inputs,
                        field_path=field_path)

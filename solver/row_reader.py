"""What the readers of the optional tables (history, decisions, outcomes) need of the ingest's reader: a place
for a cell, a way to report a problem, and a table read with its columns checked. `solver.ingest.RowReader` has
them; it sits above these readers (it reads through them), so they name only this protocol."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from solver.errors import ProblemCode


class RowReader(Protocol):
    """The part of `solver.ingest.RowReader` the optional tables' readers use."""

    def where(self, stem: str, index: int, column: str) -> str: ...

    def problem(self, code: ProblemCode, path: str, message: str, location: str = "") -> None: ...

    def table(self, directory: Path, stem: str, required: Iterable[str], known: Iterable[str],
              optional: bool = False) -> list[dict[str, str]] | None: ...

"""A cell that cannot be read is one problem, at its row and column: the checks do not go on to report the
placeholder it was read as (`latitude nan is not in -90..90`, `rank 0 is not in 1..1000`: values the file does
not hold), while a readable value that breaks a rule elsewhere is still reported (outside review, issue 18's
"never a cascade")."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from solver.errors import CohortInvalid
from solver.ingest import load_cohort
from tests.conftest import SCENARIOS


def _edit(path: Path, row: int, column: str, value: str) -> None:
    """Set data row `row` (1 = the first after the header) of `column` in a CSV file."""
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    rows[row][rows[0].index(column)] = value
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_an_unreadable_cell_is_one_problem_and_a_bad_readable_one_is_still_reported(tmp_path: Path) -> None:
    directory = tmp_path / "cohort"
    shutil.copytree(SCENARIOS / "lyngby_career", directory)
    _edit(directory / "mentees.csv", 3, "lat", "55,76191")  # a decimal comma in a comma-separated file
    _edit(directory / "rankings.csv", 2, "rank", "1.5")
    _edit(directory / "mentees.csv", 5, "lat", "95.5")  # readable, and out of range
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    found = sorted((p.location, p.code.value) for p in caught.value.problems)
    assert found == [("mentees.csv row 4, column lat", "BAD_VALUE"),
                     ("mentees.csv row 6, column lat", "COORDINATE_OUT_OF_RANGE"),
                     ("rankings.csv row 3, column rank", "BAD_VALUE")]
    assert not any("nan" in p.message or "rank 0" in p.message for p in caught.value.problems)


def test_a_column_twice_is_one_problem_in_the_files_own_words(tmp_path: Path) -> None:
    directory = tmp_path / "cohort"
    shutil.copytree(SCENARIOS / "lyngby_career", directory)
    with (directory / "mentors.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    at = rows[0].index("gender")
    with (directory / "mentors.csv").open("w", newline="") as f:
        csv.writer(f).writerows([*row, row[at]] for row in rows)  # the gender column once more, at the end
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    (only,) = caught.value.problems  # not an unknown 'gender_duplicated_0', and no cascade from unread mentors
    assert only.location == "mentors.csv" and "column 'gender' appears twice" in only.message

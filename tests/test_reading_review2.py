"""The second reading review: no pin problem computed from a broken rule's default, no short row that reads well
named as a problem because other rows are too long, messages that agree in number, and problems listed by file
then row. Real cohort directories (scenarios/lyngby_career copied and changed), read by the real reader and CLI."""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path

import pytest

from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.ingest import load_cohort
from tests.cli_support import run_cli

BASE = Path(__file__).resolve().parent.parent / "scenarios" / "lyngby_career"


def _copy(tmp_path: Path) -> Path:
    cohort = tmp_path / "cohort"
    shutil.copytree(BASE, cohort)
    return cohort


def _edit_rules(cohort: Path, old: str, new: str) -> None:
    path = cohort / "rules.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _problems(cohort: Path) -> list[Problem]:
    with pytest.raises(CohortInvalid) as refused:
        load_cohort(cohort)
    return refused.value.problems


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(), newline="")))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())


# F4: a pin is not checked against the default a broken rule fell back to ---------------------------------------


@pytest.mark.parametrize("broken", ['field_depth = "one"', "feild_depth = 1"])
def test_a_broken_rule_is_one_problem_and_the_pins_wait(tmp_path: Path, broken: str) -> None:
    cohort = _copy(tmp_path)
    _edit_rules(cohort, "field_depth = 1", broken)
    problems = _problems(cohort)
    assert [p.location.split(" ")[0] for p in problems] == ["rules.toml"]  # the rule's own problem only
    assert all(p.code is not ProblemCode.PIN_BREAKS_RULE for p in problems)
    key = broken.split(" ")[0]
    assert problems[0].location == f"rules.toml {key}"


def test_a_pin_breaking_a_valid_rule_is_still_reported(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    _edit_rules(cohort, "field_depth = 1", "field_depth = 2")  # 'E0012' and 'M0013' share no 2-digit field
    problems = _problems(cohort)
    assert [(p.code, p.location) for p in problems] == [(ProblemCode.PIN_BREAKS_RULE, "rules.toml pins[0]")]


def test_with_a_broken_rule_a_pin_naming_nobody_is_still_reported(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    _edit_rules(cohort, "field_depth = 1", 'field_depth = "one"')
    _edit_rules(cohort, 'pins = [["E0012", "M0013"]]', 'pins = [["E0012", "M0013"], ["E0012", "M9999"]]')
    problems = _problems(cohort)
    assert any(p.code is ProblemCode.UNKNOWN_ID and p.location.startswith("rules.toml pins[1]") for p in problems)
    assert all(p.code is not ProblemCode.PIN_BREAKS_RULE for p in problems)


# F5: a short row that reads well is never a problem, whatever the other rows are -------------------------------


def _short_and_long(cohort: Path, long_rows: tuple[int, ...]) -> None:
    """mentors.csv row 10 short of its trailing empty goals and online cells; `long_rows` with a cell added."""
    path = cohort / "mentors.csv"
    rows = _rows(path)
    header = rows[0]
    short = rows[9]  # spreadsheet row 10
    assert short[header.index("goals")] == "" and header[-2:] == ["goals", "online"]
    rows[9] = short[:-2]
    for row in long_rows:
        rows[row - 1] = [*rows[row - 1], "extra"]
    _write_rows(path, rows)


def test_a_short_row_alone_is_read(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    _short_and_long(cohort, ())
    assert len(load_cohort(cohort).mentors) == len(_rows(BASE / "mentors.csv")) - 1


def test_only_the_rows_that_cannot_be_read_are_named(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    _short_and_long(cohort, (6, 9, 13))
    problems = _problems(cohort)
    assert [(p.code, p.location) for p in problems] == [(ProblemCode.NOT_CSV, "mentors.csv")]
    assert problems[0].message.startswith("rows 6, 9, 13 have 16 cells, the header names 15 columns")
    assert "row 10" not in problems[0].message


# F6: wording and order --------------------------------------------------------------------------------------


def _blank_rows(path: Path, at: int, count: int) -> None:
    rows = _rows(path)
    rows[at - 1:at - 1] = [[""] * len(rows[0])] * count
    _write_rows(path, rows)


def test_blank_rows_agree_in_number(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    _blank_rows(cohort / "mentees.csv", 4, 2)
    _blank_rows(cohort / "mentors.csv", 5, 1)
    found = {p.location: p.message for p in _problems(cohort)}
    assert found["mentees.csv rows 4-5"].startswith("the rows are empty")
    assert found["mentees.csv rows 4-5"].endswith("delete them")
    assert found["mentors.csv row 5"].startswith("the row is empty")
    assert found["mentors.csv row 5"].endswith("delete it")


def test_a_missing_file_is_named_as_the_other_problems_name_files(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    (cohort / "mentors.csv").unlink()
    found = [(p.code, p.path, p.location) for p in _problems(cohort) if p.code is ProblemCode.MISSING_FILE]
    assert found == [(ProblemCode.MISSING_FILE, "mentors", "mentors.csv")]


def test_the_cli_lists_problems_by_file_then_row(tmp_path: Path) -> None:
    cohort = _copy(tmp_path)
    _blank_rows(cohort / "mentees.csv", 4, 2)  # read (and found) before any cell of either file
    mentors = _rows(cohort / "mentors.csv")
    mentors[11][mentors[0].index("leadership")] = "maybe"  # row 12
    mentors[2][mentors[0].index("capacity")] = "-1"  # row 3
    _write_rows(cohort / "mentors.csv", mentors)
    mentees = _rows(cohort / "mentees.csv")
    mentees[9][mentees[0].index("lat")] = ""  # row 10 (after the two blank rows)
    _write_rows(cohort / "mentees.csv", mentees)
    _edit_rules(cohort, "field_depth = 1", 'field_depth = "one"')
    result = run_cli("validate", cohort)
    assert result.returncode == 2, result.stderr
    lines = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.startswith("  ")]
    places = [re.match(r"(\S+)(?: rows? (\d+))?", line) for line in lines]
    listed = [(m.group(1).rstrip(":"), int(m.group(2) or 0)) for m in places if m]
    assert listed == [("mentors.csv", 3), ("mentors.csv", 12), ("mentees.csv", 4), ("mentees.csv", 10),
                      ("rules.toml", 0)]

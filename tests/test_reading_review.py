"""What an outside review of reading cohort files found, each as a user meets it on the command line: a blank row,
an empty coordinate, rows whose cells do not fit the header, Danish booleans, and JSON field paths of coordinates.
Every test writes real files (a bundled scenario, edited as a spreadsheet would) and runs the real CLI or
`solver.ingest.load_cohort`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from solver.errors import CohortInvalid
from solver.ingest import load_cohort
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS


def cohort_copy(tmp_path: Path, name: str = "ibm_refugees") -> Path:
    return Path(shutil.copytree(SCENARIOS / name, tmp_path / name))


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_lines(path: Path, rows: list[str]) -> None:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def problems_of(directory: Path) -> list[tuple[str, str, str]]:
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    return [(p.code.value, p.location, p.message) for p in caught.value.problems]


def printed_problems(result_stderr: str) -> list[str]:
    return [line.strip() for line in result_stderr.splitlines() if line.startswith("  ")]


# --- 1. blank rows and empty coordinates ---------------------------------------------------------------------------


def test_a_blank_row_is_one_line_and_never_a_value_the_file_does_not_hold(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    rows = lines(directory / "mentees.csv")
    width = rows[0].count(",")
    # An empty line (row 3), two rows of separators only (rows 6-7, one run), a row of blank cells (row 10).
    rows[2:2] = [""]
    rows[5:5] = ["," * width, ",,,"]
    rows[9:9] = ["," + " ," * (width - 1) + "\t"]
    write_lines(directory / "mentees.csv", rows)
    result = run_cli("validate", directory)
    assert result.returncode == 2, result.stderr
    shown = printed_problems(result.stderr)
    assert [line.split(":")[0] for line in shown] == ["mentees.csv row 3", "mentees.csv rows 6-7", "mentees.csv row 10"]
    assert all("empty" in line and "delete" in line for line in shown)
    assert "nan" not in result.stderr and "EMPTY_ID" not in result.stderr
    # Nor a warning about the blank rows (no language): only the one the scenario has, at its row moved down.
    warned = [w for w in result.stderr.splitlines() if w.startswith("warning")]
    assert len(warned) == 1 and "mentees.csv row 26, column languages" in warned[0]


def test_blank_rows_of_rankings_and_history_are_one_line_each_too(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path, "lyngby_career")
    rows = lines(directory / "rankings.csv")
    rows[3:3] = [",,"]
    write_lines(directory / "rankings.csv", rows)
    write_lines(directory / "history.csv", ["mentee_id,mentor_id,started,ended,outcome", ",,,,",
                                            "E0001,M0014,2025-01-01,2025-06-01,completed"])
    assert [(code, where) for code, where, _ in problems_of(directory)] == [
        ("BAD_VALUE", "rankings.csv row 4"), ("BAD_VALUE", "history.csv row 2")]


def test_a_ranking_given_twice_names_its_row_not_a_column_the_file_does_not_have(tmp_path: Path) -> None:
    """rankings.csv has no id column: a problem of the ranking as a whole (given twice, or from a mentee to a
    mentee) names its row only."""
    directory = cohort_copy(tmp_path, "lyngby_career")
    rows = lines(directory / "rankings.csv")
    write_lines(directory / "rankings.csv", [*rows, rows[1]])  # the first ranking once more, on the last row
    twice = [(code, where) for code, where, message in problems_of(directory) if "more than once" in message]
    assert twice == [("INVALID_RANK", f"rankings.csv row {len(rows) + 1}")]


def test_the_current_directory_as_the_cohort_is_named_after_that_directory(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path, "lyngby_career")
    done = run_cli("validate", ".", cwd=directory)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("lyngby_career: valid"), done.stdout


def test_an_empty_coordinate_is_one_clear_problem(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    rows = lines(directory / "mentees.csv")
    header = rows[0].split(",")
    for k, column, text in ((2, "lat", ""), (4, "lon", "  ")):
        cells = rows[k].split(",")
        cells[header.index(column)] = text
        rows[k] = ",".join(cells)
    write_lines(directory / "mentees.csv", rows)
    assert problems_of(directory) == [
        ("BAD_VALUE", "mentees.csv row 3, column lat", "the latitude is empty (it is required)"),
        ("BAD_VALUE", "mentees.csv row 5, column lon", "the longitude is empty (it is required)")]


# --- 2. rows that do not fit the header -----------------------------------------------------------------------------


def test_rows_with_fewer_cells_than_the_header_are_one_problem_not_one_per_cell(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    rows = lines(directory / "mentors.csv")
    assert rows[0].count(",") == 14  # 15 columns; the rows lose two in the middle (a column deleted, not its name)
    rows[1:] = [",".join(row.split(",")[:5] + row.split(",")[7:]) for row in rows[1:]]
    write_lines(directory / "mentors.csv", rows)
    result = run_cli("validate", directory)
    assert result.returncode == 2, result.stderr
    assert printed_problems(result.stderr) == [
        f"mentors.csv: NOT_CSV: rows 2-{len(rows)} have 13 cells, the header names 15 columns: a column left out in "
        "the rows but not in the header (or the other way round)?"]


def test_rows_with_more_cells_than_the_header_are_one_problem(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    rows = lines(directory / "mentors.csv")
    rows[0] = ",".join(rows[0].split(",")[:13])
    write_lines(directory / "mentors.csv", rows)
    found = problems_of(directory)
    assert [(code, where) for code, where, _ in found] == [("NOT_CSV", "mentors.csv")]
    assert found[0][2].startswith(f"rows 2-{len(rows)} have 15 cells, the header names 13 columns")


def test_rows_of_two_shapes_are_one_problem_each_and_short_rows_that_read_well_are_fine(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    rows = lines(directory / "mentees.csv")
    # Trailing empty cells left out (as some spreadsheets write them): read as empty, no problem.
    trimmed = [row.rstrip(",") for row in rows]
    assert trimmed != rows
    write_lines(directory / "mentees.csv", trimmed)
    assert len(load_cohort(directory).mentees) == len(rows) - 1
    # A column lost in the middle of rows 3-4 and two in row 6: one problem per shape.
    broken = list(rows)
    for k, lost in ((2, 1), (3, 1), (5, 2)):
        cells = broken[k].split(",")
        broken[k] = ",".join(cells[:3] + cells[3 + lost:])
    write_lines(directory / "mentees.csv", broken)
    width = rows[0].count(",") + 1
    assert [(code, message.split(":")[0]) for code, _, message in problems_of(directory)] == [
        ("NOT_CSV", f"rows 3-4 have {width - 1} cells, the header names {width} columns"),
        ("NOT_CSV", f"row 6 has {width - 2} cells, the header names {width} columns")]


# --- 3. Danish booleans -----------------------------------------------------------------------------------------------


def test_booleans_as_danish_excel_writes_them_are_read(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    expected = load_cohort(directory)
    text = (directory / "mentors.csv").read_text(encoding="utf-8")
    danish = text.replace(",true", ",SAND").replace(",false", ",FALSK")
    assert "SAND" in danish and "FALSK" in danish
    (directory / "mentors.csv").write_text(danish, encoding="utf-8")
    assert load_cohort(directory).mentors == expected.mentors
    (directory / "mentors.csv").write_text(text.replace(",true", ",Ja").replace(",false", ",nej"), encoding="utf-8")
    assert load_cohort(directory).mentors == expected.mentors
    result = run_cli("validate", directory)
    assert result.returncode == 0, result.stderr


def test_a_word_that_is_no_boolean_is_still_a_problem(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    rows = lines(directory / "mentors.csv")
    cells = rows[1].split(",")
    cells[rows[0].split(",").index("leadership")] = "måske"
    rows[1] = ",".join(cells)
    write_lines(directory / "mentors.csv", rows)
    assert problems_of(directory) == [("BAD_VALUE", "mentors.csv row 2, column leadership", "'måske' is not true/false")]


# --- 4. field paths of coordinates -------------------------------------------------------------------------------------


def test_a_json_cohort_names_coordinates_at_the_jsons_own_field_path(tmp_path: Path) -> None:
    directory = cohort_copy(tmp_path)
    exported = run_cli("export-json", directory)
    assert exported.returncode == 0, exported.stderr
    cohort = json.loads(exported.stdout)
    cohort["mentees"][3]["location"]["lat"] = 95.0  # out of range: a problem
    cohort["mentees"][4]["location"]["lat"] = 45.0  # 1,200 km south of everyone: a warning
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(cohort), encoding="utf-8")
    result = run_cli("validate", path)
    assert result.returncode == 2, result.stderr
    assert f"{path}, mentees[3].location.lat: COORDINATE_OUT_OF_RANGE" in result.stderr
    assert f"warning: {path}, mentees[4].location.lat: COORDINATE_OUTLIER" in result.stderr
    cohort["mentees"][3]["location"]["lat"] = 55.7
    path.write_text(json.dumps(cohort), encoding="utf-8")
    solved = run_cli("solve", path, "--json", "-k", "1")
    assert solved.returncode == 0, solved.stderr
    assert ("PROBLEM_CODE_COORDINATE_OUTLIER", "cohort.mentees[4].location.lat") in {
        (w["code"], w["field_path"]) for w in json.loads(solved.stdout)["warnings"]}


def test_a_what_if_mentor_without_a_latitude_is_one_problem_and_an_empty_one_is_named_empty(tmp_path: Path) -> None:
    what_if = tmp_path / "what_if.toml"
    what_if.write_text(f'cohort = "{SCENARIOS / "ibm_refugees"}"\n'
                       '[[add_mentors]]\nid = "M99"\nlon = 12.5\noccupations = "2512"\nlanguages = "en:C1"\n'
                       '[[add_mentors]]\nid = "M98"\nlat = ""\nlon = 12.5\noccupations = "2512"\nlanguages = "en:C1"\n',
                       encoding="utf-8")
    result = run_cli("compare", what_if)
    assert result.returncode == 2, result.stderr
    assert printed_problems(result.stderr) == [
        "what_if.toml add_mentors: MISSING_COLUMN: required column 'lat' is missing",
        "what_if.toml add_mentors row 2, column lat: BAD_VALUE: the latitude is empty (it is required)"]

"""Spreadsheets in: CSV as Danish Excel saves it (cp1252, ';'-separated, decimal commas) is read with a one-line note,
a file that is no table is one clear problem (never a cascade), rows are numbered as the spreadsheet shows them, and
a misspelt column, rule, goal, track or level gets the nearest known name."""

from __future__ import annotations

import csv
import io
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from solver.errors import CohortInvalid, ProblemCode
from solver.fileio import reading_notes
from solver.ingest import load_cohort
from solver.rematch import read_current_pairs
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS

LYNGBY = SCENARIOS / "lyngby_career"


def lyngby(tmp_path: Path) -> Path:
    directory = tmp_path / "lyngby"
    shutil.copytree(LYNGBY, directory)
    return directory


def as_excel_saves_it(path: Path, *, encoding: str = "cp1252", separator: str = ";", decimal_comma: bool = True
                      ) -> None:
    """Rewrite a CSV file the way a spreadsheet in a Danish locale saves it."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    numbers = {k for k, name in enumerate(rows[0]) if name in ("lat", "lon", "max_travel_km")}
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(rows[0])
    for row in rows[1:]:
        writer.writerow([cell.replace(".", ",") if decimal_comma and k in numbers else cell
                         for k, cell in enumerate(row)])
    path.write_bytes(out.getvalue().encode(encoding))


def problems_of(directory: Path) -> list:
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    return caught.value.problems


def test_a_danish_excel_csv_is_read_with_one_note(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    as_excel_saves_it(directory / "mentors.csv")
    as_excel_saves_it(directory / "mentees.csv")
    notes: list[str] = []
    with reading_notes(notes.append):
        cohort = load_cohort(directory)
    assert cohort == replace(load_cohort(LYNGBY), name="lyngby")  # every value as in the UTF-8 original
    assert "Lyngby-Taarbæk Kommune" in {m.organisation for m in cohort.mentors}  # æ read from cp1252
    assert notes == ["mentors.csv: read as cp1252, ';'-separated, decimal commas",
                     "mentees.csv: ';'-separated, decimal commas"]  # plain ASCII: the same in UTF-8
    result = run_cli("validate", directory)
    assert result.returncode == 0, result.stderr
    assert "note: mentors.csv: read as cp1252, ';'-separated, decimal commas" in result.stderr
    assert result.stderr.count("\n") == 2  # one line per file, nothing else


def test_excel_unicode_text_utf16_with_tabs_is_read(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    as_excel_saves_it(directory / "mentees.csv", encoding="utf-16", separator="\t", decimal_comma=False)
    notes: list[str] = []
    with reading_notes(notes.append):
        cohort = load_cohort(directory)
    assert cohort.mentees == load_cohort(LYNGBY).mentees
    assert notes == ["mentees.csv: read as UTF-16, tab-separated"]


def test_a_file_that_is_no_table_is_one_problem_not_a_cascade(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    (directory / "mentors.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    problems = problems_of(directory)
    # Before: one raw codec message and an UNKNOWN_ID for every ranking that names a mentor.
    assert [(p.code, p.location) for p in problems] == [(ProblemCode.NOT_CSV, "mentors.csv")]
    assert "mentors.csv is empty or binary data, not a table" in problems[0].message
    result = run_cli("validate", directory)
    assert result.returncode == 2 and "1 problem(s)" in result.stderr


def test_a_header_of_unknown_columns_is_one_problem(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    (directory / "mentors.csv").write_text("navn|alder|by\nAnna|40|Lyngby\n", encoding="utf-8")
    problems = problems_of(directory)
    assert len(problems) == 1 and problems[0].code is ProblemCode.MISSING_COLUMN
    assert "no known column in the first row (navn|alder|by)" in problems[0].message


def test_rows_are_numbered_as_the_spreadsheet_shows_them(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    lines = (directory / "mentees.csv").read_text(encoding="utf-8").splitlines()
    third = lines[3].split(",")  # the third person: on the spreadsheet's row 4 (row 1 is the header)
    third[1] = "north"
    lines[3] = ",".join(third)
    (directory / "mentees.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (problem,) = [p for p in problems_of(directory) if p.code is ProblemCode.BAD_VALUE]
    assert problem.location == "mentees.csv row 4, column lat" and problem.path == "mentees[2].lat"


def test_misspelt_names_and_codes_get_the_nearest_known_one(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    mentees = directory / "mentees.csv"
    text = mentees.read_text(encoding="utf-8")
    header, first, rest = text.split("\n", 2)
    cells = first.split(",")
    cells[8], cells[14] = "jobb", "studnet"  # goal, track
    cells[4] = "de:C 1;en:C2"  # languages
    mentees.write_text(header.replace(",interests,", ",intrests,") + "\n" + ",".join(cells) + "\n" + rest,
                       encoding="utf-8")
    mentors = directory / "mentors.csv"
    mentors.write_text(mentors.read_text(encoding="utf-8").replace(",occupations,", ",occupation,", 1),
                       encoding="utf-8")
    rules = directory / "rules.toml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("max_distance_km", "max_distanse_km", 1),
                     encoding="utf-8")
    messages = [p.message for p in problems_of(directory)]
    assert "required column 'occupations' is missing; is 'occupation' meant to be 'occupations'?" in messages
    assert any(m.startswith("unknown column 'intrests' (did you mean 'interests'?)") for m in messages)
    assert any(m.startswith("unknown rule 'max_distanse_km' (did you mean 'max_distance_km'?)") for m in messages)
    # The mentees file's header is wrong, so its cells wait until it is fixed; a file at a time, no cascade.
    mentees.write_text(header + "\n" + ",".join(cells) + "\n" + rest, encoding="utf-8")
    messages = [p.message for p in problems_of(directory)]
    assert any("'jobb' is not one of" in m and "(did you mean 'job'?)" in m for m in messages)
    assert any("'studnet' is not one of" in m and "(did you mean 'student'?)" in m for m in messages)
    assert any("'C 1' is not a CEFR level (did you mean 'C1'?)" in m for m in messages)


def test_current_pairs_from_a_spreadsheet(tmp_path: Path) -> None:
    current = tmp_path / "current.csv"
    current.write_bytes("mentee_id;mentor_id;note\r\nE0001;M0014;går godt\r\nE0002;M0010;\r\n".encode("cp1252"))
    notes: list[str] = []
    with reading_notes(notes.append):
        pairs = read_current_pairs(current)
    assert [(p.mentee_id, p.mentor_id) for p in pairs] == [("E0001", "M0014"), ("E0002", "M0010")]
    assert notes == ["current.csv: read as cp1252, ';'-separated"]
    current.write_text("mentee,mentor_id\nE0001,M0014\n,M0010\n", encoding="utf-8")
    with pytest.raises(CohortInvalid) as caught:
        read_current_pairs(current)
    assert [p.message for p in caught.value.problems] == [
        "required column 'mentee_id' is missing; is 'mentee' meant to be 'mentee_id'?"]
    current.write_text("mentee_id,mentor_id\nE0001,M0014\n,M0010\n", encoding="utf-8")
    with pytest.raises(CohortInvalid) as caught:
        read_current_pairs(current)
    assert [p.location for p in caught.value.problems] == ["current.csv row 3, column mentee_id"]

"""Bad input on the command line: every problem of every file in one run (exit 2), each where the coordinator sees
it (the file, its row as the spreadsheet numbers it, the grid value), never in stages; and the files written keep
a spreadsheet from running a cell as a formula (issue 13, the input findings)."""

from __future__ import annotations

import dataclasses
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest
import typer
from typer.testing import CliRunner, Result

from server import cli, cli_scale, cli_workflows
from solver.budget import MAX_CANDIDATE_PAIRS
from solver.compare import Scenario, ScenarioChanges, apply_changes, load_scenarios
from solver.domain import Cohort, Language, Mentee, Mentor, Rules
from solver.errors import CohortInvalid, ProblemCode
from solver.ingest import write_cohort_dir
from solver.sweep import check_values, load_grid
from tests.conftest import mentee, mentor
from tests.test_problem_reporting_rpc import _wide_cohort


def _town(**rules: object) -> Cohort:
    mentors = tuple(mentor(f"M{j}", km_north=j) for j in range(4))
    mentees = tuple(mentee(f"E{j}", km_north=j + 0.5) for j in range(4))
    return Cohort(mentors, mentees, rules=Rules(max_distance_km=20.0, **rules), name="town")  # type: ignore[arg-type]


def _app() -> typer.Typer:
    """The commands under test, as `mentormatch` registers them, run in this process by typer's runner."""
    app = typer.Typer()
    app.command("validate")(cli.validate)
    app.command("solve")(cli.solve_command)
    cli_workflows.register(app)
    cli_scale.register(app)
    return app


def run_cli(*args: str | Path) -> Result:
    return CliRunner().invoke(_app(), [str(a) for a in args])


def _problem_lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.splitlines() if line.startswith("  ")]


# --- compare: a what-if file's problems come with its base's, in one run ---------------------------------------------


WHAT_IF = """label = "wider"
cohort = "base"
colour = "blue"
[rules]
max_distance_km = "far"
[[add_mentors]]
id = "X1"
lat = 55.7
lon = 12.5
occupations = ["25"]
languages = ["en:C1"]
"""


def test_compare_lists_a_what_ifs_own_problems_beside_its_broken_base(tmp_path: Path) -> None:
    town = _town()
    broken = dataclasses.replace(town, mentees=(dataclasses.replace(town.mentees[0], lat=123.0), *town.mentees[1:]))
    write_cohort_dir(broken, tmp_path / "base")
    (tmp_path / "wider.toml").write_text(WHAT_IF, encoding="utf-8")
    (tmp_path / "also.toml").write_text('label = "also"\ncohort = "base"\nremove = ["E1"]\n', encoding="utf-8")
    result = run_cli("compare", tmp_path / "wider.toml", tmp_path / "also.toml", "--no-counterfactuals")
    assert result.exit_code == 2, result.stderr
    lines = _problem_lines(result.stderr)
    # The base's problem once (both files name it), and the file's own: unknown key, bad rule value, bad person.
    assert [line for line in lines if "COORDINATE_OUT_OF_RANGE" in line] == [
        "wider.toml -> base: mentees.csv row 2, column lat: COORDINATE_OUT_OF_RANGE: latitude 123.0 is not in "
        "-90..90"]
    assert any(line.startswith("wider.toml colour: BAD_VALUE") for line in lines), lines
    assert "wider.toml rules.max_distance_km: BAD_VALUE: expected a number of km" in lines, lines
    assert any(line.startswith("wider.toml: add_mentors[0].occupations[0]: MALFORMED_ISCO") for line in lines), lines
    assert "Traceback" not in result.stderr


def test_one_what_if_files_problems_come_together(tmp_path: Path) -> None:
    write_cohort_dir(_town(), tmp_path / "base")
    (tmp_path / "w.toml").write_text('cohort = "base"\nremove = ["nobody"]\n[[add_mentors]]\nid = "X1"\n'
                                     'lat = 55.7\nlon = 12.5\noccupations = ["25"]\nlanguages = ["en:C1"]\n',
                                     encoding="utf-8")
    result = run_cli("compare", tmp_path / "w.toml", "--no-counterfactuals")
    assert result.exit_code == 2, result.stderr
    text = "\n".join(_problem_lines(result.stderr))
    assert "remove[0]: UNKNOWN_ID: 'nobody' is no mentor or mentee" in text
    assert "w.toml: add_mentors[0].occupations[0]: MALFORMED_ISCO" in text, text


def test_a_what_if_too_dense_to_solve_is_refused_when_read() -> None:
    base = _wide_cohort()
    wide = apply_changes(base, ScenarioChanges(rules={"field_depth": 0}), label="any field")
    load_scenarios([Scenario("base", base)], max_pairs=1_000_000)  # 15,000 pairs: fine
    with pytest.raises(CohortInvalid) as caught:
        load_scenarios([Scenario("base", base), wide], max_pairs=1_000_000)
    (problem,) = caught.value.problems
    assert (problem.code, problem.location) == (ProblemCode.TOO_LARGE, "any field: rules.field_depth")
    assert "2,250,000" in problem.message and "1,000,000" in problem.message
    assert load_scenarios([wide])[0] is wide  # within the default budget of MAX_CANDIDATE_PAIRS
    assert MAX_CANDIDATE_PAIRS > 2_250_000


# --- rematch: rows of current.csv as the spreadsheet shows them, with the file's name --------------------------------


def test_rematch_places_problems_in_current_csv_and_the_options(tmp_path: Path) -> None:
    write_cohort_dir(_town(), tmp_path / "cohort")
    current = tmp_path / "current.csv"
    current.write_text("mentee_id,mentor_id\nE0,M0\nGHOST,M1\nE2,E3\nE0,M3\n", encoding="utf-8")
    result = run_cli("rematch", tmp_path / "cohort", current, "--left", "M1;NOBODY", "--keep", "oops;E1:M9")
    assert result.exit_code == 2, result.stderr
    lines = _problem_lines(result.stderr)
    expected = [
        "current.csv row 3, column mentee_id: UNKNOWN_ID",  # GHOST: the second pair, on row 3
        "current.csv row 4, column mentor_id: UNKNOWN_ID: 'E3' is a mentee, not a mentor",
        "current.csv row 5, column mentee_id: DUPLICATE_ID: mentee 'E0' is already paired, with 'M0'",
        "--left item 2: UNKNOWN_ID: 'NOBODY'",
        "--keep: BAD_VALUE: 'oops' is not MENTEE_ID:MENTOR_ID",
    ]
    for start in expected:
        assert any(line.startswith(start) for line in lines), (start, lines)
    assert not any("current[" in line for line in lines), lines


# --- sweep: every grid value checked up front, placed in the grid file ------------------------------------------------


def test_sweep_places_bad_grid_values_in_the_grid_file_before_solving(tmp_path: Path) -> None:
    write_cohort_dir(_town(), tmp_path / "base")
    grid = tmp_path / "grid.toml"
    grid.write_text('[axes]\nmax_distance_km = [10, 20, -5]\nmin_mentor_years = [0, 500]\n'
                    'weights = [{}, {travel = -3}]\n', encoding="utf-8")
    result = run_cli("sweep", tmp_path / "base", "--grid", grid, "--sequential")
    assert result.exit_code == 2, result.stderr
    lines = _problem_lines(result.stderr)
    assert any(line.startswith("grid.toml: axes.max_distance_km[2]: INVALID_RULE") for line in lines), lines
    assert any(line.startswith("grid.toml: axes.min_mentor_years[1]: OUT_OF_RANGE") for line in lines), lines
    assert any(line.startswith("grid.toml: axes.weights[1].travel: NEGATIVE_VALUE") for line in lines), lines
    assert "nothing was solved" in result.stderr


def test_a_grid_setting_too_dense_to_solve_is_refused_before_any_is_solved(tmp_path: Path) -> None:
    grid = tmp_path / "grid.toml"
    grid.write_text('[axes]\nmax_distance_km = [30, "none"]\nfield_depth = [4, 0]\nweights = [{}, {travel = 9}]\n',
                    encoding="utf-8")
    with pytest.raises(CohortInvalid) as caught:
        check_values(_wide_cohort(), load_grid(grid), max_pairs=1_000_000)
    found = {p.location: p for p in caught.value.problems}
    # field_depth 0 at either distance: 2,250,000 pairs each; field_depth 4 stays at 15,000 whatever the distance.
    assert set(found) == {"grid.toml: axes.max_distance_km[0], axes.field_depth[1]",
                          "grid.toml: axes.max_distance_km[1], axes.field_depth[1]"}
    assert all(p.code is ProblemCode.TOO_LARGE for p in found.values())
    assert found["grid.toml: axes.max_distance_km[0], axes.field_depth[1]"].path == "axes.field_depth[1]"
    assert found["grid.toml: axes.max_distance_km[1], axes.field_depth[1]"].message.startswith(
        "with max_distance_km none; field_depth 0: field_depth 0 and no distance limit")


# --- files out: no cell a spreadsheet runs ------------------------------------------------------------------------


def _formula_cohort() -> Cohort:
    mentors = (Mentor("-M1", 55.68, 12.57, ("2512",), (Language("en", 5),)),
               Mentor("@M2", 55.69, 12.57, ("2512",), (Language("en", 5),)))
    mentees = (Mentee("=1+2", 55.68, 12.58, ("2512",), (Language("en", 4),)),
               Mentee("+E2", 55.69, 12.58, ("2512",), (Language("en", 4),)))
    return Cohort(mentors, mentees, rules=Rules(max_distance_km=20.0), name="formulas")


def test_csv_and_xlsx_outputs_write_formula_like_cells_as_text(tmp_path: Path) -> None:
    directory = write_cohort_dir(_formula_cohort(), tmp_path / "c")
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli("solve", directory, "-k", "1", "--json", "-o", out / "m.csv")
    assert result.exit_code == 0, result.stderr
    assert run_cli("solve", directory, "-k", "1", "-o", out / "m.xlsx").exit_code == 0
    assert run_cli("solve", directory, "-k", "1", "-o", out / "m.parquet").exit_code == 0
    # JSON and Parquet carry the data for programs: verbatim.
    pairs = {(p["mentee_id"], p["mentor_id"]) for p in json.loads(result.stdout)["matchings"][0]["pairs"]}
    assert {a for a, _ in pairs} == {"=1+2", "+E2"}
    assert set(pl.read_parquet(out / "m.pairs.parquet")["mentee_id"]) == {"=1+2", "+E2"}
    # CSV: each such text cell behind an apostrophe; numbers stay numbers.
    csv = pl.read_csv(out / "m.pairs.csv", infer_schema=False)
    assert set(csv["mentee_id"]) == {"'=1+2", "'+E2"} and set(csv["mentor_id"]) <= {"'-M1", "'@M2"}
    assert all(score.isdigit() for score in csv["score"])
    # XLSX: no formula anywhere, the cells are text with the apostrophe.
    with zipfile.ZipFile(out / "m.xlsx") as book:
        sheets = [book.read(name).decode() for name in book.namelist() if name.startswith("xl/worksheets/")]
        strings = book.read("xl/sharedStrings.xml").decode()
    assert not any("<f>" in sheet for sheet in sheets)
    assert "<t>'=1+2</t>" in strings and "<t>'+E2</t>" in strings


# --- identifiers: no invisible or direction-changing characters ------------------------------------------------------


def test_an_id_with_a_zero_width_space_is_refused_at_its_row(tmp_path: Path) -> None:
    town = _town()
    hidden = dataclasses.replace(town, mentees=(dataclasses.replace(town.mentees[0], id="E\u200b0"),
                                                *town.mentees[1:]))
    result = run_cli("validate", write_cohort_dir(hidden, tmp_path / "c"))
    assert result.exit_code == 2, result.stderr
    assert "mentees.csv row 2, column id: BAD_VALUE: the id holds an invisible or direction-changing character " \
           "(U+200B ZERO WIDTH SPACE) at position 2" in result.stderr
    assert "\u200b" not in result.stdout + result.stderr
    (tmp_path / "flip.toml").write_text('label = "ok\\u202e"\ncohort = "c"\n', encoding="utf-8")
    write_cohort_dir(town, tmp_path / "c")
    flipped = run_cli("compare", tmp_path / "flip.toml", "--no-counterfactuals")
    assert flipped.exit_code == 2 and "U+202E RIGHT-TO-LEFT OVERRIDE" in flipped.stderr
    assert "\u202e" not in flipped.stdout + flipped.stderr

"""Reading input files: regular files only, under a stated size cap; TOML that is too deep, out of range or
malformed is a located problem (exit 2), never a traceback, a hang or gigabytes of memory."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from solver.errors import CohortInvalid, ProblemCode
from solver.fileio import TABLE_LIMIT_BYTES, TOML_LIMIT_BYTES, TOML_MAX_DEPTH, read_toml
from solver.ingest import read_cohort_dir
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    directory = tmp_path / "cohort"
    shutil.copytree(SCENARIOS / "lyngby_career", directory)
    return directory


def refused(directory: Path, command: str = "validate") -> str:
    """stderr of a CLI run that must list problems and exit 2, quickly and without a traceback."""
    started = time.monotonic()
    result = run_cli(command, directory, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert time.monotonic() - started < 30
    return result.stderr


# Not a regular file ---------------------------------------------------------------------------------------


def test_a_fifo_as_mentors_csv_is_refused_not_waited_on(cohort: Path) -> None:
    (cohort / "mentors.csv").unlink()
    os.mkfifo(cohort / "mentors.csv")
    stderr = refused(cohort, "solve")
    assert f"NOT_A_FILE: {cohort / 'mentors.csv'} is a FIFO (named pipe), not a regular file" in stderr


def test_a_link_to_dev_zero_is_refused_not_read(cohort: Path) -> None:
    (cohort / "mentees.csv").unlink()
    (cohort / "mentees.csv").symlink_to("/dev/zero")
    stderr = refused(cohort)
    assert f"{cohort / 'mentees.csv'} is a character device, not a regular file" in stderr


def test_a_directory_named_rules_toml_is_refused(cohort: Path) -> None:
    (cohort / "rules.toml").unlink()
    (cohort / "rules.toml").mkdir()
    assert f"rules.toml: NOT_A_FILE: {cohort / 'rules.toml'} is a directory" in refused(cohort, "solve")


def test_a_fifo_as_a_json_cohort_or_a_what_if_file_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "cohort.json")
    assert "is a FIFO (named pipe), not a regular file" in refused(tmp_path / "cohort.json")
    os.mkfifo(tmp_path / "what_if.toml")
    assert "is a FIFO (named pipe), not a regular file" in refused(tmp_path / "what_if.toml", "compare")


# Size caps ------------------------------------------------------------------------------------------------


def test_files_above_the_size_cap_are_refused_with_the_cap_in_the_message(cohort: Path) -> None:
    with (cohort / "rankings.csv").open("r+b") as table:  # sparse: 300 MiB long, nothing on disk
        table.truncate(TABLE_LIMIT_BYTES + 44 * 2**20)
    with (cohort / "rules.toml").open("ab") as rules:
        rules.write(b"# padding\n" * (TOML_LIMIT_BYTES // 10 + 1))
    stderr = refused(cohort)
    assert "rankings.csv: FILE_TOO_LARGE" in stderr and "is 300 MiB; files of this kind are read up to 256 MiB" in stderr
    assert "rules.toml: FILE_TOO_LARGE" in stderr and "read up to 1 MiB" in stderr


# TOML -----------------------------------------------------------------------------------------------------


def test_rules_nested_thousands_deep_are_a_problem_not_a_crash(cohort: Path) -> None:
    (cohort / "rules.toml").write_text("field_depth = 1\nbans = " + "[" * 5000 + "]" * 5000 + "\n")
    stderr = refused(cohort, "solve")
    assert f"rules.toml bans (line 2): NOT_CSV: arrays or inline tables nested deeper than {TOML_MAX_DEPTH}" in stderr


def test_a_400_digit_number_is_a_problem_at_its_field(cohort: Path) -> None:
    (cohort / "rules.toml").write_text(f"max_distance_km = {'9' * 400}\n[weights]\ntravel = -{'1' * 30}\n")
    stderr = refused(cohort, "solve")
    assert "rules.toml max_distance_km: BAD_VALUE: a 400-digit integer is out of range" in stderr
    assert "rules.toml weights.travel: BAD_VALUE: a 30-digit integer is out of range" in stderr


def test_a_number_beyond_64_bits_hides_no_other_rules_problem(cohort: Path) -> None:
    """Every problem of rules.toml at once: an integer out of TOML's range is one problem at its key, and the
    file's other mistakes (a wrong type, an unknown weight, a negative value) are still reported beside it."""
    (cohort / "rules.toml").write_text(f"min_mentor_years = -{'9' * 23}\nfield_depth = \"deep\"\n"
                                       "[weights]\ntravel = 2\ntrvel = 1\n")
    stderr = refused(cohort)
    assert "rules.toml min_mentor_years: BAD_VALUE: a 23-digit integer is out of range" in stderr
    assert "rules.toml field_depth: BAD_VALUE" in stderr
    assert "rules.toml weights.trvel: BAD_VALUE: unknown weight 'trvel'" in stderr
    assert stderr.count("min_mentor_years") == 1  # not also a complaint about the value it was clamped to
    assert "3 problem(s)" in stderr


def test_a_number_too_long_for_python_is_a_problem_too(cohort: Path) -> None:
    (cohort / "rules.toml").write_text(f"max_distance_km = {'9' * 5000}\n")
    assert "NOT_CSV: cannot read rules.toml as TOML: an integer has thousands of digits" in refused(cohort)


def test_a_rules_toml_with_a_byte_order_mark_is_read_like_csv_and_json(cohort: Path) -> None:
    rules = cohort / "rules.toml"
    rules.write_bytes(b"\xef\xbb\xbf" + rules.read_bytes().replace(b"max_distance_km = 15.0", b"max_distance_km = 17.5"))
    assert read_cohort_dir(cohort).rules.max_distance_km == 17.5
    assert run_cli("validate", cohort).returncode == 0


def test_brackets_in_strings_and_comments_are_not_nesting(tmp_path: Path) -> None:
    deep = "[" * 40
    path = tmp_path / "rules.toml"
    path.write_text(f'# {deep}\neligible_tracks = ["{deep}", \'{deep}\']  # {deep}\n'
                    f'bans = [["E\\"[[", """\n{deep}\n"""]]\n[organisation_caps]\n"{deep}" = 3\n')
    data = read_toml(path, field_path="rules")
    assert data["eligible_tracks"] == [deep, deep] and data["organisation_caps"] == {deep: 3}
    path.write_text("[weights]\n" + "x = " + "[" * (TOML_MAX_DEPTH + 1) + "]" * (TOML_MAX_DEPTH + 1) + "\n")
    with pytest.raises(CohortInvalid) as caught:
        read_toml(path, field_path="rules")
    (problem,) = caught.value.problems
    assert (problem.code, problem.path, problem.location) == (ProblemCode.NOT_CSV, "rules.weights.x",
                                                              "rules.toml weights.x (line 2)")
    path.write_text("x = " + "[" * TOML_MAX_DEPTH + "]" * TOML_MAX_DEPTH + "\n")
    assert read_toml(path)["x"] is not None  # the cap itself is allowed


def test_what_if_and_changes_files_are_read_the_same_way(tmp_path: Path, cohort: Path) -> None:
    scenario = tmp_path / "deep.toml"
    scenario.write_text(f'cohort = "cohort"\nremove = {"[" * 3000}{"]" * 3000}\n')
    assert "deep.toml remove (line 2): NOT_CSV: arrays or inline tables nested deeper" in refused(scenario, "compare")
    (cohort / "current.csv").write_text("mentee_id,mentor_id\nE0001,M0001\n")
    (cohort / "changes.toml").write_text(f"penalty = {'7' * 400}\n")
    batch = tmp_path / "batch"
    batch.mkdir()
    shutil.move(cohort, batch / "one")
    result = run_cli("rematch-batch", batch, "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (item,) = json.loads(result.stdout)["cohorts"]
    assert [(p["code"], p["path"], p["location"]) for p in item["problems"]] == [
        ("BAD_VALUE", "penalty", "changes.toml penalty")]


# Columns without a name ------------------------------------------------------------------------------------


def _with_unnamed_columns(path: Path, cells: list[str]) -> None:
    """Each line of a CSV with more cells at its end: the header gets empty names, row k the cells[k - 1]."""
    lines = path.read_text(encoding="utf-8").splitlines()
    extra = len(cells[0].split(",")) if cells else 1
    lines[0] += "," * extra
    for k in range(1, len(lines)):
        lines[k] += "," + (cells[k - 1] if k - 1 < len(cells) else "," * (extra - 1))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("extra", [1, 2])
def test_empty_unnamed_columns_a_spreadsheet_leaves_are_ignored(cohort: Path, extra: int) -> None:
    before = read_cohort_dir(cohort)
    _with_unnamed_columns(cohort / "mentees.csv", ["," * (extra - 1)])  # `a,b,` lines: no name, no data
    assert read_cohort_dir(cohort) == before


def test_an_unnamed_column_holding_data_is_one_problem_at_its_position(cohort: Path) -> None:
    width = len((cohort / "mentees.csv").read_text(encoding="utf-8").splitlines()[0].split(","))
    _with_unnamed_columns(cohort / "mentees.csv", ["", "", "a note"])
    with pytest.raises(CohortInvalid) as raised:
        read_cohort_dir(cohort)
    found = [(p.code, p.message) for p in raised.value.problems]
    assert found == [(ProblemCode.MISSING_COLUMN,
                      f"column {width + 1} has no name in the header but holds data: name it or delete it")]


def test_several_unnamed_columns_each_holding_data_are_one_problem_each_at_their_places(cohort: Path) -> None:
    path = cohort / "mentees.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    width = len(lines[0].split(","))
    head = lines[0].split(",")
    head.insert(2, "")  # an unnamed column inside the header, and two at its end
    lines[0] = ",".join(head) + ",,"
    for k in range(1, len(lines)):
        cells = lines[k].split(",")
        cells.insert(2, "x" if k == 1 else "")
        lines[k] = ",".join(cells) + ("," + ",note" if k == 2 else ",,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CohortInvalid) as raised:
        read_cohort_dir(cohort)
    assert [p.message for p in raised.value.problems] == [
        f"column {n} has no name in the header but holds data: name it or delete it" for n in (3, width + 3)]


def test_a_cohort_written_over_an_earlier_one_reads_back_as_itself(tmp_path: Path) -> None:
    """`decide --out` into last round's folder: a table the new cohort has none of (rankings, history, decisions)
    must not stay behind as the earlier cohort's, to be read with the new one."""
    from dataclasses import replace

    from solver.decisions import without_decisions
    from solver.ingest import write_cohort_dir

    full = read_cohort_dir(SCENARIOS / "ibmp_year" / "q2")
    assert full.history and full.decisions
    write_cohort_dir(full, tmp_path / "round")
    (tmp_path / "round" / "rankings.csv").write_text("from_id,to_id,rank\nE1,M1,1\n", encoding="utf-8")  # a stray
    bare = replace(without_decisions(replace(full, history=())), decisions=())
    write_cohort_dir(bare, tmp_path / "round")
    write_cohort_dir(bare, tmp_path / "fresh")
    again, fresh = read_cohort_dir(tmp_path / "round"), read_cohort_dir(tmp_path / "fresh")
    assert (again.rankings, again.history, again.decisions) == ((), (), ())
    assert replace(again, name="") == replace(fresh, name="")

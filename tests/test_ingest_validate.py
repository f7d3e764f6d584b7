"""Reading cohort files and validating them: every problem at once, with a stable code and a place."""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.domain import Cohort, Language, Mentee, Mentor, Ranking, Rules
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.ingest import load_cohort, read_cohort_dir, write_cohort_dir
from solver.validate import validate
from tests.oracle import random_cohort


def small_cohort() -> Cohort:
    mentors = (
        Mentor("M1", 55.68, 12.57, ("2512",), (Language("da", 6), Language("en", 5)), years_experience=10),
        Mentor("M2", 55.77, 12.50, ("2141",), (Language("en", 5),), years_experience=3, capacity=2),
    )
    mentees = (
        Mentee("E1", 55.69, 12.55, ("2519",), (Language("en", 4),)),
        Mentee("E2", 55.76, 12.51, ("2144",), (Language("en", 3),)),
    )
    return Cohort(mentors, mentees, (Ranking("E1", "M1", 1),), Rules(max_distance_km=20.0), name="small")


def problems_of(directory: Path) -> list[Problem]:
    """The problems reading the cohort directory raises (the test fails if it reads)."""
    with pytest.raises(CohortInvalid) as caught:
        read_cohort_dir(directory)
    return caught.value.problems


def codes_of(directory: Path) -> list[ProblemCode]:
    return [p.code for p in problems_of(directory)]


def edit_csv(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_a_written_cohort_reads_back_unchanged(tmp_path: Path) -> None:
    cohort = small_cohort()
    write_cohort_dir(cohort, tmp_path / "small")
    assert read_cohort_dir(tmp_path / "small") == cohort


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), parquet=st.booleans())
def test_round_trip_files_and_protobuf_keep_every_field(tmp_path: Path, seed: int, parquet: bool) -> None:
    from server.convert import cohort_from_proto, cohort_to_proto

    cohort = random_cohort(random.Random(seed), 6, 5, side_constraints=True, rankings=True, pins=True)
    cohort = replace(cohort, name="rt")
    directory = write_cohort_dir(cohort, tmp_path / f"rt{seed}-{parquet}" / "rt", parquet=parquet)
    from_files = read_cohort_dir(directory)
    assert from_files == cohort
    assert cohort_from_proto(cohort_to_proto(from_files)) == from_files


def test_every_problem_is_reported_at_once_with_its_file_row_and_column(tmp_path: Path) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    edit_csv(directory / "mentees.csv", "E2,55.76", "E2,95.76")
    edit_csv(directory / "mentees.csv", "2144", "21X4")
    edit_csv(directory / "mentors.csv", "en:C1", "en:Q9")
    with pytest.raises(CohortInvalid) as caught:
        read_cohort_dir(directory)
    problems = caught.value.problems
    assert {p.code for p in problems} == {ProblemCode.COORDINATE_OUT_OF_RANGE, ProblemCode.MALFORMED_ISCO,
                                          ProblemCode.MALFORMED_CEFR}
    where = {p.code: p.location for p in problems}
    assert where[ProblemCode.COORDINATE_OUT_OF_RANGE] == "mentees.csv row 3, column lat"
    assert where[ProblemCode.MALFORMED_ISCO] == "mentees.csv row 3, column occupations"
    paths = {p.code: p.path for p in problems}
    assert paths[ProblemCode.MALFORMED_ISCO] == "mentees[1].occupations[0]"


CASES = {
    ProblemCode.MISSING_FILE: lambda d: (d / "mentors.csv").unlink(),
    ProblemCode.NOT_CSV: lambda d: (d / "mentees.csv").write_bytes(b"\x00\xff\xfe" * 50 + b'"\n"unterminated'),
    ProblemCode.MISSING_COLUMN: lambda d: edit_csv(d / "mentors.csv", "years_experience", "years"),
    ProblemCode.BAD_VALUE: lambda d: edit_csv(d / "mentors.csv", ",10,1,", ",ten,1,"),
    ProblemCode.EMPTY_ID: lambda d: edit_csv(d / "mentees.csv", "E1,", ","),
    ProblemCode.DUPLICATE_ID: lambda d: edit_csv(d / "mentees.csv", "E2,", "E1,"),
    ProblemCode.UNKNOWN_ID: lambda d: edit_csv(d / "rankings.csv", "E1,M1", "E1,M9"),
    ProblemCode.COORDINATE_OUT_OF_RANGE: lambda d: edit_csv(d / "mentors.csv", "12.57", "212.57"),
    ProblemCode.MALFORMED_ISCO: lambda d: edit_csv(d / "mentors.csv", "2512", "25"),
    ProblemCode.MALFORMED_LANGUAGE: lambda d: edit_csv(d / "mentees.csv", "en:B2", "english-B2"),
    ProblemCode.MALFORMED_CEFR: lambda d: edit_csv(d / "mentees.csv", "en:B2", "en:D1"),
    ProblemCode.MALFORMED_COUNTRY: lambda d: edit_csv(d / "mentees.csv", "E1,55.69,12.55,2519,en:B2,,,,,,,",
                                                      "E1,55.69,12.55,2519,en:B2,,,,,,,SYR"),
    ProblemCode.MALFORMED_GENDER: lambda d: edit_csv(d / "mentors.csv", "false,,", "false,woman,"),
    ProblemCode.NEGATIVE_CAPACITY: lambda d: edit_csv(d / "mentors.csv", ",3,2,", ",3,-2,"),
    ProblemCode.NEGATIVE_VALUE: lambda d: edit_csv(d / "mentors.csv", ",3,2,", ",-3,2,"),
    ProblemCode.INVALID_RANK: lambda d: edit_csv(d / "rankings.csv", "E1,M1,1", "E1,M1,0"),
    ProblemCode.INVALID_RULE: lambda d: edit_csv(d / "rules.toml", "field_depth = 2", "field_depth = 7"),
    ProblemCode.PIN_BANNED: lambda d: (d / "rules.toml").write_text(
        'pins = [["E1", "M1"]]\nbans = [["E1", "M1"]]\n'),
    ProblemCode.PIN_BREAKS_RULE: lambda d: (d / "rules.toml").write_text('pins = [["E1", "M2"]]\n'),
    ProblemCode.PINS_EXCEED_CAPACITY: lambda d: (d / "rules.toml").write_text(
        'field_depth = 1\npins = [["E1", "M1"], ["E2", "M1"]]\n'),
    ProblemCode.CONFLICTING_PINS: lambda d: (d / "rules.toml").write_text(
        'field_depth = 1\npins = [["E1", "M1"], ["E1", "M2"]]\n'),
}


@pytest.mark.parametrize("code", list(CASES), ids=lambda c: c.value)
def test_each_broken_cohort_gets_exactly_its_code(tmp_path: Path, code: ProblemCode) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    CASES[code](directory)
    found = codes_of(directory)
    assert code in found
    # One broken thing, one kind of problem (a missing id also makes the ranking that names it unknown).
    assert set(found) <= {code, ProblemCode.UNKNOWN_ID}


def test_a_pin_that_breaks_a_rule_names_the_rule(tmp_path: Path) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    (directory / "rules.toml").write_text('pins = [["E1", "M2"]]\n')
    with pytest.raises(CohortInvalid) as caught:
        read_cohort_dir(directory)
    (problem,) = caught.value.problems
    assert problem.path == "rules.pins[0]"
    assert "FIELD" in problem.message


def test_too_large_cohorts_are_refused_before_anything_else() -> None:
    problems = validate(small_cohort(), max_participants=3)
    assert [p.code for p in problems] == [ProblemCode.TOO_LARGE]


def test_unknown_rules_and_weights_are_named(tmp_path: Path) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    (directory / "rules.toml").write_text('max_distanse_km = 5\n[weights]\ntravl = 3\n')
    with pytest.raises(CohortInvalid) as caught:
        read_cohort_dir(directory)
    assert {p.path for p in caught.value.problems} == {"rules.max_distanse_km", "rules.weights.travl"}


def test_json_cohort_reads_like_the_directory(tmp_path: Path) -> None:
    from server.convert import cohort_to_json_text

    cohort = small_cohort()
    (tmp_path / "small.json").write_text(cohort_to_json_text(cohort))
    assert replace(load_cohort(tmp_path / "small.json"), name="small") == cohort


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, timeout=120)


def test_validate_command_prints_a_summary_or_every_problem(tmp_path: Path) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    ok = run_cli("validate", str(directory))
    assert ok.returncode == 0, ok.stderr
    assert "valid: 2 mentees, 2 mentors" in ok.stdout
    edit_csv(directory / "mentees.csv", "2144", "21X4")
    edit_csv(directory / "mentors.csv", "12.57", "212.57")
    bad = run_cli("validate", str(directory))
    assert bad.returncode == 2
    assert "MALFORMED_ISCO" in bad.stderr and "COORDINATE_OUT_OF_RANGE" in bad.stderr
    assert "Traceback" not in bad.stderr + bad.stdout


def test_a_missing_cohort_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    result = run_cli("solve", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "MISSING_FILE" in result.stderr
    assert "Traceback" not in result.stderr

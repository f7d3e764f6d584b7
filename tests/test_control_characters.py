"""Ids and labels holding terminal control characters are refused at the door, with their path: an escape sequence
printed verbatim would still recolour or move a coordinator's terminal."""

from __future__ import annotations

from pathlib import Path

from solver.domain import Cohort, Rules
from solver.ingest import write_cohort_dir
from solver.validate import validate
from tests.cli_support import run_cli
from tests.conftest import mentee, mentor

ESCAPE_ID = "E\x1b[31mRED"


def _cohort(mentee_id: str) -> Cohort:
    return Cohort((mentor("M1"),), (mentee(mentee_id, km_north=1.0),), (), Rules(max_distance_km=10.0), name="c")


def test_an_id_with_an_escape_sequence_is_refused_with_its_path() -> None:
    problems = validate(_cohort(ESCAPE_ID))
    assert [(p.code.value, p.path) for p in problems] == [("BAD_VALUE", "mentees[0].id")]
    assert "control character ('\\x1b')" in problems[0].message
    assert validate(_cohort("E-1 ÆØÅ")) == []  # letters beyond ASCII are fine


def test_the_command_line_refuses_it_and_prints_no_escape(tmp_path: Path) -> None:
    directory = write_cohort_dir(_cohort(ESCAPE_ID), tmp_path / "c")
    result = run_cli("validate", directory)
    assert result.returncode == 2, result.stderr
    assert "BAD_VALUE" in result.stderr and "control character" in result.stderr
    assert "\x1b" not in result.stdout + result.stderr


def test_a_what_if_label_with_a_control_character_is_refused(tmp_path: Path) -> None:
    write_cohort_dir(_cohort("E1"), tmp_path / "c")
    scenario = tmp_path / "bell.toml"
    scenario.write_text('label = "loud\\u0007"\ncohort = "c"\n')
    result = run_cli("compare", scenario, "--no-counterfactuals")
    assert result.returncode == 2, result.stderr
    assert "label" in result.stderr and "control character" in result.stderr
    assert "\x07" not in result.stdout + result.stderr

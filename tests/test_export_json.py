"""`mentormatch export-json` through the real entry point: the cohort as protobuf JSON (mentormatch.v1.Cohort) that
`solve` reads back to the same answer, on stdout without -o, and never written over an input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from mentormatch.v1 import cohort_pb2 as pb
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS

LYNGBY = SCENARIOS / "lyngby_career"


def _answer(done: Any) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    answer.pop("statistics", None)  # timings
    return answer


@pytest.mark.slow  # two solves through the CLI
def test_export_then_solve_equals_solving_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "cohort.json"
    done = run_cli("export-json", LYNGBY, "-o", target)
    assert done.returncode == 0, done.stderr
    message = json_format.Parse(target.read_text(encoding="utf-8"), pb.Cohort())  # the contract's JSON
    assert message.name == "lyngby_career" and message.mentors and message.mentees
    from_json = _answer(run_cli("solve", target, "--json", "--seed", "1"))
    from_folder = _answer(run_cli("solve", LYNGBY, "--json", "--seed", "1"))
    assert from_json == from_folder and from_json["matchings"]


def test_without_output_the_json_is_printed(tmp_path: Path) -> None:
    done = run_cli("export-json", LYNGBY)
    assert done.returncode == 0, done.stderr
    written = tmp_path / "cohort.json"
    assert run_cli("export-json", LYNGBY, "-o", written).returncode == 0
    assert done.stdout == written.read_text(encoding="utf-8")


def test_an_input_is_never_written_over(tmp_path: Path) -> None:
    source = tmp_path / "cohort.json"
    assert run_cli("export-json", LYNGBY, "-o", source).returncode == 0
    before = source.read_bytes()
    done = run_cli("export-json", source, "-o", source)
    assert done.returncode == 2 and "OVERWRITES_INPUT" in done.stderr and "Traceback" not in done.stderr
    assert source.read_bytes() == before
    done = run_cli("export-json", LYNGBY, "-o", LYNGBY / "mentors.csv")
    assert done.returncode == 2 and "OVERWRITES_INPUT" in done.stderr

"""The command line itself: `--version`, a `--help` that loads no engine (polars, OR-Tools, gRPC; how fast it then
answers is bench case H, `benchmarks/cli_start.py`, not a timed test), plain flags, pins marked in the table, one rounding of km, and a goal "supported" only when it is."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from typer.testing import CliRunner

from server import cli
from server.cli import split_list
from solver.domain import Cohort, Goal, Rules
from solver.ingest import write_cohort_dir
from tests.cli_support import cli_command, cli_env, run_cli
from tests.conftest import SCENARIOS, mentee, mentor

HEAVY = ("polars", "ortools", "grpc", "numpy", "pandas", "dask")  # and google.protobuf


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"mentormatch {version('mentormatch')}"


def _imports(*args: str) -> set[str]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "server.cli", *args], capture_output=True,
                          text=True, timeout=60, env=cli_env(), check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}


def test_help_loads_no_heavy_module() -> None:
    for args in (["--help"], ["solve", "--help"], ["compare", "--help"], ["speed-dating", "plan", "--help"],
                 ["--version"]):
        loaded = _imports(*args)
        assert not {m for m in loaded if m.split(".")[0] in HEAVY or m.startswith("google.protobuf")}, args


def test_flags_are_plain() -> None:
    for command in ("solve", "compare", "rematch", "rematch-batch", "why-not", "sweep", "demo", "serve"):
        helped = run_cli(command, "--help")
        assert helped.returncode == 0, helped.stderr
        assert "<bool>" not in helped.stdout, command
    solve = run_cli("solve", "--help").stdout
    assert "--explain / --no-explain" in solve and "--stable / --no-stable" in solve
    assert CliRunner().invoke(cli.app, ["solve", str(SCENARIOS / "lyngby_career"), "--no-explain", "-k", "1",
                                        "--json"]).exit_code == 0


def test_one_list_separator_everywhere() -> None:
    assert split_list("M1;M2") == split_list("M1,M2") == split_list(" M1 ; M2, ") == ["M1", "M2"]
    assert "separated by ';' or ','" in run_cli("rematch", "--help").stdout.replace("\n", " ")


def test_the_table_marks_pins() -> None:
    table = run_cli("solve", SCENARIOS / "lyngby_career", "-k", "1").stdout
    (pinned,) = [line for line in table.splitlines() if "pinned" in line]
    assert "E0012" in pinned and "M0013" in pinned  # rules.toml pins E0012-M0013


def _two_pairs(tmp_path: Path) -> Path:
    """E1 lives 3.1504 km from M1, whose mentor lists no goal; E2 is 1 km from M2, who lists E2's goal."""
    cohort = Cohort((mentor("M1", km_north=3.1504), mentor("M2", km_north=40.0, goals=(Goal.JOB,))),
                    (mentee("E1", goal=Goal.JOB), mentee("E2", km_north=41.0, goal=Goal.JOB)), (),
                    Rules(max_distance_km=10.0))
    return write_cohort_dir(cohort, tmp_path / "two")


def test_km_is_rounded_once_everywhere(tmp_path: Path) -> None:
    directory = _two_pairs(tmp_path)
    answer = json.loads(CliRunner().invoke(cli.app, ["solve", str(directory), "--json", "-k", "1"]).stdout)
    pair = next(p for p in answer["matchings"][0]["pairs"] if p["mentee_id"] == "E1")
    assert pair["distance_km"] == 3.2 and "3.2 km" in pair["reasons"]
    table = run_cli("solve", directory, "-k", "1", "--explain").stdout
    (row,) = [line for line in table.splitlines() if line.startswith("│ E1 ")]
    assert re.search(r"\b3\.2\b", row) and "3.1" not in row  # the km column and the reasons agree
    assert "3.1 km" not in table and "3.2 km" in table  # ... and so do the explanations


def test_a_goal_is_supported_only_when_the_mentor_lists_it(tmp_path: Path) -> None:
    answer = json.loads(CliRunner().invoke(cli.app, ["solve", str(_two_pairs(tmp_path)), "--json", "-k", "1"]).stdout)
    reasons = {p["mentee_id"]: p["reasons"] for p in answer["matchings"][0]["pairs"]}
    assert "supports her goal" in reasons["E2"]
    assert "open to any goal" in reasons["E1"] and "supports her goal" not in reasons["E1"]
    assert not any("goal supported" in r for rs in reasons.values() for r in rs)


def test_the_cli_runs_as_a_module_with_its_hooks(tmp_path: Path) -> None:
    # `python -m server.cli` is a second copy of the module: the explanations must still be registered on it.
    done = subprocess.run(cli_command("solve", _two_pairs(tmp_path), "--explain", "-k", "1"), capture_output=True,
                          text=True, timeout=120, env=cli_env(), check=False)
    assert done.returncode == 0 and "Why these pairs" in done.stdout, done.stderr

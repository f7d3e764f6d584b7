"""One result schema: `solve --json` prints the `MatchResponse` the `Match` RPC returns, in the same protobuf JSON
mapping, with numbers as JSON numbers; `--server` honours `--json`; an unreachable server is exit 3."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from server import cli
from server.client import MentormatchClient
from server.convert.results import response_json
from solver.domain import Cohort, GenderQuota, Rules
from solver.ingest import load_cohort, write_cohort_dir
from solver.solve import SolveOptions
from tests.cli_support import run_cli
from tests.conftest import BUNDLED, SCENARIOS, mentee, mentor

if TYPE_CHECKING:
    from server.app import RunningServer

TIMES = ("wall_time", "solve_time")  # how long this run took: the only fields two runs of one solve differ in


def without_times(text: str) -> dict[str, Any]:
    data = json.loads(text)
    for key in TIMES:
        data["statistics"].pop(key)
    return data


def numbers_that_are_strings(value: Any, path: str = "") -> list[str]:
    """Every field holding a number written as a JSON string (what int64 fields become in the mapping)."""
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in numbers_that_are_strings(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for k, v in enumerate(value) for p in numbers_that_are_strings(v, f"{path}[{k}]")]
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return [path]
    return []


@pytest.mark.parametrize("name", BUNDLED)
def test_cli_json_is_the_rpc_answer_for_every_bundled_scenario(shared_server: RunningServer, name: str) -> None:
    printed = CliRunner().invoke(cli.app, ["solve", str(SCENARIOS / name), "--json"])
    assert printed.exit_code == 0, printed.output
    with MentormatchClient(shared_server.address) as client:
        answered = client.match(load_cohort(SCENARIOS / name), SolveOptions())
    assert without_times(printed.stdout) == without_times(response_json(answered))
    data = json.loads(printed.stdout)
    assert data["status"] == "SOLVE_STATUS_OPTIMAL" and data["matchings"][0]["pairs"][0]["mentee_id"]
    assert numbers_that_are_strings(data) == []  # scores, points, objective values: JSON numbers
    first = data["matchings"][0]
    assert isinstance(first["pairs"][0]["score"], int) and isinstance(first["objective"]["value"], float)
    assert isinstance(data["statistics"]["candidate_pairs"], int)


def test_remote_solve_prints_the_same_json_and_a_table_without_json(shared_server: RunningServer) -> None:
    lyngby = SCENARIOS / "lyngby_career"
    local = run_cli("solve", lyngby, "-k", "2", "--json")
    remote = run_cli("solve", lyngby, "-k", "2", "--json", "--server", shared_server.address)
    assert local.returncode == 0 and remote.returncode == 0, local.stderr + remote.stderr
    assert without_times(remote.stdout) == without_times(local.stdout)
    table = run_cli("solve", lyngby, "-k", "2", "--server", shared_server.address)
    assert table.returncode == 0, table.stderr
    assert "Matching 1: 13/15 matched" in table.stdout and not table.stdout.lstrip().startswith("{")


def test_an_unreachable_server_is_a_clear_message_and_exit_3() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("solve", SCENARIOS / "lyngby_career", "--server", f"127.0.0.1:{port}", "--time-limit", "2")
    assert result.returncode == cli.EXIT_UNAVAILABLE == 3
    assert f"the mentormatch server at 127.0.0.1:{port} cannot be reached" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_an_infeasible_answer_has_no_bound(tmp_path: Path) -> None:
    # Two women mentors, a quota of three pairs with women mentors: no matching meets it.
    cohort = Cohort((mentor("M1", gender="f"), mentor("M2", gender="f")), (mentee("E1"), mentee("E2")), (),
                    Rules(gender_quotas=(GenderQuota("f", 3, None),)))
    directory = write_cohort_dir(cohort, tmp_path / "infeasible")
    data = json.loads(CliRunner().invoke(cli.app, ["solve", str(directory), "--json"]).stdout)
    assert data["status"] == "SOLVE_STATUS_INFEASIBLE" and data["matchings"] == []
    assert "objective_bound" not in data and "objective_value" not in data
    table = CliRunner().invoke(cli.app, ["solve", str(directory)])
    assert "INFEASIBLE" in table.stdout and "bound" not in table.stdout

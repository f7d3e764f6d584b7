"""`mentormatch shortlist` through the real entry point: the RPC's answer as --json (one schema), tables for
people, the two sheets of -o, and bad options and outputs refused with exit 2 before anything is computed."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import grpc

from mentormatch.v1 import matching_pb2 as mpb
from mentormatch.v1 import shortlist_pb2 as slpb
from mentormatch.v1 import shortlist_pb2_grpc as slgrpc
from server.app import RunningServer
from server.convert.results import response_dict
from solver.cohort_proto import cohort_to_proto
from solver.ingest import load_cohort
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS

LYNGBY = SCENARIOS / "lyngby_career"


def _without_timings(answer: dict[str, object]) -> dict[str, object]:
    statistics = dict(answer["statistics"])  # type: ignore[call-overload]
    statistics.pop("wall_time")
    statistics.pop("costs_time")
    return {**answer, "statistics": statistics}


def test_json_is_the_rpc_s_answer(shared_server: RunningServer) -> None:
    done = run_cli("shortlist", LYNGBY, "--size", "3", "--side", "mentor", "--max-lists-per-mentee", "2", "--json")
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    with grpc.insecure_channel(shared_server.address) as channel:
        answer = slgrpc.ShortlistServiceStub(channel).Shortlist(slpb.ShortlistRequest(
            cohort=cohort_to_proto(load_cohort(LYNGBY)), size=3, side=mpb.SIDE_MENTOR, max_lists=2), timeout=60)
    assert _without_timings(printed) == _without_timings(response_dict(answer))
    assert printed["side"] == "SIDE_MENTOR" and printed["max_lists"] == 2 and printed["complete"] is True
    assert all(c["kind"] == "CLASH_KIND_MENTEE" for c in printed["clashes"])


def test_the_table_shows_every_list_and_every_clash() -> None:
    done = run_cli("shortlist", LYNGBY)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "lyngby_career: OPTIMAL" in out and "in the optimum" in out and "pinned" in out
    assert "mentor M0001 has 1 seat and is on the lists of E0001" in out
    assert "no allowed partner under the hard rules" in out  # E0009 and E0013
    for mentee in ("E0001", "E0008", "E0015"):
        assert mentee in out


def test_output_files_hold_the_proposals_and_the_clashes(tmp_path: Path) -> None:
    target = tmp_path / "lists.csv"
    done = run_cli("shortlist", LYNGBY, "--json", "-o", target)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    with (tmp_path / "lists.proposals.csv").open(encoding="utf-8") as handle:
        proposals = list(csv.DictReader(handle))
    with (tmp_path / "lists.clashes.csv").open(encoding="utf-8") as handle:
        clashes = list(csv.DictReader(handle))
    assert len(proposals) == sum(len(x.get("proposals", [])) for x in answer["lists"])
    assert len(clashes) == len(answer["clashes"])
    first = next(p for p in proposals if p["rank"] == "2")
    assert int(first["cost"]) > 0 and first["changes"] and first["why_this_pair"].startswith(first["mentee_id"])
    assert {c["kind"] for c in clashes} == {"MENTOR_SEATS"}
    assert all(" has 1 seat" in c["sentence"] for c in clashes)


def test_bad_options_and_unwritable_outputs_are_exit_2_with_every_problem(tmp_path: Path) -> None:
    folder = tmp_path / "lists.xlsx"
    folder.mkdir()
    done = run_cli("shortlist", LYNGBY, "--size", "11", "--max-lists", "0", "-o", folder)
    assert done.returncode == 2
    for problem in ("--size: BAD_VALUE", "--max-lists: BAD_VALUE", "NOT_A_FILE"):
        assert problem in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout
    done = run_cli("shortlist", LYNGBY, "-o", tmp_path / "lists.txt")
    assert done.returncode == 2 and "tables are written as" in done.stderr


def test_option_and_cohort_problems_are_listed_together(tmp_path: Path) -> None:
    """A cohort with a problem and every kind of bad option (beyond the maximum, below one, a zero time limit, an
    unknown side): one report with all of them, exit 2, as the Shortlist RPC lists the request's problems."""
    broken = tmp_path / "cohort"
    shutil.copytree(LYNGBY, broken)
    mentors = (broken / "mentors.csv").read_text(encoding="utf-8").splitlines()
    header = mentors[0].split(",")
    row = mentors[1].split(",")
    row[header.index("capacity")] = "-3"
    (broken / "mentors.csv").write_text("\n".join([mentors[0], ",".join(row), *mentors[2:]]) + "\n",
                                        encoding="utf-8")
    done = run_cli("shortlist", broken, "--size", "11", "--max-lists", "0", "--time-limit", "0", "--side", "both")
    assert done.returncode == 2, done.stderr
    for problem in ("--size: BAD_VALUE", "--max-lists: BAD_VALUE", "--time-limit: BAD_VALUE", "--side: BAD_VALUE",
                    "capacity"):
        assert problem in done.stderr, (problem, done.stderr)
    assert "Traceback" not in done.stderr and "Usage:" not in done.stderr and not done.stdout

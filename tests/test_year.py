"""A year of IBMP intakes from files alone (scenarios/ibmp_year): intake 1 matched, drop-outs and outcomes
recorded, intake 2 matched with the running pairs kept, returning mentors, no pair twice, who waited first; and
`solve` and `rematch` writing the next current.csv the same way."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scenarios.year import EARLIER_FILE, build, earlier_years
from solver.ingest import load_cohort
from solver.outcomes import read_history_file

ROOT = Path(__file__).resolve().parent.parent
YEAR = ROOT / "scenarios" / "ibmp_year"
CLI = str(Path(sys.executable).parent / "mentormatch")


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str | Path) -> Run:
    """`mentormatch ARGS` in process: the real command line (typer, every command registered), without a new
    interpreter's start-up; an exception that escapes a command fails the test (it would be a traceback)."""
    from server import cli

    if not any(c.name == "intake" for c in cli.app.registered_commands):
        cli._register_optional()
    result = CliRunner(env={"COLUMNS": "250"}).invoke(cli.app, [str(a) for a in args], catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`mentormatch ARGS` as a coordinator runs it: a new process through the installed entry point."""
    done = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "COLUMNS": "250"})
    assert "Traceback" not in done.stderr, done.stderr
    return done


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def pairs_of(path: Path) -> set[tuple[str, str]]:
    return {(r["mentee_id"], r["mentor_id"]) for r in rows(path)}


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The year run once from the bundled files: intake 1, the coordinator's records, intake 2."""
    work = tmp_path_factory.mktemp("year")
    q1 = shutil.copytree(YEAR / "q1", work / "q1")
    first = run("intake", q1, "--out-history", work / "after_q1_history.csv", "--out-current",
                work / "after_q1_current.csv", "--json")
    assert first.returncode == 0, first.stderr
    # The coordinator's folder for intake 2: the bundled one, whose history.csv is intake 1's as written, with the
    # drop-outs and the job recorded (checked below).
    q2 = shutil.copytree(YEAR / "q2", work / "q2")
    second = run("intake", q2, "--out-history", work / "after_q2_history.csv", "--out-current",
                 work / "after_q2_current.csv", "--json")
    assert second.returncode == 0, second.stderr
    return {"work": work, "first": json.loads(first.stdout), "second": json.loads(second.stdout)}


def test_intake_1_is_matched_and_its_files_are_the_next_intakes_input(year: dict[str, object]) -> None:
    work, first = year["work"], year["first"]
    assert isinstance(work, Path) and isinstance(first, dict)
    assert first["result"]["matched"] == 17 and first["result"]["mentees"] == 20
    written = rows(work / "after_q1_history.csv")
    assert len(written) == 17 and {r["started"] for r in written} == {"2026-01-15"}
    assert {r["ended"] for r in written} == {""} and {r["programme"] for r in written} == {"IBMP 2026"}
    assert pairs_of(work / "after_q1_current.csv") == {(r["mentee_id"], r["mentor_id"]) for r in written}
    # The bundled intake 2 holds exactly that history, with three pairs' ends recorded by the coordinator.
    recorded = rows(YEAR / "q2" / "history.csv")
    changed = [(w, r) for w, r in zip(written, recorded, strict=True) if w != r]
    assert [(r["outcome"], r["ended"]) for _, r in changed] == [
        ("dropped_out", "2026-02-20"), ("dropped_out", "2026-03-02"), ("job", "2026-03-27")]
    assert all({k: v for k, v in w.items() if k not in ("ended", "outcome")}
               == {k: v for k, v in r.items() if k not in ("ended", "outcome")} for w, r in changed)


def test_intake_2_keeps_the_running_pairs_and_repeats_no_pair(year: dict[str, object]) -> None:
    second = year["second"]
    assert isinstance(second, dict)
    history = rows(YEAR / "q2" / "history.csv")
    running = {(r["mentee_id"], r["mentor_id"]) for r in history if not r["ended"]}
    met = {(r["mentee_id"], r["mentor_id"]) for r in history if r["ended"]}
    changes = second["result"]["changes"]
    kept = {(c["mentee_id"], c["mentor_id"]) for c in changes if c["kind"] == "KEPT"}
    ended = [(c["mentee_id"], c["mentor_id"], c["detail"]) for c in changes if c["kind"] == "ENDED"]
    new = {(c["mentee_id"], c["mentor_id"]) for c in changes if c["kind"] == "NEW"}
    # Every running pair stays, but the one whose mentor leaves at the end of March (available_until).
    assert ended == [("E0005", "M0004", "no longer allowed: AVAILABILITY")]
    assert kept == running - {("E0005", "M0004")}
    assert not new & met  # no pair of an earlier round again: the mentee whose pair broke up has another mentor
    broke_up = next((a, b) for a, b in met if a == "E0003")
    assert broke_up[0] in {a for a, _ in new} and broke_up not in new
    assert {a for a, _ in new}.isdisjoint({a for a, _ in kept})


def test_intake_2_gives_freed_places_to_returning_mentors(year: dict[str, object]) -> None:
    work, second = year["work"], year["second"]
    assert isinstance(work, Path) and isinstance(second, dict)
    history = rows(YEAR / "q2" / "history.csv")
    freed = {r["mentor_id"] for r in history if r["ended"]}  # their mentee moved away, broke up, found a job
    assert len(freed) == 3 and freed <= set(second["returning_matched"])  # each takes a newcomer
    # ... and scores as returning (README: a mentor with a pair in the history), which intake 1 did not know.
    before = {r["mentor_id"]: r["term_returning"] for r in rows(YEAR / "q2" / "history.csv")}
    after = {r["mentor_id"]: r["term_returning"] for r in rows(work / "after_q2_history.csv")
             if r["started"] == "2026-04-15"}
    assert {after[m] for m in freed} == {"100"} and {before[m] for m in freed} != {"100"}


def test_intake_2_matches_who_waited_first(year: dict[str, object]) -> None:
    second = year["second"]
    assert isinstance(second, dict)
    q2 = load_cohort(YEAR / "q2")
    first_intake = {m.id for m in load_cohort(YEAR / "q1").mentees}
    waiting = {w["mentee_id"]: w for w in second["waiting"]}
    unmatched = {u["mentee_id"]: u["reason"] for u in second["result"]["unmatched"]}
    # Everyone from intake 1 who needs a mentor and has an allowed one gets one: the mentee intake 1 could not
    # match (E0001), the one whose pair broke up (E0003), the one whose mentor left (E0005).
    for mentee_id in ("E0001", "E0003", "E0005"):
        assert mentee_id in first_intake and waiting[mentee_id]["mentor_id"], waiting[mentee_id]
        assert waiting[mentee_id]["months"] >= 3
    # Whoever is left out for want of a place waited less than anyone matched in her stead.
    short = [m for m, reason in unmatched.items() if reason == "CANDIDATES_ALL_TAKEN"]
    assert short and all(waiting[m]["priority"] == 1 for m in short)
    priorities = dict(zip((m.id for m in q2.mentees), q2.priorities(), strict=True))
    assert max(priorities[m] for m in short) < max(w["priority"] for w in waiting.values() if w["mentor_id"])


def test_intake_2_honours_the_answers_and_writes_the_next_files(year: dict[str, object]) -> None:
    work, second = year["work"], year["second"]
    assert isinstance(work, Path) and isinstance(second, dict)
    pairs = {(p["mentee_id"], p["mentor_id"]) for p in second["result"]["pairs"]}
    assert ("E0022", "M0027") not in pairs and ("E0023", "M0013") in pairs  # declined by her; accepted
    assert pairs_of(work / "after_q2_current.csv") == pairs
    history = rows(work / "after_q2_history.csv")
    new = [r for r in history if r["started"] == "2026-04-15"]
    assert {(r["mentee_id"], r["mentor_id"]) for r in new} == {
        (c["mentee_id"], c["mentor_id"]) for c in second["result"]["changes"] if c["kind"] == "NEW"}
    assert next(r for r in history if r["mentor_id"] == "M0004")["ended"] == "2026-04-15"  # ended by this intake
    assert all(r["term_field"] != "" and r["score"] != "" for r in new)  # recorded for the outcomes report


def test_the_year_files_are_the_generators() -> None:
    """scenarios/ibmp_year is what `python -m scenarios.year` writes (same seed, same files)."""
    q1, q2 = build()
    assert load_cohort(YEAR / "q1") == q1 and load_cohort(YEAR / "q2") == q2
    assert read_history_file(YEAR / EARLIER_FILE) == earlier_years()


def test_outcomes_of_the_year_say_the_data_are_too_few(year: dict[str, object]) -> None:
    work = year["work"]
    assert isinstance(work, Path)
    report = work / "outcomes.html"
    done = run("outcomes", YEAR / "q2", "--json", "--report", report)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["finished"] == 3 and data["outcomes"] == {"dropped_out": 2, "job": 1}
    assert {t["verdict"] for t in data["terms"]} == {"too_few"}
    assert report.read_text().count("too few data to suggest anything") == len(data["terms"])
    table = run("outcomes", work / "after_q2_history.csv")
    assert table.returncode == 0 and "too few data" in table.stdout


@pytest.mark.slow  # three commands, each a new process as a coordinator runs them
def test_solve_and_rematch_write_the_same_next_current(tmp_path: Path) -> None:
    q1 = shutil.copytree(YEAR / "q1", tmp_path / "q1")
    solved = run_process("solve", q1, "-k", "1", "--out-current", tmp_path / "current.csv")
    assert solved.returncode == 0, solved.stderr
    again = run_process("rematch", q1, tmp_path / "current.csv", "--out-current", tmp_path / "next.csv")
    assert again.returncode == 0, again.stderr
    assert pairs_of(tmp_path / "current.csv") == pairs_of(tmp_path / "next.csv")
    assert len(pairs_of(tmp_path / "current.csv")) == 17
    over = run_process("solve", q1, "--out-current", q1 / "mentors.csv")
    assert over.returncode == 2 and "OVERWRITES_INPUT" in over.stderr
    assert (q1 / "mentors.csv").read_bytes() == (YEAR / "q1" / "mentors.csv").read_bytes()

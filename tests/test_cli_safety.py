"""The command line with hostile data and failing disks: data printed as text, files written whole and never over
an input, Ctrl-C answered with what the solver has. Every test runs the real `mentormatch` in a subprocess."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from solver.domain import Cohort, Rules
from solver.ingest import write_cohort_dir
from tests.cli_support import cli_command, cli_env, cpu_seconds, run_cli
from tests.conftest import SCENARIOS, mentee, mentor, slow_cohort

MARKUP_IDS = ("E[/x]1", "[bold red on white]E0002", "E:thumbs_up:3", "E[link=https://x.test]4[/link]")
MARKUP_MENTORS = ("M[/]1", "[red]M2", "M:smile:3", "M4")


def markup_cohort(directory: Path) -> Path:
    """Four pairs, each mentee 1 km from her mentor (and far from the others), every id looking like rich markup."""
    mentors = tuple(mentor(m, km_north=40.0 * k, capacity=1) for k, m in enumerate(MARKUP_MENTORS))
    mentees = tuple(mentee(e, km_north=40.0 * k + 1.0) for k, e in enumerate(MARKUP_IDS))
    return write_cohort_dir(Cohort(mentors, mentees, (), Rules(max_distance_km=10.0), name="markup"), directory)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


# Data printed as text -------------------------------------------------------------------------------------


def test_ids_that_look_like_markup_are_printed_verbatim(tmp_path: Path) -> None:
    cohort = markup_cohort(tmp_path / "markup")
    result = run_cli("solve", cohort, "-k", "1", "--explain")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    for id_ in MARKUP_IDS + MARKUP_MENTORS:
        assert id_ in result.stdout, id_
    assert "👍" not in result.stdout and "😄" not in result.stdout  # emoji codes stay codes

    verdict = run_cli("why-not", cohort, MARKUP_IDS[0], MARKUP_MENTORS[1])
    assert_no_traceback(verdict)
    assert verdict.returncode == 0, verdict.stderr
    assert f"{MARKUP_IDS[0]} x {MARKUP_MENTORS[1]}" in verdict.stdout


def test_problems_with_markup_in_them_are_listed_verbatim(tmp_path: Path) -> None:
    cohort = markup_cohort(tmp_path / "markup")
    mentees = cohort / "mentees.csv"
    mentees.write_text(mentees.read_text().replace("E:thumbs_up:3", "E[/x]1"))  # the same id twice
    result = run_cli("validate", cohort)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "DUPLICATE_ID" in result.stderr and "id 'E[/x]1' is used more than once" in result.stderr


def test_the_server_error_message_is_printed_as_text() -> None:
    # The message of this failure holds the address as given, which looks like markup; the handler used to choke.
    result = run_cli("solve", "--server", "[/x]:1", SCENARIOS / "lyngby_career")
    assert_no_traceback(result)
    assert result.returncode == 3  # the server cannot be reached (README, exit codes)
    assert "server unavailable" in result.stderr and "the mentormatch server at [/x]:1 cannot be reached" in (
        result.stderr.replace("\n", ""))


def test_a_what_if_label_that_looks_like_markup_is_printed_verbatim(tmp_path: Path) -> None:
    cohort = markup_cohort(tmp_path / "markup")
    base = tmp_path / "base.toml"
    base.write_text('label = "[/x]"\ncohort = "markup"\n')
    wider = tmp_path / "wider.toml"
    wider.write_text('label = "[bold]wider[/bold]"\ncohort = "markup"\n[rules]\nmax_distance_km = 50\n')
    result = run_cli("compare", base, wider, "--no-counterfactuals")
    assert_no_traceback(result)
    assert result.returncode == 0, result.stderr
    assert "[/x]" in result.stdout and "[bold]wider[/bold]: max_distance_km: 10 -> 50" in result.stdout
    assert cohort.is_dir()


# Files written whole, never over an input -------------------------------------------------------------------


def whatif(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of lyngby_career with a base and a what-if scenario beside it: (cohort, base.toml, what-if.toml)."""
    cohort = tmp_path / "lyngby"
    shutil.copytree(SCENARIOS / "lyngby_career", cohort)
    base = tmp_path / "base.toml"
    base.write_text('label = "as planned"\ncohort = "lyngby"\n')
    wider = tmp_path / "wider.toml"
    wider.write_text('label = "40 km"\ncohort = "lyngby"\n[rules]\nmax_distance_km = 40\n')
    return cohort, base, wider


def test_a_report_write_that_fails_leaves_the_old_report_intact(tmp_path: Path) -> None:
    _, base, wider = whatif(tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()
    report = reports / "report.html"
    old = b"<html>last week's report</html>\n" * 8
    report.write_bytes(old)

    def small_disk() -> None:  # a real write failure (EFBIG, as ENOSPC on a full disk) after 8 KiB
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    result = run_cli("compare", base, wider, "--no-counterfactuals", "--report", report, preexec_fn=small_disk)
    assert_no_traceback(result)
    assert result.returncode == 1
    assert "cannot write the report" in result.stderr and "unchanged" in result.stderr
    assert report.read_bytes() == old
    assert sorted(p.name for p in reports.iterdir()) == ["report.html"]  # no temporary file left behind

    written = run_cli("compare", base, wider, "--no-counterfactuals", "--report", report)
    assert written.returncode == 0, written.stderr
    assert report.read_text().endswith("</html>\n") and "40 km" in report.read_text()


@pytest.mark.slow  # three compares, ~17 s; the failing write above covers the default run
def test_a_report_write_killed_midway_leaves_the_old_or_the_new_report(tmp_path: Path) -> None:
    _, base, wider = whatif(tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()
    report = reports / "report.html"
    old = b"<html>last week's report</html>\n"
    outcomes: list[bool] = []
    while len(outcomes) < 10 and not any(outcomes):  # until a kill lands inside a write (a loaded machine may miss)
        report.write_bytes(old)
        before = report.stat()
        process = subprocess.Popen(cli_command("compare", base, wider, "--no-counterfactuals", "--report", report),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env())
        # Kill the moment the write shows: a temporary file appears, or the report itself changes.
        while process.poll() is None:
            entries = os.listdir(reports)
            now = report.stat()
            if len(entries) > 1 or (now.st_mtime_ns, now.st_size, now.st_ino) != (
                    before.st_mtime_ns, before.st_size, before.st_ino):
                process.kill()
                break
        process.wait(60)
        content = report.read_bytes()
        assert content == old or (content.startswith(b"<!DOCTYPE html>") and content.endswith(b"</html>\n"))
        outcomes.append(content == old)
        for leftover in reports.iterdir():  # a killed writer cannot clean up; its temporary file is hidden
            if leftover != report:
                assert leftover.name.startswith(".report.html.") and leftover.name.endswith(".tmp")
                leftover.unlink()
    assert any(outcomes), "never caught a write in progress: the test did not test"


@pytest.mark.parametrize("target", ["mentors.csv", "rules.toml", "base.toml", "wider.toml", "link to mentors.csv",
                                    "hard link to rankings.csv", "the cohort directory"])
def test_a_report_over_an_input_is_refused_before_solving(tmp_path: Path, target: str) -> None:
    cohort, base, wider = whatif(tmp_path)
    paths = {"mentors.csv": cohort / "mentors.csv", "rules.toml": cohort / "rules.toml", "base.toml": base,
             "wider.toml": wider, "the cohort directory": cohort}
    if target == "link to mentors.csv":
        paths[target] = tmp_path / "report.html"
        paths[target].symlink_to(cohort / "mentors.csv")
    if target == "hard link to rankings.csv":
        paths[target] = tmp_path / "report.html"
        os.link(cohort / "rankings.csv", paths[target])
    path = paths[target]
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    before = {p: p.read_bytes() for p in files}
    started = time.monotonic()
    result = run_cli("compare", base, wider, "--report", path)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert ("OVERWRITES_INPUT" if target != "the cohort directory" else "NOT_A_FILE") in result.stderr
    assert str(path) in result.stderr
    assert {p: p.read_bytes() for p in files} == before
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files
    assert time.monotonic() - started < 60  # refused before the counterfactual re-solves, not after


# Ctrl-C ----------------------------------------------------------------------------------------------------


def test_ctrl_c_prints_the_matching_so_far_marked_interrupted_and_exits_130(tmp_path: Path) -> None:
    # Rank-maximal on the slow cohort, 3 matchings: the best is found (and, its gender quota nesting in the flow,
    # proven) within a second; the alternatives then search for the whole limit.
    cohort = write_cohort_dir(slow_cohort(), tmp_path / "slow")
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:  # files, not pipes: a full pipe would block the answer
        process = subprocess.Popen(cli_command("solve", cohort, "--mode", "rank_maximal", "-k", "3", "--time-limit",
                                               "300", "--json"), stdout=stdout, stderr=stderr, env=cli_env())
        # Import and reading take ~1.5 s of CPU: at 4 s the search is under way, however loaded the machine is.
        while process.poll() is None and cpu_seconds(process.pid) < 4.0:
            time.sleep(0.05)
        assert process.poll() is None, f"the solve ended before it could be interrupted: {err.read_text()}"
        process.send_signal(signal.SIGINT)
        interrupted_at = time.monotonic()
        process.wait(60)
    stopped_within = time.monotonic() - interrupted_at
    assert process.returncode == 130, err.read_text()
    assert stopped_within < 10
    assert "Traceback" not in err.read_text() and "interrupted" in err.read_text()
    answer = json.loads(out.read_text())  # the MatchResponse so far: marked by its note and the exit code 130
    assert any("interrupted (Ctrl-C)" in note for note in answer["notes"])
    # The status is the best matching's: proven (OPTIMAL) or not (FEASIBLE); either way the matching so far is there.
    assert answer["status"] in ("SOLVE_STATUS_OPTIMAL", "SOLVE_STATUS_FEASIBLE") and answer["matchings"][0]["pairs"]

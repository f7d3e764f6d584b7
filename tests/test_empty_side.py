"""A cohort with nobody on one side (a mentors.csv saved without its rows, a platform sending mentees only): the
answer says so once. A warning when nothing names that side (solved, nobody matched); one EMPTY_SIDE problem in
place of an UNKNOWN_ID per ranking, pin or ban naming that side; an unknown id that cannot be of the empty side is
still reported as such. Real server on loopback, and the command line on files."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from mentormatch.v1 import matching_pb2 as mpb
from server.client import MentormatchClient, RemoteError
from solver.domain import Cohort, Ranking, Rules
from solver.ingest import write_cohort_dir
from solver.solve import SolveOptions
from tests.cli_support import run_cli
from tests.conftest import mentee, mentor

ONE = SolveOptions(alternatives=1, time_limit_s=10)


def _mentees_only(**rules: object) -> Cohort:
    mentees = tuple(mentee(f"E{j}", km_north=j) for j in range(4))
    return Cohort((), mentees, rules=Rules(**rules), name="no mentors")  # type: ignore[arg-type]


def _named_mentors(cohort: Cohort) -> Cohort:
    """Each mentee ranks two mentors that are not there, and a pin and a ban name a third."""
    rankings = tuple(Ranking(m.id, f"M{j}", rank) for m in cohort.mentees for rank, j in ((1, 1), (2, 2)))
    return Cohort((), cohort.mentees, rankings,
                  rules=Rules(pins=(("E0", "M3"),), bans=(("E1", "M3"),)), name="names nobody")


def test_a_cohort_without_mentors_is_solved_with_one_warning(client: MentormatchClient) -> None:
    answer = client.match(_mentees_only(), ONE)
    assert answer.status == mpb.SOLVE_STATUS_OPTIMAL
    assert [len(m.pairs) for m in answer.matchings] == [0]
    assert [(mpb.ProblemCode.Name(w.code), w.field_path) for w in answer.warnings] == [
        ("PROBLEM_CODE_EMPTY_SIDE", "cohort.mentors")]


def test_references_to_an_empty_side_are_one_problem_not_one_per_reference(client: MentormatchClient) -> None:
    cohort = _named_mentors(_mentees_only())
    with pytest.raises(RemoteError) as caught:
        client.match(cohort, ONE)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    (only,) = caught.value.violations  # 8 rankings, a pin and a ban name mentors: one problem, not ten
    path, description = only
    assert path == "cohort.mentors" and description.startswith("EMPTY_SIDE") and "10 references" in description


def test_an_unknown_id_of_the_side_with_people_is_still_reported(client: MentormatchClient) -> None:
    cohort = _named_mentors(_mentees_only())
    typo = Cohort((), cohort.mentees, cohort.rankings, rules=Rules(pins=(("E0", "M3"), ("E9", "M4"))))
    with pytest.raises(RemoteError) as caught:
        client.match(typo, ONE)
    found = dict(caught.value.violations)
    assert found["cohort.rules.pins[1].mentee_id"].startswith("UNKNOWN_ID") and "'E9'" in found[
        "cohort.rules.pins[1].mentee_id"]
    assert found["cohort.mentors"].startswith("EMPTY_SIDE")
    assert set(found) == {"cohort.mentors", "cohort.rules.pins[1].mentee_id"}


def test_a_mentors_file_without_rows_gives_one_line(tmp_path: Path) -> None:
    full = Cohort((mentor("M1"), mentor("M2")), _mentees_only().mentees,
                  tuple(Ranking(f"E{j}", "M1", 1) for j in range(4)), rules=Rules(pins=(("E0", "M2"),)))
    directory = tmp_path / "cohort"
    write_cohort_dir(full, directory)
    mentors_csv = directory / "mentors.csv"
    mentors_csv.write_text(mentors_csv.read_text().splitlines()[0] + "\n")  # the header only, as a sheet saved empty
    done = run_cli("validate", directory)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "EMPTY_SIDE" in line or "UNKNOWN_ID" in line]
    assert len(lines) == 1 and "no mentors at all" in lines[0] and "5 references" in lines[0], done.stderr
    (directory / "rankings.csv").unlink()
    (directory / "rules.toml").write_text("")
    solved = run_cli("solve", directory, "-k", "1")
    assert solved.returncode == 0, solved.stderr
    assert "warning: mentors: EMPTY_SIDE: there are no mentors: nobody can be matched" in solved.stderr
    assert "0/4 matched" in solved.stdout


def test_with_both_sides_empty_each_side_counts_its_own_references(client: MentormatchClient) -> None:
    named = _named_mentors(_mentees_only())  # 8 rankings, a pin and a ban: each names one mentee and one mentor
    nobody = Cohort((), (), named.rankings, rules=named.rules)
    with pytest.raises(RemoteError) as caught:
        client.match(nobody, ONE)
    found = dict(caught.value.violations)
    assert set(found) == {"cohort.mentors", "cohort.mentees"}
    assert "10 references" in found["cohort.mentors"] and "10 references" in found["cohort.mentees"]

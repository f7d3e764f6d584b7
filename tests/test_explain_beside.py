"""Re-solves of the unmatched shared with a forked child (`ExplainOptions.processes`, the command line's choice):
the explanation is the one made person after person, whatever the budget, and the work really is shared."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest

import solver.explain.matchings as matchings
from solver.explain import ExplainOptions, explain
from solver.ingest import load_cohort
from solver.solve import SolveOptions, SolveResult, solve
from solver.stop import forking_works
from tests.conftest import SCENARIOS

pytestmark = pytest.mark.skipif(not forking_works() or len(os.sched_getaffinity(0)) < 2,
                                reason="needs fork and two cores")


@pytest.fixture(scope="module")
def kvinfo() -> SolveResult:
    return solve(load_cohort(SCENARIOS / "kvinfo_network"), SolveOptions(alternatives=3))


def _pids_of_resolves(monkeypatch: pytest.MonkeyPatch, log: Path) -> None:
    """Each person's re-solves write the process that made them to `log` (the child's writes land there too)."""
    made = matchings.resolve_person

    def resolve_person(*args: object, **kwargs: object) -> matchings.Resolves:
        with log.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return made(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(matchings, "resolve_person", resolve_person)


def test_shared_with_a_child_the_explanation_is_the_one_made_in_turn(kvinfo: SolveResult, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    alone = explain(kvinfo, ExplainOptions(max_people=20))
    log = tmp_path / "pids"
    _pids_of_resolves(monkeypatch, log)
    shared = explain(kvinfo, ExplainOptions(max_people=20, processes=2))
    assert shared == alone
    pids = log.read_text().split()
    assert len(pids) == 20  # each of the 20 deep people re-solved once, in one process or the other
    assert len(set(pids)) == 2  # both sides took people from the queue (each takes the next one left)
    best = shared.matchings[0]
    people = best.unmatched_mentees + best.mentors_without_mentee
    assert sum(len(p.counterfactuals) for p in people) > 0 and any(p.forced_in is not None for p in people)


@pytest.mark.parametrize("resolves", [1, 7, 40])
def test_a_budget_that_runs_out_gives_the_same_people_their_re_solves(kvinfo: SolveResult, resolves: int) -> None:
    """The re-solve budget (`max_resolves`) goes to the people in their order: shared or not, the same people get
    their counterfactuals and forced-in costs, the later ones not, with the same note."""
    options = ExplainOptions(max_people=20, max_resolves=resolves)
    alone = explain(kvinfo, options)
    shared = explain(kvinfo, replace(options, processes=2))
    assert shared == alone
    assert any("budget ran out" in note for note in alone.notes)


def test_one_process_where_asked_for_one(kvinfo: SolveResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "pids"
    _pids_of_resolves(monkeypatch, log)
    explain(kvinfo, ExplainOptions(max_people=6))
    assert set(log.read_text().split()) == {str(os.getpid())}


def test_a_deadline_mid_way_ends_both_sides(kvinfo: SolveResult) -> None:
    """A stop's deadline that passes while the people are re-solved: the explanation comes back cut short, as
    one process would give it, and no child is left behind."""
    from solver.stop import StopReason, StopToken

    cut = explain(kvinfo, ExplainOptions(max_people=20, processes=2, stop=StopToken.within(0.25)))
    assert cut.truncated is StopReason.DEADLINE
    assert any("cut short" in note for note in cut.notes)
    # The thread that waits for the child ends once the child is reaped (`solver.stop.run_in_child`).
    assert not [t for t in threading.enumerate() if t.name == "explain-beside"]

"""A flow of several independent parts solves about half of them in a forked child beside this process
(solver.flow.PARALLEL_MIN_ROWS): the optimum must be the assignment optimum (scipy's linear_sum_assignment on
the expanded matrix, `tests.test_oracle_flow.lsa_optimum`), row for row the matching the parts give one after
the other, and a stop must end the child with the flow."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

import solver.flow
from solver.flow import flow_optimum
from solver.model import build_model
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveStatus, primary_weights, solve
from solver.stop import Stopped
from tests.test_oracle_flow import cohorts, lsa_optimum

CASES = [(name, cohort) for name, cohort in cohorts() if name in
         ("random-2", "random-7", "national-0", "national-1", "seat-cost-37-random-6")]


def _no_child_left() -> bool:
    try:
        return os.waitpid(-1, os.WNOHANG) == (0, 0)
    except ChildProcessError:  # no children at all
        return True


@pytest.fixture
def beside(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Parts apart and a child beside from the first pair; the list counts the children forked for it."""
    monkeypatch.setattr(solver.flow, "SPLIT_MIN_ROWS", 0)
    monkeypatch.setattr(solver.flow, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(solver.flow, "cores", lambda: 2)
    forked: list[int] = []
    run = solver.flow.run_in_child

    def counted(*args: Any, **kwargs: Any) -> Any:
        forked.append(1)
        return run(*args, **kwargs)

    monkeypatch.setattr(solver.flow, "run_in_child", counted)
    return forked


@pytest.mark.parametrize(("name", "cohort"), CASES, ids=[name for name, _ in CASES])
def test_parts_solved_beside_give_the_assignment_optimum(name: str, cohort: object, beside: list[int]) -> None:
    result = solve(cohort, SolveOptions(alternatives=1))  # type: ignore[arg-type]
    assert result.status is SolveStatus.OPTIMAL
    assert beside, "no part was solved in a child"
    value, matched_priority, total = lsa_optimum(cohort, result.model.big)  # type: ignore[arg-type]
    best = result.matchings[0].objective
    assert (best.value, best.matched_priority, best.total_score - best.seat_cost) == (value, matched_priority, total)
    assert _no_child_left()


@pytest.mark.parametrize(("name", "cohort"), CASES[:3], ids=[name for name, _ in CASES[:3]])
def test_parts_beside_choose_the_rows_of_parts_one_after_another(name: str, cohort: object,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    model = build_model(candidate_pairs(cohort))  # type: ignore[arg-type]
    weights = primary_weights(model)
    monkeypatch.setattr(solver.flow, "SPLIT_MIN_ROWS", 0)
    one_after_another = flow_optimum(model, weights)
    monkeypatch.setattr(solver.flow, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(solver.flow, "cores", lambda: 2)
    assert flow_optimum(model, weights, stop=threading.Event()).tolist() == one_after_another.tolist()


def test_a_stop_ends_the_flow_and_its_child(beside: list[int]) -> None:
    _, cohort = CASES[2]
    model = build_model(candidate_pairs(cohort))
    weights = primary_weights(model)
    for delay in (0.0, 0.001, 0.005, 0.02):
        stop = threading.Event()
        timer = threading.Timer(delay, stop.set)
        timer.start()
        try:
            rows = flow_optimum(model, weights, stop=stop)
        except Stopped:
            pass
        else:  # finished before the stop: the whole answer
            assert model.weight(weights, rows) == model.weight(weights, flow_optimum(model, weights))
        timer.join()
        assert _no_child_left()
    stop = threading.Event()
    stop.set()
    with pytest.raises(Stopped):
        flow_optimum(model, weights, stop=stop)

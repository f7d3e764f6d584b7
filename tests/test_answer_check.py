"""The answer check: a matching that breaks a rule or misstates its objective never leaves the engine.

Each case takes a real optimal answer and breaks it the way an engine bug would (a pin dropped, a mentor over
capacity, a forbidden pair, a wrong score, a wrong objective); and an engine whose distance arithmetic is wrong
(a different earth radius) answers INTERNAL over gRPC, counted, instead of a matching that breaks the rules.
"""

from __future__ import annotations

import dataclasses

import grpc
import numpy as np
import pytest

from server.client import MentormatchClient, RemoteError
from solver import candidates as candidates_module
from solver.domain import Cohort, Rules
from solver.errors import AnswerCheckFailed
from solver.model import Matching
from solver.solve import SolveOptions, SolveResult, solve
from solver.verify import verify_matchings
from tests.conftest import ServerFactory, mentee, mentor
from tests.hardening_support import scrape


def _answer() -> SolveResult:
    """Three mentors and three mentees within a few km: every pair allowed, three matched."""
    cohort = Cohort(tuple(mentor(f"M{k}", km_north=k) for k in range(3)),
                    tuple(mentee(f"E{k}", km_north=k + 0.5) for k in range(3)), (), Rules(max_distance_km=10.0),
                    name="near")
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None and len(result.best.rows) >= 3
    return result


def _check(result: SolveResult, rows: np.ndarray, objective: object = None) -> None:
    best = result.best
    assert best is not None
    broken = Matching(1, np.sort(rows), objective or best.objective, best.status)  # type: ignore[arg-type]
    verify_matchings(result.candidates, [broken], result.options.mode, stable=False, min_difference=1)


def test_the_engine_s_own_answer_passes() -> None:
    result = _answer()
    assert result.best is not None
    _check(result, result.best.rows)


def test_a_mentee_with_two_mentors_or_a_mentor_over_capacity_is_caught() -> None:
    result = _answer()
    assert result.best is not None
    chosen = set(result.best.rows.tolist())
    mentee_of = result.candidates.mentee
    extra = next(r for r in range(len(mentee_of)) if r not in chosen and mentee_of[r] in mentee_of[result.best.rows])
    with pytest.raises(AnswerCheckFailed, match="has 2 mentors"):
        _check(result, np.append(result.best.rows, extra))


def test_a_wrong_objective_is_caught() -> None:
    result = _answer()
    assert result.best is not None
    objective = dataclasses.replace(result.best.objective, value=result.best.objective.value + 1)
    with pytest.raises(AnswerCheckFailed, match="objective value"):
        _check(result, result.best.rows, objective)
    objective = dataclasses.replace(result.best.objective, total_score=result.best.objective.total_score - 5)
    with pytest.raises(AnswerCheckFailed, match="total_score is reported"):
        _check(result, result.best.rows, objective)


def test_a_dropped_pin_is_caught() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2", km_north=1.0)), (mentee("E1"), mentee("E2", km_north=1.0)), (),
                    Rules(max_distance_km=10.0, pins=(("E1", "M2"),)), name="pinned")
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    pin = int(result.model.pinned_rows[0])
    with pytest.raises(AnswerCheckFailed, match="pinned pair E1-M2 is missing"):
        _check(result, result.best.rows[result.best.rows != pin])


def _too_far() -> Cohort:
    """One pair 20 km apart under a 15 km limit: not allowed, whatever else happens."""
    return Cohort((mentor("M1"),), (mentee("E1", km_north=20.0),), (), Rules(max_distance_km=15.0), name="far")


def test_a_wrong_distance_in_the_engine_is_caught_not_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    assert solve(_too_far(), SolveOptions(alternatives=1)).best.objective.matched == 0  # type: ignore[union-attr]
    # An engine bug: half the earth's radius makes 20 km look like 10 km, so the pair looks allowed.
    monkeypatch.setattr(candidates_module, "EARTH_RADIUS_KM", candidates_module.EARTH_RADIUS_KM / 2)
    with pytest.raises(AnswerCheckFailed, match="E1-M1 breaks: distance 20"):
        solve(_too_far(), SolveOptions(alternatives=1))


def test_over_grpc_it_is_an_internal_error_counted_and_no_matching(server_factory: ServerFactory,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    running = server_factory()
    monkeypatch.setattr(candidates_module, "EARTH_RADIUS_KM", candidates_module.EARTH_RADIUS_KM / 2)
    with MentormatchClient(running.address) as client, pytest.raises(RemoteError) as caught:
        client.match(_too_far(), SolveOptions(alternatives=1))
    assert caught.value.code is grpc.StatusCode.INTERNAL
    assert caught.value.reason == "ANSWER_CHECK_FAILED"
    assert "failed its independent check" in caught.value.message
    assert scrape(running.metrics_port, "mentormatch_answer_check_failures_total") == 1

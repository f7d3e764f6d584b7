"""Every value within its documented range, all near the top, can make objective numbers the solvers cannot hold in
64-bit integers: such a cohort is answered exactly where the engine can, else refused with a TOO_LARGE problem
that says which values to lower; never an internal error (an outside review: 1,950 mentees of priority 1000, 10
mentors of capacity 100,000, extra_seat_cost 100,000 and every weight 1000 ended in INTERNAL, the min-cost flow's
BAD_COST_RANGE) and never a wrong answer (CP-SAT's MODEL_INVALID read as INFEASIBLE).

The limits: the engine sums a matching's weights in int64 (for this family of cohorts 2,642 mentees fit, 2,643 do
not); OR-Tools' min-cost flow (9.15) multiplies its costs by its nodes + 1 and answers BAD_COST_RANGE when its
prices then fall below what int64 holds, so the flows fall back to a smaller `big` that orders matchings the same
(`solver.model.flow_big`); CP-SAT refuses an objective whose coefficients sum beyond 2^62 - 1, so a cohort that
needs it (here stability) is refused there. Exact answers are checked against the README's objective, computed
here from the rules.
"""

from __future__ import annotations

import grpc
import pytest

from server.client import MentormatchClient, RemoteError
from solver.domain import Cohort, Language, Mentee, Mentor, Rules, Weights
from solver.errors import CohortInvalid, ProblemCode
from solver.solve import SolveOptions, solve
from tests.conftest import ServerFactory

SEAT_COST, PRIORITY, CAPACITY, MENTORS = 100_000, 1000, 100_000, 10


def big_cohort(mentees: int) -> Cohort:
    """The review's cohort: every value within its documented range, most at the top."""
    weights = Weights(**dict.fromkeys(Weights.__slots__, 1000))
    mentors = tuple(Mentor(f"M{j:03d}", 55.68, 12.57, ("2512",), (Language("en", 5),), capacity=CAPACITY)
                    for j in range(MENTORS))
    people = tuple(Mentee(f"E{i:05d}", 55.69, 12.55, ("2519",), (Language("en", 4),), priority=PRIORITY)
                   for i in range(mentees))
    return Cohort(mentors=mentors, mentees=people, rules=Rules(extra_seat_cost=SEAT_COST, weights=weights))


def readme_value(mentees: int, pair_score: int, loads: list[int]) -> int:
    """The README's objective value of a matching of every mentee, each pair scoring `pair_score`, with `loads`
    mentees per mentor: big x matched priority + total score - seat cost."""
    seats = min(CAPACITY, mentees)  # S: the smaller of his capacity and his allowed pairs (every mentee)
    big = 1 + mentees * pair_score + SEAT_COST * MENTORS * (seats * (seats - 1) // 2)
    seat_cost = sum(SEAT_COST * load * (load - 1) // 2 for load in loads)
    return big * PRIORITY * mentees + mentees * pair_score - seat_cost


def _too_large(caught: pytest.ExceptionInfo[CohortInvalid]) -> str:
    problems = caught.value.problems
    assert [p.code for p in problems] == [ProblemCode.TOO_LARGE]
    message = problems[0].message
    for value in ("priorities", "weights", "extra_seat_cost", "capacities"):  # what to lower
        assert value in message
    return message


def test_just_below_the_int64_limit_the_answer_is_exact_and_just_above_it_is_refused() -> None:
    for mentees in (1950, 2642):  # 1,950: the review's cohort, beyond the flow's costs with the README's `big`
        result = solve(big_cohort(mentees), SolveOptions(alternatives=1))
        best = result.best
        assert result.status.value == "OPTIMAL" and best is not None
        assert best.objective.matched == mentees
        loads = sorted(int((result.candidates.mentor[best.rows] == j).sum()) for j in range(MENTORS))
        assert loads[-1] - loads[0] <= 1  # seats cost more the more a mentor has: the best spreads the mentees evenly
        scores = set(result.candidates.score[best.rows].tolist())
        assert len(scores) == 1
        assert best.objective.value == result.bound == readme_value(mentees, scores.pop(), loads)
    with pytest.raises(CohortInvalid) as caught:
        solve(big_cohort(2643), SolveOptions(alternatives=1))
    assert "a matching's weight" in _too_large(caught)


def test_where_cp_sat_is_needed_its_objective_limit_refuses() -> None:
    """At 1,900 mentees the flows prove three matchings, but stability hands every pair's weight to CP-SAT, whose
    objective cannot hold their sum: refused (it once answered INFEASIBLE, a wrong answer). At 1,950 the prices of
    the alternatives overflow the flow too, so they would need CP-SAT: refused."""
    assert len(solve(big_cohort(1900), SolveOptions(alternatives=3)).matchings) == 3
    for mentees, options in ((1900, SolveOptions(alternatives=1, stable=True)), (1950, SolveOptions(alternatives=3))):
        with pytest.raises(CohortInvalid) as caught:
            solve(big_cohort(mentees), options)
        assert "CP-SAT" in _too_large(caught)


def test_over_grpc_the_refusal_is_invalid_argument_with_the_problem(server_factory: ServerFactory) -> None:
    running = server_factory()
    with MentormatchClient(running.address) as client:
        answer = client.match(big_cohort(1950), SolveOptions(alternatives=1), timeout=60)
        assert len(answer.matchings) == 1 and answer.matchings[0].objective.matched == 1950
        with pytest.raises(RemoteError) as caught:
            client.match(big_cohort(2643), SolveOptions(alternatives=1), timeout=60)
    error = caught.value
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert [(field, description.split(":")[0]) for field, description in error.violations] == [
        ("cohort", "TOO_LARGE")]
    assert running.metrics.registry.get_sample_value("mentormatch_answer_check_failures_total") in (None, 0.0)

"""The k-best search's two ways of solving a dense node (solver.kbest): small matrices are the parent's matrix with
the child's kept and left-out rows zeroed (`ZEROED_CELLS`), larger ones the node's submatrix cut out by index, and
so are the children of nodes solved once the kept matrices reach `ZEROED_MEMORY_CELLS` (both ways in one search).

Both against brute force over every valid matching (tests/test_kbest.py's oracle, README Alternatives), and on
cohorts too large for it, against each other: the same alternatives, with the same number of node solves.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from solver import kbest, kbest_nodes
from solver.solve import SolveOptions, solve
from tests.oracle import random_cohort
from tests.test_kbest import _check_against_brute_force, _cohort


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", range(0, 30, 3))
def test_submatrix_nodes_equal_the_brute_force_sequence(seed: int, d: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default path is checked by test_kbest; here every dense node is a submatrix (no zeroed matrices)."""
    monkeypatch.setattr(kbest_nodes, "ZEROED_CELLS", 0)
    _check_against_brute_force(_cohort(seed), 4, d)


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", range(1, 30, 3))
def test_searches_past_their_matrix_memory_equal_the_brute_force_sequence(seed: int, d: int,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Matrices kept for 3 nodes at most (each cohort's matrix has 4-30 cells): later nodes' children by index."""
    monkeypatch.setattr(kbest, "ZEROED_MEMORY_CELLS", 90)
    _check_against_brute_force(_cohort(seed), 4, d)


@pytest.mark.parametrize("seed", range(10))
def test_zeroed_and_submatrix_nodes_rank_the_same_alternatives(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cohorts of 8-16 people a side with seat costs: each path gives the same matchings, node solve for node
    solve (a zeroed matrix and a submatrix have the same optima, so the search takes the same path)."""
    rng = random.Random(4000 + seed)
    cohort = random_cohort(rng, rng.randint(8, 16), rng.randint(8, 16))
    cohort = replace(cohort, rules=replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1,
                                           extra_seat_cost=rng.choice([0, 40, 400])))
    options = SolveOptions(alternatives=4, min_difference=1 + seed % 4)
    zeroed = solve(cohort, options)
    assert "k_best" in zeroed.stats.backend
    monkeypatch.setattr(kbest, "ZEROED_MEMORY_CELLS", 2_000)  # the matrices of the first few nodes only
    mixed = solve(cohort, options)
    monkeypatch.setattr(kbest_nodes, "ZEROED_CELLS", 0)
    cut_out = solve(cohort, options)
    for other in (mixed, cut_out):
        assert [(m.objective.value, m.rows.tolist()) for m in zeroed.matchings] == [
            (m.objective.value, m.rows.tolist()) for m in other.matchings]
        assert zeroed.notes == other.notes

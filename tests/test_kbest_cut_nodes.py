"""The k-best search's nodes on larger matrices (solver.kbest, beyond `ZEROED_CELLS`): each child's assignment is its
parent's matrix (one more row's cells left out) with the child's kept rows and seats taken out, and once the kept
matrices reach `ZEROED_MEMORY_CELLS`, the children of nodes split from then on are cut out of the whole matrix by
index (both ways in one search). Against brute force over every valid matching (tests/test_kbest.py's oracle,
README Alternatives)."""

from __future__ import annotations

import pytest

from solver import kbest, kbest_nodes
from tests.test_kbest import _check_against_brute_force, _cohort


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("seed", range(2, 30, 3))
def test_cut_nodes_past_their_matrix_memory_equal_the_brute_force_sequence(seed: int, d: int,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every node a cut of its parent's matrix, the matrices kept for a few nodes only (each cohort's matrix has
    4-30 cells): the later nodes' children by index."""
    monkeypatch.setattr(kbest_nodes, "ZEROED_CELLS", 0)
    monkeypatch.setattr(kbest, "ZEROED_MEMORY_CELLS", 90)
    _check_against_brute_force(_cohort(seed), 4, d)

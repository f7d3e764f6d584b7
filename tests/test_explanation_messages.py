"""Explanations as messages (server/convert): the `Explanation` message says what the library's explanation says,
field for field (`solver.explain` dataclasses; `plain` reads a message back as `to_dict()` gives the dataclass),
whatever path builds its messages (the pairs' explanations have a builder of their own)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from server.convert import explanation_to_proto
from server.convert.messages import plain
from solver.domain import Cohort
from solver.explain import ExplainOptions, explain
from solver.solve import SolveOptions, solve
from tests.oracle import random_cohort


def _cohort(seed: int, mentees: int, mentors: int) -> Cohort:
    """A random cohort with loose rules (most pairs allowed), so every matching has pairs to explain."""
    rng = random.Random(seed)
    cohort = random_cohort(rng, mentees, mentors)
    return replace(cohort, rules=replace(cohort.rules, max_distance_km=None, field_depth=1, min_language_level=1))


@pytest.mark.parametrize("seed", range(6))
def test_explanation_message_reads_back_as_the_explanation(seed: int) -> None:
    cohort = _cohort(7100 + seed, 6 + 2 * seed, 14 - seed)
    result = solve(cohort, SolveOptions(alternatives=3, min_difference=1))
    explanation = explain(result, ExplainOptions(max_people=5))
    assert any(m.pairs for m in explanation.matchings)
    assert plain(explanation_to_proto(explanation)) == explanation.to_dict()


def test_pairs_shared_by_matchings_read_back_in_each() -> None:
    """Alternatives share most of their pairs (the same explanation objects): each matching's message lists them."""
    cohort = _cohort(7200, 12, 12)
    result = solve(cohort, SolveOptions(alternatives=3, min_difference=1))
    explanation = explain(result, ExplainOptions(max_people=0))
    message = explanation_to_proto(explanation)
    for got, want in zip(message.matchings, explanation.matchings, strict=True):
        assert [plain(p) for p in got.pairs] == [p.to_dict() for p in want.pairs]

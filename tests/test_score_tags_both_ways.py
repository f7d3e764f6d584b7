"""The tag terms (INTERESTS, HOME_MARKET, FIRST_LANGUAGE) made either way `solver.scores` makes the people's tag
bits, each forced: as Python ints (a small cohort with at most 64 tags) and as arrays (a large one, or more tags);
each against the README's definitions per pair (the oracle of `test_score_tags`)."""

from __future__ import annotations

import pytest

from solver import scores
from tests import test_score_tags as tags


@pytest.mark.parametrize("small_people", [0, 100_000], ids=["arrays", "python-ints"])
@pytest.mark.parametrize("seed", range(8))
def test_tag_terms_equal_the_readme_either_way(monkeypatch: pytest.MonkeyPatch, seed: int, small_people: int) -> None:
    monkeypatch.setattr(scores, "SMALL_TAG_PEOPLE", small_people)
    tags.test_tag_terms_equal_the_readme_for_every_pair(seed)

"""The tag terms of the scores (INTERESTS, HOME_MARKET, FIRST_LANGUAGE) for every pair of random cohorts against
the README's definitions computed per pair from the people: shared interest tags (any text, the empty one too),
her country among the mentor's markets, her first language among his languages (an empty country or language
matches nothing); vocabularies of up to ~150 tags, so the bit sets span several words."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from solver.arrays import cohort_arrays
from solver.domain import Language
from solver.scores import score_columns
from tests.oracle import random_cohort


@pytest.mark.parametrize("seed", range(16))
def test_tag_terms_equal_the_readme_for_every_pair(seed: int) -> None:
    rng = random.Random(8100 + seed)
    cohort = random_cohort(rng, rng.randint(1, 30), rng.randint(1, 30))
    tags = ["", "golf", "AI", "ai"] + [f"t{k}" for k in range(rng.choice([2, 70, 150]))]
    countries = ["", "DK", "SE", "NO", "golf"]
    codes = ["", "da", "en", "sv", "t1"]
    cohort = replace(
        cohort,
        mentees=tuple(replace(p, interests=tuple(rng.choices(tags, k=rng.randint(0, 4))),
                              country_of_origin=rng.choice(countries), first_language=rng.choice(codes))
                      for p in cohort.mentees),
        mentors=tuple(replace(q, interests=tuple(rng.choices(tags, k=rng.randint(0, 4))),
                              markets=tuple(rng.sample(countries, rng.randint(0, 3))),
                              languages=q.languages + tuple(Language(c, 3) for c in rng.sample(codes[1:], 1)))
                      for q in cohort.mentors))
    mentee, mentor = np.divmod(np.arange(len(cohort.mentees) * len(cohort.mentors)), len(cohort.mentors))
    columns = score_columns(cohort, cohort_arrays(cohort), mentee, mentor)
    shared, market, language = [], [], []
    for a, b in zip(mentee.tolist(), mentor.tolist(), strict=True):
        her, his = cohort.mentees[a], cohort.mentors[b]
        shared.append(len(set(her.interests) & set(his.interests)))
        market.append(100 if her.country_of_origin and her.country_of_origin in his.markets else 0)
        language.append(100 if her.first_language and any(x.code == her.first_language for x in his.languages)
                        else 0)
    assert columns["shared_interests"].tolist() == shared
    assert columns["points_interests"].tolist() == [min(100, 34 * k) for k in shared]
    assert columns["points_home_market"].tolist() == market
    assert columns["points_first_language"].tolist() == language

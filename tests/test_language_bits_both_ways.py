"""The mentors' languages by level (`cohort_arrays`: a bit per language each mentor speaks at a level or better,
for levels 1..6) made either way, each forced: as Python ints (a few people, at most 64 languages) and as arrays;
each against the definition read off the people, with levels out of range (0, negative, above C2) among them."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from solver import arrays
from solver.domain import Language
from tests.oracle import random_cohort

CODES = ["da", "en", "sv", "de", "fr", "ar", "so", "uk"]


@pytest.mark.parametrize("small_people", [0, 100_000], ids=["arrays", "python-ints"])
@pytest.mark.parametrize("seed", range(6))
def test_languages_by_level_either_way(monkeypatch: pytest.MonkeyPatch, seed: int, small_people: int) -> None:
    monkeypatch.setattr(arrays, "SMALL_LANGUAGE_PEOPLE", small_people)
    rng = random.Random(5200 + seed)
    cohort = random_cohort(rng, rng.randint(1, 20), rng.randint(1, 20))
    cohort = replace(cohort, mentors=tuple(
        replace(q, languages=tuple(Language(rng.choice(CODES), rng.randint(-1, 8)) for _ in range(rng.randint(0, 4))))
        for q in cohort.mentors))
    built = arrays.cohort_arrays(cohort)
    codes: dict[str, int] = {}
    for spoken in [p.languages for p in cohort.mentees] + [q.languages for q in cohort.mentors]:
        for lang in spoken:
            codes.setdefault(lang.code, len(codes))
    by_level = built.mentor_languages_by_level
    assert by_level.shape == (7, len(cohort.mentors), 1) and by_level.dtype == np.uint64
    for j, mentor in enumerate(cohort.mentors):
        assert int(by_level[0, j, 0]) == 0  # index 0 is not a level
        for level in range(1, 7):
            known = {codes[lang.code] for lang in mentor.languages if lang.level >= level}
            assert int(by_level[level, j, 0]) == sum(1 << code for code in known), (j, level)

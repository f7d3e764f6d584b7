"""The leading ISCO digits a pair shares (solver.candidates.field_digits) against the README's Field rule as the
rules oracle states it (tests/rules_oracle.shared_digits), for every pair of random cohorts with 0-3 occupations
a person (none: the padding of the engine's arrays, which matches nothing) and codes that share 0-4 digits."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from solver import candidates as candidates_module
from solver.arrays import cohort_arrays
from solver.candidates import field_digits
from tests.oracle import random_cohort
from tests.rules_oracle import shared_digits

CODES = ["2512", "2513", "2519", "2521", "2611", "2144", "3512", "7000", "0110", "0100"]


@pytest.mark.parametrize("seed", range(20))
def test_field_digits_equal_the_rules_oracle_for_every_pair(seed: int) -> None:
    rng = random.Random(7100 + seed)
    cohort = random_cohort(rng, rng.randint(1, 12), rng.randint(1, 12))

    def codes() -> tuple[str, ...]:
        return tuple(rng.sample(CODES, rng.randint(0, 3)))

    cohort = replace(cohort, mentees=tuple(replace(p, occupations=codes()) for p in cohort.mentees),
                     mentors=tuple(replace(q, occupations=codes()) for q in cohort.mentors))
    arrays = cohort_arrays(cohort)
    mentee, mentor = np.divmod(np.arange(len(cohort.mentees) * len(cohort.mentors)), len(cohort.mentors))
    got = field_digits(arrays, mentee, mentor).tolist()
    expected = [shared_digits(cohort.mentees[a], cohort.mentors[b]) for a, b in zip(mentee.tolist(), mentor.tolist(),
                                                                                    strict=True)]
    assert got == expected


@pytest.mark.parametrize("seed", range(12))
def test_field_digits_by_table_equal_the_rules_oracle_for_every_pair(seed: int, monkeypatch: pytest.MonkeyPatch
                                                                     ) -> None:
    """The same through the per-person table that large candidate sets use (one side's best digits per code),
    with the table on either side (the side with more occupations a person)."""
    monkeypatch.setattr(candidates_module, "FIELD_LOOKUP_MIN_PAIRS", 0)
    rng = random.Random(7300 + seed)
    cohort = random_cohort(rng, rng.randint(1, 12), rng.randint(1, 12))
    most_mentee, most_mentor = (3, 1) if seed % 2 else (1, 3)

    def codes(most: int) -> tuple[str, ...]:
        return tuple(rng.sample(CODES, rng.randint(0, most)))

    cohort = replace(cohort, mentees=tuple(replace(p, occupations=codes(most_mentee)) for p in cohort.mentees),
                     mentors=tuple(replace(q, occupations=codes(most_mentor)) for q in cohort.mentors))
    arrays = cohort_arrays(cohort)
    mentee, mentor = np.divmod(np.arange(len(cohort.mentees) * len(cohort.mentors)), len(cohort.mentors))
    got = field_digits(arrays, mentee, mentor).tolist()
    assert arrays.cache.get("field") is not None
    expected = [shared_digits(cohort.mentees[a], cohort.mentors[b]) for a, b in zip(mentee.tolist(), mentor.tolist(),
                                                                                    strict=True)]
    assert got == expected

"""The hard rules' masks of a few pairs (a request's pins, an explanation's pair: read pair by pair in Python,
`solver.candidates.FEW_PAIRS`) against the README's rules per pair (`tests.rules_oracle.failed_rules`) and against
the vectorised masks of every pair of the same cohort, rule by rule; a pair whose distance lies at its limit, to
the last bit, is decided as the many pairs' formula decides it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from scenarios.bundled import copenhagen_career, kvinfo_network, lyngby_career
from solver import candidates
from solver.arrays import cohort_arrays
from solver.candidates import HardRule, rule_masks
from solver.domain import Cohort
from tests import rules_oracle
from tests.oracle import random_cohort


def _every_pair(cohort: Cohort) -> tuple[np.ndarray, np.ndarray]:
    mentee, mentor = np.divmod(np.arange(len(cohort.mentees) * len(cohort.mentors), dtype=np.int64),
                               max(1, len(cohort.mentors)))
    return mentee, mentor


def _few_against_many(cohort: Cohort, picks: list[int], group: int) -> None:
    arrays = cohort_arrays(cohort)
    mentee, mentor = _every_pair(cohort)
    assert len(mentee) > candidates.FEW_PAIRS
    many = rule_masks(arrays, mentee, mentor)
    ranks = rules_oracle.rankings(cohort)
    for start in range(0, len(picks), group):
        chosen = np.array(picks[start:start + group], dtype=np.int64)
        few = rule_masks(cohort_arrays(cohort) if start % 2 else arrays, mentee[chosen], mentor[chosen])
        assert list(few) == list(HardRule)
        for rule in HardRule:
            assert few[rule].dtype == np.bool_ and few[rule].tolist() == many[rule][chosen].tolist(), rule
        for j, row in enumerate(chosen.tolist()):
            she, he = cohort.mentees[int(mentee[row])], cohort.mentors[int(mentor[row])]
            failed = rules_oracle.failed_rules(cohort, she, he, ranks)
            assert [r.value for r in HardRule if not few[r][j]] == failed, (she.id, he.id)


@pytest.mark.parametrize("group", [1, 3])
@pytest.mark.parametrize("seed", range(12))
def test_few_pairs_masks_equal_the_rules_and_every_pairs_masks(seed: int, group: int) -> None:
    rng = random.Random(7100 + seed)
    cohort = random_cohort(rng, rng.randint(2, 12), rng.randint(3, 12), side_constraints=seed % 2 == 0,
                           rankings=seed % 3 != 0, pins=seed % 4 == 1)
    _few_against_many(cohort, list(range(len(cohort.mentees) * len(cohort.mentors))), group)


@pytest.mark.parametrize("build", [lyngby_career, copenhagen_career, kvinfo_network])
def test_few_pairs_masks_of_bundled_programmes(build: object) -> None:
    cohort = build().canonical()  # type: ignore[operator]
    total = len(cohort.mentees) * len(cohort.mentors)
    picks = random.Random(total).sample(range(total), min(total, 400))
    _few_against_many(cohort, picks, 2)


def test_a_pair_at_its_distance_limit_is_decided_as_by_the_many_pairs_formula() -> None:
    cohort = random_cohort(random.Random(7300), 6, 6)
    mentee, mentor = _every_pair(cohort)
    for row in range(len(mentee)):
        arrays = cohort_arrays(cohort)
        a, b = mentee[row:row + 1], mentor[row:row + 1]
        km = candidates.pair_travel(arrays, a, b)[0][0]
        for limit in (km, np.nextafter(km, 0.0), np.nextafter(km, np.inf)):
            arrays.mentee_limit_km[a[0]] = limit
            many = rule_masks(arrays, mentee, mentor)[HardRule.DISTANCE][row]
            assert rule_masks(arrays, a, b)[HardRule.DISTANCE][0] == many
            assert many == (limit >= km or bool(arrays.mentee_online[a[0]] and arrays.mentor_online[b[0]]))

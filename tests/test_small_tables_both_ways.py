"""Per-pair look-ups made either way: as one table over every pair of a small cohort (made once per cohort) and
as the large cohorts' way (compared prefixes; binary search in the ranked pairs' keys), each forced, against the
README's definitions per pair: the leading ISCO digits shared (the oracle of `test_field_digits`) and the ranks
each gave the other (her best rank of him, his of her, 0 for none; rankings that name nobody count for nothing)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest

from solver import candidates, scores
from solver.arrays import cohort_arrays
from solver.domain import Ranking
from solver.scores import score_columns
from tests import test_field_digits as digits
from tests.oracle import random_cohort


@pytest.mark.parametrize("dense_limit", [0, 1 << 40], ids=["prefixes", "table"])
@pytest.mark.parametrize("seed", range(8))
def test_field_digits_either_way(monkeypatch: pytest.MonkeyPatch, seed: int, dense_limit: int) -> None:
    monkeypatch.setattr(candidates, "DENSE_DIGITS_LIMIT", dense_limit)
    digits.test_field_digits_equal_the_rules_oracle_for_every_pair(seed)


@pytest.mark.parametrize("dense_pairs", [0, 1 << 40], ids=["search", "table"])
@pytest.mark.parametrize("seed", range(10))
def test_ranks_per_pair_either_way(monkeypatch: pytest.MonkeyPatch, seed: int, dense_pairs: int) -> None:
    monkeypatch.setattr(scores, "DENSE_RANK_PAIRS", dense_pairs)
    rng = random.Random(9400 + seed)
    cohort = random_cohort(rng, rng.randint(1, 14), rng.randint(1, 14), rankings=True)
    people = [p.id for p in cohort.mentees] + [q.id for q in cohort.mentors] + ["nobody"]
    extra = tuple(Ranking(rng.choice(people), rng.choice(people), rng.randint(1, 6)) for _ in range(rng.randint(0, 30)))
    cohort = replace(cohort, rankings=cohort.rankings + extra)  # repeats, own side, unknown ids
    mentee, mentor = np.divmod(np.arange(len(cohort.mentees) * len(cohort.mentors)), len(cohort.mentors))
    her_rank: dict[tuple[str, str], int] = {}
    his_rank: dict[tuple[str, str], int] = {}
    mentees, mentors = {p.id for p in cohort.mentees}, {q.id for q in cohort.mentors}
    for r in cohort.rankings:
        if r.from_id in mentees and r.to_id in mentors:
            her_rank[r.from_id, r.to_id] = min(r.rank, her_rank.get((r.from_id, r.to_id), r.rank))
        elif r.from_id in mentors and r.to_id in mentees:
            his_rank[r.to_id, r.from_id] = min(r.rank, his_rank.get((r.to_id, r.from_id), r.rank))
    pairs = [(cohort.mentees[a].id, cohort.mentors[b].id) for a, b in zip(mentee.tolist(), mentor.tolist(), strict=True)]
    arrays = cohort_arrays(cohort)
    # The arrays' own cohort, and another cohort object with the same people and rankings (not the arrays' tables).
    for scored in (cohort, replace(cohort, rankings=tuple(cohort.rankings))):
        columns = score_columns(scored, arrays, mentee, mentor)
        assert columns["mentee_rank"].tolist() == [her_rank.get(p, 0) for p in pairs]
        assert columns["mentor_rank"].tolist() == [his_rank.get(p, 0) for p in pairs]

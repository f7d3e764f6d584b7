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
from tests import rules_oracle
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


@pytest.mark.parametrize("negative", [False, True], ids=["ranks", "ranks-below-0"])
@pytest.mark.parametrize("small_rows", [0, 1 << 40], ids=["term-by-term", "one-matrix"])
@pytest.mark.parametrize("seed", range(8))
def test_terms_and_score_per_pair_either_way(monkeypatch: pytest.MonkeyPatch, seed: int, small_rows: int,
                                             negative: bool) -> None:
    """Every term's points and the weighted score of every pair (allowed or not), against the README's table
    (`rules_oracle.term_points`), with the score's matrix product forced on or off; also with some ranks below 0
    (no valid input: the rank terms' formulas, not their look-up tables)."""
    monkeypatch.setattr(scores, "SMALL_SCORE_ROWS", small_rows)
    rng = random.Random(9600 + seed)
    cohort = random_cohort(rng, rng.randint(1, 12), rng.randint(1, 12), rankings=True)
    if negative:
        cohort = replace(cohort, rankings=tuple(replace(r, rank=-rng.randint(1, 3)) if rng.random() < 0.3 else r
                                                for r in cohort.rankings))
    mentee, mentor = np.divmod(np.arange(len(cohort.mentees) * len(cohort.mentors)), len(cohort.mentors))
    columns = score_columns(cohort, cohort_arrays(cohort), mentee, mentor)
    her, his = rules_oracle.rankings(cohort)
    weights = cohort.rules.weights.as_dict()
    for row, (a, b) in enumerate(zip(mentee.tolist(), mentor.tolist(), strict=True)):
        p, q = cohort.mentees[a], cohort.mentors[b]
        expected = rules_oracle.term_points(cohort, p, q, her.get((p.id, q.id)), his.get((p.id, q.id)))
        got = {term.weight_name: int(columns[term.column][row]) for term in scores.TERMS}
        assert got == expected, (p.id, q.id)
        assert int(columns["score"][row]) == sum(weights[name] * points for name, points in expected.items())


def test_rank_points_of_any_rank() -> None:
    """MENTEE_RANK / MENTOR_RANK of ranks 0 (unranked) to 9, and of ranks below 0 (no valid input, the formula)."""
    for ranks in ([0, 1, 2, 3, 4, 5, 6, 7, 9], [3, -1, 0, -4, 1]):
        got = scores.rank_points(np.array(ranks, dtype=np.int64)).tolist()
        assert got == [0 if r == 0 else max(10, 100 - 20 * (r - 1)) for r in ranks]

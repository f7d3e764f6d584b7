"""Shared interests (the INTERESTS term's count) against a count of each pair's common tags written from the rules
(README: distinct tags both hold), in each of the ways the count is made: small cohorts' Python bits, bit rows,
sparse rows for vocabularies too large for bits; and its memory bounded whatever the free text."""

from __future__ import annotations

import random
import tracemalloc

import numpy as np
import pytest

from solver import scores


def _common(left: list[tuple[str, ...]], right: list[tuple[str, ...]], a: np.ndarray, b: np.ndarray) -> list[int]:
    return [len(set(left[i]) & set(right[j])) for i, j in zip(a.tolist(), b.tolist(), strict=True)]


def _people(rng: random.Random, count: int, pool: int, most: int) -> list[tuple[str, ...]]:
    return [tuple(f"t{rng.randrange(pool)}" for _ in range(rng.randrange(0, most + 1))) for _ in range(count)]


@pytest.mark.parametrize(("bitset_tags", "cells"), [(scores.BITSET_TAGS, scores.OVERLAP_CELLS), (4096, 1000),
                                                    (8, 50)], ids=["as shipped", "bits in parts", "sparse in parts"])
@pytest.mark.parametrize("seed", range(12))
def test_shared_interests_are_the_distinct_tags_both_hold(monkeypatch: pytest.MonkeyPatch, seed: int,
                                                          bitset_tags: int, cells: int) -> None:
    monkeypatch.setattr(scores, "BITSET_TAGS", bitset_tags)
    monkeypatch.setattr(scores, "OVERLAP_CELLS", cells)
    rng = random.Random(seed)
    pool = rng.choice([2, 40, 5_000, 50_000])  # one shared word, a programme's list, free text
    left = _people(rng, rng.choice([6, 300, 600]), pool, 12)
    right = _people(rng, rng.choice([6, 300, 700]), pool, 12)
    left[0] = left[0] + left[0]  # a tag listed twice counts once
    pairs = rng.randrange(1, 5_000)
    a = np.array([rng.randrange(len(left)) for _ in range(pairs)], dtype=np.int64)
    b = np.array([rng.randrange(len(right)) for _ in range(pairs)], dtype=np.int64)
    assert scores._set_overlap(left, right, a, b).tolist() == _common(left, right, a, b)


def test_counting_shared_free_text_interests_stays_small() -> None:
    """500 x 500 people with 100 interests each from 20,000 words: every pair counted with ~0.2 GB of temporaries
    (all pairs' bit rows at once took 1.2 GB here, and 3 GB at 500 x 500 over the service)."""
    rng = random.Random(1)
    left, right = _people(rng, 500, 20_000, 100), _people(rng, 500, 20_000, 100)
    a, b = np.repeat(np.arange(500), 500), np.tile(np.arange(500), 500)
    tracemalloc.start()
    try:
        got = scores._set_overlap(left, right, a, b)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 400e6, f"{peak / 1e6:.0f} MB"
    sample = np.arange(0, len(a), 997)
    assert got[sample].tolist() == _common(left, right, a[sample], b[sample])

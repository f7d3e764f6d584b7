"""The answer check's field facts for people with long occupation lists (up to the cap of 100 each) against the
documented rules written plainly: the most leading digits any two four-digit ISCO codes of the pair share, and the
families whose prefixes start one of a person's codes. The check once compared every pair of codes in Python:
~10 ms a pair at 100 codes each, seconds for one answer."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from solver import verify
from solver.domain import FieldFamily


def _leading(a: str, b: str) -> int:
    """In how many leading characters two codes agree."""
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def _codes(rng: random.Random, count: int) -> tuple[str, ...]:
    out = []
    for _ in range(count):
        code = "".join(rng.choice("1234") for _ in range(rng.choice([4, 4, 4, 3, 5])))
        out.append(code if rng.random() > 0.05 else code[:2] + "x" + code[2:])  # a few that are no ISCO code
    return tuple(out)


@pytest.mark.parametrize("seed", range(6))
def test_shared_digits_are_the_longest_prefix_of_two_isco_codes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(300):
        hers, his = _codes(rng, rng.randrange(0, 100)), _codes(rng, rng.randrange(0, 100))
        plain = [(a, b) for a in hers for b in his if len(a) == len(b) == 4 and a.isdigit() and b.isdigit()]
        want = max((_leading(a, b) for a, b in plain), default=0)
        got = verify._Rules.shared_digits(SimpleNamespace(occupations=hers), SimpleNamespace(occupations=his))  # type: ignore[arg-type]
        assert got == want, (hers, his)


@pytest.mark.parametrize("seed", range(6))
def test_a_persons_families_are_those_with_a_prefix_of_one_of_her_codes(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(100):
        families = tuple(FieldFamily(f"f{k}", tuple(
            "".join(rng.choice("1234") for _ in range(rng.randrange(1, 5))) for _ in range(rng.randrange(1, 30))))
            for k in range(rng.randrange(1, 8)))
        rules = object.__new__(verify._Rules)
        rules._families, rules._family_of_prefix = families, None
        for _ in range(5):
            codes = _codes(rng, rng.randrange(0, 100))
            want = {f.id for f in families if any(c.startswith(p) for c in codes for p in f.prefixes)}
            assert rules.families(codes) == want, (codes, families)

"""Stability: the blocking-pair audit and the `stable` solve option against an independent brute force."""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.candidates import KM_PER_DEGREE
from solver.domain import Cohort, GenderQuota, Language, Mentee, Mentor, Ranking, Rules, Weights
from solver.explain import explain
from solver.scores import CandidatePairs, candidate_pairs
from solver.solve import SolveOptions, SolveStatus, solve
from solver.stability import audit, blocking_pairs
from tests.rules_oracle import RulesOracle, valid_matchings

LAT, LON = 55.68, 12.57

Pair = tuple[str, str]


def mentor(id_: str, occupation: str = "2512", capacity: int = 1, km_north: float = 0.0, **kw) -> Mentor:
    return Mentor(id_, LAT + km_north / KM_PER_DEGREE, LON, (occupation,), (Language("en", 5),),
                  capacity=capacity, **kw)


def mentee(id_: str, occupation: str = "2512", km_north: float = 0.0, **kw) -> Mentee:
    return Mentee(id_, LAT + km_north / KM_PER_DEGREE, LON, (occupation,), (Language("en", 5),), **kw)


def ranks(*entries: tuple[str, str, int]) -> tuple[Ranking, ...]:
    return tuple(Ranking(a, b, r) for a, b, r in entries)


# An independent, plain-Python reading of the definition in solver/stability.py ---------------------------


def allowed_pairs(candidates: CandidatePairs) -> list[Pair]:
    cohort = candidates.cohort
    return [(cohort.mentees[a].id, cohort.mentors[b].id)
            for a, b in zip(candidates.table["mentee"].to_list(), candidates.table["mentor"].to_list(), strict=True)]


def brute_blocking(cohort: Cohort, allowed: list[Pair], matching: set[Pair]) -> set[Pair]:
    mentee_ids = {t.id for t in cohort.mentees}
    by_mentee: dict[Pair, int] = {}
    by_mentor: dict[Pair, int] = {}
    for r in cohort.rankings:
        if r.from_id in mentee_ids:
            by_mentee[(r.from_id, r.to_id)] = r.rank
        else:
            by_mentor[(r.to_id, r.from_id)] = r.rank
    partner = dict(matching)
    assigned: dict[str, list[str]] = defaultdict(list)
    for t, m in matching:
        assigned[m].append(t)
    capacity = {m.id: m.capacity for m in cohort.mentors}
    out = set()
    for t, m in allowed:
        if (t, m) not in by_mentee or (t, m) not in by_mentor or partner.get(t) == m or capacity[m] <= 0:
            continue
        current = partner.get(t)
        she_wants = current is None or (t, current) not in by_mentee or by_mentee[(t, m)] < by_mentee[(t, current)]
        he_wants = len(assigned[m]) < capacity[m] or any(
            (other, m) not in by_mentor or by_mentor[(t, m)] < by_mentor[(other, m)] for other in assigned[m])
        if she_wants and he_wants:
            out.add((t, m))
    return out


def rows_of(candidates: CandidatePairs, matching: set[Pair]) -> np.ndarray:
    index = {pair: r for r, pair in enumerate(allowed_pairs(candidates))}
    return np.array(sorted(index[p] for p in matching), dtype=np.int64)


# Examples ---------------------------------------------------------------------------------------------


def test_mutual_first_choices_apart_block() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2")), (mentee("T1"), mentee("T2")),
                    ranks(("T1", "M1", 1), ("M1", "T1", 1), ("T1", "M2", 2), ("T2", "M1", 1), ("M1", "T2", 2)),
                    rules=Rules(pins=(("T1", "M2"), ("T2", "M1"))))
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    found = blocking_pairs(result.candidates, result.best.rows)
    assert [(b.mentee_id, b.mentor_id, b.mentee_rank, b.mentor_rank) for b in found] == [("T1", "M1", 1, 1)]
    assert (found[0].mentee_partner, found[0].mentee_partner_rank) == ("M2", 2)
    assert (found[0].mentor_worst_mentee, found[0].mentor_worst_rank, found[0].mentor_free_capacity) == ("T2", 2, 0)


def test_ties_are_not_a_strict_preference() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2")), (mentee("T1"),),
                    ranks(("T1", "M1", 1), ("T1", "M2", 1), ("M1", "T1", 1)),
                    rules=Rules(pins=(("T1", "M2"),)))
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    assert audit(result.candidates, result.best.rows).count == 0


def test_unranked_partner_counts_as_unacceptable_and_free_capacity_takes() -> None:
    # T1 is pinned to M2, whom she did not rank; M1 (capacity 2, free) and T1 ranked each other.
    cohort = Cohort((mentor("M1", capacity=2), mentor("M2")), (mentee("T1"),),
                    ranks(("T1", "M1", 3), ("M1", "T1", 5)), rules=Rules(pins=(("T1", "M2"),)))
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    found = blocking_pairs(result.candidates, result.best.rows)
    assert [(b.mentee_id, b.mentor_id, b.mentee_partner_rank, b.mentor_free_capacity) for b in found] == [
        ("T1", "M1", 0, 2)]


def test_only_allowed_pairs_block() -> None:
    # Mutual first choices, but in different fields: the programme forbids the pair, so it cannot block.
    cohort = Cohort((mentor("M1", occupation="7111"),), (mentee("T1"),), ranks(("T1", "M1", 1), ("M1", "T1", 1)))
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    stability = audit(result.candidates, result.best.rows)
    assert (stability.count, stability.ranked_pairs) == (0, 0)


def test_a_mentor_with_no_capacity_never_blocks() -> None:
    cohort = Cohort((mentor("M1", capacity=0),), (mentee("T1"),), ranks(("T1", "M1", 1), ("M1", "T1", 1)))
    result = solve(cohort, SolveOptions(alternatives=1))
    assert result.best is not None
    assert audit(result.candidates, result.best.rows).count == 0


def test_stable_option_gives_up_score_to_remove_a_blocking_pair() -> None:
    # The score-best matching puts T1 with M2 (close); T1 and M1 ranked each other first, so stability moves her.
    cohort = Cohort((mentor("M1", km_north=25), mentor("M2")), (mentee("T1"),),
                    ranks(("T1", "M1", 1), ("M1", "T1", 1)), rules=Rules(weights=Weights(mutual_rank=0, mentee_rank=0, mentor_rank=0, travel=20)))
    plain = solve(cohort, SolveOptions(alternatives=1))
    stable = solve(cohort, SolveOptions(alternatives=1, stable=True))
    assert plain.best is not None and stable.best is not None
    assert plain.best.pairs(plain.candidates) == [("T1", "M2")]
    assert audit(plain.candidates, plain.best.rows).count == 1
    assert stable.best.pairs(stable.candidates) == [("T1", "M1")]
    assert stable.best.objective.value < plain.best.objective.value


def test_stable_option_is_infeasible_when_a_pin_forces_a_blocking_pair() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2")), (mentee("T1"),), ranks(("T1", "M1", 1), ("M1", "T1", 1)),
                    rules=Rules(pins=(("T1", "M2"),)))
    result = solve(cohort, SolveOptions(alternatives=1, stable=True))
    assert result.status is SolveStatus.INFEASIBLE and result.matchings == []
    # The explanation names the blocking pair that cannot be avoided and the pin behind it (docs/explanations.md).
    notes = " ".join(explain(result).notes)
    assert "no stable matching exists" in notes and "T1-M1" in notes
    assert "the pin T1-M2 and stability cannot all hold together" in notes


# Generated cohorts ------------------------------------------------------------------------------------


def random_ranked_cohort(rng: random.Random) -> Cohort:
    """Up to 6 x 6 with random partial rankings (small ranks, so many ties), capacities 0-2, and sometimes a
    pin, an organisation cap or a gender quota (the side constraints that can make stability impossible)."""
    n_mentors, n_mentees = rng.randint(1, 6), rng.randint(1, 6)
    mentors = tuple(mentor(f"M{j}", occupation=rng.choice(("2512", "2512", "2611")),
                           capacity=rng.choice((0, 1, 1, 1, 2)), km_north=rng.choice((0, 0, 0, 40)),
                           organisation=rng.choice(("", "acme")), gender=rng.choice("fm"))
                    for j in range(n_mentors))
    mentees = tuple(mentee(f"T{i}", occupation=rng.choice(("2512", "2512", "2611")), priority=rng.choice((1, 1, 2)))
                    for i in range(n_mentees))
    density = rng.choice((0.3, 0.6, 0.9))
    rankings = []
    for t in mentees:
        for m in mentors:
            if rng.random() < density:
                rankings.append(Ranking(t.id, m.id, rng.randint(1, 3)))
            if rng.random() < density:
                rankings.append(Ranking(m.id, t.id, rng.randint(1, 3)))
    cohort = Cohort(mentors, mentees, tuple(rankings))
    capacity = {m.id: m.capacity for m in mentors}
    usable = [(t, m) for t, m in allowed_pairs(candidate_pairs(cohort)) if capacity[m] > 0]
    pins = (rng.choice(usable),) if usable and rng.random() < 0.3 else ()
    caps = (("acme", rng.randint(0, 2)),) if rng.random() < 0.3 else ()
    quotas = (GenderQuota("f", rng.randint(0, 1), rng.choice((None, 1, 2))),) if rng.random() < 0.2 else ()
    seat_cost = rng.choice((100, 100, 0, 15))  # the default, off, and cheap enough to beat a free mentor at times
    return Cohort(mentors, mentees, tuple(rankings), Rules(pins=pins, organisation_caps=caps, gender_quotas=quotas,
                                                           extra_seat_cost=seat_cost))


ranked_cohorts = st.randoms(use_true_random=False).map(random_ranked_cohort)


def check_against_brute_force(cohort: Cohort, rng: random.Random) -> None:
    result = solve(cohort, SolveOptions(alternatives=3))
    candidates = result.candidates
    allowed = allowed_pairs(candidates)
    matchings = [set(m) for m in valid_matchings(cohort, allowed)]
    # The audit of every matching the solver returns, and of a sample of all matchings.
    for matching in result.matchings:
        pairs = set(matching.pairs(candidates))
        found = {(b.mentee_id, b.mentor_id) for b in blocking_pairs(candidates, matching.rows)}
        assert found == brute_blocking(cohort, allowed, pairs)
    for pairs in rng.sample(matchings, min(15, len(matchings))):
        stability = audit(candidates, rows_of(candidates, pairs))
        assert stability.count == len(brute_blocking(cohort, allowed, pairs))
    # The stable option: the best matching without a blocking pair, or INFEASIBLE when none exists.
    # The README's objective value (big x matched priority + total score - seat cost), from its own rules.
    oracle = RulesOracle(cohort)
    stable_values = [oracle.parts(m).value for m in matchings if not brute_blocking(cohort, allowed, m)]
    stable = solve(cohort, SolveOptions(alternatives=1, stable=True))
    if not stable_values:
        assert stable.status is SolveStatus.INFEASIBLE and not stable.matchings
    else:
        assert stable.status is SolveStatus.OPTIMAL and stable.best is not None
        assert audit(stable.candidates, stable.best.rows).count == 0
        assert stable.best.objective.value == max(stable_values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranked_cohorts, st.randoms(use_true_random=False))
def test_audit_and_stable_option_agree_with_brute_force(cohort: Cohort, rng: random.Random) -> None:
    check_against_brute_force(cohort, rng)


@pytest.mark.slow
def test_audit_and_stable_option_agree_with_brute_force_at_length() -> None:
    for seed in range(500):
        rng = random.Random(seed)
        check_against_brute_force(random_ranked_cohort(rng), rng)

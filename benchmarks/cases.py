"""The benchmark cohorts: seeded national pools (`scenarios.generate`), a constrained pool, bundled programmes.

Every cohort is a pure function of its seed and sizes, so each worker process rebuilds exactly the cohort
the parent asked for, and a rerun measures the same instance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from scenarios.generate import copenhagen_business, lyngby_career, national_pool
from solver.domain import Cohort, GenderQuota
from solver.scores import candidate_pairs
from solver.solve import build_model, flow_optimum, primary_weights

SEED = 2026


@dataclass(frozen=True)
class Sizes:
    """Cohort sizes and repeats per case; `FULL` is what `make bench` runs, `QUICK` what the smoke test runs."""

    large: int = 5_000  # L: mentees = mentors
    xlarge: int = 10_000  # XL
    constrained: int = 2_000  # C
    large_repeats: int = 5
    large_baseline_repeats: int = 3
    xlarge_repeats: int = 3
    xlarge_baseline_repeats: int = 1
    constrained_repeats: int = 3
    constrained_time_limit_s: float = 20.0  # ours and the plain CP-SAT baseline alike
    small_calls: int = 25  # S: sequential Match calls, after `small_warmup` warm-up calls
    small_warmup: int = 3
    throughput_clients: int = 4  # T: concurrent clients, each with its own channel
    throughput_seconds: float = 8.0  # T: how long the clients keep calling
    server_cpu_calls: int = 300  # T-cpu: Match calls in process, after `small_warmup` warm-up calls
    sweep_quick: bool = False  # D: the first two axes of the grid only (8 settings)


FULL = Sizes()
QUICK = Sizes(large=300, xlarge=400, constrained=250, large_repeats=2, large_baseline_repeats=1, xlarge_repeats=1,
              xlarge_baseline_repeats=1, constrained_repeats=1, constrained_time_limit_s=10.0, small_calls=2, small_warmup=1,
              throughput_clients=2, throughput_seconds=1.0, server_cpu_calls=5, sweep_quick=True)


def national(n: int, seed: int = SEED) -> Cohort:
    """L / XL: n mentees and n mentors over 15 Danish towns; the programme's hard rules, no side constraints."""
    return national_pool(seed, n, n)


def constrained(n: int, seed: int = SEED + 1) -> Cohort:
    """C: a national pool with organisation caps and gender quotas that bind.

    Calibrated on the instance (outside any timing): each organisation that the unconstrained optimum gives
    20 or more mentees is capped at 80 % of that; then the optimum under the caps is computed, and the
    quotas ask for 5 % of its matched pairs more with women mentors and 5 % fewer with men than it has, so
    that the flow relaxation (caps, no quotas) breaks both quotas and the solver must do real work.
    """
    cohort = national_pool(seed, n, n)
    model = build_model(candidate_pairs(cohort))
    rows = flow_optimum(model, primary_weights(model))
    organisations = sorted({m.organisation for m in cohort.mentors if m.organisation})
    load = dict.fromkeys(organisations, 0)
    for mentor in model.mentor[rows].tolist():
        organisation = cohort.mentors[mentor].organisation
        if organisation:
            load[organisation] += 1
    caps = tuple((o, int(0.8 * load[o])) for o in organisations if load[o] >= 20)
    cohort = replace(cohort, rules=replace(cohort.rules, organisation_caps=caps), name=f"constrained_{n}x{n}")
    model = build_model(candidate_pairs(cohort))
    rows = flow_optimum(model, primary_weights(model))
    genders = model.mentor_gender[model.mentor[rows]]
    women, men, matched = int((genders == 1).sum()), int((genders == 2).sum()), len(rows)
    quotas = (GenderQuota("f", min_pairs=women + max(1, int(0.05 * matched))),
              GenderQuota("m", max_pairs=max(0, men - max(1, int(0.05 * matched)))))
    return replace(cohort, rules=replace(cohort.rules, gender_quotas=quotas))


def programme() -> Cohort:
    """S: the bundled Copenhagen business programme, 80 mentees x 80 mentors (pins, bans, rankings)."""
    return copenhagen_business()


def small_programme() -> Cohort:
    """T: the bundled Lyngby career programme, 15 mentees x 15 mentors."""
    return lyngby_career()

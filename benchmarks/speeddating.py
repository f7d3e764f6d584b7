"""Case SD of `make bench`: the speed-dating kick-off planned for Lyngby (15 + 15, 6 rounds) and 80 + 80 (8 rounds).

Ours: `plan_speed_dating` end to end (candidate pairs, the matching and 2 alternatives, the exact lexicographic
flow, rounds and tables), median of a few runs. Baseline: the same objective as a CP-SAT model with a Boolean per
allowed pair (`solver.speeddating.cpsat`), stage by stage, on the same instance; the answers agree when both are
proven optimal and reach the same value of every criterion. Coverage figures are printed beside the times.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import numpy as np

CASES = (("SD-15", "lyngby", 6, 1.0), ("SD-80", "copenhagen", 8, 10.0))  # name, cohort, rounds, target seconds


def worker_speeddating(cohort: str, rounds: int, repeats: int, baseline_limit_s: float) -> dict[str, Any]:
    """One cohort: our plan `repeats` times, then the CP-SAT reference once (in this fresh process)."""
    from benchmarks.cases import programme, small_programme
    from solver.speeddating import PlanOptions, plan_speed_dating
    from solver.speeddating import plan as plan_module
    from solver.speeddating.cpsat import select_meetings_cpsat
    from solver.speeddating.instance import PlanInstance, objective_parts
    from solver.stop import StopToken

    data = small_programme() if cohort == "lyngby" else programme()
    options = PlanOptions(rounds=rounds, minutes=8)
    seconds, plan = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        plan = plan_speed_dating(data, options)
        seconds.append(time.perf_counter() - started)
    assert plan is not None
    captured: list[PlanInstance] = []
    real = plan_module.select_meetings

    def capture(instance: PlanInstance, stop: StopToken) -> Any:
        captured.append(instance)
        return real(instance, stop)

    plan_module.select_meetings = capture
    try:
        ours = plan_speed_dating(data, options)
    finally:
        plan_module.select_meetings = real
    instance = captured[0]
    started = time.perf_counter()
    reference = select_meetings_cpsat(instance, StopToken.within(baseline_limit_s))
    baseline_s = time.perf_counter() - started
    met = sum(len(c.met_top) for c in ours.coverage)
    wanted = sum(len(c.top_mentors) for c in ours.coverage)
    canonical, keys = data.canonical(), {(x.mentee_id, x.mentor_id) for x in ours.meetings}
    chosen = np.array([(canonical.mentees[a].id, canonical.mentors[b].id) in keys  # ours as a mask over the pairs
                       for a, b in zip(instance.mentee.tolist(), instance.mentor.tolist(), strict=True)], dtype=np.bool_)
    return {
        "seconds": seconds, "status": ours.status.value, "allowed_pairs": ours.stats.allowed_pairs,
        "participants": [len(data.mentees), len(data.mentors)], "meetings": len(ours.meetings),
        "objective": list(ours.objective.key()), "ours_parts": objective_parts(instance, chosen),
        "baseline_parts": objective_parts(instance, reference.chosen), "baseline_s": baseline_s,
        "baseline_status": reference.status.value,
        "coverage": {"top_met": met, "top_wanted": wanted,
                     "mentees_complete": sum(1 for c in ours.coverage if c.complete),
                     "mentees": len(ours.coverage), "best_pairs_met": ours.objective.best_pairs_met,
                     "best_pairs": ours.objective.best_pairs, "all_best_pairs_meet": ours.all_best_pairs_meet,
                     "alternative_pairs_met": ours.objective.alternative_pairs_met,
                     "alternative_pairs": ours.objective.alternative_pairs},
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def case_speeddating(run: dict[str, Any], name: str, target_s: float) -> dict[str, Any]:
    """A result row in the shape of `benchmarks.run`'s table."""
    ours_s = float(statistics.median(run["seconds"]))
    ours_key = [run["ours_parts"][k] for k in run["ours_parts"]]
    base_key = [run["baseline_parts"][k] for k in run["baseline_parts"]]
    agree = ours_key >= base_key and (run["baseline_status"] != "OPTIMAL" or ours_key == base_key)
    return {
        "case": name, "sizes": {"mentees": run["participants"][0], "mentors": run["participants"][1],
                                "candidate_pairs": run["allowed_pairs"]},
        "ours_s": ours_s, "baseline": "CP-SAT, a Boolean per allowed pair, one solve per criterion",
        "baseline_s": run["baseline_s"], "ratio": ours_s / run["baseline_s"] if run["baseline_s"] else None,
        "ours_objective": sum(ours_key), "baseline_objective": sum(base_key), "objectives_agree": agree,
        "ours_peak_rss_mb": run["peak_rss_mb"], "coverage": run["coverage"], "status": run["status"],
        "baseline_status": run["baseline_status"], "objective_parts": run["ours_parts"],
        "repeats": {"ours": len(run["seconds"]), "baseline": 1},
        "target_met": ours_s < target_s and agree and run["status"] == "OPTIMAL",
    }


def describe(result: dict[str, Any]) -> str:
    """The coverage figures in one line."""
    c = result["coverage"]
    share = 100.0 * c["top_met"] / c["top_wanted"] if c["top_wanted"] else 0.0
    return (f"{result['case']}: top mentors met {c['top_met']}/{c['top_wanted']} ({share:.0f} %), "
            f"{c['mentees_complete']}/{c['mentees']} mentees meet all their top mentors; best matching "
            f"{c['best_pairs_met']}/{c['best_pairs']} pairs meet; alternatives {c['alternative_pairs_met']}/"
            f"{c['alternative_pairs']}; plan {result['status']}, {result['ours_s'] * 1000:.0f} ms")


def run_case(in_worker: Any, quick: bool, log: Any) -> list[dict[str, Any]]:
    """SD-15 and SD-80, each in its own worker process."""
    out = []
    for name, cohort, rounds, target in CASES:
        run = in_worker("speeddating", cohort=cohort, rounds=rounds, repeats=1 if quick else 5,
                        baseline_limit_s=10.0 if quick else 30.0)
        result = case_speeddating(run, name, target)
        log(f"  {describe(result)}")
        out.append(result)
    return out

"""Case E of `make bench`: explanations with re-solves (counterfactuals, forced-in costs), issue 20.

S-full     the bundled 80 x 80 programme, `Match` over gRPC on loopback with 3 matchings and EXPLAIN_LEVEL_FULL
           (what would change it, and what matching them would cost, for up to 20 unmatched people): the server's
           own handling time per call, median (`worker_small` of benchmarks/run.py, as case S).
K-explain  `mentormatch solve scenarios/kvinfo_network --explain --json -k 3`, 300 x 280 with a gender quota, from a
           fresh process each time (interpreter start, reading, the solve, the explanation, the JSON): wall seconds,
           median. Beside it, the same command without --explain, so that the explanation's own share shows.

Each answer is checked: the objective the command prints is the library solve's, and the explanation is whole
(not cut short, every re-solve made).
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"S-full": "<= 300 ms median server side", "K-explain": "<= 2 s wall, from a fresh process"}


def _command(scenario: str, explain: bool) -> list[str]:
    script = Path(sys.executable).parent / "mentormatch"  # the console script of this environment
    return [str(script), "solve", str(ROOT / "scenarios" / scenario), "--json", "-k", "3",
            *(["--explain"] if explain else [])]


def worker_cli_explain(scenario: str, repeats: int) -> dict[str, Any]:
    """The command `repeats` times with --explain and as many without, alternating, each in a fresh process."""
    from solver.ingest import load_cohort
    from solver.scores import candidate_pairs
    from solver.solve import SolveOptions, solve

    cohort = load_cohort(ROOT / "scenarios" / scenario)
    expected = solve(cohort, SolveOptions(alternatives=3))
    assert expected.best is not None
    with_s: list[float] = []
    without_s: list[float] = []
    answers: list[dict[str, Any]] = []
    for _ in range(repeats):
        for explain in (True, False):
            started = time.perf_counter()
            done = subprocess.run(_command(scenario, explain), cwd=ROOT, capture_output=True, text=True, check=False,
                                  timeout=600)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise RuntimeError(f"mentormatch solve failed ({done.returncode}):\n{done.stderr[-2000:]}")
            (with_s if explain else without_s).append(seconds)
            if explain:
                answers.append(json.loads(done.stdout))
    explanation = answers[-1]["explanation"]
    best = explanation["matchings"][0]
    people = best.get("unmatched_mentees", []) + best.get("mentors_without_mentee", [])
    notes = explanation.get("notes", [])
    return {
        "explain_s": with_s, "plain_s": without_s,
        "objectives": [int(a["objective_value"]) for a in answers], "library_objective": expected.best.objective.value,
        "whole": explanation.get("truncated", "EXPLANATION_TRUNCATION_UNSPECIFIED").endswith("_UNSPECIFIED")
        and not any("ran out" in note for note in notes),
        "counterfactuals": sum(len(p.get("counterfactuals", [])) for p in people),
        "forced_in": sum(1 for p in people if "forced_in" in p),
        "participants": [len(cohort.mentees), len(cohort.mentors)],
        "candidate_pairs": len(candidate_pairs(cohort.canonical())),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0,
    }


def case_full_explain(run: dict[str, Any]) -> dict[str, Any]:
    """S-full from case S's worker."""
    server_s = float(statistics.median(run["server_s"]))
    return {
        "case": "S-full", "sizes": {"mentees": run["participants"][0], "mentors": run["participants"][1],
                                    "candidate_pairs": run["candidate_pairs"]},
        "ours_s": server_s, "client_round_trip_s": float(statistics.median(run["client_s"])), "baseline": None,
        "baseline_s": None, "ratio": None, "ours_objective": run["objective"],
        "baseline_objective": run["library_objective"], "objectives_agree": run["objectives_agree"],
        "ours_peak_rss_mb": run["peak_rss_mb"], "mode": run["mode"], "explain": "FULL",
        "matchings": run["matchings"], "repeats": {"ours": len(run["server_s"])}, "server_s_all": run["server_s"],
        "target_met": server_s <= 0.300 and run["objectives_agree"] and run["matchings"] == 3,
    }


def case_cli_explain(run: dict[str, Any], scenario: str) -> dict[str, Any]:
    ours_s, plain_s = float(statistics.median(run["explain_s"])), float(statistics.median(run["plain_s"]))
    agree = set(run["objectives"]) == {run["library_objective"]}
    return {
        "case": "K-explain", "scenario": scenario,
        "sizes": {"mentees": run["participants"][0], "mentors": run["participants"][1],
                  "candidate_pairs": run["candidate_pairs"]},
        "ours_s": ours_s, "baseline": "the same command without --explain", "baseline_s": plain_s,
        "ratio": ours_s / plain_s if plain_s else None, "ours_objective": run["library_objective"],
        "baseline_objective": run["library_objective"], "objectives_agree": agree,
        "ours_peak_rss_mb": run["peak_rss_mb"], "explanation_whole": run["whole"],
        "counterfactuals": run["counterfactuals"], "forced_in": run["forced_in"],
        "explain_s_all": run["explain_s"], "plain_s_all": run["plain_s"], "repeats": {"ours": len(run["explain_s"])},
        "target_met": ours_s <= 2.0 and agree and run["whole"],
    }


def run_case(in_worker: Any, calls: int, warmup: int, quick: bool, log: Any) -> list[dict[str, Any]]:
    """S-full and K-explain, each in worker processes of their own (quick: Lyngby's 15 x 15 for K, once)."""
    full = case_full_explain(in_worker("small", calls=max(1, calls // 3), warmup=warmup, explain="FULL",
                                       fast_alternatives=True))
    scenario = "lyngby_career" if quick else "kvinfo_network"
    cli = case_cli_explain(in_worker("cli_explain", scenario=scenario, repeats=1 if quick else 3), scenario)
    log(f"  K-explain: {cli['counterfactuals']} counterfactuals, {cli['forced_in']} forced-in costs, explanation "
        f"{'whole' if cli['explanation_whole'] else 'CUT SHORT'}; without --explain {cli['baseline_s']:.2f} s")
    return [full, cli]

"""`make bench`, tiny: every case through the very code path of `python -m benchmarks.run` (worker processes,
baselines, the gRPC server, the table and the JSON), at sizes that take seconds. It asserts that our answers
agree with the baselines' (objectives), never timings: a broken bench fails `make test`, a slow machine does not.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import run


@pytest.mark.campaign  # every bench case at tiny size: minutes; `make campaign` (CI) runs it
def test_every_case_runs_and_agrees_with_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    code = run.main(["--quick", "--out", str(out)])
    document = json.loads(out.read_text())
    cases = {c["case"]: c for c in document["cases"]}
    assert set(cases) == {"L", "XL", "C", "S", "S-plain", "S-full", "T", "T-1", "T-w1", "T-cpu", "D", "SD-15", "SD-80", "R",
                          "K-explain", "H"}
    for case in cases.values():
        assert case["objectives_agree"], case["case"]
    assert code == 0
    # L / XL: the same optimum as scipy's linear_sum_assignment on the capacity-expanded matrix.
    for name in ("L", "XL"):
        assert cases[name]["ours_objective"] == cases[name]["baseline_objective"] > 0
        assert cases[name]["ours_peak_rss_mb"] > 0 and cases[name]["baseline_peak_rss_mb"] > 0
    # C: the relaxation breaks the quotas, ours is proven within 0.5 %, the baseline never beats our bound.
    constrained = cases["C"]
    assert any("gender quota" in v for v in constrained["relaxation_breaks"])
    assert constrained["proven_gap"] is not None and constrained["proven_gap"] <= run.GAP
    assert constrained["baseline_objective"] is None or constrained["baseline_objective"] <= constrained["ours_bound"]
    # S / T: the service answers what the library answers, with 3 matchings.
    assert cases["S"]["matchings"] == cases["S-plain"]["matchings"] == cases["S-full"]["matchings"] == 3
    assert cases["T"]["ok_calls"] > 0
    # E: the explain command from a fresh process prints the library's objective and a whole explanation.
    assert cases["K-explain"]["explanation_whole"] and cases["K-explain"]["counterfactuals"] > 0
    assert cases["T-cpu"]["ours_s"] > 0 and cases["T-cpu"]["matchings"] == 3
    # D: the sweep on a LocalCluster gives the sequential outcomes, and the overhead was measured.
    assert cases["D"]["tasks"] == 8 and cases["D"]["noop_task_s"] > 0 and cases["D"]["cluster_startup_s"] > 0
    # H: `--help` was timed against the interpreter's own start, both in CPU seconds.
    assert cases["H"]["ours_s"] > cases["H"]["baseline_s"] > 0
    assert "| case" in run.table(document["cases"])

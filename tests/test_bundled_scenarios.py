"""The bundled scenarios: valid, solved to proven optimality, and one whole answer pinned as a golden file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from solver.ingest import load_cohort
from solver.output import result_dict
from solver.solve import SolveOptions, SolveStatus, solve

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
NAMES = ["lyngby_career", "copenhagen_business", "ibmp_2026_q1", "ibmp_2026_q2", "ibmp_2026_q3", "ibmp_2026_q4",
         "ibm_refugees", "kvinfo_network", "copenhagen_career"]
GOLDEN = Path(__file__).resolve().parent / "golden" / "lyngby_career.json"


@pytest.mark.parametrize("name", NAMES)
def test_validate_accepts_each_bundled_scenario(name: str) -> None:
    result = subprocess.run([sys.executable, "-m", "server.cli", "validate", str(SCENARIOS / name)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"{name}: valid:" in result.stdout


@pytest.mark.parametrize("name", NAMES)
def test_each_bundled_scenario_solves_to_optimal(name: str) -> None:
    result = solve(load_cohort(SCENARIOS / name), SolveOptions(alternatives=1))
    assert result.status is SolveStatus.OPTIMAL
    best = result.matchings[0]
    assert best.objective.value == result.bound
    assert 0 < best.objective.matched < len(result.candidates.cohort.mentees)  # some are left out on purpose


def _golden_view() -> dict[str, object]:
    result = solve(load_cohort(SCENARIOS / "lyngby_career"), SolveOptions(alternatives=3, seed=0))
    data = result_dict(result)
    return {"status": data["status"], "bound": data["bound"],
            "matchings": [{"rank": m["rank"], "objective": m["objective"],
                           "pairs": [[p["mentee"], p["mentor"], p["score"]] for p in m["pairs"]],
                           "unmatched": [u["id"] for u in m["unmatched"]]} for m in data["matchings"]]}


def test_lyngby_answer_matches_the_golden_file() -> None:
    view = _golden_view()
    if os.environ.get("MENTORMATCH_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(view, indent=1) + "\n")
    assert view == json.loads(GOLDEN.read_text()), "answer changed; if intended, rerun with MENTORMATCH_UPDATE_GOLDEN=1"

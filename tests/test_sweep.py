"""`mentormatch sweep`: grids read with every problem at its field path, the Pareto frontier, the table in CSV,
Parquet and JSON, the HTML report (escaped, and drawn by a real headless Chromium), never written over an input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from solver.compare import apply_changes, load_scenario
from solver.errors import CohortInvalid
from solver.sweep import (
    MAX_SETTINGS,
    SweepOutcome,
    check_values,
    grid_from_mapping,
    load_grid,
    pareto_front,
)
from solver.sweep_report import render_sweep_report
from tests.hardening_support import ROOT
from tests.test_report_browser import CHROMIUM_FLAGS, decode_png

WHATIF = ROOT / "scenarios" / "whatif"


def _sweep_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", "sweep", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, check=False, cwd=ROOT, env={**os.environ, "COLUMNS": "250"})


def _outcome(index: int, share: float, score: float | None, km: float | None, error: str = "") -> SweepOutcome:
    return SweepOutcome(index=index, label=str(index), values=[], status="OPTIMAL", mentees=10,
                        matched=round(share * 10), matched_share=share, mean_score=score, worst_score=None,
                        mean_travel_km=km, unmatched_by_reason=[], solve_seconds=0.0, error=error)


def test_the_pareto_frontier_keeps_what_no_other_setting_beats() -> None:
    outcomes = [
        _outcome(0, 0.8, 500, 3.0),  # dominated by 2 (more matched, better score, same travel)
        _outcome(1, 0.9, 480, 2.0),  # shortest travel among the best matched
        _outcome(2, 0.9, 510, 3.0),  # best score
        _outcome(3, 0.9, 510, 3.0),  # equal to 2: both stay
        _outcome(4, 0.0, None, None),  # nobody matched
        _outcome(5, 1.0, 900, 9.0, error="RuntimeError: boom"),  # failed settings are never on it
    ]
    assert pareto_front(outcomes) == [1, 2, 3]


def test_every_problem_of_a_grid_is_reported_with_its_field_path() -> None:
    with pytest.raises(CohortInvalid) as caught:
        grid_from_mapping({"axes": {"max_distance_km": [10, 20], "pins": [[]], "field_depth": "2",
                                    "weights": [5], "min_language_level": []}, "colour": "blue"}, "g.toml")
    paths = {p.path for p in caught.value.problems}
    assert paths == {"colour", "axes.pins", "axes.field_depth", "axes.weights", "axes.min_language_level"}
    with pytest.raises(CohortInvalid) as caught:
        grid_from_mapping({"axes": {"max_distance_km": list(range(11)), "field_depth": [0, 1, 2, 3, 4],
                                    "min_mentor_years": list(range(20))}})
    assert [p.code.value for p in caught.value.problems] == ["TOO_LARGE"]
    assert str(11 * 5 * 20) in caught.value.problems[0].message and str(MAX_SETTINGS) in caught.value.problems[0].message


def test_bad_values_are_reported_once_at_their_place_in_the_grid() -> None:
    base = load_scenario(WHATIF / "kvinfo_base.toml").cohort
    grid = grid_from_mapping({"axes": {"max_distance_km": [25, -3], "field_depth": [1, 9],
                                       "min_language_level": ["B1", "Z9"], "weights": [{}, {"travel": -1}]}})
    with pytest.raises(CohortInvalid) as caught:
        check_values(base, grid)
    paths = sorted(p.path for p in caught.value.problems)
    assert all(p.startswith(("axes.max_distance_km[1]", "axes.field_depth[1]", "axes.min_language_level[1]",
                             "axes.weights[1]")) for p in paths), paths
    assert {p.split(".rules")[0] for p in paths} == {"axes.max_distance_km[1]", "axes.field_depth[1]",
                                                      "axes.min_language_level[1]", "axes.weights[1]"}
    # A pin that one value breaks on its own is reported at that value, not at every setting.
    with pytest.raises(CohortInvalid) as caught:
        check_values(base, grid_from_mapping({"axes": {"field_depth": [1, 2]}}))
    assert {p.path.split(".")[0] for p in caught.value.problems} == {"axes"}


def test_the_bundled_grid_has_64_settings_all_valid() -> None:
    grid = load_grid(WHATIF / "grids" / "kvinfo_sweep.toml")
    base = load_scenario(WHATIF / "kvinfo_base.toml").cohort
    check_values(base, grid)
    assert grid.size() == 64
    assert all(apply_changes(base, s.changes(), label=s.label).cohort.mentees for s in grid.settings())


def _small_grid(tmp_path: Path) -> Path:
    grid = tmp_path / "grid.toml"
    grid.write_text('label = "Lyngby <small> & quick"\n[axes]\nmax_distance_km = [10, "none"]\n'
                    'min_language_level = ["B1", "A2"]\n', encoding="utf-8")
    return grid


def test_the_command_writes_json_csv_parquet_and_an_escaped_report(tmp_path: Path) -> None:
    grid = _small_grid(tmp_path)
    base = WHATIF / "lyngby_base.toml"
    done = _sweep_cli(base, "--grid", grid, "--json", "--sequential", "-o", tmp_path / "out.csv",
                      "--report", tmp_path / "out.html")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["axes"] == ["max_distance_km", "min_language_level"] and len(data["outcomes"]) == 4
    assert [o["index"] for o in data["outcomes"]] == [0, 1, 2, 3]
    assert data["outcomes"][0]["values"] == ["max_distance_km 10", "min_language_level B1"]
    assert data["outcomes"][3]["matched"] >= data["outcomes"][0]["matched"]  # no limit and A2 match at least as many
    assert data["pareto"] and all(data["outcomes"][i]["pareto"] for i in data["pareto"])
    table = pl.read_csv(tmp_path / "out.csv")
    assert table["matched"].to_list() == [o["matched"] for o in data["outcomes"]]
    assert table["max_distance_km"].cast(pl.String).to_list() == ["10", "10", "none", "none"]
    html = (tmp_path / "out.html").read_text(encoding="utf-8")
    assert "Lyngby &lt;small&gt; &amp; quick" in html and "<small>" not in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")  # offline: nothing fetched
    parquet = _sweep_cli(base, "--grid", grid, "--sequential", "-o", tmp_path / "out.parquet")
    assert parquet.returncode == 0, parquet.stderr
    assert pl.read_parquet(tmp_path / "out.parquet")["matched"].to_list() == table["matched"].to_list()


def test_outputs_never_overwrite_an_input_and_bad_ones_are_refused_before_solving(tmp_path: Path) -> None:
    grid = _small_grid(tmp_path)
    before = grid.read_bytes()
    base = WHATIF / "lyngby_base.toml"
    over = _sweep_cli(base, "--grid", grid, "--sequential", "-o", grid.with_suffix(".csv"), "--report", grid)
    assert over.returncode == 2 and "OVERWRITES_INPUT" in over.stderr and "Traceback" not in over.stderr
    assert grid.read_bytes() == before
    unknown = _sweep_cli(base, "--grid", grid, "--sequential", "-o", tmp_path / "out.txt")
    assert unknown.returncode == 2 and ".csv, .parquet, .xlsx" in unknown.stderr
    assert not (tmp_path / "out.txt").exists() and not grid.with_suffix(".csv").exists()
    broken = tmp_path / "broken.toml"
    broken.write_text('[axes]\nfield_depth = [1, 7]\nmin_language_level = ["Q3"]\n', encoding="utf-8")
    bad = _sweep_cli(base, "--grid", broken, "--sequential")
    assert bad.returncode == 2 and "axes.field_depth[1]" in bad.stderr and "axes.min_language_level[0]" in bad.stderr
    both = _sweep_cli(base, "--grid", grid, "--sequential", "--workers", "2")
    assert both.returncode == 2 and "--sequential" in both.stderr


@pytest.mark.browser
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    chromium = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                     if (found := shutil.which(name))), None)
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("headless Chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("chromium is not installed")
    from solver.sweep import run_sweep

    base = load_scenario(WHATIF / "lyngby_base.toml").cohort
    sweep = run_sweep(base, load_grid(_small_grid(tmp_path)))
    page = tmp_path / "sweep.html"
    page.write_text(render_sweep_report(sweep), encoding="utf-8")
    profile = tmp_path / "profile"
    common: list[str] = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120,
                         check=False)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<circle") == 4 and dom.stdout.count("<tr>") == 5  # a point and a row per setting
    shot = tmp_path / "shot.png"
    done = subprocess.run([*common, f"--screenshot={shot}", "--window-size=1000,900", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image: Any = decode_png(shot.read_bytes())
    assert (image[..., :3] < 200).any(axis=-1).mean() > 0.01  # ink on the page, not a blank screen

"""Outcomes: share with a job of the pairs high and low on each soft term, Wilson intervals, suggestions that are
never applied, honesty about too few data, and the report as a table, JSON and escaped HTML."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from scipy.stats import binomtest

from solver.domain import Cohort, HistoryEntry, Outcome
from solver.ingest import write_cohort_dir
from solver.outcomes import MIN_GROUP, outcomes_report, read_sources, report_html, wilson
from tests.conftest import mentee, mentor
from tests.test_year import run

ROOT = Path(__file__).resolve().parent.parent
EARLIER = ROOT / "scenarios" / "ibmp_year" / "history_2022_2025.csv"


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (3, 10), (28, 53), (92, 169), (0, 40), (40, 40), (7, 900)])
def test_wilson_intervals_are_scipys(k: int, n: int) -> None:
    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-12)


def planted(n: int, seed: int, programme: str = "P") -> tuple[HistoryEntry, ...]:
    """Finished pairs: high INTERESTS doubles the chance of a job, high TRAVEL halves it, GOAL does nothing."""
    rng = random.Random(seed)
    out = []
    for k in range(n):
        points = {"INTERESTS": rng.choice([0, 100]), "TRAVEL": rng.choice([0, 100]), "GOAL": rng.choice([0, 100])}
        job = 0.3 * (2 if points["INTERESTS"] else 1) * (0.5 if points["TRAVEL"] else 1)
        outcome = Outcome.JOB if rng.random() < job else rng.choice([Outcome.COMPLETED, Outcome.DROPPED_OUT])
        out.append(HistoryEntry(f"E{k}", f"M{k}", date(2025, 1, 1), date(2025, 9, 1), outcome, programme, None,
                                tuple(points.items())))
    return tuple(out)


def test_the_report_finds_what_was_planted_and_suggests_without_applying() -> None:
    report = outcomes_report([("planted", planted(600, 1), None)])
    verdicts = {t.term: t.verdict for t in report.terms}
    assert verdicts == {"INTERESTS": "raise", "TRAVEL": "lower", "GOAL": "no_difference"}
    interests = next(t for t in report.terms if t.term == "INTERESTS")
    assert interests.high.jobs / interests.high.pairs == interests.high.share
    assert interests.suggestion.startswith("consider raising weights.interests")
    assert (interests.high.low, interests.high.high) == wilson(interests.high.jobs, interests.high.pairs)


def test_too_few_data_are_said_so() -> None:
    report = outcomes_report([("small", planted(2 * MIN_GROUP - 3, 2), None)])
    assert {t.verdict for t in report.terms} == {"too_few"}
    assert all("too few data to suggest anything" in t.suggestion for t in report.terms)
    empty = outcomes_report([("none", (HistoryEntry("E1", "M1", date(2026, 1, 1)),), None)])
    assert empty.terms == [] and empty.notes == ["no finished pair with a recorded outcome: nothing to report yet"]


def test_points_are_recomputed_from_the_cohort_when_not_recorded(tmp_path: Path) -> None:
    start = date(2025, 1, 15)
    history = tuple(HistoryEntry(f"T{i}", "M1", start, start + timedelta(days=200), Outcome.JOB) for i in range(3))
    cohort = Cohort((mentor("M1"),), tuple(mentee(f"T{i}", km_north=10 * i) for i in range(3)), history=history,
                    name="recomputed")
    report = outcomes_report(read_sources([write_cohort_dir(cohort, tmp_path / "c")]))
    travel = next(t for t in report.terms if t.term == "TRAVEL")
    assert (travel.high.pairs, travel.low.pairs) == (2, 1)  # 0 km and 10 km within 30 km: 100 and 66; 20 km: 33
    assert travel.weight == 2 and report.finished == 3


def test_the_html_report_holds_data_as_text(tmp_path: Path) -> None:
    report = outcomes_report([("x", planted(60, 3, programme="<script>alert('x')</script> & co"), None)])
    page = report_html(report)
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert page.count("<svg") == 1 and "Weight changes are suggestions only" in page


def test_the_command_line(tmp_path: Path) -> None:
    done = run("outcomes", EARLIER, "--json", "--report", tmp_path / "o.html")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    raised = {(t["programme"], t["term"]) for t in data["terms"] if t["verdict"] == "raise"}
    assert raised == {("IBMP", "FIELD"), ("Lyngby career", "FIELD"), ("(all)", "FIELD")}  # what the generator plants
    assert (tmp_path / "o.html").read_text().startswith("<!DOCTYPE html>")
    refused = run("outcomes", EARLIER, "--report", EARLIER)
    assert refused.returncode == 2 and "OVERWRITES_INPUT" in refused.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("mentee_id,mentor_id,started,ended,outcome\nE1,M1,2025-01-01,2025-09-01,hired\n")
    broken = run("outcomes", bad)
    assert broken.returncode == 2 and "bad.csv row" in broken.stderr

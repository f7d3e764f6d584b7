"""The speed-dating sheet in a real headless Chromium: readable at A4, no console errors, a printed page per card."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from solver.ingest import load_cohort
from solver.speeddating import PlanOptions, SpeedDatingPlan, plan_speed_dating
from solver.speeddating.sheet import render_sheet, write_plan_files
from tests.conftest import SCENARIOS
from tests.test_report_browser import _run, decode_png

A4_PX = (794, 1123)  # 210 x 297 mm at 96 px per inch
TRICKY_ID = 'E<b>&"9'


def _plan() -> SpeedDatingPlan:
    cohort = load_cohort(SCENARIOS / "lyngby_career")
    first = cohort.mentees[0]
    renamed = replace(first, id=TRICKY_ID)  # an id that must come out as text, never as markup
    cohort = replace(cohort, mentees=(renamed, *cohort.mentees[1:]),
                     rankings=tuple(replace(r, from_id=TRICKY_ID) if r.from_id == first.id else
                                    replace(r, to_id=TRICKY_ID) if r.to_id == first.id else r
                                    for r in cohort.rankings),
                     rules=replace(cohort.rules, pins=(), bans=()))
    return plan_speed_dating(cohort, PlanOptions(rounds=6, minutes=8, tables=12))


@pytest.mark.browser
def test_the_sheet_reads_at_a4_in_headless_chromium(tmp_path: Path) -> None:
    plan = _plan()
    page = write_plan_files(plan, html=tmp_path / "sheet.html")[0]
    shot = tmp_path / "a4.png"
    run = _run(["--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                f"--window-size={A4_PX[0]},{A4_PX[1]}", page.resolve().as_uri()], tmp_path)
    assert shot.exists(), run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines()
              if "Uncaught" in line or ("CONSOLE" in line and "error" in line.lower())]
    assert not errors, errors
    pixels = decode_png(shot.read_bytes())[:, :, :3].astype(np.int32)
    assert pixels.shape[:2] == (A4_PX[1], A4_PX[0])
    dark = (pixels.sum(axis=2) < 250)  # text
    assert dark.mean() > 0.02, "the page looks blank"
    # Readable: the grid fits the page's width (nothing cut at the right edge) and the text is not tiny: the
    # dark rows come in lines at least 9 px tall.
    assert not dark[:, -12:].any(), "something runs off the right edge of an A4 page"
    rows = dark.any(axis=1)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, rows.astype(np.int8), 0])))[::2]
    assert np.median(runs) >= 9, f"text lines of {np.median(runs)} px"
    mentor_blue = np.array([0x1D, 0x4E, 0xD8])
    assert int((np.abs(pixels - mentor_blue).sum(axis=2) < 60).sum()) > 500, "the grid's mentor ids are not drawn"


@pytest.mark.browser
def test_printing_gives_a4_pages_and_one_page_per_card(tmp_path: Path) -> None:
    plan = _plan()
    page = write_plan_files(plan, html=tmp_path / "sheet.html")[0]
    pdf = tmp_path / "sheet.pdf"
    run = _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.resolve().as_uri()], tmp_path)
    assert pdf.exists(), run.stderr[-2000:]
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    boxes = {tuple(round(float(v)) for v in box.split()) for box in
             re.findall(rb"/MediaBox\s*\[\s*([\d.\s]+)\]", data)}
    assert boxes == {(0, 0, 595, 842)}, boxes  # A4 in points
    cards = len(plan.timetables)
    assert cards == 30
    assert cards + 1 <= pages <= cards + 4, pages  # the grid and coverage first, then a page per person


@pytest.mark.browser
def test_the_rendered_dom_holds_every_meeting_and_card(tmp_path: Path) -> None:
    plan = _plan()
    page = write_plan_files(plan, html=tmp_path / "sheet.html")[0]
    dom = _run(["--dump-dom", page.resolve().as_uri()], tmp_path).stdout
    assert dom.count('<td class="meeting">') == len(plan.meetings)
    assert dom.count('class="card"') == len(plan.timetables)
    assert "<b>" not in dom and "E&lt;b&gt;&amp;" in dom


def test_the_sheet_is_self_contained_and_escapes_identifiers() -> None:
    html = render_sheet(_plan())
    assert html.startswith("<!DOCTYPE html>") and "@media print" in html and "break-before: page" in html
    assert not re.search(r"<script|<link|<img|@import|url\(|(src|href)=", html)
    assert TRICKY_ID not in html and "E&lt;b&gt;&amp;&quot;9" in html

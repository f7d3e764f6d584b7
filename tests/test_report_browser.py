"""The HTML report in a real headless Chromium: it renders (a screenshot far from blank), logs no errors, shows every row."""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from solver.compare import Comparison, Scenario, ScenarioChanges, apply_changes, compare_scenarios
from solver.domain import Cohort
from solver.explain import UnmatchedReason
from solver.explain.wording import REASON_WORDS
from solver.report import (
    HOME,
    MAP_BACKGROUND,
    PALETTE,
    UNMATCHED,
    WORKPLACE,
    histograms,
    render_report,
    write_report,
)
from tests.cli_support import run_cli
from tests.oracle import random_cohort

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TRICKY_ID = 'E<b>&"0'  # an identifier that must come out as text, never as markup


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI (apt-get install -y chromium)")
    pytest.skip("chromium is not installed")


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _scenarios() -> list[Scenario]:
    rng = random.Random(11)
    base: Cohort = random_cohort(rng, 14, 10, rankings=True)
    first = base.mentees[0]
    renamed = replace(first, id=TRICKY_ID)
    base = replace(base, name="report", mentees=(renamed, *base.mentees[1:]),
                   rankings=tuple(replace(r, from_id=TRICKY_ID) if r.from_id == first.id else
                                  replace(r, to_id=TRICKY_ID) if r.to_id == first.id else r for r in base.rankings),
                   rules=replace(base.rules, bans=tuple(p for p in base.rules.bans if p[0] != first.id)))
    wider = apply_changes(base, ScenarioChanges(rules={"max_distance_km": 60, "min_language_level": "A2"}),
                          label="Wider & easier")
    fewer = apply_changes(base, ScenarioChanges(remove=(base.mentors[0].id, base.mentors[1].id)),
                          label="Two mentors <away>")
    return [Scenario("Base", base), wider, fewer]


def _comparison() -> Comparison:
    return compare_scenarios(_scenarios())


def _report(path: Path) -> tuple[Comparison, Path]:
    """A three-scenario comparison written with each scenario's map."""
    scenarios = _scenarios()
    comparison = compare_scenarios(scenarios)
    return comparison, write_report(comparison, path, cohorts=[s.cohort for s in scenarios])


def _screenshot(page: Path, tmp_path: Path, height: int) -> tuple[np.ndarray, list[str]]:
    """The page in headless Chromium at 1280 x `height`: its pixels and the console errors it logged."""
    shot = tmp_path / "shot.png"
    run = _run(["--enable-logging=stderr", "--v=0", f"--screenshot={shot}", f"--window-size=1280,{height}",
                page.resolve().as_uri()], tmp_path)
    assert shot.exists(), run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines()
              if "Uncaught" in line or ("CONSOLE" in line and "error" in line.lower())]
    return decode_png(shot.read_bytes()), errors


def _visible_text(dom: str) -> str:
    """The text a reader sees: the DOM without tags, attribute values and SVG tooltips (<title>)."""
    dom = re.sub(r"<title>.*?</title>", " ", dom, flags=re.S)
    dom = re.sub(r"<style>.*?</style>", " ", dom, flags=re.S)
    return re.sub(r"<[^>]+>", " ", dom)


def decode_png(data: bytes) -> np.ndarray:
    """An 8-bit RGB or RGBA PNG as an array [height, width, channels] (what Chromium's screenshots are)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        chunk, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if chunk == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour, interlace)
            channels = 3 if colour == 2 else 4
        elif chunk == b"IDAT":
            idat += body
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], np.frombuffer(raw, dtype=np.uint8, count=stride, offset=start + 1)
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: a running sum per channel, modulo 256
            row = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).reshape(stride)
        elif kind == 2:  # Up
            row = line + previous
        else:  # Average or Paeth depend on the pixel just decoded: byte by byte
            out = bytearray(stride)
            up, filtered = previous.tobytes(), line.tobytes()
            for x in range(stride):
                a = out[x - channels] if x >= channels else 0
                b = up[x]
                c = up[x - channels] if x >= channels else 0
                if kind == 3:
                    predictor = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    predictor = a if pa <= pb and pa <= pc else b if pb <= pc else c
                out[x] = (filtered[x] + predictor) & 0xFF
            row = np.frombuffer(bytes(out), dtype=np.uint8)
        image[y] = row
        previous = row
    return image.reshape(height, width, channels)


@pytest.mark.browser
def test_the_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    comparison = _comparison()
    page = write_report(comparison, tmp_path / "report.html")
    url = page.resolve().as_uri()
    shot = tmp_path / "shot.png"
    run = _run(["--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1280,2000", url], tmp_path)
    assert shot.exists(), run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines()
              if "Uncaught" in line or ("CONSOLE" in line and "error" in line.lower())]
    assert not errors, errors
    pixels = decode_png(shot.read_bytes())
    assert pixels.shape[:2] == (2000, 1280)
    rgb = pixels[:, :, :3].astype(np.uint32)
    colours = np.unique((rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2])
    assert len(colours) > 100, f"only {len(colours)} distinct colours: the page looks blank"
    # The charts are drawn: each scenario's bar colour covers a real area of the screenshot.
    for hex_colour in PALETTE[:len(comparison.scenarios)]:
        colour = np.array([int(hex_colour[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.uint8)
        assert int((pixels[:, :, :3] == colour).all(axis=2).sum()) > 500, hex_colour


@pytest.mark.browser
def test_the_rendered_dom_holds_every_pair_and_unmatched_row(tmp_path: Path) -> None:
    comparison = _comparison()
    page = write_report(comparison, tmp_path / "report.html")
    run = _run(["--dump-dom", page.resolve().as_uri()], tmp_path)
    dom = run.stdout
    assert 'id="summary"' in dom, run.stderr[-2000:]
    # One pair table: every pair made in any scenario, once, with the scenarios that make it.
    distinct = {(p.mentee_id, p.mentor_id) for o in comparison.scenarios for p in o.pairs}
    assert dom.count('<tr class="pair') == len(distinct) < sum(o.matched for o in comparison.scenarios)
    assert dom.count('<tr class="unmatched">') == sum(len(o.unmatched) for o in comparison.scenarios)
    assert dom.count("<svg") == 3  # the charts; no cohorts given, so no maps
    assert "<b>" not in dom and "E&lt;b&gt;&amp;" in dom  # identifiers are text, not markup
    assert "Two mentors &lt;away&gt;" in dom


def test_the_report_is_self_contained_and_escapes_identifiers() -> None:
    html = render_report(_comparison())
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # Nothing is fetched: no scripts, stylesheets, images or fonts from anywhere.
    assert not re.search(r"<script|<link|<img|@import|url\(", html)
    assert not re.search(r"(src|href)=", html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert TRICKY_ID not in html and "E&lt;b&gt;&amp;&quot;0" in html


@pytest.mark.browser
def test_the_report_shows_a_map_per_scenario_and_labelled_charts(tmp_path: Path) -> None:
    comparison, page = _report(tmp_path / "report.html")
    pixels, errors = _screenshot(page, tmp_path, 9000)
    assert not errors, errors
    # The maps: regions of their own background colour, each with homes, workplaces and pair lines drawn on it.
    rgb = pixels[:, :, :3]
    background = np.array([int(MAP_BACKGROUND[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.uint8)
    rows = np.flatnonzero((rgb == background).all(axis=2).any(axis=1))
    assert len(rows), "no map on the page"
    gaps = np.flatnonzero(np.diff(rows) > 1)
    top, bottom = rows[0], rows[gaps[0]] if len(gaps) else rows[-1]  # the first map, the base's
    columns = np.flatnonzero((rgb[top:bottom] == background).all(axis=2).any(axis=0))
    region = rgb[top:bottom + 1, columns.min():columns.max() + 1]
    drawn = ~(region == background).all(axis=2)
    assert drawn.mean() > 0.002, f"the map region is blank ({drawn.mean():.4f} of it drawn)"

    def pixels_of(colour: str) -> int:
        wanted = np.array([int(colour[k:k + 2], 16) for k in (1, 3, 5)], dtype=np.uint8)
        return int((region == wanted).all(axis=2).sum())

    assert pixels_of(HOME) > 50 and pixels_of(WORKPLACE) > 50  # homes and workplaces
    assert pixels_of(PALETTE[0]) > 20  # the base's pair lines, in its colour
    assert pixels_of(UNMATCHED) > 20  # the unmatched, marked
    dom = _run(["--dump-dom", page.resolve().as_uri()], tmp_path).stdout
    assert dom.count('class="map"') >= len(comparison.scenarios) and 'id="map-2"' in dom
    seen = _visible_text(dom)
    for axis_title in ("mentees matched (%)", "pair score (points)", "home to workplace, straight line (km)",
                       "pairs per bar"):
        assert axis_title in seen, axis_title
    assert re.search(r"\d+ of \d+", seen)  # the bars say how many were matched


@pytest.mark.parametrize("values", [[1.0, 1.2, 1.5, 1.9, 2.0], [0.31, 0.32, 0.35], [10.0, 400.0], [3.0, 3.0]])
def test_histogram_bin_labels_stay_distinct_and_true_when_the_values_lie_close(values: list[float]) -> None:
    svg = histograms(["s"], [values], unit=" km", title="travel", axis_title="km")
    labels = re.findall(r'text-anchor="middle">(-?[0-9.,]+)</text>', svg)
    numbers = [float(x.replace(",", "")) for x in labels]
    assert len(set(labels)) == len(labels) >= 3, labels  # a compare report once labelled every bin edge "1"
    assert numbers == sorted(numbers), labels
    spacing = numbers[1] - numbers[0]
    assert abs(numbers[0] - min(values)) < spacing / 2, labels  # the axis starts at the smallest value


def test_the_report_words_every_reason_and_advises_only_options_that_exist(tmp_path: Path) -> None:
    comparison, page = _report(tmp_path / "report.html")
    seen = _visible_text(page.read_text(encoding="utf-8"))
    assert comparison.scenarios[0].unmatched, "the base should leave someone unmatched"
    raw = [code.value for code in UnmatchedReason if code.value in seen]
    assert raw == [], f"reason codes shown raw: {raw}"
    assert set(REASON_WORDS) == {code.value for code in UnmatchedReason}  # words for every code, none made up
    options = set(re.findall(r"--[a-z][a-z-]+", page.read_text(encoding="utf-8")))
    helps = run_cli("compare", "--help").stdout
    assert {o for o in options if o not in helps} == set()

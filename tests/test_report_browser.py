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
from solver.report import PALETTE, render_report, write_report
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


def _comparison() -> Comparison:
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
    return compare_scenarios([Scenario("Base", base), wider, fewer])


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
    assert dom.count('<tr class="pair">') == sum(o.matched for o in comparison.scenarios)
    assert dom.count('<tr class="unmatched">') == sum(len(o.unmatched) for o in comparison.scenarios)
    assert dom.count("<svg") == 3
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

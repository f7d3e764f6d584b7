"""The coordinator's report: one self-contained HTML file (inline CSS, inline SVG charts, no scripts) of a comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path

from solver.candidates import KM_PER_DEGREE
from solver.compare import Comparison, ScenarioOutcome, summary_rows
from solver.domain import Cohort, Mentee, Mentor
from solver.explain.wording import km_text, reason_words
from solver.fileio import InputFiles, write_atomic
from solver.workflows import PairRecord

PALETTE = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f")
CHART_WIDTH = 720
LABEL_WIDTH = 200
BINS = 12
MAP_WIDTH, MAP_MAX_HEIGHT = 720, 520
MAP_BACKGROUND = "#eef4fb"  # the map's area, distinct from the page (a test finds the map by it)
HOME, WORKPLACE, UNMATCHED = "#0f766e", "#374151", "#dc2626"

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1200px;
       color: #1f2937; padding: 0 1rem; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 2px solid #e5e7eb; padding-bottom: .3rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .5rem; }
p.note { color: #6b7280; margin-top: 0; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #e5e7eb; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th:first-child { min-width: 12rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; margin-right: .35rem;
          vertical-align: -1px; }
ul.changes { margin: .2rem 0 .8rem; }
ul.help { margin: 0; padding-left: 1.1rem; }
ul.help li { margin-bottom: .2rem; }
figure { margin: 1rem 0; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; fill: #374151; }
svg text.muted { fill: #6b7280; }
svg text.axis { font-weight: 600; }
svg text.count { font-size: 10px; fill: #374151; }
td.reason { white-space: normal; }
tr.changed td { background: #fef9c3; }
figure.map svg { border: 1px solid #d1d5db; }
details { margin: .4rem 0; }
summary { cursor: pointer; font-weight: 600; }
"""


def _colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _swatch(k: int) -> str:
    return f'<span class="swatch" style="background:{_colour(k)}"></span>'


# Charts ----------------------------------------------------------------------------------------------


def _ticks(maximum: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `maximum` (1, 2 or 5 times a power of ten apart)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * k for k in range(math.ceil(maximum / step - 1e-9) + 1)]


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def bar_chart(labels: Sequence[str], values: Sequence[float], *, maximum: float, unit: str, title: str,
              axis_title: str, counts: Sequence[str] | None = None) -> str:
    """Horizontal bars, one per scenario, each labelled with its value (and `counts`, e.g. "13 of 15"), over an
    axis with ticks and a title."""
    row, pad = 28, 6
    plot = CHART_WIDTH - LABEL_WIDTH - 150
    axis_y = 10 + len(labels) * row
    height = axis_y + 44
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
             f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{escape(title)}">']
    for k, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + k * row
        width = 0.0 if maximum <= 0 else plot * max(0.0, value) / maximum
        text = f"{value:.1f}{unit}" + (f" ({counts[k]})" if counts is not None else "")
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
                     f"{escape(_short(label))}</text>")
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + pad / 2}" width="{width:.1f}" height="{row - pad}" '
                     f'fill="{_colour(k)}"><title>{escape(label)}: {escape(text)}</title></rect>')
        parts.append(f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + row / 2 + 4:.1f}">{escape(text)}</text>')
    parts.append(f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + plot}" y2="{axis_y}" stroke="#9ca3af"/>')
    for tick in _ticks(maximum):
        x = LABEL_WIDTH + (plot * tick / maximum if maximum > 0 else 0)
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}" stroke="#9ca3af"/>')
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 16}" text-anchor="middle" class="muted">'
                     f"{_number(tick)}</text>")
    parts.append(f'<text x="{LABEL_WIDTH + plot / 2:.1f}" y="{axis_y + 36}" text-anchor="middle" class="axis">'
                 f"{escape(axis_title)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def histograms(labels: Sequence[str], series: Sequence[Sequence[float]], *, unit: str, title: str,
               axis_title: str) -> str:
    """Small multiples: one histogram per scenario over the same bins, so shapes compare at a glance; each bar
    carries its count, each panel a count axis, and the shared bins a value axis with its title."""
    values = [v for s in series for v in s]
    low = min(values, default=0.0)
    high = max(values, default=1.0)
    if high <= low:
        high = low + 1.0
    step = (high - low) / BINS
    # Bin edges with as many decimals as their spacing needs (a cohort whose pairs all live 1-2 km apart has
    # edges 0.1 km apart: whole numbers would label every one "1").
    digits = max(0, math.ceil(-math.log10(step))) if step < 1 else 0
    panel, gap, top_pad = 70, 26, 14
    plot = CHART_WIDTH - LABEL_WIDTH - 20
    height = len(labels) * (panel + gap + top_pad) + 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
             f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{escape(title)}">']
    counts_all = []
    for data in series:
        counts = [0] * BINS
        for v in data:
            counts[min(BINS - 1, int((v - low) / step))] += 1
        counts_all.append(counts)
    tallest = max((max(c) for c in counts_all), default=1) or 1
    bar = plot / BINS
    for k, (label, counts) in enumerate(zip(labels, counts_all, strict=True)):
        top = 8 + top_pad + k * (panel + gap + top_pad)
        base = top + panel
        parts.append(f'<text x="{LABEL_WIDTH - 34}" y="{top + panel / 2 - 3:.1f}" text-anchor="end">'
                     f"{escape(_short(label, 22))}</text>")
        parts.append(f'<text x="{LABEL_WIDTH - 34}" y="{top + panel / 2 + 12:.1f}" text-anchor="end" '
                     f'class="muted">n = {sum(counts)}</text>')
        # The count axis: 0 at the base, the tallest bar's count at the top (the same scale in every panel).
        parts.append(f'<line x1="{LABEL_WIDTH - 4}" y1="{top}" x2="{LABEL_WIDTH - 4}" y2="{base}" stroke="#9ca3af"/>')
        for tick, y in ((0, base), (tallest, top)):
            parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + 4}" text-anchor="end" class="muted">{tick}</text>')
        for b, count in enumerate(counts):
            h = panel * count / tallest
            x = LABEL_WIDTH + b * bar
            lo, hi = low + b * step, low + (b + 1) * step
            parts.append(f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                         f'fill="{_colour(k)}"><title>{escape(label)}: {count} in {lo:.{digits}f}-{hi:.{digits}f}{unit}'
                         f"</title></rect>")
            if count:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - h - 3:.1f}" text-anchor="middle" '
                             f'class="count">{count}</text>')
        parts.append(f'<line x1="{LABEL_WIDTH}" y1="{base}" x2="{LABEL_WIDTH + plot}" y2="{base}" stroke="#9ca3af"/>')
    axis = 8 + len(labels) * (panel + gap + top_pad) - gap + 16
    for b in range(0, BINS + 1, 3):
        x = LABEL_WIDTH + b * bar
        parts.append(f'<text x="{x:.1f}" y="{axis}" text-anchor="middle">{low + b * step:.{digits}f}</text>')
    parts.append(f'<text x="{LABEL_WIDTH + plot / 2:.1f}" y="{axis + 20}" text-anchor="middle" class="axis">'
                 f"{escape(axis_title)}</text>")
    parts.append(f'<text x="{LABEL_WIDTH - 34}" y="{axis + 20}" text-anchor="end" class="axis">pairs per bar</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# Maps ------------------------------------------------------------------------------------------------


def _scale_bar_km(width_km: float) -> float:
    """A round length for the scale bar, about a fifth of the map's width."""
    return max(t for t in _ticks(width_km / 5, 1) if t > 0) if width_km > 0 else 1.0


def map_svg(outcome: ScenarioOutcome, cohort: Cohort, k: int) -> str:
    """The cohort's area drawn offline: every mentee's home (a circle), every mentor's workplace (a square), a line
    per pair in the scenario's colour, and the unmatched mentees marked with a red ring and cross. Straight-line
    geometry on a local projection (east-west scaled by the cosine of the middle latitude); no tiles, no network."""
    people: list[Mentee | Mentor] = [*cohort.mentees, *cohort.mentors]
    places = [(p.lat, p.lon) for p in people if math.isfinite(p.lat) and math.isfinite(p.lon)]
    if not places:
        return '<p class="note">No one to draw.</p>'
    south, north = min(p[0] for p in places), max(p[0] for p in places)
    west, east = min(p[1] for p in places), max(p[1] for p in places)
    squeeze = math.cos(math.radians((south + north) / 2))
    span_x = max((east - west) * squeeze, 0.01)
    span_y = max(north - south, 0.01)
    margin = 18
    scale = min((MAP_WIDTH - 2 * margin) / span_x, (MAP_MAX_HEIGHT - 2 * margin) / span_y)
    height = round(span_y * scale + 2 * margin + 34)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return margin + (lon - west) * squeeze * scale, margin + (north - lat) * scale

    mentees = {p.id: xy(p.lat, p.lon) for p in cohort.mentees}
    mentors = {p.id: xy(p.lat, p.lon) for p in cohort.mentors}
    unmatched = {u.mentee_id for u in outcome.unmatched}
    title = f"map of {outcome.label}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_WIDTH}" height="{height}" '
             f'viewBox="0 0 {MAP_WIDTH} {height}" role="img" aria-label="{escape(title)}" class="map">',
             f'<rect x="0" y="0" width="{MAP_WIDTH}" height="{height}" fill="{MAP_BACKGROUND}"/>']
    for pair in outcome.pairs:
        if pair.mentee_id in mentees and pair.mentor_id in mentors:
            (x1, y1), (x2, y2) = mentees[pair.mentee_id], mentors[pair.mentor_id]
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{_colour(k)}" '
                         f'stroke-width="2"><title>{escape(pair.mentee_id)} – '
                         f"{escape(pair.mentor_id)}: {escape(km_text(pair.distance_km))}</title></line>")
    for mentor_id, (x, y) in mentors.items():
        parts.append(f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{WORKPLACE}">'
                     f"<title>workplace of mentor {escape(mentor_id)}</title></rect>")
    for mentee_id, (x, y) in mentees.items():
        if mentee_id in unmatched:
            parts.append(f'<g><title>home of unmatched mentee {escape(mentee_id)}</title>'
                         f'<circle cx="{x:.1f}" cy="{y:.1f}" r="7" fill="none" stroke="{UNMATCHED}" stroke-width="2.5"/>'
                         f'<path d="M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}'
                         f'L{x + 4:.1f},{y - 4:.1f}" stroke="{UNMATCHED}" stroke-width="2.5"/></g>')
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{HOME}" stroke="#fff" stroke-width="1">'
                         f"<title>home of mentee {escape(mentee_id)}</title></circle>")
    bar_km = _scale_bar_km(span_x * KM_PER_DEGREE)
    bar_px = bar_km / KM_PER_DEGREE * scale
    y0 = height - 16
    parts.append(f'<line x1="{margin}" y1="{y0}" x2="{margin + bar_px:.1f}" y2="{y0}" stroke="#374151" '
                 'stroke-width="3"/>')
    parts.append(f'<text x="{margin + bar_px + 6:.1f}" y="{y0 + 4}">{_number(bar_km)} km</text>')
    legend_x = MAP_WIDTH - 440
    parts.append(f'<circle cx="{legend_x}" cy="{y0}" r="4" fill="{HOME}"/>'
                 f'<text x="{legend_x + 8}" y="{y0 + 4}">home ({len(mentees) - len(unmatched)})</text>'
                 f'<rect x="{legend_x + 90}" y="{y0 - 4}" width="8" height="8" fill="{WORKPLACE}"/>'
                 f'<text x="{legend_x + 102}" y="{y0 + 4}">workplace ({len(mentors)})</text>'
                 f'<line x1="{legend_x + 210}" y1="{y0}" x2="{legend_x + 232}" y2="{y0}" stroke="{_colour(k)}" '
                 f'stroke-width="2"/><text x="{legend_x + 238}" y="{y0 + 4}">pair ({len(outcome.pairs)})</text>'
                 f'<circle cx="{legend_x + 312}" cy="{y0}" r="6" fill="none" stroke="{UNMATCHED}" stroke-width="2.5"/>'
                 f'<text x="{legend_x + 322}" y="{y0 + 4}">unmatched ({len(unmatched)})</text>')
    parts.append("</svg>")
    return "".join(parts)


# Sections --------------------------------------------------------------------------------------------


def _summary_table(comparison: Comparison) -> str:
    head = "".join(f"<th>{_swatch(k)}{escape(o.label)}</th>" for k, o in enumerate(comparison.scenarios))
    rows = []
    for row in summary_rows(comparison):
        cells = "".join(f"<td>{escape(v).replace(chr(10), '<br>')}</td>" for v in row.values)
        rows.append(f"<tr><th>{escape(row.measure)}</th>{cells}</tr>")
    return (f'<table class="summary" id="summary"><thead><tr><th>measure</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _charts(comparison: Comparison) -> str:
    outcomes = comparison.scenarios
    labels = [o.label for o in outcomes]
    matched = bar_chart(labels, [100.0 * o.matched_share for o in outcomes], maximum=100.0, unit=" %",
                        title="matched share per scenario", axis_title="mentees matched (%)",
                        counts=[f"{o.matched} of {o.mentees}" for o in outcomes])
    scores = histograms(labels, [[float(p.score) for p in o.pairs] for o in outcomes], unit=" points",
                        title="pair score distribution per scenario", axis_title="pair score (points)")
    travel = histograms(labels, [[p.distance_km for p in o.pairs] for o in outcomes], unit=" km",
                        title="travel distance per scenario", axis_title="home to workplace, straight line (km)")
    return "".join(
        f'<figure id="{key}"><figcaption>{escape(caption)}</figcaption>{svg}</figure>'
        for key, caption, svg in (
            ("chart-matched", "Share of mentees matched", matched),
            ("chart-scores", "Pair scores (each scenario under its own weights)", scores),
            ("chart-travel", "Travel distance of the matched pairs (km)", travel),
        )
    )


def _pair_table(comparison: Comparison) -> str:
    """Every pair made in any scenario, once, with the scenarios that make it: a pair kept everywhere reads once,
    and a change shows as a pair some scenarios make and others do not."""
    outcomes = comparison.scenarios
    made: dict[tuple[str, str], list[int]] = {}
    first: dict[tuple[str, str], PairRecord] = {}
    for k, outcome in enumerate(outcomes):
        for p in outcome.pairs:
            key = (p.mentee_id, p.mentor_id)
            made.setdefault(key, []).append(k)
            first.setdefault(key, p)
    rows = []
    for key in sorted(made, key=lambda key: (key[0], made[key] != list(range(len(outcomes))), key[1])):
        p, where = first[key], made[key]
        everywhere = len(where) == len(outcomes)
        others = [k for k in range(len(outcomes)) if k not in where]
        if everywhere and len(outcomes) > 1:
            scenarios = "all"
        elif len(where) > len(others) > 0:  # the shorter list: the few scenarios that do not make it
            scenarios = "all but " + ", ".join(f"{_swatch(k)}{escape(outcomes[k].label)}" for k in others)
        else:
            scenarios = ", ".join(f"{_swatch(k)}{escape(outcomes[k].label)}" for k in where)
        rows.append(
            f'<tr class="pair{"" if everywhere else " changed"}"><td>{escape(p.mentee_id)}</td>'
            f"<td>{escape(p.mentor_id)}</td><td class=\"num\">{p.score}</td>"
            f'<td class="num">{escape(km_text(p.distance_km).removesuffix(" km"))}</td>'
            f'<td class="num">{p.mentee_rank or "–"}</td><td class="num">{p.mentor_rank or "–"}</td>'
            f"<td>{escape('; '.join(p.reasons))}</td><td>{scenarios}</td></tr>")
    kept = sum(1 for where in made.values() if len(where) == len(outcomes))
    return (f'<p class="note">{len(made)} different pair(s); {kept} made in every scenario. A pair made in some '
            "scenarios only is shaded; its score, km and reasons are those of the first scenario that makes it "
            "(each under its own weights).</p>"
            '<table id="pairs"><thead><tr><th>mentee</th><th>mentor</th><th>score</th><th>km</th>'
            "<th>mentee's rank</th><th>mentor's rank</th><th>why this pair</th><th>in scenario(s)</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _scenario_section(k: int, outcome: ScenarioOutcome, base_label: str, cohort: Cohort | None) -> str:
    parts = [f'<section class="scenario" id="scenario-{k}"><h2>{_swatch(k)}{escape(outcome.label)}</h2>']
    if outcome.description:
        parts.append(f"<p>{escape(outcome.description)}</p>")
    if outcome.source:
        parts.append(f'<p class="note">from {escape(outcome.source)}</p>')
    if outcome.changes:
        items = "".join(f"<li>{escape(c)}</li>" for c in outcome.changes)
        parts.append(f'<h3>Changes to the base</h3><ul class="changes">{items}</ul>')
    if cohort is not None:
        parts.append(f'<figure class="map" id="map-{k}"><figcaption>Where people are: {outcome.matched} pair(s), '
                     f"{len(outcome.unmatched)} unmatched</figcaption>{map_svg(outcome, cohort, k)}</figure>")
    parts.append(f"<h3>Unmatched mentees ({len(outcome.unmatched)})</h3>")
    if outcome.unmatched:
        rows = "".join(
            f'<tr class="unmatched"><td>{escape(u.mentee_id)}</td><td class="reason">{escape(reason_words(u.reason))}'
            f"</td><td>{escape(u.message)}</td>"
            f"<td><ul class=\"help\">{''.join(f'<li>{escape(h)}</li>' for h in u.would_help)}</ul></td></tr>"
            for u in outcome.unmatched
        )
        parts.append("<table><thead><tr><th>mentee</th><th>reason</th><th>why</th><th>what would help</th></tr>"
                     f"</thead><tbody>{rows}</tbody></table>")
    else:
        parts.append("<p>Everyone is matched.</p>")
    if outcome.blocking:
        refs = ", ".join(f"{escape(b.mentee_id)}–{escape(b.mentor_id)} (ranked each other #{b.mentee_rank} / #{b.mentor_rank})"
                         for b in outcome.blocking)
        parts.append(f"<h3>Blocking pairs ({len(outcome.blocking)})</h3><p>{refs}</p>")
    if outcome.removed_vs_base or outcome.added_vs_base:
        removed = ", ".join(f"{escape(p.mentee_id)}–{escape(p.mentor_id)}" for p in outcome.removed_vs_base) or "none"
        added = ", ".join(f"{escape(p.mentee_id)}–{escape(p.mentor_id)}" for p in outcome.added_vs_base) or "none"
        parts.append(f"<details><summary>Pairs changed against {escape(base_label)}: -{outcome.pairs_removed}, "
                     f"+{outcome.pairs_added}</summary><p>Not here: {removed}</p><p>Only here: {added}</p></details>")
    for note in outcome.notes:
        parts.append(f'<p class="note">{escape(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


def html_page(title: str, css: str, body: str) -> str:
    """A self-contained HTML document: the title (escaped) as heading, inline CSS, `body` (markup) after it."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{css}</style></head><body>"
        f"<h1>{escape(title)}</h1>{body}</body></html>\n"
    )


def render_report(comparison: Comparison, *, title: str = "What-if comparison",
                  cohorts: Sequence[Cohort] | None = None) -> str:
    """The whole report as one HTML document; participant identifiers only, nothing fetched from the net. With
    `cohorts` (each scenario's cohort, in the comparison's order) every scenario gets a map of where people are."""
    if cohorts is not None and len(cohorts) != len(comparison.scenarios):
        raise ValueError("one cohort per scenario, in the comparison's order")
    scenarios = "".join(_scenario_section(k, o, comparison.base_label, cohorts[k] if cohorts is not None else None)
                        for k, o in enumerate(comparison.scenarios))
    count = len(comparison.scenarios)
    return html_page(title, CSS,
                     f'<p class="note">{count} scenario(s); the first, {escape(comparison.base_label)}, is the base. '
                     "Participants are shown by identifier only.</p>"
                     f"<h2>Side by side</h2>{_summary_table(comparison)}"
                     f"<h2>Charts</h2>{_charts(comparison)}"
                     f"<h2>Pairs</h2>{_pair_table(comparison)}"
                     f"{scenarios}")


def write_report(comparison: Comparison, path: str | Path, *, title: str = "What-if comparison",
                 inputs: InputFiles | None = None, cohorts: Sequence[Cohort] | None = None) -> Path:
    """Write the report whole or not at all (an earlier report stays intact on failure); never over one of
    `inputs` (the files the comparison was read from): see `solver.fileio.write_atomic`."""
    return write_atomic(path, render_report(comparison, title=title, cohorts=cohorts), inputs=inputs,
                        field_path="report")

"""The coordinator's report: one self-contained HTML file (inline CSS, inline SVG charts, no scripts) of a comparison."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from solver.compare import Comparison, ScenarioOutcome, summary_rows
from solver.fileio import InputFiles, write_atomic

PALETTE = ("#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f")
CHART_WIDTH = 720
LABEL_WIDTH = 200
BINS = 12

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
.reason { font-family: ui-monospace, monospace; font-size: .85rem; background: #f3f4f6; padding: 0 .25rem;
          border-radius: 3px; }
figure { margin: 1rem 0; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
svg text { font-family: system-ui, sans-serif; font-size: 12px; fill: #374151; }
svg text.muted { fill: #6b7280; }
details { margin: .4rem 0; }
summary { cursor: pointer; font-weight: 600; }
"""


def _colour(k: int) -> str:
    return PALETTE[k % len(PALETTE)]


def _swatch(k: int) -> str:
    return f'<span class="swatch" style="background:{_colour(k)}"></span>'


# Charts ----------------------------------------------------------------------------------------------


def bar_chart(labels: Sequence[str], values: Sequence[float], *, maximum: float, unit: str,
              title: str) -> str:
    """Horizontal bars, one per scenario, with the value printed at the end of each bar."""
    row, pad = 28, 6
    height = row * len(labels) + 30
    plot = CHART_WIDTH - LABEL_WIDTH - 90
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{CHART_WIDTH}" height="{height}" '
             f'viewBox="0 0 {CHART_WIDTH} {height}" role="img" aria-label="{escape(title)}">']
    for k, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 10 + k * row
        width = 0.0 if maximum <= 0 else plot * max(0.0, value) / maximum
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
                     f"{escape(_short(label))}</text>")
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y + pad / 2}" width="{width:.1f}" height="{row - pad}" '
                     f'fill="{_colour(k)}"><title>{escape(label)}: {value:.1f}{unit}</title></rect>')
        parts.append(f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + row / 2 + 4:.1f}">{value:.1f}{unit}</text>')
    axis_y = 10 + len(labels) * row
    parts.append(f'<line x1="{LABEL_WIDTH}" y1="{axis_y}" x2="{LABEL_WIDTH + plot}" y2="{axis_y}" stroke="#9ca3af"/>')
    parts.append(f'<text x="{LABEL_WIDTH + plot}" y="{axis_y + 16}" text-anchor="end">{maximum:g}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histograms(labels: Sequence[str], series: Sequence[Sequence[float]], *, unit: str, title: str) -> str:
    """Small multiples: one histogram per scenario over the same bins, so shapes compare at a glance."""
    values = [v for s in series for v in s]
    low = min(values, default=0.0)
    high = max(values, default=1.0)
    if high <= low:
        high = low + 1.0
    step = (high - low) / BINS
    panel, gap = 70, 18
    plot = CHART_WIDTH - LABEL_WIDTH - 20
    height = len(labels) * (panel + gap) + 30
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
        top = 8 + k * (panel + gap)
        base = top + panel
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{top + panel / 2 - 3:.1f}" text-anchor="end">'
                     f"{escape(_short(label))}</text>")
        parts.append(f'<text x="{LABEL_WIDTH - 8}" y="{top + panel / 2 + 12:.1f}" text-anchor="end" '
                     f'class="muted">n = {sum(counts)}</text>')
        for b, count in enumerate(counts):
            h = panel * count / tallest
            x = LABEL_WIDTH + b * bar
            lo, hi = low + b * step, low + (b + 1) * step
            parts.append(f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bar - 2:.1f}" height="{h:.1f}" '
                         f'fill="{_colour(k)}"><title>{escape(label)}: {count} in {lo:.0f}-{hi:.0f}{unit}'
                         f"</title></rect>")
        parts.append(f'<line x1="{LABEL_WIDTH}" y1="{base}" x2="{LABEL_WIDTH + plot}" y2="{base}" stroke="#9ca3af"/>')
    axis = 8 + len(labels) * (panel + gap) - gap + 16
    for b in range(0, BINS + 1, 3):
        x = LABEL_WIDTH + b * bar
        parts.append(f'<text x="{x:.1f}" y="{axis}" text-anchor="middle">{low + b * step:.0f}</text>')
    parts.append(f'<text x="{LABEL_WIDTH + plot}" y="{axis + 14}" text-anchor="end">{escape(unit.strip())}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str, limit: int = 28) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


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
                        title="matched share per scenario")
    scores = histograms(labels, [[float(p.score) for p in o.pairs] for o in outcomes], unit=" points",
                        title="pair score distribution per scenario")
    travel = histograms(labels, [[p.distance_km for p in o.pairs] for o in outcomes], unit=" km",
                        title="travel distance per scenario")
    return "".join(
        f'<figure id="{key}"><figcaption>{escape(caption)}</figcaption>{svg}</figure>'
        for key, caption, svg in (
            ("chart-matched", "Share of mentees matched", matched),
            ("chart-scores", "Pair scores (each scenario under its own weights)", scores),
            ("chart-travel", "Travel distance of the matched pairs (km)", travel),
        )
    )


def _scenario_section(k: int, outcome: ScenarioOutcome, base_label: str) -> str:
    parts = [f'<section class="scenario" id="scenario-{k}"><h2>{_swatch(k)}{escape(outcome.label)}</h2>']
    if outcome.description:
        parts.append(f"<p>{escape(outcome.description)}</p>")
    if outcome.source:
        parts.append(f'<p class="note">from {escape(outcome.source)}</p>')
    if outcome.changes:
        items = "".join(f"<li>{escape(c)}</li>" for c in outcome.changes)
        parts.append(f'<h3>Changes to the base</h3><ul class="changes">{items}</ul>')
    parts.append(f"<h3>Pairs ({outcome.matched})</h3>")
    rows = "".join(
        f'<tr class="pair"><td>{escape(p.mentee_id)}</td><td>{escape(p.mentor_id)}</td>'
        f'<td class="num">{p.score}</td><td class="num">{p.distance_km:.1f}</td>'
        f'<td class="num">{p.mentee_rank or "–"}</td><td class="num">{p.mentor_rank or "–"}</td>'
        f"<td>{escape('; '.join(p.reasons))}</td></tr>"
        for p in outcome.pairs
    )
    parts.append("<table><thead><tr><th>mentee</th><th>mentor</th><th>score</th><th>km</th>"
                 "<th>mentee's rank</th><th>mentor's rank</th><th>why this pair</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
    parts.append(f"<h3>Unmatched mentees ({len(outcome.unmatched)})</h3>")
    if outcome.unmatched:
        rows = "".join(
            f'<tr class="unmatched"><td>{escape(u.mentee_id)}</td><td><span class="reason">{escape(u.reason)}'
            f"</span></td><td>{escape(u.message)}</td>"
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


def render_report(comparison: Comparison, *, title: str = "What-if comparison") -> str:
    """The whole report as one HTML document; participant identifiers only, nothing fetched from the net."""
    scenarios = "".join(_scenario_section(k, o, comparison.base_label) for k, o in enumerate(comparison.scenarios))
    count = len(comparison.scenarios)
    return html_page(title, CSS,
                     f'<p class="note">{count} scenario(s); the first, {escape(comparison.base_label)}, is the base. '
                     "Participants are shown by identifier only.</p>"
                     f"<h2>Side by side</h2>{_summary_table(comparison)}"
                     f"<h2>Charts</h2>{_charts(comparison)}"
                     f"{scenarios}")


def write_report(comparison: Comparison, path: str | Path, *, title: str = "What-if comparison",
                 inputs: InputFiles | None = None) -> Path:
    """Write the report whole or not at all (an earlier report stays intact on failure); never over one of
    `inputs` (the files the comparison was read from): see `solver.fileio.write_atomic`."""
    return write_atomic(path, render_report(comparison, title=title), inputs=inputs, field_path="report")

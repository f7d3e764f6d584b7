"""A sweep as a table and a file: rows for CSV / Parquet / XLSX, and a self-contained HTML report with its chart."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from solver.fileio import InputFiles, write_atomic
from solver.report import CSS, PALETTE
from solver.sweep import Sweep, SweepOutcome
from solver.tables import frame_bytes

PLOT_WIDTH, PLOT_HEIGHT, MARGIN = 720, 420, 56


def outcome_row(o: SweepOutcome, axes: Sequence[str]) -> dict[str, Any]:
    """One flat row per setting: the axis values, the measures, one column per unmatched reason."""
    row: dict[str, Any] = {"index": o.index}
    row.update({axis: value.removeprefix(f"{axis} ") for axis, value in zip(axes, o.values, strict=True)})
    row.update(status=o.status, mentees=o.mentees, matched=o.matched, matched_share=o.matched_share,
               mean_score=o.mean_score, worst_score=o.worst_score, mean_travel_km=o.mean_travel_km,
               pareto=o.pareto, solve_seconds=o.solve_seconds, error=o.error)
    return row


def sweep_frame(sweep: Sweep) -> pl.DataFrame:
    reasons = sorted({r.reason for o in sweep.outcomes for r in o.unmatched_by_reason})
    rows = []
    for o in sweep.outcomes:
        row = outcome_row(o, sweep.axes)
        counts = {r.reason: r.count for r in o.unmatched_by_reason}
        row.update({f"unmatched_{reason}": counts.get(reason, 0) for reason in reasons})
        rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def table_bytes(sweep: Sweep, suffix: str) -> bytes:
    """The sweep's table in the format its file name asks for (`solver.tables.TABLE_FORMATS`)."""
    return frame_bytes({"sweep": sweep_frame(sweep)}, suffix)


def write_table(sweep: Sweep, path: str | Path, *, inputs: InputFiles | None = None) -> Path:
    return write_atomic(path, table_bytes(sweep, Path(path).suffix), inputs=inputs, field_path="--output")


# The HTML report --------------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    return start + (end - start) * ((value - low) / (high - low) if high > low else 0.5)


def scatter(sweep: Sweep) -> str:
    """Matched share (x) against mean pair score (y), one point per solved setting; darker = longer mean travel;
    the Pareto frontier's points ringed and numbered by setting."""
    solved = [o for o in sweep.outcomes if o.ok and o.mean_score is not None]
    if not solved:
        return "<p class='note'>No setting matched anyone: nothing to chart.</p>"
    xs = [o.matched_share for o in solved]
    ys = [o.mean_score or 0.0 for o in solved]
    km = [o.mean_travel_km or 0.0 for o in solved]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad_x, pad_y = (x1 - x0) * 0.05 or 0.01, (y1 - y0) * 0.05 or 1.0
    x0, x1, y0, y1 = x0 - pad_x, x1 + pad_x, y0 - pad_y, y1 + pad_y
    k0, k1 = min(km), max(km)
    parts = [f"<svg role='img' aria-label='matched share against mean score' width='{PLOT_WIDTH}' "
             f"height='{PLOT_HEIGHT}' viewBox='0 0 {PLOT_WIDTH} {PLOT_HEIGHT}'>",
             f"<rect x='{MARGIN}' y='10' width='{PLOT_WIDTH - MARGIN - 10}' height='{PLOT_HEIGHT - MARGIN - 10}' "
             "fill='#f9fafb' stroke='#e5e7eb'/>"]
    for k in range(5):  # axis ticks
        xv = x0 + (x1 - x0) * k / 4
        yv = y0 + (y1 - y0) * k / 4
        px = _scale(xv, x0, x1, MARGIN, PLOT_WIDTH - 10)
        py = _scale(yv, y0, y1, PLOT_HEIGHT - MARGIN, 10)
        parts.append(f"<text x='{px:.1f}' y='{PLOT_HEIGHT - MARGIN + 16}' font-size='11' text-anchor='middle'>"
                     f"{100 * xv:.1f}%</text>")
        parts.append(f"<text x='{MARGIN - 6}' y='{py + 4:.1f}' font-size='11' text-anchor='end'>{yv:.0f}</text>")
    parts.append(f"<text x='{(MARGIN + PLOT_WIDTH) / 2}' y='{PLOT_HEIGHT - 14}' font-size='12' "
                 "text-anchor='middle'>matched share</text>")
    parts.append(f"<text x='14' y='{PLOT_HEIGHT / 2}' font-size='12' text-anchor='middle' "
                 f"transform='rotate(-90 14 {PLOT_HEIGHT / 2})'>mean pair score</text>")
    for o, x, y, travel in zip(solved, xs, ys, km, strict=True):
        px = _scale(x, x0, x1, MARGIN, PLOT_WIDTH - 10)
        py = _scale(y, y0, y1, PLOT_HEIGHT - MARGIN, 10)
        shade = _scale(travel, k0, k1, 0.25, 1.0)
        title = escape(f"#{o.index} {o.label}: {o.matched}/{o.mentees} matched, mean score "
                       f"{_number(o.mean_score)}, mean travel {_number(o.mean_travel_km)} km")
        ring = " stroke='#111827' stroke-width='2'" if o.pareto else ""
        parts.append(f"<circle cx='{px:.1f}' cy='{py:.1f}' r='{6 if o.pareto else 4}' fill='{PALETTE[0]}' "
                     f"fill-opacity='{shade:.2f}'{ring}><title>{title}</title></circle>")
        if o.pareto:
            parts.append(f"<text x='{px + 8:.1f}' y='{py - 6:.1f}' font-size='10'>{o.index}</text>")
    parts.append("</svg>")
    return "".join(parts)


def render_sweep_report(sweep: Sweep, *, description: str = "") -> str:
    columns = ["#", *sweep.axes, "status", "matched", "mean score", "worst", "mean km", "unmatched by reason",
               "Pareto"]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for o in sweep.outcomes:
        values = [v.removeprefix(f"{axis} ") for axis, v in zip(sweep.axes, o.values, strict=True)]
        reasons = ", ".join(f"{r.reason} {r.count}" for r in o.unmatched_by_reason) or ("none" if o.ok else "")
        cells = [str(o.index), *values, o.status if o.ok else f"FAILED: {o.error}",
                 f"{o.matched}/{o.mentees} ({100 * o.matched_share:.1f}%)" if o.ok else "",
                 _number(o.mean_score), "–" if o.worst_score is None else str(o.worst_score),
                 _number(o.mean_travel_km), reasons, "yes" if o.pareto else ""]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    front = ", ".join(str(i) for i in sweep.pareto) or "none"
    return "\n".join([
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(sweep.label or 'Sweep')}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(sweep.label or 'What-if sweep')}</h1>",
        f"<p class='note'>{escape(description)}</p>" if description else "",
        f"<p>{len(sweep.outcomes)} settings over {escape(', '.join(sweep.axes))}. Pareto-optimal (matched share "
        f"and mean score up, mean travel down): {escape(front)}.</p>",
        "<h2>Matched share against mean pair score</h2>",
        "<p class='note'>One point per setting; darker points travel further on average; ringed points are on "
        "the Pareto frontier. Scores are under each setting's own weights.</p>",
        scatter(sweep), "<h2>Every setting</h2>",
        f"<table class='sweep'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
        "</body></html>"])


def write_sweep_report(sweep: Sweep, path: str | Path, *, description: str = "", inputs: InputFiles | None = None
                       ) -> Path:
    return write_atomic(path, render_sweep_report(sweep, description=description), inputs=inputs,
                        field_path="--report")

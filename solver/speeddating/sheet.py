"""The plan for people: a plain dict (JSON), one CSV per round, and an offline HTML sheet printable at A4.

The sheet has the round x table grid, the coverage, and one card per person with their timetable (a page each
when printed). Identifiers are escaped as text; nothing is fetched (inline CSS, no scripts, no images). Files
are written whole or not at all, never over an input (`solver.fileio.write_atomic`).
"""

from __future__ import annotations

import csv
import io
from html import escape
from pathlib import Path
from typing import Any

from solver.cells import defuse_cell
from solver.errors import CohortInvalid
from solver.fileio import InputFiles, output_problems, write_atomic
from solver.report import html_page
from solver.speeddating.plan import SpeedDatingPlan, Timetable

CSV_COLUMNS = ("round", "table", "mentee", "mentor", "from_minute", "to_minute")


def plan_dict(plan: SpeedDatingPlan) -> dict[str, Any]:
    """Everything in the plan as plain data (what `speed-dating plan --json` prints)."""
    objective = plan.objective
    return {
        "cohort": plan.cohort_name, "status": plan.status.value, "rounds": plan.rounds, "minutes": plan.minutes,
        "tables": plan.tables, "max_breaks": plan.max_breaks,
        "meetings": [{"round": x.round, "table": x.table, "mentee": x.mentee_id, "mentor": x.mentor_id,
                      "from_minute": x.starts_min, "to_minute": x.ends_min, "score": x.score,
                      "in_best_matching": x.in_best_matching, "in_alternative": x.in_alternative,
                      "top_rank": x.top_rank} for x in plan.meetings],
        "timetables": [{"id": t.person_id, "side": t.side, "meetings": t.meetings, "breaks": t.breaks,
                        "allowed_partners": t.allowed_partners,
                        "slots": [{"round": s.round, "from_minute": s.starts_min, "to_minute": s.ends_min,
                                   "table": s.table, "partner": s.partner_id} for s in t.slots]}
                       for t in plan.timetables],
        "coverage": [{"mentee": c.mentee_id, "top_mentors": list(c.top_mentors), "met_top": list(c.met_top),
                      "met": len(c.met_top), "of": len(c.top_mentors), "complete": c.complete}
                     for c in plan.coverage],
        "best_matching": {"pairs": [list(p) for p in plan.best_matching], "all_meet": plan.all_best_pairs_meet,
                          "missed": [list(p) for p in plan.best_matching_missed],
                          "status": plan.matching_status.value},
        "absent_mentors": list(plan.absent_mentors), "over_break_limit": list(plan.over_break_limit),
        "objective": {"breaks": objective.breaks, "break_target": objective.break_target,
                      "best_pairs_met": objective.best_pairs_met, "best_pairs": objective.best_pairs,
                      "alternative_pairs_met": objective.alternative_pairs_met,
                      "alternative_pairs": objective.alternative_pairs,
                      "mentee_coverage": objective.mentee_coverage, "mentor_share": objective.mentor_share,
                      "meetings": objective.meetings, "score": objective.score},
        "stats": {"allowed_pairs": plan.stats.allowed_pairs, "wall_s": plan.stats.wall_s,
                  "matching_s": plan.stats.matching_s, "model_s": plan.stats.model_s, "stages": plan.stats.stages,
                  "stages_proven": plan.stats.stages_proven},
        "notes": list(plan.notes),
    }


def coverage_summary(plan: SpeedDatingPlan) -> str:
    """One line: how much of the mentees' top lists and of the best matching the meetings cover."""
    met = sum(len(c.met_top) for c in plan.coverage)
    wanted = sum(len(c.top_mentors) for c in plan.coverage)
    complete = sum(1 for c in plan.coverage if c.complete)
    share = f"{100 * met / wanted:.0f} %" if wanted else "-"
    best = plan.objective
    return (f"top mentors met: {met} of {wanted} ({share}); {complete} of {len(plan.coverage)} mentees meet all of "
            f"their top {plan.rounds}; best matching: {best.best_pairs_met} of {best.best_pairs} pairs meet; "
            f"alternatives: {best.alternative_pairs_met} of {best.alternative_pairs}")


def round_csv(plan: SpeedDatingPlan, round_number: int) -> str:
    """The meetings of one round as CSV: round, table, mentee, mentor, from_minute, to_minute."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for x in plan.meetings:
        if x.round == round_number:
            writer.writerow((x.round, x.table, defuse_cell(x.mentee_id), defuse_cell(x.mentor_id), x.starts_min,
                             x.ends_min))
    return out.getvalue()


def round_file_name(rounds: int, round_number: int) -> str:
    """round_1.csv ... round_8.csv; with 10 or more rounds round_01.csv ..., so that they sort in order."""
    return f"round_{round_number:0{len(str(rounds))}d}.csv"


def write_plan_files(plan: SpeedDatingPlan, *, out_dir: Path | None = None, html: Path | None = None,
                     inputs: InputFiles | None = None, title: str | None = None) -> list[Path]:
    """Write a CSV per round into `out_dir` and the sheet to `html`; every target is checked first (none may be an
    input or a folder), so nothing is written unless all can be."""
    targets: list[tuple[Path, str, str]] = []
    if out_dir is not None:
        targets += [(out_dir / round_file_name(plan.rounds, r), round_csv(plan, r), "--out")
                    for r in range(1, plan.rounds + 1)]
    if html is not None:
        targets.append((html, render_sheet(plan, title=title), "--html"))
    problems = [p for path, _, field in targets for p in output_problems(path, inputs, field)]
    if problems:
        raise CohortInvalid(problems)
    return [write_atomic(path, text, inputs=inputs, field_path=field) for path, text, field in targets]


# The HTML sheet -------------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #111827; background: #fff;
       margin: 1.5rem auto; max-width: 1100px; padding: 0 1rem; font-size: 11pt; }
h1 { font-size: 1.6rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .5rem; border-bottom: 2px solid #e5e7eb; padding-bottom: .2rem; }
p.note { color: #4b5563; margin: .2rem 0; }
table { border-collapse: collapse; margin: .4rem 0 1rem; }
th, td { border: 1px solid #d1d5db; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.grid { width: 100%; table-layout: fixed; font-size: .92em; }
table.grid th:first-child { width: 3.2em; }
table.grid td, table.grid th { padding: .2rem .3rem; overflow-wrap: anywhere; }
table.grid .mentor { color: #1d4ed8; font-weight: 600; }
td.idle { color: #9ca3af; }
.cards { display: flex; flex-wrap: wrap; gap: 1rem; }
.card { border: 2px solid #1f2937; border-radius: 8px; padding: .8rem 1rem; width: 22rem; }
.card h3 { font-size: 1.5rem; margin: 0 0 .2rem; }
.card p { margin: 0 0 .5rem; color: #374151; }
.card table { width: 100%; font-size: 1.05rem; }
.card td.break { color: #6b7280; font-style: italic; }
@page { size: A4; margin: 14mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 10.5pt; }
  h2 { break-after: avoid; }
  thead { display: table-header-group; }
  tr { break-inside: avoid; }
  .cards { display: block; }
  .card { break-before: page; break-inside: avoid; border: none; width: auto; padding: 0; }
  .card h3 { font-size: 22pt; }
  .card table { font-size: 14pt; }
  .card td, .card th { padding: .45rem .6rem; }
}
"""


def _time(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


def _grid(plan: SpeedDatingPlan) -> str:
    """Tables down, rounds across (up to a dozen rounds fit an A4 page's width; the tables run over pages), each
    cell the mentor (who stays at her table when there are tables enough) over the mentee."""
    cell = {(x.round, x.table): x for x in plan.meetings}
    tables = max((x.table for x in plan.meetings), default=0)
    head = "".join(f"<th>Round {r}<br>{_time((r - 1) * plan.minutes)}–{_time(r * plan.minutes)}</th>"
                   for r in range(1, plan.rounds + 1))
    rows = []
    for t in range(1, tables + 1):
        cells = []
        for r in range(1, plan.rounds + 1):
            x = cell.get((r, t))
            cells.append(f'<td class="meeting"><span class="mentor">{escape(x.mentor_id)}</span><br>'
                         f"{escape(x.mentee_id)}</td>" if x is not None else '<td class="idle">–</td>')
        rows.append(f'<tr><th>{t}</th>{"".join(cells)}</tr>')
    return (f'<table class="grid" id="grid"><thead><tr><th>table</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _coverage(plan: SpeedDatingPlan) -> str:
    load = {t.person_id: t for t in plan.timetables}
    rows = "".join(
        f'<tr class="coverage"><td>{escape(c.mentee_id)}</td>'
        f'<td class="num">{len(c.met_top)} of {len(c.top_mentors)}</td>'
        f'<td class="num">{load[c.mentee_id].meetings}</td><td class="num">{load[c.mentee_id].breaks}</td>'
        f"<td>{escape(', '.join(b for b in c.top_mentors if b not in c.met_top)) or '–'}</td></tr>"
        for c in plan.coverage)
    return ("<table><thead><tr><th>mentee</th><th>top mentors met</th><th>meetings</th><th>breaks</th>"
            f"<th>top mentors not met</th></tr></thead><tbody>{rows}</tbody></table>")


def _card(plan: SpeedDatingPlan, timetable: Timetable) -> str:
    other = "mentor" if timetable.side == "mentee" else "mentee"
    rows = "".join(
        f"<tr><td>{s.round}</td><td>{_time(s.starts_min)}–{_time(s.ends_min)}</td>"
        + (f'<td class="num">{s.table}</td><td>{escape(s.partner_id)}</td>' if s.partner_id is not None
           else '<td></td><td class="break">break</td>') + "</tr>"
        for s in timetable.slots)
    return (f'<section class="card" id="card-{escape(timetable.person_id)}"><h3>{escape(timetable.person_id)}</h3>'
            f"<p>{timetable.side} · {timetable.meetings} meeting(s) of {plan.minutes} minutes</p>"
            f"<table><thead><tr><th>round</th><th>time</th><th>table</th><th>{other}</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


def render_sheet(plan: SpeedDatingPlan, *, title: str | None = None) -> str:
    """The sheet as one self-contained HTML document; participants by identifier only."""
    title = title or f"Speed-dating kick-off: {plan.cohort_name}"
    tables = f", {plan.tables} tables" if plan.tables is not None else ""
    breaks = f", at most {plan.max_breaks} break(s) each" if plan.max_breaks is not None else ""
    missed = ", ".join(f"{a}–{b}" for a, b in plan.best_matching_missed)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in plan.notes)
    cards = "".join(_card(plan, t) for t in plan.timetables)
    body = (f'<p class="note">{plan.rounds} rounds of {plan.minutes} minutes{tables}{breaks}; {len(plan.meetings)} '
            f"meetings; plan {plan.status.value}. Times are from the start of round 1 (h:mm).</p>"
            f'<p class="note" id="summary">{escape(coverage_summary(plan))}</p>'
            + (f'<p class="note">Pairs of the best matching that do not meet: {escape(missed)}</p>' if missed else "")
            + notes
            + f"<h2>Rounds and tables</h2>{_grid(plan)}"
            f"<h2>Coverage</h2>{_coverage(plan)}"
            f'<h2>Cards</h2><div class="cards">{cards}</div>')
    return html_page(title, CSS, body)

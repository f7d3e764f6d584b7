"""Outcomes: how the pairs that scored high on each soft term fared, per programme, with honest intervals, and the
weight changes the data would suggest (suggested, never applied).

A pair counts when it is finished with a recorded outcome (history `ended` and `outcome`). Its points on each term
(0..100, before weighting) are the ones recorded when it was matched (`term_<term>` columns, written by
`mentormatch intake --out-history`), else recomputed from the cohort's people when both are still in it. It is
*high* on a term with at least `HIGH_POINTS` points, *low* below. For each programme and term: the share of high and
of low pairs whose outcome is `job`, each with its Wilson score interval at 95 %. A weight change is suggested only
when both groups have at least `MIN_GROUP` pairs and the two intervals do not overlap: raise the term's weight when
high pairs found jobs more often, lower it when less often. Otherwise the answer says that the data are too few, or
that they show no clear difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from solver.domain import Cohort, HistoryEntry, Outcome
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.history import HISTORY_COLUMNS, HISTORY_REQUIRED, TERM_NAMES, entry_problems, history_from_rows

HIGH_POINTS = 50  # a pair is high on a term with at least this many of its 100 points
MIN_GROUP = 10  # finished pairs each group needs before a difference is read into the data
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile: two-sided 95 % intervals
ALL_PROGRAMMES = "(all)"


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Group:
    """The finished pairs high (or low) on a term: how many, how many found a job, the share and its interval."""

    pairs: int
    jobs: int
    share: float | None  # None without pairs
    low: float
    high: float

    @staticmethod
    def of(pairs: int, jobs: int) -> Group:
        low, high = wilson(jobs, pairs)
        return Group(pairs, jobs, jobs / pairs if pairs else None, low, high)


@dataclass(frozen=True)
class TermOutcome:
    programme: str
    term: str  # the term's code, e.g. INTERESTS
    high: Group  # pairs with at least HIGH_POINTS points on the term
    low: Group
    verdict: str  # "raise", "lower", "no_difference" or "too_few"
    suggestion: str  # in words; a suggestion only, never applied
    weight: int | None  # the term's weight in the cohort's rules, when a cohort was given


@dataclass(frozen=True)
class OutcomesReport:
    sources: list[str]
    pairs: int  # history entries read
    finished: int  # of them, finished with an outcome and with points: the ones counted
    without_points: int  # finished with an outcome but no recorded points and people no longer in the cohort
    outcomes: dict[str, int]  # finished pairs per outcome
    terms: list[TermOutcome]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Counted:
    programme: str
    outcome: Outcome
    points: dict[str, int]


def _points(entries: Sequence[HistoryEntry], cohort: Cohort | None) -> list[dict[str, int] | None]:
    """Per entry, its term points: recorded, else recomputed from the cohort's people, else None."""
    out: list[dict[str, int] | None] = [dict(e.term_points) if e.term_points else None for e in entries]
    if cohort is None:
        return out
    mentees, mentors = cohort.mentee_index(), cohort.mentor_index()
    missing = [k for k, e in enumerate(entries) if out[k] is None and e.mentee_id in mentees and e.mentor_id in mentors]
    if missing:
        from solver.intake import term_points

        recomputed = term_points(cohort, [(entries[k].mentee_id, entries[k].mentor_id) for k in missing])
        for k, points in zip(missing, recomputed, strict=True):
            out[k] = dict(points)
    return out


def outcomes_report(sources: Sequence[tuple[str, Sequence[HistoryEntry], Cohort | None]]) -> OutcomesReport:
    """The report over (name, history, cohort or None) sources; an entry's programme is its own, else the name."""
    counted: list[_Counted] = []
    read = without = 0
    tally: dict[str, int] = {}
    weights: dict[str, dict[str, int]] = {}
    for name, entries, cohort in sources:
        read += len(entries)
        if cohort is not None:
            weights[name] = cohort.rules.weights.as_dict()
        for entry, points in zip(entries, _points(entries, cohort), strict=True):
            if not entry.finished or entry.outcome is Outcome.UNSPECIFIED:
                continue
            if points is None:
                without += 1
                continue
            tally[entry.outcome.value] = tally.get(entry.outcome.value, 0) + 1
            counted.append(_Counted(entry.programme or name, entry.outcome, points))
    programmes = sorted({c.programme for c in counted})
    groups = [(p, [c for c in counted if c.programme == p]) for p in programmes]
    if len(programmes) > 1:
        groups.append((ALL_PROGRAMMES, counted))
    one_weighting = next(iter(weights.values())) if len({tuple(w.items()) for w in weights.values()}) == 1 else None
    terms = []
    for programme, rows in groups:
        for name in TERM_NAMES:
            code = name.upper()
            scored = [c for c in rows if code in c.points]
            if not scored:
                continue
            high = [c for c in scored if c.points[code] >= HIGH_POINTS]
            low = [c for c in scored if c.points[code] < HIGH_POINTS]
            weight = (weights.get(programme) or one_weighting or {}).get(name)
            terms.append(_term(programme, code, Group.of(len(high), _jobs(high)), Group.of(len(low), _jobs(low)),
                               weight))
    notes = []
    if without:
        notes.append(f"{without} finished pair(s) have no recorded points and their people are not in the cohort: "
                     "not counted")
    if not counted:
        notes.append("no finished pair with a recorded outcome: nothing to report yet")
    return OutcomesReport([name for name, _, _ in sources], read, len(counted), without, dict(sorted(tally.items())),
                          terms, notes)


def _jobs(rows: Iterable[_Counted]) -> int:
    return sum(1 for c in rows if c.outcome is Outcome.JOB)


def _percent(group: Group) -> str:
    if group.share is None:
        return "no pairs"
    return f"{group.jobs}/{group.pairs} = {100 * group.share:.0f} % [{100 * group.low:.0f}-{100 * group.high:.0f} %]"


def _term(programme: str, code: str, high: Group, low: Group, weight: int | None) -> TermOutcome:
    name = code.lower()
    if high.pairs < MIN_GROUP or low.pairs < MIN_GROUP:
        return TermOutcome(programme, code, high, low, "too_few",
                           f"too few data to suggest anything: {high.pairs} high and {low.pairs} low finished pairs, "
                           f"at least {MIN_GROUP} of each needed", weight)
    now = f" from {weight} to {weight + 1}" if weight is not None else ""
    if high.low > low.high:
        return TermOutcome(programme, code, high, low, "raise",
                           f"consider raising weights.{name}{now}: pairs high on it found a job more often "
                           f"({_percent(high)} against {_percent(low)})", weight)
    if high.high < low.low:
        down = f" from {weight} to {max(0, weight - 1)}" if weight is not None else ""
        return TermOutcome(programme, code, high, low, "lower",
                           f"consider lowering weights.{name}{down}: pairs high on it found a job less often "
                           f"({_percent(high)} against {_percent(low)})", weight)
    return TermOutcome(programme, code, high, low, "no_difference",
                       "no clear difference (the 95 % intervals overlap): no change suggested", weight)


def read_history_file(path: Path) -> tuple[HistoryEntry, ...]:
    """A history CSV on its own (`mentormatch outcomes`); raises CohortInvalid with every problem."""
    from solver.ingest import RowReader
    from solver.validate import control_characters

    reader = RowReader()
    directory, stem = path.parent, path.name.removesuffix(".csv").removesuffix(".parquet")
    if not path.is_file() and not path.exists():
        raise CohortInvalid([Problem(ProblemCode.MISSING_FILE, "history", f"{path} is missing", str(path))])
    rows = reader.table(directory, stem, HISTORY_REQUIRED, HISTORY_COLUMNS)
    entries = history_from_rows(reader, rows or [], stem)
    problems = reader.problems + [_located(p, stem) for p in entry_problems(entries, control_characters)]
    if problems:
        raise CohortInvalid(problems)
    return entries


def _located(problem: Problem, stem: str) -> Problem:
    head, _, rest = problem.path.partition(".")
    index = head.partition("[")[2].rstrip("]")
    if not index.isdigit():
        return problem
    column = rest.split(".")[0] or "mentee_id"
    return Problem(problem.code, problem.path, problem.message, f"{stem}.csv row {int(index) + 2}, column {column}")


# Reading the sources -----------------------------------------------------------------------------------


def read_sources(paths: Sequence[Path]) -> list[tuple[str, tuple[HistoryEntry, ...], Cohort | None]]:
    """Each path: a cohort (directory with history.csv, or .json) or a history CSV on its own. Every problem of
    every path at once (CohortInvalid)."""
    from solver.ingest import load_cohort

    out: list[tuple[str, tuple[HistoryEntry, ...], Cohort | None]] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            if path.is_dir() or path.suffix.lower() == ".json":
                cohort = load_cohort(path)
                if not cohort.history:
                    problems.append(Problem(ProblemCode.MISSING_FILE, "history",
                                            f"{path} has no history (history.csv) to report on", str(path)))
                out.append((cohort.rules.intake.programme or cohort.name, cohort.history, cohort))
            else:
                out.append((path.stem, read_history_file(path), None))
        except CohortInvalid as invalid:
            problems += invalid.problems
    if problems:
        raise CohortInvalid(problems)
    return out


# The HTML report ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1f2937; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 2px solid #e5e7eb; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #e5e7eb; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #6b7280; } .raise { color: #047857; } .lower { color: #b91c1c; }
"""
_HIGH_COLOUR, _LOW_COLOUR = "#2563eb", "#9ca3af"


def _chart(rows: Sequence[TermOutcome]) -> str:
    """Bars of the share with a job, high pairs beside low pairs per term, each with its 95 % interval."""
    label, width, row_height = 150, 460, 34
    height = row_height * len(rows) + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label + width + 90}" height="{height}" '
             'role="img" aria-label="share of pairs with a job, high and low on each term">']
    for k in range(0, 101, 25):
        x = label + width * k / 100
        parts.append(f'<line x1="{x:.1f}" y1="10" x2="{x:.1f}" y2="{height - 20}" stroke="#e5e7eb"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" font-size="10" text-anchor="middle">{k} %</text>')
    for i, row in enumerate(rows):
        y = 14 + i * row_height
        parts.append(f'<text x="{label - 6}" y="{y + 16}" font-size="12" text-anchor="end">{escape(row.term)}</text>')
        for j, (group, colour) in enumerate(((row.high, _HIGH_COLOUR), (row.low, _LOW_COLOUR))):
            top = y + j * 13
            share = group.share or 0.0
            parts.append(f'<rect x="{label}" y="{top}" width="{width * share:.1f}" height="11" fill="{colour}">'
                         f'<title>{escape(("high" if j == 0 else "low") + ": " + _percent(group))}</title></rect>')
            if group.pairs:
                x1, x2 = label + width * group.low, label + width * group.high
                parts.append(f'<line x1="{x1:.1f}" y1="{top + 5.5}" x2="{x2:.1f}" y2="{top + 5.5}" stroke="#111827"/>')
            parts.append(f'<text x="{label + width + 6}" y="{top + 10}" font-size="10">'
                         f'{escape(str(group.jobs))}/{escape(str(group.pairs))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def report_html(report: OutcomesReport) -> str:
    """One self-contained page (inline CSS and SVG, no scripts); every piece of data escaped as text."""
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Outcomes</title>",
           f"<style>{_CSS}</style></head><body><h1>Outcomes: how high-scoring pairs fared</h1>",
           f"<p class=\"note\">{escape(', '.join(report.sources))}: {report.pairs} pair(s) in the history, "
           f"{report.finished} finished with an outcome and counted ("
           + escape(", ".join(f"{k} {v}" for k, v in report.outcomes.items()) or "none") + "). A pair is high on a "
           f"term with at least {HIGH_POINTS} of its 100 points; shares with a job carry 95 % Wilson intervals. "
           "Weight changes are suggestions only; nothing is applied.</p>",
           f'<p><span style="color:{_HIGH_COLOUR}">&#9632;</span> high on the term &nbsp; '
           f'<span style="color:{_LOW_COLOUR}">&#9632;</span> low on the term</p>']
    out += [f'<p class="note">{escape(note)}</p>' for note in report.notes]
    for programme in dict.fromkeys(t.programme for t in report.terms):
        rows = [t for t in report.terms if t.programme == programme]
        out.append(f"<h2>{escape(programme)}</h2>")
        out.append(_chart(rows))
        out.append("<table><tr><th>term</th><th>weight</th><th>high: with a job</th><th>low: with a job</th>"
                   "<th>suggestion</th></tr>")
        for t in rows:
            out.append(f"<tr><td>{escape(t.term)}</td><td class=\"num\">{'' if t.weight is None else t.weight}</td>"
                       f"<td class=\"num\">{escape(_percent(t.high))}</td><td class=\"num\">{escape(_percent(t.low))}"
                       f"</td><td class=\"{escape(t.verdict)}\">{escape(t.suggestion)}</td></tr>")
        out.append("</table>")
    out.append("</body></html>\n")
    return "".join(out)


def outcome_rows(report: OutcomesReport) -> list[Mapping[str, str]]:
    """The report as rows for a table: programme, term, weight, high, low, suggestion."""
    return [{"programme": t.programme, "term": t.term, "weight": "" if t.weight is None else str(t.weight),
             "high": _percent(t.high), "low": _percent(t.low), "suggestion": t.suggestion} for t in report.terms]

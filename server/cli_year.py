"""The programme year on the command line: `intake` (rolling intake), `decide` (answers fed back) and `outcomes`.

A coordinator goes from one intake to the next with files alone: `intake` locks the running pairs, matches the
rest and writes the next current.csv and history.csv; people's answers go into decisions.csv and `decide` proposes
pairs for whoever is still open; `outcomes` reads the history back. The engine is imported inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from server.cli import (
    EXIT_INVALID,
    JsonFlag,
    OutputOption,
    answer_outputs_problems,
    console,
    print_problems,
    refuse_outputs,
    split_list,
    write_or_exit,
)
from server.cli_params import finite_seconds
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.fileio import output_problems, record_inputs, same_file_problems

if TYPE_CHECKING:
    from solver.decisions import DecideResult
    from solver.domain import Decision
    from solver.fileio import InputFiles
    from solver.intake import IntakeResult
    from solver.outcomes import OutcomesReport

OutCurrent = Annotated[Path | None, typer.Option(
    help="also write the pairs as the next current.csv (mentee_id,mentor_id); never over an input")]
TimeLimit = Annotated[float, typer.Option(callback=finite_seconds, help="seconds for the solve")]
COHORT_FILE_NAMES = ("mentors.csv", "mentees.csv", "rankings.csv", "travel_times.csv", "rules.toml", "history.csv",
                     "decisions.csv")


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def _table(title: str, columns: tuple[str, ...], rows: Sequence[Sequence[str]], numbers: tuple[str, ...] = ()) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in numbers else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def render_intake(outcome: IntakeResult) -> None:
    result = outcome.result
    start = f" starting {outcome.start_date}" if outcome.start_date else ""
    console.rule(Text.assemble((outcome.cohort, "bold"), f": intake{start}, {result.status}"))
    source = {"history": "the running pairs of history.csv", "": "none"}.get(outcome.current_from, outcome.current_from)
    console.print(f"{result.matched}/{result.mentees} mentees matched; {result.kept} running pair(s) kept (current "
                  f"pairs from {source}), {result.ended} ended, {result.new} new")
    new = [c for c in result.changes if c.kind == "NEW"]
    returning = set(outcome.returning_matched)
    _table("New pairs", ("mentee", "mentor", "score", "why"), [
        (c.mentee_id, c.mentor_id + (" (returning)" if c.mentor_id in returning else ""),
         "" if c.score is None else str(c.score), c.detail) for c in new], ("score",))
    ended = [c for c in result.changes if c.kind == "ENDED"]
    if ended:
        _table("Ended", ("mentee", "mentor", "reason", "detail"),
               [(c.mentee_id, c.mentor_id, c.reason, c.detail) for c in ended])
    if outcome.waiting:
        _table("Waiting (priority = priority + step x whole months waited)",
               ("mentee", "waiting since", "months", "priority", "mentor now"),
               [(w.mentee_id, w.waiting_since, str(w.months), str(w.priority), w.mentor_id or "still waiting")
                for w in outcome.waiting], ("months", "priority"))
    _unmatched_and_notes(result.unmatched, result.notes)


def render_decide(result: DecideResult) -> None:
    console.rule(Text.assemble((result.cohort, "bold"), f": after the decisions, {result.status}"))
    console.print(f"{len(result.running)} running pair(s) kept, "
                  f"{len(result.accepted)} pair(s) accepted and fixed, {len(result.proposed)} proposed for people "
                  f"still open, {len(result.declined)} declined; {result.open_mentees} mentee(s) without an accepted "
                  "mentor" + ("; nothing left to answer" if result.done else ""))
    rows = [(p.mentee_id, p.mentor_id, str(p.score), "accepted" if p.accepted else "proposed", "; ".join(p.reasons))
            for p in [*result.accepted, *result.proposed]]
    rows += [(p.mentee_id, p.mentor_id, str(p.score), "running", "") for p in result.running]
    _table("Pairs", ("mentee", "mentor", "score", "state", "top reasons"), rows, ("score",))
    if result.declined:
        _table("Declined", ("mentee", "mentor", "declined by"), [tuple(d) for d in result.declined])
    _unmatched_and_notes(result.unmatched, result.notes)


def _unmatched_and_notes(unmatched: Sequence[Any], notes: Sequence[str]) -> None:
    """The unmatched mentees' table and the notes, as `intake` and `decide` end."""
    if unmatched:
        _table(f"Unmatched mentees ({len(unmatched)})", ("mentee", "reason", "why", "what would help"),
               [(u.mentee_id, u.reason, u.message, "; ".join(u.would_help)) for u in unmatched])
    for note in notes:
        console.print(note, style="dim")


def render_outcomes(report: OutcomesReport) -> None:
    from solver.outcomes import outcome_rows

    counts = ", ".join(f"{k} {v}" for k, v in report.outcomes.items()) or "none"
    console.print(f"{report.pairs} pair(s) in the history; {report.finished} finished with an outcome counted "
                  f"({counts})")
    _table("How pairs high on each term fared (share with a job, 95 % Wilson interval)",
           ("programme", "term", "weight", "high on it", "low on it", "suggestion (never applied)"),
           [tuple(row.values()) for row in outcome_rows(report)], ("weight",))
    for note in report.notes:
        console.print(note, style="dim")


def _show(as_json: bool, answer: Any, render: Callable[[Any], None], written: Sequence[Path]) -> None:
    """The answer as JSON, or rendered for people with the files written."""
    if as_json:
        _print_json(answer.to_dict())
        return
    render(answer)
    for path in written:
        console.print(f"written to {path}")


def _cohort_dir_problems(directory: Path, inputs: InputFiles) -> list[Problem]:
    """A cohort directory to write: none of its files may be an input (the cohort read, the decisions read)."""
    if directory.exists() and not directory.is_dir():  # one problem: the files inside it cannot be written at all
        return [Problem(ProblemCode.NOT_A_FILE, "--out", f"{directory} is a file, not a folder to write the cohort's "
                        "files in", "--out")]
    return [p for name in COHORT_FILE_NAMES for p in output_problems(directory / name, inputs, "--out")]


def register(app: typer.Typer) -> None:
    """Add the year's commands to the `mentormatch` app."""

    @app.command("intake")
    def intake_command(
        cohort: Annotated[Path, typer.Argument(help="the intake's cohort: directory (with history.csv) or .json")],
        current: Annotated[Path | None, typer.Option(
            help="the pairs running now (mentee_id,mentor_id); default: the cohort's current.csv, else the "
                 "running pairs of its history.csv")] = None,
        left: Annotated[str | None, typer.Option(help="ids of participants who left, separated by ';' or ','")] = (
            None),
        out_current: OutCurrent = None,
        out_history: Annotated[Path | None, typer.Option(
            help="also write the history for the next intake: this one's new pairs added (started = the start "
                 "date, with their points); never over an input")] = None,
        as_json: JsonFlag = False,
        output: OutputOption = None,
        time_limit: TimeLimit = 30.0,
    ) -> None:
        """Rolling intake: the running pairs stay, new arrivals and freed places are matched."""
        from server.cli_files import rematch_sheets, write_answer, write_current
        from solver.fileio import write_atomic
        from solver.history import history_csv
        from solver.intake import read_intake, rolling_intake
        from solver.solve import SolveOptions

        problems: list[Problem] = []
        with record_inputs() as inputs:
            try:
                data, pairs, source = read_intake(cohort, current, split_list(left))
            except CohortInvalid as invalid:
                problems += invalid.problems
        # The outputs refused with the data's problems, all at once.
        refuse_outputs(problems + answer_outputs_problems(inputs, output=output, out_current=out_current,
                                                          out_history=out_history))
        try:
            outcome = rolling_intake(data, pairs, current_from=source, left=split_list(left),
                                     options=SolveOptions(time_limit_s=time_limit))
        except CohortInvalid as invalid:
            print_problems(invalid.problems)
            raise typer.Exit(EXIT_INVALID) from None
        written = []
        if output is not None:
            written += write_or_exit(lambda: write_answer(output, rematch_sheets([(data.name, outcome.result)]),
                                                          "cohort", inputs))
        if out_current is not None:
            written += write_or_exit(lambda: [write_current(out_current, outcome.next_current, inputs)])
        if out_history is not None:
            written += write_or_exit(lambda: [write_atomic(out_history, history_csv(outcome.next_history),
                                                           inputs=inputs, field_path="--out-history")])
        _show(as_json, outcome, render_intake, written)

    @app.command("decide")
    def decide_command(
        cohort: Annotated[Path, typer.Argument(help="cohort directory or .json (its own decisions.csv included)")],
        decisions: Annotated[Path | None, typer.Option(
            help="new answers: CSV mentee_id,mentor_id,decision (accepted/declined),by (mentee/mentor/coordinator)")
        ] = None,
        out: Annotated[Path | None, typer.Option(
            help="write the cohort with every decision (decisions.csv merged) to this directory, for the next "
                 "round; never over an input")] = None,
        out_current: Annotated[Path | None, typer.Option(
            help="also write every pair running after the decisions (the running pairs kept and the accepted "
                 "ones) as the next current.csv; never over an input")] = None,
        as_json: JsonFlag = False,
        time_limit: TimeLimit = 30.0,
    ) -> None:
        """Apply answers (accepted pairs fixed, declined ones ruled out) and propose pairs for the people still open."""
        from server.cli_files import write_current
        from solver.decisions import decide, new_decision_problems, read_decisions_rows
        from solver.ingest import load_cohort, write_cohort_dir
        from solver.solve import SolveOptions
        from solver.workflows import PairRef

        problems: list[Problem] = []
        new: tuple[Decision, ...] = ()
        data = None
        with record_inputs() as inputs:
            try:
                data = load_cohort(cohort)
            except CohortInvalid as invalid:
                problems += invalid.problems
            if decisions is not None:
                new, cells = read_decisions_rows(decisions)
                problems += cells
                if cells and data is not None:  # else `decide` checks them, with what the pins they make break
                    problems += new_decision_problems(data, new, decisions.name)
        problems += _cohort_dir_problems(out, inputs) if out is not None else []
        problems += output_problems(out_current, inputs, "--out-current") if out_current is not None else []
        if out is not None:
            problems += same_file_problems([*(("--out", out / name) for name in COHORT_FILE_NAMES),
                                            ("--out-current", out_current)])
        refuse_outputs(problems)
        try:
            assert data is not None
            merged, result, _ = decide(data, new, SolveOptions(time_limit_s=time_limit),
                                       new_source=decisions.name if decisions is not None else "",
                                       own_source="decisions.csv" if cohort.is_dir() else f"{cohort}, decisions")
        except CohortInvalid as invalid:
            print_problems(invalid.problems)
            raise typer.Exit(EXIT_INVALID) from None
        written = []
        if out is not None:
            written += write_or_exit(lambda: [write_cohort_dir(merged, out)])
        if out_current is not None:
            running = [PairRef(a, b) for a, b in sorted((p.mentee_id, p.mentor_id)
                                                        for p in [*result.running, *result.accepted])]
            written += write_or_exit(lambda: [write_current(out_current, running, inputs)])
        _show(as_json, result, render_decide, written)

    @app.command("outcomes")
    def outcomes_command(
        sources: Annotated[list[Path], typer.Argument(
            help="cohort directories (with history.csv) or history CSV files; recorded points are used, else the "
                 "cohort's people are scored")],
        as_json: JsonFlag = False,
        report: Annotated[Path | None, typer.Option(
            help="also write a self-contained HTML report with the chart; never over an input")] = None,
    ) -> None:
        """How pairs that scored high on each soft term fared (share with a job), and weight changes to consider."""
        from solver.fileio import write_atomic
        from solver.outcomes import outcomes_report, read_sources, report_html

        problems: list[Problem] = []
        with record_inputs() as inputs:
            try:
                found = read_sources(sources)
            except CohortInvalid as invalid:
                problems += invalid.problems
        refuse_outputs(problems + (output_problems(report, inputs, "--report") if report is not None else []))
        result = outcomes_report(found)
        written = []
        if report is not None:
            written += write_or_exit(lambda: [write_atomic(report, report_html(result), inputs=inputs,
                                                           field_path="--report")])
        _show(as_json, result, render_outcomes, written)

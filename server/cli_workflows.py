"""Coordinators' workflow commands: `compare` what-if scenarios, `rematch` after drop-outs, `rematch-batch`.

The engine, polars and Dask are imported inside the commands, so that `mentormatch --help` loads none of them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.table import Table
from rich.text import Text

from server.cli import (
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    JsonFlag,
    OutputOption,
    answer_outputs_problems,
    console,
    errors,
    print_problems,
    problem_text,
    refuse_outputs,
    run_interruptibly,
    split_list,
    write_or_exit,
)
from server.cli_params import finite_seconds
from server.cli_scale import (
    SchedulerOption,
    SequentialOption,
    WorkersOption,
    cluster_errors,
    cluster_options,
    progress_bar,
)
from solver.defaults import COMPARE_EXPLAIN_PEOPLE, DEFAULT_PENALTY
from solver.errors import CohortInvalid, Problem, ProblemCode, gathered
from solver.fileio import record_inputs

if TYPE_CHECKING:
    from solver.compare import Comparison
    from solver.rematch import BatchItem, RematchResult
    from solver.workflows import PairRef


T = TypeVar("T")


def interruptibly(work: Callable[[], T], what: str) -> T:
    """`work()` stopped by Ctrl-C: the first Ctrl-C sets the stop every solve inside it checks
    (`solver.stop.stopping_with`: candidates, flows, CP-SAT, explanations' re-solves), the work ends within a
    fraction of a second, and the command says it was interrupted and exits 130 with nothing printed or written.
    A second Ctrl-C gives up at once (KeyboardInterrupt: the same exit). On a worker thread
    (`server.cli.run_interruptibly`): with the work on the main thread, Ctrl-C waited for a CP-SAT search to return.
    """
    from solver.stop import stopping_with

    def within(stop: threading.Event) -> T:
        with stopping_with(stop):
            return work()

    value, interrupted = run_interruptibly(within, f"interrupted: stopping the {what} (Ctrl-C again to quit at once)")
    if interrupted or value is None:
        errors.print(f"interrupted (Ctrl-C): the {what} was stopped; nothing was printed or written", style="yellow")
        raise typer.Exit(EXIT_INTERRUPTED)
    return value


def _pairs(text: str | None) -> list[PairRef]:
    """'E1:M2;E3:M4' (or ',' between pairs) -> pairs; a malformed item is a problem (exit 2), not a traceback."""
    from solver.workflows import PairRef

    out = []
    problems = []
    for k, item in enumerate(split_list(text)):
        mentee, sep, mentor = item.partition(":")
        if not sep or not mentee.strip() or not mentor.strip():
            problems.append(Problem(ProblemCode.BAD_VALUE, f"keep[{k}]", f"'{item}' is not MENTEE_ID:MENTOR_ID",
                                    "--keep"))
        out.append(PairRef(mentee.strip(), mentor.strip()))
    if problems:
        raise CohortInvalid(problems)
    return out


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def render_comparison(comparison: Comparison) -> None:
    from solver.compare import summary_rows

    table = Table(title="What-if scenarios side by side", title_justify="left")
    table.add_column("measure", no_wrap=True)
    for outcome in comparison.scenarios:
        table.add_column(outcome.label, justify="right", overflow="fold")
    for row in summary_rows(comparison):
        table.add_row(row.measure, *row.values)
    console.print(table)
    for outcome in comparison.scenarios:
        if outcome.changes:
            console.print(Text.assemble((outcome.label, "bold"), ": ", "; ".join(outcome.changes)))


def render_rematch(result: RematchResult) -> None:
    console.rule(Text.assemble((result.cohort, "bold"), f": re-matched, {result.status}"))
    console.print(
        f"{result.matched}/{result.mentees} matched; {result.kept} pair(s) kept, {result.ended} ended, "
        f"{result.new} new; {result.disrupted_pairs} working pair(s) changed (penalty {result.penalty} each"
        + (f", at most {result.max_changes}" if result.max_changes is not None else "") + ")")
    console.print(f"objective {result.objective_value} (fresh optimum {result.fresh_optimum_value}), "
                  f"total score {result.total_score}")
    table = Table(title="Changes", title_justify="left")
    for column in ("change", "mentee", "mentor", "reason", "score", "detail"):
        table.add_column(column, justify="right" if column == "score" else "left")
    order = {"ENDED": 0, "NEW": 1, "KEPT": 2}
    for change in sorted(result.changes, key=lambda c: order.get(c.kind, 3)):
        table.add_row(change.kind, change.mentee_id, change.mentor_id, change.reason,
                      "" if change.score is None else str(change.score), change.detail)
    console.print(table)
    if result.unmatched:
        unmatched = Table(title=f"Unmatched mentees ({len(result.unmatched)})", title_justify="left")
        for column in ("mentee", "reason", "what would help"):
            unmatched.add_column(column)
        for u in result.unmatched:
            unmatched.add_row(u.mentee_id, u.reason, "; ".join(u.would_help))
        console.print(unmatched)
    for note in result.notes:
        console.print(note, style="dim")


def register(app: typer.Typer) -> None:
    """Add the workflow commands to the `mentormatch` app."""

    @app.command("compare")
    def compare_command(
        scenarios: Annotated[list[Path], typer.Argument(
            help="what-if .toml files or cohort directories; the first is the base")],
        as_json: JsonFlag = False,
        report: Annotated[Path | None, typer.Option(help="also write a self-contained HTML report here")] = None,
        output: OutputOption = None,
        counterfactuals: Annotated[bool | None, typer.Option(
            "--counterfactuals/--no-counterfactuals",
            help="re-solve to find what would match each unmatched mentee (default: on with --report)")] = None,
        explain_people: Annotated[int | None, typer.Option(
            min=0, help="unmatched people per scenario who get re-solves for what would help (with "
                        f"--counterfactuals; default {COMPARE_EXPLAIN_PEOPLE})")] = None,
        time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds per scenario's solve")] = 30.0,
        seed: Annotated[int, typer.Option(help="solver seed")] = 0,
        scheduler: SchedulerOption = None,
        workers: WorkersOption = None,
        sequential: SequentialOption = False,
    ) -> None:
        """Solve what-if scenarios and compare them side by side (matched, scores, travel, rankings, changes)."""
        from server.cli_files import comparison_sheets, write_answer
        from server.distributed import compare_on_cluster
        from solver.compare import load_scenarios
        from solver.report import write_report
        from solver.solve import SolveOptions

        deep = counterfactuals if counterfactuals is not None else report is not None
        try:
            # Every file read while loading is recorded, so that the outputs are checked against all of them
            # (scenario files, cohort files, added-people files) before anything is solved; the outputs' problems
            # are listed with the scenarios'.
            refused: list[Problem] = []
            with record_inputs() as inputs:
                loaded = gathered(lambda: load_scenarios(scenarios), refused)
            refused += answer_outputs_problems(inputs, output=output, report=report)
            if refused or loaded is None:
                raise CohortInvalid(refused)
            cluster = cluster_options(scheduler, workers, sequential).resolve(len(loaded))
            with cluster_errors(), progress_bar(f"solving {cluster.describe()}", len(loaded), transient=True
                                                ) as advance:
                comparison = interruptibly(lambda: compare_on_cluster(
                    loaded, SolveOptions(time_limit_s=time_limit, seed=seed), cluster, counterfactuals=deep,
                    explain_people=explain_people, on_done=advance), "comparison")
        except CohortInvalid as invalid:
            print_problems(invalid.problems)
            raise typer.Exit(EXIT_INVALID) from None
        written = []
        if report is not None:
            try:
                written.append(write_report(comparison, report, inputs=inputs, cohorts=[s.cohort for s in loaded]))
            except OSError as error:
                errors.print(f"cannot write the report to {report}: {error.strerror or error}; nothing was "
                             "written there (an earlier report at that path is unchanged)")
                raise typer.Exit(1) from None
        if output is not None:
            written += write_or_exit(lambda: write_answer(output, comparison_sheets(comparison), "scenario", inputs))
        if as_json:
            _print_json(comparison.to_dict())
        else:
            render_comparison(comparison)
            for path in written:
                console.print(f"written to {path}")

    @app.command("rematch")
    def rematch_command(
        cohort: Annotated[Path, typer.Argument(help="today's cohort (late joiners included): directory or .json")],
        current: Annotated[Path, typer.Argument(help="the pairs running now: CSV with mentee_id,mentor_id")],
        left: Annotated[str | None, typer.Option(help="ids of participants who left, separated by ';' or ','")] = (
            None),
        joined: Annotated[str | None, typer.Option(help="ids of late joiners, separated by ';' or ','")] = None,
        keep: Annotated[str | None, typer.Option(help="pairs that must stay: MENTEE:MENTOR;MENTEE:MENTOR")] = None,
        # Not bounded by click (its error would hide every other problem): a negative one is listed with them.
        penalty: Annotated[int, typer.Option(help="score points a changed working pair costs (>= 0)")] = (
            DEFAULT_PENALTY),
        max_changes: Annotated[int | None, typer.Option(help="at most this many working pairs change (>= 0)")] = None,
        as_json: JsonFlag = False,
        output: OutputOption = None,
        out_current: Annotated[Path | None, typer.Option(
            help="also write the new pairs as the next current.csv (mentee_id,mentor_id); never over an input")] = None,
        time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds for the solve")] = 30.0,
    ) -> None:
        """Re-match after drop-outs and late joiners, keeping the pairs that work."""
        from server.cli_files import rematch_sheets, write_answer, write_current
        from solver.rematch import (
            RematchSources,
            new_problems,
            read_rematch_parts,
            rematch,
            rematch_problems,
            setting_problems,
        )
        from solver.solve import SolveOptions

        try:
            refused: list[Problem] = []
            with record_inputs() as inputs:  # the files' problems listed with the outputs' and --keep's
                data, current_pairs, _, found = read_rematch_parts(cohort, current, None)
            refused += found + answer_outputs_problems(inputs, output=output, out_current=out_current)
            try:
                kept = _pairs(keep)
            except CohortInvalid as bad_keep:  # listed with every other problem, not before them
                kept, refused = [], refused + bad_keep.problems
            if data is None or current_pairs is None:  # the settings' problems too, at their options
                refuse_outputs(refused + [replace(p, location=f"--{p.path.replace('_', '-')}")
                                          for p in setting_problems(penalty, max_changes)])
            assert data is not None and current_pairs is not None
            # Every problem at once, each where the coordinator sees it (current.csv row 4, --left item 2): the
            # pairs' and lists' checked even beside an empty id in current.csv.
            sources = RematchSources.command_line(current)
            refuse_outputs(refused + new_problems(refused, rematch_problems(
                data, current_pairs, left=split_list(left), joined=split_list(joined), keep=kept, penalty=penalty,
                max_changes=max_changes, sources=sources)))
            result = interruptibly(lambda: rematch(
                data, current_pairs, left=split_list(left), joined=split_list(joined), keep=kept, penalty=penalty,
                max_changes=max_changes, options=SolveOptions(time_limit_s=time_limit), sources=sources), "re-match")
        except CohortInvalid as invalid:
            print_problems(invalid.problems)
            raise typer.Exit(EXIT_INVALID) from None
        written = []
        if output is not None:
            written += write_or_exit(lambda: write_answer(output, rematch_sheets([(data.name, result)]), "cohort",
                                                          inputs))
        if out_current is not None:
            written += write_or_exit(lambda: [write_current(out_current, result.pairs, inputs)])
        if as_json:
            _print_json(result.to_dict())
        else:
            render_rematch(result)
            for path in written:
                console.print(f"written to {path}")

    @app.command("rematch-batch")
    def rematch_batch_command(
        directory: Annotated[Path, typer.Argument(
            help="one subdirectory per cohort: cohort files, current.csv, optional changes.toml")],
        penalty: Annotated[int | None, typer.Option(min=0, help="override every changes.toml's penalty")] = None,
        max_changes: Annotated[int | None, typer.Option(min=0, help="override every changes.toml's max_changes")] = (
            None),
        as_json: JsonFlag = False,
        output: OutputOption = None,
        time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds per cohort's solve")] = 30.0,
        scheduler: SchedulerOption = None,
        workers: WorkersOption = None,
        sequential: SequentialOption = False,
    ) -> None:
        """Re-match many cohorts in one run; a broken cohort is reported and the rest go on (exit 1 if any failed)."""
        from server.cli_files import output_file_problems, rematch_sheets, write_answer
        from server.distributed import rematch_batch_on_cluster
        from solver.fileio import InputFiles
        from solver.rematch import batch_directories
        from solver.solve import SolveOptions

        if not directory.is_dir():
            errors.print(f"no batch directory at {directory}")
            raise typer.Exit(EXIT_INVALID)
        # The batch's files are read by the workers: the output may be none of the files under the directory.
        inputs = InputFiles()
        for file in directory.rglob("*"):
            if file.is_file():
                inputs.add(file, file.stat())
        if output is not None:
            refuse_outputs(output_file_problems(output, inputs))
        paths = batch_directories(directory)
        cluster = cluster_options(scheduler, workers, sequential).resolve(len(paths))
        # The bar goes to stderr, so `--json` output on stdout stays clean.
        with cluster_errors(), progress_bar(f"re-matching {cluster.describe()}", len(paths), transient=as_json
                                            ) as advance:
            items = rematch_batch_on_cluster(paths, cluster, penalty=penalty, max_changes=max_changes,
                                             options=SolveOptions(time_limit_s=time_limit), on_item=advance)
        failed = [item for item in items if not item.ok]
        written = []
        if output is not None:
            done = [(item.name, item.result) for item in items if item.result is not None]
            written = write_or_exit(lambda: write_answer(output, rematch_sheets(done), "cohort", inputs))
        if as_json:
            _print_json({"cohorts": [_item_dict(item) for item in items], "failed": len(failed)})
        else:
            _render_batch(items)
            for path in written:
                console.print(f"written to {path}")
        if failed:
            raise typer.Exit(1)


def _item_dict(item: BatchItem) -> dict[str, Any]:
    return {
        "name": item.name,
        "ok": item.ok,
        "problems": [{"code": p.code.value, "path": p.path, "message": p.message, "location": p.location}
                     for p in item.problems],
        "error": item.error,
        "result": item.result.to_dict() if item.result is not None else None,
    }


def _render_batch(items: list[BatchItem]) -> None:
    table = Table(title=f"Re-matched {sum(i.ok for i in items)} of {len(items)} cohort(s)", title_justify="left")
    for column in ("cohort", "outcome", "matched", "kept", "ended", "new", "changed", "problems"):
        table.add_column(column, justify="right" if column in ("matched", "kept", "ended", "new", "changed")
                         else "left")
    for item in items:
        r = item.result
        if r is not None:
            table.add_row(item.name, Text(r.status, style="green"), f"{r.matched}/{r.mentees}", str(r.kept), str(r.ended),
                          str(r.new), str(r.disrupted_pairs), "")
        else:
            first = str(item.problems[0]) if item.problems else item.error
            more = f" (+{len(item.problems) - 1} more)" if len(item.problems) > 1 else ""
            table.add_row(item.name, Text("FAILED", style="red"), "", "", "", "", "", f"{first}{more}")
    console.print(table)
    for item in items:
        if not item.ok and len(item.problems) > 1:
            console.print(Text.assemble((item.name, "bold red"), f": {len(item.problems)} problem(s)"))
            for problem in item.problems:
                console.print(problem_text(problem))

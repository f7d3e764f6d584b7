"""The `mentormatch speed-dating plan` command: the kick-off's rounds, tables and timetables, as files and a table.

The planner is imported inside the command, so that `mentormatch --help` does not load the engine.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from server.cli import EXIT_INVALID, console, errors, print_problems, read_or_exit
from server.cli_params import finite_seconds
from solver.defaults import SPEED_DATING_MAX_ALTERNATIVES, SPEED_DATING_MAX_MINUTES, SPEED_DATING_MAX_ROUNDS
from solver.errors import CohortInvalid
from solver.fileio import output_problems, record_inputs, same_file_problems

if TYPE_CHECKING:
    from solver.speeddating import SpeedDatingPlan

speed_dating = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Plan the speed-dating kick-off: who meets whom, when, where.")


def render_plan(plan: SpeedDatingPlan) -> None:
    """The plan for people: a round x table grid and the coverage, as text (ids are never markup)."""
    from solver.speeddating.sheet import coverage_summary

    tables = f", {plan.tables} tables" if plan.tables is not None else ""
    console.rule(Text.assemble((plan.cohort_name, "bold"), f": {plan.rounds} rounds of {plan.minutes} minutes"
                               f"{tables}, {len(plan.meetings)} meetings, {plan.status.value}"))
    grid = Table(title="Mentor · mentee per table and round", title_justify="left")
    grid.add_column("table", justify="right")
    for r in range(1, plan.rounds + 1):
        grid.add_column(f"round {r}")
    cell = {(x.round, x.table): f"{x.mentor_id} · {x.mentee_id}" for x in plan.meetings}
    for t in range(1, max((x.table for x in plan.meetings), default=0) + 1):
        grid.add_row(str(t), *(cell.get((r, t), "–") for r in range(1, plan.rounds + 1)))
    console.print(grid)
    console.print(coverage_summary(plan))
    if plan.best_matching_missed:
        console.print("pairs of the best matching that do not meet: "
                      + ", ".join(f"{a}–{b}" for a, b in plan.best_matching_missed), style="yellow")
    if plan.absent_mentors:
        console.print(f"not at the kick-off (capacity 0): {', '.join(plan.absent_mentors)}", style="dim")
    for note in plan.notes:
        console.print(Text.assemble(("note", "yellow"), ": ", note))
    console.print(f"{plan.stats.allowed_pairs} allowed pairs, {plan.stats.wall_s:.3f} s "
                  f"(matching {plan.stats.matching_s:.3f} s, plan {plan.stats.model_s:.3f} s)", style="dim")


@speed_dating.command("plan")
def plan_command(
    cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")],
    rounds: Annotated[int, typer.Option(min=1, max=SPEED_DATING_MAX_ROUNDS, help="rounds of meetings")],
    minutes: Annotated[int, typer.Option(min=1, max=SPEED_DATING_MAX_MINUTES, help="minutes a round")],
    tables: Annotated[int | None, typer.Option(min=1, help="tables in the room (meetings a round at most)")] = None,
    max_breaks: Annotated[int | None, typer.Option(
        min=0, help="rounds a person may sit out while a useful meeting is possible")] = None,
    out: Annotated[Path | None, typer.Option(help="folder for one CSV per round (round_1.csv, ...)")] = None,
    html: Annotated[Path | None, typer.Option(help="write the printable sheet (grid and one card per person) here")
                    ] = None,
    alternatives: Annotated[int, typer.Option(
        min=1, max=SPEED_DATING_MAX_ALTERNATIVES, help="matchings (the best included) whose pairs should meet")] = 3,
    time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds for the whole plan")] = 30.0,
    seed: Annotated[int, typer.Option(help="solver seed (same input and seed, same plan)")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Plan the kick-off: each round's meetings and tables, everyone's timetable, and what the meetings cover."""
    from solver.speeddating import PlanOptions, plan_speed_dating
    from solver.speeddating.sheet import plan_dict, round_file_name, write_plan_files

    options = PlanOptions(rounds=rounds, minutes=minutes, tables=tables, max_breaks=max_breaks,
                          alternatives=alternatives, seed=seed, time_limit_s=time_limit)
    with record_inputs() as inputs:
        data = read_or_exit(cohort)
    # Every output is checked before anything is planned: none may replace an input or be a folder.
    targets = [(out / round_file_name(rounds, r), "--out") for r in range(1, rounds + 1)] if out else []
    targets += [(html, "--html")] if html is not None else []
    try:
        refused = [p for path, field in targets for p in output_problems(path, inputs, field)]
        refused += same_file_problems([(field, path) for path, field in targets])
        if refused:
            raise CohortInvalid(refused)
        plan = plan_speed_dating(data, options)
        written = write_plan_files(plan, out_dir=out, html=html, inputs=inputs)
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        raise typer.Exit(EXIT_INVALID) from None
    except OSError as error:
        errors.print(f"cannot write the plan's files: {error.strerror or error}; nothing half-written was left")
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(plan_dict(plan), indent=2, ensure_ascii=False))
        return
    render_plan(plan)
    for path in written:
        console.print(f"wrote {path}")


def register(app: typer.Typer) -> None:
    """Joins `speed-dating` (with `plan`) to the command line (idempotent)."""
    if not any(group.name == "speed-dating" for group in app.registered_groups):
        app.add_typer(speed_dating, name="speed-dating")


"""The `mentormatch` command line: validate, solve and demo here; other commands register from their modules.

typer gives typed options with help text from the signatures; rich renders the tables coordinators
read. Errors are printed as lists of problems (exit 2), never as tracebacks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from solver.domain import Cohort, ObjectiveMode
from solver.errors import CohortInvalid, Problem
from solver.ingest import load_cohort
from solver.output import result_dict
from solver.solve import SolveOptions, SolveResult, solve

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Optimal, explained mentor-mentee matching for professional mentoring programmes.")
console = Console()
errors = Console(stderr=True, soft_wrap=True)

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
EXIT_INVALID = 2

F = TypeVar("F", bound=Callable[..., Any])


def print_problems(problems: list[Problem]) -> None:
    errors.print(f"[bold red]{len(problems)} problem(s)[/]; nothing was solved:")
    for problem in problems:
        errors.print(f"  {problem.location or problem.path or '(cohort)'}: [bold]{problem.code.value}[/]: "
                     f"{problem.message}", markup=True, highlight=False)


def read_or_exit(path: Path) -> Cohort:
    try:
        return load_cohort(path)
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        raise typer.Exit(EXIT_INVALID) from None


def bundled_scenarios() -> list[Path]:
    return sorted(p for p in SCENARIOS_DIR.iterdir() if (p.is_dir() and (p / "mentors.csv").exists())
                  or (p.is_dir() and (p / "mentors.parquet").exists()))


@app.command()
def validate(cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")]) -> None:
    """Check a cohort: every problem at once (exit 2), or a one-line summary (exit 0)."""
    data = read_or_exit(cohort)
    rules = data.rules
    console.print(
        f"{data.name}: valid: {len(data.mentees)} mentees, {len(data.mentors)} mentors "
        f"(capacity {sum(max(m.capacity, 0) for m in data.mentors)}), {len(data.rankings)} rankings, "
        f"{len(rules.pins)} pins, {len(rules.bans)} bans", highlight=False)


def render_result(result: SolveResult, *, title: str = "") -> None:
    data = result_dict(result)
    cohort = result.candidates.cohort
    console.rule(f"[bold]{title or cohort.name}[/]: {data['status']}, {len(cohort.mentees)} mentees x "
                 f"{len(cohort.mentors)} mentors, {data['stats']['candidate_pairs']} allowed pairs")
    for matching in data["matchings"]:
        parts = matching["objective_parts"]
        heading = (f"Matching {matching['rank']}: {parts['matched']}/{len(cohort.mentees)} matched, "
                   f"total score {parts['total_score']}, worst pair {parts['worst_score']}")
        if matching["rank"] > 1:
            diff = matching["diff_vs_best"]
            heading += (f"  (gap to best {matching['gap_to_best']}, {len(diff['removed'])} pair(s) changed, "
                        f"{diff['kept']} kept)")
        if matching["rank"] == 1:
            table = Table(title=heading, title_justify="left", show_lines=False)
            for column in ("mentee", "mentor", "score", "km", "top reasons"):
                table.add_column(column, justify="right" if column in ("score", "km") else "left")
            for pair in matching["pairs"]:
                table.add_row(pair["mentee"], pair["mentor"], str(pair["score"]), f"{pair['distance_km']:.1f}",
                              "; ".join(pair["reasons"]))
            console.print(table)
            unmatched = [u["id"] for u in matching["unmatched"]]
            console.print(f"Unmatched mentees ({len(unmatched)}): {', '.join(unmatched) or 'none'}", highlight=False)
        else:
            diff = matching["diff_vs_best"]
            console.print(heading, highlight=False)
            for (mentee_a, mentor_a), (mentee_b, mentor_b) in zip(diff["removed"], diff["added"], strict=False):
                console.print(f"    - {mentee_a}-{mentor_a}  + {mentee_b}-{mentor_b}", highlight=False)
    for note in data["notes"]:
        console.print(f"[yellow]note[/]: {note}")
    console.print(f"[dim]{data['stats']['backend']}, {data['stats']['wall_s']:.3f} s, bound {data['bound']}, "
                  f"alternatives differ by >= {data['stats']['min_difference']} pair(s)[/]")


SOLVE_HOOKS: list[Callable[[SolveResult, dict[str, Any], bool, int], None]] = []
"""Called after a solve with (result, json dict, explain?, unmatched people to explain with re-solves):
explanations add their part here."""
EXPLAIN_PEOPLE = 20
RENDER_HOOKS: list[Callable[[SolveResult, dict[str, Any]], None]] = []
"""Called to render extra parts (explanations) of a solve for people."""


@app.command("solve")
def solve_command(
    cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")],
    alternatives: Annotated[int, typer.Option("--alternatives", "-k", min=1, max=50,
                                              help="matchings wanted, the best included")] = 3,
    min_difference: Annotated[int | None, typer.Option(help="pairs each alternative changes (default 10 %)")] = None,
    mode: Annotated[ObjectiveMode, typer.Option(help="what 'best' means after the matched count")] = (
        ObjectiveMode.SCORE),
    time_limit: Annotated[float, typer.Option(help="seconds for the whole solve")] = 30.0,
    seed: Annotated[int, typer.Option(help="solver seed (same input and seed, same answer)")] = 0,
    explain: Annotated[bool, typer.Option("--explain", help="why each pair, why each unmatched")] = False,
    explain_people: Annotated[int, typer.Option(
        min=0, help="with --explain: unmatched people per matching who get re-solves (what would change it, "
                    "what matching them would cost); the others get reasons, funnel and nearest misses")] = (
        EXPLAIN_PEOPLE),
    stable: Annotated[bool, typer.Option("--stable", help="only matchings with no blocking pair")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    server: Annotated[str | None, typer.Option(help="HOST:PORT of a mentormatch server to solve on")] = None,
) -> None:
    """The best matching and ranked alternatives, as a table or JSON."""
    options = SolveOptions(mode=mode, alternatives=alternatives, min_difference=min_difference,
                           time_limit_s=time_limit, seed=seed, stable=stable)
    data_cohort = read_or_exit(cohort)
    if server is not None:
        from server.client import solve_remote  # the gRPC client is only needed here

        print(json.dumps(solve_remote(server, data_cohort, options, explain=explain), indent=2))
        return
    result = solve(data_cohort, options)
    data = result_dict(result)
    for hook in SOLVE_HOOKS:
        hook(result, data, explain, explain_people)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        render_result(result)
        if explain:
            for render in RENDER_HOOKS:
                render(result, data)


@app.command()
def demo(
    alternatives: Annotated[int, typer.Option("--alternatives", "-k", min=1, max=10)] = 3,
    explain: Annotated[bool, typer.Option("--explain", help="why each pair, why each unmatched")] = False,
) -> None:
    """Validate and match every bundled scenario: best matching and alternatives for each."""
    paths = bundled_scenarios()
    if not paths:
        errors.print(f"no bundled scenarios under {SCENARIOS_DIR}")
        raise typer.Exit(1)
    for path in paths:
        cohort = read_or_exit(path)
        result = solve(cohort, SolveOptions(alternatives=alternatives))
        render_result(result, title=f"scenarios/{path.name}")
        if explain:
            data = result_dict(result)
            for hook in SOLVE_HOOKS:
                hook(result, data, True, EXPLAIN_PEOPLE)
            for render in RENDER_HOOKS:
                render(result, data)
        console.print()


def _register_optional() -> None:
    """Commands that live in their own modules (explanations, workflows, service) join the app here."""
    import importlib

    for name in ("server.cli_explain", "server.cli_workflows", "server.cli_service", "server.cli_scale"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
            continue
        module.register(app)


def main() -> None:
    _register_optional()
    try:
        app()
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        sys.exit(EXIT_INVALID)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # the last line of defence: a message, never a traceback
        if os.environ.get("MENTORMATCH_DEBUG"):
            raise
        errors.print(f"[bold red]internal error[/]: {type(error).__name__}: {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()

"""The `mentormatch` command line: validate, solve and demo here; other commands register from their modules.

typer gives typed options with help text from the signatures; rich renders the tables coordinators
read. Errors are printed as lists of problems (exit 2), never as tracebacks. Data (ids, labels, messages,
paths) is printed as text, never as markup: both consoles interpret nothing in a string (no markup, no
emoji codes, no highlighting), and every style is given apart from the text (`style=`, `Text` spans).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from solver.domain import Cohort, ObjectiveMode
from solver.errors import CohortInvalid, Problem
from solver.ingest import load_cohort
from solver.output import result_dict
from solver.solve import SolveOptions, SolveResult, solve
from solver.stop import Stopped

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Optimal, explained mentor-mentee matching for professional mentoring programmes.")
console = Console(markup=False, emoji=False, highlight=False)
errors = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command ended by Ctrl-C
WARNINGS_SHOWN = 20  # a whole file of swapped coordinates would otherwise print a line per person
INTERRUPTED_NOTE = ("interrupted (Ctrl-C): the search stopped early; this is what it had found (its status and "
                    "bound say how good), and explanations were not computed")

F = TypeVar("F", bound=Callable[..., Any])


def problem_text(problem: Problem, lead: str | Text = "  ") -> Text:
    return Text.assemble(lead, problem.location or problem.path or "(cohort)", ": ",
                         (problem.code.value, "bold"), ": ", problem.message)


def note_text(note: str, label: str = "note", style: str = "yellow") -> Text:
    return Text.assemble((label, style), ": ", note)


def print_problems(problems: list[Problem]) -> None:
    errors.print(Text.assemble((f"{len(problems)} problem(s)", "bold red"), "; nothing was solved:"))
    for problem in problems:
        errors.print(problem_text(problem))


def print_warnings(warnings: list[Problem]) -> None:
    for warning in warnings[:WARNINGS_SHOWN]:
        errors.print(problem_text(warning, Text("warning: ", style="yellow")))
    if len(warnings) > WARNINGS_SHOWN:
        errors.print(f"... and {len(warnings) - WARNINGS_SHOWN} more warning(s)", style="yellow")


def read_or_exit(path: Path) -> Cohort:
    """The cohort, its warnings printed on stderr; or every problem (and warning) printed and exit 2."""
    warnings: list[Problem] = []
    try:
        cohort = load_cohort(path, warnings=warnings)
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        print_warnings(warnings)  # "swapped coordinates?" explains pins that break the distance rule
        raise typer.Exit(EXIT_INVALID) from None
    print_warnings(warnings)
    return cohort


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
        f"{len(rules.pins)} pins, {len(rules.bans)} bans")


def render_result(result: SolveResult, data: dict[str, Any], *, title: str = "") -> None:
    """The matchings of `data` (`result_dict(result)`, perhaps with notes added) as tables for people."""
    cohort = result.candidates.cohort
    console.rule(Text.assemble((title or cohort.name, "bold"), f": {data['status']}, {len(cohort.mentees)} mentees x "
                               f"{len(cohort.mentors)} mentors, {data['stats']['candidate_pairs']} allowed pairs"))
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
            console.print(f"Unmatched mentees ({len(unmatched)}): {', '.join(unmatched) or 'none'}")
        else:
            diff = matching["diff_vs_best"]
            console.print(heading)
            for (mentee_a, mentor_a), (mentee_b, mentor_b) in zip(diff["removed"], diff["added"], strict=False):
                console.print(f"    - {mentee_a}-{mentor_a}  + {mentee_b}-{mentor_b}")
    for note in data["notes"]:
        console.print(note_text(note))
    console.print(f"{data['stats']['backend']}, {data['stats']['wall_s']:.3f} s, bound {data['bound']}, "
                  f"alternatives differ by >= {data['stats']['min_difference']} pair(s)", style="dim")


def solve_interruptibly(cohort: Cohort, options: SolveOptions) -> tuple[SolveResult | None, bool]:
    """Solve, the first Ctrl-C stopping the search: (result, interrupted); result None when stopped before
    there was any matching. A second Ctrl-C gives up at once (KeyboardInterrupt).

    The solve runs on a worker thread because a Python signal handler runs only when the main thread runs
    Python: while the main thread is inside the flow or CP-SAT, Ctrl-C would wait for them to finish. Here
    the main thread only waits, so the handler runs at once and sets the solve's stop event; the solver then
    returns the best matching found so far.
    """
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        return solve(cohort, options), False
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = solve(cohort, dataclasses.replace(options, stop=stop))
        except Stopped:
            outcome["result"] = None
        except BaseException as error:  # handed to the main thread, which reports it as any other error
            outcome["error"] = error

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        errors.print("interrupted: stopping the search; the best matching found so far follows "
                     "(Ctrl-C again to quit without it)", style="yellow")

    worker = threading.Thread(target=work, name="mentormatch-solve", daemon=True)
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"], stop.is_set()


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
    result, interrupted = solve_interruptibly(data_cohort, options)
    if result is None:
        errors.print("interrupted (Ctrl-C) before any matching was found; nothing to print", style="yellow")
        raise typer.Exit(EXIT_INTERRUPTED)
    data = result_dict(result)
    if interrupted:  # what it has, marked: a flag for programs, a note for people
        data["interrupted"] = True
        data["notes"].append(INTERRUPTED_NOTE)
    else:
        for hook in SOLVE_HOOKS:
            hook(result, data, explain, explain_people)
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        render_result(result, data)
        if explain and not interrupted:
            for render in RENDER_HOOKS:
                render(result, data)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


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
        data = result_dict(result)
        render_result(result, data, title=f"scenarios/{path.name}")
        if explain:
            for hook in SOLVE_HOOKS:
                hook(result, data, True, EXPLAIN_PEOPLE)
            for render in RENDER_HOOKS:
                render(result, data)
        console.print()


def _register_optional() -> None:
    """Commands that live in their own modules (explanations, workflows, service) join the app here."""
    import importlib

    for name in ("server.cli_explain", "server.cli_workflows", "server.cli_service", "server.cli_scale",
                 "server.cli_speeddating"):
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
        errors.print("interrupted (Ctrl-C)", style="yellow")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # the last line of defence: a message, never a traceback
        if os.environ.get("MENTORMATCH_DEBUG"):
            raise
        errors.print(Text.assemble(("internal error", "bold red"), f": {type(error).__name__}: {error}"))
        sys.exit(1)


if __name__ == "__main__":
    main()

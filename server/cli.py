"""The `mentormatch` command line: validate, solve and demo here; other commands register from their modules.

typer gives typed options with help text from the signatures; rich renders the tables coordinators
read. Errors are printed as lists of problems (exit 2), never as tracebacks. Data (ids, labels, messages,
paths) is printed as text, never as markup: both consoles interpret nothing in a string (no markup, no
emoji codes, no highlighting), and every style is given apart from the text (`style=`, `Text` spans).
The engine, polars, OR-Tools and gRPC are imported inside the commands that use them, so that `--help`
and `--version` answer at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from server.cli_params import finite_seconds
from solver.domain import ObjectiveMode
from solver.errors import CohortInvalid, Problem
from solver.fileio import reading_notes

if TYPE_CHECKING:
    from mentormatch.v1 import matching_pb2 as mpb
    from solver.domain import Cohort
    from solver.fileio import InputFiles
    from solver.solve import SolveOptions, SolveResult

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Optimal, explained mentor-mentee matching for professional mentoring programmes.")
console = Console(markup=False, emoji=False, highlight=False)
errors = Console(stderr=True, soft_wrap=True, markup=False, emoji=False, highlight=False)

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
EXIT_INVALID = 2
EXIT_UNAVAILABLE = 3  # the server given with --server cannot be reached
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command ended by Ctrl-C
WARNINGS_SHOWN = 20  # a whole file of swapped coordinates would otherwise print a line per person
INTERRUPTED_NOTE = ("interrupted (Ctrl-C): the search stopped early; this is what it had found (its status and "
                    "bound say how good), and explanations were not computed")
EXPLANATION_INTERRUPTED_NOTE = ("interrupted (Ctrl-C) while explaining: the matchings are as solved (their status "
                                "says how good), the explanations were left out")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def split_list(text: str | None) -> list[str]:
    """A list given on the command line: items separated by ';' (as in the files) or ','; blanks dropped."""
    return [part.strip() for part in (text or "").replace(";", ",").split(",") if part.strip()]


def _print_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            console.print(f"mentormatch {version('mentormatch')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            console.print("mentormatch (not installed: version unknown)")
        raise typer.Exit()


@app.callback()
def _main_options(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="print the version and exit")] = False,
) -> None:
    """Optimal, explained mentor-mentee matching for professional mentoring programmes."""


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
    return read_with_warnings(path)[0]


def read_with_warnings(path: Path, checks: Callable[[Cohort], list[Problem]] | None = None
                       ) -> tuple[Cohort, list[Problem]]:
    """`read_or_exit`, also returning the warnings it printed (for answers that carry them: `solve --json`);
    `checks`: a command's own checks, reported with the cohort's problems."""
    from solver.ingest import load_cohort

    warnings: list[Problem] = []
    try:
        cohort = load_cohort(path, warnings=warnings, checks=checks)
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        print_warnings(warnings)  # "swapped coordinates?" explains pins that break the distance rule
        raise typer.Exit(EXIT_INVALID) from None
    print_warnings(warnings)
    return cohort, warnings


def read_checked(path: Path, problems: list[Problem], outputs: Callable[[InputFiles], list[Problem]] | None = None
                 ) -> tuple[Cohort, list[Problem], InputFiles]:
    """The cohort read with its files recorded as inputs, for commands that write files: `problems` found before
    (the command's options), the cohort's and the outputs' (`outputs(inputs)`: over an input, an unknown format)
    reported all at once and exit 2; else the warnings printed on stderr. Returns the cohort, its warnings and the
    inputs (for atomic writes that may replace none of them)."""
    from solver.fileio import record_inputs
    from solver.ingest import load_cohort

    warnings: list[Problem] = []
    problems = list(problems)
    cohort = None
    with record_inputs() as inputs:
        try:
            cohort = load_cohort(path, warnings=warnings)
        except CohortInvalid as invalid:
            problems += invalid.problems
    if outputs is not None:
        problems += outputs(inputs)
    if problems or cohort is None:
        print_problems(problems)
        print_warnings(warnings)
        raise typer.Exit(EXIT_INVALID)
    print_warnings(warnings)
    return cohort, warnings, inputs


def answer_outputs_problems(inputs: InputFiles, *, output: Path | None, out_current: Path | None = None,
                            **others: Path | None) -> list[Problem]:
    """Every reason an answer's files may not be written, at once: `-o`'s (a format, an input, a directory),
    `--out-current`'s and `others`' (option name without its dashes -> path: `out_history`, `report`), and two of
    them that are one file."""
    from server.cli_files import answer_files, output_file_problems
    from solver.fileio import output_problems, same_file_problems

    files = {f"--{name.replace('_', '-')}": path for name, path in {"out_current": out_current, **others}.items()}
    problems = output_file_problems(output, inputs) if output is not None else []
    problems += [p for flag, path in files.items() if path is not None for p in output_problems(path, inputs, flag)]
    return problems + same_file_problems([*answer_files(output), *files.items()])


def refuse_outputs(problems: list[Problem]) -> None:
    """Outputs that may not be written (over an input, a directory, an unknown format): listed, exit 2, before
    anything is solved."""
    if problems:
        print_problems(problems)
        raise typer.Exit(EXIT_INVALID)


def write_or_exit(write: Callable[[], list[Path]]) -> list[Path]:
    """Run a writer; a failed write (a full disk, no permission) is a message and exit 1, never a traceback."""
    try:
        return write()
    except OSError as error:
        errors.print(f"cannot write {error.filename or 'the output'}: {error.strerror or error}; nothing "
                     "half-written was left (an earlier file at that path is unchanged)")
        raise typer.Exit(1) from None


def bundled_scenarios() -> list[Path]:
    return sorted(p for p in SCENARIOS_DIR.iterdir() if (p.is_dir() and (p / "mentors.csv").exists())
                  or (p.is_dir() and (p / "mentors.parquet").exists()))


@app.command()
def validate(cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")]) -> None:
    """Check a cohort: every problem at once (exit 2), or a one-line summary (exit 0)."""
    from solver.history import running_pair_problems

    # As `intake` checks it: a running pair of history.csv naming someone not in the cohort.
    data = read_with_warnings(cohort, running_pair_problems)[0]
    rules = data.rules
    console.print(
        f"{data.name}: valid: {len(data.mentees)} mentees, {len(data.mentors)} mentors "
        f"(capacity {sum(max(m.capacity, 0) for m in data.mentors)}), {len(data.rankings)} rankings, "
        f"{len(rules.pins)} pins, {len(rules.bans)} bans")


def enum_word(enum: Any, value: int) -> str:
    """An enum value of the contract without its type prefix: SOLVE_STATUS_OPTIMAL -> OPTIMAL."""
    name: str = enum.Name(value)
    prefix = "".join(f"_{c}" if c.isupper() else c.upper() for c in enum.DESCRIPTOR.name).lstrip("_") + "_"
    return name.removeprefix(prefix)


def whole(value: float) -> str:
    """A whole number the contract carries as a double (sums, objective values), as people write it."""
    return f"{value:.0f}"


def render_response(response: mpb.MatchResponse, title: str) -> None:
    """The matchings of an answer (local or from a server: the same message) as tables for people."""
    from rich.table import Table

    from mentormatch.v1 import matching_pb2 as mpb

    stats = response.statistics
    console.rule(Text.assemble((title, "bold"), f": {enum_word(mpb.SolveStatus, response.status)}, "
                               f"{response.mentee_count} mentees x {response.mentor_count} mentors, "
                               f"{stats.candidate_pairs} allowed pairs"))
    for matching in response.matchings:
        parts = matching.objective
        heading = (f"Matching {matching.rank}: {parts.matched}/{response.mentee_count} matched, "
                   f"total score {whole(parts.total_score)}, worst pair {parts.worst_score}")
        diff = matching.diff_vs_best
        if matching.rank > 1:
            heading += (f"  (gap to best {whole(matching.gap_to_best)}, {len(diff.removed)} pair(s) changed, "
                        f"{diff.kept} kept)")
            console.print(heading)
            for removed, added in zip(diff.removed, diff.added, strict=False):
                console.print(f"    - {removed.mentee_id}-{removed.mentor_id}  + {added.mentee_id}-{added.mentor_id}")
            continue
        table = Table(title=heading, title_justify="left", show_lines=False)
        for column in ("mentee", "mentor", "score", "km", "pin", "top reasons"):
            table.add_column(column, justify="right" if column in ("score", "km") else "left")
        for pair in matching.pairs:
            # distance_km is rounded once at the source: shown as sent, it agrees with the reasons' km.
            table.add_row(pair.mentee_id, pair.mentor_id, str(pair.score), f"{pair.distance_km:.1f}",
                          Text("pinned", style="cyan") if pair.pinned else "", "; ".join(pair.reasons))
        console.print(table)
        unmatched = list(matching.unmatched_mentee_ids)
        console.print(f"Unmatched mentees ({len(unmatched)}): {', '.join(unmatched) or 'none'}")
    for note in response.notes:
        console.print(note_text(note))
    wall = stats.wall_time.ToNanoseconds() / 1e9
    bound = f", bound {whole(response.objective_bound)}" if response.HasField("objective_bound") else ""
    console.print(f"{stats.backend or 'no solver'}, {wall:.3f} s{bound}, alternatives differ by >= "
                  f"{stats.min_difference} pair(s)", style="dim")


def solve_interruptibly(cohort: Cohort, options: SolveOptions) -> tuple[SolveResult | None, bool]:
    """Solve, the first Ctrl-C stopping the search: (result, interrupted); result None when stopped before
    there was any matching. A second Ctrl-C gives up at once (KeyboardInterrupt)."""
    import dataclasses

    from solver.solve import solve

    return run_interruptibly(lambda stop: solve(cohort, dataclasses.replace(options, stop=stop)),
                             "interrupted: stopping the search; the best matching found so far follows "
                             "(Ctrl-C again to quit without it)")


def run_interruptibly(work: Callable[[threading.Event], T], message: str) -> tuple[T | None, bool]:
    """`work(stop)` on a worker thread, the first Ctrl-C setting `stop` (and printing `message`): (its value, None
    when it raised `solver.stop.Stopped` or failed after the Ctrl-C; whether it was interrupted). A second Ctrl-C
    gives up at once (KeyboardInterrupt).

    The work runs on a worker thread because a Python signal handler runs only when the main thread runs
    Python: while the main thread is inside the flow or CP-SAT, Ctrl-C would wait for them to finish. Here
    the main thread only waits, so the handler runs at once and sets the stop; the work then ends at its next
    check (a solve returns the best matching found so far).
    """
    from solver.stop import Stopped

    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():  # signal handlers belong to the main thread
        try:
            return work(stop), False
        except Stopped:
            return None, False
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work(stop)
        except Stopped:
            outcome["result"] = None
        except BaseException as error:  # handed to the main thread, which reports it as any other error
            outcome["error"] = error

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        errors.print(message, style="yellow")

    worker = threading.Thread(target=run, name="mentormatch-work", daemon=True)
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        worker.start()
        while worker.is_alive():
            worker.join(0.1)
    finally:
        signal.signal(signal.SIGINT, previous)
    if "error" in outcome and not stop.is_set():  # after a Ctrl-C a failure is the interruption's: not reported
        raise outcome["error"]
    return outcome.get("result"), stop.is_set()


EXPLAINERS: list[Callable[[SolveResult, int, threading.Event | None], mpb.Explanation]] = []
"""Explain a solve: (result, unmatched people per matching who get re-solves, a stop) -> the `Explanation` message
the service sends. `server.cli_explain` registers the one explainer."""
EXPLAIN_PEOPLE = 20
RENDER_HOOKS: list[Callable[[mpb.MatchResponse], None]] = []
"""Called to render the explanation of an answer for people."""


def explanation_of(result: SolveResult, explain_people: int, stop: threading.Event | None = None
                   ) -> mpb.Explanation | None:
    return EXPLAINERS[0](result, explain_people, stop) if EXPLAINERS else None


def explain_interruptibly(result: SolveResult, explain_people: int) -> tuple[mpb.Explanation | None, bool]:
    """The explanation, the first Ctrl-C stopping it: (it, or None when interrupted; whether it was). The matchings
    are then printed without it, marked; a second Ctrl-C quits at once."""
    explanation, interrupted = run_interruptibly(
        lambda stop: explanation_of(result, explain_people, stop),
        "interrupted: stopping the explanation; the matchings follow without it (Ctrl-C again to quit without them)")
    return (None if interrupted else explanation), interrupted


def solve_remotely(server: str, cohort: Cohort, options: SolveOptions, explain: bool) -> mpb.MatchResponse:
    """A server's answer; an unreachable server is a clear message and exit 3, another failure exit 1."""
    import grpc

    from server.client import RemoteError, solve_remote

    try:
        return solve_remote(server, cohort, options, explain=explain)
    except RemoteError as error:
        if error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            what = "did not answer in time" if error.code is grpc.StatusCode.DEADLINE_EXCEEDED else "cannot be reached"
            errors.print(Text.assemble(("server unavailable", "bold red"), f": the mentormatch server at {server} "
                                       f"{what} ({error.code.name}: {error.message}); is it running, and is the "
                                       "address right?"))
            raise typer.Exit(EXIT_UNAVAILABLE) from None
        errors.print(Text.assemble(("server error", "bold red"), f": {server} answered {error.code.name}: "
                                   f"{error.message}"))
        raise typer.Exit(1) from None


def write_match_files(output: Path | None, response: mpb.MatchResponse, explanation: mpb.Explanation | None,
                      inputs: InputFiles) -> list[Path]:
    if output is None:
        return []
    from server.cli_files import match_sheets, write_answer

    return write_or_exit(lambda: write_answer(output, match_sheets(response, explanation), "matching", inputs))


ExplainFlag = Annotated[bool, typer.Option("--explain/--no-explain", help="why each pair, why each unmatched")]
JsonFlag = Annotated[bool, typer.Option("--json", help="machine-readable output: the protobuf JSON mapping")]
OutputOption = Annotated[Path | None, typer.Option(
    "--output", "-o", help="also write the pairs and the unmatched people: .csv (NAME.pairs.csv and "
                           "NAME.unmatched.csv), .parquet (the same two) or .xlsx (two sheets), by extension")]


@app.command("solve")
def solve_command(
    cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")],
    alternatives: Annotated[int, typer.Option("--alternatives", "-k", min=1, max=50,
                                              help="matchings wanted, the best included")] = 3,
    min_difference: Annotated[int | None, typer.Option(min=1, help="pairs each alternative changes (default 10 %)")] = None,
    mode: Annotated[ObjectiveMode, typer.Option(help="what 'best' means after the matched count")] = (
        ObjectiveMode.SCORE),
    time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds for the whole solve")] = 30.0,
    seed: Annotated[int, typer.Option(help="solver seed (same input and seed, same answer)")] = 0,
    explain: ExplainFlag = False,
    explain_people: Annotated[int, typer.Option(
        min=0, help="with --explain: unmatched people per matching who get re-solves (what would change it, "
                    "what matching them would cost); the others get reasons, funnel and nearest misses")] = (
        EXPLAIN_PEOPLE),
    stable: Annotated[bool, typer.Option("--stable/--no-stable", help="only matchings with no blocking pair")] = False,
    as_json: JsonFlag = False,
    output: OutputOption = None,
    out_current: Annotated[Path | None, typer.Option(
        help="also write the best matching's pairs as the next current.csv (mentee_id,mentor_id); never over an "
             "input")] = None,
    server: Annotated[str | None, typer.Option(help="HOST:PORT of a mentormatch server to solve on")] = None,
) -> None:
    """The best matching and ranked alternatives, as a table or JSON."""
    from server.convert.problems import problem_to_proto
    from server.convert.results import match_response_from_result, response_json
    from solver.solve import SolveOptions

    options = SolveOptions(mode=mode, alternatives=alternatives, min_difference=min_difference,
                           time_limit_s=time_limit, seed=seed, stable=stable)
    data_cohort, warnings, inputs = read_checked(cohort, [], lambda inputs: answer_outputs_problems(
        inputs, output=output, out_current=out_current))
    interrupted = False
    explanation: mpb.Explanation | None = None
    if server is not None:
        # The unmatched sheet needs the reasons: asked for with the file, printed only with --explain.
        response = solve_remotely(server, data_cohort, options, explain or output is not None)
        if response.HasField("explanation"):
            explanation = type(response.explanation)()
            explanation.CopyFrom(response.explanation)
            if not explain:
                response.ClearField("explanation")
    else:
        result, interrupted = solve_interruptibly(data_cohort, options)
        if result is None:
            errors.print("interrupted (Ctrl-C) before any matching was found; nothing to print", style="yellow")
            raise typer.Exit(EXIT_INTERRUPTED)
        response = match_response_from_result(result, time_limit_s=time_limit)
        # The warnings printed on stderr are the answer's too, at the paths the service gives them.
        response.warnings.extend(problem_to_proto(w) for w in warnings)
        if interrupted:  # what it has, marked: the note, and exit 130
            response.notes.append(INTERRUPTED_NOTE)
        if not interrupted and (explain or output is not None):
            # Without --explain the file's reasons come without re-solves (funnels and nearest misses are cheap).
            explanation, interrupted = explain_interruptibly(result, explain_people if explain else 0)
            if interrupted:
                response.notes.append(EXPLANATION_INTERRUPTED_NOTE)
            elif explain and explanation is not None:
                response.explanation.CopyFrom(explanation)
    written = write_match_files(output, response, explanation, inputs)
    if out_current is not None and not interrupted:
        from server.cli_files import write_current

        best = list(response.matchings[0].pairs) if response.matchings else []
        written += write_or_exit(lambda: [write_current(out_current, best, inputs)])
    if as_json:
        print(response_json(response))
    else:
        render_response(response, data_cohort.name)
        if explain and not interrupted:
            for render in RENDER_HOOKS:
                render(response)
        for path in written:
            console.print(f"written to {path}")
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)


@app.command()
def demo(
    alternatives: Annotated[int, typer.Option("--alternatives", "-k", min=1, max=10)] = 3,
    explain: ExplainFlag = False,
) -> None:
    """Validate and match every bundled scenario: best matching and alternatives for each."""
    from server.convert.results import match_response_from_result
    from solver.solve import SolveOptions, solve

    paths = bundled_scenarios()
    if not paths:
        errors.print(f"no bundled scenarios under {SCENARIOS_DIR}")
        raise typer.Exit(1)
    for path in paths:
        cohort = read_or_exit(path)
        result = solve(cohort, SolveOptions(alternatives=alternatives))
        response = match_response_from_result(result)
        if explain:
            explanation = explanation_of(result, EXPLAIN_PEOPLE)
            if explanation is not None:
                response.explanation.CopyFrom(explanation)
        render_response(response, f"scenarios/{path.name}")
        if explain:
            for render in RENDER_HOOKS:
                render(response)
        console.print()


COMMAND_MODULES = ("server.cli_explain", "server.cli_workflows", "server.cli_service", "server.cli_scale",
                   "server.cli_speeddating", "server.cli_shortlist", "server.cli_year", "server.cli_export")
HOOK_MODULES = ("server.cli_explain",)
"""The modules the commands of this file need (`solve --explain` and `demo --explain` explain through their hooks)."""


def _register_optional(modules: tuple[str, ...] = COMMAND_MODULES) -> None:
    """Commands that live in their own modules (explanations, workflows, service) join the app here."""
    import importlib

    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as missing:
            if missing.name != name:
                raise
            continue
        module.register(app)


def _plain_flags(command: Any) -> None:
    """Flags show no value placeholder in the help (`--explain`, not `--explain <bool>`): they take none."""
    from typer.core import TyperOption

    for param in command.params:
        if isinstance(param, TyperOption) and param.is_flag:
            param.metavar = ""
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _plain_flags(sub)


def _modules_for(args: list[str]) -> tuple[str, ...]:
    """The command modules a command line needs: for a command of this file (`solve`, `validate`, `demo`) only the
    hooks, so that it neither imports the other modules nor has typer build their commands (0.1-0.15 s of every
    start on 2 cores); for the others, `--help` and anything unknown, all of them (the help lists them all)."""
    from server.argv import command_of

    command = command_of(args)
    own = {info.name or (info.callback.__name__.replace("_", "-") if info.callback else "")
           for info in app.registered_commands}
    return HOOK_MODULES if command in own else COMMAND_MODULES


def main() -> None:
    """The command line. A command other than `serve` ends its process as soon as its output is out, without the
    interpreter's clean-up of everything it holds: freeing a big cohort's objects one by one took ~0.2 s of a
    `solve --explain` on kvinfo_network (nothing is written or held then: files are written and closed before)."""
    try:
        _main()
    except SystemExit as done:
        from server.argv import LINGERING_COMMANDS, command_of

        if command_of(sys.argv[1:]) in LINGERING_COMMANDS:
            raise
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if not isinstance(done.code, int | None):
            errors.print(str(done.code))
        _exit_now(code)
    _exit_now(0)


def _exit_now(code: int) -> None:
    """Flush what was written and end the process at once (`os._exit`). Output that cannot be written (a full disk,
    a reader gone) ends it with 120, as the interpreter's own exit does, and a line on stderr."""
    import logging

    try:
        sys.stdout.flush()
    except Exception as error:
        with contextlib.suppress(Exception):
            sys.stderr.write(_output_lost(error) + "\n")
        code = code or 120
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def _output_lost(error: BaseException) -> str:
    """What the user reads when the answer could not all be printed."""
    why = ("the reader closed the pipe" if isinstance(error, BrokenPipeError)
           else (error.strerror or str(error)) if isinstance(error, OSError) else f"{type(error).__name__}: {error}")
    return f"error: the output could not be written: {why}"


def _output_failed(error: OSError) -> bool:
    """Whether an error that reached the top is the output's (a closed pipe, a full disk, an I/O error): files
    are read and written by code that reports its own errors, so what is left is printing to stdout."""
    import errno

    return isinstance(error, BrokenPipeError) or error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)


def _main() -> None:
    _register_optional(_modules_for(sys.argv[1:]))
    try:
        command = typer.main.get_command(app)
        _plain_flags(command)
        # How a file was read, when it was a spreadsheet's kind of CSV: one line on stderr, as it is read.
        with reading_notes(lambda text: errors.print(note_text(text))):
            command(prog_name="mentormatch")
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        sys.exit(EXIT_INVALID)
    except KeyboardInterrupt:
        errors.print("interrupted (Ctrl-C)", style="yellow")
        sys.exit(EXIT_INTERRUPTED)
    except OSError as error:
        if not _output_failed(error):
            raise
        # The answer could not all be printed (a reader gone, a full disk): said as such, exit 1, never "internal".
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (what is still buffered has nowhere to go)
        errors.print(_output_lost(error), style="red")
        sys.exit(1)
    except Exception as error:  # the last line of defence: a message, never a traceback
        if os.environ.get("MENTORMATCH_DEBUG"):
            raise
        errors.print(Text.assemble(("internal error", "bold red"), f": {type(error).__name__}: {error}"))
        sys.exit(1)


if __name__ == "__main__":
    # `python -m server.cli` runs this file as `__main__`, a second copy of the module: run the imported one, on
    # whose hooks (explanations) the other command modules register.
    from server import cli

    cli.main()

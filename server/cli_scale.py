"""The `sweep` command, and the options every batch command shares to run its solves on a Dask cluster.

Dask, the engine and polars are imported inside the functions that use them: `mentormatch --help` loads none.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from server.cli import EXIT_INVALID, console, errors, print_problems
from server.cli_params import finite_seconds
from solver.errors import CohortInvalid, Problem, ProblemCode, gathered
from solver.fileio import output_problems, record_inputs, same_file_problems
from solver.tables import TABLE_FORMATS, table_format_problem

if TYPE_CHECKING:
    from server.distributed import ClusterOptions
    from solver.sweep import Sweep, SweepOutcome

SchedulerOption = Annotated[str | None, typer.Option(
    "--scheduler", help="a running Dask scheduler, tcp://HOST:8786 (default: a local cluster of --workers processes)")]
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", min=1, help="worker processes of the local cluster (default: one per core)")]
SequentialOption = Annotated[bool, typer.Option(
    "--sequential", help="no cluster: solve one after another in this process")]


def cluster_options(scheduler: str | None, workers: int | None, sequential: bool) -> ClusterOptions:
    from server.distributed import ClusterOptions

    if sequential and (scheduler or workers):
        errors.print("--sequential runs in this process: it takes neither --scheduler nor --workers")
        raise typer.Exit(EXIT_INVALID)
    if scheduler and workers:
        errors.print("--workers sizes the local cluster; a --scheduler's cluster has the workers it has")
        raise typer.Exit(EXIT_INVALID)
    return ClusterOptions(scheduler=scheduler, workers=workers, sequential=sequential)


@contextmanager
def progress_bar(description: str, total: int, *, transient: bool) -> Iterator[Callable[[Any], None]]:
    """A rich bar on stderr (stdout stays clean for --json) that advances once per finished task."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=errors, transient=transient) as progress:
        task = progress.add_task(description, total=total)
        yield lambda _item: progress.advance(task)


@contextmanager
def cluster_errors() -> Iterator[None]:
    """A cluster that cannot be reached or started is a message and exit 1, never a traceback."""
    from server.distributed import ClusterUnavailable

    try:
        yield
    except ClusterUnavailable as error:
        errors.print(str(error))
        raise typer.Exit(1) from None


def render_sweep(sweep: Sweep) -> None:
    table = Table(title=f"{sweep.label}: {len(sweep.outcomes)} settings", title_justify="left")
    for column in ("#", *sweep.axes, "status", "matched", "mean score", "worst", "mean km", "unmatched by reason",
                   "Pareto"):
        table.add_column(column, justify="right" if column in ("#", "mean score", "worst", "mean km") else "left")
    for o in sweep.outcomes:
        table.add_row(*_cells(o, sweep.axes))
    console.print(table)
    console.print(f"Pareto frontier (matched share and mean score up, mean travel down): "
                  f"{', '.join(str(i) for i in sweep.pareto) or 'none'}")


def _cells(o: SweepOutcome, axes: list[str]) -> list[str | Text]:
    values = [v.removeprefix(f"{axis} ") for axis, v in zip(axes, o.values, strict=True)]
    if not o.ok:
        return [str(o.index), *values, Text("FAILED", style="red"), "", "", "", "", o.error, ""]
    reasons = "\n".join(f"{r.reason} {r.count}" for r in o.unmatched_by_reason) or "none"
    return [str(o.index), *values, o.status, f"{o.matched}/{o.mentees} ({100 * o.matched_share:.1f}%)",
            "–" if o.mean_score is None else f"{o.mean_score:.1f}",
            "–" if o.worst_score is None else str(o.worst_score),
            "–" if o.mean_travel_km is None else f"{o.mean_travel_km:.1f}", reasons,
            Text("yes", style="green") if o.pareto else ""]


def register(app: typer.Typer) -> None:
    """Add `sweep` to the `mentormatch` app."""

    @app.command("sweep")
    def sweep_command(
        base: Annotated[Path, typer.Argument(help="the base: a cohort directory or .json, or a what-if .toml file")],
        grid: Annotated[Path, typer.Option("--grid", help="the grid: a TOML file with an [axes] table")],
        as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
        output: Annotated[Path | None, typer.Option(
            "--output", "-o", help=f"also write the table here ({', '.join(TABLE_FORMATS)}, by extension)")] = None,
        report: Annotated[Path | None, typer.Option(help="also write a self-contained HTML report here")] = None,
        time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds per setting's solve")] = 30.0,
        seed: Annotated[int, typer.Option(help="solver seed")] = 0,
        scheduler: SchedulerOption = None,
        workers: WorkersOption = None,
        sequential: SequentialOption = False,
    ) -> None:
        """Solve the base under every setting of a grid of rules: one outcome per setting and the Pareto frontier."""
        from server.distributed import sweep_on_cluster
        from solver.compare import load_scenario
        from solver.solve import SolveOptions
        from solver.sweep import load_grid
        from solver.sweep_report import write_sweep_report, write_table

        try:
            refused: list[Problem] = []
            with record_inputs() as inputs:  # the base's and the grid's problems, then the outputs', all at once
                scenario = gathered(lambda: load_scenario(base), refused)
                loaded = gathered(lambda: load_grid(grid), refused)
            outputs = [(name, target) for name, target in (("--output", output), ("--report", report))
                       if target is not None]
            refused += [p for name, target in outputs for p in output_problems(target, inputs, name)]
            unwritable = table_format_problem(output) if output is not None else None
            if unwritable:
                refused.append(Problem(ProblemCode.BAD_VALUE, "--output", unwritable, "--output"))
            refused += same_file_problems(outputs)
            if refused or scenario is None or loaded is None:  # (else the grid's label is checked with its values)
                raise CohortInvalid(refused + list(loaded.problems if loaded is not None else ()))
            cohort = scenario.cohort
            cluster = cluster_options(scheduler, workers, sequential).resolve(loaded.size())
            with cluster_errors(), progress_bar(f"sweeping {cluster.describe()}", loaded.size(), transient=as_json
                                                ) as advance:
                sweep = sweep_on_cluster(cohort, loaded, SolveOptions(time_limit_s=time_limit, seed=seed), cluster,
                                         on_outcome=advance)
        except CohortInvalid as invalid:
            print_problems(invalid.problems)
            raise typer.Exit(EXIT_INVALID) from None
        writers: list[tuple[Path | None, Callable[[Path], Path]]] = [
            (output, lambda path: write_table(sweep, path, inputs=inputs)),
            (report, lambda path: write_sweep_report(sweep, path, description=loaded.description, inputs=inputs))]
        written = []
        for target, write in writers:
            if target is None:
                continue
            try:
                written.append(write(target))
            except OSError as error:
                errors.print(f"cannot write {target}: {error.strerror or error}; nothing was written there")
                raise typer.Exit(1) from None
        if as_json:
            print(json.dumps(sweep.to_dict(), indent=2, ensure_ascii=False))
        else:
            render_sweep(sweep)
            for path in written:
                console.print(f"written to {path}")
        if any(not o.ok for o in sweep.outcomes):
            raise typer.Exit(1)

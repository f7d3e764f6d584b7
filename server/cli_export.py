"""The `mentormatch export-json` command: a cohort (folder or file) as the protobuf JSON of `mentormatch.v1.Cohort`,
the request body the Go and Node clients and grpcurl take (`{"cohort": ...}` around it for a MatchRequest).

Written atomically (`solver.fileio.write_atomic`) and never over an input; printed on stdout without `-o`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from server.cli import console, read_checked, write_or_exit


def export_json_command(
    cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="the JSON file to write (default: print it on stdout)")] = None,
) -> None:
    """Write a cohort as protobuf JSON (mentormatch.v1.Cohort): what the Go/Node clients and grpcurl send."""
    from solver.cohort_json import cohort_to_json_text
    from solver.fileio import output_problems, write_atomic

    data, _, inputs = read_checked(
        cohort, [], None if output is None else lambda inputs: output_problems(output, inputs, "--output"))
    text = cohort_to_json_text(data)
    if output is None:
        print(text, end="")
        return
    written = write_or_exit(lambda: [write_atomic(output, text, inputs=inputs, field_path="--output")])
    console.print(f"written to {written[0]}")


def register(app: typer.Typer) -> None:
    """Joins `export-json` to the command line (idempotent)."""
    if not any(command.name == "export-json" for command in app.registered_commands):
        app.command("export-json")(export_json_command)

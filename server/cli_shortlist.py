"""The `mentormatch shortlist` command: a few proposals per person, with costs and the clashes a choice could make.

It prints the `ShortlistResponse` the Shortlist RPC answers (one schema: `--json` is that message in the
protobuf JSON mapping), as tables for people, and writes it as two sheets with `-o` (`proposals`, `clashes`).
The engine is imported inside the command, so that `mentormatch --help` does not load it.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from server.cli import (
    EXIT_INVALID,
    JsonFlag,
    console,
    enum_word,
    note_text,
    print_problems,
    read_checked,
    whole,
    write_or_exit,
)
from server.cli_params import MAX_SECONDS
from solver.errors import CohortInvalid, Problem, ProblemCode

if TYPE_CHECKING:
    from mentormatch.v1 import shortlist_pb2 as slpb
    from solver.fileio import InputFiles

SHEETS = ("proposals", "clashes")
PROPOSAL_COLUMNS = ("person_id", "side", "rank", "mentee_id", "mentor_id", "score", "in_optimum", "pinned", "cost",
                    "clash_ids", "unmatched_mentee_ids", "changes", "why_this_pair", "list_note")
CLASH_COLUMNS = ("clash_id", "kind", "subject", "limit", "person_ids", "proposals", "sentence")
LIST_SEPARATOR = "; "


class ListSide(StrEnum):
    """Whose lists (the engine's `Side`, without loading the engine for `--help`)."""

    mentee = "mentee"
    mentor = "mentor"


def render_shortlists(response: slpb.ShortlistResponse, title: str) -> None:
    """The lists for people: one table of every proposal, then the clashes; ids and sentences as text."""
    from mentormatch.v1 import matching_pb2 as mpb

    side = enum_word(mpb.Side, response.side).lower()
    partner = "mentor" if side == "mentee" else "mentee"
    stats = response.statistics
    console.rule(Text.assemble((title, "bold"), f": {enum_word(mpb.SolveStatus, response.status)}, lists of up to "
                               f"{response.size} {partner}s per {side}, each {partner} on at most "
                               f"{response.max_lists} list(s) (or his lists in the optimum, when more)"))
    table = Table(title=f"Proposals per {side} (cost: what choosing it costs the cohort against the optimum)",
                  title_justify="left")
    for column in (side, "#", partner, "score", "cost", "clashes", "what choosing it changes"):
        table.add_column(column, justify="right" if column in ("#", "score", "cost") else "left",
                         overflow="fold")
    for person in response.lists:
        if not person.proposals:
            table.add_row(person.person_id, "", "", "", "", "", Text(person.note, style="dim"))
            continue
        for p in person.proposals:
            other = p.mentor_id if side == "mentee" else p.mentee_id
            if p.pinned:
                what = Text("pinned", style="cyan")
            elif p.in_optimum:
                what = Text("in the optimum", style="green")
            else:
                what = Text(p.sentence.partition(" point(s)")[2].removeprefix(": ") or "nobody else moves")
            table.add_row(person.person_id if p.rank == 1 else "", str(p.rank), other, str(p.score), whole(p.cost),
                          ", ".join(str(c) for c in p.clash_ids), what)
        if person.note:
            table.add_row("", "", "", "", "", "", Text(person.note, style="dim"))
    console.print(table)
    if response.clashes:
        console.print(Text(f"Clashes ({len(response.clashes)}): combinations of accepted proposals that would break "
                           "a rule; any other combination keeps every rule", style="bold"))
        for clash in response.clashes:
            console.print(Text.assemble(f"  {clash.id}. ", clash.sentence))
    else:
        console.print("No clashes: whichever proposals people accept, every rule holds.")
    for note in response.notes:
        console.print(note_text(note))
    wall = stats.wall_time.ToNanoseconds() / 1e9
    console.print(f"{stats.candidate_pairs} allowed pairs, {stats.evaluated_pairs} costed"
                  + (f" ({stats.resolves} by re-solving)" if stats.resolves else "")
                  + f", {wall:.3f} s" + ("" if response.complete else "; incomplete (time limit)"), style="dim")


def shortlist_sheets(response: slpb.ShortlistResponse) -> dict[str, list[dict[str, Any]]]:
    """The answer as rows: one per proposal, one per clash (lists in a cell `; `-separated, as in the inputs)."""
    from mentormatch.v1 import matching_pb2 as mpb

    side = enum_word(mpb.Side, response.side).lower()
    proposals = []
    for person in response.lists:
        for p in person.proposals:
            changes = p.sentence.partition(" point(s)")[2].removeprefix(": ") if not p.in_optimum else ""
            proposals.append({
                "person_id": person.person_id, "side": side, "rank": p.rank, "mentee_id": p.mentee_id,
                "mentor_id": p.mentor_id, "score": p.score, "in_optimum": p.in_optimum, "pinned": p.pinned,
                "cost": int(p.cost), "clash_ids": LIST_SEPARATOR.join(str(c) for c in p.clash_ids),
                "unmatched_mentee_ids": LIST_SEPARATOR.join(p.unmatched_mentee_ids), "changes": changes,
                "why_this_pair": p.explanation.sentence, "list_note": person.note})
    clashes = [{"clash_id": c.id, "kind": _clash_kind(c.kind), "subject": c.subject, "limit": c.limit,
                "person_ids": LIST_SEPARATOR.join(c.person_ids),
                "proposals": LIST_SEPARATOR.join(f"{p.mentee_id}-{p.mentor_id}" for p in c.proposals),
                "sentence": c.sentence} for c in response.clashes]
    return {"proposals": proposals, "clashes": clashes}


def _clash_kind(kind: int) -> str:
    from mentormatch.v1 import shortlist_pb2 as slpb

    return enum_word(slpb.ClashKind, kind)


def write_shortlist_files(output: Path, response: slpb.ShortlistResponse, inputs: InputFiles) -> list[Path]:
    from solver.tables import write_tables

    columns = {"proposals": PROPOSAL_COLUMNS, "clashes": CLASH_COLUMNS}
    return write_or_exit(lambda: write_tables(output, shortlist_sheets(response), columns, inputs=inputs))


def shortlist_command(
    cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")],
    size: Annotated[int, typer.Option(help="proposals per list, the optimum's partner included (1..10)")] = 3,
    side: Annotated[str, typer.Option(help="whose lists: 'mentee' (each mentee's mentors) or 'mentor' (each "
                                           "mentor's mentees)")] = ListSide.mentee.value,
    max_lists: Annotated[int | None, typer.Option(
        "--max-lists", "--max-lists-per-mentor", "--max-lists-per-mentee",
        help="lists a proposed person appears on at most, or on as many as the optimum puts her on, when more "
             "(default: --size)")] = None,
    time_limit: Annotated[float, typer.Option(help="seconds for the whole shortlist")] = 30.0,
    seed: Annotated[int, typer.Option(help="solver seed (same input and seed, same lists)")] = 0,
    as_json: JsonFlag = False,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="also write the proposals and the clashes: .csv (NAME.proposals.csv and "
                               "NAME.clashes.csv), .parquet (the same two) or .xlsx (two sheets), by extension")] = None,
) -> None:
    """Shortlists: each person's partner in the optimum first, then proposals with what choosing them costs the
    cohort, and every combination of choices that would clash."""
    from dataclasses import replace

    from server.convert.problems import problem_to_proto
    from server.convert.results import response_json
    from server.shortlist_rpc import shortlists_to_proto
    from solver.explain.codes import Side
    from solver.shortlist import ShortlistOptions, option_problems, shortlist
    from solver.tables import output_table_problems

    # Every problem at once, exit 2: the options' (each at the option's name, `--size: BAD_VALUE: ...`), the
    # cohort's and the outputs'. The options are checked here rather than by click, whose first error would hide
    # the others.
    side_problems = [] if side in ListSide.__members__ else [Problem(
        ProblemCode.BAD_VALUE, "side", f"'{side}' is not one of: {', '.join(ListSide.__members__)}", "--side")]
    seconds = [] if math.isfinite(time_limit) and 0 < time_limit <= MAX_SECONDS else [Problem(
        ProblemCode.BAD_VALUE, "time_limit_s", f"{time_limit} is not a number of seconds in (0, {MAX_SECONDS:g}]",
        "--time-limit")]
    options = ShortlistOptions(size=size, side=Side(side if not side_problems else ListSide.mentee.value),
                               max_lists=max_lists, time_limit_s=time_limit if not seconds else 1.0, seed=seed)
    problems = [replace(p, location=f"--{p.path.replace('_', '-')}") for p in option_problems(options)]
    problems = side_problems + problems + seconds
    data, warnings, inputs = read_checked(
        cohort, problems, None if output is None else lambda inputs: output_table_problems(output, SHEETS, inputs,
                                                                                             "--output"))
    try:
        lists = shortlist(data, options)
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        raise typer.Exit(EXIT_INVALID) from None
    # The warnings printed on stderr are the answer's too, at the paths the service gives them.
    response = shortlists_to_proto(lists, warnings=[problem_to_proto(w) for w in warnings])
    written = write_shortlist_files(output, response, inputs) if output is not None else []
    if as_json:
        print(response_json(response))
        return
    render_shortlists(response, data.name)
    for path in written:
        console.print(f"written to {path}")


def register(app: typer.Typer) -> None:
    """Joins `shortlist` to the command line (idempotent)."""
    if not any(command.name == "shortlist" for command in app.registered_commands):
        app.command("shortlist")(shortlist_command)

"""Explanations on the command line: the `solve --explain` explainer and its tables, and the `why-not` command.

An explanation goes out as the service's `Explanation` message (inside the `MatchResponse` that `solve --json`
prints), and the tables are drawn from that message, so a local and a remote `solve --explain` read alike.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from server.cli import (
    EXIT_INVALID,
    EXPLAIN_PEOPLE,
    EXPLAINERS,
    RENDER_HOOKS,
    console,
    enum_word,
    note_text,
    print_problems,
    read_or_exit,
)
from server.cli_params import finite_seconds
from solver.domain import ObjectiveMode
from solver.errors import CohortInvalid

if TYPE_CHECKING:
    from rich.table import Table

    from mentormatch.v1 import matching_pb2 as mpb
    from solver.explain import PairVerdict
    from solver.solve import SolveResult

SENTENCES_SHOWN = 30  # pair sentences printed for people; the JSON has all of them


def explain_result(result: SolveResult, explain_people: int = EXPLAIN_PEOPLE,
                   stop: threading.Event | None = None) -> mpb.Explanation:
    """Reasons, funnels, nearest misses, counterfactuals, pair explanations and blocking pairs, as the `Explanation`
    message; re-solves (counterfactuals, the cost of matching them) for at most `explain_people` unmatched people.
    `stop` cuts it short (see `solver.explain.explain`)."""
    from server.convert import STABILITY_PAIRS_LISTED, explanation_to_proto
    from solver.explain import ExplainOptions, explain

    options = ExplainOptions(max_people=explain_people, stability_pairs_listed=STABILITY_PAIRS_LISTED, processes=2,
                             stop=stop)
    return explanation_to_proto(explain(result, options))


def _funnel_text(funnel: mpb.Funnel) -> str:
    from mentormatch.v1 import matching_pb2 as mpb

    parts = [str(funnel.partners)]
    parts += [f"{enum_word(mpb.HardRule, step.rule).lower()} {step.remaining}" for step in funnel.steps if step.removed]
    return " -> ".join(parts)


def _miss_text(person: mpb.UnmatchedExplanation) -> str:
    from mentormatch.v1 import matching_pb2 as mpb

    if not person.nearest_misses:
        return ""
    miss = person.nearest_misses[0]
    return f"{miss.partner_id}: " + "; ".join(f"{enum_word(mpb.HardRule, s.rule).lower()} {s.detail}"
                                              for s in miss.failed)


def _change_text(person: mpb.UnmatchedExplanation) -> str:
    if person.counterfactuals:
        return person.counterfactuals[0].sentence
    forced = person.forced_in
    if person.HasField("forced_in") and forced.HasField("matched_after"):
        return (f"forcing in: matched {forced.matched_before} -> {forced.matched_after}, total score "
                f"{forced.total_score_after - forced.total_score_before:+.0f}, "
                f"{len(forced.pairs_removed)} pair(s) changed")
    return ""


def _people_table(title: str, people: list[mpb.UnmatchedExplanation]) -> Table:
    from rich.table import Table

    from mentormatch.v1 import matching_pb2 as mpb

    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("why (funnel; nearest miss)", overflow="fold")
    table.add_column("what would change it", overflow="fold")
    for person in people:
        reason = person.reasons[0]
        details = [reason.message, f"funnel: {_funnel_text(person.funnel)}"]
        miss = _miss_text(person)
        if miss:
            details.append(f"nearest miss {miss}")
        table.add_row(person.person_id, Text(enum_word(mpb.UnmatchedReason, reason.code), style="bold"),
                      "\n".join(details), _change_text(person))
    return table


def render_explanations(response: mpb.MatchResponse) -> None:
    """Tables and sentences for people, from the answer's explanation."""
    from solver.output import nearest_town

    explanation = response.explanation
    if explanation.matchings:
        _render_matchings(list(explanation.matchings))
    for advice in explanation.recruitment:
        town = nearest_town(advice.lat, advice.lon)
        near = f" (near {town[0]})" if town is not None else ""
        console.print(note_text(f"{advice.sentence}{near}", "recruit", "green"))
    for note in explanation.notes:
        console.print(note_text(note))


def _render_matchings(matchings: list[mpb.MatchingExplanation]) -> None:
    best = matchings[0]
    console.rule(Text.assemble(("Why these pairs", "bold"), " (matching 1)"))
    for pair in best.pairs[:SENTENCES_SHOWN]:
        console.print(pair.sentence)
    if len(best.pairs) > SENTENCES_SHOWN:
        console.print(f"... {len(best.pairs) - SENTENCES_SHOWN} more pair(s) in --json", style="dim")
    if best.unmatched_mentees:
        console.print(_people_table(f"Unmatched mentees ({len(best.unmatched_mentees)})", list(best.unmatched_mentees)))
    if best.mentors_without_mentee:
        console.print(_people_table(f"Mentors without a mentee ({len(best.mentors_without_mentee)})",
                                    list(best.mentors_without_mentee)))
    for matching in matchings:
        audit = matching.stability
        text = ("stable: no blocking pair" if audit.count == 0 else
                f"{audit.count} blocking pair(s): " + ", ".join(
                    f"{p.mentee_id}-{p.mentor_id}" for p in audit.pairs[:10])
                + (" ..." if audit.count > 10 else ""))
        console.print(f"Matching {matching.rank}: {text} ({audit.ranked_pairs} mutually ranked allowed pair(s))")


def render_verdict(verdict: PairVerdict) -> None:
    from rich.table import Table

    outcome = ("allowed", "green") if verdict.allowed else ("forbidden", "red")
    console.rule(Text.assemble((f"{verdict.mentee_id} x {verdict.mentor_id}", "bold"), ": ", outcome))
    table = Table(show_lines=False)
    for column in ("rule", "", "facts"):
        table.add_column(column, overflow="fold")
    for check in verdict.checks:
        table.add_row(check.rule.value, Text("ok", style="green") if check.passed else Text("fails", style="red"),
                      Text.assemble("; ".join(check.facts),
                                    (f"\n{check.shortfall.detail}", "red") if check.shortfall else ""))
    console.print(table)
    console.print(verdict.explanation.sentence)
    console.print(verdict.sentence)
    if verdict.forced is not None and verdict.forced.pairs_removed:
        removed = ", ".join(f"{a}-{b}" for a, b in verdict.forced.pairs_removed)
        added = ", ".join(f"{a}-{b}" for a, b in verdict.forced.pairs_added)
        console.print(f"  pairs broken: {removed}\n  pairs made: {added}")


def why_not_command(
    cohort: Annotated[Path, typer.Argument(help="cohort directory or .json file")],
    mentee: Annotated[str, typer.Argument(help="mentee id")],
    mentor: Annotated[str, typer.Argument(help="mentor id")],
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    stable: Annotated[bool, typer.Option("--stable/--no-stable", help="compare with the best stable matching")] = (
        False),
    mode: Annotated[ObjectiveMode, typer.Option(help="what 'best' means after the matched count")] = (
        ObjectiveMode.SCORE),
    time_limit: Annotated[float, typer.Option(callback=finite_seconds, help="seconds per solve")] = 30.0,
    seed: Annotated[int, typer.Option(help="solver seed")] = 0,
) -> None:
    """Why not these two: the rules that forbid the pair, or what forcing it would cost the cohort."""
    from server.cli_workflows import interruptibly
    from solver.explain import why_not
    from solver.solve import SolveOptions

    data = read_or_exit(cohort)
    options = SolveOptions(mode=mode, alternatives=1, time_limit_s=time_limit, seed=seed, stable=stable)
    try:
        verdict = interruptibly(lambda: why_not(data, mentee, mentor, options), "why-not check")
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        raise typer.Exit(EXIT_INVALID) from None
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2, allow_nan=False))
    else:
        render_verdict(verdict)


def register(app: typer.Typer) -> None:
    """Joins the explainer, its tables and the `why-not` command to the command line (idempotent)."""
    if explain_result not in EXPLAINERS:
        EXPLAINERS.append(explain_result)
    if render_explanations not in RENDER_HOOKS:
        RENDER_HOOKS.append(render_explanations)
    if not any(command.name == "why-not" for command in app.registered_commands):
        app.command("why-not")(why_not_command)


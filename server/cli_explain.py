"""Explanations on the command line: the `solve --explain` hooks (JSON and tables) and the `why-not` command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from server.cli import (
    EXIT_INVALID,
    RENDER_HOOKS,
    SOLVE_HOOKS,
    console,
    note_text,
    print_problems,
    read_or_exit,
)
from solver.domain import ObjectiveMode
from solver.errors import CohortInvalid
from solver.explain import (
    ExplainOptions,
    PairVerdict,
    explain,
    why_not,
)
from solver.infeasibility import diagnose_infeasible
from solver.output import merge_explanation
from solver.solve import SolveOptions, SolveResult, SolveStatus

EXPLAIN_OPTIONS = ExplainOptions(max_people=20, stability_pairs_listed=100)
"""What `solve --explain` spends: re-solves (forcing in, counterfactuals) for at most 20 unmatched people;
blocking pairs listed up to 100 per matching (the count is always complete)."""
SENTENCES_SHOWN = 30  # pair sentences printed for people; the JSON has all of them


def add_explanations(result: SolveResult, data: dict[str, Any], explain_wanted: bool,
                     explain_people: int = EXPLAIN_OPTIONS.max_people) -> None:
    """Adds reasons, funnels, nearest misses, counterfactuals, pair explanations and blocking pairs to `data`;
    re-solves (counterfactuals, the cost of matching them) for at most `explain_people` unmatched people."""
    if not explain_wanted:
        # An INFEASIBLE answer always says which constraints conflict and what is attainable (with --explain, the
        # explanation's notes carry the same).
        if result.status is SolveStatus.INFEASIBLE:
            data["notes"].extend(note for note in diagnose_infeasible(result.model, stable=result.options.stable,
                                                                      time_limit_s=result.options.time_limit_s)
                                 if note not in data["notes"])
        return
    explanation = explain(result, dataclasses.replace(EXPLAIN_OPTIONS, max_people=explain_people))
    merge_explanation(data, explanation, lambda item: item.to_dict())


def _funnel_text(funnel: dict[str, Any]) -> str:
    parts = [str(funnel["partners"])]
    parts += [f"{step['rule'].lower()} {step['remaining']}" for step in funnel["steps"] if step["removed"]]
    return " -> ".join(parts)


def _miss_text(misses: list[dict[str, Any]]) -> str:
    if not misses:
        return ""
    miss = misses[0]
    return f"{miss['partner_id']}: " + "; ".join(f"{s['rule'].lower()} {s['detail']}" for s in miss["failed"])


def _change_text(person: dict[str, Any]) -> str:
    counterfactuals = person.get("counterfactuals") or []
    if counterfactuals:
        return str(counterfactuals[0]["sentence"])
    forced = person.get("forced_in")
    if forced and forced.get("matched_after") is not None:
        return (f"forcing in: matched {forced['matched_before']} -> {forced['matched_after']}, total score "
                f"{forced['total_score_after'] - forced['total_score_before']:+d}, "
                f"{len(forced['pairs_removed'])} pair(s) changed")
    return ""


def _people_table(title: str, people: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("id", no_wrap=True)
    table.add_column("reason", no_wrap=True)
    table.add_column("why (funnel; nearest miss)", overflow="fold")
    table.add_column("what would change it", overflow="fold")
    for person in people:
        reason = person["reasons"][0]
        details = [reason["message"], f"funnel: {_funnel_text(person['funnel'])}"]
        miss = _miss_text(person["nearest_misses"])
        if miss:
            details.append(f"nearest miss {miss}")
        table.add_row(person["id"], Text(reason["code"], style="bold"), "\n".join(details), _change_text(person))
    return table


def render_explanations(result: SolveResult, data: dict[str, Any]) -> None:
    """Tables and sentences for people, from the dict `add_explanations` filled."""
    matchings = data.get("matchings", [])
    if matchings and "blocking_pairs" in matchings[0]:
        _render_matchings(matchings)
    for advice in data.get("recruitment", []):
        town = f" (near {advice['near_town']})" if "near_town" in advice else ""
        console.print(note_text(f"{advice['sentence']}{town}", "recruit", "green"))
    for note in data.get("explain_notes", []):
        console.print(note_text(note))


def _render_matchings(matchings: list[dict[str, Any]]) -> None:
    best = matchings[0]
    console.rule(Text.assemble(("Why these pairs", "bold"), " (matching 1)"))
    for pair in best["pairs"][:SENTENCES_SHOWN]:
        if "explanation" in pair:
            console.print(pair["explanation"]["sentence"])
    if len(best["pairs"]) > SENTENCES_SHOWN:
        console.print(f"... {len(best['pairs']) - SENTENCES_SHOWN} more pair(s) in --json", style="dim")
    unmatched = [u for u in best["unmatched"] if "reasons" in u]
    if unmatched:
        console.print(_people_table(f"Unmatched mentees ({len(unmatched)})", unmatched))
    if best.get("mentors_without_mentee"):
        console.print(_people_table(f"Mentors without a mentee ({len(best['mentors_without_mentee'])})",
                                    best["mentors_without_mentee"]))
    for matching in matchings:
        blocking = matching["blocking_pairs"]
        text = ("stable: no blocking pair" if blocking["stable"] else
                f"{blocking['count']} blocking pair(s): " + ", ".join(
                    f"{p['mentee']}-{p['mentor']}" for p in blocking["pairs"][:10])
                + (" ..." if blocking["count"] > 10 else ""))
        console.print(f"Matching {matching['rank']}: {text} ({blocking['ranked_pairs']} mutually ranked allowed "
                      f"pair(s))")


def render_verdict(verdict: PairVerdict) -> None:
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
    stable: Annotated[bool, typer.Option("--stable", help="compare with the best stable matching")] = False,
    mode: Annotated[ObjectiveMode, typer.Option(help="what 'best' means after the matched count")] = (
        ObjectiveMode.SCORE),
    time_limit: Annotated[float, typer.Option(help="seconds per solve")] = 30.0,
    seed: Annotated[int, typer.Option(help="solver seed")] = 0,
) -> None:
    """Why not these two: the rules that forbid the pair, or what forcing it would cost the cohort."""
    data = read_or_exit(cohort)
    options = SolveOptions(mode=mode, alternatives=1, time_limit_s=time_limit, seed=seed, stable=stable)
    try:
        verdict = why_not(data, mentee, mentor, options)
    except CohortInvalid as invalid:
        print_problems(invalid.problems)
        raise typer.Exit(EXIT_INVALID) from None
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2, allow_nan=False))
    else:
        render_verdict(verdict)


def register(app: typer.Typer) -> None:
    """Joins the explanation hooks and the `why-not` command to the command line (idempotent)."""
    if add_explanations not in SOLVE_HOOKS:
        SOLVE_HOOKS.append(add_explanations)
    if render_explanations not in RENDER_HOOKS:
        RENDER_HOOKS.append(render_explanations)
    if not any(command.name == "why-not" for command in app.registered_commands):
        app.command("why-not")(why_not_command)


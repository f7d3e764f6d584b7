"""Files out of the command line: an answer's pairs and unmatched people as sheets (CSV, Parquet or XLSX, chosen by
the extension: `solver.tables`), and the next `current.csv` of a re-match.

The pairs sheet has one row per pair: every soft term's points (0 for a term of weight 0) and the facts behind
them; the unmatched sheet one row per person left alone: the reason code, the reason in plain words, why, and
what would help. `solve` writes its `MatchResponse` (local or from a server), `compare`, `rematch` and
`rematch-batch` their records, so a pair reads the same whichever command wrote it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mentormatch.v1 import matching_pb2 as mpb
from solver.compare import Comparison
from solver.errors import Problem
from solver.explain.wording import reason_words, round_km
from solver.fileio import InputFiles, write_atomic
from solver.rematch import RematchResult
from solver.scores import TERMS
from solver.tables import output_table_problems, table_format_problem, table_paths, write_tables
from solver.workflows import PairRef, UnmatchedRecord, would_help

SHEETS = ("pairs", "unmatched")
PAIR_COLUMNS = ("mentee_id", "mentor_id", "score", "pinned", "distance_km", "travel_minutes", "field_digits",
                "shared_interests", "mentee_rank", "mentor_rank", *(f"points_{t.value.lower()}" for t in TERMS),
                "reasons")
UNMATCHED_COLUMNS = ("side", "id", "reason", "reason_in_words", "why", "what_would_help")
LIST_SEPARATOR = "; "  # lists in a cell, as in the input files


def output_file_problems(path: Path, inputs: InputFiles | None) -> list[Problem]:
    """Why `-o PATH` may not be written: checked before anything is solved."""
    return output_table_problems(path, SHEETS, inputs, "--output")


def answer_files(path: Path | None) -> list[tuple[str, Path]]:
    """The files `-o PATH` writes (one per sheet for CSV and Parquet), with the option: for `same_file_problems`.
    None for no `-o` or one whose format is unknown (its own problem says so)."""
    if path is None or table_format_problem(path):
        return []
    return [("--output", target) for target in table_paths(path, SHEETS)]


def _set(message_or_record: Any, name: str) -> Any:
    """A field that may be absent: None when a message has it unset (a dataclass holds None itself)."""
    has_field = getattr(message_or_record, "HasField", None)
    if has_field is not None and not has_field(name):
        return None
    return getattr(message_or_record, name)


def _term(term: str | int) -> str:
    return term if isinstance(term, str) else mpb.ScoreTerm.Name(mpb.ScoreTerm.ValueType(term)).removeprefix(
        "SCORE_TERM_")


def pair_row(pair: Any, lead: Mapping[str, Any]) -> dict[str, Any]:
    """One pair (a `MatchedPair` or `PairRecord` message, or a `solver.workflows.PairRecord`) as a sheet row."""
    points = {_term(t.term): int(t.points) for t in pair.breakdown}
    return {
        **lead,
        "mentee_id": pair.mentee_id,
        "mentor_id": pair.mentor_id,
        "score": int(pair.score),
        "pinned": bool(pair.pinned),
        "distance_km": round_km(pair.distance_km),
        "travel_minutes": _set(pair, "travel_minutes"),
        "field_digits": int(pair.field_digits),
        "shared_interests": int(pair.shared_interests),
        "mentee_rank": int(pair.mentee_rank) or None,
        "mentor_rank": int(pair.mentor_rank) or None,
        **{f"points_{t.value.lower()}": points.get(t.value, 0) for t in TERMS},
        "reasons": LIST_SEPARATOR.join(pair.reasons),
    }


def _unmatched_row(side: str, person_id: str, code: str, why: str, helps: Sequence[str], lead: Mapping[str, Any]
                   ) -> dict[str, Any]:
    return {**lead, "side": side, "id": person_id, "reason": code, "reason_in_words": reason_words(code) if code
            else "", "why": why, "what_would_help": LIST_SEPARATOR.join(helps)}


def record_row(record: UnmatchedRecord, lead: Mapping[str, Any]) -> dict[str, Any]:
    return _unmatched_row("mentee", record.mentee_id, record.reason, record.message, record.would_help, lead)


def explained_row(explained: mpb.UnmatchedExplanation, lead: Mapping[str, Any]) -> dict[str, Any]:
    reason = explained.reasons[0] if explained.reasons else None
    code = mpb.UnmatchedReason.Name(reason.code).removeprefix("UNMATCHED_REASON_") if reason is not None else ""
    side = mpb.Side.Name(explained.side).removeprefix("SIDE_").lower()
    return _unmatched_row(side, explained.person_id, code, reason.message if reason is not None else "",
                          would_help(explained, partner="mentee" if side == "mentor" else "mentor"), lead)


def match_sheets(response: mpb.MatchResponse, explanation: mpb.Explanation | None) -> dict[str, list[dict[str, Any]]]:
    """The sheets of a solve: every matching's pairs and unmatched people (`matching` = its rank)."""
    explained = {m.rank: m for m in explanation.matchings} if explanation is not None else {}
    pairs, unmatched = [], []
    for matching in response.matchings:
        lead = {"matching": matching.rank}
        pairs += [pair_row(p, lead) for p in matching.pairs]
        found = explained.get(matching.rank)
        if found is None:  # explanations cut short (a deadline): the ids at least
            unmatched += [_unmatched_row("mentee", i, "", "", (), lead) for i in matching.unmatched_mentee_ids]
            continue
        unmatched += [explained_row(u, lead) for u in found.unmatched_mentees]
        unmatched += [explained_row(u, lead) for u in found.mentors_without_mentee]
    return {"pairs": pairs, "unmatched": unmatched}


def comparison_sheets(comparison: Comparison) -> dict[str, list[dict[str, Any]]]:
    """The sheets of a comparison, one row per pair and per unmatched mentee of each scenario (`scenario`)."""
    pairs, unmatched = [], []
    for outcome in comparison.scenarios:
        lead = {"scenario": outcome.label}
        pairs += [pair_row(p, lead) for p in outcome.pairs]
        unmatched += [record_row(u, lead) for u in outcome.unmatched]
    return {"pairs": pairs, "unmatched": unmatched}


def rematch_sheets(results: Iterable[tuple[str, RematchResult]]) -> dict[str, list[dict[str, Any]]]:
    """The sheets of one or more re-matches (`cohort`): the new matching's pairs and who is still alone."""
    pairs, unmatched = [], []
    for name, result in results:
        lead = {"cohort": name}
        pairs += [pair_row(p, lead) for p in result.pairs]
        unmatched += [record_row(u, lead) for u in result.unmatched]
    return {"pairs": pairs, "unmatched": unmatched}


def write_answer(path: Path, sheets: Mapping[str, Sequence[Mapping[str, Any]]], lead: str,
                 inputs: InputFiles | None) -> list[Path]:
    """Write the sheets (`lead` names the first column: matching, scenario or cohort); the files written."""
    columns = {"pairs": (lead, *PAIR_COLUMNS), "unmatched": (lead, *UNMATCHED_COLUMNS)}
    return write_tables(path, sheets, columns, inputs=inputs)


def write_current(path: Path, pairs: Iterable[PairRef | Any], inputs: InputFiles | None) -> Path:
    """The pairs as the `current.csv` the next `rematch` reads: `mentee_id,mentor_id`, one pair a line."""
    from solver.tables import frame, frame_bytes

    rows = [{"mentee_id": p.mentee_id, "mentor_id": p.mentor_id} for p in pairs]
    # Read back by the next `rematch`: ids verbatim (no spreadsheet apostrophe, solver.cells).
    data = frame_bytes({"current": frame(rows, ("mentee_id", "mentor_id"))}, ".csv", defuse=False)
    return write_atomic(path, data, inputs=inputs, field_path="--out-current")

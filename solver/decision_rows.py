"""Decisions as data: decisions.csv rows, the contract's messages, the pins and bans they make, their problems and
where in which file each problem is. The decide loop that proposes and records them is `solver.decisions`.

A decision (`mentee_id,mentor_id,decision,by`) accepts or declines a pair: an accepted pair is pinned, a declined
one banned, and a later `declined` overrides an earlier acceptance. Every problem is reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from solver.domain import Cohort, DecidedBy, Decision, Verdict
from solver.errors import Problem, ProblemCode, did_you_mean

if TYPE_CHECKING:
    import polars as pl

    from mentormatch.v1 import cohort_pb2 as pb
    from solver.row_reader import RowReader

DECISIONS_FILE = "decisions.csv"
DECISION_COLUMNS = ("mentee_id", "mentor_id", "decision", "by")


def decisions_from_rows(reader: RowReader, rows: Iterable[Mapping[str, str]], stem: str = "decisions"
                        ) -> tuple[Decision, ...]:
    out = []
    for i, row in enumerate(rows):
        def value(column: str, known: list[str], i: int = i, row: Mapping[str, str] = row) -> str:
            text = row.get(column, "").strip().lower()
            if text not in known:
                reader.problem(ProblemCode.BAD_VALUE, f"decisions[{i}].{column}", f"'{text}' is not one of: "
                               f"{', '.join(known)}{did_you_mean(text, known)}", reader.where(stem, i, column))
                return known[0]
            return text

        out.append(Decision(row.get("mentee_id", "").strip(), row.get("mentor_id", "").strip(),
                            Verdict(value("decision", [v.value for v in Verdict])),
                            DecidedBy(value("by", [b.value for b in DecidedBy]))))
    return tuple(out)


def read_decisions(reader: RowReader, directory: Path) -> tuple[Decision, ...]:
    """decisions.csv (or .parquet) of a cohort directory, when there is one."""
    rows = reader.table(directory, "decisions", DECISION_COLUMNS, DECISION_COLUMNS, optional=True)
    return decisions_from_rows(reader, rows or [])


def decisions_frame(decisions: Iterable[Decision]) -> pl.DataFrame:
    import polars as pl

    items = list(decisions)
    return pl.DataFrame({"mentee_id": [d.mentee_id for d in items], "mentor_id": [d.mentor_id for d in items],
                         "decision": [d.decision.value for d in items], "by": [d.by.value for d in items]},
                        schema={c: pl.String for c in DECISION_COLUMNS})


def declined_pairs(decisions: Iterable[Decision]) -> dict[tuple[str, str], DecidedBy]:
    """Each declined pair and who declined it (the first row that did)."""
    out: dict[tuple[str, str], DecidedBy] = {}
    for d in decisions:
        if d.decision is Verdict.DECLINED:
            out.setdefault((d.mentee_id, d.mentor_id), d.by)
    return out


def accepted_pairs(decisions: Iterable[Decision]) -> dict[tuple[str, str], DecidedBy]:
    """Each accepted pair that nobody declined, and who accepted it (the first row that did)."""
    decisions = list(decisions)
    declined = declined_pairs(decisions)
    out: dict[tuple[str, str], DecidedBy] = {}
    for d in decisions:
        if d.decision is Verdict.ACCEPTED and (d.mentee_id, d.mentor_id) not in declined:
            out.setdefault((d.mentee_id, d.mentor_id), d.by)
    return out


def _known(cohort: Cohort, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    mentees, mentors = {m.id for m in cohort.mentees}, {m.id for m in cohort.mentors}
    return [(a, b) for a, b in pairs if a in mentees and b in mentors]


def with_decisions(cohort: Cohort, unread: Collection[int] = ()) -> Cohort:
    """The cohort with its decisions applied: accepted pairs pinned, declined ones banned (pairs naming someone not
    in the cohort are left to `decision_problems`). Applying twice changes nothing. The decisions at the places
    `unread` (a decision or `by` that could not be read, reported already) stay for their ids to be checked, but
    pin and ban nothing: their stand-in values would add problems of their own."""
    if not cohort.decisions:
        return cohort
    decided = [d for k, d in enumerate(cohort.decisions) if k not in unread] if unread else cohort.decisions
    rules = cohort.rules
    pins = tuple(dict.fromkeys((*rules.pins, *_known(cohort, accepted_pairs(decided)))))
    bans = tuple(dict.fromkeys((*rules.bans, *_known(cohort, declined_pairs(decided)))))
    if pins == rules.pins and bans == rules.bans:
        return cohort
    return replace(cohort, rules=replace(rules, pins=pins, bans=bans))


def without_decisions(cohort: Cohort) -> Cohort:
    """The cohort with the pins and bans its decisions made taken out again: what is written to rules.toml, so that
    a decision changed in decisions.csv is not held by a stale pin or ban."""
    if not cohort.decisions:
        return cohort
    made = set(accepted_pairs(cohort.decisions)) | set(declined_pairs(cohort.decisions))
    rules = cohort.rules
    return replace(cohort, rules=replace(rules, pins=tuple(p for p in rules.pins if p not in made),
                                         bans=tuple(p for p in rules.bans if p not in made)))


def add_decisions(cohort: Cohort, new: Sequence[Decision]) -> Cohort:
    """The cohort with `new` decisions after its own, applied (a later `declined` overrides an earlier acceptance)."""
    merged = replace(without_decisions(cohort), decisions=(*cohort.decisions, *new))
    return with_decisions(merged)


def decision_problems(cohort: Cohort) -> list[Problem]:
    """Decisions naming people not in the cohort (or the wrong side), and empty ids."""
    if not cohort.decisions:  # (the sets of ids cost 0.2 s for a million people)
        return []
    mentees, mentors = {m.id for m in cohort.mentees}, {m.id for m in cohort.mentors}
    out: list[Problem] = []
    for k, d in enumerate(cohort.decisions):
        for name, value, side, other in (("mentee_id", d.mentee_id, mentees, mentors),
                                         ("mentor_id", d.mentor_id, mentors, mentees)):
            what = name.removesuffix("_id")
            if not value:
                out.append(Problem(ProblemCode.EMPTY_ID, f"decisions[{k}].{name}", "the id is empty"))
            elif value not in side:
                out.append(Problem(ProblemCode.UNKNOWN_ID, f"decisions[{k}].{name}",
                                   f"'{value}' is a {'mentor' if what == 'mentee' else 'mentee'}, not a {what}"
                                   if value in other else f"'{value}' is no {what} in the cohort"))
    return out


def decline_text(cohort: Cohort, mentee_id: str, mentor_id: str) -> str:
    """'declined by the mentee (decisions)' when a decision declined the pair, else ''."""
    by = declined_pairs(cohort.decisions).get((mentee_id, mentor_id))
    return "" if by is None else f"declined by the {by.value} (decisions)"


_VERDICT_TO_PROTO = {v: f"VERDICT_{v.name}" for v in Verdict}
_BY_TO_PROTO = {b: f"DECIDED_BY_{b.name}" for b in DecidedBy}


def decisions_to_proto(cohort: Cohort, msg: pb.Cohort) -> None:
    from mentormatch.v1 import cohort_pb2 as pb

    for d in cohort.decisions:
        msg.decisions.add(mentee_id=d.mentee_id, mentor_id=d.mentor_id,
                          decision=pb.Verdict.Value(_VERDICT_TO_PROTO[d.decision]),
                          by=pb.DecidedBy.Value(_BY_TO_PROTO[d.by]))
    if cohort.decisions:  # the decisions travel as decisions; their pins and bans are made again when read
        rules = without_decisions(cohort).rules
        del msg.rules.pins[:]
        del msg.rules.bans[:]
        msg.rules.pins.extend(pb.PairRef(mentee_id=a, mentor_id=b) for a, b in rules.pins)
        msg.rules.bans.extend(pb.PairRef(mentee_id=a, mentor_id=b) for a, b in rules.bans)


def decisions_from_proto(msg: pb.Cohort, bad: Callable[[str, str], None]
                         ) -> tuple[tuple[Decision, ...], frozenset[int]]:
    """The contract's decisions, each at its place, and the places of those whose `decision` or `by` is no known
    value (reported through `bad`; kept with stand-in values, so that their ids are checked all the same and the
    decisions after them keep their paths: `with_decisions(..., unread)` leaves them out of the pins and bans)."""
    from mentormatch.v1 import cohort_pb2 as pb

    verdicts = {pb.Verdict.Value(name): v for v, name in _VERDICT_TO_PROTO.items()}
    deciders = {pb.DecidedBy.Value(name): b for b, name in _BY_TO_PROTO.items()}
    out = []
    unread = set()
    for k, d in enumerate(msg.decisions):
        verdict, by = verdicts.get(d.decision), deciders.get(d.by)
        if verdict is None:
            bad(f"decisions[{k}].decision", f"decision {d.decision} is not ACCEPTED (1) or DECLINED (2)")
        if by is None:
            bad(f"decisions[{k}].by", f"by {d.by} is not MENTEE (1), MENTOR (2) or COORDINATOR (3)")
        if verdict is None or by is None:
            unread.add(k)
        out.append(Decision(d.mentee_id, d.mentor_id, verdict or Verdict.DECLINED, by or DecidedBy.COORDINATOR))
    return tuple(out), frozenset(unread)


def decision_place(index: int, own: int, new_source: str, own_source: str = "decisions.csv") -> str:
    """Where the decision at `index` of the merged list is: the row of the file it came from (the cohort's own
    `own` decisions first, then the new file's), as the spreadsheet numbers it."""
    return f"{own_source} row {index + 2}" if index < own else f"{new_source} row {index - own + 2}"


def located_decision_problems(merged: Cohort, problems: Sequence[Problem], own: int, new_source: str,
                              own_source: str = "decisions.csv") -> list[Problem]:
    """The merged cohort's problems with decisions and the pins accepted decisions made placed at the decision's
    row in its file (`rules.pins[1]` of an accepted pair is the decisions file's row that accepted it)."""
    import re

    accepted_at: dict[tuple[str, str], int] = {}
    for k, d in enumerate(merged.decisions):
        if d.decision == Verdict.ACCEPTED:
            accepted_at[(d.mentee_id, d.mentor_id)] = k
    pin_place = {i: decision_place(accepted_at[p], own, new_source, own_source)
                 for i, p in enumerate(merged.rules.pins) if p in accepted_at}

    def pins_named(text: str) -> str:
        return re.sub(r"rules\.pins\[(\d+)\]",
                      lambda m: pin_place.get(int(m.group(1)), m.group(0)), text)

    out = []
    for p in problems:
        found = re.fullmatch(r"decisions\[(\d+)\](?:\.(\w+))?", p.path)
        pin = re.fullmatch(r"rules\.pins\[(\d+)\].*", p.path)
        if found:
            column = found.group(2) or "mentee_id"
            location = f"{decision_place(int(found.group(1)), own, new_source, own_source)}, column {column}"
            out.append(Problem(p.code, p.path, p.message, location))
        elif pin and int(pin.group(1)) in pin_place:
            out.append(Problem(p.code, p.path, pins_named(p.message), pin_place[int(pin.group(1))]))
        else:
            out.append(Problem(p.code, p.path, pins_named(p.message), p.location))
    return out

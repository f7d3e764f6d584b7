"""The IBMP year as files (`scenarios/ibmp_year/`): the first two intakes with history, drop-outs, outcomes,
waiting mentees, mentors' availability and answers to proposals, as a coordinator keeps them.

`python -m scenarios.year` writes them. Intake 1 (`q1/`) is the bundled first intake with registration dates
(`waiting_since`), an intake start date and one mentor who joins only in spring (`available_from`). Its matching
is made by the engine (`solver.intake.rolling_intake`, as `mentormatch intake q1 --out-history` does), and three of
its pairs end before the second intake, recorded in `q2/history.csv` as a coordinator would: one mentee moved away
(`dropped_out`, she leaves), one pair broke up (`dropped_out`, she stays and waits for a new mentor), one mentee
found a job (`job`, she leaves). Intake 2 (`q2/`) holds everyone still in the programme (the running pairs'
people), the mentee intake 1 could not match, the second intake's new mentees and mentors, a mentor who leaves at
the end of March (his running pair ends), and `decisions.csv`: one proposal declined by a mentee, one accepted by
the coordinator. Same seed, same files.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from scenarios.bundled import ibmp_year
from solver.decisions import with_decisions
from solver.domain import Cohort, DecidedBy, Decision, HistoryEntry, Intake, Outcome, Verdict
from solver.history import TERM_NAMES

if TYPE_CHECKING:
    from solver.workflows import PairRef

DIRECTORY = Path(__file__).resolve().parent / "ibmp_year"
PROGRAMME = "IBMP 2026"
Q1_START, Q2_START = date(2026, 1, 15), date(2026, 4, 15)
JOINS_IN_SPRING = "M0020"  # a mentor of the first intake's recruits who can start only in May
LEAVES_IN_MARCH = 3  # the running pair (by mentee order) whose mentor moves abroad at the end of March


def registered(index: int, start: date, spread_days: int) -> date:
    """A mentee's registration date: spread over the weeks before the intake, the same for the same index."""
    return start - timedelta(days=7 + (index * 37) % spread_days)


def intake_1() -> Cohort:
    first = ibmp_year()[0]
    mentees = tuple(replace(m, waiting_since=registered(k, Q1_START, 90)) for k, m in enumerate(first.mentees))
    mentors = tuple(replace(m, available_from=date(2026, 5, 1)) if m.id == JOINS_IN_SPRING else m
                    for m in first.mentors)
    return replace(first, name="q1", mentees=mentees, mentors=mentors,
                   rules=replace(first.rules, intake=Intake(Q1_START, 1, False, PROGRAMME)))


def intake_2(q1: Cohort, history: tuple[HistoryEntry, ...]) -> Cohort:
    """The second intake: the programme's people after the first, with the drop-outs and outcomes recorded."""
    from solver.intake import running_pairs

    second = ibmp_year()[1]
    running = running_pairs(replace(q1, history=history))
    ended = _ended_pairs(running)
    leaving = {ended[0][0], ended[2][0]}  # moved away; found a job
    recorded = []
    for entry in history:
        outcome = next((o for a, _, o, _ in ended if a == entry.mentee_id and not entry.finished), None)
        when = next((d for a, _, _, d in ended if a == entry.mentee_id), None)
        recorded.append(replace(entry, ended=when, outcome=outcome) if outcome is not None else entry)
    staying = [m for m in q1.mentees if m.id not in leaving]
    new_mentees = [replace(m, priority=1, waiting_since=registered(k, Q2_START, 40))
                   for k, m in enumerate(second.mentees) if m.id not in {x.id for x in q1.mentees}]
    # The first intake's mentors stay (most have their mentee for the year); the second intake's recruits join.
    moving = running[LEAVES_IN_MARCH].mentor_id
    # Everyone keeps her registration date: whoever lost her mentor waits again from her place in the queue.
    mentees = [*staying, *new_mentees]
    mentors = [replace(m, available_until=date(2026, 3, 31)) if m.id == moving else m for m in q1.mentors]
    mentors += [m for m in second.mentors if m.id not in {x.id for x in q1.mentors}]
    mentors[-1] = replace(mentors[-1], available_from=date(2026, 6, 1))  # recruited now, starts in June
    cohort = Cohort(tuple(mentors), tuple(mentees), rules=replace(second.rules, intake=Intake(Q2_START, 1, False,
                                                                                                  PROGRAMME)),
                    name="q2", history=tuple(recorded)).canonical()
    return cohort


def _ended_pairs(running: Sequence[PairRef]) -> list[tuple[str, str, Outcome, date]]:
    """Three running pairs of the first intake that end before the second: (mentee, mentor, outcome, ended)."""
    outcomes = ((Outcome.DROPPED_OUT, date(2026, 2, 20)), (Outcome.DROPPED_OUT, date(2026, 3, 2)),
                (Outcome.JOB, date(2026, 3, 27)))
    return [(p.mentee_id, p.mentor_id, o, d) for p, (o, d) in zip(running[:3], outcomes, strict=True)]


def with_answers(q2: Cohort) -> Cohort:
    """Answers to the second intake's first proposals to newcomers: one declined her mentor (by mentee), another
    pair was accepted (by the coordinator)."""
    from solver.intake import rolling_intake, running_pairs

    first_time = {m.id for m in q2.mentees} - {h.mentee_id for h in q2.history} - {m.id for m in intake_1().mentees}
    proposed = [c for c in rolling_intake(q2, running_pairs(q2), current_from="history").result.changes
                if c.kind == "NEW" and c.mentee_id in first_time]
    declined, accepted = proposed[0], proposed[1]
    return with_decisions(replace(q2, decisions=(
        Decision(declined.mentee_id, declined.mentor_id, Verdict.DECLINED, DecidedBy.MENTEE),
        Decision(accepted.mentee_id, accepted.mentor_id, Verdict.ACCEPTED, DecidedBy.COORDINATOR))))


EARLIER_FILE = "history_2022_2025.csv"
EARLIER_PROGRAMMES = (("IBMP", 2022, 160), ("Lyngby career", 2022, 120))
"""Synthetic earlier years for the outcomes report: (programme, first year, pairs); no real outcomes."""


def earlier_years(seed: int = 2022) -> tuple[HistoryEntry, ...]:
    """Finished pairs of earlier years with their recorded points and outcomes, synthetic and seeded: a shared
    occupation (FIELD) makes a job likelier, the other terms make no difference, so the report has one thing to
    find. Mentee and mentor ids are the programme's own (H...), none of this year's people."""
    import random

    rng = random.Random(seed)
    out = []
    for programme, first_year, count in EARLIER_PROGRAMMES:
        prefix = "".join(word[0] for word in programme.split()).upper()
        for k in range(count):
            started = date(first_year + k * 4 // count, 1 + 3 * (k % 4), 15)
            points = {"INTERESTS": rng.choice([0, 0, 34, 34, 68, 100]), "FIELD": rng.choice([0, 0, 50, 50, 100]),
                      "GOAL": rng.choice([0, 50, 50, 100]), "TRAVEL": rng.randint(20, 95),
                      "HOME_MARKET": rng.choice([0, 0, 0, 100]), "FIRST_LANGUAGE": rng.choice([0, 0, 0, 100]),
                      "SENIORITY": rng.randint(10, 100), "RETURNING": rng.choice([0, 100])}
            job = 0.25 + (0.30 if points["FIELD"] >= 50 else 0.0)
            draw = rng.random()
            outcome = (Outcome.JOB if draw < job else Outcome.DROPPED_OUT if draw < job + 0.15
                       else rng.choice([Outcome.EDUCATION, Outcome.OWN_BUSINESS, Outcome.COMPLETED]))
            out.append(HistoryEntry(f"H{prefix}{k:03d}", f"HM{prefix}{k % (count // 2):03d}", started,
                                    started + timedelta(days=rng.randint(60, 360)), outcome, programme,
                                    sum(points.values()),
                                    tuple((n.upper(), points[n.upper()]) for n in TERM_NAMES if n.upper() in points)))
    return tuple(out)


def build() -> tuple[Cohort, Cohort]:
    from solver.intake import rolling_intake

    q1 = intake_1()
    first = rolling_intake(q1)
    q2 = with_answers(intake_2(q1, first.next_history))
    return q1, q2


def write(directory: Path = DIRECTORY) -> list[Path]:
    from scenarios.generate import write_scenario
    from solver.fileio import write_atomic
    from solver.history import history_csv

    q1, q2 = build()
    out = []
    for cohort in (q1, q2):
        target = directory / cohort.name
        for name in ("history.csv", "decisions.csv"):
            (target / name).unlink(missing_ok=True)
        out.append(write_scenario(cohort, target))
    out.append(write_atomic(directory / EARLIER_FILE, history_csv(earlier_years())))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scenarios.year", description=__doc__)
    parser.add_argument("--out", type=Path, default=DIRECTORY, help="directory to write q1/ and q2/ into")
    args = parser.parse_args(argv)
    for path in write(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

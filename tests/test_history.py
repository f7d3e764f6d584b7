"""The programme year in the snapshot: history (no pair twice, returning mentors), waiting priority, mentors'
availability, and decisions; in files, in the contract, in explanations, and against the README's oracle."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from solver.candidates import HardRule
from solver.cohort_json import cohort_to_json_text
from solver.cohort_proto import cohort_from_proto_checked, cohort_to_proto
from solver.decisions import with_decisions
from solver.domain import (
    Cohort,
    DecidedBy,
    Decision,
    HistoryEntry,
    Intake,
    Outcome,
    Rules,
    Verdict,
    months_between,
)
from solver.errors import CohortInvalid, ProblemCode
from solver.explain import Side, UnmatchedReason, explain, why_not
from solver.ingest import load_cohort, write_cohort_dir
from solver.solve import SolveOptions, solve
from tests.conftest import mentee, mentor
from tests.rules_oracle import RulesOracle, failed_rules, months_waited
from tests.test_oracle_campaign import Case, campaign_case, cli_answer, compare, library_answer
from tests.test_year import run

START = date(2026, 4, 15)
ONE = SolveOptions(alternatives=1)


def _pairs(cohort: Cohort) -> set[tuple[str, str]]:
    result = solve(cohort, ONE)
    assert result.best is not None
    return set(result.best.pairs(result.candidates))


# The rules ---------------------------------------------------------------------------------------------


def test_a_pair_that_met_in_a_finished_round_is_never_proposed_again() -> None:
    base = Cohort((mentor("M1"), mentor("M2", km_north=5)), (mentee("T1"),))
    assert _pairs(base) == {("T1", "M1")}  # the nearer mentor
    ended = replace(base, history=(HistoryEntry("T1", "M1", date(2026, 1, 15), date(2026, 3, 1), Outcome.DROPPED_OUT),))
    assert _pairs(ended) == {("T1", "M2")}
    running = replace(base, history=(HistoryEntry("T1", "M1", date(2026, 1, 15)),))  # the current pair: allowed
    assert _pairs(running) == {("T1", "M1")}
    allowed = replace(ended, rules=Rules(intake=Intake(allow_repeat_pairs=True)))
    assert _pairs(allowed) == {("T1", "M1")}


def test_a_mentor_is_matched_only_when_available_at_the_start() -> None:
    later = replace(mentor("M1"), available_from=date(2026, 5, 1))
    gone = replace(mentor("M2", km_north=1), available_until=date(2026, 4, 14))
    there = replace(mentor("M3", km_north=9), available_from=START, available_until=START)
    cohort = Cohort((later, gone, there), (mentee("T1"),), rules=Rules(intake=Intake(start_date=START)))
    assert _pairs(cohort) == {("T1", "M3")}
    # Without a start date the dates are not checked: the nearest mentor again.
    assert _pairs(replace(cohort, rules=Rules())) == {("T1", "M1")}


@pytest.mark.parametrize(("since", "start", "months"), [
    (date(2026, 1, 15), date(2026, 4, 15), 3), (date(2026, 1, 16), date(2026, 4, 15), 2),
    (date(2026, 1, 31), date(2026, 2, 28), 0), (date(2026, 1, 31), date(2026, 3, 1), 1),
    (date(2025, 11, 1), date(2026, 4, 15), 5), (date(2026, 5, 1), date(2026, 4, 15), 0),
])
def test_whole_months_waited(since: date, start: date, months: int) -> None:
    assert months_between(since, start) == months == months_waited(since, start)


def test_who_waited_longest_is_matched_first() -> None:
    """One mentor, three mentees: the matched count is weighted by priority plus a step per month waited."""
    people = (mentee("T1"), replace(mentee("T2", km_north=4), waiting_since=date(2025, 12, 20)),
              replace(mentee("T3", km_north=2), waiting_since=date(2026, 2, 1)))
    cohort = Cohort((mentor("M1"),), people, rules=Rules(intake=Intake(start_date=START)))
    assert cohort.priorities() == (1, 4, 3)
    assert _pairs(cohort) == {("T2", "M1")}  # waited 3 whole months, though the farthest
    assert _pairs(replace(cohort, rules=Rules(intake=Intake(start_date=START, waiting_priority_per_month=0)))) == {
        ("T1", "M1")}  # no step: the nearest, as without waiting
    capped = replace(cohort, mentees=(replace(people[1], priority=999),))
    assert capped.priorities() == (1000,)


def test_a_mentor_with_an_earlier_round_counts_as_returning() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2")), (mentee("T1"),),
                    history=(HistoryEntry("T9", "M2", date(2025, 9, 1), date(2026, 3, 1), Outcome.JOB),))
    assert cohort.returning_mentors() == {"M2"}
    assert _pairs(cohort) == {("T1", "M2")}  # RETURNING's 100 points break the tie
    facts = explain(solve(cohort, ONE)).matchings[0].pairs[0].terms
    returning = next(t for t in facts if t.term.value == "RETURNING")
    assert returning.facts == ("returning mentor: 1 pair(s) in earlier rounds; outcomes job",)


# Explanations ------------------------------------------------------------------------------------------


def test_why_not_says_when_and_how_they_met_and_when_he_is_available() -> None:
    cohort = Cohort((replace(mentor("M1"), available_until=date(2026, 3, 31)), mentor("M2")), (mentee("T1"),),
                    rules=Rules(intake=Intake(start_date=START)),
                    history=(HistoryEntry("T1", "M2", date(2025, 10, 1), date(2026, 2, 1), Outcome.DROPPED_OUT),))
    assert why_not(cohort, "T1", "M1").sentence == ("T1 and M1 cannot be matched: AVAILABILITY: mentor M1 is available "
                                                    "until 2026-03-31, not at the intake's start 2026-04-15.")
    assert why_not(cohort, "T1", "M2").sentence == ("T1 and M2 cannot be matched: REPEAT: T1 and M2 were paired before "
                                                    "(2025-10-01 to 2026-02-01, dropped_out).")
    explained = explain(solve(cohort, ONE)).matchings[0]
    her = next(u for u in explained.unmatched_mentees if u.person_id == "T1")
    assert [r.code for r in her.reasons] == [UnmatchedReason.PAIR_MET_BEFORE]
    assert [(s.rule, s.removed) for s in her.funnel.steps if s.removed] == [
        (HardRule.AVAILABILITY, 1), (HardRule.REPEAT, 1)]


def test_a_declined_pair_says_who_declined_and_is_not_proposed_for_lifting() -> None:
    cohort = with_decisions(Cohort((mentor("M1"),), (mentee("T1"),), decisions=(
        Decision("T1", "M1", Verdict.DECLINED, DecidedBy.MENTOR),)))
    assert cohort.rules.bans == (("T1", "M1"),)
    assert why_not(cohort, "T1", "M1").sentence == "T1 and M1 cannot be matched: BAN: declined by the mentor (decisions)."
    explained = explain(solve(cohort, ONE)).matchings[0]
    her = explained.unmatched_mentees[0]
    assert her.reasons[0].code is UnmatchedReason.ALL_BANNED
    assert her.reasons[0].message.endswith("(declined: M1 by the mentor)")
    assert her.counterfactuals == ()  # a person's no is not the coordinator's to lift
    him = explained.mentors_without_mentee[0]
    assert him.reasons[0].message.endswith("(declined: T1 by the mentor)")
    coordinator_ban = Cohort((mentor("M1"),), (mentee("T1"),), rules=Rules(bans=(("T1", "M1"),)))
    lifted = explain(solve(coordinator_ban, ONE)).matchings[0].unmatched_mentees[0]
    assert [c.relaxation.value for c in lifted.counterfactuals] == ["LIFT_BAN"]


def test_a_person_is_explained_on_the_mentor_side_too() -> None:
    cohort = Cohort((replace(mentor("M1"), available_from=date(2026, 6, 1)),), (mentee("T1"),),
                    rules=Rules(intake=Intake(start_date=START)))
    him = explain(solve(cohort, ONE)).matchings[0].mentors_without_mentee[0]
    assert him.side is Side.MENTOR and him.reasons[0].code is UnmatchedReason.NOT_AVAILABLE
    assert him.reasons[0].message == "mentor M1 is available from 2026-06-01, not at the intake's start 2026-04-15"


# Files and the contract --------------------------------------------------------------------------------


def year_cohort() -> Cohort:
    return with_decisions(Cohort(
        (replace(mentor("M1"), available_from=date(2026, 1, 1), available_until=date(2026, 12, 31)), mentor("M2")),
        (replace(mentee("T1"), waiting_since=date(2025, 11, 3)), mentee("T2"), mentee("T3")),
        rules=Rules(intake=Intake(START, 2, False, "IBMP 2026"), pins=(("T3", "M2"),)),
        name="year",
        history=(HistoryEntry("T1", "M2", date(2025, 10, 1), date(2026, 2, 1), Outcome.DROPPED_OUT, "IBMP 2025", 530,
                              (("INTERESTS", 68), ("FIELD", 50))),
                 HistoryEntry("T2", "M9", date(2026, 1, 15), programme="IBMP 2026")),
        decisions=(Decision("T1", "M1", Verdict.DECLINED, DecidedBy.MENTEE),
                   Decision("T2", "M1", Verdict.ACCEPTED, DecidedBy.COORDINATOR))))


def test_the_year_round_trips_through_files_json_and_the_contract(tmp_path: Path) -> None:
    cohort = year_cohort()
    assert cohort.rules.pins == (("T3", "M2"), ("T2", "M1")) and cohort.rules.bans == (("T1", "M1"),)
    directory = write_cohort_dir(cohort, tmp_path / "year")
    assert sorted(p.name for p in directory.iterdir()) == [
        "decisions.csv", "history.csv", "mentees.csv", "mentors.csv", "rules.toml"]
    rules_text = (directory / "rules.toml").read_text()
    assert 'pins = [["T3", "M2"]]' in rules_text and "bans" not in rules_text  # decisions stay in decisions.csv
    assert "[intake]\nstart_date = 2026-04-15\nwaiting_priority_per_month = 2\n" in rules_text
    assert (directory / "history.csv").read_text().splitlines()[:2] == [
        "mentee_id,mentor_id,started,ended,outcome,programme,score,term_interests,term_field",
        "T1,M2,2025-10-01,2026-02-01,dropped_out,IBMP 2025,530,68,50"]
    assert load_cohort(directory) == cohort
    message = cohort_to_proto(cohort)
    assert [(p.mentee_id, p.mentor_id) for p in message.rules.pins] == [("T3", "M2")]
    assert cohort_from_proto_checked(message) == (cohort, [])
    json_file = tmp_path / "year.json"
    json_file.write_text(cohort_to_json_text(cohort))
    assert load_cohort(json_file) == cohort


def test_every_problem_of_the_year_at_once_with_its_place(tmp_path: Path) -> None:
    directory = write_cohort_dir(year_cohort(), tmp_path / "year")
    (directory / "history.csv").write_text(
        "mentee_id,mentor_id,started,ended,outcome\n"
        "T1,M2,2025-10-01,2025-09-01,dropped_out\n"   # ended before it started
        "T2,M1,2026-01-15,,job\n"                      # an outcome without an end
        "T3,M1,15.01.2026,,\n"                         # not an ISO date
        "T3,M2,2026-01-15,2026-03-01,hired\n")         # not an outcome
    (directory / "decisions.csv").write_text("mentee_id,mentor_id,decision,by\nT1,M7,declined,mentee\n"
                                             "T2,M1,acepted,mentor\n")
    mentors = (directory / "mentors.csv").read_text().replace("2026-12-31", "2025-12-31")
    (directory / "mentors.csv").write_text(mentors)
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    found = {(p.code, p.location) for p in caught.value.problems}
    assert found >= {
        (ProblemCode.BAD_VALUE, "history.csv row 2, column ended"),
        (ProblemCode.BAD_VALUE, "history.csv row 3, column ended"),
        (ProblemCode.BAD_VALUE, "history.csv row 4, column started"),
        (ProblemCode.BAD_VALUE, "history.csv row 5, column outcome"),
        (ProblemCode.UNKNOWN_ID, "decisions.csv row 2, column mentor_id"),
        (ProblemCode.BAD_VALUE, "decisions.csv row 3, column decision"),
        (ProblemCode.BAD_VALUE, "mentors.csv row 2, column available_until"),
    }, found
    checked = run("validate", directory)
    assert checked.returncode == 2 and "did you mean 'accepted'" in checked.stderr


def test_a_bad_intake_in_rules_toml_is_a_problem_at_its_key(tmp_path: Path) -> None:
    directory = write_cohort_dir(Cohort((mentor("M1"),), (mentee("T1"),)), tmp_path / "c")
    (directory / "rules.toml").write_text('[intake]\nstart_date = "2026-13-01"\nwaiting_priority_per_month = -1\n'
                                          'allow_repeats = true\n')
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    paths = sorted((p.path, p.code.value) for p in caught.value.problems)
    assert paths == [("rules.intake.allow_repeats", "BAD_VALUE"), ("rules.intake.start_date", "BAD_VALUE"),
                     ("rules.intake.waiting_priority_per_month", "NEGATIVE_VALUE")]
    assert "did you mean 'allow_repeat_pairs'" in next(p.message for p in caught.value.problems
                                                       if p.path.endswith("allow_repeats"))


# The README's oracle -----------------------------------------------------------------------------------


def with_year(cohort: Cohort, rng: random.Random) -> Cohort:
    """A campaign cohort with a programme year: dates, history (finished and running), waiting mentees."""
    start = date(2026, 4, 15) if rng.random() < 0.8 else None

    def day(low: int, high: int) -> date:
        return date(2026, 4, 15) + timedelta(days=rng.randint(low, high))

    mentors = tuple(replace(m, available_from=day(-60, 40) if rng.random() < 0.3 else None,
                            available_until=day(-10, 200) if rng.random() < 0.2 else None) for m in cohort.mentors)
    mentors = tuple(replace(m, available_until=None) if m.available_from and m.available_until
                    and m.available_until < m.available_from else m for m in mentors)
    mentees = tuple(replace(m, waiting_since=day(-400, 10)) if rng.random() < 0.4 else m for m in cohort.mentees)
    history = []
    running: set[str] = set()
    for a in cohort.mentees:
        for b in cohort.mentors:
            if rng.random() < 0.12:
                started = day(-500, -100)
                finished = rng.random() < 0.8 or a.id in running
                history.append(HistoryEntry(a.id, b.id, started, started + timedelta(days=90) if finished else None,
                                            rng.choice(list(Outcome)) if finished else Outcome.UNSPECIFIED))
                running |= set() if finished else {a.id}
    history.append(HistoryEntry("X-gone", cohort.mentors[0].id, day(-900, -800), day(-700, -600), Outcome.JOB))
    intake = Intake(start, rng.choice([0, 1, 1, 2, 5]), rng.random() < 0.15)
    year = replace(cohort, mentors=mentors, mentees=mentees, history=tuple(history),
                   rules=replace(cohort.rules, intake=intake))
    # Pins the year now forbids are dropped: a valid cohort pins only allowed pairs.
    pins = tuple(p for p in year.rules.pins
                 if not failed_rules(year, next(m for m in mentees if m.id == p[0]),
                                     next(m for m in mentors if m.id == p[1])))
    return replace(year, rules=replace(year.rules, pins=pins))


def year_case(seed: int) -> Case:
    case = campaign_case(seed)
    return replace(case, cohort=with_year(case.cohort, random.Random(f"year-{seed}")))


@pytest.mark.parametrize("seed", range(12))
def test_the_engine_agrees_with_the_readme_oracle_on_random_years(seed: int) -> None:
    case = year_case(seed)
    disagreements = compare(case, library_answer(case), RulesOracle(case.cohort), "library")
    assert not disagreements, "\n".join(map(str, disagreements))


@pytest.mark.slow  # `mentormatch solve --json` in a new process per cohort
@pytest.mark.parametrize("seed", [0, 4, 8])
def test_the_command_line_agrees_with_the_readme_oracle_on_random_years(seed: int) -> None:
    """The files too: history.csv, the date columns and [intake] written, read back and solved."""
    case = year_case(seed)
    disagreements = compare(case, cli_answer(case), RulesOracle(case.cohort), "cli")
    assert not disagreements, "\n".join(map(str, disagreements))


def test_the_random_years_exercise_every_year_rule() -> None:
    forbidden: set[str] = set()
    waiting = 0
    for seed in range(12):
        case = campaign_case(seed)
        cohort = with_year(case.cohort, random.Random(f"year-{seed}"))
        forbidden |= {rule for a in cohort.mentees for b in cohort.mentors for rule in failed_rules(cohort, a, b)}
        waiting += sum(1 for p, m in zip(cohort.priorities(), cohort.mentees, strict=True) if p > m.priority)
    assert {"AVAILABILITY", "REPEAT"} <= forbidden and waiting > 5


# The service -------------------------------------------------------------------------------------------


def test_the_match_rpc_honours_the_history_it_is_sent(server_factory) -> None:
    from mentormatch.v1 import matching_pb2 as mpb
    from server.client import MentormatchClient

    cohort = Cohort((mentor("M1"), mentor("M2", km_north=5), replace(mentor("M3"), available_from=date(2026, 9, 1))),
                    (mentee("T1"), replace(mentee("T2", km_north=3), waiting_since=date(2025, 10, 1))),
                    rules=Rules(intake=Intake(start_date=START)),
                    history=(HistoryEntry("T1", "M1", date(2025, 10, 1), date(2026, 1, 31), Outcome.COMPLETED),))
    running = server_factory()
    with MentormatchClient(running.address) as client:
        answer = client.match(cohort_to_proto(cohort), SolveOptions(alternatives=1), explain=True)
    pairs = {(p.mentee_id, p.mentor_id) for p in answer.matchings[0].pairs}
    assert pairs == {("T1", "M2"), ("T2", "M1")}
    assert answer.matchings[0].objective.matched_priority == 1 + 7  # T2 waited 6 whole months
    mentor_three = next(u for u in answer.explanation.matchings[0].mentors_without_mentee if u.person_id == "M3")
    assert mentor_three.reasons[0].code == mpb.UNMATCHED_REASON_NOT_AVAILABLE
    assert json.loads(cohort_to_json_text(cohort))["history"][0]["outcome"] == "OUTCOME_COMPLETED"


def test_a_history_above_its_cap_is_refused_before_it_is_read(server_factory, monkeypatch) -> None:
    from server import checks
    from server.client import MentormatchClient, RemoteError

    monkeypatch.setitem(checks.MAX_LIST_ENTRIES, "history", 3)
    monkeypatch.setitem(checks.MAX_LIST_ENTRIES, "decisions", 1)
    cohort = Cohort((mentor("M1"),), (mentee("T1"),),
                    history=tuple(HistoryEntry("T1", "M1", date(2025, 1, 1), date(2025, 2, 1)) for _ in range(4)),
                    decisions=(Decision("T1", "M1", Verdict.DECLINED, DecidedBy.MENTOR),) * 2)
    running = server_factory()
    with MentormatchClient(running.address) as client, pytest.raises(RemoteError) as caught:
        client.match(cohort_to_proto(cohort), SolveOptions(alternatives=1))
    assert caught.value.reason == "COHORT_TOO_LARGE"
    assert [path for path, _ in caught.value.violations] == ["cohort.history", "cohort.decisions"]

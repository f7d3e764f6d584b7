"""A list item written twice counts once: the README's rules read every person's list as a set (GOAL: "the mentor
lists her goal"; INTERESTS: "distinct interest tags both list"; HOME_MARKET: "among the mentor's markets";
FIRST_LANGUAGE: "lists that language at any level"; the field, language and segment rules: "any").

An outside review found a mentor with goals [job, job] scored as if he supported another goal, so `solve` failed
its own answer check (INTERNAL) on a cohort `validate` accepts. Here every list item of every person (goals,
interests, markets, occupations, languages, tags, organisations to avoid) and of the rules and segments is
written twice, and the answers must be those of the cohort as it was: the same status, the same matchings, the
same objective parts, the same pair scores. Through the library, the gRPC contract's messages and a cohort
directory read from files (`job;job` in mentors.csv).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from solver.cohort_proto import cohort_from_proto, cohort_to_proto
from solver.domain import Cohort, Goal, Language, Mentee, Mentor, Segment
from solver.ingest import load_cohort, write_cohort_dir
from solver.output import objective_dict
from solver.solve import SolveOptions, SolveResult, solve
from solver.validate import validate
from tests.test_oracle_campaign import campaign_case


def _twice(items: tuple[Any, ...]) -> tuple[Any, ...]:
    return items + items


def _mentor_twice(m: Mentor) -> Mentor:
    return replace(m, occupations=_twice(m.occupations), languages=_twice(m.languages),
                   interests=_twice(m.interests), markets=_twice(m.markets), goals=_twice(m.goals))


def _mentee_twice(e: Mentee) -> Mentee:
    return replace(e, occupations=_twice(e.occupations), languages=_twice(e.languages), interests=_twice(e.interests),
                   tags=_twice(e.tags), avoid_organisations=_twice(e.avoid_organisations))


def _segment_twice(s: Segment) -> Segment:
    return replace(s, goals=_twice(s.goals), tracks=_twice(s.tracks), municipalities=_twice(s.municipalities),
                   tags=_twice(s.tags), mentor_goals=_twice(s.mentor_goals),
                   programme_languages=None if s.programme_languages is None else _twice(s.programme_languages))


def every_item_twice(cohort: Cohort) -> Cohort:
    rules = cohort.rules
    rules = replace(rules, eligible_municipalities=_twice(rules.eligible_municipalities),
                    eligible_tracks=_twice(rules.eligible_tracks),
                    programme_languages=_twice(rules.programme_languages),
                    segments=tuple(map(_segment_twice, rules.segments)))
    return replace(cohort, mentors=tuple(map(_mentor_twice, cohort.mentors)),
                   mentees=tuple(map(_mentee_twice, cohort.mentees)), rules=rules)


def answer(result: SolveResult) -> tuple[Any, ...]:
    """What a user reads of an answer: the status, and per matching its pairs with their scores and its objective."""
    cohort, candidates = result.candidates.cohort, result.candidates
    matchings = []
    for m in result.matchings:
        pairs = sorted((cohort.mentees[int(a)].id, cohort.mentors[int(b)].id, int(s)) for a, b, s in zip(
            candidates.mentee[m.rows], candidates.mentor[m.rows], candidates.score[m.rows], strict=True))
        matchings.append((pairs, objective_dict(m.objective), m.status.value))
    return result.status.value, result.bound, matchings, result.notes


SEEDS = range(0, 24)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_list_item_twice_gives_the_same_answer(seed: int) -> None:
    case = campaign_case(seed)
    doubled = every_item_twice(case.cohort)
    assert validate(doubled) == [], "the cohort with every list item twice is valid input"
    assert answer(solve(doubled, case.options)) == answer(solve(case.cohort, case.options)), case.describe()


def _goal_cohort(goals: tuple[Goal, ...]) -> Cohort:
    """One mentor, two mentees of different goals: the goal term alone tells who gets him."""
    mentor = Mentor("M1", 55.68, 12.57, ("2512",), (Language("en", 5),), goals=goals)
    mentees = (Mentee("E1", 55.69, 12.55, ("2519",), (Language("en", 4),), goal=Goal.JOB),
               Mentee("E2", 55.69, 12.55, ("2519",), (Language("en", 4),), goal=Goal.EDUCATION))
    return Cohort(mentors=(mentor,), mentees=mentees)


@pytest.mark.parametrize("goals", [(Goal.JOB, Goal.JOB), (Goal.JOB, Goal.JOB, Goal.JOB),
                                   (Goal.JOB, Goal.OWN_BUSINESS, Goal.JOB)])
def test_a_goal_listed_twice_is_supported_once(goals: tuple[Goal, ...]) -> None:
    """The review's case: goals [job, job] were summed as bits into another goal (education), so the mentor went
    to the education mentee and the answer check refused the answer (INTERNAL)."""
    result = solve(_goal_cohort(goals), SolveOptions(alternatives=1))
    once = solve(_goal_cohort(tuple(dict.fromkeys(goals))), SolveOptions(alternatives=1))
    assert answer(result) == answer(once)
    assert [p[:2] for p in answer(result)[2][0][0]] == [("E1", "M1")]


@pytest.mark.parametrize("seed", [3, 7, 11])
def test_duplicates_read_from_the_contract_and_from_files(seed: int, tmp_path: Path) -> None:
    """The same through the gRPC messages (repeated fields) and a cohort directory (`a;a` cells)."""
    case = campaign_case(seed)
    doubled = every_item_twice(case.cohort)
    expected = answer(solve(case.cohort, case.options))
    from_proto = cohort_from_proto(cohort_to_proto(doubled))
    assert from_proto.mentors[0].occupations == _twice(case.cohort.mentors[0].occupations)  # still twice there
    assert answer(solve(from_proto, case.options)) == expected
    directory = write_cohort_dir(doubled, tmp_path / "cohort")
    text = (directory / "mentors.csv").read_text()
    if any(m.goals for m in case.cohort.mentors):
        assert any(f"{g.value};{g.value}" in text for m in case.cohort.mentors for g in m.goals[:1])
    from_files = load_cohort(directory)
    assert answer(solve(from_files, case.options)) == answer(solve(load_cohort(
        write_cohort_dir(case.cohort, tmp_path / "plain")), case.options))

"""Why not these two: the failing hard rules of a forbidden pair, and the exact cost of forcing an allowed one."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from solver.candidates import HardRule
from solver.domain import Cohort, Goal, HistoryEntry, Intake, MutualChoice, Outcome, Ranking, Rules, Segment
from solver.errors import CohortInvalid, ProblemCode
from solver.explain import ExplainOptions, explain, why_not
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveStatus, solve
from tests.conftest import mentee, mentor
from tests.rules_oracle import RulesOracle, valid_matchings

Pair = tuple[str, str]


FORBIDDEN: dict[HardRule, Cohort] = {
    HardRule.ELIGIBILITY: Cohort((mentor("M1", years_experience=1),), (mentee("T1"),), rules=Rules(min_mentor_years=3)),
    HardRule.FIELD: Cohort((mentor("M1", occupations=("7111",)),), (mentee("T1"),)),
    HardRule.DISTANCE: Cohort((mentor("M1", km_north=33.2),), (mentee("T1"),)),
    HardRule.LANGUAGE: Cohort((mentor("M1"),), (mentee("T1", languages=(("en", 2),)),)),
    HardRule.GENDER: Cohort((mentor("M1", gender="m"),), (mentee("T1", requested_mentor_gender="f"),)),
    # Her segment (social-network mentees) takes only mentors who support that goal; M1 supports jobs only.
    HardRule.GOAL: Cohort((mentor("M1", goals=(Goal.JOB,)),), (mentee("T1", goal=Goal.SOCIAL_NETWORK),), rules=Rules(
        segments=(Segment("social", goals=(Goal.SOCIAL_NETWORK,), mentor_goals=(Goal.SOCIAL_NETWORK,)),))),
    # Mutual choice by the mentee: M1 ranked her, but she did not rank him.
    HardRule.CHOICE: Cohort((mentor("M1"),), (mentee("T1"),), (Ranking("M1", "T1", 1),),
                            rules=Rules(mutual_choice=MutualChoice.MENTEE)),
    HardRule.CONFLICT: Cohort((mentor("M1", organisation="Acme"),), (mentee("T1", avoid_organisations=("Acme",)),)),
    HardRule.BAN: Cohort((mentor("M1"),), (mentee("T1"),), rules=Rules(bans=(("T1", "M1"),))),
    # The programme year: M1 is available only after the intake starts; T1 and M1 met in an earlier round.
    HardRule.AVAILABILITY: Cohort((replace(mentor("M1"), available_until=date(2026, 3, 31)),), (mentee("T1"),),
                                  rules=Rules(intake=Intake(start_date=date(2026, 4, 15)))),
    HardRule.REPEAT: Cohort((mentor("M1"),), (mentee("T1"),), history=(
        HistoryEntry("T1", "M1", date(2025, 10, 1), date(2026, 3, 31), Outcome.COMPLETED),)),
}


@pytest.mark.parametrize("rule", list(HardRule), ids=lambda r: r.value)
def test_a_forbidden_pair_names_exactly_its_failing_rule(rule: HardRule) -> None:
    verdict = why_not(FORBIDDEN[rule], "T1", "M1")
    assert not verdict.allowed
    assert verdict.failed_rules == (rule,)
    assert [c.rule for c in verdict.checks] == list(HardRule)
    assert [c.rule for c in verdict.checks if not c.passed] == [rule]
    failing = next(c for c in verdict.checks if c.rule is rule)
    assert failing.shortfall is not None and failing.facts
    assert verdict.forced is None and verdict.forcing_cost is None
    assert rule.value in verdict.sentence


def test_several_failing_rules_with_their_facts() -> None:
    cohort = Cohort((mentor("M1", km_north=33.2, occupations=("2511",), languages=(("da", 5),)),),
                    (mentee("T1", occupations=("2512",)),), rules=Rules(field_depth=4))
    verdict = why_not(cohort, "T1", "M1")
    assert verdict.failed_rules == (HardRule.FIELD, HardRule.DISTANCE, HardRule.LANGUAGE)
    checks = {c.rule: c for c in verdict.checks}
    distance = checks[HardRule.DISTANCE]
    assert distance.shortfall is not None and distance.shortfall.amount == pytest.approx(3.2, abs=0.01)
    assert "33.2 km" in distance.facts[0] and "limit 30.0 km" in distance.facts[0]
    assert checks[HardRule.FIELD].facts[0] == "mentee seeks 2512; mentor works in 2511"
    field = checks[HardRule.FIELD].shortfall
    assert field is not None and field.amount == 1
    assert "mentee speaks en B2; mentor speaks da C1" in checks[HardRule.LANGUAGE].facts
    # The soft terms are still explained, so a coordinator sees what the pair would be worth.
    assert not verdict.explanation.allowed and verdict.explanation.score >= 0


def test_already_matched_together() -> None:
    verdict = why_not(Cohort((mentor("M1"),), (mentee("T1"),)), "T1", "M1")
    assert verdict.allowed and verdict.already_matched
    assert verdict.forced is None and verdict.forcing_cost is None
    assert "already matched" in verdict.sentence


def test_forcing_an_allowed_pair_reports_cost_and_changed_pairs() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2", km_north=10)), (mentee("T1"), mentee("T2", km_north=12)),
                    rankings=(Ranking("T1", "M1", 1),))
    verdict = why_not(cohort, "T1", "M2")
    assert verdict.allowed and not verdict.already_matched
    assert (verdict.mentee_partner, verdict.mentor_mentees) == ("M1", ("T2",))
    forced = verdict.forced
    assert forced is not None and forced.status is SolveStatus.OPTIMAL
    assert forced.pairs_removed == (("T1", "M1"), ("T2", "M2"))
    assert forced.pairs_added == (("T1", "M2"), ("T2", "M1"))
    assert verdict.forcing_cost is not None and verdict.forcing_cost > 0
    assert forced.objective_change is not None and verdict.forcing_cost == -forced.objective_change


def test_forcing_replaces_the_mentees_own_pin_and_reports_infeasible_pins() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2")), (mentee("T1"), mentee("T2")), rules=Rules(pins=(("T1", "M1"),)))
    moved = why_not(cohort, "T1", "M2")
    assert moved.forced is not None and moved.forced.pairs_added
    # M1's only place is pinned to T1: forcing T2 there leaves no valid matching.
    blocked = why_not(cohort, "T2", "M1")
    assert blocked.allowed and blocked.forced is not None
    assert blocked.forced.status is SolveStatus.INFEASIBLE and blocked.forcing_cost is None
    assert "M1's capacity (1) is taken by pinned mentee(s) T1" in blocked.sentence


def test_unknown_ids_are_problems_with_codes() -> None:
    with pytest.raises(CohortInvalid) as raised:
        why_not(Cohort((mentor("M1"),), (mentee("T1"),)), "T9", "M9")
    assert [(p.code, p.path) for p in raised.value.problems] == [
        (ProblemCode.UNKNOWN_ID, "mentee_id"), (ProblemCode.UNKNOWN_ID, "mentor_id")]


# Forcing cost against a brute force -------------------------------------------------------------------


@st.composite
def cohorts(draw: st.DrawFn) -> Cohort:
    n_mentors, n_mentees = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    mentors = tuple(mentor(f"M{j}", km_north=draw(st.floats(0, 35)), occupations=(draw(st.sampled_from(
        ("2511", "2512", "2611"))),), capacity=draw(st.integers(0, 2)), years_experience=draw(st.integers(0, 20)),
        leadership=draw(st.booleans())) for j in range(n_mentors))
    mentees = tuple(mentee(f"T{i}", km_north=draw(st.floats(0, 35)), occupations=(draw(st.sampled_from(
        ("2511", "2512", "2611"))),), priority=draw(st.sampled_from((1, 1, 2)))) for i in range(n_mentees))
    rankings = tuple(Ranking(t.id, m.id, draw(st.integers(1, 3))) for t in mentees for m in mentors
                     if draw(st.booleans()))
    # Seat costs as by default (100), off, and small enough that a second seat can beat a free mentor.
    return Cohort(mentors, mentees, rankings, rules=Rules(extra_seat_cost=draw(st.sampled_from((100, 100, 0, 15)))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cohorts(), st.data())
def test_forcing_cost_is_exactly_the_objective_lost(cohort: Cohort, data: st.DataObject) -> None:
    candidates = candidate_pairs(cohort)
    result = solve(candidates, SolveOptions(alternatives=1))
    assert result.best is not None
    # The README's objective, from its own rules: big x matched priority + total score - seat cost.
    oracle = RulesOracle(cohort)
    allowed = sorted(oracle.pairs)

    def value(matching: Iterable[Pair]) -> int:
        return oracle.parts(matching).value

    matchings = list(valid_matchings(cohort, allowed))
    best = max(value(m) for m in matchings)
    assert result.best.objective.value == best
    # Forcing an unmatched mentee in costs exactly the best matching that includes her.
    explained = explain(result, ExplainOptions(max_people=3, values_per_relaxation=0))
    for person in explained.matchings[0].unmatched_mentees:
        if person.forced_in is not None:
            with_her = [value(m) for m in matchings if any(t == person.person_id for t, _ in m)]
            assert person.forced_in.objective_after == max(with_her)
            assert person.forced_in.person_matched
    chosen = set(result.best.pairs(result.candidates))
    others = [p for p in allowed if p not in chosen and next(m for m in cohort.mentors if m.id == p[1]).capacity > 0]
    if not others:
        return
    mentee_id, mentor_id = data.draw(st.sampled_from(others))
    verdict = why_not(cohort, mentee_id, mentor_id, result=result)
    assert verdict.allowed and not verdict.already_matched
    best_with_pair = max(value(m) for m in matchings if (mentee_id, mentor_id) in m)
    assert verdict.forcing_cost == best - best_with_pair
    assert verdict.forced is not None
    assert verdict.forced.objective_after == best_with_pair
    assert ((mentee_id, mentor_id) in verdict.forced.pairs_added)


# Command line -----------------------------------------------------------------------------------------


def test_why_not_command(tmp_path: Path) -> None:
    from server import cli, cli_explain
    from solver.ingest import write_cohort_dir

    cli_explain.register(cli.app)
    directory = write_cohort_dir(FORBIDDEN[HardRule.DISTANCE], tmp_path / "cohort")
    runner = CliRunner()
    run = runner.invoke(cli.app, ["why-not", str(directory), "T1", "M1", "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert (data["allowed"], data["failed_rules"]) == (False, ["DISTANCE"])
    assert next(c for c in data["checks"] if c["rule"] == "DISTANCE")["shortfall"]["unit"] == "km"
    text = runner.invoke(cli.app, ["why-not", str(directory), "T1", "M1"])
    assert text.exit_code == 0 and "forbidden" in text.output and "DISTANCE" in text.output
    missing = runner.invoke(cli.app, ["why-not", str(directory), "T1", "NOBODY"])
    assert missing.exit_code == cli.EXIT_INVALID

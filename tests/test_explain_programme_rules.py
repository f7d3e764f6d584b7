"""Explanations of issue 15's rules: each rule named where it decides, each counterfactual verified by re-solving,
the binding cap or quota named with its smallest raise, and an INFEASIBLE answer diagnosed against brute force."""

from __future__ import annotations

import itertools
import json
import random
import re
from dataclasses import replace

import pytest

from solver.candidates import HardRule
from solver.domain import Cohort, GenderQuota, Goal, MutualChoice, Ranking, Rules, Segment
from solver.explain import (
    ExplainOptions,
    Relaxation,
    UnmatchedExplanation,
    UnmatchedReason,
    apply_relaxation,
    explain,
    why_not,
)
from solver.infeasibility import diagnose_infeasible
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveResult, SolveStatus, solve
from solver.stability import blocking_pairs
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS, mentee, mentor

ONE = SolveOptions(alternatives=1)


def unmatched(cohort: Cohort, person_id: str = "T1") -> UnmatchedExplanation:
    result = solve(cohort, ONE)
    best = explain(result, ExplainOptions()).matchings[0]
    return next(u for u in (*best.unmatched_mentees, *best.mentors_without_mentee) if u.person_id == person_id)


def matched(cohort: Cohort, person_id: str) -> bool:
    result = solve(cohort, ONE)
    return result.best is not None and any(person_id in pair for pair in result.best.pairs(result.candidates))


def allowed_partners(cohort: Cohort, mentee_id: str) -> set[str]:
    candidates = candidate_pairs(cohort.canonical())
    people = candidates.cohort
    return {people.mentors[b].id for a, b in zip(candidates.mentee.tolist(), candidates.mentor.tolist(), strict=True)
            if people.mentees[a].id == mentee_id}


# One minimal cohort per rule of issue 15: T1 is unmatched because of it, and one change of it matches her. --------

SOCIAL = Segment("social", goals=(Goal.SOCIAL_NETWORK,), mentor_goals=(Goal.SOCIAL_NETWORK,))
RULE_CASES: dict[Relaxation, tuple[Cohort, HardRule | None, str, str]] = {
    # (cohort, the rule the why-not names, a phrase the unmatched reason's message holds, the value proposed)
    Relaxation.ONLINE_MEETINGS: (Cohort((mentor("M1", km_north=100, online=True),), (mentee("T1", online=True),)),
                                 HardRule.DISTANCE, "within reach", "true"),
    Relaxation.ACCEPT_ONLINE: (Cohort((mentor("M1", km_north=100, online=True),), (mentee("T1"),),
                                      rules=Rules(online_meetings=True)),
                               HardRule.DISTANCE, "she does not accept online meetings", "true"),
    Relaxation.EXTEND_PERSONAL_LIMITS: (Cohort((mentor("M1", km_north=100),), (mentee("T1", max_travel_km=120.0),)),
                                       HardRule.DISTANCE, "within reach (30.0 km)", "true"),
    Relaxation.FIELD_FAMILY: (Cohort((mentor("M1", occupations=("3512",)),), (mentee("T1", occupations=("2512",)),),
                                     rules=Rules(field_depth=2)),
                              HardRule.FIELD, "shares the field at 2 ISCO digit(s)", "family"),
    Relaxation.PROGRAMME_LANGUAGE: (Cohort((mentor("M1", languages=(("ar", 6), ("da", 6), ("en", 5))),),
                                           (mentee("T1", languages=(("ar", 6), ("en", 2))),),
                                           rules=Rules(programme_languages=("da", "en"), min_language_level=3)),
                                    HardRule.LANGUAGE, "among the programme languages da, en", "ar"),
    Relaxation.ADD_MENTOR_GOAL: (Cohort((mentor("M1", goals=(Goal.JOB,)),), (mentee("T1", goal=Goal.SOCIAL_NETWORK),),
                                        rules=Rules(segments=(SOCIAL,))),
                                 HardRule.GOAL, "takes only mentors supporting social_network", "social_network"),
    Relaxation.MUTUAL_CHOICE: (Cohort((mentor("M1"),), (mentee("T1"),), (Ranking("T1", "M1", 1),),
                                      rules=Rules(mutual_choice=MutualChoice.BOTH)),
                               HardRule.CHOICE, "mutual choice 'both'", "mentee"),
    Relaxation.ORGANISATION_CAP: (Cohort((mentor("M1", organisation="IDA"), mentor("M2", organisation="IDA", km_north=2)),
                                         (mentee("T0"), mentee("T1", km_north=2)),
                                         rules=Rules(organisation_caps=(("IDA", 1),))),
                                  None, "the organisation cap of IDA (1 mentee(s)) is reached", "2"),
    Relaxation.GENDER_QUOTA_MAX: (Cohort((mentor("M1", gender="m"), mentor("M2", gender="m", km_north=2)),
                                         (mentee("T0", priority=2), mentee("T1", km_north=2)),
                                         rules=Rules(gender_quotas=(GenderQuota("m", 0, 1),))),
                                  None, "the gender quota m max_pairs 1 is reached", "2"),
}


@pytest.mark.parametrize("relaxation", list(RULE_CASES), ids=lambda r: r.value)
def test_each_new_rule_is_named_and_its_counterfactual_verified_by_re_solving(relaxation: Relaxation) -> None:
    cohort, rule, phrase, proposed = RULE_CASES[relaxation]
    assert not matched(cohort, "T1")
    explained = unmatched(cohort)
    reason = explained.reasons[0]
    assert phrase in reason.message
    if rule is None:
        assert reason.code is UnmatchedReason.SIDE_CONSTRAINTS
    else:
        assert reason.rule is rule and explained.funnel.ends_at is rule
        verdict = why_not(cohort, "T1", "M1")
        assert verdict.failed_rules == (rule,)
        assert verdict.sentence.startswith(f"T1 and M1 cannot be matched: {rule.value}: ")
    cf = next(c for c in explained.counterfactuals if c.relaxation is relaxation)
    assert cf.rule is rule and cf.proposed == proposed == cf.matchable_at
    assert cf.person_matched and cf.effect is not None and cf.effect.person_matched
    relaxed = cf.apply(cohort)
    assert matched(relaxed, "T1")  # an independent re-solve of exactly the cohort the counterfactual names
    if rule is not None:
        assert set(cf.new_partners) <= allowed_partners(relaxed, "T1") - allowed_partners(cohort, "T1")


def test_the_why_not_of_each_new_rule_says_precisely_what_fails() -> None:
    details = {relaxation: why_not(cohort, "T1", "M1").checks
               for relaxation, (cohort, rule, _, _) in RULE_CASES.items() if rule is not None}
    def failed(relaxation: Relaxation) -> str:
        return next(c.shortfall.detail for c in details[relaxation] if c.shortfall is not None)

    assert failed(Relaxation.ADD_MENTOR_GOAL) == "mentor supports job, segment 'social' needs social_network"
    assert failed(Relaxation.MUTUAL_CHOICE) == ("mutual choice 'both' needs each to rank the other; mentee ranked the "
                                                "mentor 1st, mentor did not rank the mentee")
    assert failed(Relaxation.PROGRAMME_LANGUAGE) == ("best common programme language en at A2, B1 required; they "
                                                     "share ar at C2, not a programme language")
    assert failed(Relaxation.FIELD_FAMILY) == "0 ISCO digit(s) in common, 2 required"
    conflict = Cohort((mentor("M1", organisation="Acme"),), (mentee("T1", avoid_organisations=("Acme",)),))
    verdict = why_not(conflict, "T1", "M1")
    assert verdict.failed_rules == (HardRule.CONFLICT,)
    assert verdict.sentence == ("T1 and M1 cannot be matched: CONFLICT: mentor works for Acme, which T1 must avoid "
                                "(a conflict of interest).")
    online = next(c for c in why_not(RULE_CASES[Relaxation.ONLINE_MEETINGS][0], "T1", "M1").checks
                  if c.rule is HardRule.DISTANCE)
    assert "both accept online meetings, but the rules do not allow them" in online.facts


def test_a_conflict_of_interest_is_explained_but_never_proposed_for_lifting() -> None:
    cohort = Cohort((mentor("M1", organisation="Acme"),), (mentee("T1", avoid_organisations=("Acme",)),))
    explained = unmatched(cohort)
    assert explained.reasons[0].code is UnmatchedReason.CONFLICT_OF_INTEREST
    assert "must avoid (Acme)" in explained.reasons[0].message
    assert explained.counterfactuals == ()
    assert any("never proposed for lifting" in note for note in explained.notes)
    mentor_side = unmatched(cohort, "M1")
    assert mentor_side.reasons[0].code is UnmatchedReason.CONFLICT_OF_INTEREST
    assert "must avoid the mentor's organisation Acme" in mentor_side.reasons[0].message


def test_a_segment_rule_is_relaxed_in_the_segment_not_the_programme() -> None:
    # T1 lives in Aarhus (751), whose segment has a 35 km limit; the programme's 30 km is not hers.
    cohort = Cohort((mentor("M1", km_north=40),), (mentee("T1", municipality="751"),),
                    rules=Rules(segments=(Segment("aarhus", municipalities=("751",), max_distance_km=35.0),)))
    explained = unmatched(cohort)
    assert explained.reasons[0].message.endswith("(35.0 km) (her segment 'aarhus')")
    cf = next(c for c in explained.counterfactuals if c.relaxation is Relaxation.PROGRAMME_DISTANCE_KM)
    assert (cf.subject_id, cf.current, cf.proposed) == ("aarhus", "35.0", "40.0")
    assert cf.sentence.startswith("raise segment aarhus's distance limit from 35.0 km to 40.0 km")
    relaxed = cf.apply(cohort)
    assert relaxed.rules.max_distance_km == 30.0 and relaxed.rules.segments[0].max_distance_km == 40.0
    assert matched(relaxed, "T1")


def test_mutual_choice_is_relaxed_step_by_step_from_the_smallest_change() -> None:
    # Neither ranked the other: only "none" allows the pair; from "both" with the mentee's ranking, "mentee" does.
    ranked_by_none = Cohort((mentor("M1"),), (mentee("T1"),), rules=Rules(mutual_choice=MutualChoice.EITHER))
    cf = next(c for c in unmatched(ranked_by_none).counterfactuals if c.relaxation is Relaxation.MUTUAL_CHOICE)
    assert (cf.current, cf.proposed) == ("either", "none")
    cohort = RULE_CASES[Relaxation.MUTUAL_CHOICE][0]
    cf = next(c for c in unmatched(cohort).counterfactuals if c.relaxation is Relaxation.MUTUAL_CHOICE)
    assert (cf.current, cf.proposed) == ("both", "mentee")
    assert cf.sentence.startswith("relax the programme's mutual choice from both to mentee")


# Organisation caps and gender quotas: the binding one named, the smallest raise verified -------------------------


def _career_like(seed: int) -> Cohort:
    """Six students, four mentors of two organisations (one capped at 1) and one free mentor far away."""
    rng = random.Random(seed)
    mentors = tuple(mentor(f"M{k}", km_north=rng.uniform(0, 3), organisation="IDA" if k < 3 else "Perspectiv",
                           occupations=("2144",) if k < 3 else ("2512",), capacity=1) for k in range(4))
    mentees = tuple(mentee(f"T{k}", km_north=rng.uniform(0, 3), occupations=("2144",) if k < 4 else ("2512",))
                    for k in range(6))
    return Cohort(mentors, mentees, rules=Rules(organisation_caps=(("IDA", 1),)))


@pytest.mark.parametrize("seed", range(4))
def test_the_binding_cap_is_named_and_its_smallest_raise_verified_by_re_solve(seed: int) -> None:
    cohort = _career_like(seed)
    result = solve(cohort, ONE)
    best = explain(result, ExplainOptions()).matchings[0]
    side = [u for u in best.unmatched_mentees if u.reasons[0].code is UnmatchedReason.SIDE_CONSTRAINTS]
    assert side, "the IDA cap leaves engineering students without a mentor although IDA mentors have room"
    for person in side:
        assert "the organisation cap of IDA (1 mentee(s)) is reached" in person.reasons[0].message
        cf = next(c for c in person.counterfactuals if c.relaxation is Relaxation.ORGANISATION_CAP)
        assert cf.subject_id == "IDA" and cf.current == "1"
        assert matched(cf.apply(cohort), person.person_id) is cf.person_matched
        if cf.person_matched:  # the smallest raise: one less leaves her out
            smaller = apply_relaxation(cohort, Relaxation.ORGANISATION_CAP, "IDA", str(int(cf.proposed) - 1))
            assert not matched(smaller, person.person_id)


def test_the_binding_quota_is_named_for_a_mentor_left_without_a_mentee() -> None:
    cohort = RULE_CASES[Relaxation.GENDER_QUOTA_MAX][0]
    result = solve(cohort, ONE)
    idle = explain(result, ExplainOptions()).matchings[0].mentors_without_mentee
    assert [u.person_id for u in idle] == ["M2"]
    assert idle[0].reasons[0].code is UnmatchedReason.SIDE_CONSTRAINTS
    assert "the gender quota m max_pairs 1 is reached (it keeps T1)" in idle[0].reasons[0].message
    cf = next(c for c in idle[0].counterfactuals if c.relaxation is Relaxation.GENDER_QUOTA_MAX)
    assert cf.person_matched and matched(cf.apply(cohort), "M2")


# INFEASIBLE: which constraints cannot hold, and what is attainable, against brute force ---------------------------


def _valid_matchings(result: SolveResult) -> list[list[int]]:
    """Every set of candidate rows that keeps capacities and pins: brute force over all subsets."""
    model = result.model
    rows = range(model.n_rows)
    out = []
    for size in range(len(rows) + 1):
        for chosen in itertools.combinations(rows, size):
            mentees = [int(model.mentee[r]) for r in chosen]
            load: dict[int, int] = {}
            for r in chosen:
                load[int(model.mentor[r])] = load.get(int(model.mentor[r]), 0) + 1
            if (len(set(mentees)) == len(mentees) and all(n <= model.capacity[b] for b, n in load.items())
                    and set(model.pinned_rows.tolist()) <= set(chosen)):
                out.append(list(chosen))
    return out


def _tiny(seed: int, mentees_n: int = 4) -> Cohort:
    rng = random.Random(seed)
    mentors = tuple(mentor(f"M{k}", km_north=rng.uniform(0, 40), gender=rng.choice("fm"),
                           organisation=rng.choice(("A", "B")), capacity=rng.choice((1, 1, 2))) for k in range(3))
    mentees = tuple(mentee(f"T{k}", km_north=rng.uniform(0, 40)) for k in range(mentees_n))
    return Cohort(mentors, mentees)


@pytest.mark.parametrize("seed", range(12))
def test_an_unreachable_quota_floor_is_diagnosed_with_the_exact_attainable_count(seed: int) -> None:
    base = _tiny(seed)
    matchings = _valid_matchings(solve(base, ONE))
    result = solve(base, ONE)
    women = [sum(1 for r in rows if base.canonical().mentors[int(result.model.mentor[r])].gender == "f")
             for rows in matchings]
    most = max(women)
    cohort = replace(base, rules=replace(base.rules, gender_quotas=(GenderQuota("f", min_pairs=most + 1),)))
    answer = solve(cohort, ONE)
    assert answer.status is SolveStatus.INFEASIBLE
    notes = diagnose_infeasible(answer.model, stable=False)
    assert notes[0] == f"no matching meets every rule: the gender quota f min_pairs {most + 1} cannot be met"
    assert (f"the gender quota f min_pairs {most + 1} cannot be met: at most {most} pair(s) with a mentor of gender "
            f"f are possible under the other rules") in notes


@pytest.mark.parametrize("seed", range(16))
def test_two_floors_that_cannot_both_hold_are_each_given_what_the_other_allows(seed: int) -> None:
    # Two quotas (CP-SAT's case): each note's number is brute force's best under the other quota.
    base = _tiny(seed, mentees_n=2).canonical()
    result = solve(base, ONE)
    genders = [base.mentors[int(result.model.mentor[r])].gender for r in range(result.model.n_rows)]
    counts = [(sum(genders[r] == "f" for r in rows), sum(genders[r] == "m" for r in rows))
              for rows in _valid_matchings(result)]
    most_f, most_m = max(f for f, _ in counts), max(m for _, m in counts)
    if most_f == 0 or most_m == 0 or any(f == most_f and m == most_m for f, m in counts):
        pytest.skip("the two floors can both be at their most: no conflict to diagnose")
    cohort = replace(base, rules=replace(base.rules, gender_quotas=(GenderQuota("f", min_pairs=most_f),
                                                                    GenderQuota("m", min_pairs=most_m))))
    answer = solve(cohort, ONE)
    assert answer.status is SolveStatus.INFEASIBLE
    notes = diagnose_infeasible(answer.model, stable=False)
    assert notes[0] == (f"no matching meets every rule: the gender quota f min_pairs {most_f} and the gender quota m "
                        f"min_pairs {most_m} cannot all hold together")
    f_given_m = max(f for f, m in counts if m >= most_m)
    m_given_f = max(m for f, m in counts if f >= most_f)
    assert (f"the gender quota f min_pairs {most_f} cannot be met: at most {f_given_m} pair(s) with a mentor of "
            f"gender f are possible under the other rules (the gender quota m min_pairs {most_m} among them)") in notes
    assert (f"the gender quota m min_pairs {most_m} cannot be met: at most {m_given_f} pair(s) with a mentor of "
            f"gender m are possible under the other rules (the gender quota f min_pairs {most_f} among them)") in notes


@pytest.mark.parametrize("seed", range(12))
def test_a_cap_broken_by_pins_and_a_floor_is_diagnosed_against_brute_force(seed: int) -> None:
    base = _tiny(seed).canonical()
    result = solve(base, ONE)
    rows = result.candidates
    if len(rows.mentee) < 2:
        pytest.skip("too few allowed pairs to pin")
    # Pin two pairs of different mentees and cap their mentors' organisation below what the pins need.
    model = result.model
    first = 0
    second = next((r for r in range(model.n_rows) if model.mentee[r] != model.mentee[first]
                   and (model.mentor[r] != model.mentor[first] or model.capacity[model.mentor[r]] > 1)), None)
    if second is None:
        pytest.skip("no second pin possible")
    pins = tuple((base.mentees[int(model.mentee[r])].id, base.mentors[int(model.mentor[r])].id)
                 for r in (first, second))
    org = base.mentors[int(model.mentor[first])].organisation
    cohort = replace(base, rules=replace(base.rules, pins=pins, organisation_caps=((org, 0),)))
    answer = solve(cohort, ONE)
    assert answer.status is SolveStatus.INFEASIBLE
    notes = diagnose_infeasible(answer.model, stable=False)
    forced = min(sum(1 for r in chosen if base.mentors[int(answer.model.mentor[r])].organisation == org)
                 for chosen in _valid_matchings(answer))
    assert forced >= 1
    assert any(f"the organisation cap of {org} (0) cannot be met: at least {forced} mentee(s) must be matched to its "
               f"mentors" in note for note in notes), notes


def test_no_stable_matching_under_a_pin_gives_the_fewest_blocking_pairs_of_brute_force() -> None:
    # T1 and M1 rank each other first, but T2 is pinned to M1: the pair T1-M1 blocks every matching with the pin.
    cohort = Cohort((mentor("M1"), mentor("M2", km_north=1)), (mentee("T1"), mentee("T2", km_north=1)),
                    (Ranking("T1", "M1", 1), Ranking("M1", "T1", 1), Ranking("T2", "M1", 1), Ranking("M1", "T2", 2),
                     Ranking("T1", "M2", 2), Ranking("M2", "T1", 1)),
                    rules=Rules(pins=(("T2", "M1"),)))
    answer = solve(cohort, SolveOptions(alternatives=1, stable=True))
    assert answer.status is SolveStatus.INFEASIBLE
    fewest = min(len(blocking_pairs(answer.candidates, rows)) for rows in _valid_matchings(answer))
    notes = diagnose_infeasible(answer.model, stable=True)
    assert notes[0] == "no matching meets every rule: the pin T2-M1 and stability cannot all hold together"
    assert "without the pin T2-M1 every other rule can hold" in notes
    assert any(note.startswith(f"no stable matching exists under the other rules (the pin T2-M1 among them): every "
                               f"matching has at least {fewest} blocking pair(s)") for note in notes)


def test_stable_infeasible_says_why_without_explain(tmp_path) -> None:
    lyngby = SCENARIOS / "lyngby_career"
    table = run_cli("solve", lyngby, "--stable")
    assert table.returncode == 0, table.stderr
    assert "cannot all hold" in table.stdout and "stability" in table.stdout
    data = json.loads(run_cli("solve", lyngby, "--stable", "--json").stdout)
    assert data["status"] == "SOLVE_STATUS_INFEASIBLE"
    assert any(re.match(r"no matching meets every rule: the pin \S+ and stability cannot all hold together", note)
               for note in data["notes"])
    assert any("every matching has at least" in note for note in data["notes"])

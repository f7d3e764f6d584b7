"""Explanations: reason codes on minimal cohorts, pair facts, funnels, nearest misses, counterfactuals, recruitment."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from solver.candidates import KM_PER_DEGREE, HardRule, haversine_km
from solver.domain import (
    Cohort,
    Goal,
    HistoryEntry,
    Intake,
    Language,
    Mentor,
    MutualChoice,
    Outcome,
    Ranking,
    Rules,
    Segment,
    Track,
    TravelTime,
)
from solver.explain import (
    ExplainOptions,
    Relaxation,
    Side,
    UnmatchedExplanation,
    UnmatchedReason,
    apply_relaxation,
    explain,
    explain_pair,
    recruitment_advice,
)
from solver.scores import candidate_pairs
from solver.solve import SolveOptions, SolveResult, solve
from tests.conftest import LAT, LON, mentee, mentor
from tests.rules_oracle import HARD_RULES, failed_rules

ONE = SolveOptions(alternatives=1)


def person(result: SolveResult, side: Side, person_id: str, options: ExplainOptions | None = None
           ) -> UnmatchedExplanation:
    explained = explain(result, options or ExplainOptions())
    best = explained.matchings[0]
    people = best.unmatched_mentees if side is Side.MENTEE else best.mentors_without_mentee
    return next(p for p in people if p.person_id == person_id)


def matched_ids(cohort: Cohort) -> set[str]:
    result = solve(cohort, ONE)
    assert result.best is not None
    return {x for pair in result.best.pairs(result.candidates) for x in pair}


# Reason codes: one minimal cohort each ----------------------------------------------------------------

# The rules of issue 15 that end a funnel, on both sides (one mentee, one mentor).
GOAL_UNMET = Cohort((mentor("M1", goals=(Goal.JOB,)),), (mentee("T1", goal=Goal.SOCIAL_NETWORK),), rules=Rules(
    segments=(Segment("social", goals=(Goal.SOCIAL_NETWORK,), mentor_goals=(Goal.SOCIAL_NETWORK,)),)))
NOT_RANKED_BY_BOTH = Cohort((mentor("M1"),), (mentee("T1"),), (Ranking("M1", "T1", 1),),
                            rules=Rules(mutual_choice=MutualChoice.BOTH))
SPOUSES_EMPLOYER = Cohort((mentor("M1", organisation="Acme"),), (mentee("T1", avoid_organisations=("Acme",)),))
# The programme year: a mentor available only after the intake starts; a pair that met in an earlier round.
NOT_YET_AVAILABLE = Cohort((replace(mentor("M1"), available_from=date(2026, 5, 1)),), (mentee("T1"),),
                           rules=Rules(intake=Intake(start_date=date(2026, 4, 15))))
MET_BEFORE = Cohort((mentor("M1"),), (mentee("T1"),), history=(
    HistoryEntry("T1", "M1", date(2026, 1, 15), date(2026, 3, 31), Outcome.DROPPED_OUT),))

REASON_CASES: dict[UnmatchedReason, tuple[Side, str, Cohort]] = {
    UnmatchedReason.NOT_ELIGIBLE: (Side.MENTEE, "T1", Cohort(
        (mentor("M1"),), (mentee("T1", municipality="147"),), rules=Rules(eligible_municipalities=("101",)))),
    UnmatchedReason.NO_SHARED_FIELD: (Side.MENTEE, "T1", Cohort(
        (mentor("M1"),), (mentee("T1", occupations=("7111",)),))),
    UnmatchedReason.NO_MENTOR_WITHIN_DISTANCE: (Side.MENTEE, "T1", Cohort(
        (mentor("M1"),), (mentee("T1", km_north=40),))),
    UnmatchedReason.NO_COMMON_LANGUAGE: (Side.MENTEE, "T1", Cohort(
        (mentor("M1"),), (mentee("T1", languages=(("da", 5),)),))),
    UnmatchedReason.GENDER_REQUEST_UNMET: (Side.MENTEE, "T1", Cohort(
        (mentor("M1", gender="m"),), (mentee("T1", requested_mentor_gender="f"),))),
    UnmatchedReason.ALL_BANNED: (Side.MENTEE, "T1", Cohort(
        (mentor("M1"),), (mentee("T1"),), rules=Rules(bans=(("T1", "M1"),)))),
    UnmatchedReason.NO_MENTOR_CAPACITY: (Side.MENTEE, "T1", Cohort(
        (mentor("M1", capacity=0),), (mentee("T1"),))),
    UnmatchedReason.CANDIDATES_ALL_TAKEN: (Side.MENTEE, "T2", Cohort(
        (mentor("M1"),), (mentee("T1", km_north=1), mentee("T2", km_north=5)))),
    UnmatchedReason.SIDE_CONSTRAINTS: (Side.MENTEE, "T1", Cohort(
        (mentor("M1", organisation="acme"),), (mentee("T1"),), rules=Rules(organisation_caps=(("acme", 0),)))),
    UnmatchedReason.NO_MENTORS: (Side.MENTEE, "T1", Cohort((), (mentee("T1"),))),
    UnmatchedReason.NO_MENTEES: (Side.MENTOR, "M1", Cohort((mentor("M1"),), ())),
    UnmatchedReason.NO_CAPACITY: (Side.MENTOR, "M1", Cohort((mentor("M1", capacity=0),), (mentee("T1"),))),
    UnmatchedReason.NO_MENTEE_IN_FIELD: (Side.MENTOR, "M1", Cohort(
        (mentor("M1", occupations=("7111",)),), (mentee("T1"),))),
    UnmatchedReason.NO_MENTEE_WITHIN_DISTANCE: (Side.MENTOR, "M1", Cohort(
        (mentor("M1", km_north=45),), (mentee("T1"),))),
    UnmatchedReason.NO_MENTEE_WITH_COMMON_LANGUAGE: (Side.MENTOR, "M1", Cohort(
        (mentor("M1", languages=(("da", 6),)),), (mentee("T1"),))),
    UnmatchedReason.NO_MENTEE_ACCEPTS_GENDER: (Side.MENTOR, "M1", Cohort(
        (mentor("M1", gender="m"),), (mentee("T1", requested_mentor_gender="f"),))),
    UnmatchedReason.MENTEES_ALL_TAKEN: (Side.MENTOR, "M2", Cohort(
        (mentor("M1", km_north=1), mentor("M2", km_north=6)), (mentee("T1"),))),
    UnmatchedReason.NO_PARTNER_FOR_GOAL: (Side.MENTEE, "T1", GOAL_UNMET),
    UnmatchedReason.NOT_CHOSEN: (Side.MENTEE, "T1", NOT_RANKED_BY_BOTH),
    UnmatchedReason.CONFLICT_OF_INTEREST: (Side.MENTEE, "T1", SPOUSES_EMPLOYER),
    UnmatchedReason.NOT_AVAILABLE: (Side.MENTEE, "T1", NOT_YET_AVAILABLE),
    UnmatchedReason.PAIR_MET_BEFORE: (Side.MENTEE, "T1", MET_BEFORE),
}
# The same shared codes on the mentor side.
MENTOR_SHARED_CASES: dict[UnmatchedReason, Cohort] = {
    UnmatchedReason.NOT_ELIGIBLE: Cohort((mentor("M1", years_experience=2),), (mentee("T1"),),
                                         rules=Rules(min_mentor_years=5)),
    UnmatchedReason.ALL_BANNED: Cohort((mentor("M1"),), (mentee("T1"),), rules=Rules(bans=(("T1", "M1"),))),
    UnmatchedReason.SIDE_CONSTRAINTS: Cohort((mentor("M1", organisation="acme"),), (mentee("T1"),),
                                             rules=Rules(organisation_caps=(("acme", 0),))),
    UnmatchedReason.NO_PARTNER_FOR_GOAL: GOAL_UNMET,
    UnmatchedReason.NOT_CHOSEN: NOT_RANKED_BY_BOTH,
    UnmatchedReason.CONFLICT_OF_INTEREST: SPOUSES_EMPLOYER,
    UnmatchedReason.NOT_AVAILABLE: NOT_YET_AVAILABLE,
    UnmatchedReason.PAIR_MET_BEFORE: MET_BEFORE,
}


def test_every_reason_code_has_a_minimal_cohort() -> None:
    assert set(REASON_CASES) == set(UnmatchedReason)


@pytest.mark.parametrize("code", list(REASON_CASES), ids=lambda c: c.value)
def test_minimal_cohort_gives_exactly_its_reason(code: UnmatchedReason) -> None:
    side, person_id, cohort = REASON_CASES[code]
    explained = person(solve(cohort, ONE), side, person_id)
    assert [r.code for r in explained.reasons] == [code]
    assert len(cohort.mentees) + len(cohort.mentors) <= 4


# docs/explanations.md, "Reason codes": where each funnel ends, by side.
FUNNEL_END: dict[UnmatchedReason, str] = {
    UnmatchedReason.NOT_ELIGIBLE: "ELIGIBILITY", UnmatchedReason.NO_SHARED_FIELD: "FIELD",
    UnmatchedReason.NO_MENTOR_WITHIN_DISTANCE: "DISTANCE", UnmatchedReason.NO_COMMON_LANGUAGE: "LANGUAGE",
    UnmatchedReason.GENDER_REQUEST_UNMET: "GENDER", UnmatchedReason.NO_MENTEE_IN_FIELD: "FIELD",
    UnmatchedReason.NO_MENTEE_WITHIN_DISTANCE: "DISTANCE", UnmatchedReason.NO_MENTEE_WITH_COMMON_LANGUAGE: "LANGUAGE",
    UnmatchedReason.NO_MENTEE_ACCEPTS_GENDER: "GENDER", UnmatchedReason.NO_PARTNER_FOR_GOAL: "GOAL",
    UnmatchedReason.NOT_CHOSEN: "CHOICE", UnmatchedReason.CONFLICT_OF_INTEREST: "CONFLICT",
    UnmatchedReason.ALL_BANNED: "BAN", UnmatchedReason.NOT_AVAILABLE: "AVAILABILITY",
    UnmatchedReason.PAIR_MET_BEFORE: "REPEAT",
}
FUNNEL_CASES = [(code, person_id, cohort) for code, (_, person_id, cohort) in REASON_CASES.items() if code in FUNNEL_END] \
    + [(code, "M1", cohort) for code, cohort in MENTOR_SHARED_CASES.items() if code in FUNNEL_END]


@pytest.mark.parametrize(("code", "person_id", "cohort"), FUNNEL_CASES, ids=lambda v: getattr(v, "value", None))
def test_the_independent_oracle_ends_each_minimal_funnel_at_the_same_rule(code: UnmatchedReason, person_id: str,
                                                                           cohort: Cohort) -> None:
    """tests/rules_oracle.py, written from the README alone, forbids every pair of the person, and the funnel (each
    partner removed by the first rule it fails, in the README's order) ends at the rule of the code."""
    pairs = [(a, b) for a in cohort.mentees for b in cohort.mentors if person_id in (a.id, b.id)]
    first_failed = [failed_rules(cohort, a, b) for a, b in pairs]
    assert pairs and all(first_failed)
    assert HARD_RULES[max(HARD_RULES.index(failed[0]) for failed in first_failed)] == FUNNEL_END[code]


@pytest.mark.parametrize("code", list(MENTOR_SHARED_CASES), ids=lambda c: c.value)
def test_shared_codes_on_the_mentor_side(code: UnmatchedReason) -> None:
    explained = person(solve(MENTOR_SHARED_CASES[code], ONE), Side.MENTOR, "M1")
    assert [r.code for r in explained.reasons] == [code]


def test_reason_is_the_rule_where_the_funnel_ends() -> None:
    # Field removes one mentor, distance the other: the funnel ends at DISTANCE.
    cohort = Cohort((mentor("M1", occupations=("7111",)), mentor("M2", km_north=35)), (mentee("T1"),))
    explained = person(solve(cohort, ONE), Side.MENTEE, "T1")
    assert explained.reasons[0].code is UnmatchedReason.NO_MENTOR_WITHIN_DISTANCE
    assert explained.reasons[0].rule is HardRule.DISTANCE
    assert [(s.rule, s.removed, s.remaining) for s in explained.funnel.steps] == [
        (HardRule.ELIGIBILITY, 0, 2), (HardRule.AVAILABILITY, 0, 2), (HardRule.FIELD, 1, 1),
        (HardRule.DISTANCE, 1, 0), (HardRule.LANGUAGE, 0, 0), (HardRule.GENDER, 0, 0), (HardRule.GOAL, 0, 0),
        (HardRule.CHOICE, 0, 0), (HardRule.CONFLICT, 0, 0), (HardRule.REPEAT, 0, 0), (HardRule.BAN, 0, 0)]
    assert explained.funnel.partners == 2 and explained.funnel.allowed == 0


def test_nearest_miss_says_which_rule_and_by_how_much() -> None:
    # M1 is in the field and speaks the language but lies 3.2 km beyond the 30 km limit; M2 fails two rules.
    cohort = Cohort((mentor("M2", km_north=31, languages=(("da", 5),)), mentor("M1", km_north=33.2)),
                    (mentee("T1"),))
    explained = person(solve(cohort, ONE), Side.MENTEE, "T1")
    first = explained.nearest_misses[0]
    assert first.partner_id == "M1"
    assert [s.rule for s in first.failed] == [HardRule.DISTANCE]
    assert first.failed[0].unit == "km"
    assert first.failed[0].amount == pytest.approx(3.2, abs=0.01)
    assert "3.2 km beyond" in first.failed[0].detail
    assert [s.rule for s in explained.nearest_misses[1].failed] == [HardRule.DISTANCE, HardRule.LANGUAGE]


def test_all_taken_says_who_took_the_mentor_and_what_forcing_in_costs() -> None:
    cohort = REASON_CASES[UnmatchedReason.CANDIDATES_ALL_TAKEN][2]
    result = solve(cohort, ONE)
    explained = person(result, Side.MENTEE, "T2")
    assert [(t.partner_id, t.taken_by) for t in explained.taken_by] == [("M1", ("T1",))]
    forced = explained.forced_in
    assert forced is not None and forced.person_matched and forced.partners == ("M1",)
    assert forced.pairs_removed == (("T1", "M1"),) and forced.pairs_added == (("T2", "M1"),)
    assert forced.matched_change == 0
    scores = dict(zip(zip(result.candidates.table["mentee"].to_list(), result.candidates.table["mentor"].to_list(),
                          strict=True), result.candidates.table["score"].to_list(), strict=True))
    assert forced.total_score_change == scores[(1, 0)] - scores[(0, 0)] < 0
    assert forced.objective_change == forced.total_score_change


# Why this pair ----------------------------------------------------------------------------------------


def test_pair_explanation_terms_add_up_with_their_facts() -> None:
    cohort = Cohort(
        (mentor("M1", km_north=12.3, languages=(("en", 5), ("ar", 6)), interests=("chess", "cycling", "golf"),
                markets=("SY",), years_experience=12, leadership=True, goals=(Goal.JOB,), returning=True),),
        (mentee("T1", interests=("cycling", "chess", "yoga"), country_of_origin="SY", first_language="ar",
                goal=Goal.JOB),),
        rankings=(Ranking("T1", "M1", 1), Ranking("M1", "T1", 1)),
    )
    candidates = candidate_pairs(cohort)
    explained = explain_pair(candidates, 0)
    assert explained.score == int(candidates.table["score"][0])
    assert sum(t.points for t in explained.terms) == explained.score
    facts = {t.term.value: t.facts for t in explained.terms}
    assert facts["MUTUAL_RANK"] == ("ranked each other first",)
    assert facts["INTERESTS"] == ("share interests: chess, cycling",)
    assert facts["HOME_MARKET"] == ("mentor knows the SY market",)
    assert facts["FIRST_LANGUAGE"] == ("speaks the mentee's first language ar",)
    assert facts["TRAVEL"] == ("12.3 km from the workplace (limit 30.0 km)",)
    assert facts["GOAL"] == ("mentor supports the goal job",)
    assert facts["SENIORITY"] == ("leadership experience", "12 years of experience")
    assert "ranked each other first (+300)" in explained.sentence
    assert explained.sentence.startswith("T1 and M1 score ")
    points = [t.points for t in explained.terms]
    assert points == sorted(points, reverse=True)


def test_explanation_is_plain_json_with_every_part() -> None:
    cohort = Cohort((mentor("M1"), mentor("M2", km_north=50)),
                    (mentee("T1"), mentee("T2", km_north=2), mentee("T3", occupations=("7111",))),
                    rankings=(Ranking("T2", "M1", 1), Ranking("M1", "T2", 1)))
    result = solve(cohort, SolveOptions(alternatives=2))
    data = explain(result).to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text) == data
    first = data["matchings"][0]
    assert {"pairs", "unmatched_mentees", "mentors_without_mentee", "stability"} <= set(first)
    assert first["unmatched_mentees"][0]["reasons"][0]["code"] in {c.value for c in UnmatchedReason}
    assert first["stability"]["count"] == 0


# Counterfactuals --------------------------------------------------------------------------------------


def _allowed_partners(cohort: Cohort, person_id: str) -> set[str]:
    candidates = candidate_pairs(cohort)
    table = candidates.table
    out = set()
    for a, b in zip(table["mentee"].to_list(), table["mentor"].to_list(), strict=True):
        if cohort.mentees[a].id == person_id:
            out.add(cohort.mentors[b].id)
        if cohort.mentors[b].id == person_id:
            out.add(cohort.mentees[a].id)
    return out


def _check_counterfactuals(cohort: Cohort, explained: UnmatchedExplanation) -> None:
    """Every counterfactual re-solved independently: matched exactly when it says so."""
    for cf in explained.counterfactuals:
        relaxed = cf.apply(cohort)
        assert (explained.person_id in matched_ids(relaxed)) is cf.person_matched, cf.sentence
        if cf.relaxation is not Relaxation.MENTOR_CAPACITY:
            gained = _allowed_partners(relaxed, explained.person_id) - _allowed_partners(cohort, explained.person_id)
            assert cf.new_partners and set(cf.new_partners) <= gained, cf.sentence
        at = apply_relaxation(cohort, cf.relaxation, cf.subject_id, cf.matchable_at)
        if cf.relaxation is not Relaxation.MENTOR_CAPACITY:
            assert _allowed_partners(at, explained.person_id) - _allowed_partners(cohort, explained.person_id)


TRAVEL = (TravelTime("T1", "M1", 50.0),)
COUNTERFACTUAL_CASES: dict[Relaxation, tuple[Cohort, str]] = {
    Relaxation.PERSONAL_DISTANCE_KM: (Cohort((mentor("M1", km_north=12.3),), (mentee("T1", max_travel_km=10.0),)),
                                      "12.3"),
    Relaxation.PROGRAMME_DISTANCE_KM: (Cohort((mentor("M1", km_north=33.2),), (mentee("T1"),)), "33.2"),
    Relaxation.PERSONAL_TRAVEL_MINUTES: (Cohort((mentor("M1"),), (mentee("T1", max_travel_minutes=40.0),),
                                                rules=Rules(travel_times=TRAVEL, max_travel_minutes=60.0)), "50.0"),
    Relaxation.PROGRAMME_TRAVEL_MINUTES: (Cohort((mentor("M1"),), (mentee("T1"),),
                                                 rules=Rules(travel_times=TRAVEL, max_travel_minutes=45.0)), "50.0"),
    # Cleaners (911x) lie in no field family: lowering the depth is the only way.
    Relaxation.FIELD_DEPTH: (Cohort((mentor("M1", occupations=("9111",)),), (mentee("T1", occupations=("9112",)),),
                                    rules=Rules(field_depth=4)), "3"),
    Relaxation.LANGUAGE_LEVEL: (Cohort((mentor("M1"),), (mentee("T1", languages=(("en", 2),)),)), "A2"),
    Relaxation.LIFT_GENDER_REQUEST: (Cohort((mentor("M1", gender="m"),), (mentee("T1", requested_mentor_gender="f"),)),
                                     ""),
    Relaxation.MENTOR_YEARS: (Cohort((mentor("M1", years_experience=3),), (mentee("T1"),),
                                     rules=Rules(min_mentor_years=5)), "3"),
    Relaxation.ADD_MUNICIPALITY: (Cohort((mentor("M1"),), (mentee("T1", municipality="147"),),
                                         rules=Rules(eligible_municipalities=("101",))), "147"),
    Relaxation.ADD_TRACK: (Cohort((mentor("M1"),), (mentee("T1", track=Track.REFUGEE),),
                                  rules=Rules(eligible_tracks=(Track.SPOUSE,))), "refugee"),
    Relaxation.LIFT_BAN: (Cohort((mentor("M1"),), (mentee("T1"),), rules=Rules(bans=(("T1", "M1"),))), "M1"),
    Relaxation.MENTOR_CAPACITY: (Cohort((mentor("M1"),), (mentee("T0", km_north=1), mentee("T1", km_north=3))), "2"),
}


def test_every_relaxation_has_a_minimal_cohort() -> None:
    from tests.test_explain_programme_rules import RULE_CASES  # issue 15's relaxations

    assert set(COUNTERFACTUAL_CASES) | set(RULE_CASES) == set(Relaxation)


@pytest.mark.parametrize("relaxation", list(COUNTERFACTUAL_CASES), ids=lambda r: r.value)
def test_minimal_counterfactual_matches_the_person(relaxation: Relaxation) -> None:
    cohort, proposed = COUNTERFACTUAL_CASES[relaxation]
    explained = person(solve(cohort, ONE), Side.MENTEE, "T1")
    assert [cf.relaxation for cf in explained.counterfactuals] == [relaxation]
    cf = explained.counterfactuals[0]
    assert cf.proposed == proposed == cf.matchable_at
    assert cf.person_matched and cf.effect is not None and cf.effect.person_matched
    assert "T1" in matched_ids(cf.apply(cohort))
    _check_counterfactuals(cohort, explained)


@pytest.mark.parametrize("km", [12.3, 33.2, 7.05])
def test_distance_counterfactual_is_exact_to_a_tenth_of_a_km(km: float) -> None:
    cohort = Cohort((mentor("M1", km_north=km),), (mentee("T1", max_travel_km=5.0),), rules=Rules(max_distance_km=None))
    explained = person(solve(cohort, ONE), Side.MENTEE, "T1")
    cf = explained.counterfactuals[0]
    assert cf.relaxation is Relaxation.PERSONAL_DISTANCE_KM
    exact = float(haversine_km(np.array([LAT]), np.array([LON]), np.array([cohort.mentors[0].lat]),
                               np.array([LON]))[0])
    assert float(cf.proposed) >= exact > float(cf.proposed) - 0.1
    tighter = apply_relaxation(cohort, cf.relaxation, cf.subject_id, f"{float(cf.proposed) - 0.1:.1f}")
    assert _allowed_partners(tighter, "T1") == set()
    assert _allowed_partners(cf.apply(cohort), "T1") == {"M1"}


def test_counterfactual_tries_further_values_until_the_person_is_matched() -> None:
    # At 32 km T1 reaches M1, whom T0 (closer, same priority) keeps; at 36 km she also reaches M2.
    cohort = Cohort((mentor("M1", km_north=32), mentor("M2", km_north=36)),
                    (mentee("T0", km_north=31), mentee("T1")))
    explained = person(solve(cohort, ONE), Side.MENTEE, "T1")
    cf = next(c for c in explained.counterfactuals if c.relaxation is Relaxation.PROGRAMME_DISTANCE_KM)
    assert float(cf.matchable_at) == pytest.approx(32.0, abs=0.1)
    _check_counterfactuals(cohort, explained)
    if cf.person_matched:
        assert float(cf.proposed) >= float(cf.matchable_at)


def test_mentor_counterfactuals_hold() -> None:
    cohort = Cohort((mentor("M1", km_north=20), mentor("M2", capacity=0)), (mentee("T1", max_travel_km=15.0),))
    result = solve(cohort, ONE)
    for mentor_id in ("M1", "M2"):
        explained = person(result, Side.MENTOR, mentor_id)
        assert explained.counterfactuals, mentor_id
        _check_counterfactuals(cohort, explained)


FIELDS = ("2511", "2512", "2611", "7111")


@st.composite
def small_cohorts(draw: st.DrawFn) -> Cohort:
    n_mentors, n_mentees = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    languages = st.lists(st.tuples(st.sampled_from(("en", "da", "ar")), st.integers(1, 6)), min_size=1, max_size=2,
                         unique_by=lambda t: t[0])
    mentors = tuple(
        mentor(f"M{j}", km_north=draw(st.floats(0, 45)), occupations=(draw(st.sampled_from(FIELDS)),),
               languages=tuple(draw(languages)), capacity=draw(st.integers(0, 2)), gender=draw(st.sampled_from("fm")),
               years_experience=draw(st.integers(0, 8)))
        for j in range(n_mentors))
    mentees = tuple(
        mentee(f"T{i}", km_north=draw(st.floats(0, 45)), occupations=(draw(st.sampled_from(FIELDS)),),
               languages=tuple(draw(languages)), requested_mentor_gender=draw(st.sampled_from(("", "", "f"))),
               max_travel_km=draw(st.sampled_from((None, None, 10.0, 25.0))), municipality=draw(st.sampled_from(
                   ("101", "147"))))
        for i in range(n_mentees))
    pairs = [(t.id, m.id) for t in mentees for m in mentors]
    bans = tuple(draw(st.lists(st.sampled_from(pairs), max_size=2, unique=True)))
    travel: tuple[TravelTime, ...] = ()
    if draw(st.integers(0, 3)) == 0:  # sometimes a travel-time table (pairs without an entry have no route)
        mentees = tuple(replace(t, max_travel_minutes=draw(st.sampled_from((None, 30.0)))) for t in mentees)
        travel = tuple(TravelTime(t, m, draw(st.floats(5, 80))) for t, m in pairs if draw(st.integers(0, 4)))
    rules = Rules(max_distance_km=draw(st.sampled_from((20.0, 30.0))), field_depth=draw(st.integers(1, 4)),
                  min_language_level=draw(st.integers(2, 4)), min_mentor_years=draw(st.sampled_from((0, 3))),
                  eligible_municipalities=draw(st.sampled_from(((), ("101",)))), bans=bans, travel_times=travel,
                  max_travel_minutes=45.0 if travel else None)
    return Cohort(mentors, mentees, rules=rules)


def check_generated(cohort: Cohort) -> None:
    result = solve(cohort, ONE)
    explained = explain(result, ExplainOptions(max_people=10))
    best = explained.matchings[0]
    for people in (best.unmatched_mentees, best.mentors_without_mentee):
        for one in people:
            assert one.reasons[0].code in set(UnmatchedReason)
            _check_counterfactuals(cohort, one)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cohorts())
def test_generated_counterfactuals_hold_when_re_solved(cohort: Cohort) -> None:
    check_generated(cohort)


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cohorts())
def test_generated_counterfactuals_hold_at_length(cohort: Cohort) -> None:
    check_generated(cohort)


def test_re_solves_are_bounded_and_say_so() -> None:
    cohort = Cohort((mentor("M1"),), tuple(mentee(f"T{i}", km_north=i) for i in range(5)))
    explained = explain(solve(cohort, ONE), ExplainOptions(max_people=2))
    deep = [p for p in explained.matchings[0].unmatched_mentees if p.forced_in is not None]
    assert len(deep) == 2
    assert any("first 2 of 4" in note for note in explained.notes)


# Recruitment ------------------------------------------------------------------------------------------


def test_recruitment_profile_matches_the_mentees_it_names() -> None:
    mentees = (mentee("T1", km_north=1, occupations=("2512",), languages=(("ar", 4),)),
               mentee("T2", km_north=4, occupations=("2511",), languages=(("ar", 5), ("en", 3))),
               mentee("T3", km_north=6, occupations=("2519",), languages=(("ar", 3),)),
               mentee("T4", km_north=2, occupations=("7111",), languages=(("da", 5),)))
    cohort = Cohort((mentor("M1", occupations=("7111",), languages=(("da", 5),)),), mentees)
    result = solve(cohort, ONE)
    advice = recruitment_advice(result)
    first = advice[0]
    assert (first.isco_group, first.language, set(first.mentees)) == ("25", "ar", {"T1", "T2", "T3"})
    assert first.example_occupation.startswith("25")
    assert first.radius_km is not None and first.radius_km > 0
    # A mentor of that profile anywhere within the radius of the point reaches all of them.
    lat = first.lat + 0.99 * first.radius_km / KM_PER_DEGREE
    recruit = Mentor("NEW", lat, first.lon, (first.example_occupation,), (Language(first.language, 4),),
                     capacity=len(first.mentees))
    before = solve(cohort, ONE).best
    after = solve(replace(cohort, mentors=(*cohort.mentors, recruit)), ONE).best
    assert before is not None and after is not None
    assert after.objective.matched == before.objective.matched + len(first.mentees)


# Command line -----------------------------------------------------------------------------------------


def _cli_cohort(tmp_path: Path) -> Path:
    from solver.ingest import write_cohort_dir

    cohort = Cohort((mentor("M1"), mentor("M2", km_north=50)),
                    (mentee("T1"), mentee("T2", km_north=2), mentee("T3", occupations=("7111",))),
                    rankings=(Ranking("T2", "M1", 1), Ranking("M1", "T2", 1)))
    return write_cohort_dir(cohort, tmp_path / "cohort")


def test_solve_explain_json_has_reason_codes_and_the_rest(tmp_path: Path) -> None:
    from server import cli, cli_explain

    cli_explain.register(cli.app)
    cli_explain.register(cli.app)  # idempotent
    assert cli.EXPLAINERS.count(cli_explain.explain_result) == 1
    run = CliRunner().invoke(cli.app, ["solve", str(_cli_cohort(tmp_path)), "--explain", "--json", "-k", "2"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)  # the MatchResponse, its explanation in `explanation` (the protobuf JSON mapping)
    best = data["explanation"]["matchings"][0]
    codes = {u["person_id"]: [r["code"] for r in u["reasons"]] for u in best["unmatched_mentees"]}
    assert codes == {"T1": ["UNMATCHED_REASON_CANDIDATES_ALL_TAKEN"], "T3": ["UNMATCHED_REASON_NO_SHARED_FIELD"]}
    unmatched = {u["person_id"]: u for u in best["unmatched_mentees"]}
    assert unmatched["T1"]["funnel"]["steps"][0]["rule"] == "HARD_RULE_ELIGIBILITY"
    assert unmatched["T1"]["forced_in"]["person_matched"] is True
    assert unmatched["T1"]["forced_in"]["matched_after"] == unmatched["T1"]["forced_in"]["matched_before"]
    assert unmatched["T3"]["counterfactuals"][0]["effect"]["status"] == "SOLVE_STATUS_OPTIMAL"
    assert unmatched["T3"]["counterfactuals"][0]["relaxation"] == "RELAXATION_FIELD_DEPTH"
    assert best["pairs"][0]["sentence"]
    assert [m["person_id"] for m in best["mentors_without_mentee"]] == ["M2"]
    assert all("stability" in m for m in data["explanation"]["matchings"])
    assert data["explanation"]["recruitment"]


def test_solve_explain_renders_for_people(tmp_path: Path) -> None:
    from server import cli, cli_explain

    cli_explain.register(cli.app)
    run = CliRunner().invoke(cli.app, ["solve", str(_cli_cohort(tmp_path)), "--explain"])
    assert run.exit_code == 0, run.output
    for text in ("Why these pairs", "CANDIDATES_ALL_TAKEN", "NO_SHARED_FIELD", "no blocking pair", "recruit"):
        assert text in run.output


def test_without_explain_the_json_is_unchanged(tmp_path: Path) -> None:
    from server import cli, cli_explain

    cli_explain.register(cli.app)
    run = CliRunner().invoke(cli.app, ["solve", str(_cli_cohort(tmp_path)), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.output)
    assert "explanation" not in data and data["matchings"][0]["unmatched_mentee_ids"]



def test_explain_people_bounds_the_re_solves_and_says_so() -> None:
    from server import cli, cli_explain

    cli_explain.register(cli.app)
    cohort = str(Path(__file__).resolve().parent.parent / "scenarios" / "copenhagen_career")
    few = CliRunner().invoke(cli.app, ["solve", cohort, "--explain", "--explain-people", "2", "--json", "-k", "1"])
    many = CliRunner().invoke(cli.app, ["solve", cohort, "--explain", "--json", "-k", "1"])
    assert few.exit_code == 0 and many.exit_code == 0, few.output + many.output

    def resolved(output: str) -> tuple[int, int, list[str]]:
        explanation = json.loads(output)["explanation"]
        best = explanation["matchings"][0]
        unmatched = best["unmatched_mentees"] + best["mentors_without_mentee"]
        with_counterfactuals = sum(1 for person in unmatched if person.get("counterfactuals"))
        return with_counterfactuals, len(unmatched), explanation["notes"]

    few_done, total, few_notes = resolved(few.output)
    many_done, _, many_notes = resolved(many.output)
    assert total > 2
    assert few_done <= 2 < many_done
    assert any("first 2 of" in note and "--explain-people" in note for note in few_notes)
    assert not any("first 2 of" in note for note in many_notes)

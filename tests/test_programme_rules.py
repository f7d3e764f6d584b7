"""Issue 15's programme rules, each on a minimal cohort where the rule decides the answer, checked against the README.

For every rule (segments and which one a mentee follows, online meetings, extending personal limits, programme
languages, field families built in or the programme's own, mentor goals, mutual choice for each value, conflicts
of interest, seat costs) there are at least two cohorts that differ only in the rule, with different best
matchings worked out by hand from the README. Each expected matching is the unique best of every valid matching
(brute force by `tests/rules_oracle.py`, written from the README alone), and the engine returns it, with the
oracle's allowed pairs, pair scores, term points and objective value, in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from solver.domain import (
    Cohort,
    FieldFamily,
    FieldRule,
    Goal,
    MutualChoice,
    ObjectiveMode,
    Ranking,
    Rules,
    Segment,
    Track,
    TravelTime,
    Weights,
)
from solver.ingest import read_cohort_dir, write_cohort_dir
from solver.scores import TERMS
from solver.solve import SolveOptions, SolveStatus, solve
from tests.conftest import mentee, mentor
from tests.rules_oracle import Pair, RulesOracle, brute_force

SOCIAL = Segment("social", goals=(Goal.SOCIAL_NETWORK,), field_depth=0)
NO_RANK_WEIGHTS = Weights(mutual_rank=0, mentee_rank=0, mentor_rank=0)  # rankings only allow, so travel decides


@dataclass(frozen=True)
class Case:
    rule: str  # the README's name of the rule the case is about
    name: str  # what differs
    cohort: Cohort
    best: frozenset[Pair]  # the best matching in score mode, by hand from the README
    points: tuple[tuple[Pair, str, int], ...] = ()  # term points the README gives a pair, by hand

    @property
    def id(self) -> str:
        return f"{self.rule}: {self.name}"


def pairs(*items: str) -> frozenset[Pair]:
    """'T1-M2' -> ('T1', 'M2')."""
    return frozenset((a, b) for a, b in (item.split("-") for item in items))


def _with(cohort: Cohort, **rules: Any) -> Cohort:
    return replace(cohort, rules=replace(cohort.rules, **rules))


# Segments: a butcher's apprentice (7512) in the social-network segment and a software mentor (2512).
SEGMENT_BASE = Cohort((mentor("M1"),), (mentee("T1", occupations=("7512",), goal=Goal.SOCIAL_NETWORK,
                                                municipality="751", tags=("aarhus", "social")),))
SEGMENT_CASES = [
    Case("segments", "no segment: the programme's field rule", SEGMENT_BASE, pairs()),
    Case("segments", "her goal selects a segment without a field rule", _with(SEGMENT_BASE, segments=(SOCIAL,)),
         pairs("T1-M1")),
    Case("segments", "every selector given must match: goal yes, municipality no", _with(SEGMENT_BASE, segments=(
        replace(SOCIAL, municipalities=("101",)),)), pairs()),
    Case("segments", "every selector given must match: goal and municipality", _with(SEGMENT_BASE, segments=(
        replace(SOCIAL, municipalities=("751", "101")),)), pairs("T1-M1")),
    Case("segments", "a tag selects when any of hers is listed", _with(SEGMENT_BASE, segments=(
        Segment("tagged", tags=("social", "job"), field_depth=0),)), pairs("T1-M1")),
    Case("segments", "no tag of hers is listed", _with(SEGMENT_BASE, segments=(
        Segment("tagged", tags=("job",), field_depth=0),)), pairs()),
    Case("segments", "first match wins: the field-free segment first", _with(SEGMENT_BASE, segments=(
        SOCIAL, Segment("aarhus", municipalities=("751",), field_depth=4))), pairs("T1-M1")),
    Case("segments", "first match wins: the strict segment first", _with(SEGMENT_BASE, segments=(
        Segment("aarhus", municipalities=("751",), field_depth=4), SOCIAL)), pairs()),
    Case("segments", "a segment that does not select her leaves the programme's rules", _with(SEGMENT_BASE, segments=(
        Segment("refugees", tracks=(Track.REFUGEE,), field_depth=0),)), pairs()),
    Case("segments", "a segment with no selector selects everyone", _with(SEGMENT_BASE, segments=(
        Segment("everyone", field_depth=0),)), pairs("T1-M1")),
    Case("segments", "the overrides are hers only: T2 (a job seeker) keeps the programme's field rule", _with(replace(
        SEGMENT_BASE, mentors=(mentor("M1", capacity=2),),
        mentees=(*SEGMENT_BASE.mentees, mentee("T2", occupations=("7512",), goal=Goal.JOB))), segments=(SOCIAL,)),
         pairs("T1-M1")),
]

# Each override of a segment replaces the programme's rule for her.
OVERRIDE_BASE = Cohort((mentor("M1", km_north=40, years_experience=3, languages=(("ar", 6), ("en", 2))),),
                       (mentee("T1", goal=Goal.OWN_BUSINESS, languages=(("ar", 6), ("en", 2))),))
OWN_BUSINESS = Segment("own_business", goals=(Goal.OWN_BUSINESS,))
OVERRIDE_CASES = [
    Case("segment overrides", "programme: 50 km, any years, any language", _with(OVERRIDE_BASE, max_distance_km=50.0),
         pairs("T1-M1")),
    Case("segment overrides", "max_distance_km 30 for her", _with(OVERRIDE_BASE, max_distance_km=50.0, segments=(
        replace(OWN_BUSINESS, max_distance_km=30.0),)), pairs()),
    Case("segment overrides", "no_distance_limit for her", _with(OVERRIDE_BASE, segments=(
        replace(OWN_BUSINESS, no_distance_limit=True),)), pairs("T1-M1")),
    Case("segment overrides", "min_mentor_years 5 for her", _with(OVERRIDE_BASE, max_distance_km=50.0, segments=(
        replace(OWN_BUSINESS, min_mentor_years=5),)), pairs()),
    Case("segment overrides", "programme_languages da, en for her", _with(OVERRIDE_BASE, max_distance_km=50.0, segments=(
        replace(OWN_BUSINESS, programme_languages=("da", "en")),)), pairs()),
    Case("segment overrides", "programme_languages da, en and min_language_level A2 for her", _with(
        OVERRIDE_BASE, max_distance_km=50.0, segments=(
            replace(OWN_BUSINESS, programme_languages=("da", "en"), min_language_level=2),)), pairs("T1-M1")),
    Case("segment overrides", "the programme's 30 km, her segment's online meetings", _with(
        replace(OVERRIDE_BASE, mentors=(replace(OVERRIDE_BASE.mentors[0], online=True),),
                mentees=(replace(OVERRIDE_BASE.mentees[0], online=True),)),
        segments=(replace(OWN_BUSINESS, online_meetings=True),)), pairs("T1-M1"),
         ((("T1", "M1"), "travel", 0),)),
    Case("segment overrides", "the programme's online meetings, off in her segment", _with(
        replace(OVERRIDE_BASE, mentors=(replace(OVERRIDE_BASE.mentors[0], online=True),),
                mentees=(replace(OVERRIDE_BASE.mentees[0], online=True),)),
        online_meetings=True, segments=(replace(OWN_BUSINESS, online_meetings=False),)), pairs()),
    Case("segment overrides", "her own 45 km extends the programme's 30 in her segment", _with(
        replace(OVERRIDE_BASE, mentees=(replace(OVERRIDE_BASE.mentees[0], max_travel_km=45.0),)),
        segments=(replace(OWN_BUSINESS, personal_limits_extend=True),)), pairs("T1-M1"),
         ((("T1", "M1"), "travel", 11),)),  # ⌊100 (1 − 40/45)⌋ = 11: L is her own limit
    Case("segment overrides", "mutual choice by the mentor, in her segment", _with(
        OVERRIDE_BASE, max_distance_km=50.0, segments=(replace(OWN_BUSINESS, mutual_choice=MutualChoice.MENTOR),)),
         pairs()),
    Case("segment overrides", "field_depth 4 for her", _with(
        replace(OVERRIDE_BASE, mentors=(replace(OVERRIDE_BASE.mentors[0], occupations=("2519",)),)),
        max_distance_km=50.0, segments=(replace(OWN_BUSINESS, field_depth=4),)), pairs()),
    Case("segment overrides", "field_rule family for her, depth 4", _with(
        replace(OVERRIDE_BASE, mentors=(replace(OVERRIDE_BASE.mentors[0], occupations=("3512",)),)),
        max_distance_km=50.0, segments=(replace(OWN_BUSINESS, field_depth=4, field_rule=FieldRule.FAMILY),)),
         pairs("T1-M1"), ((("T1", "M1"), "field", 0),)),
]

# Online meetings: T1 accepts online, T2 (priority 2) does not; M1 is 50 km away and online, M2 close by.
ONLINE_BASE = Cohort((mentor("M1", km_north=50, online=True), mentor("M2", km_north=5)),
                     (mentee("T1", online=True), mentee("T2", km_north=1, priority=2)))
ONLINE_CASES = [
    Case("online meetings", "off: only M2 is near, T2 has priority", ONLINE_BASE, pairs("T2-M2")),
    Case("online meetings", "on: T1 meets M1 online, beyond the limit (TRAVEL 0)", _with(ONLINE_BASE, online_meetings=True),
         pairs("T1-M1", "T2-M2"), ((("T1", "M1"), "travel", 0), (("T2", "M2"), "travel", 86))),
    Case("online meetings", "on, but the mentor does not accept online", _with(replace(
        ONLINE_BASE, mentors=(replace(ONLINE_BASE.mentors[0], online=False), ONLINE_BASE.mentors[1])),
        online_meetings=True), pairs("T2-M2")),
    # A travel table: only T2-M2 has a row; the online pair needs none.
    Case("online meetings", "travel table, online pair without a row", _with(
        ONLINE_BASE, online_meetings=True, travel_times=(TravelTime("T2", "M2", 10.0),), max_travel_minutes=30.0),
         pairs("T1-M1", "T2-M2"), ((("T1", "M1"), "travel", 0), (("T2", "M2"), "travel", 66))),
    Case("online meetings", "travel table, no online meetings", _with(
        ONLINE_BASE, travel_times=(TravelTime("T2", "M2", 10.0),), max_travel_minutes=30.0), pairs("T2-M2")),
    # Her own limit of 0 km: L would be 50 for the formula, but an online pair beyond the limit gets 0.
    Case("online meetings", "her own limit 0 km, online within 5 km", _with(replace(
        ONLINE_BASE, mentors=(replace(ONLINE_BASE.mentors[0], lat=ONLINE_BASE.mentors[1].lat),),
        mentees=(replace(ONLINE_BASE.mentees[0], max_travel_km=0.0),)), online_meetings=True),
         pairs("T1-M1"), ((("T1", "M1"), "travel", 0),)),
]

# Extending personal limits: the programme allows 30 km; T1 would travel 100 (M1 at 60 km).
EXTEND_BASE = Cohort((mentor("M1", km_north=60),), (mentee("T1", max_travel_km=100.0),))
EXTEND_CASES = [
    Case("personal limits extend", "off: the smaller limit wins", EXTEND_BASE, pairs()),
    Case("personal limits extend", "on: her 100 km replaces the programme's 30", _with(EXTEND_BASE, personal_limits_extend=True),
         pairs("T1-M1"), ((("T1", "M1"), "travel", 40),)),
    Case("personal limits extend", "on: her own tighter limit still holds", _with(replace(
        EXTEND_BASE, mentees=(mentee("T1", max_travel_km=50.0),)), personal_limits_extend=True), pairs()),
    Case("personal limits extend", "on, without a limit of her own: the programme's", _with(replace(
        EXTEND_BASE, mentees=(mentee("T1"),)), personal_limits_extend=True), pairs()),
    Case("personal limits extend", "minutes: her 60 replace the programme's 30", _with(replace(
        EXTEND_BASE, mentees=(mentee("T1", max_travel_minutes=60.0),)), personal_limits_extend=True,
        travel_times=(TravelTime("T1", "M1", 45.0),), max_travel_minutes=30.0), pairs("T1-M1"),
         ((("T1", "M1"), "travel", 25),)),
    Case("personal limits extend", "minutes, off", _with(replace(
        EXTEND_BASE, mentees=(mentee("T1", max_travel_minutes=60.0),)),
        travel_times=(TravelTime("T1", "M1", 45.0),), max_travel_minutes=30.0), pairs()),
]

# Programme languages: T1 speaks Arabic well, English at A2; M1 (near) shares only Arabic, M2 (farther) English.
LANGUAGE_BASE = Cohort((mentor("M1", km_north=1, languages=(("ar", 6),)), mentor("M2", km_north=10)),
                       (mentee("T1", languages=(("ar", 6), ("en", 3))),))
LANGUAGE_CASES = [
    Case("programme languages", "any language: the nearer Arabic speaker", LANGUAGE_BASE, pairs("T1-M1")),
    Case("programme languages", "da or en: the English speaker", _with(LANGUAGE_BASE, programme_languages=("da", "en")),
         pairs("T1-M2")),
    Case("programme languages", "da only: nobody", _with(LANGUAGE_BASE, programme_languages=("da",)), pairs()),
]

# Field families: an ICT professional (2512) and an ICT technician (3512) share no digits at depth 2.
FAMILY_BASE = Cohort((mentor("M1", occupations=("3512",)),), (mentee("T1"),))
BUTCHER = Cohort((mentor("M1", occupations=("1420",)),), (mentee("T1", occupations=("7511",)),),
                 rules=Rules(field_rule=FieldRule.FAMILY))
OWN_FAMILIES = (FieldFamily("food_business", ("7511", "142"), "the programme's own"),)
FAMILY_CASES = [
    Case("field families", "prefix rule: 2512 and 3512 differ at depth 2", FAMILY_BASE, pairs()),
    Case("field families", "family rule: both in the built-in ICT family", _with(FAMILY_BASE, field_rule=FieldRule.FAMILY),
         pairs("T1-M1"), ((("T1", "M1"), "field", 0),)),
    Case("field families", "family rule with the programme's families, which replace the built-in ones",
         _with(FAMILY_BASE, field_rule=FieldRule.FAMILY, field_families=OWN_FAMILIES), pairs()),
    Case("field families", "a butcher and a retail manager: no built-in family holds both", BUTCHER, pairs()),
    Case("field families", "a butcher and a retail manager: the programme's family", _with(
        BUTCHER, field_families=OWN_FAMILIES), pairs("T1-M1")),
    Case("field families", "family rule, field_depth 0: no field rule at all", _with(
        BUTCHER, field_depth=0), pairs("T1-M1")),
]

# Mentor goals: T1 wants a job; M1 (near) supports social networks only, M2 (farther) lists no goals (any).
GOAL_BASE = Cohort((mentor("M1", km_north=1, goals=(Goal.SOCIAL_NETWORK,)), mentor("M2", km_north=10)),
                   (mentee("T1", goal=Goal.JOB),))
GOAL_CASES = [
    Case("mentor goals", "none asked: the nearer mentor", GOAL_BASE, pairs("T1-M1"), ((("T1", "M1"), "goal", 0),)),
    Case("mentor goals", "her segment asks for job mentors: one who lists none supports any", _with(GOAL_BASE, segments=(
        Segment("job", goals=(Goal.JOB,), mentor_goals=(Goal.JOB,)),)), pairs("T1-M2"), ((("T1", "M2"), "goal", 50),)),
    Case("mentor goals", "her segment accepts job or social-network mentors", _with(GOAL_BASE, segments=(
        Segment("job", goals=(Goal.JOB,), mentor_goals=(Goal.JOB, Goal.SOCIAL_NETWORK)),)), pairs("T1-M1")),
]

# Mutual choice: M4 is nearest, then M3, M2, M1. T1 ranked M1 and M2; M1 and M3 ranked T1.
CHOICE_BASE = Cohort(tuple(mentor(f"M{j}", km_north=5 - j) for j in range(1, 5)), (mentee("T1"),),
                     (Ranking("T1", "M1", 1), Ranking("T1", "M2", 2), Ranking("M1", "T1", 1), Ranking("M3", "T1", 1)),
                     rules=Rules(weights=NO_RANK_WEIGHTS))
CHOICE_CASES = [
    Case("mutual choice", "none", CHOICE_BASE, pairs("T1-M4")),
    Case("mutual choice", "mentee", _with(CHOICE_BASE, mutual_choice=MutualChoice.MENTEE), pairs("T1-M2")),
    Case("mutual choice", "mentor", _with(CHOICE_BASE, mutual_choice=MutualChoice.MENTOR), pairs("T1-M3")),
    Case("mutual choice", "either", _with(CHOICE_BASE, mutual_choice=MutualChoice.EITHER), pairs("T1-M3")),
    Case("mutual choice", "both", _with(CHOICE_BASE, mutual_choice=MutualChoice.BOTH), pairs("T1-M1")),
    Case("mutual choice", "both, nobody ranked her mentor back", _with(
        replace(CHOICE_BASE, rankings=CHOICE_BASE.rankings[:2]), mutual_choice=MutualChoice.BOTH), pairs()),
]

# Conflicts of interest: M1 (near) works at her spouse's employer.
CONFLICT_BASE = Cohort((mentor("M1", km_north=1, organisation="Acme"), mentor("M2", km_north=10, organisation="Beta"),
                        mentor("M3", km_north=12)), (mentee("T1"),))
CONFLICT_CASES = [
    Case("conflicts of interest", "none: the nearer mentor", CONFLICT_BASE, pairs("T1-M1")),
    Case("conflicts of interest", "she avoids Acme", replace(CONFLICT_BASE, mentees=(
        mentee("T1", avoid_organisations=("Acme",)),)), pairs("T1-M2")),
    Case("conflicts of interest", "she avoids Acme and Beta; a mentor without organisation is fine", replace(
        CONFLICT_BASE, mentees=(mentee("T1", avoid_organisations=("Acme", "Beta")),)), pairs("T1-M3")),
]

# Every volunteer used: M1 (capacity 2) is the better mentor for both; M2 is free and 90 points worse a pair
# (seniority 10 against 100), M3 free and 200 worse (15 km away too). T1 shares an interest with M1 (so that who
# goes where is decided).
SEAT_BASE = Cohort((mentor("M1", capacity=2, leadership=True, years_experience=25, interests=("chess",)),
                    mentor("M2", years_experience=5)),
                   (mentee("T1", interests=("chess",)), mentee("T2")))
FAR_SECOND = replace(SEAT_BASE, mentors=(SEAT_BASE.mentors[0], mentor("M3", km_north=15)))
THREE_SEATS = replace(SEAT_BASE, mentors=(replace(SEAT_BASE.mentors[0], capacity=3), mentor("M2", km_north=7.5)),
                      mentees=(*SEAT_BASE.mentees, mentee("T3", km_north=1)))
SEAT_CASES = [
    Case("seat costs", "default 100: the free mentor at a comparable score", SEAT_BASE, pairs("T1-M1", "T2-M2")),
    Case("seat costs", "extra_seat_cost 0: the better mentor twice", _with(SEAT_BASE, extra_seat_cost=0),
         pairs("T1-M1", "T2-M1")),
    Case("seat costs", "extra_seat_cost 80: less than the 90 points", _with(SEAT_BASE, extra_seat_cost=80),
         pairs("T1-M1", "T2-M1")),
    Case("seat costs", "default 100: the free mentor is 200 worse, the second seat is taken", FAR_SECOND,
         pairs("T1-M1", "T2-M1")),
    Case("seat costs", "extra_seat_cost 250: more than the 200 points", _with(FAR_SECOND, extra_seat_cost=250),
         pairs("T1-M1", "T2-M3")),
    # The third seat costs 200 more: M2 (136 worse for T3, 7.5 km away) takes one, M1 two (cost 100), not three (300).
    Case("seat costs", "default 100: third seat dearer than the free mentor", THREE_SEATS,
         pairs("T1-M1", "T2-M1", "T3-M2")),
    Case("seat costs", "extra_seat_cost 0: all three with the best mentor", _with(THREE_SEATS, extra_seat_cost=0),
         pairs("T1-M1", "T2-M1", "T3-M1")),
    Case("seat costs", "more matched mentees come first, whatever the seats cost", _with(replace(
        SEAT_BASE, mentors=SEAT_BASE.mentors[:1]), extra_seat_cost=1000), pairs("T1-M1", "T2-M1")),
]

CASES = (SEGMENT_CASES + OVERRIDE_CASES + ONLINE_CASES + EXTEND_CASES + LANGUAGE_CASES + FAMILY_CASES + GOAL_CASES
         + CHOICE_CASES + CONFLICT_CASES + SEAT_CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_readme_gives_the_expected_matching_and_only_it(case: Case) -> None:
    """The matching worked out by hand is the unique best of every valid matching under the README's rules."""
    found = brute_force(case.cohort, ObjectiveMode.SCORE, k=2, min_difference=1)
    assert found and found[0].pairs == case.best, [sorted(s.pairs) for s in found]
    assert len(found) == 1 or found[1].key < found[0].key, "the expected matching must not tie with another"
    oracle = RulesOracle(case.cohort)
    for pair, term, points in case.points:
        assert oracle.pairs[pair].points[term] == points


@pytest.mark.parametrize("mode", list(ObjectiveMode), ids=lambda m: m.value)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_engine_agrees_with_the_readme(case: Case, mode: ObjectiveMode) -> None:
    oracle = RulesOracle(case.cohort)
    result = solve(case.cohort, SolveOptions(alternatives=1, mode=mode))
    candidates = result.candidates
    cohort = candidates.cohort
    table = candidates.table
    engine_pairs = [(cohort.mentees[a].id, cohort.mentors[b].id) for a, b in
                    zip(table["mentee"].to_list(), table["mentor"].to_list(), strict=True)]
    assert set(engine_pairs) == set(oracle.pairs)
    for row, pair in enumerate(engine_pairs):
        assert table["score"][row] == oracle.pairs[pair].score, pair
        assert {t.name.lower(): table[f"points_{t.name.lower()}"][row] for t in TERMS} == oracle.pairs[pair].points
    expected = oracle.best(mode)
    assert expected is not None and result.status is SolveStatus.OPTIMAL and result.best is not None
    got = frozenset(result.best.pairs(candidates))
    assert oracle.key(got, mode) == expected.key
    assert result.best.objective.value == oracle.parts(got).value
    assert result.best.objective.seat_cost == oracle.parts(got).seat_cost
    if mode is ObjectiveMode.SCORE:
        assert got == case.best


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_cohort_survives_its_files(case: Case, tmp_path: Path) -> None:
    """The rules above written as mentors.csv, mentees.csv, rules.toml, ... and read back are the same rules."""
    back = read_cohort_dir(write_cohort_dir(case.cohort, tmp_path / "cohort"))
    assert replace(back, name=case.cohort.name) == case.cohort


def test_every_rule_decides_an_answer() -> None:
    """Each rule's cohorts differ only in the rule, and their best matchings differ."""
    answers: dict[str, set[frozenset[Pair]]] = {}
    for case in CASES:
        answers.setdefault(case.rule, set()).add(case.best)
    assert all(len(found) >= 2 for found in answers.values()), answers
    assert {case.rule for case in CASES} >= {
        "segments", "segment overrides", "online meetings", "personal limits extend", "programme languages",
        "field families", "mentor goals", "mutual choice", "conflicts of interest", "seat costs"}
    assert {c.name for c in CHOICE_CASES} >= {m.value for m in MutualChoice}
    assert {c.cohort.rules.extra_seat_cost for c in SEAT_CASES} >= {0, 100}

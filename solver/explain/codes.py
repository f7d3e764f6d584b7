"""The fixed codes of explanations: sides, reasons for the unmatched, relaxations and what each changes."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any

from solver.candidates import HardRule
from solver.domain import Cohort, Track, cefr_level

# Codes ------------------------------------------------------------------------------------------------


class Side(StrEnum):
    MENTEE = "mentee"
    MENTOR = "mentor"


class UnmatchedReason(StrEnum):
    """Why a participant has no partner. A fixed list: codes keep their meaning (docs/explanations.md).

    The hard-rule codes name the rule where the elimination funnel ends at zero partners.
    """

    # Either side.
    NOT_ELIGIBLE = "NOT_ELIGIBLE"  # funnel ends at ELIGIBILITY: the person is not eligible, or no partner is
    ALL_BANNED = "ALL_BANNED"  # funnel ends at BAN: every partner left by the other rules is banned
    SIDE_CONSTRAINTS = "SIDE_CONSTRAINTS"  # an allowed partner had room; a side constraint kept them apart
    # Mentees.
    NO_MENTORS = "NO_MENTORS"  # the cohort has no mentors
    NO_SHARED_FIELD = "NO_SHARED_FIELD"  # funnel ends at FIELD
    NO_MENTOR_WITHIN_DISTANCE = "NO_MENTOR_WITHIN_DISTANCE"  # funnel ends at DISTANCE
    NO_COMMON_LANGUAGE = "NO_COMMON_LANGUAGE"  # funnel ends at LANGUAGE
    GENDER_REQUEST_UNMET = "GENDER_REQUEST_UNMET"  # funnel ends at GENDER
    NO_MENTOR_CAPACITY = "NO_MENTOR_CAPACITY"  # allowed mentors exist, all with capacity 0
    CANDIDATES_ALL_TAKEN = "CANDIDATES_ALL_TAKEN"  # allowed mentors exist, all full with other mentees
    # Mentors left with no mentee at all.
    NO_MENTEES = "NO_MENTEES"  # the cohort has no mentees
    NO_CAPACITY = "NO_CAPACITY"  # the mentor's capacity is 0
    NO_MENTEE_IN_FIELD = "NO_MENTEE_IN_FIELD"  # funnel ends at FIELD
    NO_MENTEE_WITHIN_DISTANCE = "NO_MENTEE_WITHIN_DISTANCE"  # funnel ends at DISTANCE
    NO_MENTEE_WITH_COMMON_LANGUAGE = "NO_MENTEE_WITH_COMMON_LANGUAGE"  # funnel ends at LANGUAGE
    NO_MENTEE_ACCEPTS_GENDER = "NO_MENTEE_ACCEPTS_GENDER"  # funnel ends at GENDER
    MENTEES_ALL_TAKEN = "MENTEES_ALL_TAKEN"  # allowed mentees exist, all matched to other mentors
    # Either side, the rules of programmes' segments and choices.
    NO_PARTNER_FOR_GOAL = "NO_PARTNER_FOR_GOAL"  # funnel ends at GOAL
    NOT_CHOSEN = "NOT_CHOSEN"  # funnel ends at CHOICE
    CONFLICT_OF_INTEREST = "CONFLICT_OF_INTEREST"  # funnel ends at CONFLICT


RULE_REASON: dict[Side, dict[HardRule, UnmatchedReason]] = {
    Side.MENTEE: {
        HardRule.ELIGIBILITY: UnmatchedReason.NOT_ELIGIBLE,
        HardRule.FIELD: UnmatchedReason.NO_SHARED_FIELD,
        HardRule.DISTANCE: UnmatchedReason.NO_MENTOR_WITHIN_DISTANCE,
        HardRule.LANGUAGE: UnmatchedReason.NO_COMMON_LANGUAGE,
        HardRule.GENDER: UnmatchedReason.GENDER_REQUEST_UNMET,
        HardRule.GOAL: UnmatchedReason.NO_PARTNER_FOR_GOAL,
        HardRule.CHOICE: UnmatchedReason.NOT_CHOSEN,
        HardRule.CONFLICT: UnmatchedReason.CONFLICT_OF_INTEREST,
        HardRule.BAN: UnmatchedReason.ALL_BANNED,
    },
    Side.MENTOR: {
        HardRule.ELIGIBILITY: UnmatchedReason.NOT_ELIGIBLE,
        HardRule.FIELD: UnmatchedReason.NO_MENTEE_IN_FIELD,
        HardRule.DISTANCE: UnmatchedReason.NO_MENTEE_WITHIN_DISTANCE,
        HardRule.LANGUAGE: UnmatchedReason.NO_MENTEE_WITH_COMMON_LANGUAGE,
        HardRule.GENDER: UnmatchedReason.NO_MENTEE_ACCEPTS_GENDER,
        HardRule.GOAL: UnmatchedReason.NO_PARTNER_FOR_GOAL,
        HardRule.CHOICE: UnmatchedReason.NOT_CHOSEN,
        HardRule.CONFLICT: UnmatchedReason.CONFLICT_OF_INTEREST,
        HardRule.BAN: UnmatchedReason.ALL_BANNED,
    },
}


class Relaxation(StrEnum):
    """One change to the rules or to one participant that can make an unmatched person matchable."""

    PERSONAL_DISTANCE_KM = "PERSONAL_DISTANCE_KM"  # a mentee's own km limit
    PROGRAMME_DISTANCE_KM = "PROGRAMME_DISTANCE_KM"  # rules.max_distance_km
    PERSONAL_TRAVEL_MINUTES = "PERSONAL_TRAVEL_MINUTES"  # a mentee's own minutes limit
    PROGRAMME_TRAVEL_MINUTES = "PROGRAMME_TRAVEL_MINUTES"  # rules.max_travel_minutes
    FIELD_DEPTH = "FIELD_DEPTH"  # rules.field_depth, lowered
    LANGUAGE_LEVEL = "LANGUAGE_LEVEL"  # rules.min_language_level, lowered
    LIFT_GENDER_REQUEST = "LIFT_GENDER_REQUEST"  # a mentee's requested mentor gender, dropped
    MENTOR_YEARS = "MENTOR_YEARS"  # rules.min_mentor_years, lowered
    ADD_MUNICIPALITY = "ADD_MUNICIPALITY"  # one more eligible municipality
    ADD_TRACK = "ADD_TRACK"  # one more eligible track
    LIFT_BAN = "LIFT_BAN"  # one coordinator ban removed
    MENTOR_CAPACITY = "MENTOR_CAPACITY"  # one mentor takes one more mentee

    @property
    def rule(self) -> HardRule | None:
        return _RELAXATION_RULE[self]

    @property
    def personal(self) -> bool:
        """True when it changes one participant or one pair, not the programme's rules for everyone."""
        return self in _PERSONAL


_RELAXATION_RULE: dict[Relaxation, HardRule | None] = {
    Relaxation.PERSONAL_DISTANCE_KM: HardRule.DISTANCE,
    Relaxation.PROGRAMME_DISTANCE_KM: HardRule.DISTANCE,
    Relaxation.PERSONAL_TRAVEL_MINUTES: HardRule.DISTANCE,
    Relaxation.PROGRAMME_TRAVEL_MINUTES: HardRule.DISTANCE,
    Relaxation.FIELD_DEPTH: HardRule.FIELD,
    Relaxation.LANGUAGE_LEVEL: HardRule.LANGUAGE,
    Relaxation.LIFT_GENDER_REQUEST: HardRule.GENDER,
    Relaxation.MENTOR_YEARS: HardRule.ELIGIBILITY,
    Relaxation.ADD_MUNICIPALITY: HardRule.ELIGIBILITY,
    Relaxation.ADD_TRACK: HardRule.ELIGIBILITY,
    Relaxation.LIFT_BAN: HardRule.BAN,
    Relaxation.MENTOR_CAPACITY: None,
}
_PERSONAL = frozenset({Relaxation.PERSONAL_DISTANCE_KM, Relaxation.PERSONAL_TRAVEL_MINUTES,
                       Relaxation.LIFT_GENDER_REQUEST, Relaxation.LIFT_BAN, Relaxation.MENTOR_CAPACITY})

# What a relaxation changes ----------------------------------------------------------------------------

def apply_relaxation(cohort: Cohort, relaxation: Relaxation, subject_id: str, value: str) -> Cohort:
    """The cohort with one relaxation applied (`value` as in `Counterfactual.proposed`)."""
    rules = cohort.rules

    def mentee_changed(**changes: Any) -> Cohort:
        return replace(cohort, mentees=tuple(replace(p, **changes) if p.id == subject_id else p
                                             for p in cohort.mentees))

    if relaxation is Relaxation.PERSONAL_DISTANCE_KM:
        return mentee_changed(max_travel_km=float(value))
    if relaxation is Relaxation.PERSONAL_TRAVEL_MINUTES:
        return mentee_changed(max_travel_minutes=float(value))
    if relaxation is Relaxation.LIFT_GENDER_REQUEST:
        return mentee_changed(requested_mentor_gender="")
    if relaxation is Relaxation.MENTOR_CAPACITY:
        return replace(cohort, mentors=tuple(replace(p, capacity=int(value)) if p.id == subject_id else p
                                             for p in cohort.mentors))
    if relaxation is Relaxation.PROGRAMME_DISTANCE_KM:
        new_rules = replace(rules, max_distance_km=float(value))
    elif relaxation is Relaxation.PROGRAMME_TRAVEL_MINUTES:
        new_rules = replace(rules, max_travel_minutes=float(value))
    elif relaxation is Relaxation.FIELD_DEPTH:
        new_rules = replace(rules, field_depth=int(value))
    elif relaxation is Relaxation.LANGUAGE_LEVEL:
        new_rules = replace(rules, min_language_level=cefr_level(value))
    elif relaxation is Relaxation.MENTOR_YEARS:
        new_rules = replace(rules, min_mentor_years=int(value))
    elif relaxation is Relaxation.ADD_MUNICIPALITY:
        new_rules = replace(rules, eligible_municipalities=(*rules.eligible_municipalities, value))
    elif relaxation is Relaxation.ADD_TRACK:
        new_rules = replace(rules, eligible_tracks=(*rules.eligible_tracks, Track(value)))
    elif relaxation is Relaxation.LIFT_BAN:
        new_rules = replace(rules, bans=tuple(p for p in rules.bans if p != (subject_id, value)))
    else:
        raise ValueError(f"unknown relaxation {relaxation}")
    return replace(cohort, rules=new_rules)

"""The fixed codes of explanations: sides, reasons for the unmatched, relaxations and what each changes."""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any

from solver.candidates import HardRule
from solver.domain import Cohort, FieldRule, Goal, Mentee, MutualChoice, Rules, Segment, Track, cefr_level

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
    # Either side, the programme year: availability at the intake's start, pairs of earlier rounds.
    NOT_AVAILABLE = "NOT_AVAILABLE"  # funnel ends at AVAILABILITY
    PAIR_MET_BEFORE = "PAIR_MET_BEFORE"  # funnel ends at REPEAT: every partner left was paired with them before


RULE_REASON: dict[Side, dict[HardRule, UnmatchedReason]] = {
    Side.MENTEE: {
        HardRule.ELIGIBILITY: UnmatchedReason.NOT_ELIGIBLE,
        HardRule.AVAILABILITY: UnmatchedReason.NOT_AVAILABLE,
        HardRule.FIELD: UnmatchedReason.NO_SHARED_FIELD,
        HardRule.DISTANCE: UnmatchedReason.NO_MENTOR_WITHIN_DISTANCE,
        HardRule.LANGUAGE: UnmatchedReason.NO_COMMON_LANGUAGE,
        HardRule.GENDER: UnmatchedReason.GENDER_REQUEST_UNMET,
        HardRule.GOAL: UnmatchedReason.NO_PARTNER_FOR_GOAL,
        HardRule.CHOICE: UnmatchedReason.NOT_CHOSEN,
        HardRule.CONFLICT: UnmatchedReason.CONFLICT_OF_INTEREST,
        HardRule.REPEAT: UnmatchedReason.PAIR_MET_BEFORE,
        HardRule.BAN: UnmatchedReason.ALL_BANNED,
    },
    Side.MENTOR: {
        HardRule.ELIGIBILITY: UnmatchedReason.NOT_ELIGIBLE,
        HardRule.AVAILABILITY: UnmatchedReason.NOT_AVAILABLE,
        HardRule.FIELD: UnmatchedReason.NO_MENTEE_IN_FIELD,
        HardRule.DISTANCE: UnmatchedReason.NO_MENTEE_WITHIN_DISTANCE,
        HardRule.LANGUAGE: UnmatchedReason.NO_MENTEE_WITH_COMMON_LANGUAGE,
        HardRule.GENDER: UnmatchedReason.NO_MENTEE_ACCEPTS_GENDER,
        HardRule.GOAL: UnmatchedReason.NO_PARTNER_FOR_GOAL,
        HardRule.CHOICE: UnmatchedReason.NOT_CHOSEN,
        HardRule.CONFLICT: UnmatchedReason.CONFLICT_OF_INTEREST,
        HardRule.REPEAT: UnmatchedReason.PAIR_MET_BEFORE,
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
    # The rules of programmes' segments and choices. A programme-rule relaxation names the segment whose override
    # it changes in `subject_id` ("" = the programme's own rule).
    ONLINE_MEETINGS = "ONLINE_MEETINGS"  # online_meetings switched on: a pair who both accept online is not bound
    ACCEPT_ONLINE = "ACCEPT_ONLINE"  # one participant (mentee or mentor) accepts online meetings
    EXTEND_PERSONAL_LIMITS = "EXTEND_PERSONAL_LIMITS"  # personal_limits_extend on: her own longer limit counts
    FIELD_FAMILY = "FIELD_FAMILY"  # field_rule = "family": occupations in one field family share a field
    PROGRAMME_LANGUAGE = "PROGRAMME_LANGUAGE"  # one more language among programme_languages
    ADD_MENTOR_GOAL = "ADD_MENTOR_GOAL"  # a mentor also supports one of the goals her segment requires
    MUTUAL_CHOICE = "MUTUAL_CHOICE"  # mutual_choice weakened (both -> mentee/mentor -> either -> none)
    ORGANISATION_CAP = "ORGANISATION_CAP"  # one organisation cap raised
    GENDER_QUOTA_MAX = "GENDER_QUOTA_MAX"  # a gender quota's max_pairs raised

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
    Relaxation.ONLINE_MEETINGS: HardRule.DISTANCE,
    Relaxation.ACCEPT_ONLINE: HardRule.DISTANCE,
    Relaxation.EXTEND_PERSONAL_LIMITS: HardRule.DISTANCE,
    Relaxation.FIELD_FAMILY: HardRule.FIELD,
    Relaxation.PROGRAMME_LANGUAGE: HardRule.LANGUAGE,
    Relaxation.ADD_MENTOR_GOAL: HardRule.GOAL,
    Relaxation.MUTUAL_CHOICE: HardRule.CHOICE,
    Relaxation.ORGANISATION_CAP: None,
    Relaxation.GENDER_QUOTA_MAX: None,
}
_PERSONAL = frozenset({Relaxation.PERSONAL_DISTANCE_KM, Relaxation.PERSONAL_TRAVEL_MINUTES,
                       Relaxation.LIFT_GENDER_REQUEST, Relaxation.LIFT_BAN, Relaxation.MENTOR_CAPACITY,
                       Relaxation.ACCEPT_ONLINE, Relaxation.ADD_MENTOR_GOAL})
SIDE_CONSTRAINT_RELAXATIONS = frozenset({Relaxation.ORGANISATION_CAP, Relaxation.GENDER_QUOTA_MAX})
"""Relaxations of a side constraint rather than of a hard rule: their new partners are ones she had already."""

# Where a mentee's rule comes from ------------------------------------------------------------------------

_DISTANCE_KEYS = ("max_distance_km", "no_distance_limit")


def mentee_segment(rules: Rules, mentee: Mentee) -> Segment | None:
    """The segment whose rules apply to her: the first that selects her (README: Segments)."""
    return next((s for s in rules.segments if s.selects(mentee)), None)


def rule_source(rules: Rules, mentee: Mentee, key: str) -> str:
    """Whose value of the per-pair rule `key` she follows: her segment's id when it overrides the key, "" for the
    programme's. Changing the value there changes her rule, and only the rule of those who follow the same one."""
    segment = mentee_segment(rules, mentee)
    if segment is None:
        return ""
    if key in _DISTANCE_KEYS:
        overrides = segment.no_distance_limit or segment.max_distance_km is not None
    elif key == "mentor_goals":
        overrides = bool(segment.mentor_goals)
    else:
        overrides = getattr(segment, key) is not None
    return segment.id if overrides else ""


def _rules_changed(rules: Rules, source: str, **changes: Any) -> Rules:
    """The rules with `changes` made to the programme's values (source "") or to segment `source`'s overrides."""
    if not source:
        return replace(rules, **changes)
    if not any(s.id == source for s in rules.segments):
        raise ValueError(f"no segment '{source}'")
    return replace(rules, segments=tuple(replace(s, **changes) if s.id == source else s for s in rules.segments))


def _source_value(rules: Rules, source: str, key: str) -> Any:
    if not source:
        return getattr(rules, key)
    return getattr(next(s for s in rules.segments if s.id == source), key)


MUTUAL_CHOICE_STRENGTH: dict[MutualChoice, int] = {
    MutualChoice.NONE: 0, MutualChoice.EITHER: 1, MutualChoice.MENTEE: 2, MutualChoice.MENTOR: 2,
    MutualChoice.BOTH: 3,
}
"""How much each setting asks: a weaker setting allows every pair a stronger one allows, except that "mentee" and
"mentor" (equally strong) allow different pairs."""


def choice_allows(choice: MutualChoice, by_mentee: bool, by_mentor: bool) -> bool:
    """Whether mutual choice `choice` allows a pair with these rankings (README: Choice)."""
    return {MutualChoice.NONE: True, MutualChoice.EITHER: by_mentee or by_mentor, MutualChoice.MENTEE: by_mentee,
            MutualChoice.MENTOR: by_mentor, MutualChoice.BOTH: by_mentee and by_mentor}[choice]

# What a relaxation changes ----------------------------------------------------------------------------

def apply_relaxation(cohort: Cohort, relaxation: Relaxation, subject_id: str, value: str) -> Cohort:
    """The cohort with one relaxation applied (`value` as in `Counterfactual.proposed`).

    `subject_id` is the participant a personal relaxation changes; for a relaxation of a per-pair programme rule,
    the segment whose override it changes ("" = the programme's value); for ORGANISATION_CAP the organisation, for
    GENDER_QUOTA_MAX the gender.
    """
    rules = cohort.rules

    def mentee_changed(**changes: Any) -> Cohort:
        return replace(cohort, mentees=tuple(replace(p, **changes) if p.id == subject_id else p
                                             for p in cohort.mentees))

    def mentor_changed(**changes: Any) -> Cohort:
        return replace(cohort, mentors=tuple(replace(p, **changes) if p.id == subject_id else p
                                             for p in cohort.mentors))

    if relaxation is Relaxation.PERSONAL_DISTANCE_KM:
        return mentee_changed(max_travel_km=float(value))
    if relaxation is Relaxation.PERSONAL_TRAVEL_MINUTES:
        return mentee_changed(max_travel_minutes=float(value))
    if relaxation is Relaxation.LIFT_GENDER_REQUEST:
        return mentee_changed(requested_mentor_gender="")
    if relaxation is Relaxation.MENTOR_CAPACITY:
        return mentor_changed(capacity=int(value))
    if relaxation is Relaxation.ACCEPT_ONLINE:
        if subject_id in cohort.mentor_index():
            return mentor_changed(online=True)
        return mentee_changed(online=True)
    if relaxation is Relaxation.ADD_MENTOR_GOAL:
        goal = Goal(value)
        return replace(cohort, mentors=tuple(
            replace(p, goals=(*p.goals, goal)) if p.id == subject_id and goal not in p.goals else p
            for p in cohort.mentors))
    if relaxation is Relaxation.PROGRAMME_DISTANCE_KM:
        new_rules = _rules_changed(rules, subject_id, max_distance_km=float(value))
    elif relaxation is Relaxation.PROGRAMME_TRAVEL_MINUTES:
        new_rules = _rules_changed(rules, subject_id, max_travel_minutes=float(value))
    elif relaxation is Relaxation.FIELD_DEPTH:
        new_rules = _rules_changed(rules, subject_id, field_depth=int(value))
    elif relaxation is Relaxation.LANGUAGE_LEVEL:
        new_rules = _rules_changed(rules, subject_id, min_language_level=cefr_level(value))
    elif relaxation is Relaxation.MENTOR_YEARS:
        new_rules = _rules_changed(rules, subject_id, min_mentor_years=int(value))
    elif relaxation is Relaxation.ONLINE_MEETINGS:
        new_rules = _rules_changed(rules, subject_id, online_meetings=True)
    elif relaxation is Relaxation.EXTEND_PERSONAL_LIMITS:
        new_rules = _rules_changed(rules, subject_id, personal_limits_extend=True)
    elif relaxation is Relaxation.FIELD_FAMILY:
        new_rules = _rules_changed(rules, subject_id, field_rule=FieldRule.FAMILY)
    elif relaxation is Relaxation.PROGRAMME_LANGUAGE:
        languages = _source_value(rules, subject_id, "programme_languages") or ()
        new_rules = _rules_changed(rules, subject_id, programme_languages=(*languages, value))
    elif relaxation is Relaxation.MUTUAL_CHOICE:
        new_rules = _rules_changed(rules, subject_id, mutual_choice=MutualChoice(value))
    elif relaxation is Relaxation.ADD_MUNICIPALITY:
        new_rules = replace(rules, eligible_municipalities=(*rules.eligible_municipalities, value))
    elif relaxation is Relaxation.ADD_TRACK:
        new_rules = replace(rules, eligible_tracks=(*rules.eligible_tracks, Track(value)))
    elif relaxation is Relaxation.LIFT_BAN:
        new_rules = replace(rules, bans=tuple(p for p in rules.bans if p != (subject_id, value)))
    elif relaxation is Relaxation.ORGANISATION_CAP:
        new_rules = replace(rules, organisation_caps=tuple((org, int(value) if org == subject_id else cap)
                                                           for org, cap in rules.organisation_caps))
    elif relaxation is Relaxation.GENDER_QUOTA_MAX:
        raised = int(value)
        new_rules = replace(rules, gender_quotas=tuple(
            replace(q, max_pairs=raised) if q.gender == subject_id and q.max_pairs is not None
            and q.max_pairs < raised else q for q in rules.gender_quotas))
    else:
        raise ValueError(f"unknown relaxation {relaxation}")
    return replace(cohort, rules=new_rules)

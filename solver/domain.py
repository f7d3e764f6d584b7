"""The matching domain: participants, rankings and programme rules as plain frozen dataclasses.

Nothing here knows about files, protobuf or solvers. Values are stored as given (an out-of-range
latitude stays out of range) so that `solver.validate` can report every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from itertools import pairwise
from operator import attrgetter
from typing import Any, TypeVar, cast

CEFR_LEVELS: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2")
"""CEFR levels in order; a level is stored as its position + 1 (A1 = 1 ... C2 = 6)."""

GENDERS: tuple[str, ...] = ("f", "m", "x")
"""Gender codes: f (woman), m (man), x (another or unspecified). Empty means not given."""


def cefr_level(text: str) -> int:
    """'B2' -> 4; 0 when the text is not a CEFR level."""
    text = text.strip().upper()
    return CEFR_LEVELS.index(text) + 1 if text in CEFR_LEVELS else 0


def cefr_name(level: int) -> str:
    return CEFR_LEVELS[level - 1] if 1 <= level <= len(CEFR_LEVELS) else f"?{level}"


class Goal(StrEnum):
    """What a mentee wants from the programme (KVINFO: job-focused or social-focused)."""

    UNSPECIFIED = ""
    JOB = "job"
    EDUCATION = "education"
    OWN_BUSINESS = "own_business"
    SOCIAL_NETWORK = "social_network"


class Track(StrEnum):
    """The mentee's target group in the programme."""

    UNSPECIFIED = ""
    SPOUSE = "spouse"
    STUDENT = "student"
    REFUGEE = "refugee"
    OTHER = "other"


class FieldRule(StrEnum):
    """How "shared field" is decided."""

    PREFIX = "prefix"  # the same leading `field_depth` ISCO digits
    FAMILY = "family"  # the same leading digits, or occupations in one field family (`field_families`)


class MutualChoice(StrEnum):
    """Which speed-dating rankings a pair needs to be allowed at all."""

    NONE = "none"  # rankings only score
    MENTEE = "mentee"  # the mentee ranked the mentor
    MENTOR = "mentor"  # the mentor ranked the mentee
    EITHER = "either"  # at least one of them ranked the other
    BOTH = "both"  # each ranked the other


class ObjectiveMode(StrEnum):
    """What 'best' means. All modes first maximise the (priority-weighted) number of matched mentees."""

    SCORE = "score"  # then the total score
    FAIRNESS = "fairness"  # then the worst matched pair's score, then the total score
    RANK_MAXIMAL = "rank_maximal"  # then first choices, second choices, ..., then the total score


@dataclass(frozen=True, slots=True)
class Language:
    code: str  # ISO 639-1, lower case ("da", "en")
    level: int  # CEFR as 1..6 (A1..C2); 0 = not a valid level


@dataclass(frozen=True, slots=True)
class Mentor:
    id: str
    lat: float  # workplace, WGS84, where meetings happen
    lon: float
    occupations: tuple[str, ...]  # ISCO-08 4-digit unit groups
    languages: tuple[Language, ...]
    years_experience: int = 0
    capacity: int = 1
    leadership: bool = False
    gender: str = ""
    interests: tuple[str, ...] = ()
    organisation: str = ""
    markets: tuple[str, ...] = ()  # ISO 3166-1 alpha-2 countries/markets the mentor knows
    returning: bool = False
    goals: tuple[Goal, ...] = ()  # goals the mentor can support; empty = any
    online: bool = False  # accepts meeting online (counts where the programme allows online meetings)
    available_from: date | None = None  # not available before this date (checked against the intake's start)
    available_until: date | None = None  # not available after this date


@dataclass(frozen=True, slots=True)
class Mentee:
    id: str
    lat: float  # home, WGS84
    lon: float
    occupations: tuple[str, ...]  # ISCO-08 4-digit unit groups sought
    languages: tuple[Language, ...]
    max_travel_km: float | None = None  # personal limit, tighter than the programme's
    max_travel_minutes: float | None = None  # personal limit when a travel-time table is given
    interests: tuple[str, ...] = ()
    goal: Goal = Goal.UNSPECIFIED
    gender: str = ""
    requested_mentor_gender: str = ""  # empty = no request
    country_of_origin: str = ""  # ISO 3166-1 alpha-2
    first_language: str = ""  # ISO 639-1; empty = not given
    municipality: str = ""  # Danish municipality code, e.g. "101" (Copenhagen)
    track: Track = Track.UNSPECIFIED
    priority: int = 1  # weight in the matched count, e.g. 2 for people left unmatched last round
    online: bool = False  # accepts meeting online (counts where the programme allows online meetings)
    tags: tuple[str, ...] = ()  # free labels a programme's segments can select on (e.g. "social")
    avoid_organisations: tuple[str, ...] = ()  # mentor organisations she must not be matched into (conflicts)
    waiting_since: date | None = None  # waiting for a mentor since: priority grows per month waited (`Intake`)


@dataclass(frozen=True, slots=True)
class Ranking:
    """One entry of a speed-dating ranking: `from_id` ranked `to_id` at `rank` (1 = first choice).

    Either side may rank: a mentee ranking mentors or a mentor ranking mentees. Rankings may be
    partial (not everyone ranks everyone) and may contain ties (two entries with the same rank).
    """

    from_id: str
    to_id: str
    rank: int


@dataclass(frozen=True, slots=True)
class Weights:
    """Integer weight per soft term (see `solver.scores.TERMS`); each term gives 0..100 points a pair."""

    mutual_rank: int = 3
    mentee_rank: int = 3
    mentor_rank: int = 2
    interests: int = 1
    field: int = 1
    goal: int = 1
    travel: int = 2
    home_market: int = 1
    first_language: int = 1
    seniority: int = 1
    returning: int = 1

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class GenderQuota:
    """Bounds on how many matched mentees get a mentor of `gender`."""

    gender: str
    min_pairs: int = 0
    max_pairs: int | None = None


@dataclass(frozen=True, slots=True)
class TravelTime:
    mentee_id: str
    mentor_id: str
    minutes: float


@dataclass(frozen=True, slots=True)
class FieldFamily:
    """Related ISCO-08 groups that count as one professional field under `field_rule = "family"`."""

    id: str
    prefixes: tuple[str, ...]  # ISCO-08 codes or leading digits (1-4) of the groups in the family
    source: str = ""  # where the grouping comes from


@dataclass(frozen=True, slots=True)
class Segment:
    """Rules for a group of mentees (selected by goal, track, municipality or tag), overriding the programme's.

    A mentee belongs to the first segment whose every given selector matches her (within a selector, any value
    matches); a mentee in no segment follows the programme's rules. Each override left as None (or empty, for
    `mentor_goals`) keeps the programme's value.
    """

    id: str
    goals: tuple[Goal, ...] = ()
    tracks: tuple[Track, ...] = ()
    municipalities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    field_depth: int | None = None
    field_rule: FieldRule | None = None
    max_distance_km: float | None = None
    no_distance_limit: bool = False  # True: no programme distance limit for this segment
    max_travel_minutes: float | None = None
    min_language_level: int | None = None
    min_mentor_years: int | None = None
    programme_languages: tuple[str, ...] | None = None
    online_meetings: bool | None = None
    personal_limits_extend: bool | None = None
    mutual_choice: MutualChoice | None = None
    mentor_goals: tuple[Goal, ...] = ()  # the mentor must support one of these goals (or list none); empty = any

    def selects(self, mentee: Mentee) -> bool:
        return ((not self.goals or mentee.goal in self.goals)
                and (not self.tracks or mentee.track in self.tracks)
                and (not self.municipalities or mentee.municipality in self.municipalities)
                # (a set: each list looked at once, not her every tag looked for along the segment's list)
                and (not self.tags or not frozenset(self.tags).isdisjoint(mentee.tags)))


@dataclass(frozen=True, slots=True)
class MenteeRules:
    """The per-pair rules that apply to one mentee: the programme's, with her segment's overrides."""

    segment: str  # the segment's id; "" = no segment
    field_depth: int
    field_rule: FieldRule
    max_distance_km: float | None  # None = no programme limit
    max_travel_minutes: float | None
    min_language_level: int
    min_mentor_years: int
    programme_languages: tuple[str, ...]  # empty = any language
    online_meetings: bool
    personal_limits_extend: bool
    mutual_choice: MutualChoice
    mentor_goals: tuple[Goal, ...]  # empty = any


MAX_PRIORITY = 1000
"""The highest priority a mentee has, waiting included."""


def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from `earlier` to `later` (2026-01-31 -> 2026-02-28 is 0, -> 2026-03-01 is 1); 0 when
    `later` is not after `earlier`."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month - (later.day < earlier.day)
    return max(0, months)


@dataclass(frozen=True, slots=True)
class Intake:
    """The intake a cohort is matched for (rules.toml `[intake]`): its start date, the priority people gain per
    month they waited, and whether pairs that met in an earlier round may meet again."""

    start_date: date | None = None  # None: no waiting priority, no availability check
    waiting_priority_per_month: int = 1  # priority gained per whole month from `waiting_since` to `start_date`
    allow_repeat_pairs: bool = False  # True: pairs in the history may be matched again
    programme: str = ""  # the programme's name, recorded in the history written for the next intake


class Outcome(StrEnum):
    """How a pair of an earlier round ended (history.csv `outcome`)."""

    UNSPECIFIED = ""  # not recorded (yet)
    JOB = "job"  # the mentee found a job
    EDUCATION = "education"  # the mentee entered education
    OWN_BUSINESS = "own_business"  # the mentee started her own business
    DROPPED_OUT = "dropped_out"  # the pair ended early (pregnancy, moving away, ...)
    COMPLETED = "completed"  # the programme ended without one of the above


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One pair of an earlier round, sent with the snapshot: the service itself keeps no state."""

    mentee_id: str
    mentor_id: str
    started: date | None = None
    ended: date | None = None  # None: still running (a current pair); a date: the pair is over
    outcome: Outcome = Outcome.UNSPECIFIED
    programme: str = ""  # the programme (or intake) it was matched in
    score: int | None = None  # the pair's score when it was matched, when recorded
    term_points: tuple[tuple[str, int], ...] = ()  # (term code, 0..100 points) when it was matched, when recorded

    @property
    def finished(self) -> bool:
        return self.ended is not None


class Verdict(StrEnum):
    """What a person said to a proposed pair (decisions.csv `decision`)."""

    ACCEPTED = "accepted"
    DECLINED = "declined"


class DecidedBy(StrEnum):
    """Who decided (decisions.csv `by`)."""

    MENTEE = "mentee"
    MENTOR = "mentor"
    COORDINATOR = "coordinator"


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer to a proposal: an accepted pair becomes a pin, a declined one a ban (`solver.decisions`)."""

    mentee_id: str
    mentor_id: str
    decision: Verdict
    by: DecidedBy


@dataclass(frozen=True, slots=True)
class Rules:
    """A programme's rules: hard constraints, and the weights of the soft terms."""

    max_distance_km: float | None = 30.0  # None = no distance limit
    field_depth: int = 2  # ISCO digits that must agree: 1..4 (0 = field not required)
    min_language_level: int = 3  # CEFR 1..6 (B1 = 3) of a language both speak
    min_mentor_years: int = 0
    eligible_municipalities: tuple[str, ...] = ()  # empty = every municipality
    eligible_tracks: tuple[Track, ...] = ()  # empty = every track
    organisation_caps: tuple[tuple[str, int], ...] = ()  # (organisation, max mentees)
    gender_quotas: tuple[GenderQuota, ...] = ()
    pins: tuple[tuple[str, str], ...] = ()  # (mentee_id, mentor_id) that must be matched
    bans: tuple[tuple[str, str], ...] = ()  # (mentee_id, mentor_id) that must not be matched
    gender_requests_hard: bool = True
    weights: Weights = field(default_factory=Weights)
    travel_times: tuple[TravelTime, ...] = ()  # when given, replaces straight-line distance
    max_travel_minutes: float | None = None  # the limit that applies with travel_times
    online_meetings: bool = False  # a pair who both accept online meetings is not bound by distance
    personal_limits_extend: bool = False  # a mentee's own travel limit replaces the programme's, even if longer
    programme_languages: tuple[str, ...] = ()  # the common language must be one of these; empty = any
    field_rule: FieldRule = FieldRule.PREFIX
    field_families: tuple[FieldFamily, ...] = ()  # for the family rule; empty = the built-in ISCO-08 families
    mutual_choice: MutualChoice = MutualChoice.NONE
    extra_seat_cost: int = 100  # points a mentor's k-th seat costs, times k - 1 (k >= 2): every volunteer used
    segments: tuple[Segment, ...] = ()
    intake: Intake = field(default_factory=Intake)

    @property
    def organisation_cap_map(self) -> Mapping[str, int]:
        return dict(self.organisation_caps)

    def for_mentee(self, mentee: Mentee) -> MenteeRules:
        """The per-pair rules for this mentee: her first matching segment's overrides over the programme's."""
        segment = next((s for s in self.segments if s.selects(mentee)), None)
        if segment is None:
            return MenteeRules("", self.field_depth, self.field_rule, self.max_distance_km, self.max_travel_minutes,
                               self.min_language_level, self.min_mentor_years, self.programme_languages,
                               self.online_meetings, self.personal_limits_extend, self.mutual_choice, ())

        def pick(value: object, default: object) -> Any:
            return default if value is None else value

        distance = None if segment.no_distance_limit else pick(segment.max_distance_km, self.max_distance_km)
        return MenteeRules(
            segment.id, pick(segment.field_depth, self.field_depth), pick(segment.field_rule, self.field_rule),
            distance, pick(segment.max_travel_minutes, self.max_travel_minutes),
            pick(segment.min_language_level, self.min_language_level),
            pick(segment.min_mentor_years, self.min_mentor_years),
            pick(segment.programme_languages, self.programme_languages),
            pick(segment.online_meetings, self.online_meetings),
            pick(segment.personal_limits_extend, self.personal_limits_extend),
            pick(segment.mutual_choice, self.mutual_choice), segment.mentor_goals)

    @property
    def has_side_constraints(self) -> bool:
        """True when the model is more than a pure capacitated assignment."""
        return bool(self.organisation_caps or self.gender_quotas)


@dataclass(frozen=True, slots=True)
class Cohort:
    mentors: tuple[Mentor, ...]
    mentees: tuple[Mentee, ...]
    rankings: tuple[Ranking, ...] = ()
    rules: Rules = field(default_factory=Rules)
    name: str = ""
    history: tuple[HistoryEntry, ...] = ()  # pairs of earlier rounds (history.csv)
    decisions: tuple[Decision, ...] = ()  # answers to proposals (decisions.csv); pins and bans once read

    def priorities(self) -> tuple[int, ...]:
        """Each mentee's weight in the matched count: her `priority`, plus `waiting_priority_per_month` for each
        whole month from her `waiting_since` to the intake's `start_date` (both given), at most `MAX_PRIORITY`."""
        intake = self.rules.intake
        start, step = intake.start_date, intake.waiting_priority_per_month
        if start is None or not step:
            return tuple(m.priority for m in self.mentees)
        return tuple(m.priority if m.waiting_since is None
                     else min(MAX_PRIORITY, m.priority + step * months_between(m.waiting_since, start))
                     for m in self.mentees)

    def returning_mentors(self) -> frozenset[str]:
        """Ids of the mentors who count as returning: `returning = true`, or a pair in the history."""
        return frozenset(m.id for m in self.mentors if m.returning) | _history_mentors(self.history)

    def mentor_index(self) -> Mapping[str, int]:
        """Each mentor's position by id. Not to be changed: a small cohort's is made once and shared (`_index`)."""
        return _index(self.mentors)

    def canonical(self) -> Cohort:
        """The same cohort with participants in id order and every list sorted, so that the order of the rows
        in the input decides nothing: ties between equally good pairs are broken by this canonical order."""
        rules = self.rules
        # Each list sorted once: the sorted list both tells whether it is in order and is the canonical one.
        rankings = sorted(self.rankings, key=_ranking_key)
        travel_times = sorted(rules.travel_times, key=_travel_key)
        pins, bans, caps = sorted(rules.pins), sorted(rules.bans), sorted(rules.organisation_caps)
        mentors_in_order = all(a.id < b.id for a, b in pairwise(self.mentors))
        mentees_in_order = all(a.id < b.id for a, b in pairwise(self.mentees))
        rules_in_order = (list(rules.travel_times) == travel_times and list(rules.pins) == pins
                          and list(rules.bans) == bans and list(rules.organisation_caps) == caps)
        if mentors_in_order and mentees_in_order and rules_in_order and list(self.rankings) == rankings:
            return self  # already canonical: the same object
        # What is in order already is kept as it is (the same tuple, the same rules), not sorted and copied again.
        return replace(
            self,
            mentors=self.mentors if mentors_in_order else tuple(sorted(self.mentors, key=_ID)),
            mentees=self.mentees if mentees_in_order else tuple(sorted(self.mentees, key=_ID)),
            rankings=tuple(rankings),
            rules=rules if rules_in_order else replace(rules, pins=tuple(pins), bans=tuple(bans),
                                                       organisation_caps=tuple(caps), travel_times=tuple(travel_times)),
        )

    def mentee_index(self) -> Mapping[str, int]:
        """Each mentee's position by id. Not to be changed: a small cohort's is made once and shared (`_index`)."""
        return _index(self.mentees)


SHARED_INDEXES = 1024
"""Sides of up to this many people keep their id index (`Cohort.mentee_index`, `mentor_index`) for the next caller:
a small call asks for them some three times a side (checks, arrays, scores, model; through copies of the cohort
that share its people), and at this size making one costs more than looking it up. Larger sides make theirs on
each call (a small part of their work), so that no large cohort's people are held beyond their use."""
V = TypeVar("V")
_INDEXES: dict[int, tuple[Any, Any]] = {}
_HISTORY_MENTORS: dict[int, tuple[Any, Any]] = {}
HELD_PER_CACHE = 8


def _held(cache: dict[int, tuple[Any, Any]], key: Any, make: Callable[[Any], V]) -> V:
    """`make(key)`, kept in `cache` by the key object's identity for the next caller (at most `HELD_PER_CACHE`). The
    key object is held with its value, so its id is not reused meanwhile."""
    held = cache.get(id(key))
    if held is not None and held[0] is key:
        return cast(V, held[1])
    value = make(key)
    if len(cache) >= HELD_PER_CACHE:
        cache.clear()
    cache[id(key)] = (key, value)
    return value


def _make_index(people: tuple[Mentee | Mentor, ...]) -> dict[str, int]:
    return {p.id: i for i, p in enumerate(people)}


def _index(people: tuple[Mentee | Mentor, ...]) -> Mapping[str, int]:
    """The people's positions by id (shared: not to be changed); a small side's made once."""
    if len(people) <= SHARED_INDEXES:
        return _held(_INDEXES, people, _make_index)
    return _make_index(people)


def _history_mentors(history: tuple[HistoryEntry, ...]) -> frozenset[str]:
    """The mentors of a history, once per history (scores ask for them on every re-solve of a cohort)."""
    return _held(_HISTORY_MENTORS, history, lambda entries: frozenset(h.mentor_id for h in entries))


_ID = attrgetter("id")  # (a person's id: a sort key without a Python call per person)


def _ranking_key(r: Ranking) -> tuple[str, str, int]:
    return (r.from_id, r.to_id, r.rank)


def _travel_key(t: TravelTime) -> tuple[str, str, float]:
    return (t.mentee_id, t.mentor_id, t.minutes)

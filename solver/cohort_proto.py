"""The cohort in the contract's form: domain types <-> `mentormatch.v1.Cohort` messages, both ways.

The generated classes (`mentormatch.v1`) are the contract and sit below the engine, so the engine reads its JSON
form (`solver.cohort_json`) without the service; the service converts its requests with the same functions.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from mentormatch.v1 import cohort_pb2 as pb
from solver.domain import (
    Cohort,
    FieldFamily,
    FieldRule,
    GenderQuota,
    Goal,
    Language,
    Mentee,
    Mentor,
    MutualChoice,
    Ranking,
    Rules,
    Segment,
    Track,
    TravelTime,
    Weights,
)
from solver.errors import Problem, ProblemCode
from solver.history import year_from_proto, year_to_proto
from solver.people_tables import build
from solver.rules_toml import distance_problem
from solver.validate import control_characters

# --- enums ----------------------------------------------------------------------------------------

_E = TypeVar("_E", Goal, Track, FieldRule, MutualChoice)

_GOAL_TO_PROTO: dict[Goal, pb.Goal.ValueType] = {g: pb.Goal.Value(f"GOAL_{g.name}") for g in Goal}
_GOAL_FROM_PROTO: dict[int, Goal] = {int(v): g for g, v in _GOAL_TO_PROTO.items()}
TRACK_TO_PROTO: dict[Track, pb.Track.ValueType] = {t: pb.Track.Value(f"TRACK_{t.name}") for t in Track}
TRACK_FROM_PROTO: dict[int, Track] = {int(v): t for t, v in TRACK_TO_PROTO.items()}
_FIELD_RULE_TO_PROTO: dict[FieldRule, int] = {f: pb.FieldRule.Value(f"FIELD_RULE_{f.name}") for f in FieldRule}
_FIELD_RULE_FROM_PROTO: dict[int, FieldRule] = {int(v): f for f, v in _FIELD_RULE_TO_PROTO.items()}
_CHOICE_TO_PROTO: dict[MutualChoice, int] = {c: pb.MutualChoice.Value(f"MUTUAL_CHOICE_{c.name}") for c in MutualChoice}
_CHOICE_FROM_PROTO: dict[int, MutualChoice] = {int(v): c for c, v in _CHOICE_TO_PROTO.items()}
_GENDER_TO_PROTO: dict[str, pb.Gender.ValueType] = {
    "": pb.GENDER_UNSPECIFIED,
    "f": pb.GENDER_FEMALE,
    "m": pb.GENDER_MALE,
    "x": pb.GENDER_OTHER,
}
_GENDER_FROM_PROTO: dict[int, str] = {int(v): g for g, v in _GENDER_TO_PROTO.items()}
_UNKNOWN_GENDER = re.compile(r"\?(-?\d+)")

# --- domain defaults (absent proto fields take these) --------------------------------------------

_RULES_DEFAULT = Rules()
WEIGHTS_DEFAULT = Weights()
WEIGHT_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Weights))
_WEIGHT_DEFAULTS: tuple[tuple[str, int], ...] = tuple((name, getattr(WEIGHTS_DEFAULT, name)) for name in WEIGHT_NAMES)
"""Each weight's name and default, in the order of `Weights`' fields."""


def field_default(cls: type[Any], name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


_MENTOR_CAPACITY_DEFAULT: int = field_default(Mentor, "capacity")
_MENTEE_PRIORITY_DEFAULT: int = field_default(Mentee, "priority")


# --- domain -> proto ------------------------------------------------------------------------------


def gender_to_proto(value: str, path: str) -> pb.Gender.ValueType:
    if value in _GENDER_TO_PROTO:
        return _GENDER_TO_PROTO[value]
    unknown = _UNKNOWN_GENDER.fullmatch(value)
    if unknown:  # an unknown enum number read from protobuf, carried back unchanged
        return pb.Gender.ValueType(int(unknown.group(1)))
    raise ValueError(f"{path}: gender {value!r} has no protobuf value (use 'f', 'm', 'x' or '')")


def _enum_to_proto(table: Mapping[_E, int], value: _E, path: str) -> int:
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{path}: {value!r} has no protobuf value") from None


def _languages_to_proto(languages: tuple[Language, ...]) -> list[pb.LanguageSkill]:
    return [pb.LanguageSkill(code=lang.code, level=pb.CefrLevel.ValueType(lang.level)) for lang in languages]


def mentor_to_proto(m: Mentor, path: str) -> pb.Mentor:
    return pb.Mentor(
        id=m.id,
        location=pb.Location(lat=m.lat, lon=m.lon),
        occupations=m.occupations,
        languages=_languages_to_proto(m.languages),
        years_experience=m.years_experience,
        capacity=m.capacity,
        leadership=m.leadership,
        gender=gender_to_proto(m.gender, f"{path}.gender"),
        interests=m.interests,
        organisation=m.organisation,
        markets=m.markets,
        returning=m.returning,
        goals=_goals_to_proto(m.goals, f"{path}.goals"),
        online=m.online,
    )


def _goals_to_proto(goals: tuple[Goal, ...], path: str) -> list[pb.Goal.ValueType]:
    return [pb.Goal.ValueType(_enum_to_proto(_GOAL_TO_PROTO, g, f"{path}[{j}]")) for j, g in enumerate(goals)]


def mentee_to_proto(m: Mentee, path: str) -> pb.Mentee:
    msg = pb.Mentee(
        id=m.id,
        location=pb.Location(lat=m.lat, lon=m.lon),
        occupations=m.occupations,
        languages=_languages_to_proto(m.languages),
        interests=m.interests,
        goal=pb.Goal.ValueType(_enum_to_proto(_GOAL_TO_PROTO, m.goal, f"{path}.goal")),
        gender=gender_to_proto(m.gender, f"{path}.gender"),
        requested_mentor_gender=gender_to_proto(m.requested_mentor_gender, f"{path}.requested_mentor_gender"),
        country_of_origin=m.country_of_origin,
        first_language=m.first_language,
        municipality=m.municipality,
        track=pb.Track.ValueType(_enum_to_proto(TRACK_TO_PROTO, m.track, f"{path}.track")),
        priority=m.priority,
        online=m.online,
        tags=m.tags,
        avoid_organisations=m.avoid_organisations,
    )
    if m.max_travel_km is not None:
        msg.max_travel_km = m.max_travel_km
    if m.max_travel_minutes is not None:
        msg.max_travel_minutes = m.max_travel_minutes
    return msg


def _rules_to_proto(r: Rules) -> pb.Rules:
    msg = pb.Rules(
        field_depth=r.field_depth,
        min_language_level=pb.CefrLevel.ValueType(r.min_language_level),
        min_mentor_years=r.min_mentor_years,
        eligible_municipalities=r.eligible_municipalities,
        eligible_tracks=[
            pb.Track.ValueType(_enum_to_proto(TRACK_TO_PROTO, t, f"rules.eligible_tracks[{j}]"))
            for j, t in enumerate(r.eligible_tracks)
        ],
        organisation_caps=[pb.OrganisationCap(organisation=o, max_mentees=n) for o, n in r.organisation_caps],
        gender_quotas=[
            pb.GenderQuota(
                gender=gender_to_proto(q.gender, f"rules.gender_quotas[{j}].gender"),
                min_pairs=q.min_pairs,
                max_pairs=q.max_pairs,
            )
            for j, q in enumerate(r.gender_quotas)
        ],
        pins=[pb.PairRef(mentee_id=e, mentor_id=o) for e, o in r.pins],
        bans=[pb.PairRef(mentee_id=e, mentor_id=o) for e, o in r.bans],
        gender_requests_hard=r.gender_requests_hard,
        weights=pb.Weights(**r.weights.as_dict()),
        travel_times=[
            pb.TravelTime(mentee_id=t.mentee_id, mentor_id=t.mentor_id, minutes=t.minutes) for t in r.travel_times
        ],
    )
    if r.max_distance_km is None:
        msg.no_distance_limit = True
    else:
        msg.max_distance_km = r.max_distance_km
    if r.max_travel_minutes is not None:
        msg.max_travel_minutes = r.max_travel_minutes
    msg.online_meetings = r.online_meetings
    msg.personal_limits_extend = r.personal_limits_extend
    msg.programme_languages.extend(r.programme_languages)
    msg.field_rule = pb.FieldRule.ValueType(_FIELD_RULE_TO_PROTO[r.field_rule])
    msg.field_families.extend(pb.FieldFamily(id=f.id, prefixes=f.prefixes, source=f.source)
                              for f in r.field_families)
    msg.mutual_choice = pb.MutualChoice.ValueType(_CHOICE_TO_PROTO[r.mutual_choice])
    msg.extra_seat_cost = r.extra_seat_cost
    msg.segments.extend(_segment_to_proto(g, f"rules.segments[{k}]") for k, g in enumerate(r.segments))
    return msg


def _segment_to_proto(g: Segment, path: str) -> pb.Segment:
    msg = pb.Segment(
        id=g.id,
        goals=_goals_to_proto(g.goals, f"{path}.goals"),
        tracks=[pb.Track.ValueType(_enum_to_proto(TRACK_TO_PROTO, t, f"{path}.tracks[{j}]"))
                for j, t in enumerate(g.tracks)],
        municipalities=g.municipalities,
        tags=g.tags,
        no_distance_limit=g.no_distance_limit,
        programme_languages=g.programme_languages or (),
        programme_languages_set=g.programme_languages is not None,
        mentor_goals=_goals_to_proto(g.mentor_goals, f"{path}.mentor_goals"),
    )
    if g.field_depth is not None:
        msg.field_depth = g.field_depth
    if g.field_rule is not None:
        msg.field_rule = pb.FieldRule.ValueType(_FIELD_RULE_TO_PROTO[g.field_rule])
    if g.max_distance_km is not None:
        msg.max_distance_km = g.max_distance_km
    if g.max_travel_minutes is not None:
        msg.max_travel_minutes = g.max_travel_minutes
    if g.min_language_level is not None:
        msg.min_language_level = pb.CefrLevel.ValueType(g.min_language_level)
    if g.min_mentor_years is not None:
        msg.min_mentor_years = g.min_mentor_years
    if g.online_meetings is not None:
        msg.online_meetings = g.online_meetings
    if g.personal_limits_extend is not None:
        msg.personal_limits_extend = g.personal_limits_extend
    if g.mutual_choice is not None:
        msg.mutual_choice = pb.MutualChoice.ValueType(_CHOICE_TO_PROTO[g.mutual_choice])
    return msg


def cohort_to_proto(cohort: Cohort) -> pb.Cohort:
    """The cohort as a `mentormatch.v1.Cohort` message; every optional field is set explicitly.

    Raises ValueError for a value the contract cannot carry: a gender other than "", "f", "m", "x"
    (or "?N", an unknown enum number read from protobuf), or an integer outside int32.
    """
    msg = pb.Cohort(
        name=cohort.name,
        mentors=[mentor_to_proto(m, f"mentors[{i}]") for i, m in enumerate(cohort.mentors)],
        mentees=[mentee_to_proto(m, f"mentees[{i}]") for i, m in enumerate(cohort.mentees)],
        rankings=[pb.Ranking(from_id=r.from_id, to_id=r.to_id, rank=r.rank) for r in cohort.rankings],
        rules=_rules_to_proto(cohort.rules),
    )
    return year_to_proto(cohort, msg)  # dates, the intake, history and decisions (solver.history)


# --- proto -> domain ------------------------------------------------------------------------------

_LANGUAGES: dict[tuple[str, int], Language] = {}
"""The skills read so far, shared (a skill is an immutable value): only codes of two lower-case ASCII letters with
a level 0..6 are kept, so the table holds at most 26 * 26 * 7 entries whatever the requests hold."""
_LANGUAGE_CODE = re.compile(r"[a-z]{2}")


def _language(code: str, level: int) -> Language:
    """The skill; a negative level becomes -1, the domain's "reported already" (`ProtoReader.languages` reports it)."""
    if level < 0:
        return Language(code=code, level=-1)
    skill = Language(code=code, level=level)
    if level <= 6 and _LANGUAGE_CODE.fullmatch(code):
        _LANGUAGES[code, level] = skill
    return skill


def _enums(table: Mapping[int, _E], numbers: Any) -> tuple[_E, ...] | None:
    """The values of `numbers`, or None when the table lacks one (that person is read again, to report it)."""
    values = tuple(map(table.get, numbers))
    return None if None in values else values  # type: ignore[return-value]



class ProtoReader:
    """Maps one message to domain types, collecting problems the domain types cannot hold."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def bad(self, path: str, message: str) -> None:
        self.problems.append(Problem(ProblemCode.BAD_VALUE, path, message))

    def enum(self, table: Mapping[int, _E], number: int, fallback: _E, path: str, what: str) -> _E:
        value = table.get(number)
        if value is None:
            known = ", ".join(str(n) for n in sorted(table))
            self.bad(path, f"unknown {what} number {number} (known: {known})")
            return fallback
        return value

    @staticmethod
    def gender(number: int) -> str:
        """Known numbers map to "", "f", "m", "x"; an unknown number to "?N", which validation flags."""
        return _GENDER_FROM_PROTO.get(number, f"?{number}")

    @staticmethod
    def level(number: int) -> int:
        """CEFR A1..C2 -> 1..6; UNSPECIFIED (0) or an unknown number stays as sent, for validation to flag with the
        number the caller sent (CEFR level 99 is reported as 99)."""
        return number

    def languages(self, skills: Any, path: str) -> tuple[Language, ...]:
        """The skills; a negative level is reported here (MALFORMED_CEFR, the number as sent) and kept as -1, the
        domain's "reported already" level that validation passes over."""
        out = []
        for k, skill in enumerate(skills):
            level = skill.level
            if level < 0:
                self.problems.append(Problem(ProblemCode.MALFORMED_CEFR, f"{path}.languages[{k}].level",
                                             f"level {level} is not a CEFR level A1..C2"))
                level = -1
            out.append(Language(code=skill.code, level=level))
        return tuple(out)

    def location(self, msg: pb.Mentor | pb.Mentee, path: str) -> tuple[float, float]:
        if not msg.HasField("location"):
            self.bad(f"{path}.location", "location is required (WGS84 latitude and longitude)")
            return math.nan, math.nan
        return msg.location.lat, msg.location.lon

    def mentor(self, m: pb.Mentor, path: str) -> Mentor:
        lat, lon = self.location(m, path)
        return Mentor(
            id=m.id,
            lat=lat,
            lon=lon,
            occupations=tuple(m.occupations),
            languages=self.languages(m.languages, path),
            years_experience=m.years_experience,
            capacity=m.capacity if m.HasField("capacity") else _MENTOR_CAPACITY_DEFAULT,
            leadership=m.leadership,
            gender=self.gender(m.gender),
            interests=tuple(m.interests),
            organisation=m.organisation,
            markets=tuple(m.markets),
            returning=m.returning,
            online=m.online,
            goals=tuple(
                self.enum(_GOAL_FROM_PROTO, g, Goal.UNSPECIFIED, f"{path}.goals[{j}]", "goal")
                for j, g in enumerate(m.goals)
            ),
        )

    def mentee(self, m: pb.Mentee, path: str) -> Mentee:
        lat, lon = self.location(m, path)
        return Mentee(
            id=m.id,
            lat=lat,
            lon=lon,
            occupations=tuple(m.occupations),
            languages=self.languages(m.languages, path),
            max_travel_km=m.max_travel_km if m.HasField("max_travel_km") else None,
            max_travel_minutes=m.max_travel_minutes if m.HasField("max_travel_minutes") else None,
            interests=tuple(m.interests),
            goal=self.enum(_GOAL_FROM_PROTO, m.goal, Goal.UNSPECIFIED, f"{path}.goal", "goal"),
            gender=self.gender(m.gender),
            requested_mentor_gender=self.gender(m.requested_mentor_gender),
            country_of_origin=m.country_of_origin,
            first_language=m.first_language,
            municipality=m.municipality,
            track=self.enum(TRACK_FROM_PROTO, m.track, Track.UNSPECIFIED, f"{path}.track", "track"),
            priority=m.priority or _MENTEE_PRIORITY_DEFAULT,
            online=m.online,
            tags=tuple(m.tags),
            avoid_organisations=tuple(m.avoid_organisations),
        )

    @staticmethod
    def weights(w: pb.Weights) -> Weights:
        """The weights given, the default for each one not given (made at once, not as a copy of the defaults)."""
        return Weights(*[getattr(w, name) if w.HasField(name) else default  # type: ignore[arg-type]
                         for name, default in _WEIGHT_DEFAULTS])

    def rules(self, r: pb.Rules) -> Rules:
        max_distance_km: float | None
        if r.no_distance_limit:
            max_distance_km = None
            if r.HasField("max_distance_km"):
                self.bad("rules.max_distance_km", "set together with no_distance_limit; leave one of them out")
                if (wrong := distance_problem(r.max_distance_km, "rules.max_distance_km")) is not None:
                    self.problems.append(wrong)  # the value is not validated when the limit is lifted
        elif r.HasField("max_distance_km"):
            max_distance_km = r.max_distance_km
        else:
            max_distance_km = _RULES_DEFAULT.max_distance_km
        d = _RULES_DEFAULT
        return Rules(
            max_distance_km=max_distance_km,
            field_depth=r.field_depth if r.HasField("field_depth") else d.field_depth,
            min_language_level=(
                self.level(r.min_language_level) if r.HasField("min_language_level") else d.min_language_level
            ),
            min_mentor_years=r.min_mentor_years,
            eligible_municipalities=tuple(r.eligible_municipalities[:]),
            eligible_tracks=tuple(
                self.enum(TRACK_FROM_PROTO, t, Track.UNSPECIFIED, f"rules.eligible_tracks[{j}]", "track")
                for j, t in enumerate(r.eligible_tracks)
            ),
            organisation_caps=tuple((c.organisation, c.max_mentees) for c in r.organisation_caps),
            gender_quotas=tuple(
                GenderQuota(
                    gender=self.gender(q.gender),
                    min_pairs=q.min_pairs,
                    max_pairs=q.max_pairs if q.HasField("max_pairs") else None,
                )
                for q in r.gender_quotas
            ),
            pins=tuple([(p.mentee_id, p.mentor_id) for p in r.pins[:]]),
            bans=tuple([(p.mentee_id, p.mentor_id) for p in r.bans[:]]),
            gender_requests_hard=(
                r.gender_requests_hard if r.HasField("gender_requests_hard") else d.gender_requests_hard
            ),
            weights=self.weights(r.weights) if r.HasField("weights") else WEIGHTS_DEFAULT,
            travel_times=tuple(
                TravelTime(mentee_id=t.mentee_id, mentor_id=t.mentor_id, minutes=t.minutes) for t in r.travel_times[:]
            ),
            max_travel_minutes=r.max_travel_minutes if r.HasField("max_travel_minutes") else d.max_travel_minutes,
            online_meetings=r.online_meetings,
            personal_limits_extend=r.personal_limits_extend,
            programme_languages=tuple(r.programme_languages[:]),
            field_rule=self.field_rule(r.field_rule, "rules.field_rule") or d.field_rule,
            field_families=tuple(FieldFamily(f.id, tuple(f.prefixes), f.source) for f in r.field_families),
            mutual_choice=self.mutual_choice(r.mutual_choice, "rules.mutual_choice") or d.mutual_choice,
            extra_seat_cost=r.extra_seat_cost if r.HasField("extra_seat_cost") else d.extra_seat_cost,
            segments=tuple(self.segment(g, f"rules.segments[{k}]") for k, g in enumerate(r.segments)),
        )

    def field_rule(self, number: int, path: str) -> FieldRule | None:
        """The field rule, None when UNSPECIFIED (the caller's default applies)."""
        if number == pb.FIELD_RULE_UNSPECIFIED:
            return None
        return self.enum(_FIELD_RULE_FROM_PROTO, number, FieldRule.PREFIX, path, "field rule")

    def mutual_choice(self, number: int, path: str) -> MutualChoice | None:
        """The mutual-choice rule, None when UNSPECIFIED (the caller's default applies)."""
        if number == pb.MUTUAL_CHOICE_UNSPECIFIED:
            return None
        return self.enum(_CHOICE_FROM_PROTO, number, MutualChoice.NONE, path, "mutual choice")

    def segment(self, g: pb.Segment, path: str) -> Segment:
        if g.no_distance_limit and g.HasField("max_distance_km"):
            self.bad(f"{path}.max_distance_km", "set together with no_distance_limit; leave one of them out")
        return Segment(
            id=g.id,
            goals=tuple(self.enum(_GOAL_FROM_PROTO, x, Goal.UNSPECIFIED, f"{path}.goals[{j}]", "goal")
                        for j, x in enumerate(g.goals)),
            tracks=tuple(self.enum(TRACK_FROM_PROTO, t, Track.UNSPECIFIED, f"{path}.tracks[{j}]", "track")
                         for j, t in enumerate(g.tracks)),
            municipalities=tuple(g.municipalities),
            tags=tuple(g.tags),
            field_depth=g.field_depth if g.HasField("field_depth") else None,
            field_rule=self.field_rule(g.field_rule, f"{path}.field_rule"),
            max_distance_km=g.max_distance_km if g.HasField("max_distance_km") else None,
            no_distance_limit=g.no_distance_limit,
            max_travel_minutes=g.max_travel_minutes if g.HasField("max_travel_minutes") else None,
            min_language_level=self.level(g.min_language_level) if g.HasField("min_language_level") else None,
            min_mentor_years=g.min_mentor_years if g.HasField("min_mentor_years") else None,
            programme_languages=tuple(g.programme_languages) if g.programme_languages_set else None,
            online_meetings=g.online_meetings if g.HasField("online_meetings") else None,
            personal_limits_extend=g.personal_limits_extend if g.HasField("personal_limits_extend") else None,
            mutual_choice=self.mutual_choice(g.mutual_choice, f"{path}.mutual_choice"),
            mentor_goals=tuple(self.enum(_GOAL_FROM_PROTO, x, Goal.UNSPECIFIED, f"{path}.mentor_goals[{j}]", "goal")
                               for j, x in enumerate(g.mentor_goals)),
        )

    # A side's people at once: each field read as one column over the messages, the objects made from the columns
    # (`solver.people_tables.build`). A person the columns do not map plainly (no location, a negative CEFR level, an
    # unknown enum number) is read again by `mentor` / `mentee`, which report its problems in the order they
    # always have: the same objects and the same problems as reading person by person, in a third of the time.
    # Repeated fields are read by slice (`m.interests[:]`, `msg.mentors[:]`): upb makes that list in one step, where
    # iterating the field (`tuple(m.interests)`) costs a step per element (about three times as long).

    def _skills(self, people: list[Any], odd: set[int]) -> list[tuple[Language, ...]]:
        """Each person's languages; a person with a skill of negative level goes into `odd`."""
        known = _LANGUAGES
        try:  # as a rule every skill has been read before (the table holds at most 26 * 26 * 7): one pass
            return [tuple([known[s.code, s.level] for s in m.languages[:]]) for m in people]
        except KeyError:
            pass
        out: list[tuple[Language, ...]] = []
        for i, m in enumerate(people):
            skills = m.languages[:]
            if not skills:
                out.append(())
                continue
            pairs = [(s.code, s.level) for s in skills]
            try:
                out.append(tuple([known[pair] for pair in pairs]))
            except KeyError:
                if any(level < 0 for _, level in pairs):
                    odd.add(i)
                out.append(tuple(_language(code, level) for code, level in pairs))
        return out

    @staticmethod
    def _odd_numbers(numbers: list[Any], odd: set[int]) -> None:
        """The people whose value is None (an enum number the table lacks) go into `odd`."""
        if None in numbers:
            odd.update(i for i, value in enumerate(numbers) if value is None)

    @staticmethod
    def _unplaced(people: list[Any], lats: list[float], lons: list[float]) -> set[int]:
        """The people sent without a location. An absent location reads as latitude and longitude 0 (the message's
        default), so only someone at exactly (0, 0) is asked whether it was sent: not everyone (as a rule nobody
        lives in the Gulf of Guinea)."""
        if 0.0 not in lats:
            return set()
        return {i for i, (lat, lon) in enumerate(zip(lats, lons, strict=True))
                if lat == 0.0 and lon == 0.0 and not people[i].HasField("location")}

    def _again(self, people: list[Any], built: list[Any], odd: set[int], side: str,
               read: Callable[[Any, str], Any]) -> tuple[Any, ...]:
        for i in sorted(odd):
            built[i] = read(people[i], f"{side}[{i}]")
        return tuple(built)

    def mentors(self, people: list[pb.Mentor]) -> tuple[Mentor, ...]:
        """`mentor` of each message, `mentors[i]` the path of the i-th."""
        locations = [m.location for m in people]
        lats, lons = [p.lat for p in locations], [p.lon for p in locations]
        odd = self._unplaced(people, lats, lons)
        genders = [_GENDER_FROM_PROTO.get(m.gender) for m in people]
        goals = [_enums(_GOAL_FROM_PROTO, gls[:]) if (gls := m.goals) else () for m in people]
        self._odd_numbers(genders, odd)
        self._odd_numbers(goals, odd)
        columns: dict[str, list[Any]] = {
            "id": [m.id for m in people], "lat": lats, "lon": lons,
            "occupations": [tuple(m.occupations[:]) for m in people],
            "languages": self._skills(people, odd),
            "years_experience": [m.years_experience for m in people],
            "capacity": [capacity if (capacity := m.capacity) or m.HasField("capacity") else _MENTOR_CAPACITY_DEFAULT
                         for m in people],  # (a capacity sent is as a rule not 0: asked whether it was sent only then)
            "leadership": [m.leadership for m in people], "gender": genders,
            "interests": [tuple(m.interests[:]) for m in people],
            "organisation": [m.organisation for m in people],
            "markets": [tuple(m.markets[:]) for m in people],
            "returning": [m.returning for m in people], "online": [m.online for m in people], "goals": goals,
        }
        return self._again(people, build(Mentor, len(people), columns), odd, "mentors", self.mentor)

    def mentees(self, people: list[pb.Mentee]) -> tuple[Mentee, ...]:
        """`mentee` of each message, `mentees[i]` the path of the i-th."""
        locations = [m.location for m in people]
        lats, lons = [p.lat for p in locations], [p.lon for p in locations]
        odd = self._unplaced(people, lats, lons)
        genders = [_GENDER_FROM_PROTO.get(m.gender) for m in people]
        requested = [_GENDER_FROM_PROTO.get(m.requested_mentor_gender) for m in people]
        goals = [_GOAL_FROM_PROTO.get(m.goal) for m in people]
        tracks = [TRACK_FROM_PROTO.get(m.track) for m in people]
        for column in (genders, requested, goals, tracks):
            self._odd_numbers(column, odd)
        columns: dict[str, list[Any]] = {
            "id": [m.id for m in people], "lat": lats, "lon": lons,
            "occupations": [tuple(m.occupations[:]) for m in people],
            "languages": self._skills(people, odd),
            "max_travel_km": [m.max_travel_km if m.HasField("max_travel_km") else None for m in people],
            "max_travel_minutes": [m.max_travel_minutes if m.HasField("max_travel_minutes") else None
                                   for m in people],
            "interests": [tuple(m.interests[:]) for m in people],
            "goal": goals, "gender": genders, "requested_mentor_gender": requested,
            "country_of_origin": [m.country_of_origin for m in people],
            "first_language": [m.first_language for m in people],
            "municipality": [m.municipality for m in people], "track": tracks,
            "priority": [m.priority or _MENTEE_PRIORITY_DEFAULT for m in people],
            "online": [m.online for m in people],
            "tags": [tuple(m.tags[:]) for m in people],
            "avoid_organisations": [tuple(m.avoid_organisations[:]) for m in people],
        }
        return self._again(people, build(Mentee, len(people), columns), odd, "mentees", self.mentee)

    @staticmethod
    def rankings(entries: list[pb.Ranking]) -> tuple[Ranking, ...]:
        return tuple(build(Ranking, len(entries), {"from_id": [r.from_id for r in entries],
                                                    "to_id": [r.to_id for r in entries],
                                                    "rank": [r.rank for r in entries]}))

    def cohort(self, msg: pb.Cohort) -> Cohort:
        mentors, mentees = msg.mentors[:], msg.mentees[:]
        cohort = Cohort(
            mentors=self.mentors(mentors),
            mentees=self.mentees(mentees),
            rankings=self.rankings(msg.rankings[:]),
            rules=self.rules(msg.rules) if msg.HasField("rules") else Rules(),
            name=msg.name,
        )
        # The name is echoed in results and reports, as a what-if label is: plain text (files name it by folder).
        if msg.name and (unsafe := control_characters("name", msg.name, "cohort name")) is not None:
            self.problems.append(unsafe)
        return year_from_proto(msg, cohort, self.bad, (mentors, mentees))  # dates, intake, history, decisions


def cohort_from_proto_checked(msg: pb.Cohort) -> tuple[Cohort, list[Problem]]:
    """The domain cohort, and the problems the domain types cannot hold (code BAD_VALUE).

    Never raises. Absent optional fields take the domain defaults. Out-of-range values are kept for
    `solver.validate` to report: a CEFR level UNSPECIFIED or unknown keeps its number (a negative one is
    reported here, at `mentees[3].languages[0].level`), an unknown gender
    number N becomes "?N". What the domain cannot hold is reported here, with a fallback value: an
    unknown Goal or Track number (-> UNSPECIFIED; path `mentees[3].goal`, `mentors[0].goals[1]`,
    `rules.eligible_tracks[0]`), a missing location (-> NaN coordinates; `mentors[2].location`), and
    `max_distance_km` set together with `no_distance_limit` (-> no limit; `rules.max_distance_km`, and beside it
    the distance's own INVALID_RULE when it is no positive number, which validation no longer sees), and a
    cohort `name` that is no plain text (a control character; `name`).
    """
    reader = ProtoReader()
    cohort = reader.cohort(msg)
    return cohort, reader.problems


def cohort_from_proto(msg: pb.Cohort) -> Cohort:
    """The domain cohort; never raises. Drops the mapping problems: use `cohort_from_proto_checked` for input."""
    return cohort_from_proto_checked(msg)[0]

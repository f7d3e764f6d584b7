"""The one mapping between generated protobuf classes (mentormatch.v1) and the domain types (solver.domain)."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from os import PathLike
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import duration_pb2, json_format
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from mentormatch.v1 import cohort_pb2 as pb
from mentormatch.v1 import matching_pb2 as mpb
from solver import explain
from solver.candidates import HardRule
from solver.compare import Comparison, Scenario, ScenarioChanges, ScenarioOutcome, apply_changes
from solver.domain import (
    Cohort,
    GenderQuota,
    Goal,
    Language,
    Mentee,
    Mentor,
    ObjectiveMode,
    Ranking,
    Rules,
    Track,
    TravelTime,
    Weights,
    cefr_name,
)
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.ingest import RULE_KEYS, rules_from_mapping
from solver.output import result_dict
from solver.rematch import DEFAULT_PENALTY, RematchResult
from solver.scores import Term
from solver.solve import SolveOptions, SolveResult, SolveStatus
from solver.stability import StabilityAudit
from solver.workflows import PairRef

__all__ = [
    "MAX_PENALTY",
    "MAX_SCENARIOS",
    "RematchInputs",
    "RequestOptions",
    "cohort_from_json_text",
    "cohort_from_proto",
    "cohort_from_proto_checked",
    "cohort_to_json_text",
    "cohort_to_proto",
    "comparison_to_proto",
    "explanation_to_proto",
    "load_cohort_json",
    "match_response_from_result",
    "options_from_proto",
    "options_to_proto",
    "plain",
    "problem_to_proto",
    "proto_field_path",
    "rematch_inputs_from_proto",
    "rematch_problems_to_proto",
    "rematch_response_from_result",
    "result_dict_from_response",
    "scenario_changes_from_proto",
    "scenario_to_proto",
    "scenarios_from_proto",
    "to_message",
    "verdict_to_proto",
]

# --- enums ----------------------------------------------------------------------------------------

_E = TypeVar("_E", Goal, Track)
_M = TypeVar("_M", bound=Message)

_GOAL_TO_PROTO: dict[Goal, pb.Goal.ValueType] = {g: pb.Goal.Value(f"GOAL_{g.name}") for g in Goal}
_GOAL_FROM_PROTO: dict[int, Goal] = {int(v): g for g, v in _GOAL_TO_PROTO.items()}
_TRACK_TO_PROTO: dict[Track, pb.Track.ValueType] = {t: pb.Track.Value(f"TRACK_{t.name}") for t in Track}
_TRACK_FROM_PROTO: dict[int, Track] = {int(v): t for t, v in _TRACK_TO_PROTO.items()}
_GENDER_TO_PROTO: dict[str, pb.Gender.ValueType] = {
    "": pb.GENDER_UNSPECIFIED,
    "f": pb.GENDER_FEMALE,
    "m": pb.GENDER_MALE,
    "x": pb.GENDER_OTHER,
}
_GENDER_FROM_PROTO: dict[int, str] = {int(v): g for g, v in _GENDER_TO_PROTO.items()}
_UNKNOWN_GENDER = re.compile(r"\?(-?\d+)")
_CEFR_NUMBERS = frozenset(int(v) for v in pb.CefrLevel.values() if v != pb.CEFR_LEVEL_UNSPECIFIED)

# --- domain defaults (absent proto fields take these) --------------------------------------------

_RULES_DEFAULT = Rules()
_WEIGHTS_DEFAULT = Weights()
_WEIGHT_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Weights))


def _field_default(cls: type[Any], name: str) -> Any:
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


_MENTOR_CAPACITY_DEFAULT: int = _field_default(Mentor, "capacity")
_MENTEE_PRIORITY_DEFAULT: int = _field_default(Mentee, "priority")


# --- domain -> proto ------------------------------------------------------------------------------


def _gender_to_proto(value: str, path: str) -> pb.Gender.ValueType:
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


def _mentor_to_proto(m: Mentor, path: str) -> pb.Mentor:
    return pb.Mentor(
        id=m.id,
        location=pb.Location(lat=m.lat, lon=m.lon),
        occupations=m.occupations,
        languages=_languages_to_proto(m.languages),
        years_experience=m.years_experience,
        capacity=m.capacity,
        leadership=m.leadership,
        gender=_gender_to_proto(m.gender, f"{path}.gender"),
        interests=m.interests,
        organisation=m.organisation,
        markets=m.markets,
        returning=m.returning,
        goals=[
            pb.Goal.ValueType(_enum_to_proto(_GOAL_TO_PROTO, g, f"{path}.goals[{j}]")) for j, g in enumerate(m.goals)
        ],
    )


def _mentee_to_proto(m: Mentee, path: str) -> pb.Mentee:
    msg = pb.Mentee(
        id=m.id,
        location=pb.Location(lat=m.lat, lon=m.lon),
        occupations=m.occupations,
        languages=_languages_to_proto(m.languages),
        interests=m.interests,
        goal=pb.Goal.ValueType(_enum_to_proto(_GOAL_TO_PROTO, m.goal, f"{path}.goal")),
        gender=_gender_to_proto(m.gender, f"{path}.gender"),
        requested_mentor_gender=_gender_to_proto(m.requested_mentor_gender, f"{path}.requested_mentor_gender"),
        country_of_origin=m.country_of_origin,
        first_language=m.first_language,
        municipality=m.municipality,
        track=pb.Track.ValueType(_enum_to_proto(_TRACK_TO_PROTO, m.track, f"{path}.track")),
        priority=m.priority,
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
            pb.Track.ValueType(_enum_to_proto(_TRACK_TO_PROTO, t, f"rules.eligible_tracks[{j}]"))
            for j, t in enumerate(r.eligible_tracks)
        ],
        organisation_caps=[pb.OrganisationCap(organisation=o, max_mentees=n) for o, n in r.organisation_caps],
        gender_quotas=[
            pb.GenderQuota(
                gender=_gender_to_proto(q.gender, f"rules.gender_quotas[{j}].gender"),
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
    return msg


def cohort_to_proto(cohort: Cohort) -> pb.Cohort:
    """The cohort as a `mentormatch.v1.Cohort` message; every optional field is set explicitly.

    Raises ValueError for a value the contract cannot carry: a gender other than "", "f", "m", "x"
    (or "?N", an unknown enum number read from protobuf), or an integer outside int32.
    """
    return pb.Cohort(
        name=cohort.name,
        mentors=[_mentor_to_proto(m, f"mentors[{i}]") for i, m in enumerate(cohort.mentors)],
        mentees=[_mentee_to_proto(m, f"mentees[{i}]") for i, m in enumerate(cohort.mentees)],
        rankings=[pb.Ranking(from_id=r.from_id, to_id=r.to_id, rank=r.rank) for r in cohort.rankings],
        rules=_rules_to_proto(cohort.rules),
    )


# --- proto -> domain ------------------------------------------------------------------------------


class _Reader:
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
        """CEFR A1..C2 -> 1..6; UNSPECIFIED or an unknown number -> 0, which validation flags."""
        return number if number in _CEFR_NUMBERS else 0

    def location(self, msg: pb.Mentor | pb.Mentee, path: str) -> tuple[float, float]:
        if not msg.HasField("location"):
            self.bad(f"{path}.location", "location is required (WGS84 latitude and longitude)")
            return math.nan, math.nan
        return msg.location.lat, msg.location.lon

    def languages(self, skills: Any) -> tuple[Language, ...]:
        return tuple(Language(code=s.code, level=self.level(s.level)) for s in skills)

    def mentor(self, m: pb.Mentor, path: str) -> Mentor:
        lat, lon = self.location(m, path)
        return Mentor(
            id=m.id,
            lat=lat,
            lon=lon,
            occupations=tuple(m.occupations),
            languages=self.languages(m.languages),
            years_experience=m.years_experience,
            capacity=m.capacity if m.HasField("capacity") else _MENTOR_CAPACITY_DEFAULT,
            leadership=m.leadership,
            gender=self.gender(m.gender),
            interests=tuple(m.interests),
            organisation=m.organisation,
            markets=tuple(m.markets),
            returning=m.returning,
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
            languages=self.languages(m.languages),
            max_travel_km=m.max_travel_km if m.HasField("max_travel_km") else None,
            max_travel_minutes=m.max_travel_minutes if m.HasField("max_travel_minutes") else None,
            interests=tuple(m.interests),
            goal=self.enum(_GOAL_FROM_PROTO, m.goal, Goal.UNSPECIFIED, f"{path}.goal", "goal"),
            gender=self.gender(m.gender),
            requested_mentor_gender=self.gender(m.requested_mentor_gender),
            country_of_origin=m.country_of_origin,
            first_language=m.first_language,
            municipality=m.municipality,
            track=self.enum(_TRACK_FROM_PROTO, m.track, Track.UNSPECIFIED, f"{path}.track", "track"),
            priority=m.priority or _MENTEE_PRIORITY_DEFAULT,
        )

    @staticmethod
    def weights(w: pb.Weights) -> Weights:
        given = {name: getattr(w, name) for name in _WEIGHT_NAMES if w.HasField(name)}  # type: ignore[arg-type]
        return dataclasses.replace(_WEIGHTS_DEFAULT, **given)

    def rules(self, r: pb.Rules) -> Rules:
        max_distance_km: float | None
        if r.no_distance_limit:
            max_distance_km = None
            if r.HasField("max_distance_km"):
                self.bad("rules.max_distance_km", "set together with no_distance_limit; leave one of them out")
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
            eligible_municipalities=tuple(r.eligible_municipalities),
            eligible_tracks=tuple(
                self.enum(_TRACK_FROM_PROTO, t, Track.UNSPECIFIED, f"rules.eligible_tracks[{j}]", "track")
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
            pins=tuple((p.mentee_id, p.mentor_id) for p in r.pins),
            bans=tuple((p.mentee_id, p.mentor_id) for p in r.bans),
            gender_requests_hard=(
                r.gender_requests_hard if r.HasField("gender_requests_hard") else d.gender_requests_hard
            ),
            weights=self.weights(r.weights) if r.HasField("weights") else _WEIGHTS_DEFAULT,
            travel_times=tuple(
                TravelTime(mentee_id=t.mentee_id, mentor_id=t.mentor_id, minutes=t.minutes) for t in r.travel_times
            ),
            max_travel_minutes=r.max_travel_minutes if r.HasField("max_travel_minutes") else d.max_travel_minutes,
        )

    def cohort(self, msg: pb.Cohort) -> Cohort:
        return Cohort(
            mentors=tuple(self.mentor(m, f"mentors[{i}]") for i, m in enumerate(msg.mentors)),
            mentees=tuple(self.mentee(m, f"mentees[{i}]") for i, m in enumerate(msg.mentees)),
            rankings=tuple(Ranking(from_id=r.from_id, to_id=r.to_id, rank=r.rank) for r in msg.rankings),
            rules=self.rules(msg.rules) if msg.HasField("rules") else Rules(),
            name=msg.name,
        )


def cohort_from_proto_checked(msg: pb.Cohort) -> tuple[Cohort, list[Problem]]:
    """The domain cohort, and the problems the domain types cannot hold (code BAD_VALUE).

    Never raises. Absent optional fields take the domain defaults. Out-of-range values are kept for
    `solver.validate` to report: a CEFR level UNSPECIFIED or unknown becomes level 0, an unknown gender
    number N becomes "?N". What the domain cannot hold is reported here, with a fallback value: an
    unknown Goal or Track number (-> UNSPECIFIED; path `mentees[3].goal`, `mentors[0].goals[1]`,
    `rules.eligible_tracks[0]`), a missing location (-> NaN coordinates; `mentors[2].location`), and
    `max_distance_km` set together with `no_distance_limit` (-> no limit; `rules.max_distance_km`).
    """
    reader = _Reader()
    cohort = reader.cohort(msg)
    return cohort, reader.problems


def cohort_from_proto(msg: pb.Cohort) -> Cohort:
    """The domain cohort; never raises. Drops the mapping problems: use `cohort_from_proto_checked` for input."""
    return cohort_from_proto_checked(msg)[0]


# --- JSON -----------------------------------------------------------------------------------------


def cohort_to_json_text(cohort: Cohort) -> str:
    """The cohort in the protobuf JSON mapping, with the .proto field names (snake_case), ending in a newline."""
    msg = cohort_to_proto(cohort)
    return json_format.MessageToJson(msg, preserving_proto_field_name=True, indent=2, ensure_ascii=False) + "\n"


class _DuplicateKey(ValueError):
    """A JSON object with the same key twice: valid JSON, but ambiguous, so protobuf JSON rejects it."""


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


_PARSE_PREFIX = re.compile(r"^(?:Failed to parse \w+ field: )+")
_PARSE_SUFFIX = re.compile(r"\s+at \"?[\w.\[\]]+\"?\.*$")


def _parse_error_message(error: Exception) -> str:
    """protobuf's ParseError text without its nesting prefixes, field list and location suffix."""
    text = str(error).split("\n", 1)[0].strip()
    text = _PARSE_PREFIX.sub("", text)
    text = _PARSE_SUFFIX.sub("", text)
    return text.rstrip(".") or "invalid value"


def _json_problems(value: Any, descriptor: Descriptor, path: str) -> list[tuple[str, str]]:
    """Every (field path, message) in a JSON value that does not fit `descriptor`, found field by field."""
    if not isinstance(value, dict):
        return [(path or "<root>", f"expected a JSON object, got {_json_type(value)}")]
    by_name: dict[str, FieldDescriptor] = {}
    for fd in descriptor.fields:
        by_name[fd.name] = fd
        by_name[fd.json_name] = fd
    message_class: Callable[[], Message] = GetMessageClass(descriptor)
    found: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for key, item in value.items():
        fd = by_name.get(key)
        if fd is None:
            found.append((_join(path, key), f"unknown field {key!r}"))
            continue
        fpath = _join(path, fd.name)
        if fd.name in seen:
            found.append((fpath, f"given twice, as {seen[fd.name]!r} and as {key!r}"))
            continue
        seen[fd.name] = key
        if item is None:
            continue
        repeated = fd.is_repeated
        if repeated and not isinstance(item, list):
            found.append((fpath, f"expected a JSON array, got {_json_type(item)}"))
        elif fd.message_type is not None and repeated:
            for j, element in enumerate(item):
                found.extend(_json_problems(element, fd.message_type, f"{fpath}[{j}]"))
        elif fd.message_type is not None:
            found.extend(_json_problems(item, fd.message_type, fpath))
        elif repeated:
            for j, element in enumerate(item):
                error = _scalar_error(message_class, key, [element])
                if error:
                    found.append((f"{fpath}[{j}]", error))
        else:
            error = _scalar_error(message_class, key, item)
            if error:
                found.append((fpath, error))
    return found


def _scalar_error(message_class: Callable[[], Message], key: str, value: Any) -> str | None:
    try:
        json_format.ParseDict({key: value}, message_class())
    except (json_format.ParseError, ValueError, TypeError) as error:
        return _parse_error_message(error)
    return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else "null")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _at(source: str, path: str) -> str:
    """Where a problem is: "cohort.json, mentors[2].capacity"."""
    return source if path in ("", source) else f"{source}, {path}"


def cohort_from_json_text(text: str, source: str = "<json>") -> Cohort:
    """A cohort from protobuf-JSON text (camelCase or snake_case field names; enums by name or number).

    `source` names the text in problems (a file name). Raises `CohortInvalid`, never anything else:
    NOT_CSV when the text is not JSON (path = `source`), BAD_VALUE for an unknown field or a value of
    the wrong type (path = the field path, e.g. `mentors[2].capacity`), and the mapping problems of
    `cohort_from_proto_checked`. Every problem found is reported at once.
    """
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKey as error:
        raise CohortInvalid([Problem(ProblemCode.BAD_VALUE, source, str(error), location=source)]) from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise CohortInvalid(
            [Problem(ProblemCode.NOT_CSV, source, f"not valid JSON: {error}", location=source)]
        ) from None
    if not isinstance(data, dict):
        raise CohortInvalid(
            [Problem(ProblemCode.BAD_VALUE, source, f"expected a JSON object, got {_json_type(data)}", location=source)]
        )
    msg = pb.Cohort()
    try:
        json_format.ParseDict(data, msg)
    except Exception as error:  # ParseError mostly; whatever it is, the caller gets problems, not a traceback
        try:
            located = _json_problems(data, pb.Cohort.DESCRIPTOR, "")
        except RecursionError:
            located = []
        if not located:
            located = [(source, _parse_error_message(error))]
        raise CohortInvalid(
            [Problem(ProblemCode.BAD_VALUE, path, message, location=_at(source, path)) for path, message in located]
        ) from None
    cohort, problems = cohort_from_proto_checked(msg)
    if problems:
        raise CohortInvalid([dataclasses.replace(p, location=_at(source, p.path)) for p in problems])
    return cohort


def load_cohort_json(path: str | PathLike[str]) -> Cohort:
    """A cohort from a protobuf-JSON file; raises `CohortInvalid` (MISSING_FILE, NOT_CSV, BAD_VALUE), never a traceback."""
    file = Path(path)
    source = str(file)
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise CohortInvalid([Problem(ProblemCode.MISSING_FILE, source, "no such file", location=source)]) from None
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise CohortInvalid(
            [Problem(ProblemCode.NOT_CSV, source, f"cannot read the file: {reason}", location=source)]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CohortInvalid(
            [Problem(ProblemCode.NOT_CSV, source, f"not UTF-8 text (byte {error.start})", location=source)]
        ) from None
    return cohort_from_json_text(text, source=source)


# --- results (mentormatch.v1.matching) ------------------------------------------------------------
#
# A result goes out as the JSON view the command line prints (`solver.output.result_dict`), carried
# field by field in `MatchResponse`; `result_dict_from_response` turns it back into that same dict,
# so a remote solve prints exactly what a local one does.

ROOT_FIELD = "cohort"
"""The request field that holds the cohort: field paths in errors start with it."""

_MODE_TO_PROTO: dict[ObjectiveMode, mpb.ObjectiveMode.ValueType] = {
    m: mpb.ObjectiveMode.Value(f"OBJECTIVE_MODE_{m.name}") for m in ObjectiveMode
}
_MODE_FROM_PROTO: dict[int, ObjectiveMode] = {int(v): m for m, v in _MODE_TO_PROTO.items()}
_MODE_FROM_PROTO[int(mpb.OBJECTIVE_MODE_UNSPECIFIED)] = ObjectiveMode.SCORE
_STATUS_TO_PROTO: dict[str, mpb.SolveStatus.ValueType] = {
    s.value: mpb.SolveStatus.Value(f"SOLVE_STATUS_{s.name}") for s in SolveStatus
}
_STATUS_FROM_PROTO: dict[int, str] = {int(v): s for s, v in _STATUS_TO_PROTO.items()}
_TERM_TO_PROTO: dict[str, mpb.ScoreTerm.ValueType] = {t.value: mpb.ScoreTerm.Value(f"SCORE_TERM_{t.name}") for t in Term}
_TERM_FROM_PROTO: dict[int, str] = {int(v): t for t, v in _TERM_TO_PROTO.items()}
_PROBLEM_TO_PROTO: dict[ProblemCode, mpb.ProblemCode.ValueType] = {
    c: mpb.ProblemCode.Value(f"PROBLEM_CODE_{c.name}")
    for c in ProblemCode
    if f"PROBLEM_CODE_{c.name}" in mpb.ProblemCode.DESCRIPTOR.values_by_name
}
_RULE_TO_PROTO: dict[HardRule, mpb.HardRule.ValueType] = {r: mpb.HardRule.Value(f"HARD_RULE_{r.name}") for r in HardRule}
_RULE_FROM_PROTO: dict[int, HardRule] = {int(v): r for r, v in _RULE_TO_PROTO.items()}
_EXPLAIN_NAMES: dict[int, str] = {
    int(mpb.EXPLAIN_LEVEL_UNSPECIFIED): "NONE",
    int(mpb.EXPLAIN_LEVEL_NONE): "NONE",
    int(mpb.EXPLAIN_LEVEL_PAIRS): "PAIRS",
    int(mpb.EXPLAIN_LEVEL_FULL): "FULL",
}

DEFAULT_ALTERNATIVES = _field_default(SolveOptions, "alternatives")
DEFAULT_TIME_LIMIT_S: float = _field_default(SolveOptions, "time_limit_s")
MAX_ALTERNATIVES = 50
_LOCATED = re.compile(r"^(mentors|mentees)\[(\d+)\]\.(lat|lon)$")


def proto_field_path(path: str, root: str = ROOT_FIELD) -> str:
    """A domain problem path as a field path of the request: `mentors[2].lat` -> `cohort.mentors[2].location.lat`.

    The domain keeps coordinates on the participant and travel times beside the rules; the contract
    nests them (`location`, `rules.travel_times`). An empty path (the cohort as a whole) is `root`.
    """
    if not path:
        return root
    path = _LOCATED.sub(r"\1[\2].location.\3", path)
    if path.startswith("travel_times"):
        path = f"rules.{path}"
    return f"{root}.{path}" if root else path


def problem_to_proto(problem: Problem, root: str = ROOT_FIELD) -> mpb.InputProblem:
    """One problem with its path relative to the request (`root` is the field holding the cohort; "" for none)."""
    return mpb.InputProblem(
        code=_PROBLEM_TO_PROTO.get(problem.code, mpb.PROBLEM_CODE_UNSPECIFIED),
        field_path=proto_field_path(problem.path, root) if problem.path or root else problem.path,
        message=problem.message,
    )


def problem_code_name(code: int) -> str:
    """The stable code's name without its prefix: PROBLEM_CODE_BAD_VALUE -> "BAD_VALUE"."""
    return mpb.ProblemCode.Name(mpb.ProblemCode.ValueType(code)).removeprefix("PROBLEM_CODE_")


@dataclasses.dataclass(frozen=True)
class RequestOptions:
    """What a request's `MatchOptions` ask for, in domain terms."""

    solve: SolveOptions
    explain: str  # "NONE", "PAIRS" or "FULL"
    time_limit_given: bool


def options_from_proto(msg: mpb.MatchOptions, path: str = "options") -> tuple[RequestOptions, list[Problem]]:
    """Domain solve options from `MatchOptions`, and every problem with them (paths like `options.alternatives`).

    Never raises. Absent fields take the defaults of `solver.solve.SolveOptions`; the time limit is as
    asked (the service bounds it by the deadline and its own maximum).
    """
    problems: list[Problem] = []

    def bad(name: str, message: str) -> None:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"{path}.{name}", message))

    alternatives = msg.alternatives if msg.HasField("alternatives") else DEFAULT_ALTERNATIVES
    if not 1 <= alternatives <= MAX_ALTERNATIVES:
        bad("alternatives", f"{alternatives} is not in 1..{MAX_ALTERNATIVES}")
        alternatives = DEFAULT_ALTERNATIVES
    min_difference: int | None = msg.min_difference if msg.HasField("min_difference") else None
    if min_difference is not None and min_difference < 1:
        bad("min_difference", f"{min_difference} is below 1 (leave it out for 10 % of the pairs)")
        min_difference = None
    mode = _MODE_FROM_PROTO.get(msg.mode)
    if mode is None:
        bad("mode", f"unknown objective mode number {msg.mode}")
        mode = ObjectiveMode.SCORE
    explain = _EXPLAIN_NAMES.get(msg.explain)
    if explain is None:
        bad("explain", f"unknown explain level number {msg.explain}")
        explain = "NONE"
    time_limit = DEFAULT_TIME_LIMIT_S
    given = msg.HasField("time_limit")
    if given:
        seconds = msg.time_limit.seconds + msg.time_limit.nanos / 1e9
        if not (seconds > 0 and math.isfinite(seconds)) or msg.time_limit.nanos < 0 or msg.time_limit.nanos >= 10**9:
            bad("time_limit", "the time limit must be more than 0 s (leave it out for the default)")
        else:
            time_limit = seconds
    solve = SolveOptions(mode=mode, alternatives=alternatives, min_difference=min_difference,
                         time_limit_s=time_limit, seed=msg.seed, stable=msg.stable)
    return RequestOptions(solve=solve, explain=explain, time_limit_given=given), problems


def options_to_proto(options: SolveOptions, explain: str = "NONE") -> mpb.MatchOptions:
    """`MatchOptions` asking for what `options` say (explain: "NONE", "PAIRS" or "FULL")."""
    msg = mpb.MatchOptions(
        alternatives=options.alternatives,
        mode=_MODE_TO_PROTO[options.mode],
        seed=options.seed,
        stable=options.stable,
        explain=mpb.ExplainLevel.Value(f"EXPLAIN_LEVEL_{explain}"),
    )
    if options.min_difference is not None:
        msg.min_difference = options.min_difference
    msg.time_limit.FromNanoseconds(round(options.time_limit_s * 1e9))
    return msg


def duration(value: float) -> duration_pb2.Duration:
    """Seconds as a `google.protobuf.Duration` (negative values as 0)."""
    out = duration_pb2.Duration()
    out.FromNanoseconds(max(0, round(value * 1e9)))
    return out


def _breakdown_to_proto(breakdown: Mapping[str, int]) -> list[mpb.TermPoints]:
    return [mpb.TermPoints(term=_TERM_TO_PROTO[term], points=points) for term, points in breakdown.items()]


def _breakdown_from_proto(entries: Any) -> dict[str, int]:
    return {_TERM_FROM_PROTO.get(e.term, str(e.term)): int(e.points) for e in entries}


def _matching_to_proto(data: Mapping[str, Any]) -> mpb.Matching:
    parts = data["objective_parts"]
    diff = data["diff_vs_best"]
    return mpb.Matching(
        rank=data["rank"],
        status=_STATUS_TO_PROTO[data["status"]],
        objective=mpb.Objective(
            value=parts["value"], matched=parts["matched"], matched_priority=parts["matched_priority"],
            total_score=parts["total_score"], worst_score=parts["worst_score"], rank_profile=parts["rank_profile"],
        ),
        gap_to_best=data["gap_to_best"],
        pairs=[
            mpb.MatchedPair(mentee_id=p["mentee"], mentor_id=p["mentor"], score=p["score"],
                            distance_km=p["distance_km"], breakdown=_breakdown_to_proto(p["breakdown"]),
                            reasons=p["reasons"])
            for p in data["pairs"]
        ],
        unmatched_mentee_ids=[u["id"] for u in data["unmatched"]],
        mentors_with_free_capacity=[
            mpb.MentorFreeCapacity(mentor_id=m["id"], free=m["free"]) for m in data["mentors_with_free_capacity"]
        ],
        diff_vs_best=mpb.MatchingDiff(
            kept=diff["kept"],
            removed=[pb.PairRef(mentee_id=a, mentor_id=b) for a, b in diff["removed"]],
            added=[pb.PairRef(mentee_id=a, mentor_id=b) for a, b in diff["added"]],
        ),
    )


def match_response_from_result(result: SolveResult, *, label: str = "", time_limit_s: float | None = None
                               ) -> mpb.MatchResponse:
    """The `MatchResponse` of a solve (explanations are added by `add_explanations`)."""
    data = result_dict(result)
    best = result.best
    return mpb.MatchResponse(
        label=label,
        status=_STATUS_TO_PROTO[data["status"]],
        objective_value=best.objective.value if best is not None else 0,
        objective_bound=data["bound"],
        matchings=[_matching_to_proto(m) for m in data["matchings"]],
        statistics=mpb.SolveStatistics(
            backend=result.stats.backend,
            candidate_pairs=result.stats.candidate_pairs,
            wall_time=duration(result.stats.wall_s),
            solve_time=duration(result.stats.solve_s),
            min_difference=result.stats.min_difference,
            time_limit=duration(result.options.time_limit_s if time_limit_s is None else time_limit_s),
        ),
        notes=data["notes"],
        mode=_MODE_TO_PROTO[result.options.mode],
        mentee_count=data["mentees"],
        mentor_count=data["mentors"],
    )


def _matching_from_proto(m: mpb.Matching) -> dict[str, Any]:
    parts = m.objective
    return {
        "rank": m.rank,
        "status": _STATUS_FROM_PROTO.get(m.status, "UNKNOWN"),
        "objective": parts.value,
        "objective_parts": {
            "value": parts.value,
            "matched": parts.matched,
            "matched_priority": parts.matched_priority,
            "total_score": parts.total_score,
            "worst_score": parts.worst_score,
            "rank_profile": list(parts.rank_profile),
        },
        "gap_to_best": m.gap_to_best,
        "pairs": [
            {"mentee": p.mentee_id, "mentor": p.mentor_id, "score": p.score, "distance_km": p.distance_km,
             "breakdown": _breakdown_from_proto(p.breakdown), "reasons": list(p.reasons)}
            for p in m.pairs
        ],
        "unmatched": [{"id": i} for i in m.unmatched_mentee_ids],
        "mentors_with_free_capacity": [{"id": f.mentor_id, "free": f.free} for f in m.mentors_with_free_capacity],
        "diff_vs_best": {
            "kept": m.diff_vs_best.kept,
            "removed": [[p.mentee_id, p.mentor_id] for p in m.diff_vs_best.removed],
            "added": [[p.mentee_id, p.mentor_id] for p in m.diff_vs_best.added],
        },
    }


def result_dict_from_response(response: mpb.MatchResponse, cohort: Cohort) -> dict[str, Any]:
    """The `solver.output.result_dict` view of a remote answer; `cohort` is the one that was sent."""
    rules = cohort.rules
    stats = response.statistics
    return {
        "cohort": cohort.name,
        "status": _STATUS_FROM_PROTO.get(response.status, "UNKNOWN"),
        "mode": _MODE_FROM_PROTO.get(response.mode, ObjectiveMode.SCORE).value,
        "bound": response.objective_bound,
        "mentees": response.mentee_count,
        "mentors": response.mentor_count,
        "rules": {
            "max_distance_km": rules.max_distance_km,
            "field_depth": rules.field_depth,
            "min_language_level": cefr_name(rules.min_language_level),
        },
        "stats": {
            "backend": stats.backend,
            "candidate_pairs": stats.candidate_pairs,
            "wall_s": round(stats.wall_time.ToNanoseconds() / 1e9, 4),
            "min_difference": stats.min_difference,
        },
        "notes": list(response.notes),
        "matchings": [_matching_from_proto(m) for m in response.matchings],
    }



# --- explanations (solver.explain <-> mentormatch.v1) ---------------------------------------------
#
# The explanation messages mirror solver.explain's dataclasses field for field (same names, same order),
# so one generic walk carries them both ways: dataclass -> message here, message -> the plain dicts
# that `to_dict()` gives (floats to 3 decimals, enums to their codes, absent to None) for the CLI.

STABILITY_PAIRS_LISTED = 100
"""Blocking pairs listed per matching (the rest are counted in `pairs_left_out`)."""

_DOMAIN_ENUMS: dict[str, type[Enum]] = {
    "mentormatch.v1.HardRule": HardRule,
    "mentormatch.v1.ScoreTerm": Term,
    "mentormatch.v1.SolveStatus": SolveStatus,
    "mentormatch.v1.UnmatchedReason": explain.UnmatchedReason,
    "mentormatch.v1.Relaxation": explain.Relaxation,
    "mentormatch.v1.Side": explain.Side,
}


@functools.cache
def _enum_prefix(enum_type: EnumDescriptor) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper() + "_"


@functools.cache
def _enum_numbers(enum_type: EnumDescriptor) -> dict[str, int]:
    """Unprefixed value name -> number ("CANDIDATES_ALL_TAKEN" -> 7 for `UNMATCHED_REASON_CANDIDATES_ALL_TAKEN`)."""
    prefix = _enum_prefix(enum_type)
    return {v.name.removeprefix(prefix): v.number for v in enum_type.values if v.name.startswith(prefix)}


def _enum_number(enum_type: EnumDescriptor, value: object) -> int:
    name = value.name if isinstance(value, Enum) else str(value)
    return _enum_numbers(enum_type).get(name, 0)


_SCALAR: dict[int, Callable[[Any], Any]] = {
    FieldDescriptor.CPPTYPE_BOOL: bool, FieldDescriptor.CPPTYPE_STRING: str,
    FieldDescriptor.CPPTYPE_DOUBLE: float, FieldDescriptor.CPPTYPE_FLOAT: float,
    FieldDescriptor.CPPTYPE_INT32: int, FieldDescriptor.CPPTYPE_INT64: int,
    FieldDescriptor.CPPTYPE_UINT32: int, FieldDescriptor.CPPTYPE_UINT64: int,
}


def _fill(message: Message, value: Any) -> None:
    if message.DESCRIPTOR.full_name == "mentormatch.v1.PairRef" and isinstance(value, tuple):
        message.mentee_id, message.mentor_id = value  # type: ignore[attr-defined]
        return
    if isinstance(value, StabilityAudit):
        listed = value.pairs[:STABILITY_PAIRS_LISTED]
        to_message(dataclasses.replace(value, pairs=listed), message)
        message.pairs_left_out = value.count - len(listed)  # type: ignore[attr-defined]
        return
    to_message(value, message)


_MESSAGE, _ENUM, _SCALAR_KIND = 0, 1, 2


@functools.cache
def _plan(message_type: Descriptor, value_type: Any) -> tuple[tuple[str, bool, int, Any], ...]:
    """How to copy a dataclass into a message, worked out once per pair of types: for each field both have,
    (name, repeated, kind, converter): a message, an enum (its descriptor) or a scalar (its Python type)."""
    fields_by_name = message_type.fields_by_name
    plan: list[tuple[str, bool, int, Any]] = []
    for f in dataclasses.fields(value_type):
        fd = fields_by_name.get(f.name)
        if fd is None:
            continue
        if fd.message_type is not None:
            plan.append((f.name, fd.is_repeated, _MESSAGE, None))
        elif fd.enum_type is not None:
            plan.append((f.name, fd.is_repeated, _ENUM, fd.enum_type))
        else:
            plan.append((f.name, fd.is_repeated, _SCALAR_KIND, _SCALAR[fd.cpp_type]))
    return tuple(plan)


def to_message(value: Any, message: _M) -> _M:
    """Fill `message` from a dataclass whose fields it mirrors by name (fields it lacks are left out)."""
    value_type: Any = type(value)  # a class: hashable, as the plan cache needs
    for name, repeated, kind, convert in _plan(message.DESCRIPTOR, value_type):
        item = getattr(value, name)
        if item is None:
            continue
        if repeated:
            target = getattr(message, name)
            if kind == _MESSAGE:
                for element in item:
                    _fill(target.add(), element)
            elif kind == _ENUM:
                target.extend(_enum_number(convert, element) for element in item)
            else:
                target.extend(convert(element) for element in item)
        elif kind == _MESSAGE:
            _fill(getattr(message, name), item)
        elif kind == _ENUM:
            setattr(message, name, _enum_number(convert, item))
        else:
            setattr(message, name, convert(item))
    return message


def _plain_scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.enum_type is not None:
        if value == 0:
            return None
        name = fd.enum_type.values_by_number[value].name.removeprefix(_enum_prefix(fd.enum_type))
        domain = _DOMAIN_ENUMS.get(fd.enum_type.full_name)
        return domain[name].value if domain is not None and name in domain.__members__ else name
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    return value


def plain(message: Message) -> Any:
    """The `to_dict()` view of an explanation message (what solver.explain's dataclasses give)."""
    name = message.DESCRIPTOR.full_name
    if name == "mentormatch.v1.PairRef":
        return [message.mentee_id, message.mentor_id]  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        value = getattr(message, fd.name)
        if fd.is_repeated:
            out[fd.name] = [plain(v) if fd.message_type is not None else _plain_scalar(fd, v) for v in value]
        elif fd.message_type is not None:
            out[fd.name] = plain(value) if message.HasField(fd.name) else None
        elif fd.has_presence and not message.HasField(fd.name):
            out[fd.name] = None
        else:
            out[fd.name] = _plain_scalar(fd, value)
    if name == "mentormatch.v1.StabilityAudit":
        out = {"count": out["count"], "stable": out["count"] == 0, "ranked_pairs": out["ranked_pairs"],
               "pairs": out["pairs"], "pairs_left_out": out["pairs_left_out"]}
    elif name == "mentormatch.v1.BlockingPair":
        out = {"mentee": out.pop("mentee_id"), "mentor": out.pop("mentor_id"), **out}
    return out


def explanation_to_proto(explanation: explain.Explanation) -> mpb.Explanation:
    """A `solver.explain.Explanation` as the `Explanation` message (blocking pairs listed up to 100)."""
    return to_message(explanation, mpb.Explanation())


def verdict_to_proto(verdict: explain.PairVerdict, label: str = "") -> mpb.ExplainPairResponse:
    """A `solver.explain.why_not` verdict as the ExplainPair answer."""
    return to_message(verdict, mpb.ExplainPairResponse(label=label))


# --- coordinators' workflows: what-if scenarios and re-matching ---------------------------------------
#
# A scenario (or a re-match) is solved on a cohort *derived* from the request: the base minus the people
# removed (or who left), plus the people added, with changed rules and extra pins. The library validates
# that derived cohort, so its problems name positions in it (`mentees[17].languages[1]`); `_Origins`
# records where each element of the derived cohort came from in the request, and turns those paths into
# request paths (`scenarios[2].add_mentees[0].languages[1]`, `keep_pairs[1]`).

MAX_SCENARIOS = 20
"""What-if scenarios one CompareScenarios call takes (the base not counted)."""
DEFAULT_BASE_LABEL = "base"

_RULE_CHANGE_FIELDS = frozenset(f.name for f in mpb.RuleChanges.DESCRIPTOR.fields)
_INDEXED = re.compile(r"^(mentors|mentees|rankings|rules\.(?:pins|bans|travel_times|organisation_caps|gender_quotas))"
                      r"\[(\d+)\](.*)$")
_REMATCH_FIELDS = {"current": "current_pairs", "left": "left_ids", "joined": "joined_ids", "keep": "keep_pairs"}


def _problem_message(code: ProblemCode, path: str, message: str) -> mpb.InputProblem:
    return mpb.InputProblem(code=_PROBLEM_TO_PROTO.get(code, mpb.PROBLEM_CODE_UNSPECIFIED), field_path=path,
                            message=message)


@dataclasses.dataclass
class _Origins:
    """Per indexed collection of a derived cohort, the request path of each element; rule paths likewise.

    `scope` is the request field the derived cohort belongs to ("scenarios[2]", or "" for a re-match);
    a problem at an element that came from elsewhere in the request (the base cohort) is reported at
    `scope` when it is set, its message naming the element, since it is the scenario that made it a problem.
    """

    scope: str
    items: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    rules: dict[str, str] = dataclasses.field(default_factory=dict)  # "rules.field_depth" -> request path
    fallback_rules: str = "cohort.rules"
    ids: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # "mentors" -> ids in derived order
    added: dict[str, str] = dataclasses.field(default_factory=dict)  # id of an added participant -> its path

    def request_path(self, path: str) -> str:
        """The request path of a derived cohort's problem path ("" for the cohort as a whole)."""
        proto = proto_field_path(path, "")
        found = _INDEXED.match(proto)
        if found is not None:
            collection, index, rest = found.group(1), int(found.group(2)), found.group(3)
            origins = self.items.get(collection, [])
            if index < len(origins):
                return origins[index] + rest
            return self.scope or ROOT_FIELD
        for prefix in sorted(self.rules, key=len, reverse=True):
            if proto == prefix or proto.startswith(prefix + ".") or proto.startswith(prefix + "["):
                return self.rules[prefix] + proto[len(prefix):]
        if proto.startswith("rules"):
            return self.fallback_rules + proto[len("rules"):]
        return proto_field_path(proto, ROOT_FIELD) if proto else (self.scope or ROOT_FIELD)

    def problem(self, problem: Problem) -> mpb.InputProblem:
        path = self.request_path(problem.path)
        if problem.code is ProblemCode.DUPLICATE_ID:
            # Validation flags the later of two equal ids (mentors before mentees); the base's ids are unique,
            # so the other one is an added participant: point at it, since it is the one to change.
            found = _INDEXED.match(problem.path.removesuffix(".id"))
            ids = self.ids.get(found.group(1), []) if found is not None else []
            index = int(found.group(2)) if found is not None else len(ids)
            outside = not (path == self.scope or path.startswith(self.scope + "."))
            if self.scope and outside and index < len(ids) and ids[index] in self.added:
                path = f"{self.added[ids[index]]}.id"
        if self.scope and not (path == self.scope or path.startswith(self.scope + ".")):
            return _problem_message(problem.code, self.scope, f"{path}: {problem.message}")
        return _problem_message(problem.code, path, problem.message)


def _filtered(prefix: str, items: Any, keep: Callable[[Any], bool]) -> list[str]:
    return [f"{prefix}[{j}]" for j, item in enumerate(items) if keep(item)]


# --- CompareScenarios ---------------------------------------------------------------------------------


def _rule_overrides(msg: mpb.RuleChanges, reader: _Reader, path: str) -> dict[str, Any]:
    """A `RuleChanges` as the rules.toml keys `solver.compare.ScenarioChanges.rules` takes."""
    out: dict[str, Any] = {}
    for name in ("max_distance_km", "field_depth", "min_mentor_years", "gender_requests_hard", "max_travel_minutes"):
        if msg.HasField(name):
            out[name] = getattr(msg, name)
    if msg.no_distance_limit:
        out["no_distance_limit"] = True
    if msg.HasField("min_language_level"):
        out["min_language_level"] = reader.level(msg.min_language_level)
    lists: tuple[tuple[str, str, list[Any]], ...] = (
        ("eligible_municipalities", "any_municipality", list(msg.eligible_municipalities)),
        ("eligible_tracks", "any_track", [
            reader.enum(_TRACK_FROM_PROTO, t, Track.UNSPECIFIED, f"{path}.eligible_tracks[{j}]", "track").value
            for j, t in enumerate(msg.eligible_tracks)]),
        ("gender_quotas", "no_gender_quotas", [
            {"gender": reader.gender(q.gender), "min_pairs": q.min_pairs,
             "max_pairs": q.max_pairs if q.HasField("max_pairs") else None} for q in msg.gender_quotas]),
    )
    for key, flag, values in lists:
        if values and getattr(msg, flag):
            reader.bad(f"{path}.{flag}", f"set together with {key}; leave one of them out")
        if values or getattr(msg, flag):
            out[key] = values
    if msg.organisation_caps:
        caps: dict[str, int] = {}
        for cap in msg.organisation_caps:
            caps[cap.organisation] = cap.max_mentees
        out["organisation_caps"] = caps
    if msg.no_pins:
        out["pins"] = []
    if msg.no_bans:
        out["bans"] = []
    order = {key: k for k, key in enumerate(RULE_KEYS)}  # a fixed order: the changes are described in it
    return dict(sorted(out.items(), key=lambda item: order.get(item[0], len(order))))


def scenario_changes_from_proto(msg: mpb.Scenario, path: str) -> tuple[ScenarioChanges, list[Problem]]:
    """The library's `ScenarioChanges` of a `Scenario` message, and the problems the domain cannot hold
    (an unknown enum number, a missing location, two contradicting fields), at request paths under `path`."""
    reader = _Reader()
    weights = {name: getattr(msg.weights, name) for name in _WEIGHT_NAMES
               if msg.weights.HasField(name)}  # type: ignore[arg-type]
    changes = ScenarioChanges(
        rules=_rule_overrides(msg.rules, reader, f"{path}.rules"),
        weights=weights,
        add_mentors=tuple(reader.mentor(m, f"{path}.add_mentors[{j}]") for j, m in enumerate(msg.add_mentors)),
        add_mentees=tuple(reader.mentee(m, f"{path}.add_mentees[{j}]") for j, m in enumerate(msg.add_mentees)),
        remove=tuple(msg.remove),
        absent_organisations=tuple(msg.absent_organisations),
        add_pins=tuple((p.mentee_id, p.mentor_id) for p in msg.add_pins),
        add_bans=tuple((p.mentee_id, p.mentor_id) for p in msg.add_bans),
    )
    return changes, reader.problems


def _scenario_origins(base: Cohort, changes: ScenarioChanges, msg: mpb.Scenario, scope: str) -> _Origins:
    """Where each element of `apply_changes(base, changes)` comes from (the order `solver.compare` builds it in)."""
    gone = set(changes.remove) | {m.id for m in base.mentors if m.organisation in set(changes.absent_organisations)}
    stays = lambda ids: not gone & set(ids)  # noqa: E731
    rules = base.rules
    replaced = changes.rules
    caps: dict[str, str] = {}
    for j, (org, _) in enumerate(rules.organisation_caps):
        caps[org] = f"cohort.rules.organisation_caps[{j}]"
    for j, cap in enumerate(msg.rules.organisation_caps):
        caps[cap.organisation] = f"{scope}.rules.organisation_caps[{j}]"
    merged = dict(rules.organisation_caps) | {c.organisation: c.max_mentees for c in msg.rules.organisation_caps}
    origins = _Origins(scope, fallback_rules="cohort.rules")
    origins.items = {
        "mentors": _filtered("cohort.mentors", base.mentors, lambda m: m.id not in gone)
        + [f"{scope}.add_mentors[{j}]" for j in range(len(changes.add_mentors))],
        "mentees": _filtered("cohort.mentees", base.mentees, lambda m: m.id not in gone)
        + [f"{scope}.add_mentees[{j}]" for j in range(len(changes.add_mentees))],
        "rankings": _filtered("cohort.rankings", base.rankings, lambda r: stays((r.from_id, r.to_id))),
        "rules.pins": ([] if "pins" in replaced else _filtered("cohort.rules.pins", rules.pins, stays))
        + [f"{scope}.add_pins[{j}]" for j in range(len(changes.add_pins))],
        "rules.bans": ([] if "bans" in replaced else _filtered("cohort.rules.bans", rules.bans, stays))
        + [f"{scope}.add_bans[{j}]" for j in range(len(changes.add_bans))],
        "rules.travel_times": _filtered("cohort.rules.travel_times", rules.travel_times,
                                        lambda t: stays((t.mentee_id, t.mentor_id))),
        "rules.organisation_caps": [caps[org] for org in merged],
        "rules.gender_quotas": [f"{scope if 'gender_quotas' in replaced else 'cohort'}.rules.gender_quotas[{j}]"
                                for j in range(len(msg.rules.gender_quotas if 'gender_quotas' in replaced
                                                   else rules.gender_quotas))],
    }
    origins.ids = {"mentors": [m.id for m in base.mentors if m.id not in gone] + [m.id for m in changes.add_mentors],
                   "mentees": [m.id for m in base.mentees if m.id not in gone] + [m.id for m in changes.add_mentees]}
    for side in ("mentees", "mentors"):  # the first added one of an id, as `validate` counts
        for j, person in reversed(list(enumerate(getattr(changes, f"add_{side}")))):
            origins.added[person.id] = f"{scope}.add_{side}[{j}]"
    origins.rules = {f"rules.{name}": f"{scope}.rules.{name}" for name in replaced if name in _RULE_CHANGE_FIELDS}
    origins.rules |= {f"rules.weights.{name}": f"{scope}.weights.{name}" for name in changes.weights}
    if "pins" in replaced or changes.add_pins:
        origins.rules["rules.pins"] = f"{scope}.add_pins" if changes.add_pins else f"{scope}.rules.no_pins"
    return origins


def scenarios_from_proto(base: Cohort, messages: Sequence[mpb.Scenario], *, apply: bool = True,
                         max_participants: int | None = None) -> tuple[list[Scenario], list[mpb.InputProblem]]:
    """The what-if scenarios of a CompareScenarios request, applied to the (valid) base cohort with
    `solver.compare.apply_changes`, and every problem at once with its request path
    (`scenarios[2].add_mentees[0].languages[1]`, `scenarios[0].remove[1]`).

    With `apply` False (the base is broken, so every scenario would be too) only the problems the
    messages themselves have are reported. A problem the scenario causes at an element of the base (a
    base pin that a shorter distance limit breaks) is reported at `scenarios[i]`, its message naming
    the element (`cohort.rules.pins[3]: ...`).
    """
    problems: list[mpb.InputProblem] = []
    if len(messages) > MAX_SCENARIOS:
        problems.append(_problem_message(ProblemCode.TOO_LARGE, "scenarios",
                                         f"{len(messages)} scenarios; one call takes at most {MAX_SCENARIOS}"))
        return [], problems
    scenarios: list[Scenario] = []
    for i, msg in enumerate(messages):
        scope = f"scenarios[{i}]"
        changes, mapping_problems = scenario_changes_from_proto(msg, scope)
        problems += [_problem_message(p.code, p.path, p.message) for p in mapping_problems]
        if not apply:
            continue
        origins = _scenario_origins(base, changes, msg, scope)
        reported = {p.path for p in mapping_problems}
        try:
            scenario = apply_changes(base, changes, label=msg.label, description=msg.description, where=scope)
        except CohortInvalid as invalid:
            found = [origins.problem(p) if not p.path.startswith(("remove", "absent_organisations"))
                     else _problem_message(p.code, f"{scope}.{p.path}", p.message) for p in invalid.problems]
            # A problem the mapping found (a missing location) is not reported again by validation (its lat/lon).
            problems += [p for p in found if not _under_any(p.field_path, reported)]
            continue
        size = len(scenario.cohort.mentors) + len(scenario.cohort.mentees)
        if max_participants is not None and size > max_participants:
            problems.append(_problem_message(ProblemCode.TOO_LARGE, scope,
                                             f"{size} participants; this service takes at most {max_participants}"))
        elif not mapping_problems:
            scenarios.append(scenario)
    return scenarios, problems


def _under_any(path: str, parents: set[str]) -> bool:
    return any(path.startswith(parent + ".") or path.startswith(parent + "[") for parent in parents)


def _outcome_to_proto(outcome: ScenarioOutcome) -> mpb.ScenarioOutcome:
    msg = to_message(outcome, mpb.ScenarioOutcome())
    msg.mentee_count, msg.mentor_count = outcome.mentees, outcome.mentors
    msg.solve_time.CopyFrom(duration(outcome.solve_seconds))
    return msg


def comparison_to_proto(comparison: Comparison, label: str = "") -> mpb.CompareScenariosResponse:
    """A `solver.compare.Comparison` as the CompareScenarios answer: the first outcome is the base."""
    base, *others = comparison.scenarios
    return mpb.CompareScenariosResponse(label=label, base=_outcome_to_proto(base),
                                        scenarios=[_outcome_to_proto(o) for o in others])


def scenario_to_proto(label: str, changes: ScenarioChanges, description: str = "") -> mpb.Scenario:
    """A `Scenario` message asking for what `changes` (the library's, rules.toml keys) say.

    Raises ValueError for rule values `solver.ingest.rules_from_mapping` rejects. Rules that replace the
    base's pins or bans are sent as `no_pins` / `no_bans` with the pins added first in `add_pins` /
    `add_bans`; such a pin naming a removed participant is then reported rather than dropped.
    """
    found: list[Problem] = []
    rules = dict(changes.rules)
    weights = {**dict(rules.pop("weights", {}) or {}), **dict(changes.weights)}
    parsed = rules_from_mapping(rules, found)
    parsed_weights = rules_from_mapping({"weights": weights}, found).weights if weights else _WEIGHTS_DEFAULT
    if found:
        raise ValueError("; ".join(f"{p.path}: {p.message}" for p in found))
    msg = mpb.Scenario(label=label, description=description, remove=changes.remove,
                       absent_organisations=changes.absent_organisations)
    r = msg.rules
    if rules.get("no_distance_limit") is True:
        r.no_distance_limit = True
    elif "max_distance_km" in rules and parsed.max_distance_km is not None:
        r.max_distance_km = parsed.max_distance_km
    for name in ("field_depth", "min_mentor_years", "gender_requests_hard", "max_travel_minutes"):
        if name in rules and getattr(parsed, name) is not None:
            setattr(r, name, getattr(parsed, name))
    if "min_language_level" in rules:
        r.min_language_level = pb.CefrLevel.ValueType(parsed.min_language_level)
    if "eligible_municipalities" in rules:
        r.eligible_municipalities.extend(parsed.eligible_municipalities)
        r.any_municipality = not parsed.eligible_municipalities
    if "eligible_tracks" in rules:
        r.eligible_tracks.extend(_TRACK_TO_PROTO[t] for t in parsed.eligible_tracks)
        r.any_track = not parsed.eligible_tracks
    if "gender_quotas" in rules:
        for j, q in enumerate(parsed.gender_quotas):
            r.gender_quotas.add(gender=_gender_to_proto(q.gender, f"rules.gender_quotas[{j}].gender"),
                                min_pairs=q.min_pairs, max_pairs=q.max_pairs)
        r.no_gender_quotas = not parsed.gender_quotas
    r.organisation_caps.extend(pb.OrganisationCap(organisation=o, max_mentees=n) for o, n in parsed.organisation_caps)
    pins = (list(parsed.pins) if "pins" in rules else []) + list(changes.add_pins)
    bans = (list(parsed.bans) if "bans" in rules else []) + list(changes.add_bans)
    r.no_pins, r.no_bans = "pins" in rules, "bans" in rules
    msg.add_pins.extend(pb.PairRef(mentee_id=a, mentor_id=b) for a, b in pins)
    msg.add_bans.extend(pb.PairRef(mentee_id=a, mentor_id=b) for a, b in bans)
    for name in weights:
        if name in _WEIGHT_NAMES:
            setattr(msg.weights, name, getattr(parsed_weights, name))
    msg.add_mentors.extend(_mentor_to_proto(m, f"add_mentors[{j}]") for j, m in enumerate(changes.add_mentors))
    msg.add_mentees.extend(_mentee_to_proto(m, f"add_mentees[{j}]") for j, m in enumerate(changes.add_mentees))
    if not msg.rules.ListFields():
        msg.ClearField("rules")
    return msg


# --- Rematch ------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RematchInputs:
    """A Rematch request's arguments of `solver.rematch.rematch`, besides the cohort and the options."""

    current: tuple[PairRef, ...]
    left: tuple[str, ...]
    joined: tuple[str, ...]
    keep: tuple[PairRef, ...]
    penalty: int
    max_changes: int | None


MAX_PENALTY = 10**14
"""The largest disruption penalty a Rematch call takes: far above any cohort's `points_per_matched_mentee`
times its mentees, and low enough that `rematch_value` (the objective minus penalty x changes) fits an int64."""


def rematch_inputs_from_proto(msg: mpb.RematchRequest) -> tuple[RematchInputs, list[mpb.InputProblem]]:
    """The library's arguments, and the problems the library cannot see (a penalty too large for the answer).

    Absent `penalty` is the library's default (`solver.rematch.DEFAULT_PENALTY`); absent `max_changes` no cap.
    The library checks the rest (unknown ids, negative values) when it is called.
    """
    problems = []
    if msg.HasField("penalty") and msg.penalty > MAX_PENALTY:
        problems.append(_problem_message(ProblemCode.NEGATIVE_VALUE, "penalty",
                                         f"penalty {msg.penalty} is above {MAX_PENALTY}"))
    return RematchInputs(
        current=tuple(PairRef(p.mentee_id, p.mentor_id) for p in msg.current_pairs),
        left=tuple(msg.left_ids),
        joined=tuple(msg.joined_ids),
        keep=tuple(PairRef(p.mentee_id, p.mentor_id) for p in msg.keep_pairs),
        penalty=min(msg.penalty, MAX_PENALTY) if msg.HasField("penalty") else DEFAULT_PENALTY,
        max_changes=msg.max_changes if msg.HasField("max_changes") else None,
    ), problems


def rematch_problems_to_proto(problems: Sequence[Problem], cohort: Cohort, inputs: RematchInputs
                              ) -> list[mpb.InputProblem]:
    """`solver.rematch.rematch`'s problems at request paths: `current[2].mentee_id` -> `current_pairs[2].mentee_id`,
    and a problem of the cohort it solves (the request's minus who left, with the kept pairs pinned) at the
    element it came from (`keep_pairs[1]`, `cohort.mentees[4]`)."""
    gone = set(inputs.left)
    stays = lambda ids: not gone & set(ids)  # noqa: E731
    rules = cohort.rules
    pin_origin: dict[tuple[str, str], str] = {}
    for j, pin in enumerate(rules.pins):
        pin_origin.setdefault(pin, f"cohort.rules.pins[{j}]")
    for j, kept in enumerate(inputs.keep):
        pin_origin.setdefault((kept.mentee_id, kept.mentor_id), f"keep_pairs[{j}]")
    origins = _Origins("", fallback_rules="cohort.rules")
    origins.items = {
        "mentors": _filtered("cohort.mentors", cohort.mentors, lambda m: m.id not in gone),
        "mentees": _filtered("cohort.mentees", cohort.mentees, lambda m: m.id not in gone),
        "rankings": _filtered("cohort.rankings", cohort.rankings, lambda r: stays((r.from_id, r.to_id))),
        "rules.pins": [origin for pin, origin in pin_origin.items() if stays(pin)],
        "rules.bans": _filtered("cohort.rules.bans", rules.bans, stays),
        "rules.travel_times": _filtered("cohort.rules.travel_times", rules.travel_times,
                                        lambda t: stays((t.mentee_id, t.mentor_id))),
        "rules.organisation_caps": [f"cohort.rules.organisation_caps[{j}]" for j in range(len(rules.organisation_caps))],
        "rules.gender_quotas": [f"cohort.rules.gender_quotas[{j}]" for j in range(len(rules.gender_quotas))],
    }
    if inputs.keep:
        origins.rules["rules.pins"] = "keep_pairs"
    out = []
    for problem in problems:
        head, sep, rest = problem.path.partition("[")
        if head in _REMATCH_FIELDS and sep:
            out.append(_problem_message(problem.code, f"{_REMATCH_FIELDS[head]}[{rest}", problem.message))
        elif problem.path in ("penalty", "max_changes"):
            out.append(_problem_message(problem.code, problem.path, problem.message))
        else:
            out.append(origins.problem(problem))
    return out


def rematch_response_from_result(result: RematchResult, label: str = "") -> mpb.RematchResponse:
    """A `solver.rematch.RematchResult` as the Rematch answer."""
    msg = to_message(result, mpb.RematchResponse(label=label))
    msg.mentee_count, msg.mentor_count = result.mentees, result.mentors
    msg.kept_count, msg.ended_count, msg.new_count = result.kept, result.ended, result.new
    return msg

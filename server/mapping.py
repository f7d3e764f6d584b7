"""The one mapping between generated protobuf classes (mentormatch.v1) and the domain types (solver.domain)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Mapping
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
from solver.output import result_dict
from solver.scores import Term
from solver.solve import SolveOptions, SolveResult, SolveStatus
from solver.stability import StabilityAudit

__all__ = [
    "RequestOptions",
    "cohort_from_json_text",
    "cohort_from_proto",
    "cohort_from_proto_checked",
    "cohort_to_json_text",
    "cohort_to_proto",
    "explanation_to_proto",
    "load_cohort_json",
    "match_response_from_result",
    "options_from_proto",
    "options_to_proto",
    "plain",
    "problem_to_proto",
    "proto_field_path",
    "result_dict_from_response",
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


def _enum_prefix(enum_type: EnumDescriptor) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper() + "_"


def _enum_number(enum_type: EnumDescriptor, value: object) -> int:
    name = value.name if isinstance(value, Enum) else str(value)
    found = enum_type.values_by_name.get(_enum_prefix(enum_type) + name)
    return found.number if found is not None else 0


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


def to_message(value: Any, message: _M) -> _M:
    """Fill `message` from a dataclass whose fields it mirrors by name (fields it lacks are left out)."""
    fields_by_name = message.DESCRIPTOR.fields_by_name
    for f in dataclasses.fields(value):
        fd = fields_by_name.get(f.name)
        item = getattr(value, f.name)
        if fd is None or item is None:
            continue
        if fd.is_repeated:
            target = getattr(message, f.name)
            for element in item:
                if fd.message_type is not None:
                    _fill(target.add(), element)
                elif fd.enum_type is not None:
                    target.append(_enum_number(fd.enum_type, element))
                else:
                    target.append(_SCALAR[fd.cpp_type](element))
        elif fd.message_type is not None:
            _fill(getattr(message, f.name), item)
        elif fd.enum_type is not None:
            setattr(message, f.name, _enum_number(fd.enum_type, item))
        else:
            setattr(message, f.name, _SCALAR[fd.cpp_type](item))
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

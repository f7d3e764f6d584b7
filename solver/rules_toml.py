"""rules.toml: the programme's rules read from a parsed TOML table (every problem at its key) and written back."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from solver.codes import fold_code
from solver.domain import (
    CEFR_LEVELS,
    FieldFamily,
    FieldRule,
    GenderQuota,
    Goal,
    MutualChoice,
    Rules,
    Segment,
    Track,
    TravelTime,
    Weights,
    cefr_level,
    cefr_name,
)
from solver.errors import CohortInvalid, Problem, ProblemCode, did_you_mean
from solver.fileio import read_toml
from solver.history import intake_from_toml, intake_toml_lines

RULE_KEYS = (
    "max_distance_km", "field_depth", "min_language_level", "min_mentor_years", "eligible_municipalities",
    "eligible_tracks", "organisation_caps", "gender_quotas", "pins", "bans", "gender_requests_hard",
    "weights", "max_travel_minutes", "no_distance_limit", "online_meetings", "personal_limits_extend",
    "programme_languages", "field_rule", "field_families", "field_families_file", "mutual_choice",
    "extra_seat_cost", "segments", "intake",
)  # fmt: skip
SEGMENT_KEYS = (
    "id", "goals", "tracks", "municipalities", "tags", "field_depth", "field_rule", "max_distance_km",
    "no_distance_limit", "max_travel_minutes", "min_language_level", "min_mentor_years", "programme_languages",
    "online_meetings", "personal_limits_extend", "mutual_choice", "mentor_goals",
)  # fmt: skip


def rules_from_mapping(data: Mapping[str, Any], problems: list[Problem],
                       travel: tuple[TravelTime, ...] = (), directory: Path | None = None) -> Rules:
    """Rules from a parsed TOML table (also used by what-if scenario files); problems appended.

    `directory` is where `field_families_file` is looked for (the cohort's); without one the key is refused.
    """
    defaults = Rules()

    def bad(key: str, message: str) -> None:
        problems.append(Problem(ProblemCode.BAD_VALUE, f"rules.{key}", message, f"rules.toml {key}"))

    for key in data:
        if key not in RULE_KEYS:
            bad(key, f"unknown rule '{key}'{did_you_mean(key, RULE_KEYS)} (known: {', '.join(RULE_KEYS)})")

    def get(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = data.get(key, default)
        if value is default:
            return default
        if isinstance(value, bool) and kind is not bool:
            bad(key, f"expected {_kind_name(kind)}, got true/false")
            return default
        if not isinstance(value, kind):
            bad(key, f"expected {_kind_name(kind)}, got {type(value).__name__}")
            return default
        return value

    level = _level(data.get("min_language_level", defaults.min_language_level), "min_language_level", bad,
                   defaults.min_language_level)

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        raw = get(key, list, [])
        out = []
        for k, item in enumerate(raw):
            if (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
                out.append((item[0], item[1]))
            else:
                bad(f"{key}[{k}]", "expected [mentee_id, mentor_id]")
        return tuple(out)

    caps_raw = get("organisation_caps", dict, {})
    caps = []
    for org, cap in caps_raw.items():
        if isinstance(cap, int) and not isinstance(cap, bool):
            caps.append((str(org), cap))
        else:
            bad(f"organisation_caps.{org}", "expected a whole number of mentees")
    quotas = []
    for k, raw in enumerate(get("gender_quotas", list, [])):
        bounds = (raw.get("min_pairs", 0), raw.get("max_pairs")) if isinstance(raw, dict) else ()
        if (isinstance(raw, dict) and isinstance(raw.get("gender"), str)
                and all(b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in bounds)):
            quotas.append(GenderQuota(raw["gender"].lower(), raw.get("min_pairs", 0), raw.get("max_pairs")))
        else:
            bad(f"gender_quotas[{k}]", "expected {gender = \"f\", min_pairs = N, max_pairs = N}")
    weights_raw = get("weights", dict, {})
    weight_values = Weights().as_dict()
    for key, value in weights_raw.items():
        if key not in weight_values:
            bad(f"weights.{key}", f"unknown weight '{key}'{did_you_mean(key, weight_values)} (known: "
                f"{', '.join(weight_values)})")
        elif not isinstance(value, int) or isinstance(value, bool):
            bad(f"weights.{key}", "expected a whole number")
        else:
            weight_values[key] = value
    distance = data.get("max_distance_km", defaults.max_distance_km)
    if distance is not None and (isinstance(distance, bool) or not isinstance(distance, int | float)):
        bad("max_distance_km", "expected a number of km")
        distance = defaults.max_distance_km
    if get("no_distance_limit", bool, False):
        if "max_distance_km" in data:
            bad("no_distance_limit", "give max_distance_km or no_distance_limit = true, not both")
            # The limit is lifted, so the validator never sees the distance: its value is checked here, at once.
            if distance is not None and (wrong := distance_problem(distance, "rules.max_distance_km")) is not None:
                problems.append(replace(wrong, location="rules.toml max_distance_km"))
        distance = None
    minutes = data.get("max_travel_minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, int | float)):
        bad("max_travel_minutes", "expected a number of minutes")
        minutes = None
    tracks = []
    for k, t in enumerate(get("eligible_tracks", list, [])):
        try:
            tracks.append(Track(str(t).lower()))
        except ValueError:
            known_tracks = [v.value for v in Track if v.value]
            bad(f"eligible_tracks[{k}]", f"'{t}' is not one of: {', '.join(known_tracks)}"
                f"{did_you_mean(str(t), known_tracks)}")
    families = _families(data, bad, directory, problems)
    return Rules(
        max_distance_km=float(distance) if distance is not None else None,
        field_depth=get("field_depth", int, defaults.field_depth),
        min_language_level=int(level),
        min_mentor_years=get("min_mentor_years", int, defaults.min_mentor_years),
        eligible_municipalities=tuple(str(m) for m in get("eligible_municipalities", list, [])),
        eligible_tracks=tuple(tracks),
        organisation_caps=tuple(caps),
        gender_quotas=tuple(quotas),
        pins=pairs("pins"),
        bans=pairs("bans"),
        gender_requests_hard=get("gender_requests_hard", bool, defaults.gender_requests_hard),
        weights=Weights(**weight_values),
        travel_times=travel,
        max_travel_minutes=float(minutes) if minutes is not None else None,
        online_meetings=get("online_meetings", bool, defaults.online_meetings),
        personal_limits_extend=get("personal_limits_extend", bool, defaults.personal_limits_extend),
        programme_languages=_codes(get("programme_languages", list, []), "programme_languages", bad),
        field_rule=_choice(FieldRule, data.get("field_rule"), "field_rule", bad) or defaults.field_rule,
        field_families=families,
        mutual_choice=_choice(MutualChoice, data.get("mutual_choice"), "mutual_choice", bad) or defaults.mutual_choice,
        extra_seat_cost=get("extra_seat_cost", int, defaults.extra_seat_cost),
        segments=tuple(_segment(raw, k, bad) for k, raw in enumerate(get("segments", list, []))),
        intake=intake_from_toml(data.get("intake"), bad),
    )


def distance_problem(km: float, path: str) -> Problem | None:
    """INVALID_RULE when a distance limit is no positive number of km (NaN, infinite, 0 or below), else None.
    For a `max_distance_km` given beside `no_distance_limit`, whose value the validator never sees (the pair is
    a problem of its own, and the value's problem is reported beside it rather than once it is fixed)."""
    if math.isfinite(km) and km > 0:
        return None
    return Problem(ProblemCode.INVALID_RULE, path, f"{km} km is not a positive distance")


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "a whole number", float: "a number", bool: "true/false", list: "a list", dict: "a table", str: "text"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _level(value: Any, key: str, bad: Callable[[str, str], None], default: int) -> int:
    """A CEFR level given as text ("B1") or as its number 1..6."""
    if isinstance(value, str):
        parsed = cefr_level(value)
        if not parsed:
            bad(key, f"'{value}' is not a CEFR level{did_you_mean(str(value), CEFR_LEVELS)}")
        return parsed or default
    if not isinstance(value, int) or isinstance(value, bool):
        bad(key, "expected a CEFR level such as \"B1\"")
        return default
    return value


_E = TypeVar("_E", FieldRule, MutualChoice, Goal, Track)


def _choice(kind: type[_E], value: Any, key: str, bad: Callable[[str, str], None]) -> _E | None:
    """One value of an enumeration given as text; None when absent or refused (then reported)."""
    if value is None:
        return None
    try:
        return kind(str(value).lower())
    except ValueError:
        values = [v.value for v in kind if v.value]
        known = ", ".join(f'"{v}"' for v in values)
        bad(key, f"'{value}' is not one of {known}{did_you_mean(str(value), values)}")
        return None


def _codes(values: list[Any], key: str, bad: Callable[[str, str], None]) -> tuple[str, ...]:
    """Language codes, case-folded (ASCII letters only: `fold_code`); each keeps its place, so that the validator's
    problems (an unknown code, an empty one) name the item as the file numbers it."""
    out = []
    for k, value in enumerate(values):
        if isinstance(value, str):
            out.append(fold_code(value, upper=False))
        else:
            bad(f"{key}[{k}]", "expected a language code such as \"da\"")
            out.append("")  # (the validator's problem at this place gives way to this one)
    return tuple(out)


def _enums(kind: type[_E], values: Any, key: str, bad: Callable[[str, str], None]) -> tuple[_E, ...]:
    if not isinstance(values, list):
        bad(key, "expected a list")
        return ()
    found = (_choice(kind, v, f"{key}[{k}]", bad) for k, v in enumerate(values))
    return tuple(v for v in found if v is not None)


def _segment(raw: Any, k: int, bad: Callable[[str, str], None]) -> Segment:
    """One `[[segments]]` table; every problem reported at `segments[k].key`."""
    at = f"segments[{k}]"
    if not isinstance(raw, dict):
        bad(at, "expected a table (a [[segments]] entry)")
        return Segment(id=f"segment-{k}")
    for key in raw:
        if key not in SEGMENT_KEYS:
            bad(f"{at}.{key}", f"unknown segment key '{key}'{did_you_mean(key, SEGMENT_KEYS)} (known: "
                f"{', '.join(SEGMENT_KEYS)})")

    def typed(key: str, kind: type | tuple[type, ...]) -> Any:
        value = raw.get(key)
        if value is None:
            return None
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            bad(f"{at}.{key}", f"expected {_kind_name(kind)}")
            return None
        return value

    segment_id = raw.get("id")
    if not isinstance(segment_id, str) or not segment_id:
        bad(f"{at}.id", "every segment needs an id (text)")
        segment_id = f"segment-{k}"
    distance = typed("max_distance_km", (int, float))
    no_limit = bool(typed("no_distance_limit", bool))
    if no_limit and distance is not None:
        bad(f"{at}.no_distance_limit", "give max_distance_km or no_distance_limit = true, not both")
    minutes = typed("max_travel_minutes", (int, float))
    level = raw.get("min_language_level")
    languages = typed("programme_languages", list)
    return Segment(
        id=segment_id,
        goals=_enums(Goal, raw.get("goals", []), f"{at}.goals", bad),
        tracks=_enums(Track, raw.get("tracks", []), f"{at}.tracks", bad),
        municipalities=tuple(str(m) for m in (typed("municipalities", list) or [])),
        tags=tuple(str(t).lower() for t in (typed("tags", list) or [])),
        field_depth=typed("field_depth", int),
        field_rule=_choice(FieldRule, raw.get("field_rule"), f"{at}.field_rule", bad),
        max_distance_km=float(distance) if distance is not None else None,
        no_distance_limit=no_limit,
        max_travel_minutes=float(minutes) if minutes is not None else None,
        min_language_level=None if level is None else _level(level, f"{at}.min_language_level", bad, 0),
        min_mentor_years=typed("min_mentor_years", int),
        programme_languages=None if languages is None else _codes(languages, f"{at}.programme_languages", bad),
        online_meetings=typed("online_meetings", bool),
        personal_limits_extend=typed("personal_limits_extend", bool),
        mutual_choice=_choice(MutualChoice, raw.get("mutual_choice"), f"{at}.mutual_choice", bad),
        mentor_goals=_enums(Goal, raw.get("mentor_goals", []), f"{at}.mentor_goals", bad),
    )


def _families(data: Mapping[str, Any], bad: Callable[[str, str], None], directory: Path | None,
              problems: list[Problem]) -> tuple[FieldFamily, ...]:
    """Field families given inline (`[[field_families]]`) or in `field_families_file`; () for the built-in ones."""
    inline = data.get("field_families")
    name = data.get("field_families_file")
    if inline is not None and name is not None:
        bad("field_families_file", "give field_families or field_families_file, not both")
    if name is not None:
        if not isinstance(name, str) or not name:
            bad("field_families_file", "expected a file name")
            return ()
        if directory is None:
            bad("field_families_file", "only a cohort's rules.toml can name a families file")
            return ()
        try:
            loaded = read_toml(directory / name, field_path="rules.field_families_file",
                               location=f"rules.toml field_families_file ({name})")
        except CohortInvalid as unreadable:
            problems.extend(unreadable.problems)
            return ()
        inline = loaded.get("family", [])
        where = "field_families_file"
    else:
        where = "field_families"
    if inline is None:
        return ()
    if not isinstance(inline, list):
        bad(where, "expected a list of tables with id and prefixes")
        return ()
    out = []
    for k, raw in enumerate(inline):
        prefixes = raw.get("prefixes") if isinstance(raw, dict) else None
        if (isinstance(raw, dict) and isinstance(raw.get("id"), str) and isinstance(prefixes, list) and prefixes
                and all(isinstance(p, str) and p.isdigit() and 1 <= len(p) <= 4 for p in prefixes)):
            out.append(FieldFamily(raw["id"], tuple(prefixes), str(raw.get("source", ""))))
        else:
            bad(f"{where}[{k}]", "expected {id = \"ict\", prefixes = [\"25\", \"133\"], source = \"...\"} with "
                "prefixes of 1 to 4 ISCO-08 digits")
    return tuple(out)


def format_float(value: float | None) -> str:
    if value is None:
        return ""
    return repr(float(value))


def format_bool(value: bool) -> str:
    return "true" if value else "false"


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rules_to_toml(rules: Rules) -> str:
    lines = ["# Programme rules: see README.md, 'rules.toml'."]
    if rules.max_distance_km is not None:
        lines.append(f"max_distance_km = {format_float(rules.max_distance_km)}")
    else:
        lines.append("no_distance_limit = true")
    lines += [
        f"field_depth = {rules.field_depth}",
        f'min_language_level = "{cefr_name(rules.min_language_level)}"',
        f"min_mentor_years = {rules.min_mentor_years}",
        f"gender_requests_hard = {format_bool(rules.gender_requests_hard)}",
    ]
    if rules.max_travel_minutes is not None:
        lines.append(f"max_travel_minutes = {format_float(rules.max_travel_minutes)}")
    lines += [
        f"online_meetings = {format_bool(rules.online_meetings)}",
        f"personal_limits_extend = {format_bool(rules.personal_limits_extend)}",
        f'field_rule = "{rules.field_rule.value}"',
        f'mutual_choice = "{rules.mutual_choice.value}"',
        f"extra_seat_cost = {rules.extra_seat_cost}",
    ]
    if rules.programme_languages:
        lines.append(f"programme_languages = {_toml_list(rules.programme_languages)}")
    if rules.eligible_municipalities:
        lines.append(f"eligible_municipalities = [{', '.join(map(_toml_str, rules.eligible_municipalities))}]")
    if rules.eligible_tracks:
        lines.append(f"eligible_tracks = [{', '.join(_toml_str(t.value) for t in rules.eligible_tracks)}]")
    for key, pairs in (("pins", rules.pins), ("bans", rules.bans)):
        if pairs:
            lines.append(f"{key} = [{', '.join(f'[{_toml_str(a)}, {_toml_str(b)}]' for a, b in pairs)}]")
    if rules.organisation_caps:
        lines += ["", "[organisation_caps]"] + [f"{_toml_str(org)} = {cap}" for org, cap in rules.organisation_caps]
    lines += ["", "[weights]"] + [f"{k} = {v}" for k, v in rules.weights.as_dict().items()]
    for quota in rules.gender_quotas:
        lines += ["", "[[gender_quotas]]", f"gender = {_toml_str(quota.gender)}", f"min_pairs = {quota.min_pairs}"]
        if quota.max_pairs is not None:
            lines.append(f"max_pairs = {quota.max_pairs}")
    for family in rules.field_families:
        lines += ["", "[[field_families]]", f"id = {_toml_str(family.id)}", f"prefixes = {_toml_list(family.prefixes)}",
                  f"source = {_toml_str(family.source)}"]
    for segment in rules.segments:
        lines += ["", "[[segments]]", *_segment_lines(segment)]
    lines += intake_toml_lines(rules.intake)
    return "\n".join(lines) + "\n"


def _toml_list(values: Iterable[str]) -> str:
    return f"[{', '.join(map(_toml_str, values))}]"


def _segment_lines(g: Segment) -> list[str]:
    lines = [f"id = {_toml_str(g.id)}"]
    for key, values in (("goals", [x.value for x in g.goals]), ("tracks", [x.value for x in g.tracks]),
                        ("municipalities", g.municipalities), ("tags", g.tags),
                        ("mentor_goals", [x.value for x in g.mentor_goals])):
        if values:
            lines.append(f"{key} = {_toml_list(values)}")
    if g.programme_languages is not None:
        lines.append(f"programme_languages = {_toml_list(g.programme_languages)}")
    for key, value in (("field_depth", g.field_depth), ("min_mentor_years", g.min_mentor_years)):
        if value is not None:
            lines.append(f"{key} = {value}")
    for key, number in (("max_distance_km", g.max_distance_km), ("max_travel_minutes", g.max_travel_minutes)):
        if number is not None:
            lines.append(f"{key} = {format_float(number)}")
    if g.no_distance_limit:
        lines.append("no_distance_limit = true")
    if g.min_language_level is not None:
        lines.append(f'min_language_level = "{cefr_name(g.min_language_level)}"')
    for key, flag in (("online_meetings", g.online_meetings), ("personal_limits_extend", g.personal_limits_extend)):
        if flag is not None:
            lines.append(f"{key} = {format_bool(flag)}")
    for key, choice in (("field_rule", g.field_rule), ("mutual_choice", g.mutual_choice)):
        if choice is not None:
            lines.append(f"{key} = {_toml_str(choice.value)}")
    return lines

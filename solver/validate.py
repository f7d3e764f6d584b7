"""Validation of a cohort: every problem at once, each with a stable code and a field path (its warnings are
`solver.cohort_warnings`')."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from solver.arrays import CohortArrays, cohort_arrays
from solver.candidates import HardRule, rule_masks
from solver.codes import COUNTRY_CODES, LANGUAGE_CODES, country_problem, language_problem
from solver.domain import GENDERS, Cohort, Language, Mentee, Mentor, Ranking, Rules
from solver.errors import Problem, ProblemCode
from solver.history import year_problems

ISCO = re.compile(r"^\d{4}$")
MAX_PRIORITY = 1000
MAX_WEIGHT = 1000
MAX_CAPACITY = 100_000
MAX_YEARS = 80
MAX_RANK = 1000  # a speed-dating position; the solver's rank profile is as long as the largest rank
MAX_INT32 = 2**31 - 1  # what the protobuf contract carries; files are held to the same bound

PERSON_LIST_CAPS: dict[str, int] = {
    "occupations": 100,  # ISCO-08 unit groups: a person holds or seeks a few (the bundled programmes: 4 at most)
    "languages": 200,  # a person speaks a handful (bundled: 4 at most); ISO 639-1's 184 codes all fit
    "interests": 100,  # free tags compared between the two of a pair (bundled: 5)
    "markets": 250,  # a mentor knows a few (bundled: 4); ISO 3166-1's 249 codes and XK all fit
    "goals": 100,  # four goals exist; a goal listed twice is no problem (it counts once)
    "tags": 100,  # a mentee's labels that segments select on (bundled: none)
    "avoid_organisations": 100,  # the organisations a mentee must not be matched into (bundled: 1)
}
"""Items one participant's list may hold: a list above its cap is one TOO_LARGE problem at its path
(`mentors[0].occupations`). No real programme comes near these; they keep a pair's work small, which compares
the two people's lists (their occupations, their interests, her tags against every segment's): two people with
20,000 occupations each once held a solve for a minute and 4.8 GB."""
_MENTOR_LISTS = ("occupations", "languages", "interests", "markets", "goals")
_MENTEE_LISTS = ("occupations", "languages", "interests", "tags", "avoid_organisations")

RULE_LIST_CAPS: dict[str, int] = {
    "eligible_municipalities": 1_000,  # Denmark has 98 municipalities, Sweden 290, Norway 357
    "eligible_tracks": 100,  # four tracks exist; one listed twice is no problem
    "programme_languages": 200,  # ISO 639-1 has 184 codes
    "organisation_caps": 20_000,  # one per organisation: one per mentor of the largest cohort the service takes
    "gender_quotas": 10,  # one per gender (f, m, x) is all a quota needs
    "segments": 100,  # a programme's groups of mentees (the bundled kvinfo_network: 6); each is checked per mentee
    "field_families": 1_000,  # the built-in grouping has 11
}
"""Items the programme's lists may hold (`rules.<name>`), each above its cap one TOO_LARGE problem."""
SEGMENT_LIST_CAPS: dict[str, int] = {
    "goals": 100,
    "tracks": 100,
    "municipalities": 100,  # Denmark's 98 fit: a segment is checked against every mentee, so its lists stay short
    "tags": 100,
    "programme_languages": 200,
    "mentor_goals": 100,
}
"""Items each segment's lists may hold (`rules.segments[k].<name>`)."""
FAMILY_PREFIXES_CAP = 1_000  # ISCO-08 has 619 groups at its four levels: one family may name every one
ALL_FAMILY_PREFIXES_CAP = 2_000  # every group in three families: each person's occupations meet every prefix


def finite_number(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _languages(path: str, languages: tuple[Language, ...], out: list[Problem]) -> None:
    for k, lang in enumerate(languages):
        if (wrong := language_problem(lang.code)) is not None:
            out.append(Problem(ProblemCode.MALFORMED_LANGUAGE, f"{path}.languages[{k}]", wrong))
        if lang.level == -1:
            continue  # already reported by the file reader
        if lang.level == 0:  # the contract's CEFR_LEVEL_UNSPECIFIED, or a JSON skill without its level
            out.append(Problem(ProblemCode.MALFORMED_CEFR, f"{path}.languages[{k}].level",
                               f"no level given for '{lang.code}': give a CEFR level A1..C2"))
        elif not 1 <= lang.level <= 6:
            out.append(Problem(ProblemCode.MALFORMED_CEFR, f"{path}.languages[{k}].level",
                               f"level {lang.level} is not a CEFR level A1..C2"))


CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Control characters: a terminal acts on them (escape sequences recolour or move the screen), so no id or label
may hold one; every output prints data as text, and this keeps text from being a command to the terminal."""
INVISIBLE_CATEGORIES = frozenset({"Cf", "Zl", "Zp", "Cs"})
"""Unicode categories no id or label may hold anywhere: format characters (Cf: zero-width spaces and joiners,
direction marks, embeddings, overrides and isolates, invisible operators, the soft hyphen U+00AD, U+180E, the tag
characters U+E0000..U+E007F, the byte order mark), line and paragraph separators (Zl, Zp) and surrogates.
Such a character prints as nothing, or reorders what follows, so an id holding one looks like another id (`E1` and `E\u200b1`) or shows its text reversed."""
BLANK = frozenset("\u034f\u115f\u1160\u3164\uffa0\u2800") | frozenset(chr(c) for c in range(0xFE00, 0xFE10)) | \
    frozenset(chr(c) for c in range(0xE0100, 0xE01F0))
"""Characters of other categories that print as nothing: the combining grapheme joiner U+034F, the Hangul fillers
U+115F, U+1160, U+3164 and U+FFA0, the braille blank U+2800 and the variation selectors U+FE00..U+FE0F and
U+E0100..U+E01EF."""


def _named(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}{f' {name}' if name else ''}"


def _printed_as_other(text: str, edges: bool) -> tuple[int, str, str] | None:
    """The first character of `text` that makes it print as nothing or like another text, with why, or None."""
    for position, char in enumerate(text):
        category = unicodedata.category(char)
        if category in INVISIBLE_CATEGORIES or char in BLANK:
            return position, char, "an invisible or direction-changing character"
    if not edges or not text:
        return None
    if text.isspace():
        return 0, text[0], "only spaces"
    if unicodedata.category(text[0]) in {"Mn", "Me"}:
        return 0, text[0], "a combining mark at its start"
    for position in (0, len(text) - 1):
        if text[position].isspace() or unicodedata.category(text[position]) == "Zs":
            return position, text[position], f"a space at its {'start' if position == 0 else 'end'}"
    return None


def control_characters(path: str, text: str, what: str, *, edges: bool = False) -> Problem | None:
    """A problem when `text` holds a control character or one that prints as nothing or reorders the text (by
    Unicode category: Cf, Zl, Zp, unassigned, and the blank fillers and variation selectors of `BLANK`), each
    shown by its code point, never printed as it is; else None. With `edges` (ids), also a space at either end
    or a combining mark at the start, and a text of spaces only."""
    if text.isascii() and text.isprintable() and not (edges and text and (text[0] == " " or text[-1] == " ")):
        return None  # printable ASCII holds none of the characters below (the common case: one test, no loop)
    found = CONTROL.search(text)
    if found is not None:
        return Problem(ProblemCode.BAD_VALUE, path, f"the {what} holds a control character ({found.group()!r}); "
                       "ids and labels are printed to terminals and files, so they must be plain text")
    odd = _printed_as_other(text, edges)
    if odd is not None:
        position, char, why = odd
        return Problem(ProblemCode.BAD_VALUE, path, f"the {what} holds {why} ({_named(char)}) at position "
                       f"{position + 1}: it would print like another text, so ids and labels must be plain text")
    return None


def _person(path: str, id_: str, lat: float, lon: float, occupations: tuple[str, ...], out: list[Problem]) -> None:
    if not id_:
        out.append(Problem(ProblemCode.EMPTY_ID, f"{path}.id", "the id is empty"))
    bad_id = control_characters(f"{path}.id", id_, "id", edges=True)
    if bad_id is not None:
        out.append(bad_id)
    if not (finite_number(lat) and -90 <= lat <= 90):
        out.append(Problem(ProblemCode.COORDINATE_OUT_OF_RANGE, f"{path}.lat", f"latitude {lat} is not in -90..90"))
    if not (finite_number(lon) and -180 <= lon <= 180):
        out.append(Problem(ProblemCode.COORDINATE_OUT_OF_RANGE, f"{path}.lon",
                           f"longitude {lon} is not in -180..180"))
    for k, code in enumerate(occupations):
        if not ISCO.match(code):
            out.append(Problem(ProblemCode.MALFORMED_ISCO, f"{path}.occupations[{k}]",
                               f"'{code}' is not an ISCO-08 unit group (4 digits, e.g. 2512)"))


def _gender(path: str, value: str, out: list[Problem]) -> None:
    if value.startswith("?") and value[1:].lstrip("-").isdigit():  # an unknown enum number from the contract
        out.append(Problem(ProblemCode.MALFORMED_GENDER, path, f"unknown gender value {value[1:]}: expected "
                           "GENDER_UNSPECIFIED, GENDER_FEMALE, GENDER_MALE or GENDER_OTHER (f, m, x in files)"))
    elif value and value not in GENDERS:
        out.append(Problem(ProblemCode.MALFORMED_GENDER, path, f"'{value}' is not one of f, m, x (or empty)"))


def _limit(path: str, value: float | None, out: list[Problem]) -> None:
    if value is not None and not (finite_number(value) and value >= 0):
        out.append(Problem(ProblemCode.NEGATIVE_VALUE, path, f"{value} is not a non-negative number"))


def _in_range(path: str, value: int, low: int, high: int, message: str, out: list[Problem]) -> None:
    """`value` in low..high, else a problem: NEGATIVE_VALUE below (the minimum), OUT_OF_RANGE above (the maximum)."""
    if value < low:
        out.append(Problem(ProblemCode.NEGATIVE_VALUE, path, message))
    elif value > high:
        out.append(Problem(ProblemCode.OUT_OF_RANGE, path, message))


def _too_long(path: str, count: int, cap: int, what: str, out: list[Problem]) -> bool:
    """A TOO_LARGE problem when a list of `count` items is longer than `cap`; whether it is."""
    if count <= cap:
        return False
    out.append(Problem(ProblemCode.TOO_LARGE, path, f"{count:,} {what}; at most {cap:,} are taken"))
    return True


def _person_lists(person: Mentor | Mentee) -> tuple[str, ...]:
    return _MENTOR_LISTS if isinstance(person, Mentor) else _MENTEE_LISTS


def within_caps(person: Mentor | Mentee) -> bool:
    """Whether each of the person's lists is within its cap (`PERSON_LIST_CAPS`): only such a person is worth
    comparing with others before the cohort is valid (warnings, pins)."""
    return all(len(getattr(person, name)) <= PERSON_LIST_CAPS[name] for name in _person_lists(person))


def list_cap_problems(cohort: Cohort) -> list[Problem]:
    """A TOO_LARGE problem for each participant's list above its cap (`PERSON_LIST_CAPS`), by side and person.
    A column's longest list is found by one C-level pass; only a side with a list too long is looked at by person."""
    out: list[Problem] = []
    for side, people, names in (("mentors", cohort.mentors, _MENTOR_LISTS), ("mentees", cohort.mentees, _MENTEE_LISTS)):
        if all(max(map(len, map(attrgetter(name), people)), default=0) <= PERSON_LIST_CAPS[name] for name in names):
            continue
        for i, person in enumerate(people):
            for name in names:
                _too_long(f"{side}[{i}].{name}", len(getattr(person, name)), PERSON_LIST_CAPS[name],
                          name.replace("_", " "), out)
    return out


def rules_within_caps(rules: Rules) -> bool:
    """Whether every list of the rules is within its cap (`RULE_LIST_CAPS`, `SEGMENT_LIST_CAPS`, the families')."""
    return not _rule_list_problems(rules)


def _rule_list_problems(rules: Rules) -> list[Problem]:
    """A TOO_LARGE problem for each list of the rules above its cap: the programme's, each segment's (up to the
    segments' cap) and each field family's prefixes."""
    out: list[Problem] = []
    for name, cap in RULE_LIST_CAPS.items():
        _too_long(f"rules.{name}", len(getattr(rules, name)), cap, name.replace("_", " "), out)
    for k, segment in enumerate(rules.segments[:RULE_LIST_CAPS["segments"]]):
        for name, cap in SEGMENT_LIST_CAPS.items():
            _too_long(f"rules.segments[{k}].{name}", len(getattr(segment, name) or ()), cap, name.replace("_", " "),
                      out)
    families = rules.field_families[:RULE_LIST_CAPS["field_families"]]
    each = [_too_long(f"rules.field_families[{k}].prefixes", len(f.prefixes), FAMILY_PREFIXES_CAP, "prefixes", out)
            for k, f in enumerate(families)]
    if not any(each):
        _too_long("rules.field_families", sum(len(f.prefixes) for f in families), ALL_FAMILY_PREFIXES_CAP,
                  "prefixes in all families together", out)
    return out


def duplicate_id(path: str, id_: str) -> Problem:
    """The problem of an id that an earlier participant (on either side) has already."""
    return Problem(ProblemCode.DUPLICATE_ID, path, f"id '{id_}' is used more than once (ids are unique across both sides)")


def mentor_problems(i: int, mentor: Mentor) -> list[Problem]:
    """The problems of the values of `mentors[i]` (its id's uniqueness is `people_problems`')."""
    out: list[Problem] = []
    path = f"mentors[{i}]"
    _person(path, mentor.id, mentor.lat, mentor.lon, mentor.occupations[:PERSON_LIST_CAPS["occupations"]], out)
    _languages(path, mentor.languages[:PERSON_LIST_CAPS["languages"]], out)
    if mentor.gender != "" and mentor.gender not in GENDERS:  # (the paths and messages only when needed)
        _gender(f"{path}.gender", mentor.gender, out)
    if mentor.capacity < 0:
        out.append(Problem(ProblemCode.NEGATIVE_CAPACITY, f"{path}.capacity",
                           f"capacity {mentor.capacity} is negative"))
    elif mentor.capacity > MAX_CAPACITY:
        out.append(Problem(ProblemCode.OUT_OF_RANGE, f"{path}.capacity",
                           f"capacity {mentor.capacity} is above {MAX_CAPACITY}"))
    if not 0 <= mentor.years_experience <= MAX_YEARS:
        _in_range(f"{path}.years_experience", mentor.years_experience, 0, MAX_YEARS,
                  f"{mentor.years_experience} years is not in 0..{MAX_YEARS}", out)
    for k, market in enumerate(mentor.markets[:PERSON_LIST_CAPS["markets"]]):  # (a list too long: its own problem)
        if (wrong := country_problem(market)) is not None:
            out.append(Problem(ProblemCode.MALFORMED_COUNTRY, f"{path}.markets[{k}]", wrong))
    return out


def mentee_problems(i: int, mentee: Mentee) -> list[Problem]:
    """The problems of the values of `mentees[i]` (its id's uniqueness is `people_problems`')."""
    out: list[Problem] = []
    path = f"mentees[{i}]"
    _person(path, mentee.id, mentee.lat, mentee.lon, mentee.occupations[:PERSON_LIST_CAPS["occupations"]], out)
    _languages(path, mentee.languages[:PERSON_LIST_CAPS["languages"]], out)
    if mentee.gender != "" and mentee.gender not in GENDERS:  # (the paths and messages only when needed)
        _gender(f"{path}.gender", mentee.gender, out)
    if mentee.requested_mentor_gender != "" and mentee.requested_mentor_gender not in GENDERS:
        _gender(f"{path}.requested_mentor_gender", mentee.requested_mentor_gender, out)
    if mentee.max_travel_km is not None:
        _limit(f"{path}.max_travel_km", mentee.max_travel_km, out)
    if mentee.max_travel_minutes is not None:
        _limit(f"{path}.max_travel_minutes", mentee.max_travel_minutes, out)
    if mentee.country_of_origin and (wrong := country_problem(mentee.country_of_origin)) is not None:
        out.append(Problem(ProblemCode.MALFORMED_COUNTRY, f"{path}.country_of_origin", wrong))
    if mentee.first_language and (wrong := language_problem(mentee.first_language)) is not None:
        out.append(Problem(ProblemCode.MALFORMED_LANGUAGE, f"{path}.first_language", wrong))
    if not 1 <= mentee.priority <= MAX_PRIORITY:
        _in_range(f"{path}.priority", mentee.priority, 1, MAX_PRIORITY,
                  f"priority {mentee.priority} is not in 1..{MAX_PRIORITY}", out)
    return out


def people_problems(cohort: Cohort) -> list[Problem]:
    """The participants' own problems: ids used twice, then each mentor's values, then each mentee's. Only the
    people `_odd_mentors` / `_odd_mentees` find by columns are looked at one by one."""
    out: list[Problem] = []
    mentor_ids, mentee_ids = list(map(_ID, cohort.mentors)), list(map(_ID, cohort.mentees))
    if len(set(mentor_ids).union(mentee_ids)) < len(mentor_ids) + len(mentee_ids):  # some id is used twice
        seen: Counter[str] = Counter()
        for side, ids in (("mentors", mentor_ids), ("mentees", mentee_ids)):
            for i, id_ in enumerate(ids):
                if id_ and seen[id_]:
                    out.append(duplicate_id(f"{side}[{i}].id", id_))
                seen[id_] += 1
    for i in _odd_mentors(cohort.mentors, mentor_ids):
        out += mentor_problems(i, cohort.mentors[i])
    for i in _odd_mentees(cohort.mentees, mentee_ids):
        out += mentee_problems(i, cohort.mentees[i])
    return out


# --- people by columns: the values of a side are checked a column at a time with a few C-level passes; where a
# column is not plainly valid, its people are checked one by one (a superset of those with a problem: whoever is
# left out has none). `mentor_problems` / `mentee_problems` then word the problems of the people found.

_ID, _LAT, _LON, _OCCUPATIONS, _LANGUAGES, _GENDER = (attrgetter(name) for name in (
    "id", "lat", "lon", "occupations", "languages", "gender"))
_CODE, _LEVEL = attrgetter("code"), attrgetter("level")
_REQUESTED, _TRAVEL_KM, _TRAVEL_MINUTES, _COUNTRY, _FIRST_LANGUAGE, _PRIORITY = (attrgetter(name) for name in (
    "requested_mentor_gender", "max_travel_km", "max_travel_minutes", "country_of_origin", "first_language",
    "priority"))
_FROM, _TO, _RANK = attrgetter("from_id"), attrgetter("to_id"), attrgetter("rank")
_REAL = frozenset({float, int})
_WHOLE = frozenset({int})
_PLAIN_LEVELS = frozenset({-1, 1, 2, 3, 4, 5, 6})  # -1: reported by the reader already
_PLAIN_GENDERS = frozenset({"", *GENDERS})


def _plain_ids(ids: Sequence[str]) -> bool:
    """Every id non-empty, of printable ASCII, without a space at either end (what `_person` reports nothing of)."""
    text = "".join(ids)
    if not (text.isascii() and text.isprintable()):
        return False
    marked = "\x1f" + "\x1f".join(ids) + "\x1f"  # (no printable id holds U+001F)
    return "\x1f\x1f" not in marked and "\x1f " not in marked and " \x1f" not in marked


def _plain_isco(codes: Sequence[str]) -> bool:
    return not codes or (set(map(len, codes)) == {4} and (text := "".join(codes)).isascii() and text.isdigit())


def _plain_skills(skills: Sequence[Language]) -> bool:
    return LANGUAGE_CODES.issuperset(map(_CODE, skills)) and set(map(_LEVEL, skills)) <= _PLAIN_LEVELS


def all_within(values: Sequence[Any], low: float, high: float, types: frozenset[type] = _REAL) -> bool:
    """Every value a number of `types` in low..high (NaN is not). A finite sum has no NaN or infinity in it, and
    then the least and the greatest value say it."""
    if not values:
        return True
    kinds = set(map(type, values))
    if not kinds <= types:
        return False
    try:
        if float in kinds and not math.isfinite(sum(values)):
            return False
    except OverflowError:  # an integer beyond any float beside floats
        return False
    return low <= min(values) and max(values) <= high


def _odd_in(column: Sequence[Any], plain: Callable[[Sequence[Any]], bool], odd: set[int]) -> None:
    """Add to `odd` the people whose value in `column` is not `plain` (each value looked at only when some is not)."""
    if not plain(column):
        odd.update(i for i, value in enumerate(column) if not plain([value]))


def _odd_lists_in(column: Sequence[Sequence[Any]], plain: Callable[[Sequence[Any]], bool], odd: set[int]) -> None:
    """Add to `odd` the people with an element of their list in `column` that is not `plain`."""
    if not plain(list(chain.from_iterable(column))):
        odd.update(i for i, values in enumerate(column) if not plain(values))


def _odd_codes(codes: list[str], known: frozenset[str], odd: set[int]) -> None:
    """Add to `odd` the people whose code (a country, a language; empty: none given) is not a `known` one."""
    if not known.issuperset(filter(None, codes)):
        odd.update(i for i, code in enumerate(codes) if code and code not in known)


def _odd_people(people: Sequence[Mentor | Mentee], ids: list[str]) -> set[int]:
    """The people whose id, coordinates, occupations, languages or gender may have a problem."""
    odd: set[int] = set()
    _odd_in(ids, _plain_ids, odd)
    _odd_in(list(map(_LAT, people)), lambda v: all_within(v, -90, 90), odd)
    _odd_in(list(map(_LON, people)), lambda v: all_within(v, -180, 180), odd)
    _odd_lists_in(list(map(_OCCUPATIONS, people)), _plain_isco, odd)
    _odd_lists_in(list(map(_LANGUAGES, people)), _plain_skills, odd)
    _odd_in(list(map(_GENDER, people)), lambda v: set(v) <= _PLAIN_GENDERS, odd)
    return odd


def _odd_mentors(mentors: Sequence[Mentor], ids: list[str]) -> list[int]:
    """The mentors that may have a problem (`mentor_problems` says), in order."""
    odd = _odd_people(mentors, ids)
    _odd_in([m.capacity for m in mentors], lambda v: all_within(v, 0, MAX_CAPACITY, _WHOLE), odd)
    _odd_in([m.years_experience for m in mentors], lambda v: all_within(v, 0, MAX_YEARS, _WHOLE), odd)
    _odd_lists_in([m.markets for m in mentors], COUNTRY_CODES.issuperset, odd)
    return sorted(odd)


def _odd_mentees(mentees: Sequence[Mentee], ids: list[str]) -> list[int]:
    """The mentees that may have a problem (`mentee_problems` says), in order."""
    odd = _odd_people(mentees, ids)
    _odd_in(list(map(_REQUESTED, mentees)), lambda v: set(v) <= _PLAIN_GENDERS, odd)
    for limit in (_TRAVEL_KM, _TRAVEL_MINUTES):
        column = list(map(limit, mentees))
        if column.count(None) < len(column):  # (as a rule nobody has a personal limit)
            _odd_in(column, lambda v: all_within([x for x in v if x is not None], 0, math.inf) and math.inf not in v, odd)
    _odd_codes(list(map(_COUNTRY, mentees)), COUNTRY_CODES, odd)
    _odd_codes(list(map(_FIRST_LANGUAGE, mentees)), LANGUAGE_CODES, odd)
    _odd_in(list(map(_PRIORITY, mentees)), lambda v: all_within(v, 1, MAX_PRIORITY, _WHOLE), odd)
    return sorted(odd)


ArraysOf = Callable[[Cohort], tuple[Cohort, CohortArrays]]
"""The arrays the pins are checked with, of a cohort or of the same people in another order (its canonical one):
returns that cohort and its arrays. The service passes one that builds the canonical cohort's arrays once, for the
pins and then for the candidate pairs."""


def _own_arrays(cohort: Cohort) -> tuple[Cohort, CohortArrays]:
    return cohort, cohort_arrays(cohort)


def validate(cohort: Cohort, *, max_participants: int | None = None,
             people: Sequence[Problem] | None = None, arrays_of: ArraysOf = _own_arrays) -> list[Problem]:
    """Every problem in the cohort; an empty list means it can be solved. `people`: the participants' own problems
    (`people_problems`) when the caller has found them already (the file reader does, by columns:
    `solver.people_tables`); they are not looked for again. `arrays_of`: see `ArraysOf`."""
    if max_participants is not None and len(cohort.mentors) + len(cohort.mentees) > max_participants:
        return [Problem(ProblemCode.TOO_LARGE, "", f"{len(cohort.mentors) + len(cohort.mentees)} participants; "
                        f"this service takes at most {max_participants}")]
    out = people_problems(cohort) if people is None else list(people)
    out += list_cap_problems(cohort)  # (the person's items beyond a cap are not checked one by one)
    rules = cohort.rules
    named = cohort.rankings or rules.pins or rules.bans or rules.travel_times  # else no id is looked up
    mentor_ids = {m.id for m in cohort.mentors} if named else set()
    mentee_ids = {m.id for m in cohort.mentees} if named else set()
    everyone = mentor_ids | mentee_ids
    ranked: set[tuple[str, str]] = set()
    plain = _plain_rankings(cohort.rankings, mentor_ids, mentee_ids)
    for i, r in enumerate(() if plain else cohort.rankings):
        key = (r.from_id, r.to_id)
        if (((r.from_id in mentee_ids and r.to_id in mentor_ids) or (r.from_id in mentor_ids and r.to_id in mentee_ids))
                and 1 <= r.rank <= MAX_RANK and key not in ranked):
            ranked.add(key)  # from one side to the other, once, in range (the usual ranking): nothing to report
            continue
        path = f"rankings[{i}]"
        for name, value in (("from_id", r.from_id), ("to_id", r.to_id)):
            if value not in mentor_ids and value not in mentee_ids:
                out.append(Problem(ProblemCode.UNKNOWN_ID, f"{path}.{name}", f"'{value}' is no mentor or mentee"))
        known = {r.from_id, r.to_id} <= everyone
        if known and not ((r.from_id in mentee_ids and r.to_id in mentor_ids)
                          or (r.from_id in mentor_ids and r.to_id in mentee_ids)):
            out.append(Problem(ProblemCode.INVALID_RANK, path,
                               f"'{r.from_id}' ranks '{r.to_id}': a ranking goes from a mentee to a mentor or back"))
        if not 1 <= r.rank <= MAX_RANK:
            out.append(Problem(ProblemCode.INVALID_RANK, f"{path}.rank",
                               f"rank {r.rank} is not in 1..{MAX_RANK} (1 = first choice)"))
        if (r.from_id, r.to_id) in ranked:
            out.append(Problem(ProblemCode.INVALID_RANK, path, f"'{r.from_id}' ranks '{r.to_id}' more than once"))
        ranked.add((r.from_id, r.to_id))
    out += _validate_rules(cohort, mentee_ids, mentor_ids)
    out += year_problems(cohort, control_characters)  # history, intake, availability dates, decisions
    out += _validate_pins(cohort, out, arrays_of, (mentee_ids, mentor_ids))
    return _empty_sides(cohort, out)


_OTHER_SIDE = str.maketrans("12", "21")


def _plain_rankings(rankings: Sequence[Ranking], mentor_ids: set[str], mentee_ids: set[str]) -> bool:
    """Whether every ranking goes from one side to the other, once, at a rank in range (nothing to report): checked
    by columns, without a Python step per ranking."""
    if not rankings or not mentor_ids.isdisjoint(mentee_ids):
        return not rankings
    froms, tos = list(map(_FROM, rankings)), list(map(_TO, rankings))
    side = dict.fromkeys(mentor_ids, "1") | dict.fromkeys(mentee_ids, "2")
    try:  # the sides of the rankers as a text of 1s (mentors) and 2s (mentees), exchanged: the sides of the ranked
        across = "".join(map(side.__getitem__, froms)).translate(_OTHER_SIDE) == "".join(map(side.__getitem__, tos))
    except KeyError:  # an id of nobody
        return False
    return (across and all_within(list(map(_RANK, rankings)), 1, MAX_RANK, _WHOLE)
            and len(set(zip(froms, tos, strict=True))) == len(froms))


def _empty_sides(cohort: Cohort, found: list[Problem]) -> list[Problem]:
    """With nobody on a side, every ranking, pin, ban or travel time naming someone of that side names an unknown
    id: one EMPTY_SIDE problem per side says so, in place of an UNKNOWN_ID per reference (a mentors.csv saved
    without its rows gives one line, not hundreds). An unknown id that cannot belong to the empty side stays."""
    empty = [side for side, people in (("mentors", cohort.mentors), ("mentees", cohort.mentees)) if not people]
    if not empty:
        return found
    known = {m.id for m in cohort.mentors} | {m.id for m in cohort.mentees}
    references = dict.fromkeys(empty, 0)
    kept = []
    for problem in found:
        side = _side_named(problem, empty, cohort, known)
        if side is None:
            kept.append(problem)
        else:
            references[side] += 1
    singular = {"mentors": "mentor", "mentees": "mentee"}
    return kept + [Problem(ProblemCode.EMPTY_SIDE, side, f"there are no {side} at all, yet {count} "
                           f"reference{'s' if count > 1 else ''} (rankings, pins, bans, travel times, history) name a "
                           f"{singular[side]}: add the {side}, or remove what names them")
                   for side, count in references.items() if count]


_RANKING_ID = re.compile(r"^rankings\[(\d+)\]\.(from_id|to_id)$")


def _side_named(problem: Problem, empty: list[str], cohort: Cohort, known: set[str]) -> str | None:
    """The empty side an UNKNOWN_ID problem follows from, or None when it may be a wrong id of a side with people."""
    if problem.code is not ProblemCode.UNKNOWN_ID:
        return None
    for side in empty:
        if problem.path.endswith(f".{side[:-1]}_id"):  # pins, bans, travel times, history: the path names the side
            return side
    ranking = _RANKING_ID.match(problem.path)
    if ranking is None:
        return None
    if len(empty) == 2:  # a ranking joins a mentee and a mentor: one reference to each side, whichever ranks
        return "mentors" if ranking.group(2) == "from_id" else "mentees"
    r = cohort.rankings[int(ranking.group(1))]
    other = r.to_id if ranking.group(2) == "from_id" else r.from_id
    # Beside someone known (of the side with people), the unknown id is of the empty side.
    return empty[0] if other in known else None


def _validate_rules(cohort: Cohort, mentee_ids: set[str], mentor_ids: set[str]) -> list[Problem]:
    rules = cohort.rules
    out = _rule_list_problems(rules)  # and the items of a list beyond its cap are not checked one by one
    if rules.max_distance_km is not None and not (finite_number(rules.max_distance_km) and rules.max_distance_km > 0):
        out.append(Problem(ProblemCode.INVALID_RULE, "rules.max_distance_km",
                           f"{rules.max_distance_km} km is not a positive distance (0 would match only people at the "
                           "same place; for no limit leave it out and set no_distance_limit = true)"))
    if rules.max_travel_minutes is not None and not (finite_number(rules.max_travel_minutes) and rules.max_travel_minutes > 0):
        out.append(Problem(ProblemCode.INVALID_RULE, "rules.max_travel_minutes",
                           f"{rules.max_travel_minutes} is not a number of minutes above 0 (for no travel-time "
                           "limit leave it out)"))
    if not 0 <= rules.field_depth <= 4:
        out.append(Problem(ProblemCode.INVALID_RULE, "rules.field_depth",
                           f"field depth {rules.field_depth} is not 0..4 (ISCO digits that must agree)"))
    if not 1 <= rules.min_language_level <= 6:
        out.append(Problem(ProblemCode.INVALID_RULE, "rules.min_language_level",
                           f"{rules.min_language_level} is not a CEFR level 1..6 (A1..C2)"))
    if not 0 <= rules.min_mentor_years <= MAX_YEARS:  # (the path and message worded only when needed)
        _in_range("rules.min_mentor_years", rules.min_mentor_years, 0, MAX_YEARS,
                  f"{rules.min_mentor_years} is not in 0..{MAX_YEARS}", out)
    capped: dict[str, int] = {}
    for k, (org, cap) in enumerate(rules.organisation_caps[:RULE_LIST_CAPS["organisation_caps"]]):
        if not org.strip():
            out.append(Problem(ProblemCode.INVALID_RULE, f"rules.organisation_caps[{k}].organisation",
                               "an organisation cap names no organisation (mentors' `organisation`)"))
        elif org in capped:  # two caps: which one holds would be anybody's guess
            out.append(Problem(ProblemCode.INVALID_RULE, f"rules.organisation_caps[{k}]",
                               f"a second cap for '{org}' (the first is rules.organisation_caps[{capped[org]}]): "
                               "give one cap per organisation"))
        capped.setdefault(org, k)
        _in_range(f"rules.organisation_caps[{k}]", cap, 0, MAX_INT32, f"cap {cap} for '{org}' is not in 0..{MAX_INT32}",
                  out)
    for k, quota in enumerate(rules.gender_quotas[:RULE_LIST_CAPS["gender_quotas"]]):
        if not quota.gender:
            out.append(Problem(ProblemCode.INVALID_RULE, f"rules.gender_quotas[{k}].gender",
                               "a gender quota names no gender: f, m or x (GENDER_FEMALE, GENDER_MALE, GENDER_OTHER)"))
        _gender(f"rules.gender_quotas[{k}].gender", quota.gender, out)
        top = MAX_INT32 if quota.max_pairs is None else quota.max_pairs
        if not 0 <= quota.min_pairs <= top <= MAX_INT32:
            out.append(Problem(ProblemCode.INVALID_RULE, f"rules.gender_quotas[{k}]",
                               f"bounds {quota.min_pairs}..{quota.max_pairs} are not 0 <= min <= max <= {MAX_INT32}"))
    for name, value in rules.weights.as_dict().items():
        if not 0 <= value <= MAX_WEIGHT:
            _in_range(f"rules.weights.{name}", value, 0, MAX_WEIGHT, f"weight {value} is not in 0..{MAX_WEIGHT}", out)
    for key, pairs in (("pins", rules.pins), ("bans", rules.bans)):
        for k, (mentee, mentor) in enumerate(pairs):
            if mentee not in mentee_ids:
                out.append(Problem(ProblemCode.UNKNOWN_ID, f"rules.{key}[{k}].mentee_id", f"'{mentee}' is no mentee"))
            if mentor not in mentor_ids:
                out.append(Problem(ProblemCode.UNKNOWN_ID, f"rules.{key}[{k}].mentor_id", f"'{mentor}' is no mentor"))
    routes: set[tuple[str, str]] = set()
    for k, t in enumerate(rules.travel_times):
        if (t.mentee_id, t.mentor_id) in routes:  # two times for one route: which one holds is anybody's guess
            out.append(Problem(ProblemCode.BAD_VALUE, f"travel_times[{k}]",
                               f"a second travel time from '{t.mentee_id}' to '{t.mentor_id}' (one row per pair)"))
        routes.add((t.mentee_id, t.mentor_id))
        if t.mentee_id not in mentee_ids:
            out.append(Problem(ProblemCode.UNKNOWN_ID, f"travel_times[{k}].mentee_id", f"'{t.mentee_id}' is no mentee"))
        if t.mentor_id not in mentor_ids:
            out.append(Problem(ProblemCode.UNKNOWN_ID, f"travel_times[{k}].mentor_id", f"'{t.mentor_id}' is no mentor"))
        if not (finite_number(t.minutes) and t.minutes >= 0):
            out.append(Problem(ProblemCode.NEGATIVE_VALUE, f"travel_times[{k}].minutes",
                               f"{t.minutes} is not a non-negative number of minutes"))
    out += _validate_programme_rules(rules)
    bans = set(rules.bans)
    pinned_mentee: dict[str, int] = {}
    pins_per_mentor: Counter[str] = Counter()
    for k, pin in enumerate(rules.pins):
        if pin in bans:
            out.append(Problem(ProblemCode.PIN_BANNED, f"rules.pins[{k}]",
                               f"'{pin[0]}' and '{pin[1]}' are both pinned and banned"))
        if pin[0] in pinned_mentee:
            out.append(Problem(ProblemCode.CONFLICTING_PINS, f"rules.pins[{k}]",
                               f"mentee '{pin[0]}' is already pinned by rules.pins[{pinned_mentee[pin[0]]}]"))
        pinned_mentee.setdefault(pin[0], k)
        pins_per_mentor[pin[1]] += 1
    capacity = {m.id: m.capacity for m in cohort.mentors} if pins_per_mentor else {}
    for mentor, count in sorted(pins_per_mentor.items()):
        if mentor in capacity and count > capacity[mentor]:
            out.append(Problem(ProblemCode.PINS_EXCEED_CAPACITY, "rules.pins",
                               f"mentor '{mentor}' has {count} pins but capacity {capacity[mentor]}"))
    return out


MAX_SEAT_COST = 100_000  # points a second seat may cost: beyond it a second seat is never worth a pair


def _validate_programme_rules(rules: Rules) -> list[Problem]:
    """Segments, families, programme languages and the seat cost: each value in its range, ids unique."""
    out: list[Problem] = []
    if not 0 <= rules.extra_seat_cost <= MAX_SEAT_COST:
        _in_range("rules.extra_seat_cost", rules.extra_seat_cost, 0, MAX_SEAT_COST,
                  f"{rules.extra_seat_cost} is not in 0..{MAX_SEAT_COST} points", out)
    for k, code in enumerate(rules.programme_languages[:RULE_LIST_CAPS["programme_languages"]]):
        if (wrong := language_problem(code)) is not None:
            out.append(Problem(ProblemCode.MALFORMED_LANGUAGE, f"rules.programme_languages[{k}]", wrong))
    seen: dict[str, int] = {}
    for k, family in enumerate(rules.field_families[:RULE_LIST_CAPS["field_families"]]):
        if not family.id or not family.prefixes or not all(p.isdigit() and 1 <= len(p) <= 4 for p in family.prefixes):
            out.append(Problem(ProblemCode.INVALID_RULE, f"rules.field_families[{k}]",
                               "a family needs an id and prefixes of 1 to 4 ISCO-08 digits"))
        if family.id in seen:
            out.append(Problem(ProblemCode.INVALID_RULE, f"rules.field_families[{k}].id",
                               f"family '{family.id}' is also rules.field_families[{seen[family.id]}]"))
        unsafe = control_characters(f"rules.field_families[{k}].id", family.id, "family id", edges=True)
        if unsafe is not None:
            out.append(unsafe)
        seen.setdefault(family.id, k)
    seen = {}
    for k, segment in enumerate(rules.segments[:RULE_LIST_CAPS["segments"]]):
        path = f"rules.segments[{k}]"
        if not segment.id:
            out.append(Problem(ProblemCode.INVALID_RULE, f"{path}.id", "every segment needs an id"))
        elif segment.id in seen:
            out.append(Problem(ProblemCode.INVALID_RULE, f"{path}.id",
                               f"segment '{segment.id}' is also rules.segments[{seen[segment.id]}]"))
        seen.setdefault(segment.id, k)
        if (unsafe := control_characters(f"{path}.id", segment.id, "segment id", edges=True)) is not None:
            out.append(unsafe)
        if segment.field_depth is not None and not 0 <= segment.field_depth <= 4:
            out.append(Problem(ProblemCode.INVALID_RULE, f"{path}.field_depth",
                               f"field depth {segment.field_depth} is not 0..4"))
        if segment.min_language_level is not None and not 1 <= segment.min_language_level <= 6:
            out.append(Problem(ProblemCode.INVALID_RULE, f"{path}.min_language_level",
                               f"{segment.min_language_level} is not a CEFR level 1..6 (A1..C2)"))
        if segment.min_mentor_years is not None:
            _in_range(f"{path}.min_mentor_years", segment.min_mentor_years, 0, MAX_YEARS,
                      f"{segment.min_mentor_years} is not in 0..{MAX_YEARS}", out)
        for key, value in (("max_distance_km", segment.max_distance_km),
                           ("max_travel_minutes", segment.max_travel_minutes)):
            if value is not None and not (finite_number(value) and value > 0):
                out.append(Problem(ProblemCode.INVALID_RULE, f"{path}.{key}", f"{value} is not a number above 0 "
                                   "(for the programme's limit leave it out)"))
        if segment.no_distance_limit and segment.max_distance_km is not None:
            out.append(Problem(ProblemCode.INVALID_RULE, f"{path}.no_distance_limit",
                               "give max_distance_km or no_distance_limit, not both"))
        for j, code in enumerate((segment.programme_languages or ())[:SEGMENT_LIST_CAPS["programme_languages"]]):
            if (wrong := language_problem(code)) is not None:
                out.append(Problem(ProblemCode.MALFORMED_LANGUAGE, f"{path}.programme_languages[{j}]", wrong))
    return out


_RULE_TEXT = {
    HardRule.ELIGIBILITY: "one of them is not eligible (municipality, track or mentor years)",
    HardRule.AVAILABILITY: "the mentor is not available at the intake's start date",
    HardRule.FIELD: "they share no professional field at the required ISCO depth",
    HardRule.DISTANCE: "the mentee lives too far from the mentor's workplace",
    HardRule.LANGUAGE: "they have no common language at the required level",
    HardRule.GENDER: "the mentee asked for a mentor of another gender",
    HardRule.GOAL: "the mentor supports none of the goals the mentee's segment requires",
    HardRule.CHOICE: "the pair lacks the speed-dating rankings mutual choice requires",
    HardRule.CONFLICT: "the mentor's organisation is one the mentee must avoid",
    HardRule.REPEAT: "they were paired in an earlier round",
    HardRule.BAN: "the pair is banned",
}


PIN_INDEPENDENT_RULES = ("rules.pins", "rules.bans", "rules.weights", "rules.organisation_caps",
                          "rules.gender_quotas", "rules.extra_seat_cost")
"""Rules whose problems leave the hard rules a pin is checked against intact."""
_ITEM = re.compile(r"^(mentors|mentees|rankings|travel_times)\[(\d+)\]")


def _validate_pins(cohort: Cohort, found: Sequence[Problem], arrays_of: ArraysOf = _own_arrays,
                   cohort_ids: tuple[set[str], set[str]] | None = None) -> list[Problem]:
    """A pin must satisfy every hard rule (bans are reported as PIN_BANNED already). `cohort_ids`: the cohort's
    mentees' and mentors' ids, when the caller has them.

    Checked together with every other problem (`found`), not after they are fixed: each pin between two people
    without a problem of their own is checked among them, as long as the rules it is checked against have none
    (a broken rule cannot be applied; its own problem says so). A pin to someone whose data is broken is
    checked once that is fixed."""
    if not cohort.rules.pins:
        return []
    if any(p.path.startswith("rules.") and not p.path.startswith(PIN_INDEPENDENT_RULES) for p in found):
        return []
    broken: dict[str, set[int]] = {"mentors": set(), "mentees": set(), "rankings": set(), "travel_times": set()}
    for problem in found:
        item = _ITEM.match(problem.path)
        if item is not None:
            broken[item.group(1)].add(int(item.group(2)))
    clean = cohort
    if any(broken.values()):  # only the people (and rankings and travel times) without a problem
        mentors = tuple(p for i, p in enumerate(cohort.mentors) if i not in broken["mentors"])
        mentees = tuple(p for i, p in enumerate(cohort.mentees) if i not in broken["mentees"])
        ids = {p.id for p in mentors} | {p.id for p in mentees}
        rankings = tuple(r for i, r in enumerate(cohort.rankings)
                         if i not in broken["rankings"] and {r.from_id, r.to_id} <= ids)
        travel = tuple(t for i, t in enumerate(cohort.rules.travel_times)
                       if i not in broken["travel_times"] and {t.mentee_id, t.mentor_id} <= ids)
        clean = Cohort(mentors, mentees, rankings, replace(cohort.rules, travel_times=travel), name=cohort.name)
    mentee_ids, mentor_ids = (cohort_ids if cohort_ids is not None and clean is cohort
                              else ({p.id for p in clean.mentees}, {p.id for p in clean.mentors}))
    checked = [(k, a, b) for k, (a, b) in enumerate(cohort.rules.pins) if a in mentee_ids and b in mentor_ids]
    if not checked:
        return []
    ordered, arrays = arrays_of(clean)  # the same people, perhaps in another order: pins name them by id
    mentee_index, mentor_index = ordered.mentee_index(), ordered.mentor_index()
    mentee = np.array([mentee_index[a] for _, a, _ in checked], dtype=np.int64)
    mentor = np.array([mentor_index[b] for _, _, b in checked], dtype=np.int64)
    masks = rule_masks(arrays, mentee, mentor)
    out = []
    for j, (k, a, b) in enumerate(checked):
        failed = [rule for rule, ok in masks.items() if rule is not HardRule.BAN and not ok[j]]
        if failed:
            out.append(Problem(ProblemCode.PIN_BREAKS_RULE, f"rules.pins[{k}]",
                               f"'{a}' and '{b}' cannot be pinned: "
                               + "; ".join(f"{_RULE_TEXT[r]} ({r.value})" for r in failed)))
    return out

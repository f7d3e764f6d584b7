"""How explanations word numbers, limits and lists of ids."""

from __future__ import annotations

import math
from collections.abc import Sequence

from solver.domain import Mentee, Mentor, cefr_name

# Small helpers ----------------------------------------------------------------------------------------


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


KM_DECIMALS = 1
"""A distance is rounded once, to this many decimals, wherever it is shown or sent as rounded: tables, reasons,
explanations, reports and the answer's `distance_km` agree (3.15 km is never 3.1 in one place and 3.2 in
another, as when a value already rounded to 2 decimals was rounded again)."""


def round_km(value: float) -> float:
    """The one rounding of a distance in km (`KM_DECIMALS`): formatting the result shows what `km_text` shows."""
    return round(float(value), KM_DECIMALS)


def km_text(value: float | None) -> str:
    return "no limit" if value is None or not math.isfinite(value) else f"{round_km(value):.{KM_DECIMALS}f} km"


def minutes_text(value: float | None) -> str:
    return "no limit" if value is None or not math.isfinite(value) else f"{value:.0f} min"


def ceil_tenth(value: float) -> str:
    """The smallest one-decimal number not below `value`, as text (what a coordinator would type)."""
    tenths = math.ceil(round(value * 10, 6))
    while float(f"{tenths / 10:.1f}") < value:
        tenths += 1
    return f"{tenths / 10:.1f}"


def languages_text(person: Mentee | Mentor) -> str:
    return ", ".join(f"{lang.code} {cefr_name(lang.level)}" for lang in person.languages) or "(none)"


def shared_prefix(a: str, b: str) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def id_list(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


# Reasons in plain words -----------------------------------------------------------------------------------

REASON_WORDS: dict[str, str] = {
    "NOT_ELIGIBLE": "not eligible",
    "ALL_BANNED": "every partner banned",
    "SIDE_CONSTRAINTS": "a cap, quota or pin",
    "NO_MENTORS": "no mentors at all",
    "NO_SHARED_FIELD": "no mentor in the field",
    "NO_MENTOR_WITHIN_DISTANCE": "no mentor near enough",
    "NO_COMMON_LANGUAGE": "no common language",
    "GENDER_REQUEST_UNMET": "no mentor of the gender asked for",
    "NO_MENTOR_CAPACITY": "fitting mentors take none",
    "CANDIDATES_ALL_TAKEN": "fitting mentors all taken",
    "NO_MENTEES": "no mentees at all",
    "NO_CAPACITY": "takes no mentees",
    "NO_MENTEE_IN_FIELD": "no mentee in the field",
    "NO_MENTEE_WITHIN_DISTANCE": "no mentee near enough",
    "NO_MENTEE_WITH_COMMON_LANGUAGE": "no common language",
    "NO_MENTEE_ACCEPTS_GENDER": "not the gender asked for",
    "MENTEES_ALL_TAKEN": "fitting mentees all taken",
    "NO_PARTNER_FOR_GOAL": "no partner for the goal",
    "NOT_CHOSEN": "not chosen at speed-dating",
    "CONFLICT_OF_INTEREST": "conflict of interest",
    "NOT_AVAILABLE": "mentor not available at the start",
    "PAIR_MET_BEFORE": "every partner left met before",
}
"""Each `UnmatchedReason` code in a few plain words, short enough for a table cell, for tables, reports and files
people read (the message beside it says the rest; programs read the code)."""


def reason_words(code: str) -> str:
    """The plain words of a reason code; an unknown code reads as its words in lower case."""
    return REASON_WORDS.get(code, code.replace("_", " ").lower())

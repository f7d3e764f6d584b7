"""The fixed error taxonomy: a problem with a stable code and a field path; errors that carry them."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class ProblemCode(StrEnum):
    """Stable codes for input problems. Messages may change; codes do not."""

    MISSING_FILE = "MISSING_FILE"
    NOT_CSV = "NOT_CSV"  # unreadable as CSV / Parquet / JSON / TOML
    MISSING_COLUMN = "MISSING_COLUMN"
    BAD_VALUE = "BAD_VALUE"  # a value of the wrong type or shape (text where a number belongs)
    EMPTY_ID = "EMPTY_ID"
    DUPLICATE_ID = "DUPLICATE_ID"
    UNKNOWN_ID = "UNKNOWN_ID"  # in rankings, pins, bans, travel times
    COORDINATE_OUT_OF_RANGE = "COORDINATE_OUT_OF_RANGE"
    MALFORMED_ISCO = "MALFORMED_ISCO"
    MALFORMED_LANGUAGE = "MALFORMED_LANGUAGE"
    MALFORMED_CEFR = "MALFORMED_CEFR"
    MALFORMED_COUNTRY = "MALFORMED_COUNTRY"
    MALFORMED_GENDER = "MALFORMED_GENDER"
    NEGATIVE_CAPACITY = "NEGATIVE_CAPACITY"
    NEGATIVE_VALUE = "NEGATIVE_VALUE"  # years, limits, weights, caps, priorities below their minimum
    OUT_OF_RANGE = "OUT_OF_RANGE"  # ... and above their maximum (years above 80, a weight above 1000)
    INVALID_RANK = "INVALID_RANK"  # a rank below 1, or a self/same-side ranking
    INVALID_RULE = "INVALID_RULE"  # a rule out of its range (field depth 0..4, language level 1..6)
    PIN_BANNED = "PIN_BANNED"
    PIN_BREAKS_RULE = "PIN_BREAKS_RULE"
    PINS_EXCEED_CAPACITY = "PINS_EXCEED_CAPACITY"
    CONFLICTING_PINS = "CONFLICTING_PINS"  # one mentee pinned to two mentors
    TOO_LARGE = "TOO_LARGE"
    NOT_A_FILE = "NOT_A_FILE"  # a directory, FIFO, socket or device where a regular file belongs (never read)
    FILE_TOO_LARGE = "FILE_TOO_LARGE"  # a file above the size cap of its kind (solver.fileio)
    OVERWRITES_INPUT = "OVERWRITES_INPUT"  # an output path that is one of the command's input files
    # Warnings: reported with the same shape, but the cohort is still solved.
    COORDINATE_OUTLIER = "COORDINATE_OUTLIER"  # a person far outside the area where the rest of the cohort is
    COORDINATES_SWAPPED = "COORDINATES_SWAPPED"  # ... and latitude and longitude exchanged would bring them in
    NO_PROGRAMME_LANGUAGE = "NO_PROGRAMME_LANGUAGE"  # a warning: a mentee speaks none of the programme languages
    # A side (mentors or mentees) with nobody: a warning (nobody can be matched), or a problem in place of the
    # UNKNOWN_ID of every ranking, pin, ban or travel time that names someone of that side.
    EMPTY_SIDE = "EMPTY_SIDE"


def printable(text: str) -> str:
    """`text` with each character that is not printable (controls, format characters, separators but the space,
    unassigned code points) as its escape: `\\x1b`, `\\u200b`."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


@dataclass(frozen=True, slots=True)
class Problem:
    code: ProblemCode
    path: str  # field path into the cohort: "mentees[3].languages[1]", "rules.pins[0]"
    message: str
    location: str = ""  # where in the source files, when read from files: "mentees.csv row 4, column languages"

    def __post_init__(self) -> None:
        # A message may quote the data it is about: whatever is not printable in it (a control character, a
        # zero-width or direction mark) is shown escaped, never printed raw to a terminal or written to a file.
        if not self.message.isprintable():
            object.__setattr__(self, "message", printable(self.message))

    def __str__(self) -> str:
        where = self.location or self.path
        return f"{where}: {self.code.value}: {self.message}"


class CohortInvalid(Exception):
    """The cohort has problems; nothing was solved. Carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the cohort; first: {problems[0]}" if problems else "invalid")


def gathered(read: Callable[[], T], problems: list[Problem]) -> T | None:
    """`read()`, or None with its problems added to `problems` when it raises CohortInvalid: for a caller that
    reports the problems of several inputs at once."""
    try:
        return read()
    except CohortInvalid as invalid:
        problems += invalid.problems
        return None


class AnswerCheckFailed(Exception):
    """A matching about to leave the engine breaks a rule or misstates its objective: an engine bug, never an answer.

    Raised by `solver.verify`, the independent re-check of every matching; callers report it as an internal error.
    """

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        super().__init__(f"the answer failed its independent check, so it was withheld: {shown}")


def nearest_known(word: str, known: Iterable[str]) -> str | None:
    """The known name or code closest to a misspelt one ('occupation' -> 'occupations'), or None when none is
    close (difflib's ratio 0.6 or more, ignoring case)."""
    by_lower = {k.lower(): k for k in known if k}
    match = difflib.get_close_matches(word.strip().lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """" (did you mean 'occupations'?)" for the nearest known name, to append to a message; "" when none is close."""
    nearest = nearest_known(word, known)
    return f" (did you mean '{nearest}'?)" if nearest is not None else ""

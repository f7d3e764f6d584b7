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


def km_text(value: float | None) -> str:
    return "no limit" if value is None or not math.isfinite(value) else f"{value:.1f} km"


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

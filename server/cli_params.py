"""Checks of command-line values that typer's types cannot express (a number must also be finite)."""

from __future__ import annotations

import math

import typer

MAX_SECONDS = 86_400.0  # a day: more is a typo


def finite_seconds(value: float) -> float:
    """A time limit: a finite number of seconds above 0 (nan, inf and negatives are refused, exit 2)."""
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise typer.BadParameter(f"{value} is not a number of seconds in (0, {MAX_SECONDS:g}]")
    return value

"""Defaults and limits the command line shows in its help, in a module that loads nothing (no polars, no OR-Tools),
so that `mentormatch --help` answers at once. The engine's modules take them from here."""

from __future__ import annotations

DEFAULT_PENALTY = 300
"""Re-matching: score points per disrupted working pair, about one speed-dating first choice at default weights."""
COMPARE_EXPLAIN_PEOPLE = 10
"""What-if comparison: unmatched people per scenario who get counterfactual re-solves."""
SPEED_DATING_MAX_ROUNDS = 60
SPEED_DATING_MAX_MINUTES = 240
SPEED_DATING_MAX_ALTERNATIVES = 10

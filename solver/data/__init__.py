"""Reference data the engine ships: the ISCO-08 field families (`field_families.toml`, versioned)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from solver.domain import FieldFamily

FIELD_FAMILIES_FILE = "field_families.toml"


def field_families_from_toml(data: dict[str, Any]) -> tuple[FieldFamily, ...]:
    """Families from a parsed families file: `[[family]]` tables of `id`, `prefixes` and `source`.

    Assumes a checked file (the built-in one, or one `solver.ingest` has validated)."""
    return tuple(FieldFamily(str(f["id"]), tuple(str(p) for p in f["prefixes"]), str(f.get("source", "")))
                 for f in data.get("family", []))


@cache
def builtin_field_families() -> tuple[FieldFamily, ...]:
    """The built-in ISCO-08 field families (version in the file)."""
    text = resources.files(__package__).joinpath(FIELD_FAMILIES_FILE).read_text(encoding="utf-8")
    return field_families_from_toml(tomllib.loads(text))

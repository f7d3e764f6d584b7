"""Public reference data for synthetic cohorts: Danish towns, sites, municipality codes, ISCO fields, languages.

The tables themselves are data files in `scenarios/data/` (places.toml, occupations.toml, people.toml),
read once at import; this module gives them their types.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius, the same one `solver.candidates` uses

DENMARK_BOUNDS = (54.5, 57.8, 8.0, 15.2)
"""(min lat, max lat, min lon, max lon): mainland, islands and Bornholm."""


@dataclass(frozen=True, slots=True)
class Place:
    """A district where people live or work; homes scatter around it with `spread_km` as the sigma."""

    name: str
    municipality: str  # kommunekode, 3 digits
    lat: float
    lon: float
    spread_km: float = 1.0
    weight: float = 1.0  # relative number of residents, within its town


@dataclass(frozen=True, slots=True)
class Town:
    key: str
    name: str
    municipality: str
    population: int  # municipality, thousands, rounded: only a relative weight
    area: str  # where one speed-dating event would be held; several suburbs share the capital's
    districts: tuple[Place, ...]

    @property
    def lat(self) -> float:
        return self.districts[0].lat

    @property
    def lon(self) -> float:
        return self.districts[0].lon


@dataclass(frozen=True, slots=True)
class Site:
    """A workplace or campus where mentoring meetings happen."""

    key: str
    organisation: str
    address: str
    municipality: str
    lat: float
    lon: float
    area: str


@dataclass(frozen=True, slots=True)
class Field:
    """A professional field: ISCO-08 unit groups, and the manager group its leaders also hold."""

    key: str
    label: str
    codes: tuple[str, ...]
    manager_code: str = ""


DATA = Path(__file__).resolve().parent / "data"


def _load(name: str) -> dict[str, Any]:
    with (DATA / name).open("rb") as file:
        return tomllib.load(file)


def _mix(pairs: list[list[Any]]) -> tuple[tuple[str, float], ...]:
    return tuple((str(value), float(weight)) for value, weight in pairs)


_PLACES = _load("places.toml")
_OCCUPATIONS = _load("occupations.toml")
_PEOPLE = _load("people.toml")

MUNICIPALITIES: dict[str, str] = dict(_PLACES["municipalities"])
"""Kommunekoder of Denmark's 98 municipalities (since the 2007 reform)."""

TOWNS: dict[str, Town] = {
    key: Town(key, town["name"], town["municipality"], town["population"], town["area"],
              tuple(Place(d[0], town["municipality"], *d[1:]) for d in town["districts"]))
    for key, town in _PLACES["towns"].items()
}
"""Towns by key; the first district is the centre, where town-based mentors mostly work."""

NATIONAL_TOWNS: tuple[str, ...] = tuple(_PLACES["national_towns"])
"""The 15 towns a national benchmark pool spreads over (three of them in the capital area)."""

KVINFO_CITIES: tuple[str, ...] = tuple(_PLACES["kvinfo_cities"])

SITES: dict[str, Site] = {key: Site(key, **site) for key, site in _PLACES["sites"].items()}

UNIVERSITIES: dict[str, str] = dict(_PLACES["universities"])
"""University -> its main campus site."""

FIELDS: dict[str, Field] = {key: Field(key, field["label"], tuple(field["codes"]), field["manager_code"])
                            for key, field in _OCCUPATIONS["fields"].items()}
"""Professional fields as groups of ISCO-08 unit groups (DISCO-08 uses the same first four digits)."""

OCCUPATION_LABELS: dict[str, str] = dict(_OCCUPATIONS["occupation_labels"])
"""ISCO-08 unit group titles (shortened) for every code the generator uses."""

LANGUAGE_NAMES: dict[str, str] = dict(_PEOPLE["language_names"])
"""ISO 639-1 codes the generator uses."""

FIRST_LANGUAGE: dict[str, str] = dict(_PEOPLE["first_language"])
"""Country of origin (ISO 3166-1 alpha-2) -> the most common first language (ISO 639-1)."""

LANGUAGE_ORIGIN: dict[str, str] = dict(_PEOPLE["language_origin"])
"""First language -> a country of origin where it is one (for a mentee given a language no mentor speaks)."""

# Origin mixes per target group (people.toml says what they are loosely after).
ORIGINS_SPOUSE = _mix(_PEOPLE["origins"]["spouse"])
ORIGINS_STUDENT = _mix(_PEOPLE["origins"]["student"])
ORIGINS_REFUGEE = _mix(_PEOPLE["origins"]["refugee"])
ORIGINS_IMMIGRANT_WOMEN = _mix(_PEOPLE["origins"]["immigrant_women"])
ORIGINS_MENTOR_IMMIGRANT = _mix(_PEOPLE["origins"]["mentor_immigrant"])

EXTRA_LANGUAGES_DANES = _mix(_PEOPLE["mixes"]["extra_languages_danes"])
"""Third languages Danish mentors most often speak besides Danish and English."""

MARKETS = _mix(_PEOPLE["mixes"]["markets"])
"""Export markets a Danish professional is most likely to know (Denmark's main trading partners)."""

INTERESTS: tuple[str, ...] = tuple(_PEOPLE["interests"])


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def in_denmark(lat: float, lon: float) -> bool:
    lat_lo, lat_hi, lon_lo, lon_hi = DENMARK_BOUNDS
    return lat_lo <= lat <= lat_hi and lon_lo <= lon <= lon_hi

"""Warnings of a cohort: what is valid but probably not meant (a side with nobody, people far off the map or with
their coordinates swapped, mentees without a programme language). Problems are `solver.validate`'s."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from operator import attrgetter
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from solver.candidates import haversine_km
from solver.codes import LANGUAGE_CODES
from solver.domain import Cohort, Mentee, Mentor, cefr_name
from solver.errors import Problem, ProblemCode
from solver.validate import all_within, finite_number, rules_within_caps, within_caps

_LAT, _LON = attrgetter("lat"), attrgetter("lon")

OUTLIER_MIN_KM = 200.0
"""A person is "far outside the cohort's area" only beyond this distance from its middle (see
`coordinate_warnings`): farther than a regional programme's people travel, nearer than the thousands of
km a swapped or sign-flipped coordinate moves someone."""
OUTLIER_SPREAD = 5.0
"""... and beyond this many times the median distance of everyone from the middle, so that a programme
spread over a whole country or continent warns about nobody who belongs to it."""


def language_warnings(cohort: Cohort) -> list[Problem]:
    """Mentees who speak none of their rules' programme languages at the level required: no mentor can be theirs."""
    if not cohort.rules.programme_languages and not any(s.programme_languages for s in cohort.rules.segments):
        return []  # no rules name a programme language (a million mentees need not be asked)
    if not rules_within_caps(cohort.rules):
        return []  # a list of the rules too long (its problem says so) is not compared with every mentee
    out = []
    for i, mentee in enumerate(cohort.mentees):
        if not within_caps(mentee):
            continue  # nor one of hers (as the pins are checked: among the people without a problem)
        rules = cohort.rules.for_mentee(mentee)
        if not rules.programme_languages or not LANGUAGE_CODES.issuperset(rules.programme_languages):
            continue  # none named, or one is no language code: its own problem says so, not a warning per mentee
        if not any(lang.code in rules.programme_languages and lang.level >= rules.min_language_level
                   for lang in mentee.languages):
            wanted = " or ".join(rules.programme_languages)
            out.append(Problem(ProblemCode.NO_PROGRAMME_LANGUAGE, f"mentees[{i}].languages",
                               f"'{mentee.id}' speaks no programme language ({wanted}) at "
                               f"{cefr_name(rules.min_language_level)} or better, so no mentor can be hers"))
    return out


def cohort_warnings(cohort: Cohort, coordinates: list[Problem] | None = None) -> list[Problem]:
    """Everything that is valid but probably not meant: a side with nobody, people far off the map, mentees without
    a programme language. `coordinates`: the cohort's `coordinate_warnings` when the caller has found them."""
    found = coordinate_warnings(cohort) if coordinates is None else coordinates
    return empty_side_warnings(cohort) + found + language_warnings(cohort)


def empty_side_warnings(cohort: Cohort) -> list[Problem]:
    """A side (mentors or mentees) with nobody: the cohort can be solved, but nobody can be matched. When rankings,
    pins, bans or travel times exist, each names someone of that side, and the validator's EMPTY_SIDE problem (or
    the ranking's own) says it instead."""
    rules = cohort.rules
    if cohort.rankings or rules.pins or rules.bans or rules.travel_times:
        return []
    return [Problem(ProblemCode.EMPTY_SIDE, side, f"there are no {side}: nobody can be matched")
            for side, people in (("mentors", cohort.mentors), ("mentees", cohort.mentees)) if not people]


class Coordinates(NamedTuple):
    """Everyone's latitudes and longitudes as arrays (mentors first; NaN for a value that is no finite number) and how
    many are mentors: what `coordinate_warnings` asks of a cohort, from a reader that has them as columns (a
    million people's are then not asked of their objects again)."""

    lat: npt.NDArray[np.float64]
    lon: npt.NDArray[np.float64]
    mentors: int


def _coordinates(people: Sequence[Mentor | Mentee]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Everyone's latitude and longitude as arrays (NaN for a value that is no finite number)."""
    try:
        return (np.fromiter(map(_LAT, people), dtype=np.float64, count=len(people)),
                np.fromiter(map(_LON, people), dtype=np.float64, count=len(people)))
    except (TypeError, ValueError):  # a value that is no number at all (the validator reports it)
        return (np.array([p.lat if finite_number(p.lat) else math.nan for p in people], dtype=np.float64),
                np.array([p.lon if finite_number(p.lon) else math.nan for p in people], dtype=np.float64))


MEDIAN_IN_PYTHON = 2_000
"""Up to this many values a median is sorted in Python (no array to make: small requests); above, numpy's."""


def _median(values: list[float] | npt.NDArray[np.float64]) -> float:
    """`np.median` of a non-empty list of numbers (no NaN), to the bit: the mean of the middle two of an even count."""
    if len(values) > MEDIAN_IN_PYTHON:  # a million people: numpy's partition, not a sort of Python floats (~0.5 s)
        return float(np.median(np.asarray(values, dtype=np.float64)))
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


class _Middle(NamedTuple):  # (a tuple: six are made per request, a frozen dataclass costs four times as long)
    """The median latitude and longitude of some places (a few wrong ones cannot move them), the median distance of
    the places from there, and how far from there they reach before one is "far outside"."""

    lat: float
    lon: float
    median_km: float = math.nan
    reach_km: float = math.nan

    def of(self, distances: list[float] | npt.NDArray[np.float64]) -> _Middle:
        median = _median(distances)
        return _Middle(self.lat, self.lon, median, max(OUTLIER_MIN_KM, OUTLIER_SPREAD * median))


def _km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return float(haversine_km(np.array([lat1]), np.array([lon1]), np.array([lat2]), np.array([lon2]))[0])


def _exchanged_km(middle_lat: float, middle_lon: float, lat: float, lon: float) -> float:
    """How far from the middle the point would be with its latitude and longitude exchanged."""
    return _km(middle_lat, middle_lon, lon, lat) if abs(lon) <= 90 else math.inf


def _middle_ends(middles: list[_Middle], placed: int, split: int, sides: bool, values: list[float], name: str,
                 ) -> tuple[list[float], list[float]]:
    """One coordinate (`name`) of both ends of `coordinate_warnings`' distances, as lists: from the cohort's middle
    to everyone placed, from each side's middle to its people, from the mentors' middle to the mentees'."""
    start = [getattr(middles[0], name)] * placed
    if not sides:
        return start, values
    mentors, mentees = getattr(middles[1], name), getattr(middles[2], name)
    return start + [mentors] * split + [mentees] * (placed - split) + [mentors], values + values + [mentees]


def coordinate_warnings(cohort: Cohort | Coordinates) -> list[Problem]:
    """Warnings, not problems (a valid cohort is still solved), for coordinates that look wrong.

    The cohort's middle is the median latitude and median longitude of everyone; a person is far outside
    the cohort's area when farther from it than both `OUTLIER_MIN_KM` and `OUTLIER_SPREAD` times the median
    distance of everyone from it (COORDINATE_OUTLIER, at the path of their `lat`). When latitude and
    longitude exchanged would bring the person within that reach, the warning says so (COORDINATES_SWAPPED).
    A whole file swapped moves the middle itself, so the middles of the mentors and of the mentees are
    compared the same way (path `mentors` or `mentees`: the side whose exchanged middle would meet the
    other's). Longitudes are not wrapped at ±180 (no programme spans the antimeridian).

    Coordinates out of range are `validate`'s to report: only the people on the map count. Every distance (of
    everyone from the cohort's middle, of each side from its own, between the sides' middles) comes from one
    haversine over arrays. Given `Coordinates` rather than the cohort, arrays are used whatever their size.
    """
    given: Coordinates | None = None
    people: tuple[Mentor | Mentee, ...] = ()
    if isinstance(cohort, Coordinates):
        given, n_people, n_mentors = cohort, len(cohort.lat), cohort.mentors
    else:
        people = (*cohort.mentors, *cohort.mentees)
        n_people, n_mentors = len(people), len(cohort.mentors)
    index: list[int] | npt.NDArray[np.intp]
    lats: list[float] | npt.NDArray[np.float64]
    lons: list[float] | npt.NDArray[np.float64]
    if given is not None or n_people > MEDIAN_IN_PYTHON:  # a large cohort: arrays throughout (lists cost seconds)
        lat, lon = (given.lat, given.lon) if given is not None else _coordinates(people)
        with np.errstate(invalid="ignore"):
            placed = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
        index, lats, lons = placed, lat[placed], lon[placed]  # (indices as an array: a million ints cost 40 ms)
    else:
        lat_list, lon_list = list(map(_LAT, people)), list(map(_LON, people))
        lats, lons = lat_list, lon_list
        if all_within(lat_list, -90, 90) and all_within(lon_list, -180, 180):
            index = list(range(len(people)))  # everyone is on the map (as a rule)
        else:
            lat, lon = _coordinates(people)
            with np.errstate(invalid="ignore"):
                placed = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90)
                                        & (np.abs(lon) <= 180))
            index, lats, lons = placed.tolist(), lat[placed].tolist(), lon[placed].tolist()
    if len(index) < 3:
        return []  # two people make no area to be outside of
    split = bisect_left(index, n_mentors)  # the placed mentors (mentors come first), then the placed mentees
    cohort_middle = _Middle(_median(lats), _median(lons))
    sides = 0 < split < len(index)  # both sides placed: their middles are compared too
    middles = [cohort_middle]
    if sides:
        middles += [_Middle(_median(lats[:split]), _median(lons[:split])),
                    _Middle(_median(lats[split:]), _median(lons[split:]))]
    # From each middle to its people (everyone from the cohort's, then each side from its own), then the mentors'
    # middle to the mentees': one haversine over arrays.
    if isinstance(lats, list) and isinstance(lons, list):  # the same arrays from Python lists (a few numpy calls
        # fewer per request: up to MEDIAN_IN_PYTHON people)
        lat_ends = _middle_ends(middles, len(index), split, sides, lats, "lat")
        lon_ends = _middle_ends(middles, len(index), split, sides, lons, "lon")
        km = haversine_km(np.array(lat_ends[0], dtype=np.float64), np.array(lon_ends[0], dtype=np.float64),
                          np.array(lat_ends[1], dtype=np.float64), np.array(lon_ends[1], dtype=np.float64)).tolist()
    else:
        counts = [len(index), split, len(index) - split][:len(middles)]
        from_lat = np.repeat([m.lat for m in middles], counts)
        from_lon = np.repeat([m.lon for m in middles], counts)
        to_lat = np.concatenate([np.asarray(lats, dtype=np.float64)] * (2 if sides else 1))
        to_lon = np.concatenate([np.asarray(lons, dtype=np.float64)] * (2 if sides else 1))
        if sides:
            from_lat, from_lon = np.append(from_lat, middles[1].lat), np.append(from_lon, middles[1].lon)
            to_lat, to_lon = np.append(to_lat, middles[2].lat), np.append(to_lon, middles[2].lon)
        km = haversine_km(from_lat, from_lon, to_lat, to_lon)
    distance = km[:len(index)]
    middle = cohort_middle.of(distance)
    out: list[Problem] = []
    if sides:
        out += _side_warnings(middles[1].of(km[len(index):len(index) + split]),
                              middles[2].of(km[len(index) + split:2 * len(index)]), km[-1])
    reach = middle.reach_km
    far = (np.flatnonzero(distance > reach).tolist() if isinstance(distance, np.ndarray)
           else [k for k, d in enumerate(distance) if d > reach])
    where = (f"the middle of the cohort (lat {middle.lat:.3f}, lon {middle.lon:.3f}), where half the participants "
             f"are within {middle.median_km:,.0f} km") if far else ""
    for k in far:
        side, i = ("mentors", int(index[k])) if k < split else ("mentees", int(index[k]) - n_mentors)
        here = f"lat {lats[k]:g}, lon {lons[k]:g} lies {distance[k]:,.0f} km from {where}"
        exchanged = _exchanged_km(middle.lat, middle.lon, lats[k], lons[k])
        if exchanged <= reach:
            out.append(Problem(ProblemCode.COORDINATES_SWAPPED, f"{side}[{i}].lat",
                               f"{here}; exchanged (lat {lons[k]:g}, lon {lats[k]:g}) it would lie {exchanged:,.0f} "
                               "km from it: are latitude and longitude swapped?"))
        else:
            out.append(Problem(ProblemCode.COORDINATE_OUTLIER, f"{side}[{i}].lat", f"{here}: check the coordinates"))
    return out  # the file-wide warning first: it explains the per-person ones


def _side_warnings(mentors: _Middle, mentees: _Middle, apart: float) -> list[Problem]:
    """A warning when the mentors' area and the mentees' area (their middles `apart` km) lie far apart (a whole
    file swapped)."""
    reach = max(mentors.reach_km, mentees.reach_km)
    if apart <= reach:
        return []
    text = (f"the middle of the mentors (lat {mentors.lat:.3f}, lon {mentors.lon:.3f}) lies {apart:,.0f} km from the "
            f"middle of the mentees (lat {mentees.lat:.3f}, lon {mentees.lon:.3f})")
    middles = {"mentors": mentors, "mentees": mentees}
    for side, other in (("mentors", "mentees"), ("mentees", "mentors")):
        if _exchanged_km(middles[other].lat, middles[other].lon, middles[side].lat, middles[side].lon) <= reach:
            return [Problem(ProblemCode.COORDINATES_SWAPPED, side,
                            f"{text}; with latitude and longitude exchanged the {side} would be within {reach:,.0f} "
                            f"km of the {other}: are they swapped for every one of the {side}?")]
    return [Problem(ProblemCode.COORDINATE_OUTLIER, "", f"{text}: check the coordinates of one side")]

"""Coordinates that look wrong (swapped, sign-flipped, a whole file swapped) are warned about on stderr with their
row, and the cohort is still solved; a programme spread over a country warns about nobody."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from solver.cohort_warnings import coordinate_warnings
from solver.errors import ProblemCode
from solver.ingest import load_cohort
from tests.cli_support import run_cli
from tests.conftest import BUNDLED, SCENARIOS


def copy_with(tmp_path: Path, name: str, edit: dict[str, dict[int, tuple[str, str]]]) -> Path:
    """A bundled cohort with some rows' (lat, lon) replaced: {file stem: {row index: (lat, lon)}}."""
    directory = tmp_path / name
    shutil.copytree(SCENARIOS / name, directory)
    for stem, rows in edit.items():
        path = directory / f"{stem}.csv"
        with path.open(newline="") as file:
            table = list(csv.DictReader(file))
        for index, (lat, lon) in rows.items():
            table[index]["lat"], table[index]["lon"] = lat, lon
        with path.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
    return directory


def row(directory: Path, stem: str, index: int) -> dict[str, str]:
    with (directory / f"{stem}.csv").open(newline="") as file:
        return list(csv.DictReader(file))[index]


def test_a_swapped_and_a_sign_flipped_person_are_warned_about_with_their_rows(tmp_path: Path) -> None:
    original = row(SCENARIOS / "lyngby_career", "mentees", 4)
    flipped = row(SCENARIOS / "lyngby_career", "mentors", 6)
    directory = copy_with(tmp_path, "lyngby_career", {"mentees": {4: (original["lon"], original["lat"])},
                                                      "mentors": {6: (flipped["lat"], "-" + flipped["lon"])}})
    validated = run_cli("validate", directory)
    assert validated.returncode == 0, validated.stderr
    assert "valid: 15 mentees, 15 mentors" in validated.stdout
    assert ("warning: mentees.csv row 6, column lat: COORDINATES_SWAPPED: "  # row 1 is the header
            f"lat {float(original['lon']):g}, lon {float(original['lat']):g} lies") in validated.stderr
    assert "are latitude and longitude swapped?" in validated.stderr
    assert "warning: mentors.csv row 8, column lat: COORDINATE_OUTLIER: " in validated.stderr
    solved = run_cli("solve", directory, "--json", "-k", "1")
    assert solved.returncode == 0, solved.stderr
    assert json.loads(solved.stdout)["status"] == "SOLVE_STATUS_OPTIMAL"  # warned, and still solved
    assert solved.stderr.count("warning: ") == 2


def test_a_whole_file_swapped_is_named_once_and_explains_the_broken_pins(tmp_path: Path) -> None:
    with (SCENARIOS / "kvinfo_network" / "mentors.csv").open(newline="") as file:
        mentors = list(csv.DictReader(file))
    directory = copy_with(tmp_path, "kvinfo_network", {"mentors": {k: (m["lon"], m["lat"]) for k, m in
                                                                   enumerate(mentors)}})
    result = run_cli("validate", directory)
    # The pins now break the distance rule (a problem); the warnings say why.
    assert result.returncode == 2
    assert "PIN_BREAKS_RULE" in result.stderr and "Traceback" not in result.stderr
    assert "warning: mentors: COORDINATES_SWAPPED: the middle of the mentors" in result.stderr
    assert "are they swapped for every one of the mentors?" in result.stderr
    assert result.stderr.count("warning: mentors.csv row") == 19  # then one per person: 20 warnings shown
    assert f"... and {len(mentors) + 1 - 20} more warning(s)" in result.stderr


@pytest.mark.parametrize("name", BUNDLED)
def test_the_bundled_cohorts_warn_about_nobody(name: str) -> None:
    assert coordinate_warnings(load_cohort(SCENARIOS / name)) == []


def test_a_programme_spread_over_a_country_warns_about_nobody_who_belongs_to_it() -> None:
    cohort = load_cohort(SCENARIOS / "kvinfo_network")  # Copenhagen, Aarhus, Odense, Aalborg, Esbjerg
    far_ends = {"Skagen": (57.72, 10.58), "Rønne": (55.10, 14.70), "Tønder": (54.93, 8.86)}
    mentees = list(cohort.mentees)
    for k, (lat, lon) in enumerate(far_ends.values()):
        mentees[k] = dataclasses.replace(mentees[k], lat=lat, lon=lon)
    assert coordinate_warnings(dataclasses.replace(cohort, mentees=tuple(mentees))) == []
    mentees[0] = dataclasses.replace(mentees[0], lat=64.15, lon=-21.94)  # Reykjavík: 1,900 km away
    (warning,) = coordinate_warnings(dataclasses.replace(cohort, mentees=tuple(mentees)))
    assert (warning.code, warning.path) == (ProblemCode.COORDINATE_OUTLIER, "mentees[0].lat")


def test_a_json_cohort_is_located_by_its_field_path(tmp_path: Path) -> None:
    from solver.cohort_json import cohort_to_json_text

    cohort = load_cohort(SCENARIOS / "ibm_refugees")
    mentees = list(cohort.mentees)
    mentees[2] = dataclasses.replace(mentees[2], lat=mentees[2].lon, lon=mentees[2].lat)
    path = tmp_path / "ibm.json"
    path.write_text(cohort_to_json_text(dataclasses.replace(cohort, mentees=tuple(mentees))))
    result = run_cli("validate", path)
    assert result.returncode == 0, result.stderr
    # The JSON's own field path (and the service's): the coordinates are under `location`.
    assert f"warning: {path}, mentees[2].location.lat: COORDINATES_SWAPPED" in result.stderr

"""`mentormatch validate COHORT.json` (a cohort in the protobuf JSON mapping) lists every problem at once, as the
service's validate_only does: a missing location or a value of the wrong JSON type does not hide the cohort's own
checks, and a wrong type is told in plain words (what was expected, what was given), never in Python's terms."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from google.protobuf import json_format

from mentormatch.v1 import cohort_pb2 as pb
from server import convert
from server.app import RunningServer
from server.client import MentormatchClient
from solver.solve import SolveOptions
from tests.cli_support import run_cli
from tests.conftest import small_cohort

LISTED = re.compile(r"^\s+\S+\.json, (\S+): ([A-Z_]+): (.*)$", re.MULTILINE)


def _base() -> dict[str, Any]:
    message = convert.cohort_to_proto(small_cohort(3, 6, 5, side_constraints=False))
    data: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    data.pop("rankings", None)
    for name in ("bans", "pins"):  # they name ids: an emptied id would add problems of its own
        data["rules"].pop(name, None)
    return data


def _listed(path: Path) -> list[tuple[str, str, str]]:
    done = run_cli("validate", path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return LISTED.findall(done.stdout + done.stderr)


def test_a_missing_location_does_not_hide_the_cohorts_other_problems(tmp_path: Path,
                                                                     shared_server: RunningServer) -> None:
    data = _base()
    del data["mentors"][1]["location"]
    data["mentors"][2]["id"] = ""
    data["mentors"][3]["capacity"] = -1
    data["rules"]["field_depth"] = 7
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(data))
    got = {(field, code) for field, code, _ in _listed(path)}
    assert got == {("mentors[1].location", "BAD_VALUE"), ("mentors[2].id", "EMPTY_ID"),
                   ("mentors[3].capacity", "NEGATIVE_CAPACITY"), ("rules.field_depth", "INVALID_RULE")}
    with MentormatchClient(shared_server.address) as client:  # the service lists the same problems
        answer = client.match(json_format.ParseDict(data, pb.Cohort()), SolveOptions(), validate_only=True)
    assert {(p.field_path.removeprefix("cohort."), convert.problem_code_name(p.code)) for p in answer.problems} == got


def test_values_of_the_wrong_type_are_told_plainly_with_the_cohorts_problems(tmp_path: Path) -> None:
    data = _base()
    data["mentors"][0]["capacity"] = "three"
    data["mentors"][1]["location"]["lat"] = "abc"
    data["mentors"][2]["occupations"] = "2512"
    data["mentees"][0]["id"] = 12345
    data["mentees"][1]["priority"] = 1e40
    data["mentees"][2]["gender"] = "GENDER_ROBOT"
    data["mentors"][3]["capacity"] = -2  # a cohort problem beside the type problems
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(data))
    listed = {field: (code, message) for field, code, message in _listed(path)}
    assert listed["mentors[0].capacity"] == ("BAD_VALUE", 'expected a whole number, got a string ("three")')
    assert listed["mentors[1].location.lat"][1].startswith('expected a number')
    assert listed["mentors[2].occupations"] == ("BAD_VALUE", 'expected a JSON array, got a string ("2512")')
    assert listed["mentees[0].id"] == ("BAD_VALUE", "expected a string, got a number (12345)")
    assert "out of range: expected a whole number in -2147483648..2147483647" in listed["mentees[1].priority"][1]
    assert listed["mentees[2].gender"][1].startswith("expected one of GENDER_UNSPECIFIED")
    assert listed["mentors[3].capacity"][0] == "NEGATIVE_CAPACITY"
    assert len(listed) == 7, listed  # nothing reported twice for a value already reported
    for _, message in listed.values():
        assert "int()" not in message and "bytes-like" not in message and "Couldn't parse" not in message


def test_an_unknown_gender_number_is_told_as_such(tmp_path: Path) -> None:
    data = _base()
    data["mentors"][0]["gender"] = 99
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(data))
    listed = {field: (code, message) for field, code, message in _listed(path)}
    code, message = listed["mentors[0].gender"]
    assert code == "MALFORMED_GENDER" and message.startswith("unknown gender value 99: expected GENDER_UNSPECIFIED")
    assert "?99" not in message

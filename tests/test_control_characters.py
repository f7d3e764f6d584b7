"""Ids and labels holding terminal control characters are refused at the door, with their path: an escape sequence
printed verbatim would still recolour or move a coordinator's terminal."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from server.app import RunningServer
from server.client import MentormatchClient, RemoteError
from solver.domain import Cohort, Rules
from solver.ingest import write_cohort_dir
from solver.validate import validate
from tests.cli_support import run_cli
from tests.conftest import mentee, mentor

ESCAPE_ID = "E\x1b[31mRED"


def _cohort(mentee_id: str) -> Cohort:
    return Cohort((mentor("M1"),), (mentee(mentee_id, km_north=1.0),), (), Rules(max_distance_km=10.0), name="c")


def test_an_id_with_an_escape_sequence_is_refused_with_its_path() -> None:
    problems = validate(_cohort(ESCAPE_ID))
    assert [(p.code.value, p.path) for p in problems] == [("BAD_VALUE", "mentees[0].id")]
    assert "control character ('\\x1b')" in problems[0].message
    assert validate(_cohort("E-1 ÆØÅ")) == []  # letters beyond ASCII are fine


def test_the_command_line_refuses_it_and_prints_no_escape(tmp_path: Path) -> None:
    directory = write_cohort_dir(_cohort(ESCAPE_ID), tmp_path / "c")
    result = run_cli("validate", directory)
    assert result.returncode == 2, result.stderr
    assert "BAD_VALUE" in result.stderr and "control character" in result.stderr
    assert "\x1b" not in result.stdout + result.stderr


def test_a_what_if_label_with_a_control_character_is_refused(tmp_path: Path) -> None:
    write_cohort_dir(_cohort("E1"), tmp_path / "c")
    scenario = tmp_path / "bell.toml"
    scenario.write_text('label = "loud\\u0007"\ncohort = "c"\n')
    result = run_cli("compare", scenario, "--no-counterfactuals")
    assert result.returncode == 2, result.stderr
    assert "label" in result.stderr and "control character" in result.stderr
    assert "\x07" not in result.stdout + result.stderr


PRINTS_AS_OTHER = {
    "E\u00ad7": "U+00AD SOFT HYPHEN", "E\u180e2": "U+180E MONGOLIAN VOWEL SEPARATOR",
    "E\U000e0001y": "U+E0001 LANGUAGE TAG", "E\U000e0041": "U+E0041 TAG LATIN CAPITAL LETTER A",
    "E\u034f3": "U+034F COMBINING GRAPHEME JOINER", "E\u3164z": "U+3164 HANGUL FILLER",
    "\u115fE": "U+115F HANGUL CHOSEONG FILLER", "E\u1160": "U+1160 HANGUL JUNGSEONG FILLER",
    "E\uffa0": "U+FFA0 HALFWIDTH HANGUL FILLER", "E\u2800": "U+2800 BRAILLE PATTERN BLANK",
    "E1\ufe0f": "U+FE0F VARIATION SELECTOR-16", "E1\U000e0100": "U+E0100 VARIATION SELECTOR-17",
    "E\u2062x": "U+2062 INVISIBLE TIMES", "E\u200b1": "U+200B ZERO WIDTH SPACE",
    "   ": "U+0020 SPACE", " E1": "U+0020 SPACE", "E1\u00a0": "U+00A0 NO-BREAK SPACE",
    "E1\u3000": "U+3000 IDEOGRAPHIC SPACE", "\u0301E1": "U+0301 COMBINING ACUTE ACCENT",
}


def test_ids_that_print_as_nothing_or_like_another_id_are_refused_naming_the_character() -> None:
    """By Unicode category (format characters anywhere, spaces at the ends, a combining mark first) and the
    blank fillers and variation selectors; each problem names the code point and its Unicode name."""
    for text, named in PRINTS_AS_OTHER.items():
        problems = validate(_cohort(text))
        assert [(p.code.value, p.path) for p in problems] == [("BAD_VALUE", "mentees[0].id")], repr(text)
        assert named in problems[0].message, (repr(text), problems[0].message)
    for fine in ("E-1 ÆØÅ", "Anne Marie", "E\u00a01", "Zoë", "e\u0301", "李雷", "😀1"):
        assert validate(_cohort(fine)) == [], repr(fine)


def test_explain_pair_names_an_invisible_character_in_the_requested_id(shared_server: RunningServer) -> None:
    """A mentee id with a zero-width space at its end is not "unknown": the answer names the character."""
    cohort = Cohort((mentor("M1"),), (mentee("E0001", km_north=1.0),), (), Rules(max_distance_km=10.0), name="c")
    with MentormatchClient(shared_server.address) as client:
        with pytest.raises(RemoteError) as caught:
            client.explain_pair(cohort, "E0001\u200b", "M1")
        assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [field for field, _ in caught.value.violations] == ["mentee_id"]
        assert "BAD_VALUE" in caught.value.violations[0][1]
        assert "U+200B ZERO WIDTH SPACE" in caught.value.violations[0][1]
        assert client.explain_pair(cohort, "E0001", "M1").mentee_id == "E0001"

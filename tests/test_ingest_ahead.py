"""Reading a large table: the columns read ahead on a second thread, and the garbage collector's state after a read.

Large tables (`solver.people_tables.AHEAD_ROWS` rows or more) have their numbers and `;`-lists read on a second thread.
These tests lower that threshold so that a small cohort takes the same path, and check it against the rules (the
oracle of `tests.test_ingest_columns`, written from the README) and against every problem located at its row.
"""

from __future__ import annotations

import gc
from pathlib import Path

import polars as pl
import pytest

import solver.people_tables
from benchmarks.ingest_bench import write
from solver.errors import CohortInvalid
from solver.ingest import load_cohort
from tests import test_ingest_columns


@pytest.fixture
def ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every table read ahead, however small."""
    monkeypatch.setattr(solver.people_tables, "AHEAD_ROWS", 1)


@pytest.mark.usefixtures("ahead")
def test_a_cohort_read_ahead_is_what_the_rules_make_of_its_cells(tmp_path: Path) -> None:
    """The bench cohort's check against the oracle (`tests.test_ingest_columns`), with every table read ahead."""
    test_ingest_columns.test_the_generated_bench_cohort_reads_back_as_written(tmp_path)


@pytest.mark.usefixtures("ahead")
def test_bad_cells_read_ahead_are_each_reported_at_their_row(tmp_path: Path) -> None:
    directory = write(tmp_path / "bench", 1_500)
    frame = pl.read_csv(directory / "mentees.csv", infer_schema=False)
    bad = {17: ("lon", "east"), 300: ("languages", "da;en:B2"), 301: ("languages", "fa:Z9"),
           999: ("occupations", "2512;x"), 1_200: ("interests", " Chess ; ;FILM"),
           400: ("id", "M0000005"), 401: ("id", frame["id"][3])}  # a mentor's id; an earlier mentee's
    for row, (column, text) in bad.items():
        frame = frame.with_columns(frame[column].scatter(row, text))
    frame.write_csv(directory / "mentees.csv")
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    located = {(p.code.value, p.path, p.location) for p in caught.value.problems}
    assert located == {
        ("BAD_VALUE", "mentees[17].lon", "mentees.csv row 19, column lon"),  # once (tests/test_cell_problems_once)
        ("MALFORMED_LANGUAGE", "mentees[300].languages[0]", "mentees.csv row 302, column languages"),
        ("MALFORMED_CEFR", "mentees[301].languages[0].level", "mentees.csv row 303, column languages"),
        ("MALFORMED_ISCO", "mentees[999].occupations[1]", "mentees.csv row 1001, column occupations"),
        ("DUPLICATE_ID", "mentees[400].id", "mentees.csv row 402, column id"),
        ("DUPLICATE_ID", "mentees[401].id", "mentees.csv row 403, column id")}


def test_a_read_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    directory = write(tmp_path / "bench", 200)
    assert gc.isenabled()
    load_cohort(directory)
    assert gc.isenabled()
    (directory / "mentees.csv").write_text("id,lat\nE1,north\n", encoding="utf-8")
    with pytest.raises(CohortInvalid):
        load_cohort(directory)
    assert gc.isenabled()
    gc.disable()
    try:
        load_cohort(write(tmp_path / "again", 50))
        assert not gc.isenabled()
    finally:
        gc.enable()

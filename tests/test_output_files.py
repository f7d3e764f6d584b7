"""Files out: `-o` on solve, compare, rematch and rematch-batch writes the pairs (every term's points and the facts)
and the unmatched people (reasons in plain words, what would help) as CSV, Parquet or XLSX by extension, whole and
never over an input; `rematch --out-current` writes the next current.csv."""

from __future__ import annotations

import csv
import json
import shutil
import zipfile
from pathlib import Path

import polars as pl
import pytest

from server.cli_files import PAIR_COLUMNS, UNMATCHED_COLUMNS
from solver.rematch import read_current_pairs
from solver.scores import TERMS
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS

LYNGBY = SCENARIOS / "lyngby_career"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def lyngby_with_current(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of lyngby_career and a current.csv of its best matching (from `solve -o`)."""
    cohort = tmp_path / "lyngby"
    shutil.copytree(LYNGBY, cohort)
    solved = run_cli("solve", cohort, "-k", "1", "-o", tmp_path / "best.csv")
    assert solved.returncode == 0, solved.stderr
    current = tmp_path / "current.csv"
    rows = read_csv(tmp_path / "best.pairs.csv")
    current.write_text("mentee_id,mentor_id\n" + "".join(f"{r['mentee_id']},{r['mentor_id']}\n" for r in rows),
                       encoding="utf-8")
    return cohort, current


def test_solve_writes_pairs_and_unmatched_as_csv(tmp_path: Path) -> None:
    out = tmp_path / "out" / "matches.csv"
    result = run_cli("solve", LYNGBY, "-k", "2", "--json", "-o", out)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)  # the JSON is unchanged by -o: stdout stays clean
    assert sorted(p.name for p in out.parent.iterdir()) == ["matches.pairs.csv", "matches.unmatched.csv"]
    pairs = read_csv(out.parent / "matches.pairs.csv")
    assert list(pairs[0]) == ["matching", *PAIR_COLUMNS]
    assert {f"points_{t.value.lower()}" for t in TERMS} <= set(pairs[0])  # every term, weight 0 too
    expected = [(str(m["rank"]), p["mentee_id"], p["mentor_id"], str(p["score"]))
                for m in answer["matchings"] for p in m["pairs"]]
    assert [(r["matching"], r["mentee_id"], r["mentor_id"], r["score"]) for r in pairs] == expected
    for row in pairs:  # a pair's score is the sum of its terms' points
        assert sum(int(row[f"points_{t.value.lower()}"]) for t in TERMS) == int(row["score"])
    assert {(r["mentee_id"], r["mentor_id"]) for r in pairs if r["pinned"] == "true"} == {("E0012", "M0013")}
    unmatched = read_csv(out.parent / "matches.unmatched.csv")
    assert list(unmatched[0]) == ["matching", *UNMATCHED_COLUMNS]
    best = [r for r in unmatched if r["matching"] == "1" and r["side"] == "mentee"]
    assert [r["id"] for r in best] == answer["matchings"][0]["unmatched_mentee_ids"]
    for row in best:
        assert row["reason"] and row["reason_in_words"] and row["why"]
        assert row["reason"] not in row["reason_in_words"]  # words, not the code again
    assert any(row["what_would_help"] for row in best)


def test_solve_writes_parquet_and_xlsx_with_the_same_rows(tmp_path: Path) -> None:
    for name in ("m.csv", "m.parquet", "m.xlsx"):
        result = run_cli("solve", LYNGBY, "-k", "1", "-o", tmp_path / name)
        assert result.returncode == 0, result.stderr
        assert f"written to {tmp_path}" in result.stdout.replace("\n", "")
    for sheet in ("pairs", "unmatched"):
        from_parquet = pl.read_parquet(tmp_path / f"m.{sheet}.parquet")
        from_csv = pl.read_csv(tmp_path / f"m.{sheet}.csv", infer_schema=False)
        assert from_parquet.columns == from_csv.columns and from_parquet.height == from_csv.height
        assert from_parquet["mentee_id" if sheet == "pairs" else "id"].to_list() == from_csv[
            "mentee_id" if sheet == "pairs" else "id"].to_list()
    with zipfile.ZipFile(tmp_path / "m.xlsx") as book:
        workbook = book.read("xl/workbook.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
    assert 'name="pairs"' in workbook and 'name="unmatched"' in workbook
    assert "points_mutual_rank" in strings and "reason_in_words" in strings and "E0013" in strings


def test_outputs_over_inputs_or_in_unknown_formats_are_refused_before_solving(tmp_path: Path) -> None:
    cohort, current = lyngby_with_current(tmp_path)
    link = tmp_path / "link.xlsx"
    link.symlink_to(cohort / "mentors.csv")
    before = (cohort / "mentors.csv").read_bytes()
    refused = run_cli("solve", cohort, "-o", link)
    assert refused.returncode == 2 and "OVERWRITES_INPUT" in refused.stderr
    assert (cohort / "mentors.csv").read_bytes() == before
    unknown = run_cli("solve", cohort, "-o", tmp_path / "matches.txt")
    assert unknown.returncode == 2 and "tables are written as .csv, .parquet, .xlsx" in unknown.stderr
    over_current = run_cli("rematch", cohort, current, "--out-current", current)
    assert over_current.returncode == 2 and "OVERWRITES_INPUT" in over_current.stderr


def test_rematch_writes_the_next_current_csv_and_its_sheets(tmp_path: Path) -> None:
    cohort, current = lyngby_with_current(tmp_path)
    left = read_current_pairs(current)[0].mentor_id
    nxt = tmp_path / "next" / "current.csv"
    result = run_cli("rematch", cohort, current, "--left", left, "--json", "--out-current", nxt,
                     "-o", tmp_path / "rematch.xlsx")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert [(p.mentee_id, p.mentor_id) for p in read_current_pairs(nxt)] == [
        (p["mentee_id"], p["mentor_id"]) for p in answer["pairs"]]
    assert left not in {p.mentor_id for p in read_current_pairs(nxt)}
    again = run_cli("rematch", cohort, nxt, "--json")  # the next round starts from the file written
    assert again.returncode == 0, again.stderr
    running = {(c["mentee_id"], c["mentor_id"]) for c in json.loads(again.stdout)["changes"]
               if c["kind"] in ("KEPT", "ENDED")}
    assert running == {(p.mentee_id, p.mentor_id) for p in read_current_pairs(nxt)}
    with zipfile.ZipFile(tmp_path / "rematch.xlsx") as book:
        assert 'name="pairs"' in book.read("xl/workbook.xml").decode()


def test_lists_on_the_command_line_take_semicolons_as_in_the_files(tmp_path: Path) -> None:
    cohort, current = lyngby_with_current(tmp_path)
    pairs = read_current_pairs(current)
    gone = [pairs[0].mentor_id, pairs[1].mentee_id]
    runs = [run_cli("rematch", cohort, current, "--left", separator.join(gone), "--json") for separator in (";", ",")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    semicolons, commas = (json.loads(r.stdout) for r in runs)
    assert semicolons == commas and semicolons["ended"] == 2


@pytest.mark.slow  # two what-if solves and a batch of two cohorts: ~15 s
def test_compare_and_rematch_batch_write_one_sheet_set_for_all(tmp_path: Path) -> None:
    whatif = sorted((SCENARIOS / "whatif").glob("lyngby_*.toml"))[:2]
    result = run_cli("compare", *whatif, "--sequential", "--no-counterfactuals", "-o", tmp_path / "compare.csv")
    assert result.returncode == 0, result.stderr
    pairs = read_csv(tmp_path / "compare.pairs.csv")
    assert next(iter(pairs[0])) == "scenario" and len({r["scenario"] for r in pairs}) == 2
    assert read_csv(tmp_path / "compare.unmatched.csv")[0]["reason_in_words"]
    batch = tmp_path / "batch"
    for name in ("north", "south"):
        cohort, current = lyngby_with_current(tmp_path / name)
        shutil.copytree(cohort, batch / name)
        shutil.copy(current, batch / name / "current.csv")
        (batch / name / "changes.toml").write_text(f'left = ["{read_current_pairs(current)[0].mentor_id}"]\n',
                                                   encoding="utf-8")
    done = run_cli("rematch-batch", batch, "--sequential", "-o", tmp_path / "batch.parquet")
    assert done.returncode == 0, done.stderr
    frame = pl.read_parquet(tmp_path / "batch.pairs.parquet")
    assert frame.columns[0] == "cohort" and set(frame["cohort"].to_list()) == {"north", "south"}
    link = tmp_path / "over.xlsx"  # the workers read the batch's files: none of them may be written over
    link.symlink_to(batch / "north" / "current.csv")
    refused = run_cli("rematch-batch", batch, "--sequential", "-o", link)
    assert refused.returncode == 2 and "OVERWRITES_INPUT" in refused.stderr

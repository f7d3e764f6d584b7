"""Fuzzing cohort ingestion: CSV, Parquet, rules.toml and protobuf-JSON files of any shape and content.

Whatever the files hold (random bytes, a truncated file, garbled cells, a wrong column set, absurd values,
an empty or duplicated cohort), `load_cohort` ends in one of two ways: `CohortInvalid` with at least one
problem (a stable code, a field path, a message), or a cohort the validator accepts and the solver answers
correctly (every pair allowed by the hard rules, capacities held), all within a bounded time. Anything else
(another exception, a hang) fails the test with the smallest input hypothesis finds.

`MENTORMATCH_FUZZ_SCALE` multiplies the number of cases (`make fuzz` runs ten times as many).
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentormatch.v1 import cohort_pb2 as pb
from server.convert import cohort_to_json_text
from solver.domain import Cohort, Language, Mentee, Mentor
from solver.errors import CohortInvalid, ProblemCode
from solver.ingest import MENTEE_COLUMNS, MENTOR_COLUMNS, load_cohort, write_cohort_dir
from solver.rules_toml import RULE_KEYS
from solver.solve import SolveOptions, SolveStatus, solve
from solver.validate import validate
from tests.hardening_support import SUMMARY, examples, fuzz_scale, register_summary
from tests.oracle import allowed_pairs, random_cohort

CASE_LIMIT_S = 15.0  # one case (read, validate, solve) takes milliseconds; this bound catches a hang or a blow-up


def fuzz(cases: int) -> settings:
    """Settings of one fuzz test: `cases` examples times the fuzz scale, no per-example deadline (CASE_LIMIT_S is)."""
    return settings(max_examples=examples(cases), deadline=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(autouse=True, scope="module")
def _summary(pytestconfig: pytest.Config) -> None:
    register_summary(pytestconfig)


# --- the property every case must hold ------------------------------------------------------------------------


def check_outcome(path: Path, kind: str) -> Cohort | None:
    """Load `path`: a clear error or a correct answer, in bounded time. Returns the cohort when it was valid."""
    SUMMARY.count(f"ingest.{kind}")
    started = time.monotonic()
    try:
        cohort = load_cohort(path)
    except CohortInvalid as invalid:
        assert invalid.problems, "CohortInvalid without problems"
        for problem in invalid.problems:
            assert isinstance(problem.code, ProblemCode)
            assert isinstance(problem.path, str) and isinstance(problem.location, str)
            assert problem.message.strip()
            assert str(problem)
        assert str(invalid)
        assert time.monotonic() - started < CASE_LIMIT_S
        return None
    assert validate(cohort) == [], "load_cohort returned a cohort the validator rejects"
    check_answer(cohort)
    assert time.monotonic() - started < CASE_LIMIT_S
    return cohort


def check_answer(cohort: Cohort) -> None:
    """Solve a cohort that passed ingestion; the matching must respect every hard rule and capacity."""
    if len(cohort.mentors) * len(cohort.mentees) > 2_500:
        return  # large generated cohorts are checked for the error path only
    result = solve(cohort, SolveOptions(alternatives=1, time_limit_s=5.0))
    assert result.status in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE, SolveStatus.INFEASIBLE)
    if result.best is None:
        return
    pairs = result.best.pairs(result.candidates)
    assert set(pairs) <= allowed_pairs(cohort), "a pair the hard rules forbid"
    per_mentee = Counter(a for a, _ in pairs)
    assert all(n == 1 for n in per_mentee.values()), "a mentee matched twice"
    capacity = {m.id: m.capacity for m in cohort.mentors}
    for mentor, n in Counter(b for _, b in pairs).items():
        assert n <= capacity[mentor], "a mentor above capacity"
    assert set(cohort.rules.pins) <= set(pairs) or result.status is not SolveStatus.OPTIMAL


# --- base cohorts and files -----------------------------------------------------------------------------------


def base_cohort(seed: int) -> Cohort:
    return random_cohort(random.Random(seed), 6, 5, side_constraints=seed % 2 == 0, rankings=True, pins=seed % 3 == 0)


@contextmanager
def cohort_dir(seed: int, *, parquet: bool = False) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        yield write_cohort_dir(base_cohort(seed), Path(tmp) / "cohort", parquet=parquet)


@contextmanager
def json_file(text: str | bytes) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        path = Path(tmp) / "cohort.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", errors="surrogatepass"))
        yield path


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def write_rows(path: Path, rows: list[list[str]], raw: bool = False) -> None:
    """Write rows as CSV; `raw` joins cells with commas unquoted, so cells may break the table's structure."""
    if raw:
        text = "\n".join(",".join(row) for row in rows) + "\n"
    else:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        text = buffer.getvalue()
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))


SEEDS = st.integers(min_value=0, max_value=40)
CSV_FILES = ("mentors.csv", "mentees.csv", "rankings.csv", "rules.toml")

# Cells meant to break parsers and validators: non-numbers, overflow, NaN, odd Unicode, separators, huge text.
ABSURD_CELLS = (
    "", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e309", "9" * 40, "-" + "9" * 40,
    "0", "-0", "-1", "0.5", "1e-320", "2147483648", "9223372036854775808", "0x1F", "1_000", "١٢٣", "１２", "true",
    "false", "da:C1", "da:Z9", "xx:", ":", ";;;", "da:C1;;en:B2;da:C1", "2512;2512;2512", "\x00", "é", "\u202e",
    '"', "'", "\\", "\n", "\r\n", ",", "NULL", "None", "null", "❤❤❤", "A" * 10_000, "f", "m", "x", "M0", "E0",
    "spouse", "JOB", "own_business", "101", "C2", "SY", "sy", "2512", "25", "99999",
)
CELLS = st.sampled_from(ABSURD_CELLS) | st.text(max_size=20) | st.floats().map(repr) | st.integers().map(str)


# --- 1. random bytes in place of any file ---------------------------------------------------------------------


@fuzz(150)
@given(seed=SEEDS, name=st.sampled_from((*CSV_FILES, "mentors.parquet", "travel_times.csv")),
       keep_header=st.booleans(), junk=st.binary(max_size=400))
def test_random_bytes_in_place_of_any_file(seed: int, name: str, keep_header: bool, junk: bytes) -> None:
    with cohort_dir(seed) as directory:
        target = directory / name
        header = b""
        if keep_header and target.exists() and name.endswith(".csv"):
            header = target.read_bytes().split(b"\n", 1)[0] + b"\n"
        if name == "mentors.parquet":
            (directory / "mentors.csv").unlink()
        target.write_bytes(header + junk)
        check_outcome(directory, "csv" if name.endswith(".csv") else name.rsplit(".", 1)[1])


@fuzz(60)
@given(junk=st.binary(max_size=400) | st.text(max_size=200).map(lambda t: t.encode("utf-8", errors="surrogatepass")))
def test_random_bytes_as_a_json_cohort(junk: bytes) -> None:
    with json_file(junk) as path:
        check_outcome(path, "json")


# --- 2. truncated files -----------------------------------------------------------------------------------------


@fuzz(120)
@given(seed=SEEDS, form=st.sampled_from(["csv", "parquet", "json"]), data=st.data())
def test_truncated_files(seed: int, form: str, data: st.DataObject) -> None:
    if form == "json":
        text = cohort_to_json_text(base_cohort(seed)).encode()
        cut = data.draw(st.integers(min_value=0, max_value=len(text)), label="cut")
        with json_file(text[:cut]) as path:
            check_outcome(path, "json")
        return
    with cohort_dir(seed, parquet=form == "parquet") as directory:
        files = sorted(p.name for p in directory.iterdir())
        name = data.draw(st.sampled_from(files), label="file")
        content = (directory / name).read_bytes()
        cut = data.draw(st.integers(min_value=0, max_value=len(content)), label="cut")
        (directory / name).write_bytes(content[:cut])
        check_outcome(directory, "parquet" if name.endswith(".parquet") else "toml" if name.endswith(".toml")
                      else "csv")


# --- 3. garbled cells -------------------------------------------------------------------------------------------


@fuzz(250)
@given(seed=SEEDS, table=st.sampled_from(["mentors.csv", "mentees.csv", "rankings.csv"]), raw=st.booleans(),
       edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0), CELLS), min_size=1, max_size=6))
def test_garbled_cells(seed: int, table: str, raw: bool, edits: list[tuple[int, int, str]]) -> None:
    with cohort_dir(seed) as directory:
        path = directory / table
        if not path.exists():
            return
        rows = read_rows(path)
        for row, column, value in edits:
            if len(rows) > 1:
                body = rows[1 + row % (len(rows) - 1)]
                body[column % len(body)] = value
        write_rows(path, rows, raw=raw)
        check_outcome(directory, "csv")


# --- 4. wrong column sets -------------------------------------------------------------------------------------


COLUMN_EDITS = st.sampled_from(["drop", "duplicate", "unknown", "rename", "pad", "upper", "swap", "empty", "bom"])


@fuzz(150)
@given(seed=SEEDS, table=st.sampled_from(["mentors.csv", "mentees.csv", "rankings.csv"]),
       edits=st.lists(st.tuples(COLUMN_EDITS, st.integers(min_value=0), st.integers(min_value=0)), min_size=1,
                      max_size=3))
def test_wrong_column_sets(seed: int, table: str, edits: list[tuple[str, int, int]]) -> None:
    with cohort_dir(seed) as directory:
        path = directory / table
        if not path.exists():
            return
        rows = read_rows(path)
        for edit, a, b in edits:
            width = len(rows[0])
            if width == 0:
                break
            i, j = a % width, b % width
            if edit == "drop":
                rows = [row[:i] + row[i + 1:] for row in rows]
            elif edit == "duplicate":
                rows = [[*row, row[i]] for row in rows]
            elif edit == "unknown":
                rows = [[*rows[0], "shoe_size"]] + [[*row, "42"] for row in rows[1:]]
            elif edit == "rename":
                rows[0][i] = rows[0][j] + "_x"
            elif edit == "pad":
                rows[0][i] = f"  {rows[0][i]}\t"  # reads back as the same name: must not break the reader
            elif edit == "upper":
                rows[0][i] = rows[0][i].upper()
            elif edit == "swap":
                rows = [[*row] for row in rows]
                for row in rows:
                    row[i], row[j] = row[j], row[i]
            elif edit == "empty":
                rows[0][i] = ""
            elif edit == "bom":
                rows[0][0] = "\ufeff" + rows[0][0]
        write_rows(path, rows)
        check_outcome(directory, "csv")


# --- 5. absurd values, empty cohorts, duplicates ------------------------------------------------------------------

IDS = st.sampled_from(["M0", "M1", "E0", "E1", "", " ", "x" * 300]) | st.text(max_size=6)
NUMBERS = st.sampled_from(["nan", "-inf", "inf", "1e308", "-1e308", "1e400", "1e-320", "0", "-0.0", "90.0000001",
                           "-180", "180.5", "55.68", "12.57", "9" * 30]) | st.floats().map(repr)
COUNTS = st.sampled_from(["0", "1", "-1", "100000", "100001", "2147483648", "9" * 25, "1.5", "1e3", "nan"]) | \
    st.integers(min_value=-(10**20), max_value=10**20).map(str)


@st.composite
def absurd_table(draw: st.DrawFn, columns: tuple[str, ...]) -> list[list[str]]:
    n = draw(st.integers(min_value=0, max_value=6))
    rows: list[list[str]] = [list(columns)]
    for _ in range(n):
        row = []
        for column in columns:
            if column in ("id", "from_id", "to_id", "mentee_id", "mentor_id"):
                row.append(draw(IDS))
            elif column in ("lat", "lon", "max_travel_km", "max_travel_minutes", "minutes"):
                row.append(draw(NUMBERS))
            elif column in ("capacity", "years_experience", "priority", "rank"):
                row.append(draw(COUNTS))
            elif column == "occupations":
                row.append(draw(st.sampled_from(["2512", "2512;2519", "", "25", "25120", "abcd", "2512;" * 50])))
            elif column == "languages":
                row.append(draw(st.sampled_from(["da:C1", "en:B2;da:A1", "", "da", "da:C3", "DA:c1", "en:B2;" * 30])))
            else:
                row.append(draw(CELLS))
        rows.append(row)
    if draw(st.booleans()) and len(rows) > 1:
        rows += rows[1:]  # every row twice
    return rows


@fuzz(200)
@given(mentors=absurd_table(MENTOR_COLUMNS[:7]), mentees=absurd_table((*MENTEE_COLUMNS[:7], "priority")),
       rankings=st.none() | absurd_table(("from_id", "to_id", "rank")),
       travel=st.none() | absurd_table(("mentee_id", "mentor_id", "minutes")))
def test_absurd_values_empty_cohorts_and_duplicates(mentors: list[list[str]], mentees: list[list[str]],
                                                    rankings: list[list[str]] | None,
                                                    travel: list[list[str]] | None) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        directory = Path(tmp)
        write_rows(directory / "mentors.csv", mentors)
        write_rows(directory / "mentees.csv", mentees)
        if rankings is not None:
            write_rows(directory / "rankings.csv", rankings)
        if travel is not None:
            write_rows(directory / "travel_times.csv", travel)
        check_outcome(directory, "csv")


# --- 6. rules.toml of any shape -------------------------------------------------------------------------------


TOML_SCALARS = (st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.sampled_from([10**30, -(10**30)])
                | st.floats() | st.booleans() | st.text(alphabet=st.characters(codec="utf-8"), max_size=8)
                | st.sampled_from(["B1", "C2", "A0", "f", "m", "x", "spouse", "M0", "E0", "101"]))
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6) | st.sampled_from(
        ["gender", "min_pairs", "max_pairs", "interests", "travel", "O1"]), inner, max_size=3),
    max_leaves=8)


def toml_value(value: Any) -> str:
    """A value as TOML (inline arrays and tables); what TOML cannot say comes out as text the reader rejects."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in value.items()) + "}"


@fuzz(250)
@given(seed=SEEDS, rules=st.dictionaries(st.sampled_from(RULE_KEYS) | st.text(max_size=8), TOML_VALUES, max_size=6))
def test_rules_toml_of_any_shape(seed: int, rules: dict[str, Any]) -> None:
    with cohort_dir(seed) as directory:
        text = "\n".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v)}" for k, v in rules.items())
        (directory / "rules.toml").write_bytes(text.encode("utf-8", errors="surrogatepass"))
        check_outcome(directory, "toml")


# --- 7. protobuf-JSON of any shape ------------------------------------------------------------------------------


def _field_names(descriptor: Any, seen: set[str] | None = None) -> set[str]:
    names: set[str] = set()
    seen = seen if seen is not None else set()
    if descriptor.full_name in seen:
        return names
    seen.add(descriptor.full_name)
    for fd in descriptor.fields:
        names |= {fd.name, fd.json_name}
        if fd.message_type is not None:
            names |= _field_names(fd.message_type, seen)
    return names


FIELD_NAMES = sorted(_field_names(pb.Cohort.DESCRIPTOR))
JSON_SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats()
                | st.text(max_size=10) | st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "GENDER_FEMALE",
                                                          "CEFR_LEVEL_C2", "CEFR_LEVEL_Z", "2147483648", "0x10",
                                                          "-0", "1.5", "M0", "E0", "2512", "da"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=6),
                                                                inner, max_size=3),
    max_leaves=10)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(document: Any, path: tuple[Any, ...], action: str, new: Any, key: str) -> Any:
    if not path:
        return new if action == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "replace":
        parent[last] = new
    elif action == "delete":
        del parent[last]
    elif action == "insert" and isinstance(parent, dict):
        parent[key] = new
    elif action == "insert" and isinstance(parent, list):
        parent.insert(last, new)
    elif action == "duplicate" and isinstance(parent, list):
        parent.append(json.loads(json.dumps(parent[last])))
    return document


@fuzz(300)
@given(seed=SEEDS, data=st.data(), camel=st.booleans())
def test_json_of_any_shape(seed: int, data: st.DataObject, camel: bool) -> None:
    cohort = base_cohort(seed)
    document = json.loads(cohort_to_json_text(cohort))
    if camel:
        from google.protobuf import json_format

        from server.convert import cohort_to_proto

        document = json_format.MessageToDict(cohort_to_proto(cohort))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4), label="mutations")):
        paths = list(_paths(document))
        path = data.draw(st.sampled_from(paths), label="path")
        action = data.draw(st.sampled_from(["replace", "replace", "delete", "insert", "duplicate"]), label="action")
        new = data.draw(JSON_VALUES, label="value")
        key = data.draw(st.sampled_from(FIELD_NAMES) | st.text(max_size=6), label="key")
        document = _mutate(document, path, action, new, key)
    with json_file(json.dumps(document, ensure_ascii=data.draw(st.booleans(), label="ascii"))) as path:
        check_outcome(path, "json")


@pytest.mark.parametrize("text", [
    "[" * 100_000 + "]" * 100_000,
    '{"mentors": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"mentors": [' + '{"id": "a", "location": {"lat": 1e999, "lon": -1e999}},' * 3 + '{}]}',
    '{"mentors": [{"id": "a", "location": {"lat": "NaN", "lon": "Infinity"}, "capacity": 2147483648}]}',
    '{"mentors": [], "mentees": [], "rankings": [{"rank": 2147483647, "fromId": "a", "toId": "b"}]}',
    '{"mentors": [], "mentees": []}', "{}", "null", "[]", '""', "\ufeff{}", "{" * 10, '{"name": "\\ud800"}',
    '{"name": "x", "name": "y"}', '{"mentors": [{"id": "M", "id": "N"}]}', "\x00", "",
], ids=lambda t: repr(t[:24]))
def test_json_edge_cases(text: str) -> None:
    with json_file(text) as path:
        check_outcome(path, "json")


# --- 8. Parquet with any column types -------------------------------------------------------------------------


def _column(kind: str, name: str, n: int, valid: list[str], rng: random.Random) -> pl.Series:
    if kind == "valid":
        return pl.Series(name, valid, dtype=pl.String)
    if kind == "int":
        return pl.Series(name, [rng.choice([0, -1, 1, 2**62, -(2**63)]) for _ in range(n)], dtype=pl.Int64)
    if kind == "float":
        return pl.Series(name, [rng.choice([math.nan, math.inf, -math.inf, 1e308, 0.5, 55.7]) for _ in range(n)],
                         dtype=pl.Float64)
    if kind == "bool":
        return pl.Series(name, [rng.random() < 0.5 for _ in range(n)], dtype=pl.Boolean)
    if kind == "null":
        return pl.Series(name, [None] * n, dtype=pl.Null)
    if kind == "list_str":
        return pl.Series(name, [[rng.choice(["2512", "da:C1", "", "x;y"])] * rng.randint(0, 3) for _ in range(n)],
                         dtype=pl.List(pl.String))
    if kind == "list_int":
        return pl.Series(name, [[rng.randint(-5, 5)] * rng.randint(0, 3) for _ in range(n)], dtype=pl.List(pl.Int64))
    if kind == "struct":
        return pl.Series(name, [{"a": rng.randint(0, 3), "b": "x"} for _ in range(n)])
    if kind == "binary":
        return pl.Series(name, [bytes([rng.randint(0, 255)]) * 3 for _ in range(n)], dtype=pl.Binary)
    if kind == "nested":
        return pl.Series(name, [[[rng.randint(0, 3)]] for _ in range(n)], dtype=pl.List(pl.List(pl.Int64)))
    raise AssertionError(kind)


PARQUET_KINDS = ["valid", "valid", "valid", "int", "float", "bool", "null", "list_str", "list_int", "struct", "binary",
                 "nested"]


@fuzz(120)
@given(seed=SEEDS, table=st.sampled_from(["mentors", "mentees"]),
       kinds=st.dictionaries(st.sampled_from(sorted(set(MENTOR_COLUMNS) | set(MENTEE_COLUMNS))),
                             st.sampled_from(PARQUET_KINDS), min_size=1, max_size=5))
def test_parquet_with_any_column_types(seed: int, table: str, kinds: dict[str, str]) -> None:
    with cohort_dir(seed, parquet=True) as directory:
        path = directory / f"{table}.parquet"
        frame = pl.read_parquet(path)
        rng = random.Random(seed)
        columns = {name: frame[name] for name in frame.columns}
        for name, kind in kinds.items():
            valid = frame[name].to_list() if name in frame.columns else [""] * frame.height
            columns[name] = _column(kind, name, frame.height, valid, rng)
        pl.DataFrame(list(columns.values())).write_parquet(path)
        check_outcome(directory, "parquet")


# --- 9. sizes: huge ids, many ids --------------------------------------------------------------------------------


def test_a_huge_id_is_carried_or_refused_cleanly(tmp_path: Path) -> None:
    huge = "I" * 1_000_000
    cohort = base_cohort(1)
    mentors = (Mentor(huge, 55.68, 12.57, ("2512",), (Language("da", 5),)), *cohort.mentors)
    mentees = (Mentee("E-" + huge, 55.68, 12.57, ("2512",), (Language("da", 5),)), *cohort.mentees)
    cohort = Cohort(mentors, mentees, cohort.rankings, cohort.rules, name="huge-ids")
    for form in ("csv", "parquet"):
        directory = write_cohort_dir(cohort, tmp_path / form, parquet=form == "parquet")
        loaded = check_outcome(directory, form)
        assert loaded is not None and loaded.mentors[0].id == huge
    json_path = tmp_path / "cohort.json"
    json_path.write_text(cohort_to_json_text(cohort))
    assert check_outcome(json_path, "json") is not None


def _many_ids(directory: Path, n: int, duplicate: bool) -> None:
    directory.mkdir()
    mentor_ids = [f"M{i}" for i in range(n // 2)]
    mentee_ids = mentor_ids if duplicate else [f"E{i}" for i in range(n - n // 2)]
    pl.DataFrame({"id": mentor_ids, "lat": ["55.68"] * len(mentor_ids), "lon": ["12.57"] * len(mentor_ids),
                  "occupations": ["2512"] * len(mentor_ids), "languages": ["da:C1"] * len(mentor_ids),
                  "years_experience": ["5"] * len(mentor_ids), "capacity": ["1"] * len(mentor_ids)}
                 ).write_csv(directory / "mentors.csv")
    pl.DataFrame({"id": mentee_ids, "lat": ["55.68"] * len(mentee_ids), "lon": ["12.57"] * len(mentee_ids),
                  "occupations": ["2512"] * len(mentee_ids), "languages": ["da:C1"] * len(mentee_ids)}
                 ).write_csv(directory / "mentees.csv")


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("duplicate", [True, False], ids=["all-duplicated", "distinct"])
def test_many_ids_are_read_in_bounded_time(tmp_path: Path, duplicate: bool) -> None:
    """10^5 ids in `make test` (10^6 at fuzz scale 10): every duplicate reported, or a valid cohort, in bounded time."""
    n = 1_000_000 if fuzz_scale() >= 10 else 100_000
    _many_ids(tmp_path / "cohort", n, duplicate)
    SUMMARY.count("ingest.csv")
    started = time.monotonic()
    if duplicate:
        with pytest.raises(CohortInvalid) as caught:
            load_cohort(tmp_path / "cohort")
        assert Counter(p.code for p in caught.value.problems) == {ProblemCode.DUPLICATE_ID: n // 2}
    else:
        cohort = load_cohort(tmp_path / "cohort")
        assert len(cohort.mentors) + len(cohort.mentees) == n
    elapsed = time.monotonic() - started
    SUMMARY.figure(f"ingest {n:,} ids ({'duplicated' if duplicate else 'distinct'})", f"{elapsed:.1f} s")
    assert elapsed < 120 * n / 1_000_000 + 10


# --- the regressions this fuzzing found, pinned by name -----------------------------------------------------------


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


MENTORS_CSV = "id,lat,lon,occupations,languages,years_experience,capacity,gender\nM1,55.6,12.5,2512,da:C1,5,1,f\n"
MENTEES_CSV = "id,lat,lon,occupations,languages\nE1,55.6,12.5,2512,da:C1\n"


@pytest.mark.parametrize(("files", "code"), [
    # A rank of 10^9 made the solver build a rank profile 10^9 long (minutes of CPU, gigabytes): now out of range.
    ({"rankings.csv": "from_id,to_id,rank\nE1,M1,1000000000\n"}, ProblemCode.INVALID_RANK),
    ({"rankings.csv": "from_id,to_id,rank\nE1,M1,1e30\n"}, ProblemCode.INVALID_RANK),
    # Column names equal after trimming spaces ("id", " id") crashed polars' rename with DuplicateError.
    ({"mentors.csv": MENTORS_CSV.replace("id,", "id, id,", 1).replace("M1,", "M1,x,", 1)}, ProblemCode.MISSING_COLUMN),
    # Gender quota bounds that are not whole numbers crashed int() (ValueError, TypeError, OverflowError).
    ({"rules.toml": '[[gender_quotas]]\ngender = "f"\nmin_pairs = "abc"\n'}, ProblemCode.BAD_VALUE),
    ({"rules.toml": '[[gender_quotas]]\ngender = "f"\nmin_pairs = inf\n'}, ProblemCode.BAD_VALUE),
    ({"rules.toml": '[[gender_quotas]]\ngender = "f"\nmax_pairs = [1]\n'}, ProblemCode.BAD_VALUE),
    # Bounds beyond 64 bits crashed numpy (OverflowError) or CP-SAT (ArithmeticError, TypeError) in the solve;
    # TOML integers are 64-bit, so they are refused when the file is read (solver.fileio.read_toml).
    ({"rules.toml": "[organisation_caps]\nA = 100000000000000000000\n"}, ProblemCode.BAD_VALUE),
    ({"rules.toml": '[[gender_quotas]]\ngender = "f"\nmax_pairs = 9223372036854775807\n'}, ProblemCode.INVALID_RULE),
    ({"rules.toml": '[[gender_quotas]]\ngender = "f"\nmax_pairs = 100000000000000000000\n'}, ProblemCode.BAD_VALUE),
], ids=["rank-1e9", "rank-1e30", "padded-duplicate-column", "quota-text", "quota-inf", "quota-list", "org-cap-1e20",
        "quota-int64-max", "quota-1e20"])
def test_regressions_found_by_fuzzing(tmp_path: Path, files: dict[str, str], code: ProblemCode) -> None:
    directory = _write(tmp_path / "cohort", {"mentors.csv": MENTORS_CSV, "mentees.csv": MENTEES_CSV, **files})
    started = time.monotonic()
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    assert code in {p.code for p in caught.value.problems}
    assert time.monotonic() - started < 5


def test_a_valid_edge_cohort_solves(tmp_path: Path) -> None:
    """The largest values that are valid still solve: rank 1000, caps and quotas at int32's maximum."""
    rules = ('[organisation_caps]\nA = 2147483647\n\n[[gender_quotas]]\ngender = "f"\nmin_pairs = 0\n'
             "max_pairs = 2147483647\n")
    directory = _write(tmp_path / "cohort", {"mentors.csv": MENTORS_CSV, "mentees.csv": MENTEES_CSV,
                                             "rankings.csv": "from_id,to_id,rank\nE1,M1,1000\n",
                                             "rules.toml": rules})
    cohort = check_outcome(directory, "csv")
    assert cohort is not None



def test_an_invalid_json_cohort_is_refused_like_a_directory(tmp_path: Path) -> None:
    """`load_cohort(x.json)` skipped validation: `mentormatch validate` called a latitude of 123 valid."""
    path = tmp_path / "cohort.json"
    path.write_text('{"mentors": [{"id": "M1", "location": {"lat": 123, "lon": 12}, "occupations": ["abc"], '
                    '"capacity": -5}], "mentees": []}')
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(path)
    assert {p.code for p in caught.value.problems} == {ProblemCode.COORDINATE_OUT_OF_RANGE,
                                                        ProblemCode.MALFORMED_ISCO, ProblemCode.NEGATIVE_CAPACITY}
    assert all(p.location.startswith(str(path)) for p in caught.value.problems)

"""Reading tables by columns (solver.columns) gives what reading them cell by cell gives: every value, every problem
with its path, message and row, in the same order; and the validator's checks, run only on the rows the columns do
not show plainly valid, find exactly what they find run on everyone.

The oracle reads a row the plain way, cell by cell, from the README's input-file rules: a cell is trimmed; a number is
what Python's float reads ("" = not given); a whole number is such a number without a fraction; true/false words;
`;`-lists with empty items dropped; languages `code:level` with a CEFR level; goals and tracks by name; codes lower- or
upper-cased. Cells are drawn from texts that trip parsers: whitespace of every kind, case, exponents, underscores,
infinities, digits of other scripts, half-written lists.
"""

from __future__ import annotations

import math
import random
import shutil
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.ingest_bench import people, write
from solver.columns import PLAIN_NUMBER, WHITESPACE
from solver.domain import CEFR_LEVELS, Goal, Language, Mentee, Mentor, Track
from solver.errors import CohortInvalid, ProblemCode, did_you_mean
from solver.ingest import MENTEE_COLUMNS, MENTOR_COLUMNS, load_cohort
from solver.people_tables import Cells, build, mentee_columns, mentor_columns, people_problems
from solver.validate import people_problems as validator_people_problems
from tests.cli_support import run_cli
from tests.conftest import SCENARIOS

# --- the oracle: one cell at a time ---------------------------------------------------------------------------


def escaped(message: str) -> str:
    """README: a problem's message shows what is not printable in the data it quotes escaped (\\x1b, \\u200b)."""
    named = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

    def shown(c: str) -> str:
        if c.isprintable():
            return c
        code = ord(c)
        return named.get(c) or (f"\\x{code:02x}" if code < 0x100 else
                                f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")

    return "".join(map(shown, message))


def code_case(text: str, upper: bool = False) -> str:
    """README: language and country codes are case-folded by their ASCII letters only (a code holding any other
    letter is kept as written, and is then no code)."""
    if not text.isascii():
        return text
    return text.upper() if upper else text.lower()



class Row:
    """One row read cell by cell; `problems` as (code, path, message, column)."""

    def __init__(self, stem: str, index: int, row: dict[str, str]) -> None:
        self.stem, self.index, self.row = stem, index, row
        self.problems: list[tuple[str, str, str, str]] = []

    def cell(self, column: str) -> str:
        return self.row.get(column, "").strip()

    def add(self, code: ProblemCode, column: str, suffix: str, message: str) -> None:
        self.problems.append((code.value, f"{self.stem}[{self.index}].{column}{suffix}", message, column))

    def number(self, column: str, empty: float | None) -> float | None:
        text = self.cell(column)
        if not text:
            return empty
        try:
            return float(text)
        except ValueError:
            self.add(ProblemCode.BAD_VALUE, column, "", f"'{text}' is not a number")
            return math.nan

    def coordinate(self, column: str, what: str) -> float:
        """A required coordinate (README: an empty one is one problem, never "latitude nan")."""
        if not self.cell(column):
            self.add(ProblemCode.BAD_VALUE, column, "", f"the {what} is empty (it is required)")
        return self.number(column, math.nan)  # type: ignore[return-value]

    def whole(self, column: str, default: int) -> int:
        text = self.cell(column)
        if not text:
            return default
        try:
            value = float(text)
            if not math.isfinite(value) or value != int(value):
                raise ValueError
            return int(value)
        except ValueError:
            self.add(ProblemCode.BAD_VALUE, column, "", f"'{text}' is not a whole number")
            return default

    def boolean(self, column: str) -> bool:
        text = self.cell(column)
        if text.lower() in ("true", "1", "yes", "y", "t", "sand", "ja"):  # README: also as Danish Excel writes them
            return True
        if text.lower() not in ("false", "0", "no", "n", "f", "falsk", "nej", ""):
            self.add(ProblemCode.BAD_VALUE, column, "", f"'{text}' is not true/false")
        return False

    def items(self, column: str) -> list[str]:
        return [part.strip() for part in self.cell(column).split(";") if part.strip()]

    def languages(self) -> tuple[Language, ...]:
        out = []
        for i, item in enumerate(self.items("languages")):
            if ":" not in item:
                self.add(ProblemCode.MALFORMED_LANGUAGE, "languages", f"[{i}]", f"'{item}' is not code:level (e.g. da:C1)")
                continue
            code, level = item.split(":", 1)
            if level.strip().upper() in CEFR_LEVELS:
                out.append(Language(code_case(code.strip()), CEFR_LEVELS.index(level.strip().upper()) + 1))
            else:
                self.add(ProblemCode.MALFORMED_CEFR, "languages", f"[{i}].level", f"'{level}' is not a CEFR level"
                         f"{did_you_mean(level, CEFR_LEVELS)} ({', '.join(CEFR_LEVELS)})")
                out.append(Language(code_case(code.strip()), -1))
        return tuple(out)

    def named(self, kind: type[Goal] | type[Track], text: str, column: str, suffix: str = "") -> Any:
        if text.lower() in {v.value for v in kind}:
            return kind(text.lower())
        allowed = [v.value for v in kind if v.value]
        self.add(ProblemCode.BAD_VALUE, column, suffix,
                 f"'{text}' is not one of: {', '.join(allowed)}{did_you_mean(text, allowed)}")
        return kind("")


def oracle_mentor(index: int, row: dict[str, str]) -> tuple[Mentor, list[tuple[str, str, str, str]]]:
    r = Row("mentors", index, row)
    mentor = Mentor(
        id=r.cell("id"), lat=r.coordinate("lat", "latitude"), lon=r.coordinate("lon", "longitude"),
        occupations=tuple(r.items("occupations")), languages=r.languages(),
        years_experience=r.whole("years_experience", 0), capacity=r.whole("capacity", 1),
        leadership=r.boolean("leadership"), gender=r.cell("gender").lower(),
        interests=tuple(t.lower() for t in r.items("interests")), organisation=r.cell("organisation"),
        markets=tuple(code_case(t, upper=True) for t in r.items("markets")), returning=r.boolean("returning"),
        goals=tuple(r.named(Goal, g, "goals", f"[{k}]") for k, g in enumerate(r.items("goals"))),
        online=r.boolean("online"))
    return mentor, r.problems


def oracle_mentee(index: int, row: dict[str, str]) -> tuple[Mentee, list[tuple[str, str, str, str]]]:
    r = Row("mentees", index, row)
    mentee = Mentee(
        id=r.cell("id"), lat=r.coordinate("lat", "latitude"), lon=r.coordinate("lon", "longitude"),
        occupations=tuple(r.items("occupations")), languages=r.languages(),
        max_travel_km=r.number("max_travel_km", None), max_travel_minutes=r.number("max_travel_minutes", None),
        interests=tuple(t.lower() for t in r.items("interests")), goal=r.named(Goal, r.cell("goal"), "goal"),
        gender=r.cell("gender").lower(), requested_mentor_gender=r.cell("requested_mentor_gender").lower(),
        country_of_origin=code_case(r.cell("country_of_origin"), upper=True),
        first_language=code_case(r.cell("first_language")),
        municipality=r.cell("municipality"), track=r.named(Track, r.cell("track"), "track"),
        priority=r.whole("priority", 1), online=r.boolean("online"),
        tags=tuple(t.lower() for t in r.items("tags")), avoid_organisations=tuple(r.items("avoid_organisations")))
    return mentee, r.problems


# --- cells that trip parsers --------------------------------------------------------------------------------------

SPACES = (" ", "\t", "\xa0", "\u2003", "\u3000", "\x1c", "\x85")
NUMBERS = ("55.68", "-12.5", "+3", ".5", "5.", "1e3", "1E-2", "2.0", "1_000", "inf", "-Infinity", "nan", "1e400",
           "\u0665\u0665.\u0666", "12,5", "north", "0x10", "", "0", "-0", "9" * 30, "1e30", "3.5e", "4 2")
BOOLEANS = ("true", "TRUE", "Yes", "y", "t", "1", "false", "No", "n", "f", "0", "", "maybe", "ja", "\u212aa")
LANGUAGES = ("da:C1", "en:B2;ar:C2", "DA:c1", "da: C1", "da:C 1", "english", "da:D1", "da:C1;;en:A1", ";", "",
             "da:C1;fr", "xx:Q9;yy:c2", "ÆØ:B1", "d a:B1")
LISTS = ("2512", "2512;2519", "2512; 2519 ;", "25X1", "", ";;", "Chess;RUNNING", "æble;Øl", "SY;ua", "ǅ;ß")
NAMES = ("job", "JOB", "jobb", "education", "own_business", "social_network", "", "spouse", "Student", "studnet",
         "refugee", "other", "social_networ\u212a")
TEXTS = ("", "f", "M", "x", "w", "woman", "SY", "sy", "syr", "da", "DA", "İ", "101", "Lyngby-Taarbæk", "E\x1b[31m",
         "E\u200b1", "ORG01", "Σ")


def cell(kinds: tuple[str, ...]) -> st.SearchStrategy[str]:
    padded = st.tuples(st.sampled_from(("", *SPACES)), st.sampled_from(kinds), st.sampled_from(("", *SPACES)))
    return st.one_of(st.sampled_from(kinds), padded.map("".join), st.text(max_size=6))


MENTOR_CELLS = {"id": (*TEXTS, "M1", "M2", " M1"), "lat": NUMBERS, "lon": NUMBERS, "occupations": LISTS,
                "languages": LANGUAGES, "years_experience": NUMBERS, "capacity": NUMBERS, "leadership": BOOLEANS,
                "gender": TEXTS, "interests": LISTS, "organisation": TEXTS, "markets": LISTS, "returning": BOOLEANS,
                "goals": (*NAMES, "job;education", "job;;jobb"), "online": BOOLEANS}
MENTEE_CELLS = {"id": (*TEXTS, "E1", "M1", " E1 "), "lat": NUMBERS, "lon": NUMBERS, "occupations": LISTS,
                "languages": LANGUAGES, "max_travel_km": NUMBERS, "max_travel_minutes": NUMBERS, "interests": LISTS,
                "goal": NAMES, "gender": TEXTS, "requested_mentor_gender": TEXTS, "country_of_origin": TEXTS,
                "first_language": TEXTS, "municipality": TEXTS, "track": NAMES, "priority": NUMBERS,
                "online": BOOLEANS, "tags": LISTS, "avoid_organisations": LISTS}


def rows(cells: dict[str, tuple[str, ...]]) -> st.SearchStrategy[list[dict[str, str]]]:
    row = st.fixed_dictionaries({column: cell(kinds) for column, kinds in cells.items()})
    # Many rows of few distinct texts (read once per distinct text) as well as all-distinct columns.
    return st.one_of(st.lists(row, max_size=12), st.lists(row, min_size=1, max_size=4).map(lambda r: r * 40))


CLEAN_MENTOR = {"id": "M1", "lat": "55.6", "lon": "12.5", "occupations": "2512", "languages": "da:C1",
                "years_experience": "5", "capacity": "1", "leadership": "", "gender": "f", "interests": "",
                "organisation": "", "markets": "SY", "returning": "", "goals": "", "online": ""}
CLEAN_MENTEE = {"id": "E1", "lat": "55.6", "lon": "12.5", "occupations": "2512", "languages": "da:C1",
                "max_travel_km": "", "max_travel_minutes": "", "interests": "", "goal": "", "gender": "m",
                "requested_mentor_gender": "", "country_of_origin": "SY", "first_language": "da", "municipality": "",
                "track": "", "priority": "1", "online": "", "tags": "", "avoid_organisations": ""}


def mostly_clean(cells: dict[str, tuple[str, ...]], clean: dict[str, str]) -> st.SearchStrategy[list[dict[str, str]]]:
    """Valid rows with one or two cells made tricky: each problem alone in its row, so that no other cell of the
    row makes the validator look at it anyway."""
    edit = st.sampled_from(sorted(cells)).flatmap(lambda column: st.tuples(st.just(column), cell(cells[column])))
    row = st.lists(edit, min_size=1, max_size=2).map(lambda edits: {**clean, **dict(edits)})
    return st.lists(row, min_size=5, max_size=60)


def same(a: object, b: object) -> bool:
    """Equal, with NaN equal to NaN (a cell that is no number reads as NaN on both sides)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    return a == b


def as_columns(table: list[dict[str, str]], columns: tuple[str, ...]) -> dict[str, pl.Series]:
    return {c: pl.Series(c, [row[c] for row in table], dtype=pl.String) for c in columns}


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


SIDES = {"mentors": (MENTOR_CELLS, MENTOR_COLUMNS, mentor_columns, oracle_mentor, Mentor),
         "mentees": (MENTEE_CELLS, MENTEE_COLUMNS, mentee_columns, oracle_mentee, Mentee)}


@pytest.mark.parametrize("stem", sorted(SIDES))
@SETTINGS
@given(data=st.data())
def test_people_by_columns_are_the_people_cell_by_cell(stem: str, data: st.DataObject) -> None:
    kinds, columns, by_columns, oracle, kind = SIDES[stem]
    table = data.draw(rows(kinds))
    cells = Cells(stem, columns)
    built = by_columns(as_columns(table, columns), cells).build()
    expected = [oracle(i, row) for i, row in enumerate(table)]
    for got, (want, _) in zip(built, expected, strict=True):
        assert all(same(getattr(got, f.name), getattr(want, f.name)) for f in fields(kind)), (got, want)
    problems = [(p.code.value, p.path, p.message, p.location) for p in cells.problems()]
    assert problems == [(code, path, escaped(message), f"{stem}.csv row {i + 2}, column {column}")
                        for i, (_, found) in enumerate(expected) for code, path, message, column in found]


@SETTINGS
@given(mentor_rows=mostly_clean(MENTOR_CELLS, CLEAN_MENTOR), mentee_rows=mostly_clean(MENTEE_CELLS, CLEAN_MENTEE))
def test_checks_on_the_rows_that_need_them_find_what_checks_on_everyone_find(
        mentor_rows: list[dict[str, str]], mentee_rows: list[dict[str, str]]) -> None:
    """The columns mark rows plainly valid with patterns stricter than the rules; the validator judges the rest.
    Whatever the cells, the problems are those of the validator run on every participant, in its order."""
    from solver.domain import Cohort

    mentor_values = mentor_columns(as_columns(mentor_rows, MENTOR_COLUMNS), Cells("mentors", MENTOR_COLUMNS))
    mentee_values = mentee_columns(as_columns(mentee_rows, MENTEE_COLUMNS), Cells("mentees", MENTEE_COLUMNS))
    mentors, mentees = mentor_values.build(), mentee_values.build()
    found = people_problems(mentors, mentees, mentor_values, mentee_values)
    assert found == validator_people_problems(Cohort(tuple(mentors), tuple(mentees)))


@settings(max_examples=300, deadline=None)
@given(text=st.from_regex(PLAIN_NUMBER, fullmatch=True))
def test_plain_numbers_read_by_polars_are_what_python_reads(text: str) -> None:
    """The fast tier casts plain decimals with polars: it must give Python's double, digit for digit."""
    parsed = pl.Series([text]).cast(pl.Float64, strict=False)[0]
    assert parsed == float(text) or (math.isinf(parsed) and math.isinf(float(text)))


def test_long_and_tiny_decimals_round_alike() -> None:
    rng = random.Random(20)
    texts = ["0." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40))) + f"e{rng.randint(-330, 310)}"
             for _ in range(2000)]
    texts += ["".join(rng.choice("0123456789") for _ in range(rng.randint(1, 60))) for _ in range(2000)]
    assert pl.Series(texts).cast(pl.Float64).to_list() == [float(t) for t in texts]


def test_whitespace_is_what_python_strips() -> None:
    assert set(WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}


def test_built_objects_equal_constructed_ones_and_defaults_fill_missing_fields() -> None:
    built = build(Mentee, 2, {"id": ["E1", "E2"], "lat": [1.0, 2.0], "lon": [3.0, 4.0], "occupations": [(), ("2512",)],
                              "languages": [(), (Language("da", 5),)]})
    assert built == [Mentee("E1", 1.0, 3.0, (), ()), Mentee("E2", 2.0, 4.0, ("2512",), (Language("da", 5),))]
    with pytest.raises(ValueError, match="no column and no default"):
        build(Mentee, 1, {"id": ["E1"]})
    with pytest.raises(ValueError, match="has no field"):
        build(Mentee, 1, {"id": ["E1"], "lat": [1.0], "lon": [1.0], "occupations": [()], "languages": [()],
                          "shoe_size": [44]})


# --- every file's problems at once (issue 13) ---------------------------------------------------------------------


def lyngby(tmp_path: Path) -> Path:
    directory = tmp_path / "lyngby"
    shutil.copytree(SCENARIOS / "lyngby_career", directory)
    return directory


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems_of(directory: Path) -> list[tuple[str, str]]:
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    return [(p.code.value, p.location) for p in caught.value.problems]


def first_cells(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()[1].split(",")


def test_an_unknown_column_in_one_file_hides_no_other_files_problems(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    edit(directory / "mentors.csv", ",interests,", ",intrests,")  # a misspelt optional column
    mentee = first_cells(directory / "mentees.csv")
    edit(directory / "mentees.csv", f"{mentee[0]},{mentee[1]},", f"{mentee[0]},95.5,")  # latitude out of range
    ranking = (directory / "rankings.csv").read_text(encoding="utf-8").splitlines()[1]
    edit(directory / "rankings.csv", ranking, ranking.rsplit(",", 1)[0] + ",first")  # a rank that is no number
    edit(directory / "rules.toml", "max_distance_km", "max_distanse_km")  # an unknown rule
    found = problems_of(directory)
    assert ("MISSING_COLUMN", "mentors.csv") in found
    assert ("COORDINATE_OUT_OF_RANGE", "mentees.csv row 2, column lat") in found
    assert ("BAD_VALUE", "rankings.csv row 2, column rank") in found
    assert any(code == "INVALID_RULE" or location.startswith("rules.toml") for code, location in found)
    # The mentors were read without their interests: no other problem comes of the misspelt column.
    assert not [p for p in found if p[1].startswith("mentors.csv row")]
    result = run_cli("validate", directory)
    assert result.returncode == 2, result.stderr
    assert "intrests" in result.stderr and "mentees.csv row 2, column lat" in result.stderr
    assert "rankings.csv row 2, column rank" in result.stderr and "max_distanse_km" in result.stderr


def test_a_missing_column_waits_but_the_rest_of_its_file_is_checked(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    text = (directory / "mentees.csv").read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    at = header.index("lat")
    cut = [",".join(c for k, c in enumerate(line.split(",")) if k != at) for line in text]  # no lat column
    second = cut[2].split(",")
    second[header.index("gender") - 1] = "woman"  # a bad value in another column of the same file
    cut[2] = ",".join(second)
    (directory / "mentees.csv").write_text("\n".join(cut) + "\n", encoding="utf-8")
    found = problems_of(directory)
    assert found[0] == ("MISSING_COLUMN", "mentees.csv")
    assert ("MALFORMED_GENDER", "mentees.csv row 3, column gender") in found
    assert not [p for p in found if p[1].endswith("column lat")]  # no row reports the column that is missing
    assert "PIN_BREAKS_RULE" not in {code for code, _ in found}


def test_a_file_without_ids_lets_the_other_files_be_checked_without_a_cascade(tmp_path: Path) -> None:
    directory = lyngby(tmp_path)
    edit(directory / "mentors.csv", "id,", "ident,")
    mentee = first_cells(directory / "mentees.csv")
    edit(directory / "mentees.csv", f"{mentee[0]},{mentee[1]},{mentee[2]},{mentee[3]},",
         f"{mentee[0]},{mentee[1]},{mentee[2]},25X1,")
    found = problems_of(directory)
    assert ("MISSING_COLUMN", "mentors.csv") in found
    assert ("MALFORMED_ISCO", "mentees.csv row 2, column occupations") in found
    # Rankings and pins name mentors that could not be read: their ids are not called unknown.
    assert "UNKNOWN_ID" not in {code for code, _ in found}


# --- a large file: every bad cell found, at its row ---------------------------------------------------------------


def test_bad_cells_among_twenty_thousand_rows_are_each_reported_at_their_row(tmp_path: Path) -> None:
    directory = write(tmp_path / "big", 20_000)
    frame = pl.read_csv(directory / "mentees.csv", infer_schema=False)
    bad = {137: ("lat", "north"), 9_999: ("languages", "da:C7"), 15_001: ("priority", "2.5"),
           19_998: ("occupations", "25X1"), 4_242: ("id", frame["id"][11])}
    for row, (column, text) in bad.items():
        frame = frame.with_columns(frame[column].scatter(row, text))
    frame.write_csv(directory / "mentees.csv")
    with pytest.raises(CohortInvalid) as caught:
        load_cohort(directory)
    located = {(p.code.value, p.location) for p in caught.value.problems}
    assert located == {
        ("BAD_VALUE", "mentees.csv row 139, column lat"),  # once: not also "latitude nan" (tests/test_cell_problems_once)
        ("MALFORMED_CEFR", "mentees.csv row 10001, column languages"),
        ("BAD_VALUE", "mentees.csv row 15003, column priority"),
        ("MALFORMED_ISCO", "mentees.csv row 20000, column occupations"),
        ("DUPLICATE_ID", "mentees.csv row 4244, column id")}


def test_the_generated_bench_cohort_reads_back_as_written(tmp_path: Path) -> None:
    """The bench's generator makes a valid cohort; a sample of its rows reads to the oracle's values."""
    directory = write(tmp_path / "bench", 3_000)
    cohort = load_cohort(directory)
    assert len(cohort.mentees) == 3_000 and len(cohort.mentors) == 2_000
    table = people(3_000, False, 2027).fill_null("").to_dicts()
    for i in random.Random(3).sample(range(3_000), 50):
        want, problems = oracle_mentee(i, table[i])
        assert not problems and cohort.mentees[i] == replace(want)

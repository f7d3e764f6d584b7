"""Language and country codes are checked against ISO 639-1 and ISO 3166-1, not by their shape: a code that names
nothing ("dk" for Danish, "UK" for the United Kingdom) would silently match nobody. Every way in (files, the
protobuf contract, rules) says so at once, with the place and the code that was meant."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from server.convert import cohort_from_proto, cohort_to_proto
from solver.codes import LANGUAGE_OF_COUNTRY, OTHER_COUNTRIES, WITHDRAWN_LANGUAGES
from solver.data.iso_codes import COUNTRIES, LANGUAGES
from solver.domain import Language, Mentee, Mentor, Rules, Segment
from solver.errors import ProblemCode
from solver.ingest import read_cohort_dir, write_cohort_dir
from solver.validate import validate
from tests.test_ingest_validate import edit_csv, problems_of, small_cohort

SYSTEM_TABLES = Path("/usr/share/iso-codes/json")


MENTEE_ROW = "E1,55.69,12.55,2519,en:B2,,,,,,,"  # small_cohort's first mentee as written, country_of_origin last


def _files_with(tmp_path: Path, mentor_language: str, mentee_country: str) -> Path:
    """small_cohort's files with the first mentor's first language (da) and the first mentee's country replaced."""
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    edit_csv(directory / "mentors.csv", "da:C2", f"{mentor_language}:C2")
    edit_csv(directory / "mentees.csv", MENTEE_ROW, MENTEE_ROW + mentee_country)
    return directory


@pytest.mark.skipif(not (SYSTEM_TABLES / "iso_639-2.json").exists(), reason="Debian's iso-codes tables not installed")
def test_the_shipped_tables_are_the_standards_codes() -> None:
    # The oracle: the system's own copy of the ISO tables (Debian iso-codes), read independently of the shipped one.
    languages = json.loads((SYSTEM_TABLES / "iso_639-2.json").read_text())["639-2"]
    countries = json.loads((SYSTEM_TABLES / "iso_3166-1.json").read_text())["3166-1"]
    assert set(LANGUAGES) == {e["alpha_2"] for e in languages if "alpha_2" in e}
    assert set(COUNTRIES) == {e["alpha_2"] for e in countries} | {"XK"}


def test_the_tables_hold_the_codes_programmes_meet() -> None:
    assert len(LANGUAGES) == 184 and len(COUNTRIES) == 250
    for code in ("da", "en", "ar", "fa", "uk", "ti", "so", "ps", "ku", "sv", "nb", "de"):
        assert code in LANGUAGES
    for code in ("DK", "SY", "UA", "AF", "ER", "IR", "IQ", "SO", "XK", "GB"):
        assert code in COUNTRIES


def test_the_hints_name_real_codes_for_texts_that_are_not_codes() -> None:
    for wrong, meant in LANGUAGE_OF_COUNTRY.items():
        assert wrong not in LANGUAGES and wrong.upper() in COUNTRIES and meant in LANGUAGES
    for wrong, meant in WITHDRAWN_LANGUAGES.items():
        assert wrong not in LANGUAGES and meant in LANGUAGES
    for wrong, meant in OTHER_COUNTRIES.items():
        assert wrong not in COUNTRIES and meant in COUNTRIES


def _problems(cohort: object) -> dict[str, str]:
    return {p.path: p.message for p in validate(cohort)}  # type: ignore[arg-type]


def test_codes_of_the_right_shape_that_name_nothing_are_refused_with_the_code_meant() -> None:
    # Each wrong code on a person of its own: people whose columns look plainly valid are not looked at one by one.
    cohort = small_cohort()
    mentor, mentee = cohort.mentors[0], cohort.mentees[0]
    mentors = (replace(mentor, id="M1", languages=(Language("dk", 6), Language("en", 5))),
               replace(mentor, id="M2", markets=("SY", "UK")), replace(mentor, id="M3"))
    mentees = (replace(mentee, id="E1", languages=(Language("en", 4), Language("zz", 3))),
               replace(mentee, id="E2", country_of_origin="EL"), replace(mentee, id="E3", first_language="iw"),
               replace(mentee, id="E4", country_of_origin="SY", first_language="ar"))
    problems = validate(replace(cohort, mentors=mentors, mentees=mentees, rankings=()))
    found = {p.path: p for p in problems}
    assert set(found) == {"mentors[0].languages[0]", "mentors[1].markets[1]", "mentees[0].languages[1]",
                          "mentees[1].country_of_origin", "mentees[2].first_language"}
    assert found["mentors[0].languages[0]"].code is ProblemCode.MALFORMED_LANGUAGE
    assert "Danish is 'da'" in found["mentors[0].languages[0]"].message
    assert found["mentors[1].markets[1]"].code is ProblemCode.MALFORMED_COUNTRY
    assert "'GB'" in found["mentors[1].markets[1]"].message
    assert found["mentees[1].country_of_origin"].code is ProblemCode.MALFORMED_COUNTRY
    assert "'GR'" in found["mentees[1].country_of_origin"].message
    assert "Hebrew is 'he'" in found["mentees[2].first_language"].message
    assert "'zz' is not an ISO 639-1 language code" in found["mentees[0].languages[1]"].message


def test_the_valid_codes_of_every_standard_pass() -> None:
    cohort = small_cohort()
    languages = tuple(Language(code, 4) for code in sorted(LANGUAGES))
    mentor = replace(cohort.mentors[0], languages=languages, markets=tuple(sorted(COUNTRIES)))
    mentees = tuple(replace(cohort.mentees[0], id=f"E{k}", country_of_origin=country, first_language=language)
                    for k, (country, language) in enumerate(zip(sorted(COUNTRIES), sorted(LANGUAGES) * 2, strict=False)))
    assert validate(replace(cohort, mentors=(mentor, *cohort.mentors[1:]), mentees=mentees)) == []


def test_programme_languages_in_upper_case_are_refused_over_the_contract() -> None:
    # Over protobuf nothing is case-folded: "DA" would never equal a person's "da", and nobody would share a
    # programme language with anybody.
    cohort = small_cohort()
    rules = replace(cohort.rules, programme_languages=("DA",),
                    segments=(Segment("s1", programme_languages=("en", "ua")),))
    broken = cohort_from_proto(cohort_to_proto(replace(cohort, rules=rules)))
    problems = {p.path: p.message for p in validate(broken)}
    assert "write 'da' (Danish)" in problems["rules.programme_languages[0]"]
    assert "Ukrainian is 'uk'" in problems["rules.segments[0].programme_languages[1]"]


def test_files_report_unknown_codes_with_their_row_and_column(tmp_path: Path) -> None:
    directory = _files_with(tmp_path, "dk", "UK")
    where = {p.location: p.message for p in problems_of(directory)}
    assert set(where) == {"mentors.csv row 2, column languages", "mentees.csv row 2, column country_of_origin"}
    assert "Danish is 'da'" in where["mentors.csv row 2, column languages"]
    assert "United Kingdom is 'GB'" in where["mentees.csv row 2, column country_of_origin"]


@pytest.mark.parametrize("rows", [40, 3_000])
def test_one_unknown_code_among_many_valid_ones_is_found(tmp_path: Path, rows: int) -> None:
    # Columns of few distinct texts are judged once per distinct text, others row by row: both find the one row.
    cohort = small_cohort()
    countries, languages = sorted(COUNTRIES), sorted(LANGUAGES)
    mentees = [Mentee(f"E{k}", 55.7, 12.5, ("2519",), (Language(languages[k % 184], 4), Language("en", 3)),
                      country_of_origin=countries[k % 250], first_language=languages[(k * 7) % 184])
               for k in range(rows)]
    a, b, c = rows - 3, rows // 2, 7  # one wrong code each
    mentees[a] = replace(mentees[a], country_of_origin="ZZ")
    mentees[b] = replace(mentees[b], first_language="jp")
    mentees[c] = replace(mentees[c], languages=(Language("en", 3), Language("xx", 2)))
    mentors = (*cohort.mentors, Mentor("M3", 55.7, 12.5, ("2512",), (Language("en", 5),), markets=("DK", "UK")))
    directory = write_cohort_dir(replace(cohort, mentors=mentors, mentees=tuple(mentees), rankings=()),
                                 tmp_path / "c")
    problems = {p.path: p.code for p in problems_of(directory)}
    assert problems == {f"mentees[{a}].country_of_origin": ProblemCode.MALFORMED_COUNTRY,
                        f"mentees[{b}].first_language": ProblemCode.MALFORMED_LANGUAGE,
                        f"mentees[{c}].languages[1]": ProblemCode.MALFORMED_LANGUAGE,
                        "mentors[2].markets[1]": ProblemCode.MALFORMED_COUNTRY}
    # The same cohort over the contract finds the same problems.
    proto = cohort_from_proto(cohort_to_proto(replace(cohort, mentors=mentors, mentees=tuple(mentees),
                                                      rankings=())))
    assert {p.path: p.code for p in validate(proto)} == problems


def test_a_rules_file_with_an_unknown_programme_language_is_refused(tmp_path: Path) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    (directory / "rules.toml").write_text('programme_languages = ["da", "dk"]\n')
    (problem,) = problems_of(directory)
    assert problem.path == "rules.programme_languages[1]" and "Danish is 'da'" in problem.message


def test_rules_with_valid_programme_languages_still_read(tmp_path: Path) -> None:
    cohort = replace(small_cohort(), rules=Rules(max_distance_km=20.0, programme_languages=("da", "en")))
    directory = write_cohort_dir(cohort, tmp_path / "c")
    assert read_cohort_dir(directory).rules.programme_languages == ("da", "en")


def test_letters_that_case_fold_into_ascii_are_not_codes_in_files(tmp_path: Path) -> None:
    # Python folds "ı" (dotless i) to "I", "ſ" (long s) to "S" and the Kelvin sign to "k": a file's "ıd" must not
    # become Indonesia's ID (nor "Ko" Korean): the service refuses them, and so does the file reader.
    directory = _files_with(tmp_path, "\u212ao", "\u0131d")
    (directory / "rules.toml").write_text('programme_languages = ["en", "\u017fe"]\n')
    found = {p.path: p for p in problems_of(directory)}
    assert set(found) == {"mentors[0].languages[0]", "mentees[0].country_of_origin", "rules.programme_languages[1]"}
    assert found["mentees[0].country_of_origin"].code is ProblemCode.MALFORMED_COUNTRY
    assert "'\\u0131d'" in found["mentees[0].country_of_origin"].message  # the look-alike shown for what it is
    assert "'\\u212ao'" in found["mentors[0].languages[0]"].message


def test_each_programme_language_of_a_rules_file_is_judged_at_its_own_place(tmp_path: Path) -> None:
    directory = write_cohort_dir(small_cohort(), tmp_path / "c")
    (directory / "rules.toml").write_text('programme_languages = ["", "dk", "xx", "UK", "en-GB", 7]\n')
    found = {p.path: p for p in problems_of(directory)}
    # "UK" is a language code once lower-cased (Ukrainian): a file's codes are case-folded.
    assert set(found) == {f"rules.programme_languages[{k}]" for k in (0, 1, 2, 4, 5)}
    assert found["rules.programme_languages[0]"].code is ProblemCode.MALFORMED_LANGUAGE  # as over gRPC
    assert "Danish is 'da'" in found["rules.programme_languages[1]"].message
    assert "'xx'" in found["rules.programme_languages[2]"].message
    assert "write 'en' (English)" in found["rules.programme_languages[4]"].message
    assert found["rules.programme_languages[5]"].code is ProblemCode.BAD_VALUE


def test_control_characters_in_a_code_are_shown_escaped_never_raw(tmp_path: Path) -> None:
    directory = _files_with(tmp_path, "d\u200ba", "U\x1bK")
    printed = "\n".join(map(str, problems_of(directory)))
    assert "\x1b" not in printed and "\u200b" not in printed
    assert "'U\\x1bK'" in printed and "'d\\u200ba'" in printed


def _messages(**mentee: str) -> list[str]:
    cohort = small_cohort()
    first = replace(cohort.mentees[0], **mentee)  # type: ignore[arg-type]
    return [p.message for p in validate(replace(cohort, mentees=(first, *cohort.mentees[1:])))]


@pytest.mark.parametrize(("code", "hint"), [("dan", "Danish is 'da'"), ("ger", "German is 'de'"),
                                            ("zh_Hans", "write 'zh' (Chinese)")])
def test_three_letter_codes_and_language_tags_name_the_two_letter_code(code: str, hint: str) -> None:
    [message] = _messages(first_language=code)
    assert hint in message


@pytest.mark.parametrize(("code", "hint"), [("SYR", "Syria is 'SY'"), ("TP", "Timor-Leste is 'TL'"),
                                            ("YU", "(Yugoslavia) was withdrawn")])
def test_alpha3_and_withdrawn_country_codes_name_the_code_of_today(code: str, hint: str) -> None:
    [message] = _messages(country_of_origin=code)
    assert hint in message


@pytest.mark.parametrize(("field", "name", "hint"), [
    ("first_language", "English", "English is 'en'"), ("first_language", "arabic", "Arabic is 'ar'"),
    ("first_language", "Tigrinya", "Tigrinya is 'ti'"), ("country_of_origin", "Denmark", "Denmark is 'DK'"),
    ("country_of_origin", "syria", "Syria is 'SY'"), ("country_of_origin", "Ukraine", "Ukraine is 'UA'")])
def test_a_language_or_country_written_by_its_name_gets_its_code(field: str, name: str, hint: str) -> None:
    [message] = _messages(**{field: name})
    assert f"'{name}' is not an ISO" in message and "write the code, not the name" in message and hint in message


def test_codes_that_only_look_odd_are_valid() -> None:
    assert _messages(first_language="el", country_of_origin="XK") == []
    assert _messages(first_language="nb", country_of_origin="GB") == []


def test_an_unknown_programme_language_is_one_problem_not_a_warning_per_mentee() -> None:
    from solver.cohort_warnings import cohort_warnings

    cohort = small_cohort()
    broken = replace(cohort, rules=replace(cohort.rules, programme_languages=("dk",)))
    assert [p.path for p in validate(broken)] == ["rules.programme_languages[0]"]
    assert cohort_warnings(broken) == []
    # With a real programme language nobody speaks, each mentee is still warned about.
    unspoken = replace(cohort, rules=replace(cohort.rules, programme_languages=("da",)))
    assert [w.path for w in cohort_warnings(unspoken)] == ["mentees[0].languages", "mentees[1].languages"]

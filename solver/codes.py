"""Language and country codes: which are known (ISO 639-1, ISO 3166-1 alpha-2: `solver.data.iso_codes`), how a file's
code is case-folded, and what a problem says of a code that is not known. A code of the right shape that names
nothing would match nobody: a mentee who speaks "dk" (Denmark's country code; Danish is "da") shares no language
with a mentor who speaks "da", and a mentor's market "UK" (the United Kingdom is "GB") is no mentee's country. So a
code is checked against the list, and the message names the code that was probably meant."""

from __future__ import annotations

import re
from collections.abc import Callable

from solver.data.iso_codes import (
    COUNTRIES,
    COUNTRIES_ALPHA3,
    COUNTRY_CODES,
    LANGUAGE_CODES,
    LANGUAGES,
    LANGUAGES_ALPHA3,
    SUCCESSORS,
    WITHDRAWN_COUNTRIES,
)

__all__ = ["COUNTRY_CODES", "LANGUAGE_CODES", "country_problem", "fold_code", "language_problem"]

WITHDRAWN_LANGUAGES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv", "mo": "ro"}
"""ISO 639-1 codes withdrawn and replaced (still written by older systems: Java's Locale, for one)."""
LANGUAGE_OF_COUNTRY = {"dk": "da", "gr": "el", "ua": "uk", "cz": "cs", "jp": "ja", "cn": "zh", "ir": "fa",
                       "il": "he", "vn": "vi", "rs": "sr", "al": "sq", "gb": "en", "us": "en", "at": "de",
                       "sy": "ar", "eg": "ar", "pk": "ur", "by": "be", "kz": "kk", "tj": "tg"}
"""Country codes written where a language belongs, and the language meant, where the text is not itself a language
code (ee is Ewe, se Northern Sami, kr Kanuri: those are valid and cannot be second-guessed)."""
OTHER_COUNTRIES = {"UK": "GB", "EL": "GR"}
"""Codes used for countries outside ISO 3166-1 (the EU writes EL for Greece; UK is reserved for the United Kingdom,
whose code is GB)."""
_TAG = re.compile(r"([A-Za-z]{2,3})[-_][A-Za-z0-9]")  # a language tag: en-GB, zh_Hans, pt-BR
_LANGUAGE_OF_NAME = {name.lower(): code for code, name in LANGUAGES.items()}
"""A language's English name, as a coordinator may write it ("English", "arabic"), and its code."""
_COUNTRY_OF_NAME = {name.upper(): code for code, name in COUNTRIES.items()}


def fold_code(text: str, upper: bool) -> str:
    """A code as a file gives it, in the case the standard writes it: ASCII letters only. Python's case mapping of
    other letters can make an ASCII code of them ("ıd".upper() == "ID", "Ko" with the Kelvin sign lower-cases to
    "ko"): such a text is left as written, and reported."""
    if not text.isascii():
        return text
    return text.upper() if upper else text.lower()


def shown(text: str) -> str:
    """A code quoted in a message: as written when it is printable ASCII, else with every other character escaped
    (`'\\u0131d'`, `'U\\x1bK'`): a look-alike letter is seen for what it is, and nothing reaches a terminal raw."""
    return f"'{text}'" if text.isascii() and text.isprintable() else ascii(text)


def _code_problem(code: str, known: frozenset[str], names: dict[str, str], *, upper: bool, standard: str,
                  example: str, naming: str, hint: Callable[[str], str | None]) -> str | None:
    """What every code's check says first (None for a `known` code; a code with other than ASCII letters; a known
    code in the other case), then `hint` of the code folded, else what a code of `standard` looks like."""
    if code in known:
        return None
    head = f"{shown(code)} is not an {standard}"
    letters = f"two {'upper' if upper else 'lower'}-case letters"
    if not code.isascii():
        return f"{head}: it holds characters other than ASCII letters ({letters}, {example})"
    folded = fold_code(code.strip(), upper)
    if folded in known:
        return f"{head}: write '{folded}' ({names[folded]}), {letters}"
    found = hint(folded)
    return f"{head}: {found}" if found is not None else f"{head} ({letters} naming {naming})"


def _language_hint(lower: str) -> str | None:
    """The language code probably meant by a lower-cased text that is not one."""
    if lower in LANGUAGES_ALPHA3:
        meant = LANGUAGES_ALPHA3[lower]
        return f"'{lower}' is ISO 639-2; {LANGUAGES[meant]} is '{meant}' in ISO 639-1"
    if lower in WITHDRAWN_LANGUAGES:
        meant = WITHDRAWN_LANGUAGES[lower]
        return f"'{lower}' was withdrawn; {LANGUAGES[meant]} is '{meant}'"
    if lower in _LANGUAGE_OF_NAME:
        meant = _LANGUAGE_OF_NAME[lower]
        return f"write the code, not the name: {LANGUAGES[meant]} is '{meant}'"
    if lower == "sh":
        return "'sh' (Serbo-Croatian) was withdrawn; write 'sr', 'hr' or 'bs'"
    if lower in LANGUAGE_OF_COUNTRY:
        meant = LANGUAGE_OF_COUNTRY[lower]
        return f"'{lower}' is the country code of {COUNTRIES[lower.upper()]}; {LANGUAGES[meant]} is '{meant}'"
    if len(lower) == 2 and lower.upper() in COUNTRY_CODES:
        return f"'{lower}' is the country code of {COUNTRIES[lower.upper()]}, not a language"
    tag = _TAG.match(lower)
    if tag is not None:
        meant = tag.group(1) if tag.group(1) in LANGUAGE_CODES else LANGUAGES_ALPHA3.get(tag.group(1), "")
        if meant:
            return f"a language tag's region or script is not part of the code; write '{meant}' ({LANGUAGES[meant]})"
    return None


def _country_hint(upper: str) -> str | None:
    """The country code probably meant by an upper-cased text that is not one."""
    if upper in COUNTRIES_ALPHA3:
        meant = COUNTRIES_ALPHA3[upper]
        return f"'{upper}' is alpha-3; {COUNTRIES[meant]} is '{meant}'"
    if upper in _COUNTRY_OF_NAME:
        meant = _COUNTRY_OF_NAME[upper]
        return f"write the code, not the name: {COUNTRIES[meant]} is '{meant}'"
    if upper in OTHER_COUNTRIES:
        meant = OTHER_COUNTRIES[upper]
        return f"{COUNTRIES[meant]} is '{meant}'"
    if upper in SUCCESSORS:
        meant = SUCCESSORS[upper]
        return f"'{upper}' ({WITHDRAWN_COUNTRIES[upper]}) was withdrawn; {COUNTRIES[meant]} is '{meant}'"
    if upper in WITHDRAWN_COUNTRIES:
        return f"'{upper}' ({WITHDRAWN_COUNTRIES[upper]}) was withdrawn; give the country of today"
    return None


def language_problem(code: str) -> str | None:
    """What is wrong with a language code (None: it is a known ISO 639-1 code, lower case)."""
    return _code_problem(code, LANGUAGE_CODES, LANGUAGES, upper=False, standard="ISO 639-1 language code",
                         example="e.g. 'da' for Danish", naming="a language, e.g. 'da' for Danish, 'ar' for Arabic",
                         hint=_language_hint)


def country_problem(code: str) -> str | None:
    """What is wrong with a country code (None: it is a known ISO 3166-1 alpha-2 code, upper case)."""
    return _code_problem(code, COUNTRY_CODES, COUNTRIES, upper=True, standard="ISO 3166-1 alpha-2 country code",
                         example="e.g. 'SY' for Syria", naming="a country, e.g. 'SY' for Syria, 'UA' for Ukraine",
                         hint=_country_hint)

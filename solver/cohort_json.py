"""The cohort as protobuf-JSON text (the contract's JSON form): written, and read with every problem located."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from mentormatch.v1 import cohort_pb2 as pb
from solver.cohort_proto import cohort_from_proto_checked, cohort_to_proto
from solver.domain import Cohort
from solver.errors import CohortInvalid, Problem, ProblemCode
from solver.fileio import TABLE_LIMIT_BYTES, read_input


def cohort_to_json_text(cohort: Cohort) -> str:
    """The cohort in the protobuf JSON mapping, with the .proto field names (snake_case), ending in a newline."""
    msg = cohort_to_proto(cohort)
    return json_format.MessageToJson(msg, preserving_proto_field_name=True, indent=2, ensure_ascii=False) + "\n"


class _DuplicateKey(ValueError):
    """A JSON object with the same key twice: valid JSON, but ambiguous, so protobuf JSON rejects it."""


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


_PARSE_PREFIX = re.compile(r"^(?:Failed to parse \w+ field: )+")
_PARSE_SUFFIX = re.compile(r"\s+at \"?[\w.\[\]]+\"?\.*$")


def _parse_error_message(error: Exception) -> str:
    """protobuf's ParseError text without its nesting prefixes, field list and location suffix."""
    text = str(error).split("\n", 1)[0].strip()
    text = _PARSE_PREFIX.sub("", text)
    text = _PARSE_SUFFIX.sub("", text)
    return text.rstrip(".") or "invalid value"


def _json_problems(value: Any, descriptor: Descriptor, path: str) -> list[tuple[str, str]]:
    """Every (field path, message) in a JSON value that does not fit `descriptor`, found field by field."""
    if not isinstance(value, dict):
        return [(path or "<root>", f"expected a JSON object, got {_json_type(value)}")]
    by_name: dict[str, FieldDescriptor] = {}
    for fd in descriptor.fields:
        by_name[fd.name] = fd
        by_name[fd.json_name] = fd
    message_class: Callable[[], Message] = GetMessageClass(descriptor)
    found: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for key, item in value.items():
        fd = by_name.get(key)
        if fd is None:
            found.append((_join(path, key), f"unknown field {key!r}"))
            continue
        fpath = _join(path, fd.name)
        if fd.name in seen:
            found.append((fpath, f"given twice, as {seen[fd.name]!r} and as {key!r}"))
            continue
        seen[fd.name] = key
        if item is None:
            continue
        repeated = fd.is_repeated
        if repeated and not isinstance(item, list):
            found.append((fpath, f"expected a JSON array, got {_json_type(item)}"))
        elif fd.message_type is not None and repeated:
            for j, element in enumerate(item):
                found.extend(_json_problems(element, fd.message_type, f"{fpath}[{j}]"))
        elif fd.message_type is not None:
            found.extend(_json_problems(item, fd.message_type, fpath))
        elif repeated:
            for j, element in enumerate(item):
                error = _scalar_error(message_class, key, [element])
                if error:
                    found.append((f"{fpath}[{j}]", error))
        else:
            error = _scalar_error(message_class, key, item)
            if error:
                found.append((fpath, error))
    return found


def _scalar_error(message_class: Callable[[], Message], key: str, value: Any) -> str | None:
    try:
        json_format.ParseDict({key: value}, message_class())
    except (json_format.ParseError, ValueError, TypeError) as error:
        return _parse_error_message(error)
    return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else "null")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _at(source: str, path: str) -> str:
    """Where a problem is: "cohort.json, mentors[2].capacity"."""
    return source if path in ("", source) else f"{source}, {path}"


def cohort_from_json_text(text: str, source: str = "<json>") -> Cohort:
    """A cohort from protobuf-JSON text (camelCase or snake_case field names; enums by name or number).

    `source` names the text in problems (a file name). Raises `CohortInvalid`, never anything else:
    NOT_CSV when the text is not JSON (path = `source`), BAD_VALUE for an unknown field or a value of
    the wrong type (path = the field path, e.g. `mentors[2].capacity`), and the mapping problems of
    `cohort_from_proto_checked`. Every problem found is reported at once.
    """
    try:
        data = json.loads(text, object_pairs_hook=_reject_duplicate_keys)
    except _DuplicateKey as error:
        raise CohortInvalid([Problem(ProblemCode.BAD_VALUE, source, str(error), location=source)]) from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        raise CohortInvalid(
            [Problem(ProblemCode.NOT_CSV, source, f"not valid JSON: {error}", location=source)]
        ) from None
    if not isinstance(data, dict):
        raise CohortInvalid(
            [Problem(ProblemCode.BAD_VALUE, source, f"expected a JSON object, got {_json_type(data)}", location=source)]
        )
    msg = pb.Cohort()
    try:
        json_format.ParseDict(data, msg)
    except Exception as error:  # ParseError mostly; whatever it is, the caller gets problems, not a traceback
        try:
            located = _json_problems(data, pb.Cohort.DESCRIPTOR, "")
        except RecursionError:
            located = []
        if not located:
            located = [(source, _parse_error_message(error))]
        raise CohortInvalid(
            [Problem(ProblemCode.BAD_VALUE, path, message, location=_at(source, path)) for path, message in located]
        ) from None
    cohort, problems = cohort_from_proto_checked(msg)
    if problems:
        raise CohortInvalid([dataclasses.replace(p, location=_at(source, p.path)) for p in problems])
    return cohort


def load_cohort_json(path: str | PathLike[str]) -> Cohort:
    """A cohort from a protobuf-JSON file; raises `CohortInvalid` (MISSING_FILE, NOT_CSV, BAD_VALUE), never a traceback."""
    file = Path(path)
    source = str(file)
    # A regular file within the size cap, checked before it is opened and read (a FIFO or a device never is).
    raw = read_input(file, limit=TABLE_LIMIT_BYTES, field_path=source, location=source)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CohortInvalid(
            [Problem(ProblemCode.NOT_CSV, source, f"not UTF-8 text (byte {error.start})", location=source)]
        ) from None
    return cohort_from_json_text(text, source=source)

"""The cohort as protobuf-JSON text (the contract's JSON form): written, and read with every problem located."""

from __future__ import annotations

import dataclasses
import json
import math
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
from solver.validate import validate


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


_INTEGER_RANGES = {FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
                   FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
                   FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
                   FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
                   FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}


def _shown(value: Any) -> str:
    """A JSON value for a message: its type and, for a scalar, the value itself (escaped, at most 40 characters)."""
    kind = _json_type(value)
    if isinstance(value, (dict, list)) or value is None:
        return kind
    text = json.dumps(value)
    return f"{kind} ({text if len(text) <= 40 else text[:37] + '...'})"


def _whole(value: Any) -> int | None:
    """The whole number a JSON value stands for in the JSON mapping (a number or a string of one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value.strip(), 10)
        except ValueError:
            return None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    return value if isinstance(value, int) else None


def _plain_message(fd: FieldDescriptor, value: Any) -> str:
    """What a field expected, in words, when protobuf's JSON parser refused `value` for it."""
    if fd.type in _INTEGER_RANGES:
        low, high = _INTEGER_RANGES[fd.type]
        number = _whole(value)
        if number is not None and not low <= number <= high:
            return f"{number} is out of range: expected a whole number in {low}..{high}"
        return f"expected a whole number, got {_shown(value)}"
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return f'expected a number (or "NaN", "Infinity", "-Infinity"), got {_shown(value)}'
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return f"expected true or false, got {_shown(value)}"
    if fd.type == FieldDescriptor.TYPE_STRING:
        return f"expected a string, got {_shown(value)}"
    if fd.type == FieldDescriptor.TYPE_BYTES:
        return f"expected base64 text, got {_shown(value)}"
    if fd.enum_type is not None:
        names = ", ".join(v.name for v in fd.enum_type.values)
        return f"expected one of {names} (or its number), got {_shown(value)}"
    return f"expected a JSON object, got {_shown(value)}"


def _default(fd: FieldDescriptor) -> Any:
    """A JSON value of the field's type that protobuf reads: what stands in for a wrong value, so that the rest
    of the cohort can still be checked (problems under the wrong value's path are not reported again)."""
    if fd.message_type is not None:
        return {}
    if fd.type == FieldDescriptor.TYPE_STRING or fd.type == FieldDescriptor.TYPE_BYTES:
        return ""
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return False
    return 0


def _json_problems(value: Any, descriptor: Descriptor, path: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Every (field path, message) in a JSON value that does not fit `descriptor`, found field by field, and the
    value with each wrong part replaced by its type's default (unknown and repeated keys dropped)."""
    if not isinstance(value, dict):
        return [(path or "<root>", f"expected a JSON object, got {_shown(value)}")], {}
    by_name: dict[str, FieldDescriptor] = {}
    for fd in descriptor.fields:
        by_name[fd.name] = fd
        by_name[fd.json_name] = fd
    message_class: Callable[[], Message] = GetMessageClass(descriptor)
    found: list[tuple[str, str]] = []
    cleaned: dict[str, Any] = {}
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
            found.append((fpath, f"expected a JSON array, got {_shown(item)}"))
        elif fd.message_type is not None and fd.message_type.full_name.startswith("google.protobuf."):
            error = _scalar_error(message_class, key, item)  # well-known types have JSON forms of their own
            if error:
                found.append((fpath, error))
            else:
                cleaned[fd.name] = item
        elif fd.message_type is not None and repeated:
            elements = []
            for j, element in enumerate(item):
                more, clean = _json_problems(element, fd.message_type, f"{fpath}[{j}]")
                found.extend(more)
                elements.append(clean)
            cleaned[fd.name] = elements
        elif fd.message_type is not None:
            more, cleaned[fd.name] = _json_problems(item, fd.message_type, fpath)
            found.extend(more)
        elif repeated:
            elements = []
            for j, element in enumerate(item):
                if _scalar_error(message_class, key, [element]):
                    found.append((f"{fpath}[{j}]", _plain_message(fd, element)))
                    element = _default(fd)
                elements.append(element)
            cleaned[fd.name] = elements
        elif _scalar_error(message_class, key, item):
            found.append((fpath, _plain_message(fd, item)))
        else:
            cleaned[fd.name] = item
    return found, cleaned


def _scalar_error(message_class: Callable[[], Message], key: str, value: Any) -> str | None:
    try:
        json_format.ParseDict({key: value}, message_class())
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as error:
        return _parse_error_message(error)
    return None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number"}
    return names.get(type(value), "a number" if isinstance(value, float) else "null")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def json_location(source: str, path: str) -> str:
    """Where a problem is, at the JSON's own field path: "cohort.json, mentors[2].capacity", "cohort.json,
    mentees[4].location.lat" (the domain's `mentees[4].lat`), as the service's field paths say it."""
    return source if path in ("", source) else f"{source}, {_proto_path(path)}"


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
    try:
        located, cleaned = _json_problems(data, pb.Cohort.DESCRIPTOR, "")
    except RecursionError:
        raise CohortInvalid([Problem(ProblemCode.BAD_VALUE, source, "nested too deeply", location=source)]) from None
    msg = pb.Cohort()
    try:
        json_format.ParseDict(cleaned, msg)
    except Exception as error:  # not expected once cleaned; whatever it is, the caller gets problems, not a traceback
        located = located or [(source, _parse_error_message(error))]
        raise CohortInvalid(
            [Problem(ProblemCode.BAD_VALUE, path, message, location=json_location(source, path))
             for path, message in located]
        ) from None
    cohort, mapping_problems = cohort_from_proto_checked(msg)
    problems = [Problem(ProblemCode.BAD_VALUE, path, message) for path, message in located] + mapping_problems
    if problems:
        # Every problem at once, as the service's validate_only lists them: the cohort's own checks too, except
        # those under a path already reported (a wrong or missing value stands in as its default).
        reported = {p.path for p in problems}
        problems += [p for p in validate(cohort) if not _under(_proto_path(p.path), reported)]
        raise CohortInvalid([dataclasses.replace(p, location=json_location(source, p.path)) for p in problems])
    return cohort


_LOCATED = re.compile(r"^(mentors|mentees)\[(\d+)\]\.(lat|lon)$")


def _proto_path(path: str) -> str:
    """A domain problem's path as the JSON's field path (`mentors[2].lat` -> `mentors[2].location.lat`)."""
    return _LOCATED.sub(r"\1[\2].location.\3", path)


def _under(path: str, parents: set[str]) -> bool:
    return any(path == parent or path.startswith((parent + ".", parent + "[")) for parent in parents)


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

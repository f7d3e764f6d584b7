"""The protobuf JSON mapping of a message, as `json_format.MessageToJson` gives it, several times faster.

`json_format` converts a message field by field through a chain of generic checks, then `json.dumps(indent=2)`
lays the result out in pure Python (CPython's C encoder knows no indent). On `kvinfo_network`'s explained
answer (5.5 MB of JSON) the two took 0.5-0.6 s and 0.45-0.8 s. Here each message type gets, once, a plan of
per-field converters, and the layout is written by a recursive function that appends to a list, with
CPython's C encoder for every string and every container of scalars (a container's children are written by its
own call, so most containers cost no call of their own; field names are encoded once). The text is the same,
byte for byte: the same keys in the same order (set fields in field-number order, then the fields without
presence left at their defaults), the same values (int64 as strings, enum names, `NaN`/`Infinity` as strings, Duration and the other well-known types by
`json_format` itself) and the same layout (`indent=2`, `": "`, UTF-8 text: `ensure_ascii=False`).
Only the options the service uses are offered: proto field names, every field without presence printed.
`message_json` (the command line's answers) also converts and lays out once a message that a list repeats: an
explained answer's alternatives share most of their pairs and pair explanations (~60 % of kvinfo_network's).
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]  # C where CPython has them
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

# json_format's own printer, for the well-known types, float32 values and defaults: not part of its public API,
# typed as Any (protobuf is pinned; tests/test_protojson.py compares the two on every field kind).
_JSON_FORMAT: Any = json_format
_PRINTER: Any = _JSON_FORMAT._Printer(preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
_WELL_KNOWN = frozenset(_JSON_FORMAT._WKTJSONMETHODS)
_INFINITY, _NEG_INFINITY, _NAN = "Infinity", "-Infinity", "NaN"  # json_format's strings for them

Convert = Callable[[Any], Any]
# Plans by descriptor (upb hands out one descriptor object per field and message type).
_FIELDS: dict[Any, tuple[str, Convert]] = {}
_DEFAULTS: dict[Any, tuple[tuple[str, Any, bool], ...]] = {}
_SPECIAL: dict[Any, bool] = {}


class _Repeats:
    """The messages of lists met more than once during one `message_json`: each converted once (by its type and
    bytes), and laid out once per depth."""

    def __init__(self) -> None:
        self.dicts: dict[tuple[Any, bytes], Any] = {}
        self.shared: set[int] = set()  # ids of the converted messages met again (alive while the answer is written)
        self.texts: dict[tuple[int, str], str] = {}  # (id, line break and indent) -> text

    def convert(self, value: Message) -> Any:
        key = (value.DESCRIPTOR, value.SerializeToString(deterministic=True))
        known = self.dicts.get(key)
        if known is None:
            known = self.dicts[key] = message_dict(value)
        else:
            self.shared.add(id(known))
        return known


_CONVERTING = threading.local()  # .repeats: the `_Repeats` of a `message_json` under way in this thread


def message_json(message: Message) -> str:
    """`json_text(message_dict(message))`, the same text, for answers that repeat themselves: a message met again in
    a list (an alternative matching's pairs and their explanations: most are the best matching's too) is converted
    once and laid out once. Its data shares those repeated parts, so it stays inside."""
    repeats = _Repeats()
    _CONVERTING.repeats = repeats
    try:
        data = message_dict(message)
    finally:
        _CONVERTING.repeats = None
    out: list[str] = []
    _write(data, "\n", out.append, repeats)
    return "".join(out)


def message_dict(message: Message) -> dict[str, Any] | Any:
    """`json_format.MessageToDict(message, preserving_proto_field_name=True,
    always_print_fields_with_no_presence=True)`."""
    descriptor = message.DESCRIPTOR
    special = _SPECIAL.get(descriptor)
    if special is None:
        special = _SPECIAL[descriptor] = (descriptor.file.name == "google/protobuf/wrappers.proto"
                                          or descriptor.full_name in _WELL_KNOWN)
    if special:
        return _PRINTER._MessageToJsonObject(message)
    js: dict[str, Any] = {}
    fields = _FIELDS
    for field, value in message.ListFields():
        plan = fields.get(field)
        if plan is None:
            plan = fields[field] = _field_plan(field)
        js[plan[0]] = plan[1](value)
    defaults = _DEFAULTS.get(descriptor)
    if defaults is None:
        defaults = _DEFAULTS[descriptor] = _default_plan(descriptor)
    for name, default, fresh in defaults:
        if name not in js:
            js[name] = default() if fresh else default
    return js


def _field_plan(field: FieldDescriptor) -> tuple[str, Convert]:
    name = f"[{field.full_name}]" if field.is_extension else field.name
    if field.message_type is not None and field.message_type.GetOptions().map_entry:
        convert_value = _value_converter(field.message_type.fields_by_name["value"])

        def convert_map(value: Any) -> dict[str, Any]:
            return {("true" if key else "false") if isinstance(key, bool) else str(key): convert_value(value[key])
                    for key in value}
        return name, convert_map
    convert = _value_converter(field)
    if field.is_repeated:
        if convert is _same or (convert is str and field.type == FieldDescriptor.TYPE_STRING):
            return name, list  # the values as they are (upb gives strings and 32-bit numbers as Python's own)
        if convert is message_dict:
            return name, _convert_messages
        return name, lambda values: list(map(convert, values))
    return name, convert


def _convert_messages(values: Any) -> list[Any]:
    repeats: _Repeats | None = getattr(_CONVERTING, "repeats", None)
    if repeats is None:
        return list(map(message_dict, values))
    return list(map(repeats.convert, values))


def _value_converter(field: FieldDescriptor) -> Convert:
    """One value of the field, as `json_format._Printer._FieldToJsonObject` converts it."""
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_MESSAGE:
        return message_dict
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        enum_type = field.enum_type
        if enum_type.full_name == "google.protobuf.NullValue":
            return lambda value: None
        names = {number: value.name for number, value in enum_type.values_by_number.items()}
        closed = enum_type.is_closed

        def convert_enum(value: int) -> str | int:
            name = names.get(value)
            if name is not None:
                return name
            if closed:
                raise json_format.SerializeToJsonError(
                    "Enum field contains an integer value which can not mapped to an enum value.")
            return value
        return convert_enum
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        if field.type == FieldDescriptor.TYPE_BYTES:
            return lambda value: base64.b64encode(value).decode("utf-8")
        return str
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        return bool
    if cpp in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return str
    if cpp in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        as_float = cpp == FieldDescriptor.CPPTYPE_FLOAT

        def convert_float(value: float) -> float | str:
            if math.isinf(value):
                return _NEG_INFINITY if value < 0.0 else _INFINITY
            if math.isnan(value):
                return _NAN
            return _PRINTER._FieldToJsonObject(field, value) if as_float else value
        return convert_float
    return _same


def _same(value: Any) -> Any:
    return value


def _default_plan(descriptor: Any) -> tuple[tuple[str, Any, bool], ...]:
    """(name, default or its factory, whether it is a factory) of each field without presence."""
    plan: list[tuple[str, Any, bool]] = []
    for field in descriptor.fields:
        if field.has_presence:
            continue
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            plan.append((field.name, dict, True))
        elif field.is_repeated:
            plan.append((field.name, list, True))
        else:
            plan.append((field.name, _PRINTER._FieldToJsonObject(field, field.default_value), False))
    return tuple(plan)


def json_text(data: Any) -> str:
    """`json.dumps(data, indent=2, ensure_ascii=False)` for JSON data (dicts with string keys, lists, strings,
    numbers, booleans, None), as the protobuf mapping gives it."""
    out: list[str] = []
    _write(data, "\n", out.append)
    return "".join(out)


_CONTAINERS = (dict, list, tuple)
_LEAF_ENCODERS: dict[str, Callable[[Any], str]] = {}


def _leaf_encoder(inner: str) -> Callable[[Any], str]:
    """CPython's C encoder with the item separator of one depth: it lays out a container of scalars as
    `indent=2` does, but for the line break after the opening bracket and before the closing one."""
    encode = _LEAF_ENCODERS.get(inner)
    if encode is None:
        if c_make_encoder is None:  # no C encoder: the pure-Python one, same text
            encode = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=("," + inner, ": ")).encode
        else:
            chunks = c_make_encoder(None, _not_json, encode_basestring, None, ": ", "," + inner, False, False, True)

            def encode(value: Any) -> str:
                return "".join(chunks(value, 0))
        _LEAF_ENCODERS[inner] = encode
    return encode


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _write(value: Any, newline: str, emit: Callable[[str], None], repeats: _Repeats | None = None) -> None:
    """`value` laid out as `json.dumps(indent=2)` does, `newline` being the line break and indent it sits at.
    A string never holds a raw line break (the encoder escapes it), so the brackets can be cut off and put back."""
    if isinstance(value, _CONTAINERS) and value:
        if _is_leaf(value):
            emit(_leaf_text(value, newline))
        else:
            _write_nested(value, newline, emit, repeats)
    elif isinstance(value, _CONTAINERS):
        emit("{}" if isinstance(value, dict) else "[]")
    else:
        emit(_leaf_encoder(newline)(value))


def _is_leaf(value: Any) -> bool:
    """Whether a container holds scalars (and empty containers) only."""
    for child in value.values() if isinstance(value, dict) else value:
        if isinstance(child, _CONTAINERS) and child:
            return False
    return True


def _leaf_text(value: Any, newline: str) -> str:
    """A non-empty container of scalars: one call of the C encoder, the brackets put on their own lines."""
    inner = newline + "  "
    text = _leaf_encoder(inner)(value)
    return text[0] + inner + text[1:-1] + newline + text[-1]


def _write_nested(value: Any, newline: str, emit: Callable[[str], None], repeats: _Repeats | None = None) -> None:
    """A container holding at least one non-empty container. Its children that hold scalars only are written
    here, without a call each (most of an explanation's containers are such)."""
    inner = newline + "  "
    deeper = inner + "  "
    leaf = _leaf_encoder(deeper)
    if not isinstance(value, dict) and _records(value):
        # One call of the C encoder for the whole list, its items' separator put right: between two of its dicts
        # the text is "}," + the dicts' line break + "{" (a separator inside a dict is followed by a key's quote,
        # and no string holds a raw line break).
        text = leaf(value)
        emit("[" + inner + "{" + deeper + text[2:-2].replace("}," + deeper + "{", inner + "}," + inner + "{" + deeper)
             + inner + "}" + newline + "]")
        return
    keys = _KEYS
    if isinstance(value, dict):
        sep = "{" + inner
        for key, item in value.items():
            name = keys.get(key)
            if name is None:
                name = encode_basestring(key) + ": "
                if len(keys) < _KEYS_KEPT:
                    keys[key] = name
            if type(item) is str:  # the commonest value: the C encoder's own string escaping
                emit(sep + name + encode_basestring(item))
            elif isinstance(item, _CONTAINERS) and item:
                if _is_leaf(item):
                    text = leaf(item)
                    emit(sep + name + text[0] + deeper + text[1:-1] + inner + text[-1])
                else:
                    emit(sep + name)
                    _write_nested(item, inner, emit, repeats)
            else:
                emit(sep + name + _scalar(item))
            sep = "," + inner
        emit(newline + "}")
    else:
        sep = "[" + inner
        for item in value:
            if isinstance(item, _CONTAINERS) and item:
                if _is_leaf(item):
                    text = leaf(item)
                    emit(sep + text[0] + deeper + text[1:-1] + inner + text[-1])
                else:
                    emit(sep)
                    if repeats is not None and id(item) in repeats.shared:
                        emit(_repeated_text(item, inner, repeats))
                    else:
                        _write_nested(item, inner, emit, repeats)
            else:
                emit(sep + _scalar(item))
            sep = "," + inner
        emit(newline + "]")


def _repeated_text(item: Any, newline: str, repeats: _Repeats) -> str:
    """A repeated message's text at one depth, laid out the first time it is met there."""
    key = (id(item), newline)
    text = repeats.texts.get(key)
    if text is None:
        parts: list[str] = []
        _write_nested(item, newline, parts.append, repeats)
        text = repeats.texts[key] = "".join(parts)
    return text


def _records(value: Any) -> bool:
    """Whether a list holds non-empty dicts of scalars (and empty containers) only."""
    return all(type(item) is dict and item and _is_leaf(item) for item in value)


_KEYS: dict[str, str] = {}  # a key as written before its value: the field names, encoded once ...
_KEYS_KEPT = 4096  # ... and at most this many (a map's keys are the data's)


def _scalar(value: Any) -> str:
    """One string, number, boolean or None as `json.dumps` writes it."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value == math.inf:
            return "Infinity"
        if value == -math.inf:
            return "-Infinity"
        return float.__repr__(value)
    if isinstance(value, (dict, list, tuple)):  # empty: the only containers written as scalars
        return "{}" if isinstance(value, dict) else "[]"
    return _not_json(value)

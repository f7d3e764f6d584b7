"""One generic walk between dataclasses and the messages that mirror them field for field, both ways."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from solver import explain
from solver.candidates import HardRule
from solver.explain.types import TermPoints
from solver.scores import Term
from solver.solve import SolveStatus
from solver.stability import StabilityAudit

_M = TypeVar("_M", bound=Message)

# The explanation messages mirror solver.explain's dataclasses field for field (same names, same order),
# so one generic walk carries them both ways: dataclass -> message here, message -> the plain dicts
# that `to_dict()` gives (floats to 3 decimals, enums to their codes, absent to None) for the CLI.

STABILITY_PAIRS_LISTED = 100
"""Blocking pairs listed per matching (the rest are counted in `pairs_left_out`)."""

_DOMAIN_ENUMS: dict[str, type[Enum]] = {
    "mentormatch.v1.HardRule": HardRule,
    "mentormatch.v1.ScoreTerm": Term,
    "mentormatch.v1.SolveStatus": SolveStatus,
    "mentormatch.v1.UnmatchedReason": explain.UnmatchedReason,
    "mentormatch.v1.Relaxation": explain.Relaxation,
    "mentormatch.v1.Side": explain.Side,
}


@functools.cache
def _enum_prefix(enum_type: EnumDescriptor) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum_type.name).upper() + "_"


@functools.cache
def _enum_numbers(enum_type: EnumDescriptor) -> dict[str, int]:
    """Unprefixed value name -> number ("CANDIDATES_ALL_TAKEN" -> 7 for `UNMATCHED_REASON_CANDIDATES_ALL_TAKEN`)."""
    prefix = _enum_prefix(enum_type)
    return {v.name.removeprefix(prefix): v.number for v in enum_type.values if v.name.startswith(prefix)}


def _enum_number(enum_type: EnumDescriptor, value: object) -> int:
    name = value.name if isinstance(value, Enum) else str(value)
    return _enum_numbers(enum_type).get(name, 0)


_SCALAR: dict[int, Callable[[Any], Any]] = {
    FieldDescriptor.CPPTYPE_BOOL: bool, FieldDescriptor.CPPTYPE_STRING: str,
    FieldDescriptor.CPPTYPE_DOUBLE: float, FieldDescriptor.CPPTYPE_FLOAT: float,
    FieldDescriptor.CPPTYPE_INT32: int, FieldDescriptor.CPPTYPE_INT64: int,
    FieldDescriptor.CPPTYPE_UINT32: int, FieldDescriptor.CPPTYPE_UINT64: int,
}


def _fill(message: Message, value: Any, made: dict[int, tuple[Any, Message]]) -> None:
    if message.DESCRIPTOR.full_name == "mentormatch.v1.PairRef" and isinstance(value, tuple):
        message.mentee_id, message.mentor_id = value  # type: ignore[attr-defined]
        return
    if isinstance(value, StabilityAudit):
        listed = value.pairs[:STABILITY_PAIRS_LISTED]
        _to_message(dataclasses.replace(value, pairs=listed), message, made)
        message.pairs_left_out = value.count - len(listed)  # type: ignore[attr-defined]
        return
    _to_message(value, message, made)


_MESSAGE, _ENUM, _SCALAR_KIND = 0, 1, 2


@functools.cache
def _plan(message_type: Descriptor, value_type: Any) -> tuple[tuple[str, bool, int, Any], ...]:
    """How to copy a dataclass into a message, worked out once per pair of types: for each field both have,
    (name, repeated, kind, converter): a message (its descriptor), an enum (its descriptor) or a scalar (its Python
    type)."""
    fields_by_name = message_type.fields_by_name
    plan: list[tuple[str, bool, int, Any]] = []
    for f in dataclasses.fields(value_type):
        fd = fields_by_name.get(f.name)
        if fd is None:
            continue
        if fd.message_type is not None:
            plan.append((f.name, fd.is_repeated, _MESSAGE, fd.message_type))
        elif fd.enum_type is not None:
            plan.append((f.name, fd.is_repeated, _ENUM, fd.enum_type))
        else:
            plan.append((f.name, fd.is_repeated, _SCALAR_KIND, _SCALAR[fd.cpp_type]))
    return tuple(plan)


def to_message(value: Any, message: _M) -> _M:
    """Fill `message` from a dataclass whose fields it mirrors by name (fields it lacks are left out)."""
    return _to_message(value, message, {})


def _to_message(value: Any, message: _M, made: dict[int, tuple[Any, Message]]) -> _M:
    """`to_message`; `made` holds the message made for each frozen dataclass of a repeated field, by identity: one
    shared by several places (alternative matchings share most of their pairs' explanations) is made once, then
    copied (in C)."""
    value_type: Any = type(value)  # a class: hashable, as the plan cache needs
    for name, repeated, kind, convert in _plan(message.DESCRIPTOR, value_type):
        item = getattr(value, name)
        if item is None:
            continue
        if repeated:
            target = getattr(message, name)
            if kind == _MESSAGE and convert.full_name == "mentormatch.v1.PairRef":
                for element in item:
                    if isinstance(element, tuple):
                        target.add(mentee_id=element[0], mentor_id=element[1])
                    else:
                        _fill(target.add(), element, made)
            elif kind == _MESSAGE:
                for element in item:
                    known = made.get(id(element))
                    if known is not None:
                        target.add().CopyFrom(known[1])
                        continue
                    element_type: Any = type(element)  # a class: hashable
                    if element_type is explain.PairExplanation and convert.full_name == "mentormatch.v1.PairExplanation":
                        added = _pair_explanation(target, element)
                    elif (leaf := _leaf_plan(convert, element_type)) is not None:
                        added = target.add(**_leaf_values(leaf, element))  # scalars only: made by its constructor
                    else:
                        added = target.add()
                        _fill(added, element, made)
                    if _frozen(element_type):
                        made[id(element)] = (element, added)  # the element kept: its id stays its own
            elif kind == _ENUM:
                target.extend(_enum_number(convert, element) for element in item)
            else:
                target.extend(convert(element) for element in item)
        elif kind == _MESSAGE:
            _fill(getattr(message, name), item, made)
        elif kind == _ENUM:
            setattr(message, name, _enum_number(convert, item))
        else:
            setattr(message, name, convert(item))
    return message


def _pair_explanation(target: Any, value: explain.PairExplanation) -> Message:
    """A `PairExplanation` message added to `target`, as the generic walk makes it, at a third of its CPU: the
    most numerous messages of an explanation (a pair and its ~10 terms for each pair of each matching; 80 x 80, 3
    matchings: ~7 -> ~2.7 ms for the explanation). A term's numbers and facts go to the constructor as they are
    (`solver.explain.facts` makes them ints and a tuple of strings; the generic walk would convert each)."""
    added = target.add(mentee_id=str(value.mentee_id), mentor_id=str(value.mentor_id), score=int(value.score),
                       allowed=bool(value.allowed), sentence=str(value.sentence))
    terms = added.terms
    numbers = _term_numbers(added.DESCRIPTOR)
    for t in value.terms:
        if type(t) is not TermPoints:
            _fill(terms.add(), t, {})
            continue
        terms.add(term=numbers.get(t.term, 0), points=t.points, raw_points=t.raw_points, weight=t.weight,
                  facts=t.facts)
    return added


@functools.cache
def _term_numbers(pair_type: Descriptor) -> dict[Any, int]:
    """Each score term's number in the enum of a pair message's terms (`_enum_number` of every term, once)."""
    enum_type = pair_type.fields_by_name["terms"].message_type.fields_by_name["term"].enum_type
    return {term: _enum_number(enum_type, term) for term in Term}


@functools.cache
def _leaf_plan(message_type: Descriptor, value_type: Any) -> tuple[tuple[str, bool, int, Any], ...] | None:
    """`_plan` of a dataclass none of whose fields the message holds as a message; None for any other value."""
    if message_type.full_name == "mentormatch.v1.PairRef" or not dataclasses.is_dataclass(value_type):
        return None
    plan = _plan(message_type, _as_class(value_type))
    return None if any(kind == _MESSAGE for _, _, kind, _ in plan) else plan


def _as_class(value_type: Any) -> Any:
    """The class as it came (a dataclass check narrows its static type to one the plan cache cannot hash)."""
    return value_type


def _leaf_values(plan: tuple[tuple[str, bool, int, Any], ...], value: Any) -> dict[str, Any]:
    """The keyword arguments of a message's constructor, as `_to_message` would set them one by one."""
    out: dict[str, Any] = {}
    for name, repeated, kind, convert in plan:
        item = getattr(value, name)
        if item is None:
            continue
        if kind == _ENUM:
            out[name] = [_enum_number(convert, e) for e in item] if repeated else _enum_number(convert, item)
        else:
            out[name] = [convert(e) for e in item] if repeated else convert(item)
    return out


@functools.cache
def _frozen(value_type: Any) -> bool:
    params = getattr(value_type, "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


def _plain_scalar(fd: FieldDescriptor, value: Any) -> Any:
    if fd.enum_type is not None:
        if value == 0:
            return None
        name = fd.enum_type.values_by_number[value].name.removeprefix(_enum_prefix(fd.enum_type))
        domain = _DOMAIN_ENUMS.get(fd.enum_type.full_name)
        return domain[name].value if domain is not None and name in domain.__members__ else name
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    return value


def plain(message: Message) -> Any:
    """The `to_dict()` view of an explanation message (what solver.explain's dataclasses give)."""
    name = message.DESCRIPTOR.full_name
    if name == "mentormatch.v1.PairRef":
        return [message.mentee_id, message.mentor_id]  # type: ignore[attr-defined]
    out: dict[str, Any] = {}
    for fd in message.DESCRIPTOR.fields:
        value = getattr(message, fd.name)
        if fd.is_repeated:
            out[fd.name] = [plain(v) if fd.message_type is not None else _plain_scalar(fd, v) for v in value]
        elif fd.message_type is not None:
            out[fd.name] = plain(value) if message.HasField(fd.name) else None
        elif fd.has_presence and not message.HasField(fd.name):
            out[fd.name] = None
        else:
            out[fd.name] = _plain_scalar(fd, value)
    if name == "mentormatch.v1.StabilityAudit":
        out = {"count": out["count"], "stable": out["count"] == 0, "ranked_pairs": out["ranked_pairs"],
               "pairs": out["pairs"], "pairs_left_out": out["pairs_left_out"]}
    elif name == "mentormatch.v1.BlockingPair":
        out = {"mentee": out.pop("mentee_id"), "mentor": out.pop("mentor_id"), **out}
    return out

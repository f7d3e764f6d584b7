"""`server.convert.protojson` writes the protobuf JSON mapping faster than `json_format`: the text must be the
same, byte for byte, as `json_format.MessageToJson(preserving_proto_field_name=True,
always_print_fields_with_no_presence=True, indent=2, ensure_ascii=False)` — the documented mapping, by the library
that defines it — on every kind of field, and on a real answer."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import (  # noqa: F401 - in the pool
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    json_format,
    message_factory,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import Message

from mentormatch.v1 import matching_pb2 as mpb
from server.convert.results import response_dict, response_json

F = descriptor_pb2.FieldDescriptorProto


def _kinds_class() -> type[Message]:
    """A proto3 message with a field of every kind: each scalar type single and repeated, `optional`, a oneof, an
    enum, messages, the well-known types (Duration, Timestamp, Struct, Value, a wrapper, Any) and maps."""
    pool = descriptor_pool.Default()
    try:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName("protojson_test.Kinds"))
    except KeyError:
        pass
    file = descriptor_pb2.FileDescriptorProto(
        name="protojson_test/kinds.proto", package="protojson_test", syntax="proto3",
        dependency=["google/protobuf/duration.proto", "google/protobuf/timestamp.proto",
                    "google/protobuf/struct.proto", "google/protobuf/wrappers.proto", "google/protobuf/any.proto"])
    colour = file.enum_type.add(name="Colour")
    for number, name in enumerate(("COLOUR_UNSPECIFIED", "COLOUR_RED", "COLOUR_BLUE")):
        colour.value.add(name=name, number=number)
    sub = file.message_type.add(name="Sub")
    sub.field.add(name="name", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    sub.field.add(name="values", number=2, type=F.TYPE_INT32, label=F.LABEL_REPEATED)
    sub.field.add(name="child", number=3, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=".protojson_test.Sub")
    kinds = file.message_type.add(name="Kinds")
    scalars = [("d", F.TYPE_DOUBLE), ("f", F.TYPE_FLOAT), ("i32", F.TYPE_INT32), ("i64", F.TYPE_INT64),
               ("u32", F.TYPE_UINT32), ("u64", F.TYPE_UINT64), ("s64", F.TYPE_SINT64), ("fx64", F.TYPE_FIXED64),
               ("b", F.TYPE_BOOL), ("s", F.TYPE_STRING), ("by", F.TYPE_BYTES)]
    number = 0
    for name, kind in scalars:
        number += 1
        kinds.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
        number += 1
        kinds.field.add(name=f"r_{name}", number=number, type=kind, label=F.LABEL_REPEATED)
    number += 1
    # proto3 `optional`: presence, through a synthetic oneof
    kinds.oneof_decl.add(name="choice")
    kinds.oneof_decl.add(name="_opt_d")  # synthetic oneofs come last
    kinds.field.add(name="opt_d", number=number, type=F.TYPE_DOUBLE, label=F.LABEL_OPTIONAL, oneof_index=1,
                    proto3_optional=True)
    kinds.field.add(name="choice_s", number=number + 1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL, oneof_index=0)
    kinds.field.add(name="choice_sub", number=number + 2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                    oneof_index=0, type_name=".protojson_test.Sub")
    number += 3
    for name, type_name, label in [
        ("colour", ".protojson_test.Colour", F.LABEL_OPTIONAL), ("colours", ".protojson_test.Colour", F.LABEL_REPEATED),
    ]:
        kinds.field.add(name=name, number=number, type=F.TYPE_ENUM, label=label, type_name=type_name)
        number += 1
    for name, type_name, label in [
        ("sub", ".protojson_test.Sub", F.LABEL_OPTIONAL), ("subs", ".protojson_test.Sub", F.LABEL_REPEATED),
        ("took", ".google.protobuf.Duration", F.LABEL_OPTIONAL),
        ("at", ".google.protobuf.Timestamp", F.LABEL_OPTIONAL),
        ("extra", ".google.protobuf.Struct", F.LABEL_OPTIONAL),
        ("value", ".google.protobuf.Value", F.LABEL_OPTIONAL),
        ("wrapped", ".google.protobuf.Int64Value", F.LABEL_OPTIONAL),
        ("anything", ".google.protobuf.Any", F.LABEL_OPTIONAL),
    ]:
        kinds.field.add(name=name, number=number, type=F.TYPE_MESSAGE, label=label, type_name=type_name)
        number += 1
    for map_name, key_kind, value_kind, value_type in [
        ("by_name", F.TYPE_STRING, F.TYPE_INT64, ""), ("by_flag", F.TYPE_BOOL, F.TYPE_DOUBLE, ""),
        ("by_number", F.TYPE_INT32, F.TYPE_MESSAGE, ".protojson_test.Sub"),
        ("colour_by_id", F.TYPE_UINT64, F.TYPE_ENUM, ".protojson_test.Colour"),
    ]:
        entry_name = "".join(part.title() for part in map_name.split("_")) + "Entry"
        entry = kinds.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, type=key_kind, label=F.LABEL_OPTIONAL)
        value = entry.field.add(name="value", number=2, type=value_kind, label=F.LABEL_OPTIONAL)
        if value_type:
            value.type_name = value_type
        kinds.field.add(name=map_name, number=number, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                        type_name=f".protojson_test.Kinds.{entry_name}")
        number += 1
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("protojson_test.Kinds"))


def reference_json(message: Message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True, indent=2, ensure_ascii=False)


def reference_dict(message: Message) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


def assert_same(message: Message) -> None:
    assert response_json(message) == reference_json(message)
    assert response_dict(message) == reference_dict(message)


def full_kinds() -> Message:
    kinds: Any = _kinds_class()()
    kinds.d, kinds.f, kinds.i32, kinds.i64 = -0.1, 0.1, -7, -(2**62)
    kinds.u32, kinds.u64, kinds.s64, kinds.fx64 = 2**32 - 1, 2**64 - 1, -3, 5
    kinds.b, kinds.s, kinds.by = True, 'Ærø "quoted" \\ tab\t nl\n nul\x00 \x7f \u2028 emoji \U0001f600', b"\x00\xff"
    kinds.r_d.extend([math.inf, -math.inf, math.nan, 1e300, 5e-324, 1e16, 2.0**53 + 2, -0.0, 3.0])
    kinds.r_f.extend([math.inf, 1.1, 3.4e38, -0.0])
    kinds.r_i64.extend([0, 2**63 - 1, -(2**63)])
    kinds.r_u64.extend([0, 2**64 - 1])
    kinds.r_s.extend(["", "a", "ü"])
    kinds.r_by.extend([b"", b"abc"])
    kinds.r_b.extend([False, True])
    kinds.opt_d = 0.0  # set to its default: present all the same
    kinds.choice_sub.name = "in a oneof"
    kinds.colour = 2
    kinds.colours.extend([0, 1, 7])  # 7: an open enum keeps an unknown number
    kinds.sub.child.child.values.extend([1, 2])
    kinds.subs.add()
    kinds.subs.add(name="x", values=[3])
    kinds.took.FromNanoseconds(21_000_001)
    kinds.at.FromSeconds(1_700_000_000)
    kinds.extra.update({"a": 1, "b": [True, None, "s"], "c": {"d": 2.5}})
    kinds.value.string_value = "v"
    kinds.wrapped.value = 2**40
    kinds.anything.Pack(duration_pb2.Duration(seconds=3))
    kinds.by_name["z"] = 1
    kinds.by_name["a"] = -(2**60)
    kinds.by_flag[True] = 0.5
    kinds.by_flag[False] = math.nan
    kinds.by_number[-1].name = "minus one"
    kinds.by_number[4].CopyFrom(kinds.sub)
    kinds.colour_by_id[2**64 - 1] = 1
    return kinds


def test_every_field_kind_set_is_written_as_json_format_writes_it() -> None:
    assert_same(full_kinds())


def test_every_field_kind_left_at_its_default_is_written_as_json_format_writes_it() -> None:
    assert_same(_kinds_class()())
    kinds: Any = _kinds_class()()
    kinds.sub.SetInParent()  # an empty message that is present: `{}`
    kinds.choice_s = ""
    assert_same(kinds)


def test_a_proto2_message_is_written_as_json_format_writes_it() -> None:
    options = descriptor_pb2.FieldDescriptorProto()  # proto2: closed enums, every field with presence
    assert_same(options)
    options.label = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
    options.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    options.options.ctype = descriptor_pb2.FieldOptions.CORD
    assert_same(options)


def test_a_solve_answer_is_written_as_json_format_writes_it() -> None:
    answer = mpb.MatchResponse(label="København", objective_value=2.0**60 + 1, objective_bound=math.inf,
                               notes=["a note", ""])
    answer.statistics.wall_time.FromNanoseconds(1_500_000_000)
    matching = answer.matchings.add(rank=1)
    matching.objective.value = 12345.0
    pair = matching.pairs.add(mentee_id="e1", mentor_id="m1", score=70, distance_km=3.25, reasons=["shared field"])
    pair.breakdown.add(points=12)
    pair.travel_minutes = 0.0
    matching.pairs.add(mentee_id="e2")
    assert_same(answer)
    assert json.loads(response_json(answer))["objective_bound"] == "Infinity"


def test_an_answer_that_repeats_itself_is_written_as_json_format_writes_it() -> None:
    # Alternatives share most pairs: a message met again in a list is converted and laid out once, and must read
    # the same wherever it is, at every depth; messages with the same bytes but of other types stay apart.
    answer = mpb.MatchResponse()
    for rank in (1, 2, 3):
        matching = answer.matchings.add(rank=rank)
        for k in range(3):
            pair = matching.pairs.add(mentee_id=f"e{k}", mentor_id="m1", score=70, reasons=["shared field"])
            pair.breakdown.add(points=12)
            pair.breakdown.add(points=12)
        matching.pairs.add(mentee_id=f"e{rank}")  # differs per matching
        matching.pairs.add()  # empty: the same bytes as an empty message of any type
        matching.mentors_with_free_capacity.add()
    assert_same(answer)
    kinds: Any = full_kinds()
    sub = kinds.subs[1]
    kinds.subs.add().CopyFrom(sub)
    kinds.subs.add().child.CopyFrom(sub)  # the same message one level deeper
    kinds.subs[-1].child.child.CopyFrom(sub)
    kinds.sub.child.CopyFrom(sub)
    assert_same(kinds)


@pytest.mark.parametrize("data", [
    {}, [], [[]], [{}], {"a": []}, {"a": {}}, {"a": [1, [2, [3, {}]], {"b": None}]}, "s", 1, 1.5, None, True,
    [1.0, -0.0, 1e100, 1e-7, float("nan"), float("inf"), -float("inf"), 10**30, False],
    {"k\n\"": "v\u2028\x1f", "": ""},
])
def test_the_layout_is_json_dumps_indent_2(data: object) -> None:
    from server.convert.protojson import json_text

    assert json_text(data) == json.dumps(data, indent=2, ensure_ascii=False)

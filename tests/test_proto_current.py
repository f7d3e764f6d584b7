"""The committed generated protobuf code is current, and the contract carries no personal contact data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

from server.protogen import (
    PROTO_ROOT,
    VENDOR_ROOT,
    describe,
    generate,
    generated_files,
    googleapis_proto_dir,
    proto_files,
    vendored_files,
)

# Words that mark a personal-data field (a person's name, e-mail, phone, postal address).
PERSONAL = ("name", "mail", "phone", "mobile", "address", "street", "birth")
# Fields whose names match but are not about a person, each with its reason.
ALLOWED = {
    "mentormatch.v1.Cohort.name": "the cohort's label, not a person's name",
}

# Paths in SourceCodeInfo: FileDescriptorProto.message_type = 4, .enum_type = 5, .service = 6;
# DescriptorProto.field = 2, .nested_type = 3, .enum_type = 4; EnumDescriptorProto.value = 2;
# ServiceDescriptorProto.method = 2.
_MESSAGE, _ENUM, _SERVICE, _FIELD, _NESTED, _NESTED_ENUM, _VALUE, _METHOD = 4, 5, 6, 2, 3, 4, 2, 2


@pytest.fixture(scope="module")
def descriptors() -> descriptor_pb2.FileDescriptorSet:
    return describe()


def test_generated_code_is_current(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = generated_files(tmp_path)
    committed = generated_files(PROTO_ROOT)
    stale = sorted(str(p) for p in fresh.keys() | committed.keys() if fresh.get(p) != committed.get(p))
    assert not stale, (
        "generated protobuf code under proto/ is out of date with the .proto files "
        f"(differs: {', '.join(stale)}); run `make proto` and commit the result"
    )


def test_every_proto_file_is_generated() -> None:
    committed = {p.as_posix() for p in generated_files(PROTO_ROOT)}
    for proto in proto_files():  # the vendored googleapis files are the package's, not generated here
        stem = proto.with_suffix("").as_posix()
        assert {f"{stem}_pb2.py", f"{stem}_pb2.pyi"} <= committed, f"proto/{proto}: run `make proto`"


def _fields(
    message: descriptor_pb2.DescriptorProto, scope: str
) -> Iterator[tuple[str, descriptor_pb2.FieldDescriptorProto]]:
    for field in message.field:
        yield f"{scope}.{message.name}.{field.name}", field
    for nested in message.nested_type:
        yield from _fields(nested, f"{scope}.{message.name}")


def test_contract_has_no_personal_data_fields(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    offending = []
    for file in descriptors.file:
        for message in file.message_type:
            for full_name, field in _fields(message, file.package):
                lowered = field.name.lower()
                if any(word in lowered for word in PERSONAL) and full_name not in ALLOWED:
                    offending.append(full_name)
    assert not offending, (
        f"fields that look like personal data (names, e-mail, phone, address): {offending}; "
        "the contract carries identifiers only"
    )


def test_allowed_exceptions_still_exist(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    names = {name for f in descriptors.file for m in f.message_type for name, _ in _fields(m, f.package)}
    assert set(ALLOWED) <= names


def test_contract_follows_buf_standard_naming(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    """The parts of `buf lint` STANDARD that are cheap to check here (buf itself is not a test dependency)."""
    snake = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
    pascal = re.compile(r"^[A-Z][A-Za-z0-9]*$")
    problems = []
    for file in descriptors.file:
        directory = file.name.rsplit("/", 1)[0]
        if directory.replace("/", ".") != file.package or not re.search(r"\.v\d+$", file.package):
            problems.append(f"{file.name}: package {file.package} must match its directory and end in .vN")
        if file.syntax != "proto3":
            problems.append(f"{file.name}: syntax must be proto3")
        for message in file.message_type:
            if not pascal.match(message.name):
                problems.append(f"{message.name}: message names are PascalCase")
            for full_name, field in _fields(message, file.package):
                if not snake.match(field.name):
                    problems.append(f"{full_name}: field names are lower_snake_case")
        for enum in file.enum_type:
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
            for value in enum.value:
                if not value.name.startswith(prefix):
                    problems.append(f"{value.name}: enum values are prefixed {prefix}")
            if enum.value[0].name != f"{prefix}UNSPECIFIED" or enum.value[0].number != 0:
                problems.append(f"{enum.name}: the zero value is {prefix}UNSPECIFIED")
    assert not problems, problems


def _commented_paths(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[tuple[int, ...], str]]:
    """(source path, what) for every element that needs a comment."""

    def messages(msgs: list[descriptor_pb2.DescriptorProto], path: tuple[int, ...], tag: int, scope: str) -> Iterator[
        tuple[tuple[int, ...], str]
    ]:
        for i, m in enumerate(msgs):
            here = (*path, tag, i)
            yield here, f"message {scope}{m.name}"
            for j, f in enumerate(m.field):
                yield (*here, _FIELD, j), f"field {scope}{m.name}.{f.name}"
            yield from enums(list(m.enum_type), here, _NESTED_ENUM, f"{scope}{m.name}.")
            yield from messages(list(m.nested_type), here, _NESTED, f"{scope}{m.name}.")

    def enums(items: list[descriptor_pb2.EnumDescriptorProto], path: tuple[int, ...], tag: int, scope: str) -> Iterator[
        tuple[tuple[int, ...], str]
    ]:
        for i, e in enumerate(items):
            here = (*path, tag, i)
            yield here, f"enum {scope}{e.name}"
            for j, v in enumerate(e.value):
                yield (*here, _VALUE, j), f"enum value {v.name}"

    yield from messages(list(file.message_type), (), _MESSAGE, "")
    yield from enums(list(file.enum_type), (), _ENUM, "")
    for i, s in enumerate(file.service):
        yield (_SERVICE, i), f"service {s.name}"
        for j, m in enumerate(s.method):
            yield (_SERVICE, i, _METHOD, j), f"rpc {s.name}.{m.name}"


def test_every_element_is_commented(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    """Clients in other languages are built from the .proto alone: every message, field, enum value has a comment."""
    missing = []
    for file in descriptors.file:
        comments = {
            tuple(loc.path): (loc.leading_comments + loc.trailing_comments).strip()
            for loc in file.source_code_info.location
        }
        missing += [f"{file.name}: {what}" for path, what in _commented_paths(file) if not comments.get(path)]
    assert not missing, missing


# --- the contract for other languages --------------------------------------------------------------------------

# What every file of the package declares for the code generators of other languages (buf's FILE_SAME_* rules
# want one value per package; these are buf managed mode's defaults, go_package apart: see buf.gen.yaml).
FILE_OPTIONS = {
    "go_package": "mentormatch/gen/go/mentormatch/v1;mentormatchv1",
    "java_package": "com.mentormatch.v1",
    "java_multiple_files": True,
    "csharp_namespace": "Mentormatch.V1",
    "php_namespace": "Mentormatch\\V1",
    "ruby_package": "Mentormatch::V1",
    "objc_class_prefix": "MXX",
}
# Messages no RPC carries that are still inputs or outputs: the cluster tasks of batch.proto and what they return.
TASK_INPUTS = {".mentormatch.v1.ScenarioTask", ".mentormatch.v1.SettingTask"}
TASK_OUTPUTS = {".mentormatch.v1.BatchTaskResult"}
# int64 fields arrive as JSON strings: the Rematch answer's point values are the documented exception.
INT64_ALLOWED = {".mentormatch.v1.RematchRequest.penalty"} | {
    f".mentormatch.v1.RematchResponse.{name}" for name in
    ("penalty", "points_per_matched_mentee", "total_score", "objective_value", "rematch_value", "fresh_optimum_value")}
_INT64 = {descriptor_pb2.FieldDescriptorProto.TYPE_INT64, descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
          descriptor_pb2.FieldDescriptorProto.TYPE_SINT64, descriptor_pb2.FieldDescriptorProto.TYPE_FIXED64,
          descriptor_pb2.FieldDescriptorProto.TYPE_SFIXED64}


def _messages(descriptors: descriptor_pb2.FileDescriptorSet) -> dict[str, descriptor_pb2.DescriptorProto]:
    out: dict[str, descriptor_pb2.DescriptorProto] = {}

    def walk(message: descriptor_pb2.DescriptorProto, scope: str) -> None:
        out[f"{scope}.{message.name}"] = message
        for nested in message.nested_type:
            walk(nested, f"{scope}.{message.name}")

    for file in descriptors.file:
        for message in file.message_type:
            walk(message, f".{file.package}")
    return out


def _reachable(messages: dict[str, descriptor_pb2.DescriptorProto], roots: set[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen or name not in messages:
            continue
        seen.add(name)
        todo += [f.type_name for f in messages[name].field if f.type_name]
    return seen


def test_every_file_names_its_package_for_other_languages(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    """`protoc --go_out` needs go_package; Java, C#, PHP, Ruby and Objective-C generators their own names."""
    wrong = []
    for file in descriptors.file:
        given = {option.name: value for option, value in file.options.ListFields()}
        for option, wanted in FILE_OPTIONS.items():
            if given.get(option) != wanted:
                wrong.append(f"{file.name}: option {option} = {wanted!r}")
        stem = file.name.rsplit("/", 1)[-1].removesuffix(".proto")
        outer = "".join(part.capitalize() for part in stem.split("_")) + "Proto"
        if file.options.java_outer_classname != outer:
            wrong.append(f"{file.name}: option java_outer_classname = {outer!r}")
    assert not wrong, wrong


def test_every_field_says_whether_it_is_required_optional_or_output_only(
        descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    """google.api.field_behavior on every field: REQUIRED or OPTIONAL on what a client sends, OUTPUT_ONLY on
    what only the service sends (fields of messages that only responses carry)."""
    behaviour = field_behavior_pb2.FieldBehavior
    messages = _messages(descriptors)
    methods = [m for f in descriptors.file for s in f.service for m in s.method]
    inputs = _reachable(messages, {m.input_type for m in methods} | TASK_INPUTS)
    outputs = _reachable(messages, {m.output_type for m in methods} | TASK_OUTPUTS)
    wrong = []
    for name, message in messages.items():
        for field in message.field:
            marks = list(field.options.Extensions[field_behavior_pb2.field_behavior])
            where = f"{name}.{field.name}"
            if len(marks) != 1 or marks[0] not in (behaviour.REQUIRED, behaviour.OPTIONAL, behaviour.OUTPUT_ONLY):
                wrong.append(f"{where}: one of [(google.api.field_behavior) = REQUIRED | OPTIONAL | OUTPUT_ONLY]")
            elif name in inputs and marks[0] == behaviour.OUTPUT_ONLY:
                wrong.append(f"{where}: clients send it, so REQUIRED or OPTIONAL, not OUTPUT_ONLY")
            elif name not in inputs and name in outputs and marks[0] != behaviour.OUTPUT_ONLY:
                wrong.append(f"{where}: only the service sends it: OUTPUT_ONLY")
    assert not wrong, wrong
    required = {f"{n}.{f.name}" for n, m in messages.items() for f in m.field
                if behaviour.REQUIRED in f.options.Extensions[field_behavior_pb2.field_behavior]}
    # Every call's cohort, and the documented required parts of a cohort.
    assert {".mentormatch.v1.MatchRequest.cohort", ".mentormatch.v1.ExplainPairRequest.mentee_id",
            ".mentormatch.v1.Mentor.id", ".mentormatch.v1.Mentee.location",
            ".mentormatch.v1.LanguageSkill.level"} <= required


def test_numbers_arrive_in_json_as_numbers(descriptors: descriptor_pb2.FileDescriptorSet) -> None:
    """The JSON mapping writes 64-bit integers as strings: counts and scores are int32, sums doubles."""
    messages = _messages(descriptors)
    wide = sorted(f"{n}.{f.name}" for n, m in messages.items() for f in m.field if f.type in _INT64)
    assert set(wide) <= INT64_ALLOWED, [w for w in wide if w not in INT64_ALLOWED]


def test_vendored_protos_equal_the_pinned_googleapis_copies() -> None:
    """proto/vendor/ holds googleapis' own files, for buf and other languages; Python imports the package's."""
    vendored = vendored_files()
    assert [p.as_posix() for p in vendored] == [
        "google/api/field_behavior.proto", "google/rpc/error_details.proto", "google/rpc/status.proto"]
    for rel in vendored:
        assert (VENDOR_ROOT / rel).read_bytes() == (googleapis_proto_dir() / rel).read_bytes(), (
            f"proto/vendor/{rel} differs from googleapis-common-protos' copy: copy it again")
    assert "Apache License" in (VENDOR_ROOT / "LICENSE").read_text()  # their licence travels with them

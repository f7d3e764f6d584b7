"""The committed generated protobuf code is current, and the contract carries no personal contact data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from server.protogen import PROTO_ROOT, describe, generate, generated_files

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
    for proto in PROTO_ROOT.rglob("*.proto"):
        stem = proto.relative_to(PROTO_ROOT).with_suffix("").as_posix()
        assert {f"{stem}_pb2.py", f"{stem}_pb2.pyi"} <= committed, f"{proto}: run `make proto`"


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

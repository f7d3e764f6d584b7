"""Protobuf's wire format by hand, where the library's messages would cost more than the bytes: a request's
top-level flag read without parsing its cohort (`sets_top_level_flag`, the busy service's fast lane), and an answer's
length-delimited entries written from bytes made once (`length_delimited`, `server.convert.results`)."""

from __future__ import annotations

from google.protobuf.message import Message

MAX_TOP_LEVEL_FIELDS = 64
"""Top-level fields `sets_top_level_flag` reads: a Match or StreamMatch request has four at most (cohort, options,
validate_only, label); one with more is taken as not asking for validation only, so that a hostile one with millions
of one-byte fields is refused as busy unread, not parsed for seconds while the service is busy."""


def sets_top_level_flag(data: bytes, field_number: int) -> bool | None:
    """Whether the serialized message `data` sets its top-level bool field `field_number` (the last value on the
    wire wins, as in a parse), read from the wire format without parsing the fields' contents: a cohort is skipped
    by its length. False beyond `MAX_TOP_LEVEL_FIELDS` fields; None for bytes it cannot walk (malformed, a field
    group), which are then parsed: undecodable ones are answered so at once, busy or not."""
    position, end, value = 0, len(data), False
    for _ in range(MAX_TOP_LEVEL_FIELDS):
        if position == end:
            return value
        tag, position = read_varint(data, position)
        if tag is None:
            return None
        wire_type, number = tag & 7, tag >> 3
        if wire_type == 0:
            scalar, position = read_varint(data, position)
            if scalar is None:
                return None
            if number == field_number:
                value = scalar != 0
        elif wire_type == 2:
            length, position = read_varint(data, position)
            if length is None or position + length > end:
                return None
            position += length
        elif wire_type in (1, 5):
            position += 8 if wire_type == 1 else 4
            if position > end:
                return None
        else:
            return None
    return value if position == end else False


def read_varint(data: bytes, position: int) -> tuple[int | None, int]:
    """The base-128 varint at `position` and the position after it; (None, position) when malformed."""
    result, shift = 0, 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
    return None, position


# --- writing -----------------------------------------------------------------------------------------------------


def varint(n: int) -> bytes:
    """A non-negative int in protobuf's varint encoding."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field_tag(message: type[Message], name: str) -> bytes:
    """The tag of a length-delimited field (a message, a string) of `message`."""
    return varint(message.DESCRIPTOR.fields_by_name[name].number << 3 | 2)


def length_delimited(tag: bytes, body: bytes) -> bytes:
    """One length-delimited field: its tag, the body's length, the body (a pair's length takes one or two bytes)."""
    n = len(body)
    if n < 0x4000:
        return tag + (bytes((n,)) if n < 0x80 else bytes(((n & 0x7F) | 0x80, n >> 7))) + body
    return tag + varint(n) + body

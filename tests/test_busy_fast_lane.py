"""Busy refusals before the request is read: the wire peek at `validate_only`, and what a caller and an operator
see while every slot is taken (docs/service.md, "Overload")."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import grpc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentormatch.v1 import matching_pb2 as mpb
from server.app import RunningServer
from server.client import SERVICE_PATH, MentormatchClient, RetryPolicy, remote_error
from server.convert import cohort_to_proto
from server.wire import MAX_TOP_LEVEL_FIELDS, sets_top_level_flag
from tests.conftest import slow_cohort, slow_options, small_cohort, wait_until

VALIDATE_ONLY = mpb.MatchRequest.DESCRIPTOR.fields_by_name["validate_only"].number


def _unknown_field(number: int, wire_type: int, payload: bytes) -> bytes:
    """One top-level field the message does not declare, encoded by hand (the parser keeps it as unknown)."""
    def varint(value: int) -> bytes:
        out = bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)
    head = varint(number << 3 | wire_type)
    if wire_type == 2:
        return head + varint(len(payload)) + payload
    if wire_type == 0:
        return head + varint(int.from_bytes(payload[:8] or b"\0", "little"))
    return head + (payload + bytes(8))[: 8 if wire_type == 1 else 4]


pieces = st.one_of(
    st.builds(lambda v: mpb.MatchRequest(validate_only=v).SerializeToString(), st.booleans()),
    st.builds(lambda label: mpb.MatchRequest(label=label).SerializeToString(), st.text(max_size=30)),
    st.builds(lambda n: mpb.MatchRequest(cohort=cohort_to_proto(small_cohort(n))).SerializeToString(),
              st.integers(1, 4)),
    st.builds(lambda limit: mpb.MatchRequest(options=mpb.MatchOptions(alternatives=limit)).SerializeToString(),
              st.integers(0, 50)),
    st.builds(_unknown_field, st.integers(5, 5000), st.sampled_from([0, 1, 2, 5]), st.binary(max_size=40)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=12))
def test_the_peek_reads_validate_only_as_protobuf_does(parts: list[bytes]) -> None:
    # Concatenated messages merge, and the last value of a scalar wins: protobuf's own parse is the oracle.
    data = b"".join(parts)
    peeked = sets_top_level_flag(data, VALIDATE_ONLY)
    assert peeked is not None  # a dozen well-formed fields: always told
    assert peeked == mpb.MatchRequest.FromString(data).validate_only


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_the_peek_never_invents_a_flag_in_bytes_protobuf_reads_otherwise(data: bytes) -> None:
    peeked = sets_top_level_flag(data, VALIDATE_ONLY)
    if peeked is not None:
        try:
            parsed = mpb.MatchRequest.FromString(data)
        except Exception:  # bytes that do not parse: the call is refused (busy, or undecodable) either way
            return
        assert peeked == parsed.validate_only


def test_a_request_of_a_million_tiny_fields_is_not_walked_to_its_end() -> None:
    # No client sends more than four top-level fields to Match: beyond 64 the request counts as not validate_only
    # (refused as busy, unread, while every slot is taken), wherever its flag is.
    flag = mpb.MatchRequest(validate_only=True).SerializeToString()
    tiny = _unknown_field(99, 0, b"\x01")
    assert sets_top_level_flag(tiny * 1_000_000 + flag, VALIDATE_ONLY) is False
    assert sets_top_level_flag(tiny * (MAX_TOP_LEVEL_FIELDS - 1) + flag, VALIDATE_ONLY) is True
    assert sets_top_level_flag(tiny * MAX_TOP_LEVEL_FIELDS + flag, VALIDATE_ONLY) is False


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        if record.getMessage() == "call" and isinstance(fields, dict):
            self.records.append(fields)


@pytest.fixture
def busy_server() -> Iterator[tuple[RunningServer, MentormatchClient, _Lines]]:
    from server.app import ServerConfig, create_server

    lines = _Lines()
    logger = logging.getLogger("mentormatch.test.busy")
    logger.handlers[:] = [lines]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    running = create_server(ServerConfig(port=0, metrics_port=0, grace_s=1.0, max_concurrent=1), logger)
    client = MentormatchClient(running.address, retry=RetryPolicy(max_attempts=1))
    slow = client.match_future(slow_cohort(), slow_options(), timeout=60)
    assert wait_until(lambda: running.service.slots.active() == 1, timeout=15)
    try:
        yield running, client, lines
    finally:
        slow.cancel()
        client.close()
        running.stop(1.0)


def test_while_busy_any_body_is_refused_as_busy_validation_is_answered_and_refusals_are_logged_sampled(
        busy_server: tuple[RunningServer, MentormatchClient, _Lines]) -> None:
    running, client, lines = busy_server
    refusals = 0
    with grpc.insecure_channel(running.address) as channel:
        raw = channel.unary_unary(SERVICE_PATH + "Match", request_serializer=None, response_deserializer=None)
        # A request that does not ask for validation only is refused as busy without being read, whatever its
        # cohort; bytes whose top level is no protobuf at all are answered undecodable (retrying cannot help).
        for body in (b"", mpb.MatchRequest(label="x").SerializeToString(),
                     mpb.MatchRequest(cohort=cohort_to_proto(small_cohort(3)), validate_only=False).SerializeToString()):
            with pytest.raises(grpc.RpcError) as caught:
                raw(body, timeout=10)
            error = remote_error(caught.value)
            assert (error.code, error.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SOLVER_BUSY")
            assert error.retry_delay_s == pytest.approx(0.5)
            refusals += 1
        with pytest.raises(grpc.RpcError) as caught:
            raw(b"\xff\xff\xff", timeout=10)
        assert remote_error(caught.value).reason == "REQUEST_UNDECODABLE"
        started = time.monotonic()
        futures = [raw.future(mpb.MatchRequest(cohort=cohort_to_proto(small_cohort(3))).SerializeToString(),
                              timeout=10) for _ in range(100)]
        codes = {f.code() for f in futures}
        seconds = time.monotonic() - started
        assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        refusals += 100
        # validate_only needs no slot: answered with every problem, in Match and in StreamMatch, while busy.
        broken = cohort_to_proto(small_cohort(3))
        broken.mentors[0].location.lat = 123.0
        assert client.match(broken, validate_only=True).problems
        stream = channel.unary_stream(SERVICE_PATH + "StreamMatch",
                                      request_serializer=mpb.StreamMatchRequest.SerializeToString,
                                      response_deserializer=mpb.StreamMatchResponse.FromString)
        answers = list(stream(mpb.StreamMatchRequest(cohort=broken, validate_only=True), timeout=10))
        assert len(answers) == 1 and answers[0].result.problems
        # Every refusal is in the log, in at most one line a second: the next logged one says how many were not.
        time.sleep(1.05)
        with pytest.raises(grpc.RpcError):
            raw(b"", timeout=10)
        refusals += 1
    busy = [f for f in lines.records if f.get("outcome") == "SOLVER_BUSY"]
    assert sum(1 + int(str(f.get("refusals_not_logged", 0))) for f in busy) == refusals
    assert len(busy) <= 3 + seconds
    assert wait_until(lambda: running.metrics.registry.get_sample_value(
        "mentormatch_requests_rejected_total", {"reason": "busy"}) == refusals)


def test_refusals_of_requests_too_odd_to_peek_at_keep_no_memory(
        busy_server: tuple[RunningServer, MentormatchClient, _Lines]) -> None:
    # A field group at the top level cannot be walked by the peek, so such a request is parsed before it is refused.
    # Found from outside: a refusal kept its request (~134 MB for a 60 MB body); the server grew by gigabytes.
    import psutil

    running, _client, _lines = busy_server
    group = bytes([9 << 3 | 3, 9 << 3 | 4])  # the start and end of an empty group, field 9
    body = group + _unknown_field(98, 0, b"\x01") * 100_000 + mpb.MatchRequest(label="odd").SerializeToString()
    process = psutil.Process()
    with grpc.insecure_channel(running.address) as channel:
        raw = channel.unary_unary(SERVICE_PATH + "Match", request_serializer=None, response_deserializer=None)
        for _ in range(20):  # warm: allocator pools and gRPC buffers reach their size
            with pytest.raises(grpc.RpcError):
                raw(body, timeout=10)
        before = process.memory_info().rss
        for _ in range(200):  # 40 MB of requests: kept, they would be ~100 MB and more
            with pytest.raises(grpc.RpcError) as caught:
                raw(body, timeout=10)
            assert remote_error(caught.value).reason == "SOLVER_BUSY"
        grown = process.memory_info().rss - before
    assert grown < 30 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB over 200 refusals"

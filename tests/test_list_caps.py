"""A small message can hold a million list entries (rankings, travel times): the service counts them before it
reads the cohort and refuses above documented caps, at once, with every list over its cap named."""

from __future__ import annotations

import time

import grpc
import pytest

from server.checks import MAX_LIST_ENTRIES
from server.client import MentormatchClient, RemoteError
from solver.cohort_proto import cohort_to_proto
from solver.ingest import load_cohort
from solver.solve import SolveOptions
from tests.conftest import SCENARIOS


def test_a_million_rankings_are_refused_before_they_are_read(client: MentormatchClient) -> None:
    cohort = cohort_to_proto(load_cohort(SCENARIOS / "lyngby_career"))
    ranking = cohort.rankings[0]
    cohort.rankings.extend([ranking] * MAX_LIST_ENTRIES["rankings"])  # one more than the cap, all duplicates
    cohort.rules.bans.extend([cohort.rules.bans[0]] * MAX_LIST_ENTRIES["rules.bans"])
    started = time.monotonic()
    with pytest.raises(RemoteError) as caught:
        client.match(cohort, SolveOptions(alternatives=1), validate_only=True)
    assert time.monotonic() - started < 2.0  # counted, not read: the caller's own serialisation is most of it
    assert caught.value.code is grpc.StatusCode.INVALID_ARGUMENT and caught.value.reason == "COHORT_TOO_LARGE"
    paths = [path for path, _ in caught.value.violations]
    assert paths == ["cohort.rankings", "cohort.rules.bans"]
    assert "at most 100,000" in caught.value.violations[0][1]

"""A short, bounded load test (the long one is `make load`, `benchmarks/load.py`, with the same code).

Many concurrent clients, mixed cohort sizes and call kinds, a fixed number of calls against `mentormatch serve`
in its own process: every call answered or refused with RESOURCE_EXHAUSTED, none lost, the server's own
counters agree, no solve left running, and the server's memory flat after the warm-up.
"""

from __future__ import annotations

import pytest

from benchmarks.load import LoadConfig, run_against_subprocess
from tests.hardening_support import SUMMARY, register_summary

SHORT = LoadConfig(clients=12, calls=160, warmup_calls=30, sizes=((6, 5), (30, 25), (80, 70)), max_concurrent=2,
                   call_timeout_s=30.0, backoff_s=0.1)
MAX_RSS_GROWTH_MIB = 48  # after the warm-up; a leak of one cohort or response per call would pass this by far


@pytest.fixture(autouse=True, scope="module")
def _summary(pytestconfig: pytest.Config) -> None:
    register_summary(pytestconfig)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_bounded_load_answers_or_refuses_every_call_in_flat_memory() -> None:
    result = run_against_subprocess(SHORT)
    for line in result.lines():
        print(line)
    summary = result.summary()
    SUMMARY.figure("load (short)", f"{result.calls} calls, {SHORT.clients} clients: answered {result.answered} "
                   f"(p50 {summary['answered_p50_ms']} ms, p99 {summary['answered_p99_ms']} ms), refused "
                   f"{result.refused} (p99 {summary['refused_p99_ms']} ms), lost {sum(result.lost.values())}, "
                   f"server RSS growth {result.rss_growth_kib / 1024:+.1f} MiB")
    assert not result.lost, f"calls neither answered nor refused: {dict(result.lost)}"
    assert result.calls == SHORT.calls == result.answered + result.refused
    assert result.answered >= SHORT.calls // 10, "overload refused nearly everything"
    assert result.server_handled == result.calls, "the server's grpc_server_handled_total disagrees"
    assert result.server_in_flight == 0, "a solve is still running after every call returned"
    assert summary["refused_p99_ms"] < 1000, "refusals are not fast"
    assert result.rss_growth_kib < MAX_RSS_GROWTH_MIB * 1024, "the server's memory grew under load"

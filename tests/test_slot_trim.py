"""Freed memory is given back after long work every time, after short work at most once per `TRIM_EVERY_S`."""

from __future__ import annotations

import time

import pytest

import server.slots as slots_module
from server.metrics import ServiceMetrics
from server.slots import SolveSlots

LONG_S = 0.3  # the test's "long work" (the service's is 50 ms): well above what a short call takes on a busy machine


def _run(slots: SolveSlots, seconds: float) -> None:
    slot = slots.try_take()
    assert slot is not None
    slots.run(slot, lambda: time.sleep(seconds)).result(timeout=10)


def test_long_work_always_trims_and_a_stream_of_short_work_trims_once_per_interval(
        monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[float] = []
    monkeypatch.setattr(slots_module, "_trim_freed_memory", lambda: trims.append(time.monotonic()))
    monkeypatch.setattr(slots_module, "TRIM_AFTER_S", LONG_S)
    monkeypatch.setattr(slots_module, "TRIM_EVERY_S", 60.0)
    slots = SolveSlots(1, ServiceMetrics())
    _run(slots, 0)  # the first work trims: none has been done yet
    assert len(trims) == 1
    for _ in range(20):
        _run(slots, 0)
    assert len(trims) == 1  # twenty short calls within the interval: no more trims
    _run(slots, LONG_S * 1.2)
    assert len(trims) == 2  # long work trims however recent the last trim
    monkeypatch.setattr(slots_module, "TRIM_EVERY_S", 0.05)
    time.sleep(0.1)
    _run(slots, 0)
    assert len(trims) == 3  # short work once the interval has passed trims again

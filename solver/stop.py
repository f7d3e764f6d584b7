"""One cooperative stop for a request: a cancellation event and a deadline, checked between chunks of work.

A request's work (conversion, validation, candidate pairs, scores, flows, pricing, CP-SAT, explanations)
runs on the caller's thread; the service cannot interrupt it, so every phase asks, between chunks of work,
whether it should go on. `StopToken` is what they ask:

    stop = StopToken(event, deadline=time.monotonic() + 2.0)   # or StopToken.within(2.0)
    for chunk in chunks:
        stop.check()          # raises Stopped once the event is set or the deadline has passed
        ...

API (stable; other modules build on it):

- `StopToken(event=None, deadline=None)`: wraps `event` (a `threading.Event`, e.g. the one
  `SolveOptions.stop` carries; a new one when None) and a `time.monotonic()` deadline (None: none).
  `StopToken.within(seconds, event=None)` sets the deadline `seconds` from now (None: none).
  `StopToken.of(stop)` takes a `StopToken` as it is, wraps an `Event`, and makes a token that never stops
  by itself from None: so a function may accept any of the three.
- `.event`, `.deadline`: the wrapped event and the deadline, read-only.
- `.set()`: cancel (sets the event; every token sharing it stops). `.cancelled`, `.expired`: which of the two.
- `.is_set()`: cancelled or expired. With `.set()` and `.wait(timeout)` this is the part of the
  `threading.Event` interface the solver uses, so a token can stand where an event is expected.
- `.check()`: raise `Stopped` (its `.reason` a `StopReason`: CANCELLED or DEADLINE) when `.is_set()`;
  otherwise return. It reads one flag and the monotonic clock (under 1 µs): call it in loops.
- `.remaining()`: seconds left before the deadline (`math.inf` without one, 0.0 once stopped).
- `.wait(timeout=None)`: block until cancelled, the deadline or `timeout`, whichever is first; returns
  `.is_set()`.
- `.sooner(seconds)`: a token on the same event whose deadline is the earlier of this one's and `seconds`
  from now: a phase's share of the time (an explanation's budget) that the call's cancellation still stops.
- `.each(items)`: iterate `items`, checking before each one.
- `check(stop)`: `.check()` for a token, an event (set: CANCELLED) or None (never stops).

`Stopped` is raised to unwind: code that can answer with what it has (a solve's best matching so far, an
explanation cut short) catches it where it can and says so; everything else lets it propagate to the
caller (the service turns it into the call's cancellation, the command line into its interrupted exit).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Iterator
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")


class StopReason(StrEnum):
    CANCELLED = "CANCELLED"  # the event was set: the client went away, the server is draining, Ctrl-C
    DEADLINE = "DEADLINE"  # the deadline passed


class Stopped(Exception):
    """The work was asked to stop (cancelled, or its deadline passed) and gave up what it was doing."""

    def __init__(self, reason: StopReason) -> None:
        super().__init__(f"stopped: {reason.value.lower()}")
        self.reason = reason


class StopToken:
    """A cancellation event and an optional monotonic deadline; see the module docstring for the API."""

    __slots__ = ("_deadline", "_event")

    def __init__(self, event: threading.Event | None = None, deadline: float | None = None) -> None:
        self._event = event if event is not None else threading.Event()
        self._deadline = deadline

    @classmethod
    def within(cls, seconds: float | None, event: threading.Event | None = None) -> StopToken:
        """A token whose deadline is `seconds` from now (None: no deadline)."""
        return cls(event, None if seconds is None else time.monotonic() + seconds)

    @classmethod
    def of(cls, stop: StopToken | threading.Event | None) -> StopToken:
        """`stop` as a token: a token as it is, an event wrapped, None as a token that never stops by itself."""
        if isinstance(stop, StopToken):
            return stop
        return cls(stop)

    @property
    def event(self) -> threading.Event:
        return self._event

    @property
    def deadline(self) -> float | None:
        return self._deadline

    def set(self) -> None:
        """Cancel: every token sharing this event stops."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def expired(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def is_set(self) -> bool:
        return self._event.is_set() or (self._deadline is not None and time.monotonic() >= self._deadline)

    def reason(self) -> StopReason | None:
        if self._event.is_set():
            return StopReason.CANCELLED
        if self.expired:
            return StopReason.DEADLINE
        return None

    def check(self) -> None:
        """Raise `Stopped` when cancelled or past the deadline."""
        if self._event.is_set():
            raise Stopped(StopReason.CANCELLED)
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise Stopped(StopReason.DEADLINE)

    def remaining(self) -> float:
        if self._event.is_set():
            return 0.0
        if self._deadline is None:
            return math.inf
        return max(0.0, self._deadline - time.monotonic())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled, the deadline passes or `timeout` seconds have gone; returns `is_set()`."""
        left = self.remaining()
        if timeout is not None:
            left = min(left, max(0.0, timeout))
        self._event.wait(None if math.isinf(left) else left)
        return self.is_set()

    def sooner(self, seconds: float) -> StopToken:
        """A token on the same event, with the earlier of this deadline and `seconds` from now."""
        deadline = time.monotonic() + max(0.0, seconds)
        if self._deadline is not None:
            deadline = min(deadline, self._deadline)
        return StopToken(self._event, deadline)

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, checking the stop before each one."""
        for item in items:
            self.check()
            yield item

    def __repr__(self) -> str:
        left = self.remaining()
        return f"StopToken(cancelled={self.cancelled}, remaining={'none' if math.isinf(left) else f'{left:.3f}s'})"


def check(stop: StopToken | threading.Event | None) -> None:
    """`stop.check()` for a token; for an event, raise `Stopped(CANCELLED)` when it is set; None never stops."""
    if stop is None:
        return
    if isinstance(stop, StopToken):
        stop.check()
    elif stop.is_set():
        raise Stopped(StopReason.CANCELLED)

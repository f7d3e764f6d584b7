"""Concurrency slots: a bounded pool of solves, each held until its work has really ended, on the slots' own
threads at a lower CPU priority, with freed memory given back to the system when a slot's long work ends (short
work: at most once a second)."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent import futures
from typing import Any, TypeVar

from server.metrics import ServiceMetrics
from solver.stop import StopToken

T = TypeVar("T")

class Slot:
    """One concurrency slot: taken before a call's work starts, given back once that work has really ended.

    `stop` is the work's one stop: the call's deadline, and an event set when the call is cancelled or the
    server drains. `cancel` only sets it; the work notices at its next check and its end releases the slot, so
    `--max-concurrent` bounds the work running (CPU, memory), not just the calls open.
    """

    def __init__(self, owner: SolveSlots, stop: StopToken) -> None:
        self._owner = owner
        self._lock = threading.Lock()
        self._held = True
        self.stop = stop

    def release(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self._owner._give_back(self)

    def cancel(self) -> None:
        """Ask the work to stop (the client went away); the slot is given back when the work has ended. Nobody will
        read its answer: it is abandoned (`StopToken.abandon`), so no answer is checked or assembled after the end."""
        self.stop.abandon()


MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024
"""glibc maps blocks from this size up on their own, so freeing them gives them back (`return_freed_memory`)."""
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def _glibc() -> Any:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _glibc()


def return_freed_memory() -> bool:
    """A fixed glibc mmap threshold of `MMAP_THRESHOLD_BYTES`: the arrays of a solve (megabytes each) are mapped on
    their own and go back to the system when freed. glibc otherwise raises the threshold (up to 32 MiB) after the
    first such block is freed, and from then on they come from the heap and stay resident. From 4 MiB on it costs
    no measurable speed (1 MiB cost 30 % on 3,000 x 3,000). Returns whether it took (glibc only)."""
    try:
        return _LIBC is not None and bool(_LIBC.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except AttributeError:
        return False


def _trim_freed_memory() -> None:
    """Give the free pages of every glibc arena back to the system (0.2 ms on a quiet heap, ~40 ms after a dense
    solve). Measured: six abandoned 1,500 x 1,500 StreamMatch calls left 1,040 MiB resident without it, 155 with."""
    with contextlib.suppress(AttributeError):
        if _LIBC is not None:
            _LIBC.malloc_trim(0)


TRIM_AFTER_S = 0.05
"""Work that ran this long (wall time) gives the heap's free pages back as it ends (`_trim_freed_memory`)."""
TRIM_EVERY_S = 1.0
"""Shorter work gives them back only when the last trim is this long ago: a trim costs 0.06-0.13 ms on a small
call's heap (a tenth of a 15 x 15 call's CPU), and what a call of under 50 ms leaves free is little and is reused
by the next; a stream of such calls still trims once a second."""


SOLVE_NICENESS = 10
"""Niceness of the solve threads (and of CP-SAT's, which inherit it): when solves keep every core busy, the
gRPC threads still answer health checks and refuse overload in milliseconds, ahead of the solves."""


def _lower_priority() -> None:
    """Run this thread at `SOLVE_NICENESS` (Linux: niceness is per thread; lowering priority needs no privilege)."""
    # Not Linux, or not allowed: solves run at the server's priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SOLVE_NICENESS)


class SolveSlots:
    """A fixed number of concurrent solves, each run on a thread of the slots' own pool; `try_take` never waits.

    `validation=True`: the same for validation-only calls (their own pool, counted in the validation gauges), so
    that a validation, which solves nothing, never waits for a solve nor a solve for it, and yet as few run at once."""

    def __init__(self, capacity: int, metrics: ServiceMetrics, *, validation: bool = False) -> None:
        if capacity < 1:
            raise ValueError("max_concurrent must be 1 or more")
        self.capacity = capacity
        self._semaphore = threading.BoundedSemaphore(capacity)
        self._active: set[Slot] = set()
        self._lock = threading.Lock()
        self._in_flight = metrics.validations_in_flight if validation else metrics.solves_in_flight
        # One thread per slot: a slot's work runs here and releases the slot as its last step.
        self._pool = futures.ThreadPoolExecutor(
            max_workers=capacity, thread_name_prefix="mentormatch-validate" if validation else "mentormatch-solve",
            initializer=_lower_priority)
        (metrics.validation_slots if validation else metrics.solve_slots).set(capacity)
        self._trimmed = -math.inf  # when freed memory was last given back (time.monotonic())

    def try_take(self, deadline: float | None = None) -> Slot | None:
        """A slot whose work must end by `deadline` (time.monotonic(); None: no deadline), or None when all are busy."""
        if not self._semaphore.acquire(blocking=False):
            return None
        slot = Slot(self, StopToken(deadline=deadline))
        with self._lock:
            self._active.add(slot)
        self._in_flight.inc()
        return slot

    def run(self, slot: Slot, work: Callable[[], T]) -> futures.Future[T]:
        """Run `work` on the slots' pool; the slot is released when it returns or raises, not before."""

        def job() -> T:
            started = time.monotonic()
            try:
                return work()
            except BaseException as error:
                # The traceback's frames hold the work's locals (candidates, a model: a gigabyte on a dense cohort),
                # and a stopped StreamMatch's traceback is part of a reference cycle through its progress queue:
                # cleared here, the memory goes with the work, not whenever the garbage collector next runs.
                traceback.clear_frames(error.__traceback__)
                raise
            finally:
                self._trim_after(started)  # before the slot is free: the next solve starts from a heap given back
                slot.release()

        try:
            return self._pool.submit(job)
        except BaseException:
            slot.release()
            raise

    def _trim_after(self, started: float) -> None:
        """Give freed memory back after work that began at `started`: always after long work (`TRIM_AFTER_S`),
        after short work only when no trim ran for `TRIM_EVERY_S`."""
        now = time.monotonic()
        if now - started >= TRIM_AFTER_S or now - self._trimmed >= TRIM_EVERY_S:
            self._trimmed = now
            _trim_freed_memory()

    def _give_back(self, slot: Slot) -> None:
        with self._lock:
            self._active.discard(slot)
        self._in_flight.dec()
        self._semaphore.release()

    def full(self) -> bool:
        """Whether every slot is taken, read without a lock: a hint for refusing before a request is even read (the
        call that finds a slot still takes it with `try_take`, which is exact)."""
        return len(self._active) >= self.capacity

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def stop_all(self) -> int:
        """Ask every running solve to stop now and answer with what it has (used when draining)."""
        with self._lock:
            active = list(self._active)
        for slot in active:
            slot.stop.set()
        return len(active)

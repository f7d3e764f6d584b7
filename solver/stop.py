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
- `.abandon()`: cancel, and say that nobody will use what the work has so far (the client has gone): work that
  would still check or assemble an answer after a stop (a solve's final answer check) gives up instead (raises
  `Stopped`). `.abandoned` reads it. A drain or Ctrl-C only sets: they want the best so far.
- `.until(deadline)`: a token on the same event (and abandonment) with the earlier of the two deadlines.
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
- `stopping_with(stop)`: a context in which every solve that has no stop of its own (`SolveOptions.stop` None)
  stops with `stop`, however deep it is called (a what-if's solve inside a batch task, an explanation's re-solve);
  `ambient()` reads it. It holds for the thread (and context) that entered it: the command line runs a command's
  work on a thread inside one, and its Ctrl-C sets it.

`Stopped` is raised to unwind: code that can answer with what it has (a solve's best matching so far, an
explanation cut short) catches it where it can and says so; everything else lets it propagate to the
caller (the service turns it into the call's cancellation, the command line into its interrupted exit).

Work that cannot check a stop (one long C++ call: a big min-cost flow, CP-SAT loading a big model) runs in a child
process the stop kills: `run_in_child(work, stop)` forks, runs `work(send, stopping)` in the child and returns
the bytes it returns. The child shares the parent's memory copy-on-write (nothing is copied to start it: ~3 ms
whatever the process's size), runs without the parent's interpreter lock (a server's other threads go on), and
once the stop is set (or `deadline` passes) it is told to wind down (`stopping` is set in the child), given
`wind_down_s` to answer (none once abandoned), then killed and reaped: its CPU and memory end there (its exit
takes 0.05-0.15 s of the kernel's time after a big model), and `Stopped` is raised. `send`
passes messages (progress) to the parent's `on_message` while the child works. The child blocks SIGINT and
SIGTERM (its parent decides), dies with the thread that forked it, and runs no garbage collection (no finaliser
of the parent's objects). `run_in_child` returns None where no process can be forked, or once a child has died
without a word in this process (then do the work in-process, as before).

Importing this module sets `GRPC_ENABLE_FORK_SUPPORT=0` unless it is set: gRPC's own fork handlers (on by default in
grpcio) reset its event engine in every forked child, and that aborted children of a busy server (a failed check in
ev_epoll1_linux.cc). A child of ours never calls gRPC; gRPC reads the variable when its first channel or server is
made, which in this project comes after the solver is imported.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import gc
import logging
import math
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")


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

    __slots__ = ("_abandoned", "_deadline", "_event")

    def __init__(self, event: threading.Event | None = None, deadline: float | None = None,
                 abandoned: threading.Event | None = None) -> None:
        self._event = event if event is not None else threading.Event()
        self._deadline = deadline
        self._abandoned = abandoned if abandoned is not None else threading.Event()

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

    def abandon(self) -> None:
        """Cancel, nobody waiting for an answer: work gives up rather than finish one (see the module docstring)."""
        self._abandoned.set()
        self._event.set()

    @property
    def abandoned(self) -> bool:
        return self._abandoned.is_set()

    def until(self, deadline: float | None) -> StopToken:
        """A token on the same event and abandonment, with the earlier of this deadline and `deadline`."""
        if deadline is None or (self._deadline is not None and self._deadline <= deadline):
            deadline = self._deadline
        return StopToken(self._event, deadline, self._abandoned)

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
        return self.until(time.monotonic() + max(0.0, seconds))

    def each(self, items: Iterable[T]) -> Iterator[T]:
        """`items`, checking the stop before each one."""
        for item in items:
            self.check()
            yield item

    def __repr__(self) -> str:
        left = self.remaining()
        return f"StopToken(cancelled={self.cancelled}, remaining={'none' if math.isinf(left) else f'{left:.3f}s'})"


_AMBIENT: contextvars.ContextVar[StopToken | None] = contextvars.ContextVar("mentormatch_stop", default=None)


@contextmanager
def stopping_with(stop: StopToken | threading.Event) -> Iterator[StopToken]:
    """Within this context every solve without a stop of its own stops with `stop` (see `ambient`)."""
    token = StopToken.of(stop)
    reset = _AMBIENT.set(token)
    try:
        yield token
    finally:
        _AMBIENT.reset(reset)


def ambient() -> StopToken | None:
    """The stop of the innermost `stopping_with` around this call, if any."""
    return _AMBIENT.get()


def check(stop: StopToken | threading.Event | None) -> None:
    """`stop.check()` for a token; for an event, raise `Stopped(CANCELLED)` when it is set; None never stops."""
    if stop is None:
        return
    if isinstance(stop, StopToken):
        stop.check()
    elif stop.is_set():
        raise Stopped(StopReason.CANCELLED)


# Work in a child process the stop kills --------------------------------------------------------------------------

_FRAME = struct.Struct("<cQ")  # kind (b"m" message, b"r" result, b"e" error), payload length
_POLL_MS = 10  # how often the parent looks at the stop while a child works
_PR_SET_PDEATHSIG = 1
_forking = {"works": hasattr(os, "fork")}  # False once a child died without a word: work in-process from then on
ChildWork = Callable[[Callable[[bytes], None], threading.Event], bytes]


def cores() -> int:
    """The cores this process may run on (its affinity where the system tells it), for work shared with a forked
    child beside it (`run_in_child`)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def forking_works() -> bool:
    """Whether `run_in_child` can fork (False without fork, or once a child died without a word)."""
    return _forking["works"]


def _die_with_parent() -> None:
    """Linux: this process is killed when the thread that forked it ends (its process killed, say)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _child(work: ChildWork, out_fd: int, control_fd: int) -> None:
    """The child's side of `run_in_child`: never returns."""
    code = 1
    try:
        gc.disable()
        _die_with_parent()
        stopping = threading.Event()

        def listen() -> None:  # a byte from the parent, or its end of the pipe closing: wind down
            with contextlib.suppress(OSError):
                os.read(control_fd, 1)
            stopping.set()

        threading.Thread(target=listen, daemon=True).start()

        def send(kind: bytes, payload: bytes) -> None:
            _write_all(out_fd, _FRAME.pack(kind, len(payload)) + payload)

        try:
            result = work(lambda payload: send(b"m", payload), stopping)
        except BaseException as error:  # whatever it was, the parent hears of it
            send(b"e", type(error).__name__.encode())
        else:
            send(b"r", result)
        code = 0
    finally:
        os._exit(code)


def run_in_child(work: ChildWork, stop: StopToken | threading.Event | None, *,
                 on_message: Callable[[bytes], None] | None = None, deadline: float | None = None,
                 wind_down_s: float = 0.0) -> bytes | None:
    """`work(send, stopping)` in a forked child; its result, or None when no process can be forked (or a child died).

    Raises `Stopped` once `stop` is set or `deadline` (time.monotonic()) has passed and the child has not answered
    within `wind_down_s` of being told (it is killed then); `RuntimeError` when the child failed.
    """
    if not _forking["works"]:
        return None
    token = StopToken.of(stop)
    token.check()
    out_r, out_w = os.pipe()
    control_r, control_w = os.pipe()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # kept in the child
    try:
        pid = os.fork()
    except OSError:
        pid = -1
    if pid == 0:
        os.close(out_r)
        os.close(control_w)
        _child(work, out_w, control_r)
    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    os.close(out_w)
    os.close(control_r)
    if pid < 0:
        os.close(out_r)
        os.close(control_w)
        return None
    buffer = bytearray()
    result: bytes | None = None
    error: str | None = None
    reaped = False
    kill_at: float | None = None
    reason = StopReason.DEADLINE
    try:
        poller = select.poll()
        poller.register(out_r, select.POLLIN | select.POLLHUP)
        while True:
            now = time.monotonic()
            if kill_at is None and (token.is_set() or (deadline is not None and now >= deadline)):
                reason = token.reason() or StopReason.DEADLINE
                with contextlib.suppress(OSError):
                    os.write(control_w, b"x")
                kill_at = now + (0.0 if token.abandoned else wind_down_s)  # abandoned: nobody wants its best
            if kill_at is not None and now >= kill_at:
                raise Stopped(reason)
            if not poller.poll(_POLL_MS):
                continue
            data = os.read(out_r, 1 << 20)
            if not data:
                break
            buffer += data
            while len(buffer) >= _FRAME.size:
                kind, size = _FRAME.unpack_from(buffer)
                if len(buffer) < _FRAME.size + size:
                    break
                payload = bytes(buffer[_FRAME.size:_FRAME.size + size])
                del buffer[:_FRAME.size + size]
                if kind == b"m":
                    if on_message is not None:
                        on_message(payload)
                elif kind == b"r":
                    result = payload
                else:
                    error = payload.decode(errors="replace")
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        if not reaped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(out_r)
        os.close(control_w)
    if error is not None:
        raise RuntimeError(f"the work failed in its child process ({error})")
    if result is None:  # died without a word (a signal, a library's fork handler): in-process from now on
        _forking["works"] = False
        logging.getLogger(__name__).warning("child_process_died", extra={"fields": {
            "exit_code": os.waitstatus_to_exitcode(status), "then": "working in-process from now on"}})
    return result

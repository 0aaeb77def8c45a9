"""Simulated time for the local cloud.

Everything in the local cloud that waits (Step Functions Wait states, Retry intervals,
task-token timeouts, SSM agent delays, command durations, lifecycle-hook timeouts) waits
on one :class:`SimClock`. Its ``factor`` says how many real seconds a simulated second
takes:

* ``factor > 0`` (the demo, ``local up``): simulated time runs continuously,
  ``factor`` real seconds per simulated second.
* ``factor == 0`` (tests): a discrete-event clock. Simulated time stands still while any
  simulated actor can make progress and jumps to the next deadline when all of them are
  blocked on the clock. A two-hour window plays in milliseconds, deterministically.

For the jump to be safe the clock must know when every actor is blocked. Actors are the
threads the local cloud runs (Step Functions executions and their state threads,
started as :class:`ClockThread`) and the callbacks the clock fires. A participant is
"busy" unless it waits through the clock (:meth:`SimClock.sleep`, :class:`ClockEvent`,
:class:`ClockCondition`, :meth:`ClockThread.join`). Whoever wakes a waiter counts it busy
again *before* it runs, so the count never dips to zero in between.

Timer callbacks run one at a time in the thread that drives the clock, in deadline order
(ties in scheduling order). They must not block on the clock; to do blocking work they
start a :class:`ClockThread`.

A *background* timer (``call_at(..., background=True)``) is one of something that recurs
for ever, such as an EventBridge Scheduler ``rate()`` schedule without an end date: it
fires when time passes it, but does not keep the world busy. Playing "until quiet"
(``run()`` without ``for_seconds``, or with ``stop_when_quiet``) stops when only background
timers are left, where it would otherwise play the recurrence for ever; playing a fixed
time (``run(for_seconds=...)``) fires every background timer due in it.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import threading
import time as _time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.core.registry import Slot

LOG = logging.getLogger(__name__)

DEFAULT_START = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)


class ClockStalledError(RuntimeError):
    """Simulated actors stayed busy for too long in real time (a deadlock or a hot loop)."""


@dataclass
class _Waiter:
    """One blocked wait. ``counted`` waiters were busy participants before blocking."""

    counted: bool
    ready: threading.Event = field(default_factory=threading.Event)
    woken: bool = False
    timed_out: bool = False
    timeout_timer: _Scheduled | None = None


@dataclass(order=True)
class _Scheduled:
    when: datetime
    seq: int
    action: Callable[[], None] = field(compare=False)
    label: str = field(compare=False, default="")
    cancelled: bool = field(compare=False, default=False)


class TimerHandle:
    """Returned by :meth:`SimClock.call_later`; ``cancel()`` stops a timer not yet fired."""

    def __init__(self, clock: SimClock, item: _Scheduled) -> None:
        self._clock = clock
        self._item = item

    @property
    def when(self) -> datetime:
        return self._item.when

    def cancel(self) -> None:
        with self._clock._lock:
            self._item.cancelled = True


class SimClock:
    """A clock shared by everything simulated; see the module docstring."""

    def __init__(self, factor: float = 0.0, start: datetime = DEFAULT_START) -> None:
        if factor < 0:
            raise ValueError("time factor must be >= 0")
        self.factor = factor
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._start = start
        self._now = start
        self._real_start = _time.monotonic()
        self._busy = 0
        self._heap: list[_Scheduled] = []
        self._background: list[_Scheduled] = []  # see the module docstring
        self._seq = itertools.count()
        self._local = threading.local()
        self._driver: threading.Thread | None = None
        self._stopping = False
        self._paused = False
        self.callback_errors: list[BaseException] = []

    # --- reading time ---------------------------------------------------------------------

    @property
    def discrete(self) -> bool:
        return self.factor == 0

    def now(self) -> datetime:
        if self.discrete:
            return self._now
        if self._paused:
            return self._start
        elapsed = (_time.monotonic() - self._real_start) / self.factor
        return self._start + timedelta(seconds=elapsed)

    def time(self) -> float:
        """Simulated seconds since the epoch, a drop-in for ``time.time``."""
        return self.now().timestamp()

    # --- participants ---------------------------------------------------------------------

    def is_participant(self) -> bool:
        return bool(getattr(self._local, "participant", False))

    def _enter(self) -> None:
        with self._lock:
            self._busy += 1

    def _exit(self) -> None:
        with self._lock:
            self._busy -= 1
            if self._busy < 0:  # pragma: no cover - a bookkeeping bug, fail loudly
                raise AssertionError("clock busy count went negative")
            self._changed.notify_all()

    @contextmanager
    def participant(self) -> Iterator[None]:
        """Count the calling thread as a simulated actor for the duration of the block."""
        if self.is_participant():
            yield
            return
        self._enter()
        self._local.participant = True
        try:
            yield
        finally:
            self._local.participant = False
            self._exit()

    # --- blocking through the clock ---------------------------------------------------------

    def _block(self, waiter: _Waiter, timeout: float | None = None) -> None:
        # Called with the lock held, right after the waiter was registered somewhere. The
        # timeout is scheduled in the same critical section in which the waiter stops
        # counting as busy: in between, the driver could see everyone idle and jump to a
        # later deadline, and the timeout would then be counted from there.
        if timeout is not None and self.discrete:
            waiter.timeout_timer = self._push(
                max(0.0, float(timeout)), lambda: self._locked_wake(waiter), "timeout"
            )
        if waiter.counted:
            self._busy -= 1
            self._changed.notify_all()

    def _wake(self, waiter: _Waiter, *, timed_out: bool = False) -> bool:
        # Called with the lock held. The waker counts the waiter busy before it runs.
        if waiter.woken:
            return False
        waiter.woken = True
        waiter.timed_out = timed_out
        if waiter.timeout_timer is not None:
            # Woken before its timeout: the stale timer must not drag simulated time along.
            waiter.timeout_timer.cancelled = True
        if waiter.counted:
            self._busy += 1
        waiter.ready.set()
        return True

    def _locked_wake(self, waiter: _Waiter) -> None:
        with self._lock:
            self._wake(waiter, timed_out=True)

    def _wait(self, waiter: _Waiter, timeout: float | None) -> bool:
        """Block on ``waiter`` (lock NOT held; :meth:`_block` registered it and its timeout).

        True if woken, False if the timeout fired.
        """
        if timeout is not None and not self.discrete:
            real = max(0.0, float(timeout)) * self.factor
            if not waiter.ready.wait(real):
                with self._lock:
                    self._wake(waiter, timed_out=True)
            return not waiter.timed_out
        if self.discrete and not waiter.counted and self._driver is None:
            # A thread outside the simulation (a test, the CLI) waits on the clock: drive it
            # until the waiter is woken.
            self.run(until=lambda: waiter.woken)
        waiter.ready.wait()
        return not waiter.timed_out

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of simulated time."""
        if seconds <= 0:
            return
        if not self.discrete:
            _time.sleep(seconds * self.factor)
            return
        waiter = _Waiter(counted=self.is_participant())
        with self._lock:
            self._block(waiter, seconds)
        self._wait(waiter, seconds)

    # --- timers ---------------------------------------------------------------------------

    def _push(
        self, delay: float, action: Callable[[], None], label: str, *, background: bool = False
    ) -> _Scheduled:
        item = _Scheduled(
            self.now() + timedelta(seconds=max(0.0, delay)), next(self._seq), action, label
        )
        heapq.heappush(self._background if background else self._heap, item)
        self._changed.notify_all()
        return item

    def call_later(
        self,
        delay: float,
        callback: Callable[[], Any],
        label: str = "",
        *,
        background: bool = False,
    ) -> TimerHandle:
        """Run ``callback`` after ``delay`` simulated seconds, in the clock's driving thread.

        ``background``: a recurrence that does not keep the world busy (module docstring).
        """

        def run() -> None:
            # Callbacks may start participants (executions); they count as busy themselves.
            self._enter()
            self._local.participant = True
            try:
                callback()
            except Exception as exc:
                LOG.exception("timer callback %s failed", label or callback)
                self.callback_errors.append(exc)
            finally:
                self._local.participant = False
                self._exit()

        with self._lock:
            return TimerHandle(
                self,
                self._push(
                    delay, run, label or getattr(callback, "__name__", ""), background=background
                ),
            )

    def call_at(
        self,
        when: datetime,
        callback: Callable[[], Any],
        label: str = "",
        *,
        background: bool = False,
    ) -> TimerHandle:
        return self.call_later(
            (when - self.now()).total_seconds(), callback, label, background=background
        )

    # --- driving --------------------------------------------------------------------------

    def pending_timers(self) -> int:
        """Timers that keep the world busy (background ones do not)."""
        with self._lock:
            return sum(1 for item in self._heap if not item.cancelled)

    def busy(self) -> int:
        with self._lock:
            return self._busy

    def _wait_idle(self, stall_seconds: float) -> None:
        deadline = _time.monotonic() + stall_seconds
        while self._busy > 0:
            remaining = deadline - _time.monotonic()
            if remaining <= 0:
                raise ClockStalledError(
                    f"{self._busy} simulated actor(s) stayed busy for {stall_seconds:.0f} s "
                    "of real "
                    f"time at simulated {self._now.isoformat()}; threads: "
                    + ", ".join(t.name for t in threading.enumerate())
                )
            self._changed.wait(min(remaining, 0.5))

    def _pop_due(self, horizon: datetime | None, *, until_quiet: bool) -> _Scheduled | None:
        """The next timer due by ``horizon``; none once only background ones are left and
        ``until_quiet``."""
        for heap in (self._heap, self._background):
            while heap and heap[0].cancelled:
                heapq.heappop(heap)
        if not self._heap and (until_quiet or not self._background):
            return None
        heaps = [heap for heap in (self._heap, self._background) if heap]
        earliest = min(heaps, key=lambda heap: heap[0])
        if horizon is not None and earliest[0].when > horizon:
            return None
        return heapq.heappop(earliest)

    def run(
        self,
        *,
        until: Callable[[], bool] | None = None,
        for_seconds: float | None = None,
        stall_seconds: float = 60.0,
        stop_when_quiet: bool = False,
    ) -> None:
        """Drive a discrete clock from the calling thread.

        Stops when ``until()`` holds, or when ``for_seconds`` of simulated time have passed
        (the clock then reads exactly that much later). Without ``for_seconds``, or with
        ``stop_when_quiet``, it also stops as soon as nothing is busy and no timer is left
        (quiet), without moving the clock further. For a continuous clock it waits in real
        time for the same conditions.
        """
        if not self.discrete:
            self._run_continuous(until, for_seconds, stop_when_quiet=stop_when_quiet)
            return
        horizon = self.now() + timedelta(seconds=for_seconds) if for_seconds is not None else None
        with self._lock:
            while True:
                self._wait_idle(stall_seconds)
                if until is not None and until():
                    return
                item = self._pop_due(horizon, until_quiet=horizon is None or stop_when_quiet)
                if item is None:
                    if horizon is not None and not stop_when_quiet:
                        self._now = max(self._now, horizon)
                    return
                self._now = max(self._now, item.when)
                self._lock.release()
                try:
                    item.action()
                finally:
                    self._lock.acquire()

    def _run_continuous(
        self,
        until: Callable[[], bool] | None,
        for_seconds: float | None,
        *,
        stop_when_quiet: bool = False,
    ) -> None:
        self.start_driver()
        end = self.now() + timedelta(seconds=for_seconds) if for_seconds is not None else None
        while True:
            if until is not None and until():
                return
            if end is not None and self.now() >= end:
                return
            with self._lock:
                quiet = self._busy == 0 and self.pending_timers() == 0
            if quiet and (end is None or stop_when_quiet):
                return
            _time.sleep(0.01)

    def pause(self) -> None:
        """Hold a continuous clock at its current time until :meth:`start_driver`.

        ``local up`` deploys and builds its fleet first (tens of real seconds): without a
        pause, a clock at 0.02 real seconds per simulated second would be ten minutes past
        the ``--start`` a person asked for by the time it serves.
        """
        if self.discrete:
            raise RuntimeError("a discrete clock only moves when driven: nothing to pause")
        with self._lock:
            self._start = self.now()
            self._paused = True

    def start_driver(self) -> None:
        """Fire timers in a background thread (continuous clocks; ``local up``); a paused
        clock runs on from where it was held."""
        if self.discrete:
            raise RuntimeError("a discrete clock is driven by run(), not a background thread")
        with self._lock:
            if self._paused:
                self._real_start = _time.monotonic()
                self._paused = False
            if self._driver is not None:
                return
            self._driver = threading.Thread(
                target=self._drive_continuous, name="sim-clock", daemon=True
            )
            self._driver.start()

    def _drive_continuous(self) -> None:
        with self._lock:
            while not self._stopping:
                item = self._pop_due(self.now(), until_quiet=False)
                if item is None:
                    wait = 0.5
                    heads = [heap[0].when for heap in (self._heap, self._background) if heap]
                    if heads:
                        wait = max(0.0, (min(heads) - self.now()).total_seconds() * self.factor)
                    self._changed.wait(min(wait, 0.5))
                    continue
                self._lock.release()
                try:
                    item.action()
                finally:
                    self._lock.acquire()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._changed.notify_all()


# --- the clock in force ------------------------------------------------------------------------

_REALTIME = SimClock(factor=1.0, start=datetime.now(UTC))
# The running cloud's clock (localcloud.core.registry).
CLOCK: Slot[SimClock] = Slot("clock")


def current() -> SimClock:
    """The clock of the running local cloud (real time when none is running)."""
    return CLOCK.get() or _REALTIME


def install(clock: SimClock) -> None:
    CLOCK.set(clock)


def uninstall() -> None:
    CLOCK.set(None)


# --- clock-aware threading primitives ------------------------------------------------------------


class ClockEvent:
    """``threading.Event`` whose timeouts are simulated seconds and whose waits let time move."""

    def __init__(self) -> None:
        self._clock = current()
        self._flag = False
        self._waiters: list[_Waiter] = []

    def is_set(self) -> bool:
        return self._flag

    isSet = is_set

    def set(self) -> None:
        clock = self._clock
        with clock._lock:
            self._flag = True
            for waiter in self._waiters:
                clock._wake(waiter)
            self._waiters.clear()
            clock._changed.notify_all()

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        with clock._lock:
            if self._flag:
                return True
            waiter = _Waiter(counted=clock.is_participant())
            self._waiters.append(waiter)
            clock._block(waiter, timeout)
        clock._wait(waiter, timeout)
        with clock._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            return self._flag


class ClockCondition:
    """``threading.Condition`` (lock, wait, notify) whose waits let simulated time move."""

    def __init__(self, lock: Any = None) -> None:
        self._clock = current()
        self._lock = lock if lock is not None else threading.RLock()
        self._waiters: list[_Waiter] = []

    def __enter__(self) -> bool:
        return bool(self._lock.acquire())

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def acquire(self, *args: Any) -> bool:
        return bool(self._lock.acquire(*args))

    def release(self) -> None:
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        clock = self._clock
        with clock._lock:
            waiter = _Waiter(counted=clock.is_participant())
            self._waiters.append(waiter)
            clock._block(waiter, timeout)
        self._lock.release()
        try:
            woken = clock._wait(waiter, timeout)
        finally:
            self._lock.acquire()
        with clock._lock:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return woken

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        result = predicate()
        while not result:
            if not self.wait(timeout) and timeout is not None:
                return predicate()
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        clock = self._clock
        with clock._lock:
            for waiter in self._waiters[:n]:
                clock._wake(waiter)
            del self._waiters[:n]
            clock._changed.notify_all()

    def notify_all(self) -> None:
        self.notify(len(self._waiters))


class ClockThread(threading.Thread):
    """A thread that is a simulated actor: busy from ``start()`` until it ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sim_clock = current()
        self._finished = ClockEvent()

    def start(self) -> None:
        # The thread works for whoever started it: it runs in a copy of the starter's
        # context (the IAM principal of localcloud.core.iam.principal lives there).
        self._sim_context = contextvars.copy_context()
        # Count it busy before it exists, so the clock cannot jump in between.
        self._sim_clock._enter()
        try:
            super().start()
        except BaseException:
            self._sim_clock._exit()
            raise

    def run(self) -> None:
        clock = self._sim_clock
        clock._local.participant = True
        try:
            self._sim_context.run(super().run)
        finally:
            clock._local.participant = False
            with clock._lock:
                clock._busy -= 1
                self._finished.set()
                clock._changed.notify_all()

    def join(self, timeout: float | None = None) -> None:
        if threading.current_thread() is self:
            raise RuntimeError("cannot join current thread")
        self._finished.wait(timeout)
        if self._finished.is_set():
            super().join()

"""The time the control plane acts on: wall-clock time, or a simulation's.

Decisions that depend on "now" (is an environment's window open, when is the next
digest due, when did a run end) read it here rather than from ``time.time()``, so the
local cloud, whose clock runs simulated time, can say what now is (``use``). In Lambda
nothing calls ``use`` and this is ``time.time``. A handler that waits in-process (the
readiness watcher polls every few seconds) sleeps through :func:`sleep` for the same reason.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = _time.time
_sleeper: Callable[[float], None] = _time.sleep


def time() -> float:
    """Seconds since the epoch."""
    return _source()


def now() -> datetime:
    return datetime.fromtimestamp(_source(), UTC)


def sleep(seconds: float) -> None:
    """Wait ``seconds`` (of the simulation's time when one is in use)."""
    if seconds > 0:
        _sleeper(seconds)


def use(source: Callable[[], float] | None, sleeper: Callable[[float], None] | None = None) -> None:
    """Read time from ``source`` and sleep with ``sleeper`` (None: the wall clock again).

    For simulations only.
    """
    global _source, _sleeper  # noqa: PLW0603 - one clock per process, like the wall clock
    _source = source or _time.time
    _sleeper = sleeper or _time.sleep

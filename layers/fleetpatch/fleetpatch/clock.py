"""The time the control plane acts on: wall-clock time, or a simulation's.

Decisions that depend on "now" (is an environment's window open, when is the next
digest due, when did a run end) read it here rather than from ``time.time()``, so the
local cloud, whose clock runs simulated time, can say what now is (``use``). In Lambda
nothing calls ``use`` and this is ``time.time``.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], float] = _time.time


def time() -> float:
    """Seconds since the epoch."""
    return _source()


def now() -> datetime:
    return datetime.fromtimestamp(_source(), UTC)


def use(source: Callable[[], float] | None) -> None:
    """Read time from ``source`` (None: the wall clock again). For simulations only."""
    global _source  # noqa: PLW0603 - one clock per process, like the wall clock
    _source = source or _time.time

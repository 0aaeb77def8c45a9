"""A .sync task of the local cloud's Step Functions waits for its nested execution to end.

moto's ``_eval_sync`` loop asks its resolver (DescribeExecution) and sleeps
``_DELAY_SECONDS_SYNC_CONDITION_CHECK`` between asks. Here the sleep ends as soon as any
execution ends or is stopped (announced by the worker's ``terminated()`` and by
``Execution.stop``), so a nested execution's end is seen at once, as Step Functions sees it
from an event; the canaries are in tests/unit/localcloud/test_moto_canaries_stepfunctions_sync.py.
"""

from __future__ import annotations

import threading
import types
import weakref
from typing import Any

from localcloud.core import clock as sim
from localcloud.core import motopatch

# A .sync task learns that its nested execution ended the way Step Functions does: from the
# end itself (AWS: an EventBridge event, within seconds). moto polls DescribeExecution every
# 0.5 s instead, which for a serving instance out of service for 5 minutes was some 600 calls
# per child execution (at a 2 s poll still the bulk of a serving wave's cost on the local
# cloud: 2,084 DescribeExecution calls in one web-tier test). Here each poll's wait ends as
# soon as any execution ends or is stopped (its answer is then asked at once, so the run's
# simulated times are AWS's within its event latency), or after SYNC_FALLBACK_SECONDS, which
# only bounds a wait whose end somehow went unannounced.
SYNC_FALLBACK_SECONDS = 60.0
_SYNC_TAG = "_fleetpatch_sync_ends"


class _ExecutionEnds:
    """A count of ended executions, and a condition that is notified with each end."""

    def __init__(self) -> None:
        self.count = 0
        self.changed = sim.ClockCondition()

    def ended(self) -> None:
        with self.changed:
            self.count += 1
            self.changed.notify_all()


_ENDS: weakref.WeakKeyDictionary[sim.SimClock, _ExecutionEnds] = weakref.WeakKeyDictionary()
_ENDS_LOCK = threading.Lock()
# The count of ended executions each polling thread saw before its last DescribeExecution.
_SEEN = threading.local()


def _execution_ends() -> _ExecutionEnds:
    clock = sim.current()
    with _ENDS_LOCK:
        ends = _ENDS.get(clock)
        if ends is None:
            ends = _ENDS[clock] = _ExecutionEnds()
        return ends


class _SyncTimeShim(types.ModuleType):
    """``time`` for the .sync poll loop: its one sleep waits for an execution to end."""

    def __init__(self, time_module: Any) -> None:
        super().__init__("time")
        self._time = time_module

    @staticmethod
    def sleep(seconds: float) -> None:
        ends = _execution_ends()
        seen = getattr(_SEEN, "count", None)
        with ends.changed:
            if seen is None or ends.count != seen:
                return  # an execution ended since the last look (or no look): look again
            ends.changed.wait_for(lambda: ends.count != seen, timeout=seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._time, name)


def install() -> None:
    """After the interpreter's time and threads are simulated (its ``time`` is the shim)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_callback as callback,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    callback._DELAY_SECONDS_SYNC_CONDITION_CHECK = SYNC_FALLBACK_SECONDS  # type: ignore[misc]
    current_time = vars(callback)["time"]
    if not isinstance(current_time, _SyncTimeShim):
        callback.time = _SyncTimeShim(current_time)  # type: ignore[attr-defined]

    def seen_before(build: Any) -> Any:
        def build_resolver(self: Any, *args: Any, **kwargs: Any) -> Any:
            resolver = build(self, *args, **kwargs)

            def resolve() -> Any:
                _SEEN.count = _execution_ends().count
                return resolver()

            return resolve

        return build_resolver

    cls = sfn_task.StateTaskServiceSfn
    for name in ("_build_sync_resolver", "_build_sync2_resolver"):
        motopatch.patch(cls, name, seen_before, tag=_SYNC_TAG)

    def announce_end(original: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return original(self, *args, **kwargs)
            finally:
                _execution_ends().ended()

        return wrapper

    motopatch.patch(BaseExecutionWorkerCommunication, "terminated", announce_end, tag=_SYNC_TAG)
    motopatch.patch(Execution, "stop", announce_end, tag=_SYNC_TAG)

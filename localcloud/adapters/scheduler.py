"""EventBridge Scheduler's moto adapter: moto stores schedules, the simulator runs them.

moto internals wrapped (once per process): ``EventBridgeSchedulerBackend.create_schedule``,
``update_schedule`` and ``delete_schedule`` arm and disarm the running cloud's
``localcloud.sim.scheduler.SchedulerSimulator``; without a running cloud they are moto's.
"""

from __future__ import annotations

from typing import Any

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.scheduler import SIMULATOR, SchedulerSimulator

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).


def install(cloud: Cloud) -> SchedulerSimulator:
    """Run ``cloud``'s schedules on its clock (patches moto's backend once per process)."""
    simulator = SchedulerSimulator(cloud)
    SIMULATOR.set(simulator)
    # moto's Scheduler models, imported when a cloud starts (not when this module loads).
    from moto.scheduler.models import EventBridgeSchedulerBackend

    def create_schedule(create: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            schedule = create(self, *args, **kwargs)
            running = SIMULATOR.get()
            if running is not None:
                running.arm(schedule, created=True)
            return schedule

        return wrapper

    def update_schedule(update: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            schedule = update(self, *args, **kwargs)
            running = SIMULATOR.get()
            if running is not None:
                running.arm(schedule, created=False)
            return schedule

        return wrapper

    def delete_schedule(delete: Any) -> Any:
        def wrapper(self: Any, group_name: str | None, name: str) -> None:
            delete(self, group_name, name)
            running = SIMULATOR.get()
            if running is not None:
                running.disarm((group_name or "default", name), deleted=True)

        return wrapper

    motopatch.patch(EventBridgeSchedulerBackend, "create_schedule", create_schedule)
    motopatch.patch(EventBridgeSchedulerBackend, "update_schedule", update_schedule)
    motopatch.patch(EventBridgeSchedulerBackend, "delete_schedule", delete_schedule)
    return simulator

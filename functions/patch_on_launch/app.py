"""Patch on launch: start patch-new-instance for a launch lifecycle action or a new instance.

The run is named after the lifecycle action token (or the instance for EC2 ``running``),
so a duplicate event cannot start a second run.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch.events import InstanceStateChangeEvent, LaunchLifecycleActionEvent
    from fleetpatch.routing import Route

    parsed, decision = accept_event(event, Route.PATCH_ON_LAUNCH)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    # The use case and the configuration, only for an event of this route.
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.patch_on_launch import Config

    from fleetpatch.services.launch import start_launch_run

    assert isinstance(parsed, LaunchLifecycleActionEvent | InstanceStateChangeEvent)
    return start_launch_run(parsed, decision, load_config(Config))

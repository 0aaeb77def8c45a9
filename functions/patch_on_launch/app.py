"""Patch on launch: start patch-new-instance for a launch lifecycle action or a new instance.

The run is named after the lifecycle action token (or the instance for EC2 ``running``),
so a duplicate event cannot start a second run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetpatch_lambda.config import FunctionConfig, load_config, resolved
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented
from pydantic import Field, Json

if TYPE_CHECKING:
    from fleetpatch.launch import LaunchPolicy


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_PATCH_NEW_INSTANCE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    launch_policy: Json[LaunchPolicy] = Field(alias="FLEETPATCH_LAUNCH_POLICY")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch.events import InstanceStateChangeEvent, LaunchLifecycleActionEvent
    from fleetpatch.routing import Route

    parsed, decision = accept_event(event, Route.PATCH_ON_LAUNCH)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    # The use case and the launch policy, only for an event of this route.
    from fleetpatch.launch import LaunchPolicy
    from fleetpatch.services.launch import start_launch_run

    assert isinstance(parsed, LaunchLifecycleActionEvent | InstanceStateChangeEvent)
    return start_launch_run(
        parsed, decision, load_config(resolved(Config, LaunchPolicy=LaunchPolicy))
    )

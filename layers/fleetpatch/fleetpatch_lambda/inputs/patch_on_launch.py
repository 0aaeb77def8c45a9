"""What ``functions/patch_on_launch`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field, Json

from fleetpatch.launch import LaunchPolicy
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_PATCH_NEW_INSTANCE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    launch_policy: Json[LaunchPolicy] = Field(alias="FLEETPATCH_LAUNCH_POLICY")

"""What ``functions/batch_gate`` takes: ``Config``, ``WindowTask``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_GATED_WAVE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    stage: str = Field(alias="FLEETPATCH_STAGE", min_length=1)


class WindowTask(BaseModel):
    """What a wave's window task sends (its Payload, rendered by the policy stack)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    source: Literal["fleetpatch.window"]
    wave: str = Field(min_length=1, max_length=64)
    window_id: str = Field(alias="windowId", pattern=r"^mw-[0-9a-f]{17}$")

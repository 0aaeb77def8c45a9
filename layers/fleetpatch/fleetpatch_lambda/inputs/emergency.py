"""What ``functions/emergency`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_GATED_WAVE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    artifacts_bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)

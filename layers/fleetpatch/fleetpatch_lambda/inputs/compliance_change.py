"""What ``functions/compliance_change`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    digest_function_arn: str = Field(alias="FLEETPATCH_DIGEST_FUNCTION_ARN", min_length=20)
    digest_role_arn: str = Field(alias="FLEETPATCH_DIGEST_ROLE_ARN", min_length=20)
    digest_schedule_prefix: str = Field(alias="FLEETPATCH_DIGEST_SCHEDULE_PREFIX", min_length=1)
    # A remediation run is a patch-new-instance run (the launch workflow).
    remediation_state_machine_arn: str = Field(
        alias="FLEETPATCH_PATCH_NEW_INSTANCE_ARN", min_length=20
    )

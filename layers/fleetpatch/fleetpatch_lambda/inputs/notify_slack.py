"""What ``functions/notify_slack`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)
    webhook_secret: str = Field(default="", alias="FLEETPATCH_SLACK_WEBHOOK_SECRET")
    region: str = Field(alias="AWS_REGION", min_length=1)
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    function_name: str = Field(alias="AWS_LAMBDA_FUNCTION_NAME", min_length=1)

"""What ``functions/publish_report`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)
    # issue 22: shared with the organization's central account (docs/multi-account.md).
    stage: str = Field(alias="FLEETPATCH_STAGE", min_length=1)
    central_bucket: str = Field(alias="FLEETPATCH_CENTRAL_REPORTS_BUCKET")
    dead_letter_queue_url: str = Field(alias="FLEETPATCH_DEAD_LETTER_QUEUE_URL", min_length=10)

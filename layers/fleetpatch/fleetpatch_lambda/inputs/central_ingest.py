"""What ``functions/central_ingest`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_ORG_INDEX_TABLE", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)
    bucket: str = Field(alias="FLEETPATCH_CENTRAL_REPORTS_BUCKET", min_length=3)
    region: str = Field(alias="AWS_REGION", min_length=1)

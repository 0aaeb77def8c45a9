"""What ``functions/central_digest`` takes: ``Config``, ``Tick``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_ORG_INDEX_TABLE", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)


class Tick(BaseModel):
    """The schedule's Input: ``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    scheduled_time: AwareDatetime = Field(alias="scheduledTime")

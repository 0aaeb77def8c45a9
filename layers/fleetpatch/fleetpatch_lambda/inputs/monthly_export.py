"""What ``functions/monthly_export`` takes: ``Config``, ``MonthlyExportEvent``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)


class MonthlyExportEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    scheduled_time: datetime | None = Field(default=None, alias="scheduledTime")

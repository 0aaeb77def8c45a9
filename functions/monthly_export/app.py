"""Monthly export: last month's audit evidence to the artifacts bucket (issue 21, part 5).

Invoked on the 1st of each month by an EventBridge Scheduler schedule (template.yaml), with
``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``. See ``fleetpatch.services.audit``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)


class MonthlyExportEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    scheduled_time: datetime | None = Field(default=None, alias="scheduledTime")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.services.audit import export_month

    request = MonthlyExportEvent.model_validate(event)
    return export_month(load_config(Config), request.scheduled_time)

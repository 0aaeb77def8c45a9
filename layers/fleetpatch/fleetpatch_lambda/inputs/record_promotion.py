"""What ``functions/record_promotion`` takes: ``Config``, ``PromotionRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    artifacts_bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)


class PromotionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    batches: list[RuntimeBatch] = Field(min_length=1)
    promotions: list[str] = Field(min_length=1, description="the waves promoting from this one")
    started_at: datetime = Field(alias="startedAt")

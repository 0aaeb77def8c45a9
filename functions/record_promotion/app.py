"""Record promotion: what a wave installed becomes the exact patch list of the waves it feeds.

Invoked synchronously by the gated-wave workflow when a wave that other waves promote from
has run every batch: for each instance of the wave, the patches installed since the run
started; their union, as an InstallOverrideList, for each promoted wave. A run that
installed nothing leaves the lists as they were (``fleetpatch.promotion.record_lists``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetpatch_lambda.config import FunctionConfig, load_config, resolved
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fleetpatch.batch_policy import RuntimeBatch


class Config(FunctionConfig):
    artifacts_bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)


class PromotionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    batches: list[RuntimeBatch] = Field(min_length=1)
    promotions: list[str] = Field(min_length=1, description="the waves promoting from this one")
    started_at: datetime = Field(alias="startedAt")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.batch_policy import RuntimeBatch
    from fleetpatch.services.waves import record_promotion

    request = resolved(PromotionRequest, RuntimeBatch=RuntimeBatch).model_validate(event)
    return record_promotion(request, artifacts_bucket=load_config(Config).artifacts_bucket)

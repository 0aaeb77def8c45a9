"""What ``functions/patch_batch`` takes: ``Config``, ``PatchRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    artifacts_bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)


class PatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    step: int = Field(ge=0, description="the batch's index (0: a wave started by hand)")
    round: int = Field(default=0, ge=0, description="the batch's sending round")
    batch: RuntimeBatch
    install_override_list: str | None = Field(
        default=None, alias="installOverrideList", pattern=r"^s3://", description="promotion"
    )

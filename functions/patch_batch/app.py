"""Patch batch: send one round of AWS-RunPatchBaseline to a batch's ready members (workflow task).

Invoked synchronously by the gated-wave workflow once the batch's gate has passed, once per
round (``fleetpatch.batch_run``). Safe to retry: the plan and each command are recorded as
they are made, and a retry sends only the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetpatch_lambda.config import FunctionConfig, load_config, resolved
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fleetpatch.batch_policy import RuntimeBatch


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


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.batch_policy import RuntimeBatch
    from fleetpatch.services.waves import send_batch_round

    request = resolved(PatchRequest, RuntimeBatch=RuntimeBatch).model_validate(event)
    config = load_config(Config)
    return send_batch_round(
        request, table_name=config.table_name, artifacts_bucket=config.artifacts_bucket
    )

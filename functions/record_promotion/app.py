"""Record promotion: what a wave installed becomes the exact patch list of the waves it feeds.

Invoked synchronously by the gated-wave workflow when a wave that other waves promote from
has run every batch: for each instance of the wave, the patches installed since the run
started; their union, as an InstallOverrideList, for each promoted wave.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import aws
from fleetpatch.policy import RuntimeBatch
from fleetpatch.waves import batch_instances, installed_since, override_list, override_list_key


class Config(FunctionConfig):
    artifacts_bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)


class PromotionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    batches: list[RuntimeBatch] = Field(min_length=1)
    promotions: list[str] = Field(min_length=1, description="the waves promoting from this one")
    started_at: datetime = Field(alias="startedAt")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PromotionRequest.model_validate(event)
    config = load_config(Config)
    groups = sorted({g for b in request.batches for g in b.patch_groups})
    instances = batch_instances(aws.client("ec2"), groups)
    installed = installed_since(aws.client("ssm"), instances, request.started_at)
    document = override_list(installed)
    s3 = aws.client("s3")
    locations = []
    for target in request.promotions:
        key = override_list_key(target)
        s3.put_object(
            Bucket=config.artifacts_bucket,
            Key=key,
            Body=document.encode(),
            ContentType="application/yaml",
            Metadata={"source-wave": request.wave, "source-run": request.run_id},
        )
        locations.append(f"s3://{config.artifacts_bucket}/{key}")
    patches = len({p for found in installed.values() for p in found})
    logger.info("promotion recorded", extra={"wave": request.wave, "patches": patches})
    return {"patches": patches, "instances": len(instances), "locations": locations}

"""Patch batch: send AWS-RunPatchBaseline to a batch's instances, 50 per command (workflow task).

Invoked synchronously by the gated-wave workflow once the batch's gate has passed. Safe to
retry: each command is recorded as it is sent, and a retry sends only the rest.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import aws, clock
from fleetpatch.policy import RuntimeBatch
from fleetpatch.waves import WaveRecords, batch_instances, send_batch

# How long an instance may wait for its turn (SendCommand's TimeoutSeconds, the delivery
# timeout): rate control runs a command's 50 instances a few at a time, and one at a time
# takes hours. AWS-RunPatchBaseline's own execution timeout (2 h) applies after that. The
# workflow waits this plus 2 h for a command before asking Run Command once.
DELIVERY_TIMEOUT_SECONDS = 6 * 3600


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    artifacts_bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)


class PatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    step: int = Field(ge=0, description="the batch's index (0: a wave started by hand)")
    batch: RuntimeBatch
    install_override_list: str | None = Field(
        default=None, alias="installOverrideList", pattern=r"^s3://", description="promotion"
    )


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PatchRequest.model_validate(event)
    config = load_config(Config)
    records = WaveRecords(aws.client("dynamodb"), config.table_name, request.run_id, clock.time)
    instances = batch_instances(aws.client("ec2"), request.batch.patch_groups)
    command_ids = send_batch(
        aws.client("ssm"),
        instances,
        request.batch,
        wave=request.wave,
        run_id=request.run_id,
        output_bucket=config.artifacts_bucket,
        timeout_seconds=DELIVERY_TIMEOUT_SECONDS,
        already_sent=records.sent_chunks(request.step),
        record=lambda chunk, command_id: records.record_sent(request.step, chunk, command_id),
        install_override_list=request.install_override_list,
    )
    logger.info(
        "batch sent",
        extra={"batch": request.batch.name, "instances": len(instances), "commands": command_ids},
    )
    return {"batch": request.batch.name, "instances": len(instances), "commandIds": command_ids}

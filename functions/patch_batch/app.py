"""Patch batch: send one round of AWS-RunPatchBaseline to a batch's ready members (workflow task).

Invoked synchronously by the gated-wave workflow once the batch's gate has passed, once per
round (``fleetpatch.batch_run``). Safe to retry: the plan and each command are recorded as
they are made, and a retry sends only the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import aws, clock
from fleetpatch.batch_run import make_plan, send_round
from fleetpatch.contracts.s3 import wave_output_prefix
from fleetpatch.membership import PATCH_DOCUMENT
from fleetpatch.policy import RuntimeBatch
from fleetpatch.waves import WaveRecords

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
    round: int = Field(default=0, ge=0, description="the batch's sending round")
    batch: RuntimeBatch
    install_override_list: str | None = Field(
        default=None, alias="installOverrideList", pattern=r"^s3://", description="promotion"
    )


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = PatchRequest.model_validate(event)
    config = load_config(Config)
    ssm = aws.client("ssm")
    records = WaveRecords(
        aws.client("dynamodb"), config.table_name, request.run_id, clock.time
    ).batch(request.step)
    plan = records.plan()
    if plan is None:
        plan = make_plan(
            request.batch, ec2=aws.client("ec2"), ssm=ssm, autoscaling=aws.client("autoscaling")
        )
        records.record_plan(plan)
    batch = request.batch

    def send(instance_ids: Sequence[str], concurrency: str, errors: str) -> str:
        response = ssm.send_command(
            DocumentName=PATCH_DOCUMENT,
            InstanceIds=list(instance_ids),
            Parameters={
                "Operation": [batch.operation],
                "RebootOption": [batch.reboot_option],
                # A promoted wave installs exactly what its source installed.
                **(
                    {"InstallOverrideList": [request.install_override_list]}
                    if request.install_override_list
                    else {}
                ),
            },
            MaxConcurrency=concurrency,
            MaxErrors=errors,
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
            OutputS3BucketName=config.artifacts_bucket,
            OutputS3KeyPrefix=wave_output_prefix(request.wave, batch.name),
            Comment=f"fleetpatch wave {request.wave} batch {batch.name} ({request.run_id})"[:100],
        )
        return str(response["Command"]["CommandId"])

    sent = send_round(ssm, records, plan, batch, request.round, send=send)
    logger.info(
        "batch round sent",
        extra={
            "batch": batch.name,
            "round": request.round,
            "ready": len(plan.ready),
            "skipped": len(plan.skipped),
            "commands": sent.command_ids,
            "stopped": sent.stopped,
        },
    )
    return {
        "batch": batch.name,
        "instances": len(plan.ready),
        "skipped": len(plan.skipped),
        "commandIds": sent.command_ids,
        "more": sent.more,
        "stopped": sent.stopped,
    }

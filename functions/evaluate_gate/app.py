"""Evaluate gate: gather the evidence of the batches a gate checks and decide (workflow task).

Invoked synchronously by the gated-wave workflow. Reads command results, patch states and
alarms (read-only), records the decision in the state table and returns its summary.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import aws, clock
from fleetpatch.policy import RuntimeBatch, RuntimeGate
from fleetpatch.waves import WaveRecords, decide_gate

# The sample of failed instances the workflow carries (all of them are in the record).
FAILURE_SAMPLE = 20


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    step: int = Field(ge=1, description="the batch the gate guards (len(batches): the end)")
    gate: RuntimeGate
    batches: list[RuntimeBatch] = Field(min_length=1)
    window_execution_id: str | None = Field(default=None, alias="windowExecutionId")
    window_status: str | None = Field(default=None, alias="windowStatus")
    commands: dict[str, list[str]] = Field(
        default_factory=dict, description="batch name -> commands the workflow sent"
    )
    started_at: datetime = Field(alias="startedAt", description="when the wave run started")
    bake_started_at: datetime | None = Field(
        default=None, alias="bakeStartedAt", description="alarms count from here (the Bake state)"
    )


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = EvaluateRequest.model_validate(event)
    config = load_config(Config)
    records = WaveRecords(aws.client("dynamodb"), config.table_name, request.run_id, clock.time)
    decision = decide_gate(
        request.gate,
        request.batches,
        window_execution_id=request.window_execution_id,
        window_status=request.window_status,
        commands=request.commands,
        plans=lambda step: records.batch(step).plan(),
        since=request.started_at,
        ssm=aws.client("ssm"),
        ec2=aws.client("ec2"),
        autoscaling=aws.client("autoscaling"),
        cloudwatch=aws.client("cloudwatch"),
        bake_started_at=request.bake_started_at,
    )
    guarded = request.batches[request.step].name if request.step < len(request.batches) else "end"
    records.record_decision(request.step, guarded, decision)
    logger.info(
        "gate decided",
        extra={"wave": request.wave, "batch": guarded, "passed": decision.passed},
    )
    sample = dict(sorted(decision.failed_instances.items())[:FAILURE_SAMPLE])
    return {
        "passed": decision.passed,
        "batch": guarded,
        "reasons": decision.reasons,
        "instances": decision.instances,
        "failedCount": len(decision.failed_instances),
        "failedInstances": sample,
        "notCounted": len(decision.not_counted),
    }

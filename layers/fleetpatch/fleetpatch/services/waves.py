"""Waves: the gated-wave run's tasks.

The gated-wave workflow calls three tasks: :func:`send_batch_round` (patch-batch),
:func:`evaluate_gate` (evaluate-gate) and :func:`record_promotion` (record-promotion).
The run itself is started by batch-gate (:mod:`fleetpatch.services.wave_start`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from fleetpatch import aws, clock
from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.batch_run import Plan, make_plan, send_round
from fleetpatch.contracts.s3 import wave_output_prefix
from fleetpatch.membership import PATCH_DOCUMENT
from fleetpatch.promotion import installed_since, record_lists
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.serving import serving_horizon, zone_order
from fleetpatch.serving_aws import zones
from fleetpatch.waves import (
    WaveRecords,
    batch_instances,
    decide_gate,
)

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient


LOG = logging.getLogger(__name__)


# --- the gated-wave workflow's tasks ---------------------------------------------------------

# How long an instance may wait for its turn (SendCommand's TimeoutSeconds, the delivery
# timeout): rate control runs a command's 50 instances a few at a time, and one at a time
# takes hours. AWS-RunPatchBaseline's own execution timeout (2 h) applies after that. The
# workflow waits this plus 2 h for a command before asking Run Command once.
DELIVERY_TIMEOUT_SECONDS = 6 * 3600

# The sample of failed instances the workflow carries (all of them are in the record).
FAILURE_SAMPLE = 20


class BatchRoundRequest(Protocol):
    """patch-batch's request: one round of one batch of a run."""

    @property
    def run_id(self) -> str: ...
    @property
    def wave(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def round(self) -> int: ...
    @property
    def batch(self) -> RuntimeBatch: ...
    @property
    def install_override_list(self) -> str | None: ...


def send_batch_round(
    request: BatchRoundRequest,
    *,
    table_name: str,
    artifacts_bucket: str,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Send one round of AWS-RunPatchBaseline to the batch's ready members.

    Safe to retry: the plan and each command are recorded as they are made, and a retry
    sends only the rest (``fleetpatch.batch_run``).
    """
    ssm: SSMClient = client("ssm")
    records = WaveRecords(client("dynamodb"), table_name, request.run_id, clock.time).batch(
        request.step
    )
    plan = records.plan()
    if plan is None:
        plan = make_plan(
            request.batch, ec2=client("ec2"), ssm=ssm, autoscaling=client("autoscaling")
        )
        records.record_plan(plan)
    batch = request.batch
    if batch.serving is not None:
        return _serving_batch(request, plan, client)

    def send(instance_ids: Sequence[str], concurrency: str, errors: str) -> str:
        response = aws.patiently(
            ssm.send_command,
            DocumentName=PATCH_DOCUMENT,
            InstanceIds=list(instance_ids),
            Parameters={
                "Operation": [batch.operation],
                "RebootOption": [batch.reboot_option],
                # A promoted wave installs exactly what its source installed; an emergency
                # batch, exactly the fix for its operating system.
                **(
                    {"InstallOverrideList": [override_list]}
                    if (
                        override_list := batch.install_override_list
                        or request.install_override_list
                    )
                    else {}
                ),
            },
            MaxConcurrency=concurrency,
            MaxErrors=errors,
            TimeoutSeconds=DELIVERY_TIMEOUT_SECONDS,
            OutputS3BucketName=artifacts_bucket,
            OutputS3KeyPrefix=wave_output_prefix(request.wave, batch.name),
            Comment=f"fleetpatch wave {request.wave} batch {batch.name} ({request.run_id})"[:100],
        )
        return str(response["Command"]["CommandId"])

    sent = send_round(ssm, records, plan, batch, request.round, send=send)
    LOG.info(
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


def _serving_batch(request: BatchRoundRequest, plan: Plan, client: ClientFactory) -> dict[str, Any]:
    """A serving batch sends nothing itself: the workflow patches each ready member in its
    own patch-serving-instance execution, zone by zone if the batch says so. Busy members'
    own commands are adopted as in any batch."""
    batch = request.batch
    assert batch.serving is not None
    concurrency, _, _ = plan.rate(batch)
    order = zone_order(
        zones(client("ec2"), plan.ready),
        zone_by_zone=batch.serving.zone_by_zone,
        concurrency=concurrency,
    )
    LOG.info(
        "serving batch planned",
        extra={"batch": batch.name, "ready": len(plan.ready), "zones": len(order["zones"])},
    )
    return {
        "batch": batch.name,
        "instances": len(plan.ready),
        "skipped": len(plan.skipped),
        "commandIds": plan.adopted(),
        "more": False,
        "stopped": None,
        "serving": {
            **order,
            "horizonSeconds": serving_horizon(batch.serving, len(plan.ready), order["concurrency"]),
        },
    }


class GateRequest(Protocol):
    """evaluate-gate's request: the gate guarding batch ``step`` of a run."""

    @property
    def run_id(self) -> str: ...
    @property
    def wave(self) -> str: ...
    @property
    def step(self) -> int: ...
    @property
    def gate(self) -> RuntimeGate: ...
    @property
    def batches(self) -> Sequence[RuntimeBatch]: ...
    @property
    def window_execution_id(self) -> str | None: ...
    @property
    def window_status(self) -> str | None: ...
    @property
    def commands(self) -> Mapping[str, Sequence[str]]: ...
    @property
    def started_at(self) -> datetime: ...
    @property
    def bake_started_at(self) -> datetime | None: ...


def evaluate_gate(
    request: GateRequest, *, table_name: str, client: ClientFactory = aws_client
) -> dict[str, Any]:
    """Gather the evidence of the batches the gate checks, decide, and record the decision.

    Reads command results, patch states and alarms (read-only); the workflow carries the
    summary and a sample of the failed instances (all of them are in the record).
    """
    records = WaveRecords(client("dynamodb"), table_name, request.run_id, clock.time)
    decision = decide_gate(
        request.gate,
        request.batches,
        window_execution_id=request.window_execution_id,
        window_status=request.window_status,
        commands=request.commands,
        plans=lambda step: records.batch(step).plan(),
        since=request.started_at,
        ssm=client("ssm"),
        ec2=client("ec2"),
        autoscaling=client("autoscaling"),
        cloudwatch=client("cloudwatch"),
        bake_started_at=request.bake_started_at,
        serving=records.serving,
    )
    guarded = request.batches[request.step].name if request.step < len(request.batches) else "end"
    records.record_decision(request.step, guarded, decision)
    LOG.info(
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


class PromotionRequest(Protocol):
    """record-promotion's request: a wave that other waves promote from ran every batch."""

    @property
    def run_id(self) -> str: ...
    @property
    def wave(self) -> str: ...
    @property
    def batches(self) -> Sequence[RuntimeBatch]: ...
    @property
    def promotions(self) -> Sequence[str]: ...
    @property
    def started_at(self) -> datetime: ...


def record_promotion(
    request: PromotionRequest, *, artifacts_bucket: str, client: ClientFactory = aws_client
) -> dict[str, Any]:
    """What the wave installed becomes the exact patch list of the waves it feeds.

    For each instance of the wave, the patches installed since the run started; their
    union, as an InstallOverrideList, for each promoted wave. A run that installed nothing
    leaves the lists as they were (``fleetpatch.promotion.record_lists``).
    """
    groups = sorted({g for b in request.batches for g in b.patch_groups})
    instances = batch_instances(client("ec2"), groups)
    installed = installed_since(client("ssm"), instances, request.started_at)
    recorded = record_lists(
        client("s3"),
        artifacts_bucket,
        source_wave=request.wave,
        run_id=request.run_id,
        promotions=request.promotions,
        installed=installed,
    )
    LOG.info(
        "promotion recorded",
        extra={"wave": request.wave, "patches": recorded.patches, "kept": recorded.kept},
    )
    return recorded.as_dict(request.promotions)

"""Compliance change: record an instance's patch compliance state; digest and remediate drift.

Each change of state is kept in the state table's history; drift and recovery also wait
there for the digest (see ``fleetpatch.compliance``), which the first of them schedules.
Drift starts the remediation the policy allows for the instance's environment (see
``fleetpatch.remediation``): a patch-instance run named after the event, so a redelivered
event starts nothing. Duplicates and late events change nothing; a retry after a failure
half way does what the failed attempt did not (see ``fleetpatch.compliance``).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field

from fleetpatch import aws, clock, remediation
from fleetpatch.compliance import ComplianceChange, ComplianceLedger, DigestScheduler
from fleetpatch.events import ComplianceChangeEvent, PatchComplianceDetail
from fleetpatch.launch import instance_patch_group
from fleetpatch.routing import Route


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    digest_function_arn: str = Field(alias="FLEETPATCH_DIGEST_FUNCTION_ARN", min_length=20)
    digest_role_arn: str = Field(alias="FLEETPATCH_DIGEST_ROLE_ARN", min_length=20)
    digest_schedule_prefix: str = Field(alias="FLEETPATCH_DIGEST_SCHEDULE_PREFIX", min_length=1)
    remediation_state_machine_arn: str = Field(
        alias="FLEETPATCH_REMEDIATION_STATE_MACHINE_ARN", min_length=20
    )


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed, decision = accept_event(event, Route.COMPLIANCE_CHANGE)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, ComplianceChangeEvent)
    detail = parsed.detail
    assert isinstance(detail, PatchComplianceDetail)
    config = load_config(Config)
    policy = aws.compiled_policy(config.policy_parameter)
    patch_group = instance_patch_group(aws.client("ec2"), detail.resource_id)
    environment = policy.environment_of(patch_group) if patch_group else None
    ledger = ComplianceLedger(aws.client("dynamodb"), config.table_name, clock.time)
    change = ComplianceChange(
        instance_id=detail.resource_id,
        status=detail.compliance_status,
        baseline_id=detail.patch_baseline_id,
        severity=detail.severity,
        event_time=parsed.time,
        event_id=parsed.id,
        patch_group=patch_group,
        environment=environment,
    )
    recorded = ledger.record(change)
    result: dict[str, Any] = {
        "route": decision.route.value,
        "reason": decision.reason,
        "transition": recorded.transition,
        "notify": recorded.notify,
        "environment": environment,
    }
    if recorded.notify:
        scheduled = DigestScheduler(
            dynamodb=aws.client("dynamodb"),
            scheduler=aws.client("scheduler"),
            table=config.table_name,
            target_arn=config.digest_function_arn,
            role_arn=config.digest_role_arn,
            name_prefix=config.digest_schedule_prefix,
            now=clock.time,
        ).ensure(policy.compliance.digest_minutes)
        result["digestScheduled"] = scheduled.isoformat() if scheduled else None
    if recorded.transition == "drifted":
        result["remediation"] = remediation.remediate(
            policy,
            instance_id=detail.resource_id,
            environment=environment,
            event_id=parsed.id,
            now=clock.now(),
            state_machine_arn=config.remediation_state_machine_arn,
            stepfunctions=aws.client("stepfunctions"),
            ec2=aws.client("ec2"),
            autoscaling=aws.client("autoscaling"),
            ssm=aws.client("ssm"),
        )
    if recorded.notify:
        # Last: a failure above leaves the event pending, and Lambda's retry finishes it.
        # Only drift and recovery have parts a duplicate must not redo (the digest entry,
        # the remediation); a first report or a repeat left pending is redone harmlessly by
        # a duplicate (its history entry is keyed by the event), and settling those would
        # cost a write per instance of every wave.
        ledger.settle(change)
    logger.info(
        "compliance recorded",
        extra={"instance": detail.resource_id, "transition": recorded.transition, **result},
    )
    return result

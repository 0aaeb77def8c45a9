"""Compliance change: record an instance's patch compliance state; digest and remediate drift.

Each change of state is kept in the state table's history; drift and recovery also wait
there for the digest (see ``fleetpatch.compliance``), which the first of them schedules.
Drift starts the remediation the policy allows for the instance's environment (see
``fleetpatch.remediation``): a patch-instance run named after the event, so a redelivered
event starts nothing. Duplicates and late events change nothing; a retry after a failure
half way does what the failed attempt did not.

The order is the idempotency (:func:`apply_change`): record (the state, pending), then the
digest, then the remediation, and settle last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from fleetpatch import aws, clock, remediation
from fleetpatch.compliance import ComplianceChange, ComplianceLedger, DigestScheduler, Recorded
from fleetpatch.events import ComplianceChangeEvent, PatchComplianceDetail
from fleetpatch.launch import patch_group_at
from fleetpatch.services import ClientFactory, aws_client


class ComplianceSettings(Protocol):
    """What the compliance-change function is configured with."""

    @property
    def table_name(self) -> str: ...
    @property
    def policy_parameter(self) -> str: ...
    @property
    def digest_function_arn(self) -> str: ...
    @property
    def digest_role_arn(self) -> str: ...
    @property
    def digest_schedule_prefix(self) -> str: ...
    @property
    def remediation_state_machine_arn(self) -> str: ...


class Ledger(Protocol):
    def record(self, change: ComplianceChange) -> Recorded: ...
    def settle(self, change: ComplianceChange) -> None: ...


def record_change(
    event: ComplianceChangeEvent,
    settings: ComplianceSettings,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Record the change an accepted compliance event reports, and do what it asks."""
    detail = event.detail
    assert isinstance(detail, PatchComplianceDetail)
    policy = aws.compiled_policy(settings.policy_parameter)
    # One read of every instance's patch group answers a burst of events (see patch_group_at).
    patch_group = patch_group_at(
        detail.resource_id, client("ec2"), event_time=event.time, memory=aws.remembered()
    )
    environment = policy.environment_of(patch_group) if patch_group else None
    change = ComplianceChange(
        instance_id=detail.resource_id,
        status=detail.compliance_status,
        baseline_id=detail.patch_baseline_id,
        severity=detail.severity,
        event_time=event.time,
        event_id=event.id,
        patch_group=patch_group,
        environment=environment,
    )
    scheduler = DigestScheduler(
        dynamodb=client("dynamodb"),
        scheduler=client("scheduler"),
        table=settings.table_name,
        target_arn=settings.digest_function_arn,
        role_arn=settings.digest_role_arn,
        name_prefix=settings.digest_schedule_prefix,
        now=clock.time,
    )
    digest_minutes = policy.compliance.digest_minutes
    return apply_change(
        change,
        ledger=ComplianceLedger(client("dynamodb"), settings.table_name, clock.time),
        schedule_digest=lambda: scheduler.ensure(digest_minutes),
        remediate=lambda: remediation.remediate(
            policy,
            instance_id=change.instance_id,
            environment=change.environment,
            event_id=change.event_id,
            now=clock.now(),
            state_machine_arn=settings.remediation_state_machine_arn,
            stepfunctions=client("stepfunctions"),
            ec2=client("ec2"),
            autoscaling=client("autoscaling"),
            ssm=client("ssm"),
            patch_group=change.patch_group,
            elbv2=client("elbv2"),
        ),
    )


def apply_change(
    change: ComplianceChange,
    *,
    ledger: Ledger,
    schedule_digest: Callable[[], datetime | None],
    remediate: Callable[[], Mapping[str, Any] | None],
) -> dict[str, Any]:
    """Record ``change``, then the digest, then the remediation; settle it last.

    Recording first makes a duplicate or a late event ``stale`` (it then does nothing
    else). The ledger keeps drift and recovery pending until :meth:`Ledger.settle`, so a
    failure in the digest or the remediation leaves the event pending and Lambda's retry
    does them again, each keyed (the digest by its marker, the remediation by its run
    name): nothing is done twice, nothing is lost.
    """
    recorded = ledger.record(change)
    result: dict[str, Any] = {
        "transition": recorded.transition,
        "notify": recorded.notify,
        "environment": change.environment,
    }
    if recorded.notify:
        scheduled = schedule_digest()
        result["digestScheduled"] = scheduled.isoformat() if scheduled else None
    if recorded.transition == "drifted":
        result["remediation"] = remediate()
    if recorded.notify:
        # Last: a failure above leaves the event pending, and Lambda's retry finishes it.
        # Only drift and recovery have parts a duplicate must not redo (the digest entry,
        # the remediation); a first report or a repeat left pending is redone harmlessly by
        # a duplicate (its history entry is keyed by the event), and settling those would
        # cost a write per instance of every wave.
        ledger.settle(change)
    return result

"""Launch: patch a new instance before it serves (patch-on-launch and its workflow's tasks).

A launch lifecycle action or an EC2 ``running`` event starts patch-new-instance, named
after the lifecycle action token (or the instance for EC2 ``running``), so a duplicate
event cannot start a second run (``fleetpatch.workflows.start_once``). The workflow then
resolves its target (:func:`resolve_instance`) and, at release, accounts the outcome
(:func:`account_outcome`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from fleetpatch import aws, clock
from fleetpatch.churn import ChurnRecords
from fleetpatch.launch import (
    LaunchPolicy,
    auto_scaling_group_tags,
    launch_exception,
    launch_request,
    not_covered_on_running,
    resolve_target,
)
from fleetpatch.launch_outcome import OutcomeRequest, account_launch
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.workflows import start_once

if TYPE_CHECKING:
    from fleetpatch.events import InstanceStateChangeEvent, LaunchLifecycleActionEvent
    from fleetpatch.routing import RouteDecision

LOG = logging.getLogger(__name__)


class LaunchSettings(Protocol):
    """What the patch-on-launch function is configured with."""

    @property
    def state_machine_arn(self) -> str: ...
    @property
    def launch_policy(self) -> LaunchPolicy: ...


def start_launch_run(
    event: LaunchLifecycleActionEvent | InstanceStateChangeEvent,
    decision: RouteDecision,
    settings: LaunchSettings,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, str]:
    """Start patch-new-instance for an accepted launch event, once per action or instance."""
    # Imported here: resolve-instance and launch-outcome, which share this module, parse no event.
    from fleetpatch.events import InstanceStateChangeEvent, LaunchLifecycleActionEvent

    policy = settings.launch_policy
    if isinstance(event, InstanceStateChangeEvent):
        why = not_covered_on_running(
            event.detail.instance_id,
            policy,
            client("ec2"),
            event_time=event.time,
            memory=aws.remembered(),
        )
        if why is not None:
            return {"route": "ignored", "reason": why}
    group_tags = None
    if isinstance(event, LaunchLifecycleActionEvent) and policy.auto_scaling_group_tags:
        # Only a tag selector needs the group's tags: one read-only call, not on every launch.
        group_tags = auto_scaling_group_tags(
            event.detail.auto_scaling_group_name, client("autoscaling")
        )
    request = launch_request(event, policy, group_tags)
    if request is None:
        return {
            "route": "ignored",
            "reason": "the launch policy covers neither this lifecycle hook nor this group",
        }
    started = start_once(
        client("stepfunctions"), settings.state_machine_arn, request.execution_name, request.input
    )
    if started.duplicate:
        LOG.info("duplicate event: run already started", extra={"execution": started.name})
        return {
            "route": decision.route.value,
            "reason": "duplicate: run already started",
            "execution": started.name,
        }
    LOG.info("started patch-new-instance", extra={"execution_arn": started.execution_arn})
    return {"route": decision.route.value, "reason": decision.reason, "execution": started.name}


def resolve_instance(instance_id: str, *, client: ClientFactory = aws_client) -> dict[str, Any]:
    """The OS, patch group and baseline that apply to ``instance_id`` (the workflow's task)."""
    return resolve_target(instance_id, client("ec2"), client("ssm")).as_dict()


def resolve_exception(instance_id: str, *, client: ClientFactory = aws_client) -> dict[str, Any]:
    """A launch's fleetpatch:skip exception from its EC2 tags, before its agent is Online."""
    return launch_exception(instance_id, client("ec2"))


def account_outcome(
    request: OutcomeRequest, table_name: str, *, client: ClientFactory = aws_client
) -> dict[str, Any]:
    """Account a run's outcome at release: its place, its churn, its lifecycle result."""
    outcome = account_launch(
        request,
        ec2=client("ec2"),
        autoscaling=client("autoscaling"),
        records=ChurnRecords(client("dynamodb"), table_name),
        now=clock.now,
    )
    if outcome.churn is not None and outcome.churn.counted:
        LOG.info(
            "launch failure counted",
            extra={
                "group": outcome.churn.group,
                "streak": outcome.churn.streak,
                "announce": outcome.churn.announce,
                "suspended": outcome.suspended,
            },
        )
    return outcome.as_dict()

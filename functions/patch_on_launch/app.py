"""Patch on launch: start patch-new-instance for a launch lifecycle action or a new instance.

The run is named after the lifecycle action token (or the instance for EC2 ``running``),
so a duplicate event cannot start a second run.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field, Json

from fleetpatch import aws
from fleetpatch.events import InstanceStateChangeEvent, LaunchLifecycleActionEvent
from fleetpatch.launch import (
    LaunchPolicy,
    auto_scaling_group_tags,
    covered_instance,
    launch_request,
)
from fleetpatch.routing import Route


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_PATCH_NEW_INSTANCE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    launch_policy: Json[LaunchPolicy] = Field(alias="FLEETPATCH_LAUNCH_POLICY")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    parsed, decision = accept_event(event, Route.PATCH_ON_LAUNCH)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, LaunchLifecycleActionEvent | InstanceStateChangeEvent)
    config = load_config(Config)
    if isinstance(parsed, InstanceStateChangeEvent) and not covered_instance(
        parsed.detail.instance_id, config.launch_policy, aws.client("ec2")
    ):
        return {
            "route": "ignored",
            "reason": f"{parsed.detail.instance_id} is not covered by the launch policy",
        }
    policy = config.launch_policy
    group_tags = None
    if isinstance(parsed, LaunchLifecycleActionEvent) and policy.auto_scaling_group_tags:
        # Only a tag selector needs the group's tags: one read-only call, not on every launch.
        group_tags = auto_scaling_group_tags(
            parsed.detail.auto_scaling_group_name, aws.client("autoscaling")
        )
    request = launch_request(parsed, policy, group_tags)
    if request is None:
        return {
            "route": "ignored",
            "reason": "the launch policy covers neither this lifecycle hook nor this group",
        }
    sfn = aws.client("stepfunctions")
    try:
        started = sfn.start_execution(
            stateMachineArn=config.state_machine_arn,
            name=request.execution_name,
            input=json.dumps(request.input),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info(
            "duplicate event: run already started", extra={"execution": request.execution_name}
        )
        return {
            "route": decision.route.value,
            "reason": "duplicate: run already started",
            "execution": request.execution_name,
        }
    logger.info("started patch-new-instance", extra={"execution_arn": started["executionArn"]})
    return {
        "route": decision.route.value,
        "reason": decision.reason,
        "execution": request.execution_name,
    }

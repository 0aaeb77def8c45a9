"""EventBridge rules and EventBridge Scheduler schedules."""

from __future__ import annotations

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.errors import DeployError
from localcloud.deployer.resources.base import creates, json_text


@creates(
    passes="Description ScheduleExpression EventBusName RoleArn",
    applies="Name EventPattern State Targets",
)
def rule(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("Name") or ctx.name(res.logical_id, 64)
    arn = ctx.call(
        "events",
        "put_rule",
        Name=name,
        EventPattern=json_text(p.get("EventPattern")),
        State=p.get("State", "ENABLED"),
        **res.passed,
    )["RuleArn"]
    if p.get("Targets"):
        failed = ctx.call(
            "events",
            "put_targets",
            Rule=name,
            EventBusName=p.get("EventBusName"),
            Targets=p["Targets"],
        )["FailedEntries"]
        if failed:
            raise DeployError(res.logical_id, res.type, f"PutTargets failed: {failed}")
    return Created(name, {"Arn": arn})


@creates(
    passes="Description ScheduleExpression ScheduleExpressionTimezone StartDate EndDate "
    "FlexibleTimeWindow State Target KmsKeyArn",
    applies="Name GroupName",
)
def schedule(ctx: Context, res: Resource) -> Created:
    """CreateSchedule: the local cloud's Scheduler fires it (``localcloud.sim.scheduler``)."""
    name = res.properties.get("Name") or ctx.name(res.logical_id, 64)
    group = res.properties.get("GroupName", "default")
    arn = ctx.call("scheduler", "create_schedule", Name=name, GroupName=group, **res.passed)[
        "ScheduleArn"
    ]
    return Created(name, {"Arn": arn})

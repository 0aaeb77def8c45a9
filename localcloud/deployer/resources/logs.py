"""CloudWatch Logs log groups and CloudWatch alarms."""

from __future__ import annotations

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, tags


@creates(
    applies="LogGroupName RetentionInDays KmsKeyId LogGroupClass Tags",
    # Data protection masks sensitive data in log events; the local cloud writes none.
    records="DataProtectionPolicy",
)
def log_group(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("LogGroupName") or ctx.name(res.logical_id, 512)
    ctx.call(
        "logs",
        "create_log_group",
        logGroupName=name,
        kmsKeyId=p.get("KmsKeyId"),
        logGroupClass=p.get("LogGroupClass"),
        tags=tags(p) or None,
    )
    if "RetentionInDays" in p:
        days = p["RetentionInDays"]
        ctx.call("logs", "put_retention_policy", logGroupName=name, retentionInDays=days)
    return Created(name, {"Arn": ctx.arn("logs", f"log-group:{name}:*")})


@creates(
    passes=(
        "AlarmDescription ActionsEnabled AlarmActions OKActions InsufficientDataActions "
        "MetricName Namespace Statistic ExtendedStatistic Dimensions Period Unit "
        "EvaluationPeriods DatapointsToAlarm Threshold ComparisonOperator TreatMissingData "
        "EvaluateLowSampleCountPercentile Metrics ThresholdMetricId Tags"
    ),
    applies="AlarmName",
)
def alarm(ctx: Context, res: Resource) -> Created:
    name = res.properties.get("AlarmName") or ctx.name(res.logical_id, 255)
    ctx.call("cloudwatch", "put_metric_alarm", AlarmName=name, **res.passed)
    return Created(name, {"Arn": ctx.arn("cloudwatch", f"alarm:{name}")})

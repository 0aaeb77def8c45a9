"""CloudWatch Logs log groups, CloudWatch alarms and dashboards."""

from __future__ import annotations

import json
import re

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, tags
from localcloud.intrinsics import TemplateError


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


# PutDashboard: "a maximum of 255 characters ... A-Z, a-z, 0-9, "-", and "_"" (DashboardName).
_DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


@creates(applies="DashboardName DashboardBody")
def dashboard(ctx: Context, res: Resource) -> Created:
    """moto stores any body; CloudWatch refuses one that is not a JSON object with widgets."""
    name = res.properties.get("DashboardName") or ctx.name(res.logical_id, 255)
    if not _DASHBOARD_NAME.match(name):
        raise TemplateError(f"DashboardName {name!r}: 1-255 of A-Z, a-z, 0-9, - and _")
    body = str(res.require("DashboardBody"))
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise TemplateError(f"DashboardBody is not JSON: {exc}") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("widgets"), list):
        raise TemplateError("DashboardBody must be a JSON object with a widgets list")
    ctx.call("cloudwatch", "put_dashboard", DashboardName=name, DashboardBody=body)
    return Created(name, {})

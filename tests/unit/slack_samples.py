"""Reports to build Slack messages from, and readers of the Block Kit that comes out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)

RUN = "wave-prod-20261121T0500Z"
INSTANCE = "i-0a1b2c3d4e5f60718"
HOSTILE = "<!channel> see <http://x|y> & more"
ESCAPED = "&lt;!channel&gt; see &lt;http://x|y&gt; &amp; more"


def held_wave(
    *, failure: str = "AWS-RunPatchBaseline ended Failed", gate: str | None = None
) -> RunReport:
    return RunReport(
        kind="wave",
        run_id=RUN,
        title="prod wave",
        outcome="held",
        reason="gate failed",
        summary="The gate before windows-apps failed.",
        environment="prod",
        trigger="window",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=40),
        batches=[
            BatchResult(
                name="linux-databases",
                status="ran",
                instances=[
                    InstanceResult(
                        instance_id="i-0db00000000000001",
                        outcome="patched",
                        installed=4,
                        missing=0,
                        failed=0,
                        pending_reboot=0,
                    ),
                    InstanceResult(
                        instance_id="i-0db00000000000002", outcome="failed", reason=failure
                    ),
                ],
            ),
            BatchResult(
                name="windows-apps",
                status="held",
                gate=GateSummary(
                    passed=False,
                    reasons=[gate or "1 instance failed in linux-databases (max 0)"],
                    checked=["linux-databases"],
                ),
                instances=[
                    InstanceResult(
                        instance_id="i-0ap00000000000001",
                        outcome="not-reached",
                        reason="its batch was held by a gate",
                    )
                ],
            ),
        ],
    )


def launch(
    outcome: str,
    instance: InstanceResult,
    reason: str | None = None,
    lifecycle: Literal["CONTINUE", "ABANDON"] | None = "CONTINUE",
) -> RunReport:
    return RunReport(
        kind="launch",
        run_id="launch-i-0a1b2c3d4e5f60718-1",
        title=f"launch of {INSTANCE}",
        outcome=outcome,
        reason=reason,
        summary="patched on launch: 12 patches installed",
        environment="test",
        trigger="launch",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=7, seconds=5),
        auto_scaling_group="web-test" if lifecycle else None,
        lifecycle_result=lifecycle,
        batches=[
            BatchResult(
                name="patch_test_0600_batch_1",
                patch_groups=["patch_test_0600_batch_1"],
                status="ran",
                instances=[instance],
            )
        ],
    )


def mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def texts(message: dict[str, Any]) -> list[str]:
    """Every text in a message's blocks, in order."""
    found = []
    for block in message["blocks"]:
        if "text" in block:
            found.append(block["text"]["text"])
        found += [f["text"] for f in block.get("fields", [])]
        found += [e["text"] for e in block.get("elements", [])]
    return found


def digest(drifted: int, recovered: int = 0) -> DigestReport:
    entries = [
        DriftEntry(
            instance_id=f"i-{n:017x}",
            transition="drifted",
            at=T0 + timedelta(seconds=n),
            environment="prod",
            patch_group="patch_prod_0600_batch_1",
            severity="critical",
        )
        for n in range(drifted)
    ] + [
        DriftEntry(
            instance_id=f"i-f{n:016x}",
            transition="recovered",
            at=T0 + timedelta(minutes=30),
            environment="test",
        )
        for n in range(recovered)
    ]
    return DigestReport(
        run_id="digest-20261121T0600Z",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        entries=entries,
    )


def alarm_message_text(state: str = "ALARM", old: str = "OK", reason: str | None = None) -> str:
    """The SNS message CloudWatch publishes for an alarm's change of state (its JSON shape)."""
    return json.dumps(
        {
            "AlarmName": "fleetpatch-prod-notify-slack-dlq",
            "AlarmDescription": "fleetpatch prod: messages wait in the dead-letter queue "
            "notify-slack. Runbook: docs/operations.md.",
            "AWSAccountId": "123456789012",
            "AlarmConfigurationUpdatedTimestamp": "2026-11-21T04:00:00.000+0000",
            "NewStateValue": state,
            "NewStateReason": reason
            or "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (21/11/26 05:00:00)] "
            "was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM "
            "transition).",
            "StateChangeTime": "2026-11-21T05:01:00.000+0000",
            "Region": "EU (Frankfurt)",
            "AlarmArn": "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:"
            "fleetpatch-prod-notify-slack-dlq",
            "OldStateValue": old,
            "OKActions": ["arn:aws:sns:eu-central-1:123456789012:fleetpatch-prod-reports"],
            "AlarmActions": ["arn:aws:sns:eu-central-1:123456789012:fleetpatch-prod-reports"],
            "InsufficientDataActions": [],
            "Trigger": {
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Namespace": "AWS/SQS",
                "StatisticType": "Statistic",
                "Statistic": "MAXIMUM",
                "Unit": None,
                "Dimensions": [
                    {"value": "fleetpatch-prod-NotifySlackDLQ-1A2B", "name": "QueueName"}
                ],
                "Period": 60,
                "EvaluationPeriods": 1,
                "DatapointsToAlarm": 1,
                "ComparisonOperator": "GreaterThanThreshold",
                "Threshold": 0.0,
                "TreatMissingData": "notBreaching",
                "EvaluateLowSampleCountPercentile": "",
            },
        }
    )

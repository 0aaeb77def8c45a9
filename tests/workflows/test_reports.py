"""Every run reports: the e-mail (SNS), Slack, the stored report; drift is digested, not spammed.

The real template, ASL and handlers on the local cloud. Slack is the local webhook receiver
on 127.0.0.1, its URL stored in the local Secrets Manager under the policy's secret name.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import launch_output_prefix
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed

# The test wave's window: first Saturday of November 2026, 06:00-10:00 Europe/Zurich.
TEST_WINDOW_OPENS = datetime(2026, 11, 7, 5, 0, tzinfo=UTC)


def sns_messages(deployed: Deployed, kind: str) -> list[dict[str, Any]]:
    return [
        m
        for m in deployed.messages()
        if m["channel"] == "sns" and m["attributes"].get("kind") == kind
    ]


def compliance_event(deployed: Deployed, instance: str, status: str) -> None:
    deployed.cloud.emit(
        "aws.ssm",
        "Configuration Compliance State Change",
        {
            "resource-type": "managed-instance",
            "resource-id": instance,
            "compliance-status": status,
            "compliance-type": "Patch",
            "patch-baseline-id": "pb-062c2a8a5b0d75210",
            "severity": "critical",
        },
        [f"arn:aws:ssm:eu-central-1:123456789012:managed-instance/{instance}"],
    )


def _stamp(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def test_a_launch_reports_by_email_slack_and_a_stored_report(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)

    run = deployed.execution_for(instance)["name"]
    report = deployed.report(run)
    [result] = report["batches"][0]["instances"]
    installed = result["installed"]
    assert installed > 0
    started, ended = _stamp(report["started_at"]), _stamp(report["ended_at"])
    duration = datetime.fromisoformat(report["ended_at"]) - datetime.fromisoformat(
        report["started_at"]
    )
    minutes, seconds = divmod(int(duration.total_seconds()), 60)
    command = result["command_id"]
    bucket = deployed.stack.physical_id("ArtifactsBucket")
    subject = f"launch of {instance}: patched, {installed} installed, released [test]"

    # The e-mail: subject, the body exactly as a person reads it, filterable attributes.
    [email] = sns_messages(deployed, "launch")
    assert email["subject"] == subject
    assert email["attributes"] == {
        "kind": "launch",
        "environment": "test",
        "outcome": "patched",
        "lifecycle": "CONTINUE",
        "group": "web-test",
        "run": run,
        "report": deployed.report_keys(run)[0],
    }
    assert email["message"] == (
        f"{subject}\n"
        "\n"
        f"{instance} patched and verified\n"
        "\n"
        "Outcome:            patched\n"
        f"Run:                {run}\n"
        "Environment:        test\n"
        "Auto Scaling group: web-test\n"
        "Lifecycle result:   CONTINUE (released into service)\n"
        "Trigger:            lifecycle\n"
        f"Started:            {started}\n"
        f"Ended:              {ended} ({minutes}m {seconds:02d}s)\n"
        f"Patches:            {installed} installed, 0 missing, 0 failed, 0 pending reboot\n"
        "\n"
        "Batch patch_test_0600_batch_1 (1 instance: 1 patched)\n"
        f"  {instance:<20} patched       installed {installed}, missing 0, failed 0, "
        "pending reboot 0\n"
        "\n"
        "Report: https://eu-central-1.console.aws.amazon.com/s3/object/"
        f"{bucket}?region=eu-central-1&prefix={deployed.report_keys(run)[1]}\n"
        "Execution: https://eu-central-1.console.aws.amazon.com/states/home?"
        "region=eu-central-1#/v2/executions/details/arn:aws:states:eu-central-1:"
        f"123456789012:execution:fleetpatch-default-patch-new-instance:{run}\n"
    )

    # Slack: one Block Kit message built from the stored report.
    [posted] = slack.delivered
    assert posted == {
        "text": subject,
        "blocks": [
            {
                "type": "header",
                "text": {
                    "type": "plain_text",
                    "text": f":white_check_mark: {subject}",
                    "emoji": True,
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"{instance} patched and verified"},
            },
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Outcome*\npatched"},
                    {"type": "mrkdwn", "text": "*Environment*\ntest"},
                    {"type": "mrkdwn", "text": "*Instances*\n1 patched"},
                    {
                        "type": "mrkdwn",
                        "text": f"*Patches*\n{installed} installed, 0 missing, 0 failed, "
                        "0 pending reboot",
                    },
                    {"type": "mrkdwn", "text": f"*Run*\n`{run}`"},
                    {"type": "mrkdwn", "text": f"*Duration*\n{minutes}m {seconds:02d}s"},
                    {"type": "mrkdwn", "text": "*Lifecycle*\nCONTINUE in `web-test`"},
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"fleetpatch run `{run}` | <https://eu-central-1.console.aws."
                        f"amazon.com/s3/object/{bucket}?region=eu-central-1&prefix="
                        f"{deployed.report_keys(run)[1]}|report>",
                    }
                ],
            },
        ],
    }

    # The stored report: JSON and a self-contained HTML page with the chart, indexed.
    assert result["output"] == f"s3://{bucket}/{launch_output_prefix(run)}/{command}/{instance}/"
    html = (
        deployed.cloud.client("s3")
        .get_object(Bucket=bucket, Key=deployed.report_keys(run)[1])["Body"]
        .read()
        .decode()
    )
    assert f'<meta name="fleetpatch-run" content="{run}">' in html
    assert "<svg" in html
    assert instance in html


def test_drift_of_200_instances_is_one_digest_and_recoveries_the_next(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    instances = [f"i-{n:017x}" for n in range(1, 201)]
    for instance in instances:
        compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=5 * 60)
    # EventBridge delivers some twice: nothing changes, nobody is told.
    for instance in instances[:20]:
        compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=2 * 3600)

    [digest] = sns_messages(deployed, "compliance-digest")
    assert digest["subject"] == "compliance digest: 200 instances drifted"
    assert digest["attributes"]["outcome"] == "drift"
    body = digest["message"]
    assert "Drifted (200):" in body
    assert "... and 175 more in the report" in body
    [posted] = slack.delivered
    assert posted["text"] == "compliance digest: 200 instances drifted"
    run = digest["attributes"]["run"]
    stored = deployed.report(run)
    assert sorted(e["instance_id"] for e in stored["entries"]) == instances
    assert {e["transition"] for e in stored["entries"]} == {"drifted"}

    # Three recover: one more digest, an hour later, of the recoveries only.
    for instance in instances[:3]:
        compliance_event(deployed, instance, "compliant")
    deployed.cloud.settle(max_seconds=2 * 3600)
    digests = sns_messages(deployed, "compliance-digest")
    assert [d["subject"] for d in digests] == [
        "compliance digest: 200 instances drifted",
        "compliance digest: 3 recovered",
    ]
    # The schedules deleted themselves; nothing is pending.
    assert deployed.schedules_left() == []


def test_drift_inside_the_window_is_remediated_by_installing(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch(
        "UBUNTU", tags={"Patch Group": "patch_test_0600_batch_1"}
    )
    deployed.cloud.advance((TEST_WINDOW_OPENS - deployed.cloud.clock.now()).total_seconds() + 600)
    compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=3 * 3600)

    sfn = deployed.cloud.client("stepfunctions")
    arn = deployed.stack.state_machine_arn("PatchNewInstanceStateMachine")
    [summary] = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert summary["name"].startswith(f"remediate-{instance}-")
    execution = sfn.describe_execution(executionArn=summary["executionArn"])
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["input"])["operation"] == "Install"
    [report] = sns_messages(deployed, "remediation")
    assert report["subject"].startswith(f"remediation of {instance}: patched")
    assert deployed.report(summary["name"])["summary"] == (
        f"{instance} patched and verified (inside the test window, open until 2026-11-07 10:00 CET)"
    )
    # The install brought it back: the digest says so (drift and recovery within one interval
    # collapse into the latest state, with both changes counted).
    state = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key=keys.compliance_key(instance),
    )["Item"]
    assert (state["status"]["S"], state["environment"]["S"]) == ("compliant", "test")
    [digest] = sns_messages(deployed, "compliance-digest")
    assert digest["subject"] == "compliance digest: 1 recovered (test)"
    [entry] = deployed.report(digest["attributes"]["run"])["entries"]
    assert (entry["transition"], entry["changes"]) == ("recovered", 2)


def test_drift_outside_the_window_is_only_scanned(deployed: Deployed) -> None:
    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch(
        "UBUNTU", tags={"Patch Group": "patch_test_0600_batch_1"}
    )
    # 12:30 in Zurich: test's windows (the test wave 06:00-10:00, the web wave 08:00-12:00)
    # have closed.
    closed = TEST_WINDOW_OPENS + timedelta(hours=6, minutes=30)
    deployed.cloud.advance((closed - deployed.cloud.clock.now()).total_seconds())
    compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=3 * 3600)

    sfn = deployed.cloud.client("stepfunctions")
    arn = deployed.stack.state_machine_arn("PatchNewInstanceStateMachine")
    [summary] = sfn.list_executions(stateMachineArn=arn)["executions"]
    payload = json.loads(sfn.describe_execution(executionArn=summary["executionArn"])["input"])
    assert payload["operation"] == "Scan"
    assert payload["reason"].startswith("outside test's window: scan only; the test window at ")
    commands = deployed.cloud.client("ssm").list_commands(InstanceId=instance)["Commands"]
    assert [c["Parameters"]["Operation"] for c in commands] == [["Scan"]]

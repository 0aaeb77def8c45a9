"""A launch that fails before its agent is online is reported as truthfully as any other.

Without a resolved target such a run knew no environment, so an SNS filter policy on
``environment`` dropped exactly the failures, and no report said whether the instance was
released or abandoned. Environment and Auto Scaling group come from the instance's EC2
tags; the lifecycle result is in every format: the e-mail's subject, body and message
attributes, Slack, the HTML page and the JSON report.
"""

from __future__ import annotations

from typing import Any

from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import GROUP, Deployed


def stored_html(deployed: Deployed, run: str) -> str:
    body: bytes = (
        deployed.cloud.client("s3")
        .get_object(
            Bucket=deployed.stack.physical_id("ArtifactsBucket"), Key=deployed.report_keys(run)[1]
        )["Body"]
        .read()
    )
    return body.decode()


def slack_fields(posted: dict[str, Any]) -> dict[str, str]:
    fields = [
        f["text"] for b in posted["blocks"] if b["type"] == "section" for f in b.get("fields", [])
    ]
    return dict(f.split("\n", 1) for f in fields)


def test_a_launch_whose_agent_never_registers_names_its_environment_and_lifecycle_result(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    # Given a group fleetpatch covers, whose instances carry Environment=test
    deployed.auto_scaling_group()
    # When it launches an instance whose SSM agent never registers
    [instance] = deployed.scale_out(Behaviour(never_online=True))
    deployed.cloud.settle(max_seconds=6 * 3600)
    run = deployed.execution_for(instance)["name"]
    assert deployed.lifecycle_result(instance) == "ABANDON"

    # Then the e-mail says where it was and that it was abandoned: subject, attributes, body
    [email] = [m for m in deployed.messages_about(instance) if m["channel"] == "sns"]
    assert email["subject"] == f"launch of {instance}: failed (AgentNeverOnline), abandoned [test]"
    assert email["attributes"] == {
        "kind": "launch",
        "environment": "test",
        "outcome": "failed",
        "lifecycle": "ABANDON",
        "group": GROUP,
        "run": run,
        "report": deployed.report_keys(run)[0],
    }
    body = email["message"]
    assert f"{'Environment:':<19} test\n" in body
    assert f"{'Auto Scaling group:':<19} {GROUP}\n" in body
    assert (
        f"{'Lifecycle result:':<19} ABANDON (terminated; Auto Scaling launches a replacement)\n"
        in body
    )

    # Slack says so too
    [posted] = [p for p in slack.delivered if instance in p["text"]]
    fields = slack_fields(posted)
    assert fields["*Environment*"] == "test"
    assert fields["*Lifecycle*"] == f"ABANDON in `{GROUP}`"

    # and so do the stored report, JSON and HTML
    report = deployed.report(run)
    assert (report["environment"], report["auto_scaling_group"], report["lifecycle_result"]) == (
        "test",
        GROUP,
        "ABANDON",
    )
    html = stored_html(deployed, run)
    assert (
        "<dt>Lifecycle result</dt><dd>ABANDON (terminated; Auto Scaling launches a replacement)</dd>"
        in html
    )
    assert f"<dt>Auto Scaling group</dt><dd>{GROUP}</dd>" in html
    assert "<dt>Environment</dt><dd>test</dd>" in html


def test_an_ec2_launch_whose_agent_never_registers_has_no_lifecycle_result(
    deployed: Deployed,
) -> None:
    # Given a standalone instance tagged for patching on launch, in the test environment
    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch(
        "UBUNTU",
        tags={
            "fleetpatch:patch-on-launch": "true",
            "Patch Group": "patch_test_0600_batch_1",
            "Environment": "test",
        },
        behaviour=Behaviour(never_online=True),
    )
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then its failure is filed under its environment, with no lifecycle result to give
    run = deployed.execution_for(instance)["name"]
    [email] = [m for m in deployed.messages_about(instance) if m["channel"] == "sns"]
    assert email["subject"] == f"launch of {instance}: failed (AgentNeverOnline) [test]"
    assert email["attributes"]["environment"] == "test"
    assert email["attributes"]["lifecycle"] == "none"
    assert "group" not in email["attributes"]
    assert f"{'Auto Scaling group:':<19} -\n" in email["message"]
    assert f"{'Lifecycle result:':<19} none (launched outside Auto Scaling)\n" in email["message"]
    report = deployed.report(run)
    assert (report["environment"], report["auto_scaling_group"], report["lifecycle_result"]) == (
        "test",
        None,
        None,
    )
    assert "<dt>Lifecycle result</dt><dd>none (launched outside Auto Scaling)</dd>" in (
        stored_html(deployed, run)
    )


def test_the_bare_fallback_report_names_the_environment_and_lifecycle_result_too(
    deployed: Deployed,
) -> None:
    # Given the report function failing on every attempt, so the run publishes the bare
    # report itself, and an instance whose agent never registers
    deployed.cloud.faults.crash_once("publish-report", times=3)
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(never_online=True))
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then the bare message is filed under the environment the instance's tags give
    [message] = [m for m in deployed.messages_about(instance) if m["channel"] == "sns"]
    assert message["subject"] == f"launch of {instance}: failed (AgentNeverOnline), abandoned"
    assert message["attributes"] == {
        "kind": "launch",
        "outcome": "failed",
        "environment": "test",
        "lifecycle": "ABANDON",
    }
    assert message["message"]["lifecycleResult"] == "ABANDON"
    assert message["message"]["autoScalingGroup"] == GROUP

"""Launch churn: a deterministic launch failure must not launch, abandon and replace forever.

Under ``on_failure: abandon`` Auto Scaling terminates an abandoned instance and launches a
replacement to meet its desired capacity, which fails for the same reason. The launch
policy's ``churn`` section bounds that: after ``after`` failures in a row in one group,
with the same reason, one escalation is sent instead of one message each, and the group's
Launch process is suspended (or the group is released CONTINUE-and-report, or only
notified). The real template, ASL and handlers on the local cloud, whose Auto Scaling
replaces abandoned instances and honours suspended processes as AWS does.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch.contracts import keys
from localcloud.core.iam.principal import acting_as
from localcloud.runner import create_group
from localcloud.scenario import GroupSpec, LifecycleHookSpec
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import GROUP, HOOK, PATCH_GROUP, Deployed

# Patch Manager reads either key; an instance whose two keys disagree is in no patch group,
# so resolving its target fails the same way on every launch of the group.
CONFLICTING_TAGS = {
    "Patch Group": PATCH_GROUP,
    "PatchGroup": "patch_test_0600_batch_2",
    "Environment": "test",
}


def conflicting_group(deployed: Deployed) -> None:
    create_group(
        deployed.cloud,
        GroupSpec(
            name=GROUP,
            os="AMAZON_LINUX_2023",
            tags=CONFLICTING_TAGS,
            max_size=10,
            lifecycle_hook=LifecycleHookSpec(
                name=HOOK, heartbeat_timeout=1800, default_result="ABANDON"
            ),
        ),
    )


def launches(deployed: Deployed) -> list[str]:
    """The instances the group launched, in order (each held by the launch hook once)."""
    assert deployed.cloud.autoscaling is not None
    return [a.instance_id for a in deployed.cloud.autoscaling.lifecycle_actions if a.group == GROUP]


def suspended(deployed: Deployed) -> list[str]:
    [group] = deployed.cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[GROUP]
    )["AutoScalingGroups"]
    return sorted(p["ProcessName"] for p in group["SuspendedProcesses"])


def launch_emails(deployed: Deployed) -> list[dict[str, Any]]:
    return [
        m
        for m in deployed.messages()
        if m["channel"] == "sns" and m["attributes"].get("kind") == "launch"
    ]


def run_of(deployed: Deployed, instance: str) -> str:
    return str(deployed.execution_for(instance)["name"])


def test_a_churning_group_sends_one_escalation_and_its_launch_is_suspended(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    # Given a group whose instances all carry conflicting patch group tags
    conflicting_group(deployed)
    # When it scales out by one
    deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then each launch was abandoned and replaced until the third failure in a row (the
    # policy's churn.after), when the group's Launch process was suspended: no fourth launch
    first, second, third = launches(deployed)
    assert all(deployed.lifecycle_result(i) == "ABANDON" for i in (first, second, third))
    assert suspended(deployed) == ["Launch"]
    assert all(deployed.execution_for(i)["status"] == "FAILED" for i in (first, second, third))

    # and operators got two messages, not three (nor one per cycle forever): the first
    # failure, then one escalation naming the group, the streak, the reason and the action
    emails = launch_emails(deployed)
    assert [m["subject"] for m in emails] == [
        f"launch of {first}: failed (TargetUnresolved), abandoned [test]",
        f"launch churn in {GROUP}: 3 failed in a row (TargetUnresolved), Launch suspended [test]",
    ]
    escalation = emails[1]
    assert escalation["attributes"]["churn"] == "escalation"
    assert escalation["attributes"]["run"] == run_of(deployed, third)
    body = escalation["message"]
    assert f"Auto Scaling group {GROUP}: 3 launches in a row failed with TargetUnresolved" in body
    assert "ConflictingPatchGroupTagsError" in body
    for instance in (first, second, third):
        assert instance in body
    assert f"aws autoscaling resume-processes --auto-scaling-group-name {GROUP}" in body
    assert [p["text"] for p in slack.delivered] == [m["subject"] for m in emails]

    # Every run is still stored and indexed, the quiet one too, and says where it stands
    quiet = deployed.report(run_of(deployed, second))
    assert quiet["churn"]["streak"] == 2
    assert quiet["churn"]["announced"] is False
    stored = deployed.report(run_of(deployed, third))
    assert stored["churn"]["streak"] == 3
    assert stored["churn"]["action"] == "suspend-launch"
    assert stored["churn"]["instances"] == [first, second, third]


def test_resuming_launch_restarts_launching_and_a_success_resets_the_streak(
    deployed: Deployed,
) -> None:
    # Given a group suspended for churn
    conflicting_group(deployed)
    deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)
    assert suspended(deployed) == ["Launch"]
    assert len(launches(deployed)) == 3
    before = len(launch_emails(deployed))

    # When an operator fixes the tags and resumes Launch
    autoscaling = deployed.cloud.client("autoscaling")
    autoscaling.delete_tags(
        Tags=[
            {
                "ResourceId": GROUP,
                "ResourceType": "auto-scaling-group",
                "Key": "PatchGroup",
            }
        ]
    )
    autoscaling.resume_processes(AutoScalingGroupName=GROUP, ScalingProcesses=["Launch"])
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then the group launched the instance it was missing at once, which was patched and
    # released; its report says it ended the streak, and the streak is gone
    *_, fixed = launches(deployed)
    assert len(launches(deployed)) == 4
    assert deployed.lifecycle_result(fixed) == "CONTINUE"
    assert suspended(deployed) == []
    [released] = launch_emails(deployed)[before:]
    assert released["subject"].startswith(f"launch of {fixed}: patched, ")
    assert released["subject"].endswith(", released [test]")
    report = deployed.report(run_of(deployed, fixed))
    assert report["churn"]["ended_streak"] == 3
    state = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key=keys.churn_key(GROUP),
    )
    assert "Item" not in state


def test_churn_action_continue_releases_the_group_unpatched_and_reports_it(
    deployed: Deployed,
) -> None:
    # Given the launch policy says churn.action: continue (as deployed from fleet.yaml)
    function = deployed.stack.physical_id("PatchOnLaunchFunction")
    spec = deployed.cloud.lambdas.functions[function]
    launch_policy = json.loads(spec.environment["FLEETPATCH_LAUNCH_POLICY"])
    launch_policy["churn"] = {"after": 2, "action": "continue"}
    spec.environment["FLEETPATCH_LAUNCH_POLICY"] = json.dumps(launch_policy)
    conflicting_group(deployed)
    # When a churning group scales out by one
    deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then the second failure in a row was released into service (CONTINUE) with one
    # escalation, and nothing was suspended: the group stopped churning
    first, second = launches(deployed)
    assert deployed.lifecycle_result(first) == "ABANDON"
    assert deployed.lifecycle_result(second) == "CONTINUE"
    assert deployed.group_state(second) == "InService"
    assert suspended(deployed) == []
    assert [m["subject"] for m in launch_emails(deployed)] == [
        f"launch of {first}: failed (TargetUnresolved), abandoned [test]",
        f"launch churn in {GROUP}: 2 failed in a row (TargetUnresolved), released unpatched [test]",
    ]
    assert deployed.report(run_of(deployed, second))["lifecycle_result"] == "CONTINUE"


def test_a_duplicate_outcome_is_counted_once(deployed: Deployed) -> None:
    # Given a churning group, suspended after three failures in a row
    conflicting_group(deployed)
    deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)
    outcomes = [
        i
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("launch-outcome") and i.error_type is None
    ]
    assert len(outcomes) == 3
    # When each outcome is delivered again (a task retried after its answer was lost)
    again = [deployed.cloud.lambdas.invoke(i.function_name, i.event) for i in outcomes]

    # Then each gets the answer it got the first time, and the streak still counts three
    assert [a.result for a in again] == [i.result for i in outcomes]
    state = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key=keys.churn_key(GROUP),
    )["Item"]
    assert state["streak"]["N"] == "3"
    assert len(launches(deployed)) == 3


def test_launch_outcome_may_suspend_only_the_launch_policys_groups(deployed: Deployed) -> None:
    # Given the group the policy patches and one it does not know
    conflicting_group(deployed)
    create_group(deployed.cloud, GroupSpec(name="batch-workers", os="AMAZON_LINUX_2023"))
    role = deployed.cloud.iam.assume(
        deployed.stack.arn("LaunchOutcomeFunctionRole"), "lambda.amazonaws.com"
    )

    def suspend(group: str) -> str:
        with acting_as(role):
            try:
                deployed.cloud.client("autoscaling").suspend_processes(
                    AutoScalingGroupName=group, ScalingProcesses=["Launch"]
                )
            except ClientError as error:
                return str(error.response["Error"]["Code"])
        return "ok"

    # Then launch-outcome may suspend Launch of the first (as it may complete its lifecycle
    # actions), not of the other, and may not resume either (resuming is an operator's)
    deployed.cloud.iam.denials_expected = True
    assert suspend(GROUP) == "ok"
    assert suspend("batch-workers") == "AccessDenied"
    with acting_as(role):
        try:
            deployed.cloud.client("autoscaling").resume_processes(AutoScalingGroupName=GROUP)
            resumed = "ok"
        except ClientError as error:
            resumed = str(error.response["Error"]["Code"])
    assert resumed == "AccessDenied"

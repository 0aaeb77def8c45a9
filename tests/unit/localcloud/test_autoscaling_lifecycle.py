"""Launch lifecycle hooks on the local cloud: Pending:Wait, events, CONTINUE/ABANDON, timeouts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.adapters import autoscaling
from localcloud.adapters.ssm import install as install_fleet
from localcloud.cloud import LocalCloud
from localcloud.sim.autoscaling import AutoScalingSimulator
from localcloud.sim.instances import Behaviour
from tests.conftest import load_event

AMI = "ami-04681a1dbd79675a5"
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"


class EventQueue:
    """An EventBridge rule on the default bus delivering to an SQS queue we read."""

    def __init__(self, cloud: LocalCloud, sources: list[str]) -> None:
        self._sqs = cloud.client("sqs")
        self._url = self._sqs.create_queue(QueueName="observed-events")["QueueUrl"]
        arn = self._sqs.get_queue_attributes(QueueUrl=self._url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        events = cloud.client("events")
        events.put_rule(Name="observe", EventPattern=json.dumps({"source": sources}))
        events.put_targets(Rule="observe", Targets=[{"Id": "queue", "Arn": arn}])

    def drain(self) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while batch := self._sqs.receive_message(QueueUrl=self._url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            received += [json.loads(m["Body"]) for m in batch]
            self._sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
                ],
            )
        return received


def of_type(events: list[dict[str, Any]], detail_type: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail-type"] == detail_type]


def create_group(
    cloud: LocalCloud,
    name: str = "web",
    *,
    desired: int = 0,
    hooks: list[dict[str, Any]] | None = None,
    max_size: int = 5,
) -> None:
    cloud.client("ec2").create_launch_template(
        LaunchTemplateName=f"{name}-template",
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"},
    )
    arguments: dict[str, Any] = {
        "AutoScalingGroupName": name,
        "MinSize": 0,
        "MaxSize": max_size,
        "DesiredCapacity": desired,
        "LaunchTemplate": {"LaunchTemplateName": f"{name}-template"},
        "AvailabilityZones": ["eu-central-1a"],
    }
    if hooks:
        arguments["LifecycleHookSpecificationList"] = hooks
    cloud.client("autoscaling").create_auto_scaling_group(**arguments)


def put_hook(
    cloud: LocalCloud,
    group: str = "web",
    *,
    heartbeat: int = 900,
    default: str = "ABANDON",
    metadata: str | None = '{"patchGroup":"web-prod"}',
) -> None:
    arguments: dict[str, Any] = {
        "AutoScalingGroupName": group,
        "LifecycleHookName": "fleetpatch-launch",
        "LifecycleTransition": LAUNCHING,
        "HeartbeatTimeout": heartbeat,
        "DefaultResult": default,
    }
    if metadata is not None:
        arguments["NotificationMetadata"] = metadata
    cloud.client("autoscaling").put_lifecycle_hook(**arguments)


def states(cloud: LocalCloud) -> dict[str, str]:
    described = cloud.client("autoscaling").describe_auto_scaling_instances()
    return {i["InstanceId"]: i["LifecycleState"] for i in described["AutoScalingInstances"]}


def ec2_state(cloud: LocalCloud, instance_id: str) -> str:
    reservations = cloud.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    # Launch templates name an image; moto's 2,500 stock AMIs would only slow EC2 down.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as running:
        yield running


@pytest.fixture
def asg(cloud: LocalCloud) -> AutoScalingSimulator:
    return autoscaling.install(cloud)


def test_a_launch_hook_holds_a_new_instance_and_emits_the_lifecycle_action(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    # Given a group with a launch hook and a rule that records Auto Scaling and EC2 events
    queue = EventQueue(cloud, ["aws.autoscaling", "aws.ec2"])
    create_group(cloud)
    put_hook(cloud)
    # When the group scales out
    [instance_id] = asg.scale_out("web", 1)
    # Then the instance waits, and once delivered the events are AWS-shaped
    assert states(cloud) == {instance_id: "Pending:Wait"}
    cloud.settle(max_seconds=1)
    events = queue.drain()
    [action] = of_type(events, "EC2 Instance-launch Lifecycle Action")
    fixture = load_event("aws.autoscaling/launch-lifecycle-action")
    assert action["source"] == "aws.autoscaling"
    assert set(action["detail"]) == set(fixture["detail"])
    assert action["detail"] == {
        "LifecycleActionToken": asg.lifecycle_actions[0].token,
        "AutoScalingGroupName": "web",
        "LifecycleHookName": "fleetpatch-launch",
        "EC2InstanceId": instance_id,
        "LifecycleTransition": LAUNCHING,
        "NotificationMetadata": '{"patchGroup":"web-prod"}',
        "Origin": "EC2",
        "Destination": "AutoScalingGroup",
    }
    [group] = cloud.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert action["resources"] == [group["AutoScalingGroupARN"]]
    ec2_states = [
        e["detail"]["state"] for e in of_type(events, "EC2 Instance State-change Notification")
    ]
    assert ec2_states == ["pending", "running"]


def test_continue_puts_the_instance_in_service(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    put_hook(cloud)
    [instance_id] = asg.scale_out("web", 1)
    token = asg.lifecycle_actions[0].token
    # When the control plane completes the action by token
    cloud.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="web",
        LifecycleHookName="fleetpatch-launch",
        LifecycleActionToken=token,
        LifecycleActionResult="CONTINUE",
    )
    # Then it proceeds, and is InService once the clock moves
    assert states(cloud) == {instance_id: "Pending:Proceed"}
    cloud.settle()
    assert states(cloud) == {instance_id: "InService"}
    [record] = [a.as_dict() for a in asg.lifecycle_actions]
    assert record["result"] == "CONTINUE"
    assert record["ended_by"] == "CompleteLifecycleAction"
    assert record["when"] == record["started"]


def test_abandon_terminates_the_instance_and_the_group_replaces_it(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    queue = EventQueue(cloud, ["aws.ec2"])
    create_group(cloud)
    put_hook(cloud)
    [first] = asg.scale_out("web", 1)
    # When the control plane abandons it by instance id
    cloud.client("autoscaling").complete_lifecycle_action(
        AutoScalingGroupName="web",
        LifecycleHookName="fleetpatch-launch",
        InstanceId=first,
        LifecycleActionResult="ABANDON",
    )
    # Then it is terminated and a replacement waits on the hook; capacity is unchanged
    assert ec2_state(cloud, first) == "terminated"
    [replacement] = states(cloud)
    assert replacement != first
    assert states(cloud) == {replacement: "Pending:Wait"}
    [group] = cloud.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert group["DesiredCapacity"] == 1
    cloud.settle(max_seconds=1)
    terminated = [
        e["detail"]["state"] for e in queue.drain() if e["detail"]["instance-id"] == first
    ]
    assert terminated == ["pending", "running", "shutting-down", "terminated"]
    assert [(a.instance_id, a.result) for a in asg.lifecycle_actions] == [
        (first, "ABANDON"),
        (replacement, None),
    ]


def test_a_heartbeat_restarts_the_timeout_and_expiry_applies_the_default_result(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    put_hook(cloud, heartbeat=300, default="ABANDON")
    asg.replacement_budget = 0
    [instance_id] = asg.scale_out("web", 1)
    # Given 250 s of waiting, then a heartbeat
    cloud.advance(250)
    cloud.client("autoscaling").record_lifecycle_action_heartbeat(
        AutoScalingGroupName="web", LifecycleHookName="fleetpatch-launch", InstanceId=instance_id
    )
    # Then the instance still waits 299 s after the heartbeat (549 s after launch)
    cloud.advance(299)
    assert states(cloud) == {instance_id: "Pending:Wait"}
    # And when the restarted timeout elapses, DefaultResult ABANDON applies
    cloud.advance(1)
    assert ec2_state(cloud, instance_id) == "terminated"
    [record] = [a.as_dict() for a in asg.lifecycle_actions]
    assert (record["result"], record["ended_by"], record["heartbeats"]) == (
        "ABANDON",
        "HeartbeatTimeout",
        1,
    )
    assert record["reason"].startswith("HeartbeatTimeout of 300 s elapsed")
    assert "replacement budget of 0" in record["reason"]


def test_the_global_timeout_caps_heartbeats_at_100_times_the_heartbeat_timeout(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    put_hook(cloud, heartbeat=60, default="CONTINUE")
    [hook] = cloud.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName="web")[
        "LifecycleHooks"
    ]
    assert hook["GlobalTimeout"] == 6000
    [instance_id] = asg.scale_out("web", 1)
    client = cloud.client("autoscaling")
    # When someone keeps sending heartbeats every 50 s
    for _ in range(119):
        cloud.advance(50)
        client.record_lifecycle_action_heartbeat(
            AutoScalingGroupName="web",
            LifecycleHookName="fleetpatch-launch",
            InstanceId=instance_id,
        )
    assert states(cloud) == {instance_id: "Pending:Wait"}
    # Then 6000 s after the start the wait ends anyway, with the default result
    cloud.advance(50)
    cloud.settle()
    assert states(cloud) == {instance_id: "InService"}
    assert asg.lifecycle_actions[0].ended_by == "GlobalTimeout"


def test_no_active_action_is_a_validation_error(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    put_hook(cloud)
    [instance_id] = asg.scale_out("web", 1)
    client = cloud.client("autoscaling")
    base = {"AutoScalingGroupName": "web", "LifecycleHookName": "fleetpatch-launch"}
    with pytest.raises(ClientError) as wrong_token:
        client.complete_lifecycle_action(
            **base,
            LifecycleActionToken="3bdbe059-bc0d-400e-bca6-91802e2f5aa4",
            LifecycleActionResult="CONTINUE",
        )
    assert wrong_token.value.response["Error"] == {
        "Type": "Sender",
        "Code": "ValidationError",
        "Message": "No active Lifecycle Action found with token "
        "3bdbe059-bc0d-400e-bca6-91802e2f5aa4",
    }
    with pytest.raises(ClientError, match="No active Lifecycle Action found with instance ID"):
        client.record_lifecycle_action_heartbeat(
            AutoScalingGroupName="web", LifecycleHookName="other-hook", InstanceId=instance_id
        )
    with pytest.raises(ClientError, match="CONTINUE or ABANDON"):
        client.complete_lifecycle_action(
            **base, InstanceId=instance_id, LifecycleActionResult="PROCEED"
        )
    # A completed action cannot be completed again
    client.complete_lifecycle_action(
        **base, InstanceId=instance_id, LifecycleActionResult="CONTINUE"
    )
    with pytest.raises(ClientError, match="ValidationError"):
        client.complete_lifecycle_action(
            **base, InstanceId=instance_id, LifecycleActionResult="CONTINUE"
        )


def test_hooks_given_at_creation_hold_the_initial_capacity(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    # Given hooks in CreateAutoScalingGroup's LifecycleHookSpecificationList
    create_group(
        cloud,
        desired=2,
        hooks=[
            {
                "LifecycleHookName": "fleetpatch-launch",
                "LifecycleTransition": LAUNCHING,
                "HeartbeatTimeout": 600,
                "DefaultResult": "CONTINUE",
                "NotificationMetadata": "initial",
            },
            {"LifecycleHookName": "inventory", "LifecycleTransition": LAUNCHING},
        ],
    )
    # Then both initial instances wait, on both hooks
    assert set(states(cloud).values()) == {"Pending:Wait"}
    assert sorted(a.hook for a in asg.lifecycle_actions) == [
        "fleetpatch-launch",
        "fleetpatch-launch",
        "inventory",
        "inventory",
    ]
    # And an instance goes in service only when every hook said CONTINUE
    client = cloud.client("autoscaling")
    instance_id = asg.lifecycle_actions[0].instance_id
    for hook in ("fleetpatch-launch", "inventory"):
        assert states(cloud)[instance_id] == "Pending:Wait"
        client.complete_lifecycle_action(
            AutoScalingGroupName="web",
            LifecycleHookName=hook,
            InstanceId=instance_id,
            LifecycleActionResult="CONTINUE",
        )
    assert states(cloud)[instance_id] == "Pending:Proceed"
    hooks = client.describe_lifecycle_hooks(AutoScalingGroupName="web")["LifecycleHooks"]
    assert {h["LifecycleHookName"]: h.get("NotificationMetadata") for h in hooks} == {
        "fleetpatch-launch": "initial",
        "inventory": None,
    }


def test_waiting_instances_count_toward_desired_capacity(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    put_hook(cloud)
    asg.scale_out("web", 2)
    # UpdateAutoScalingGroup to the same capacity launches nothing more
    cloud.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", DesiredCapacity=2
    )
    assert list(states(cloud).values()) == ["Pending:Wait", "Pending:Wait"]


def test_without_a_hook_instances_go_in_service_and_emit_ec2_events(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    queue = EventQueue(cloud, ["aws.autoscaling", "aws.ec2"])
    create_group(cloud)
    [instance_id] = asg.scale_out("web", 1)
    assert states(cloud) == {instance_id: "InService"}
    cloud.settle()
    assert [(e["source"], e["detail"]["state"]) for e in queue.drain()] == [
        ("aws.ec2", "pending"),
        ("aws.ec2", "running"),
    ]
    assert asg.lifecycle_actions == []


def test_launch_listeners_learn_each_launch_from_the_groups_template_image(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    launched: list[tuple[str, str, str]] = []

    def record(instance_id: str, group: str) -> None:
        # Called on the clock, so it may use the AWS APIs
        launched.append((instance_id, group, image_of(cloud, instance_id)))

    asg.on_instance_launched(record)
    create_group(cloud)
    put_hook(cloud)
    ids = asg.scale_out("web", 2)
    assert launched == []
    cloud.settle(max_seconds=1)
    assert launched == [(i, "web", AMI) for i in ids]


def image_of(cloud: LocalCloud, instance_id: str) -> str:
    reservations = cloud.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(reservations["Reservations"][0]["Instances"][0]["ImageId"])


def test_replacements_of_abandoned_launches_stop_at_the_budget(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    # Given a hook nobody completes, whose default is ABANDON
    asg.replacement_budget = 2
    create_group(cloud)
    put_hook(cloud, heartbeat=60, default="ABANDON")
    asg.scale_out("web", 1)
    # When time plays out
    cloud.settle()
    # Then the first launch and two replacements were abandoned, and the group gave up
    actions = asg.lifecycle_actions
    assert [a.result for a in actions] == ["ABANDON"] * 3
    assert states(cloud) == {}
    assert actions[-1].reason is not None
    assert "replacement budget of 2 is used up" in actions[-1].reason
    assert cloud.clock.now() == actions[0].started + 3 * (actions[0].expires - actions[0].started)


def test_plain_moto_behaviour_returns_when_the_cloud_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The patches are process-wide; outside a running LocalCloud they act as moto does.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as cloud:
        autoscaling.install(cloud)
    from moto import mock_aws

    with mock_aws():
        import boto3

        client = boto3.client("autoscaling", region_name="eu-central-1")
        boto3.client("ec2", region_name="eu-central-1").create_launch_template(
            LaunchTemplateName="plain-template", LaunchTemplateData={"ImageId": AMI}
        )
        client.create_auto_scaling_group(
            AutoScalingGroupName="plain",
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=0,
            LaunchTemplate={"LaunchTemplateName": "plain-template"},
            AvailabilityZones=["eu-central-1a"],
        )
        client.put_lifecycle_hook(
            AutoScalingGroupName="plain",
            LifecycleHookName="hook",
            LifecycleTransition=LAUNCHING,
        )
        client.set_desired_capacity(AutoScalingGroupName="plain", DesiredCapacity=1)
        [instance] = client.describe_auto_scaling_instances()["AutoScalingInstances"]
        assert instance["LifecycleState"] == "InService"


def test_group_instances_from_a_fleet_image_get_the_behaviour_a_listener_gives(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    # Given the fleet simulator, and a group whose template uses the fleet's image
    fleet = install_fleet(cloud)
    image = fleet.image_id("AMAZON_LINUX_2023")
    cloud.client("ec2").create_launch_template(
        LaunchTemplateName="fleet-template", LaunchTemplateData={"ImageId": image}
    )
    cloud.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="fleet",
        MinSize=0,
        MaxSize=2,
        LaunchTemplate={"LaunchTemplateName": "fleet-template"},
        AvailabilityZones=["eu-central-1a"],
    )
    asg.on_instance_launched(
        lambda instance_id, _group: fleet.set_behaviour(instance_id, Behaviour(never_online=True))
    )
    # When the group launches two instances and time passes
    launched = asg.scale_out("fleet", 2)
    cloud.advance(600)
    # Then the listener's behaviour applied: neither agent ever came online
    managed = cloud.client("ssm").describe_instance_information()["InstanceInformationList"]
    assert managed == []
    assert {fleet.instance(i).behaviour.never_online for i in launched} == {True}


# --- suspended processes --------------------------------------------------------------------
# moto stores SuspendProcesses and launches regardless; AWS launches nothing while Launch is
# suspended and, once it is resumed, "immediately replaces any instances that it terminated
# during the time that Launch was suspended" (EC2 Auto Scaling User Guide, "How suspended
# processes affect other processes").


def suspended(cloud: LocalCloud) -> list[str]:
    [group] = cloud.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    return sorted(p["ProcessName"] for p in group["SuspendedProcesses"])


def test_a_group_whose_launch_is_suspended_does_not_scale_out(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    autoscaling = cloud.client("autoscaling")
    autoscaling.suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    # SetDesiredCapacity is accepted, but nothing is launched
    assert asg.scale_out("web", 2) == []
    [group] = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert (group["DesiredCapacity"], group["Instances"]) == (2, [])
    assert suspended(cloud) == ["Launch"]
    # Resuming Launch launches what the group is missing, at once
    autoscaling.resume_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    assert len(states(cloud)) == 2
    assert suspended(cloud) == []


def test_an_abandoned_instance_is_replaced_only_once_launch_is_resumed(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud)
    put_hook(cloud)
    [first] = asg.scale_out("web", 1)
    autoscaling = cloud.client("autoscaling")
    autoscaling.suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    # When the instance is abandoned while Launch is suspended
    autoscaling.complete_lifecycle_action(
        AutoScalingGroupName="web",
        LifecycleHookName="fleetpatch-launch",
        InstanceId=first,
        LifecycleActionResult="ABANDON",
    )
    # Then it is terminated and not replaced, and the action says why
    assert ec2_state(cloud, first) == "terminated"
    assert states(cloud) == {}
    [action] = asg.lifecycle_actions
    assert action.reason is not None
    assert "Launch process is suspended" in action.reason
    # Suspending another process changes nothing; resuming every process (no list) launches
    autoscaling.suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["AZRebalance"])
    assert states(cloud) == {}
    autoscaling.resume_processes(AutoScalingGroupName="web")
    [replacement] = states(cloud)
    assert states(cloud) == {replacement: "Pending:Wait"}

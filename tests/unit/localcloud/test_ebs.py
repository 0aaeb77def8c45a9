"""EBS on the local cloud: snapshots on simulated time, and rolling a root volume back from
one (CreateReplaceRootVolumeTask), through boto3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.sim.ebs import SNAPSHOT_SECONDS, SNAPSHOTS_COMPLETED, TASK_PENDING_SECONDS
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import Behaviour
from tests.unit.localcloud.test_ssm_run_command import patch_state, patches, ready, send

NO_REBOOT = {"Operation": ["Install"], "RebootOption": ["NoReboot"]}
RUN_TAG = [{"ResourceType": "snapshot", "Tags": [{"Key": "fleetpatch:run", "Value": "r1"}]}]


@pytest.fixture
def fleet() -> Iterator[FleetSimulator]:
    with LocalCloud() as cloud:
        assert cloud.fleet is not None
        yield cloud.fleet


def snapshot_instance(fleet: FleetSimulator, instance: str) -> str:
    ec2 = fleet.cloud.client("ec2")
    [snapshot] = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": instance}, TagSpecifications=RUN_TAG
    )["Snapshots"]
    fleet.cloud.advance(SNAPSHOT_SECONDS)
    return str(snapshot["SnapshotId"])


def replace_root(fleet: FleetSimulator, instance: str, snapshot: str, **kwargs: Any) -> str:
    task = fleet.cloud.client("ec2").create_replace_root_volume_task(
        InstanceId=instance, SnapshotId=snapshot, **kwargs
    )["ReplaceRootVolumeTask"]
    return str(task["ReplaceRootVolumeTaskId"])


def task_state(fleet: FleetSimulator, task_id: str) -> str:
    [task] = fleet.cloud.client("ec2").describe_replace_root_volume_tasks(
        ReplaceRootVolumeTaskIds=[task_id]
    )["ReplaceRootVolumeTasks"]
    return str(task["TaskState"])


def healthy(fleet: FleetSimulator, instance_id: str) -> bool:
    return fleet.instance(instance_id).app_healthy(fleet.clock.now())


def ec2_events(cloud: LocalCloud) -> Any:
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName="ec2-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="ec2-events", EventPattern=json.dumps({"source": ["aws.ec2"]}))
    events.put_targets(Rule="ec2-events", Targets=[{"Id": "q", "Arn": arn}])
    return lambda: [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    ]


# --- snapshots ----------------------------------------------------------------------------------


def test_snapshots_are_pending_then_completed_tagged_and_found_by_tag(
    fleet: FleetSimulator,
) -> None:
    read_events = ec2_events(fleet.cloud)
    [instance] = ready(fleet)
    ec2 = fleet.cloud.client("ec2")
    started = fleet.clock.now()
    [created] = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": instance}, TagSpecifications=RUN_TAG
    )["Snapshots"]
    assert (created["State"], created["Progress"]) == ("pending", "0%")
    assert created["Tags"] == [{"Key": "fleetpatch:run", "Value": "r1"}]
    assert created["StartTime"] == started
    by_tag = [{"Name": "tag:fleetpatch:run", "Values": ["r1"]}]
    fleet.cloud.advance(SNAPSHOT_SECONDS / 2)
    [half] = ec2.describe_snapshots(Filters=by_tag)["Snapshots"]
    assert (half["SnapshotId"], half["State"], half["Progress"]) == (
        created["SnapshotId"],
        "pending",
        "50%",
    )
    assert (
        ec2.describe_snapshots(Filters=[{"Name": "tag:fleetpatch:run", "Values": ["r2"]}])[
            "Snapshots"
        ]
        == []
    )
    fleet.cloud.settle()
    [done] = ec2.describe_snapshots(SnapshotIds=[created["SnapshotId"]])["Snapshots"]
    assert (done["State"], done["Progress"]) == ("completed", "100%")
    [event] = [e for e in read_events() if e["detail-type"] == SNAPSHOTS_COMPLETED]
    assert event["detail"]["event"] == "createSnapshots"
    assert event["detail"]["result"] == "succeeded"
    assert [s["status"] for s in event["detail"]["snapshots"]] == ["completed"]
    assert event["resources"] == [
        f"arn:aws:ec2:{fleet.cloud.region}::snapshot/{created['SnapshotId']}"
    ]
    ec2.delete_snapshot(SnapshotId=created["SnapshotId"])
    assert ec2.describe_snapshots(Filters=by_tag)["Snapshots"] == []
    with pytest.raises(ec2.exceptions.ClientError) as caught:
        ec2.delete_snapshot(SnapshotId=created["SnapshotId"])
    assert caught.value.response["Error"]["Code"] == "InvalidSnapshot.NotFound"


# --- replacing the root volume ------------------------------------------------------------------


def test_rollback_restores_the_patch_state_and_the_application(fleet: FleetSimulator) -> None:
    # Given an instance whose application breaks after a patch and a reboot
    [instance] = ready(fleet, behaviour=Behaviour(unhealthy_after_reboot=True, reboot_seconds=60))
    send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    fleet.cloud.settle()
    before = patch_state(fleet, instance)
    missing = patches(fleet, instance, "Missing")
    snapshot = snapshot_instance(fleet, instance)
    send(fleet, InstanceIds=[instance])  # Install, RebootIfNeeded
    fleet.cloud.settle()
    assert patch_state(fleet, instance)["MissingCount"] == 0
    assert not healthy(fleet, instance)
    # When its root volume is replaced from the snapshot taken before the install
    task_id = replace_root(
        fleet,
        instance,
        snapshot,
        ClientToken="rollback-1",
        TagSpecifications=[
            {"ResourceType": "replace-root-volume-task", "Tags": [{"Key": "k", "Value": "v"}]}
        ],
    )
    assert task_state(fleet, task_id) == "pending"
    fleet.cloud.advance(TASK_PENDING_SECONDS + 1)
    # Then the instance reboots during the task
    assert task_state(fleet, task_id) == "in-progress"
    ssm = fleet.cloud.client("ssm")
    assert ssm.describe_instance_information()["InstanceInformationList"][0]["PingStatus"] == (
        "ConnectionLost"
    )
    fleet.cloud.settle()
    [task] = fleet.cloud.client("ec2").describe_replace_root_volume_tasks(
        Filters=[{"Name": "instance-id", "Values": [instance]}]
    )["ReplaceRootVolumeTasks"]
    assert (task["TaskState"], task["SnapshotId"], task["Tags"]) == (
        "succeeded",
        snapshot,
        [{"Key": "k", "Value": "v"}],
    )
    assert "CompleteTime" in task
    # and comes back as it was: the patches installed after the snapshot are gone
    assert healthy(fleet, instance)
    after = patch_state(fleet, instance)
    assert (after["Operation"], after["MissingCount"]) == ("Scan", before["MissingCount"])
    send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    fleet.cloud.settle()
    assert patches(fleet, instance, "Missing") == missing
    # and a retried request (same client token) is the same task
    assert replace_root(fleet, instance, snapshot, ClientToken="rollback-1") == task_id


def test_a_snapshot_taken_after_the_install_brings_the_fault_back(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(unhealthy_after_reboot=True))
    send(fleet, InstanceIds=[instance], Parameters=NO_REBOOT)
    fleet.cloud.settle()
    snapshot = snapshot_instance(fleet, instance)  # the patch is on it already
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.settle()
    assert not healthy(fleet, instance)
    task_id = replace_root(fleet, instance, snapshot)
    fleet.cloud.settle()
    assert task_state(fleet, task_id) == "succeeded"
    assert not healthy(fleet, instance)


def test_rollback_fails_leaves_the_instance_as_it_was(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(unhealthy_after_reboot=True, rollback_fails=True))
    snapshot = snapshot_instance(fleet, instance)
    send(fleet, InstanceIds=[instance])
    fleet.cloud.settle()
    installed = patch_state(fleet, instance)["InstalledCount"]
    task_id = replace_root(fleet, instance, snapshot)
    fleet.cloud.advance(TASK_PENDING_SECONDS + 60 + 1)  # pending, then the reboot
    assert task_state(fleet, task_id) == "failing"
    fleet.cloud.settle()
    assert task_state(fleet, task_id) == "failed"
    assert not healthy(fleet, instance)
    assert patch_state(fleet, instance)["InstalledCount"] == installed


def error_code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(Exception) as caught:  # noqa: PT011 - a ClientError of any code
        call(**kwargs)
    return str(caught.value.response["Error"]["Code"])  # type: ignore[attr-defined]


def test_replace_root_volume_is_validated_as_ec2_validates_it(fleet: FleetSimulator) -> None:
    [instance, other] = ready(fleet, count=2)
    ec2 = fleet.cloud.client("ec2")
    snapshot = snapshot_instance(fleet, instance)
    foreign = snapshot_instance(fleet, other)
    volume = ec2.create_volume(Size=8, AvailabilityZone=f"{fleet.cloud.region}a")["VolumeId"]
    data = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    [pending] = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})["Snapshots"]
    call = ec2.create_replace_root_volume_task
    assert error_code(call, InstanceId="i-0123456789abcdef0", SnapshotId=snapshot) == (
        "InvalidInstanceID.NotFound"
    )
    assert error_code(call, InstanceId=instance, SnapshotId="snap-0123456789abcdef0") == (
        "InvalidSnapshot.NotFound"
    )
    assert error_code(call, InstanceId=instance, SnapshotId=foreign) == "InvalidParameterValue"
    assert error_code(call, InstanceId=instance, SnapshotId=data) == "InvalidParameterValue"
    assert error_code(call, InstanceId=instance, SnapshotId=pending["SnapshotId"]) == (
        "IncorrectState"
    )
    assert error_code(call, InstanceId=instance, SnapshotId=snapshot, ImageId="ami-12345678") == (
        "InvalidParameterCombination"
    )
    ec2.stop_instances(InstanceIds=[instance])
    assert error_code(call, InstanceId=instance, SnapshotId=snapshot) == "IncorrectInstanceState"
    assert ec2.describe_replace_root_volume_tasks()["ReplaceRootVolumeTasks"] == []

"""IAM on the EC2 and EBS calls of the instance health model: reboots, snapshots (and tagging
them at creation), root volume replacement, snapshot deletion by tag, and the Describe calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.core.iam.principal import Principal, acting_as
from localcloud.sim.ebs import SNAPSHOT_SECONDS
from tests.unit.localcloud.test_iam_enforcement import error_of, role

ACCOUNT, REGION = "123456789012", "eu-central-1"
INSTANCES = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"
VOLUMES = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/*"
SNAPSHOTS = f"arn:aws:ec2:{REGION}::snapshot/*"
TASKS = f"arn:aws:ec2:{REGION}:{ACCOUNT}:replace-root-volume-task/*"
RUN_TAGS = [{"ResourceType": "snapshot", "Tags": [{"Key": "fleetpatch:run", "Value": "r1"}]}]


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        running.iam.denials_expected = True
        yield running


def allow(action: str | list[str], *resources: str, **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": list(resources)}
    if condition:
        statement["Condition"] = condition
    return statement


def launch(cloud: LocalCloud, **tags: str) -> str:
    assert cloud.fleet is not None
    [instance] = cloud.fleet.launch("AMAZON_LINUX_2", tags=tags)
    cloud.settle()
    return instance


def test_an_unprivileged_role_is_refused_every_call(cloud: LocalCloud) -> None:
    instance = launch(cloud)
    ec2 = cloud.client("ec2")
    [snapshot] = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})["Snapshots"]
    nobody = role(cloud, "nobody")
    calls: list[tuple[Any, dict[str, Any], str]] = [
        (ec2.reboot_instances, {"InstanceIds": [instance]}, "ec2:RebootInstances"),
        (
            ec2.create_snapshots,
            {"InstanceSpecification": {"InstanceId": instance}},
            "ec2:CreateSnapshots",
        ),
        (
            ec2.create_replace_root_volume_task,
            {"InstanceId": instance, "SnapshotId": snapshot["SnapshotId"]},
            "ec2:CreateReplaceRootVolumeTask",
        ),
        (ec2.delete_snapshot, {"SnapshotId": snapshot["SnapshotId"]}, "ec2:DeleteSnapshot"),
        (ec2.describe_instance_status, {"InstanceIds": [instance]}, "ec2:DescribeInstanceStatus"),
        (ec2.describe_snapshots, {}, "ec2:DescribeSnapshots"),
        (ec2.describe_replace_root_volume_tasks, {}, "ec2:DescribeReplaceRootVolumeTasks"),
    ]
    with acting_as(nobody):
        for call, params, action in calls:
            error = error_of(call, **params)
            assert error["Code"] == "UnauthorizedOperation", action
            assert action in error["Message"], action
    assert cloud.fleet is not None
    assert cloud.fleet.instance(instance).reboots == []  # refused before it reached EC2


def test_reboot_is_authorized_per_instance_and_its_tags(cloud: LocalCloud) -> None:
    web, db = launch(cloud, tier="web"), launch(cloud, tier="db")
    rebooter = role(
        cloud,
        "rebooter",
        allow("ec2:RebootInstances", INSTANCES, StringEquals={"aws:ResourceTag/tier": "web"}),
    )
    ec2 = cloud.client("ec2")
    with acting_as(rebooter):
        ec2.reboot_instances(InstanceIds=[web])
        error = error_of(ec2.reboot_instances, InstanceIds=[web, db])
    assert f"instance/{db}" in error["Message"]
    assert cloud.fleet is not None
    assert len(cloud.fleet.instance(web).reboots) == 1
    assert cloud.fleet.instance(db).reboots == []


def snapshotter(cloud: LocalCloud, *extra: dict[str, Any]) -> Principal:
    return role(
        cloud,
        f"snapshotter-{len(extra)}",
        allow("ec2:CreateSnapshots", INSTANCES, VOLUMES, SNAPSHOTS),
        *extra,
    )


def test_tagging_snapshots_at_creation_needs_create_tags_for_create_snapshots(
    cloud: LocalCloud,
) -> None:
    instance = launch(cloud)
    ec2 = cloud.client("ec2")
    bare = snapshotter(cloud)
    with acting_as(bare):
        ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})
        error = error_of(
            ec2.create_snapshots,
            InstanceSpecification={"InstanceId": instance},
            TagSpecifications=RUN_TAGS,
        )
    assert "ec2:CreateTags" in error["Message"]
    tagging = snapshotter(
        cloud,
        allow(
            "ec2:CreateTags",
            SNAPSHOTS,
            StringEquals={"ec2:CreateAction": "CreateSnapshots"},
        ),
    )
    with acting_as(tagging):
        [created] = ec2.create_snapshots(
            InstanceSpecification={"InstanceId": instance}, TagSpecifications=RUN_TAGS
        )["Snapshots"]
    assert created["Tags"] == RUN_TAGS[0]["Tags"]


def test_create_snapshots_names_the_instances_volumes(cloud: LocalCloud) -> None:
    instance = launch(cloud)
    no_volumes = role(cloud, "no-volumes", allow("ec2:CreateSnapshots", INSTANCES, SNAPSHOTS))
    with acting_as(no_volumes):
        error = error_of(
            cloud.client("ec2").create_snapshots, InstanceSpecification={"InstanceId": instance}
        )
    assert ":volume/vol-" in error["Message"]


def test_delete_snapshot_by_run_tag_and_describe_on_star(cloud: LocalCloud) -> None:
    instance = launch(cloud)
    ec2 = cloud.client("ec2")
    [tagged] = ec2.create_snapshots(
        InstanceSpecification={"InstanceId": instance}, TagSpecifications=RUN_TAGS
    )["Snapshots"]
    [untagged] = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})["Snapshots"]
    cleaner = role(
        cloud,
        "cleaner",
        allow("ec2:DeleteSnapshot", SNAPSHOTS, Null={"aws:ResourceTag/fleetpatch:run": "false"}),
        allow("ec2:DescribeSnapshots", "*"),
    )
    with acting_as(cleaner):
        ec2.delete_snapshot(SnapshotId=tagged["SnapshotId"])
        error = error_of(ec2.delete_snapshot, SnapshotId=untagged["SnapshotId"])
        ids = [tagged["SnapshotId"], untagged["SnapshotId"]]
        remaining = ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": ids}])[
            "Snapshots"
        ]
    assert error["Code"] == "UnauthorizedOperation"
    assert [s["SnapshotId"] for s in remaining] == [untagged["SnapshotId"]]


def test_replace_root_volume_needs_the_task_the_new_volume_and_tagging(
    cloud: LocalCloud,
) -> None:
    instance = launch(cloud)
    ec2 = cloud.client("ec2")
    [snapshot] = ec2.create_snapshots(InstanceSpecification={"InstanceId": instance})["Snapshots"]
    cloud.advance(SNAPSHOT_SECONDS)
    request = {
        "InstanceId": instance,
        "SnapshotId": snapshot["SnapshotId"],
        "TagSpecifications": [
            {
                "ResourceType": "replace-root-volume-task",
                "Tags": [{"Key": "fleetpatch:run", "Value": "r1"}],
            }
        ],
    }
    action = "ec2:CreateReplaceRootVolumeTask"
    without_task = role(cloud, "without-task", allow(action, INSTANCES, SNAPSHOTS, VOLUMES))
    with acting_as(without_task):
        error = error_of(ec2.create_replace_root_volume_task, **request)
    assert ":replace-root-volume-task/*" in error["Message"]
    without_tags = role(cloud, "without-tags", allow(action, INSTANCES, SNAPSHOTS, VOLUMES, TASKS))
    with acting_as(without_tags):
        error = error_of(ec2.create_replace_root_volume_task, **request)
    assert "ec2:CreateTags" in error["Message"]
    rollback = role(
        cloud,
        "rollback",
        allow(action, INSTANCES, SNAPSHOTS, VOLUMES, TASKS),
        allow(
            "ec2:CreateTags",
            TASKS,
            StringEquals={"ec2:CreateAction": "CreateReplaceRootVolumeTask"},
        ),
    )
    with acting_as(rollback):
        task = ec2.create_replace_root_volume_task(**request)["ReplaceRootVolumeTask"]
    assert task["TaskState"] == "pending"

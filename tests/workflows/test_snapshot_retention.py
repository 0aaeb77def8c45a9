"""Snapshot retention on the real template: the daily schedule deletes only what expired.

patch-serving-instance tags each snapshot it takes (fleetpatch.contracts.tags); here the
test takes them itself, with ``CreateSnapshots`` on a fleet instance as the Snapshot state
does, so each case's delete-after is chosen. The template's EventBridge Scheduler schedule
fires a day after the deploy and invokes snapshot-retention asynchronously, as its role.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch.contracts.tags import DELETE_AFTER_TAG, INSTANCE_TAG, RUN_TAG, STAGE_TAG
from localcloud.core.iam.principal import acting_as
from tests.workflows.conftest import Deployed

STAGE = "default"  # the template's default Stage


def take_snapshots(deployed: Deployed, instance: str, stage: str, delete_after: str) -> list[str]:
    """One CreateSnapshots call of every volume of the instance, tagged as a serving run does."""
    tags = {
        STAGE_TAG: stage,
        RUN_TAG: "manual-web-20261107T040000Z",
        INSTANCE_TAG: instance,
        DELETE_AFTER_TAG: delete_after,
    }
    created = deployed.cloud.client("ec2").create_snapshots(
        InstanceSpecification={"InstanceId": instance, "ExcludeBootVolume": False},
        TagSpecifications=[
            {
                "ResourceType": "snapshot",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ],
    )
    return [s["SnapshotId"] for s in created["Snapshots"]]


def iso(moment: datetime) -> str:
    """What the ASL writes: JSONata's $fromMillis."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def snapshots_left(deployed: Deployed) -> set[str]:
    found = deployed.cloud.client("ec2").describe_snapshots(OwnerIds=["self"])["Snapshots"]
    return {s["SnapshotId"] for s in found}


def runs(deployed: Deployed) -> list[Any]:
    function = deployed.stack.outputs["SnapshotRetentionFunctionName"]
    return [i for i in deployed.cloud.lambdas.invocations if i.function_name == function]


def test_the_daily_run_deletes_only_this_stages_expired_snapshots(deployed: Deployed) -> None:
    # Given snapshots of a fleet instance: due in 12 hours, due in 3 days, with a tag that
    # is no timestamp, and another stage's due in 12 hours
    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch("AMAZON_LINUX_2023", tags={"Patch Group": "web"})
    now = deployed.cloud.clock.now()
    expiring = take_snapshots(deployed, instance, STAGE, iso(now + timedelta(hours=12)))
    kept = take_snapshots(deployed, instance, STAGE, iso(now + timedelta(days=3)))
    malformed = take_snapshots(deployed, instance, STAGE, "in a week")
    other_stage = take_snapshots(deployed, instance, "prod", iso(now + timedelta(hours=12)))
    deployed.cloud.settle()
    assert not runs(deployed)  # the schedule recurs for ever: settling does not wait a day

    # When a day passes: the schedule fires once and the function runs as its role
    deployed.cloud.advance(24 * 3600 + 60)
    deployed.cloud.settle()

    # Then only this stage's expired snapshots are gone
    left = snapshots_left(deployed)
    assert not set(expiring) & left
    assert {*kept, *malformed, *other_stage} <= left
    [run] = runs(deployed)
    assert run.asynchronous
    assert run.error_type is None, run.error_message
    assert (run.result["deleted"], run.result["kept"]) == (len(expiring), len(kept))
    assert [m["snapshot"] for m in run.result["malformed_snapshots"]] == malformed
    assert deployed.cloud.scheduler is not None
    [firing] = [f for f in deployed.cloud.scheduler.firings if "snapshot-retention" in f.schedule]
    assert firing.error is None

    # And a second day deletes nothing more (idempotent; nothing else has expired)
    deployed.cloud.advance(24 * 3600)
    deployed.cloud.settle()
    assert snapshots_left(deployed) == left
    assert [r.result["deleted"] for r in runs(deployed)] == [len(expiring), 0]


def test_its_role_may_not_delete_another_stages_snapshot(deployed: Deployed) -> None:
    # Given an expired snapshot of another stage, and one of this stage
    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch("AMAZON_LINUX_2023", tags={"Patch Group": "web"})
    past = iso(deployed.cloud.clock.now() - timedelta(days=1))
    [other] = take_snapshots(deployed, instance, "prod", past)
    [own] = take_snapshots(deployed, instance, STAGE, past)
    role = deployed.cloud.iam.assume(
        deployed.stack.arn("SnapshotRetentionFunctionRole"), "lambda.amazonaws.com"
    )
    ec2 = deployed.cloud.client("ec2")
    deployed.cloud.iam.denials_expected = True

    # When the function's role deletes them
    with acting_as(role):
        try:
            ec2.delete_snapshot(SnapshotId=other)
            refused = ""
        except ClientError as error:
            refused = str(error.response["Error"]["Code"])
        ec2.delete_snapshot(SnapshotId=own)

    # Then IAM refuses the other stage's (the condition on its fleetpatch:stage tag)
    assert refused == "UnauthorizedOperation"
    assert other in snapshots_left(deployed)
    assert own not in snapshots_left(deployed)
    [denied] = [d for d in deployed.cloud.iam.denials() if d.action == "ec2:DeleteSnapshot"]
    assert other in denied.resource

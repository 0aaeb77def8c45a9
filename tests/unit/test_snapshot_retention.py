"""Snapshot retention: the rule (which snapshots may go) and the sweep on moto.

The rule is pure (``fleetpatch.snapshots``); the sweep (``fleetpatch.services.snapshots``)
lists the account's own snapshots of the stage, deletes the expired ones and reports the
ones it must keep: in use by an AMI, or with a delete-after tag it cannot read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch import clock
from fleetpatch.contracts.tags import DELETE_AFTER_TAG, INSTANCE_TAG, RUN_TAG, STAGE_TAG
from fleetpatch.services.snapshots import sweep
from fleetpatch.snapshots import delete_after, judge
from fleetpatch.snapshots_aws import delete_snapshot

NOW = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
REGION = "eu-central-1"
STAGE = "test"


# --- the rule -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # What the ASL writes: JSONata's $fromMillis, milliseconds and Z.
        ("2026-11-14T04:00:00.000Z", datetime(2026, 11, 14, 4, 0, tzinfo=UTC)),
        ("2026-11-14T04:00:00Z", datetime(2026, 11, 14, 4, 0, tzinfo=UTC)),
        ("2026-11-14T06:00:00+02:00", datetime(2026, 11, 14, 4, 0, tzinfo=UTC)),
    ],
)
def test_delete_after_reads_iso_8601_utc(value: str, expected: datetime) -> None:
    assert delete_after(value) == expected


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "no fleetpatch:delete-after tag"),
        ("", "no fleetpatch:delete-after tag"),
        ("next tuesday", "is not an ISO 8601 timestamp"),
        ("2026-13-01T00:00:00Z", "is not an ISO 8601 timestamp"),
        ("1763528400000", "is not an ISO 8601 timestamp"),
        ("2026-11-14T04:00:00", "has no time zone"),
    ],
)
def test_a_malformed_delete_after_is_refused_with_its_reason(value: str | None, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        delete_after(value)


def test_a_snapshot_is_deleted_only_once_its_delete_after_is_past() -> None:
    tags = {DELETE_AFTER_TAG: "2026-11-21T05:00:00.000Z"}
    # Given the retention ends exactly now: not yet past
    assert judge("snap-1", tags, NOW).decision == "keep"
    # Then a millisecond later it is
    later = judge("snap-1", tags, NOW + timedelta(milliseconds=1))
    assert later.decision == "delete"
    assert later.delete_after == NOW
    assert judge("snap-1", tags, NOW - timedelta(days=3)).decision == "keep"


@pytest.mark.parametrize("tags", [{}, {DELETE_AFTER_TAG: "soon"}, {DELETE_AFTER_TAG: "2020-01-01"}])
def test_a_malformed_tag_keeps_the_snapshot_however_old(tags: dict[str, str]) -> None:
    verdict = judge("snap-1", tags, NOW + timedelta(days=10_000))
    assert verdict.decision == "malformed"
    assert verdict.delete_after is None
    assert DELETE_AFTER_TAG in verdict.reason


# --- the sweep on moto -----------------------------------------------------------------------


@pytest.fixture
def ec2(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    # moto's stock AMIs come with snapshots of their own (and cost seconds to load).
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    clock.use(NOW.timestamp)
    try:
        with mock_aws():
            yield boto3.client("ec2", region_name=REGION)
    finally:
        clock.use(None)


def volume(ec2: Any) -> str:
    return str(ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"])


def snapshot(ec2: Any, stage: str | None, delete_after: str | None) -> str:
    tags = {RUN_TAG: "manual-web-20261101T000000Z", INSTANCE_TAG: "i-0a1b2c3d4e5f60718"}
    if stage is not None:
        tags[STAGE_TAG] = stage
    if delete_after is not None:
        tags[DELETE_AFTER_TAG] = delete_after
    return str(
        ec2.create_snapshot(
            VolumeId=volume(ec2),
            TagSpecifications=[
                {
                    "ResourceType": "snapshot",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )["SnapshotId"]
    )


def existing(ec2: Any) -> set[str]:
    return {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def test_the_sweep_deletes_only_this_stages_expired_snapshots(ec2: Any) -> None:
    # Given snapshots of this stage past and before their retention, one with a bad tag,
    # and an expired one of another stage and one of nobody's
    expired = [snapshot(ec2, STAGE, iso(NOW - timedelta(days=d))) for d in (1, 30)]
    current = snapshot(ec2, STAGE, iso(NOW + timedelta(days=2)))
    malformed = snapshot(ec2, STAGE, "in a week")
    other_stage = snapshot(ec2, "prod", iso(NOW - timedelta(days=1)))
    untagged = snapshot(ec2, None, iso(NOW - timedelta(days=1)))

    # When the sweep runs
    result = sweep(STAGE, client=lambda service: ec2)

    # Then only the expired ones of this stage are gone; the malformed one is reported
    # (moto's own AMI snapshots are there too, and untouched)
    created = {*expired, current, malformed, other_stage, untagged}
    assert existing(ec2) & created == {current, malformed, other_stage, untagged}
    assert not set(expired) & existing(ec2)
    assert (result["examined"], result["deleted"], result["kept"]) == (4, 2, 1)
    assert (result["gone"], result["in_use"], result["malformed"]) == (0, 0, 1)
    [bad] = result["malformed_snapshots"]
    assert bad["snapshot"] == malformed
    assert "is not an ISO 8601 timestamp" in bad["reason"]


def test_a_second_sweep_does_nothing(ec2: Any) -> None:
    snapshot(ec2, STAGE, iso(NOW - timedelta(days=1)))
    assert sweep(STAGE, client=lambda service: ec2)["deleted"] == 1
    again = sweep(STAGE, client=lambda service: ec2)
    assert (again["examined"], again["deleted"]) == (0, 0)


def test_a_snapshot_already_gone_counts_as_gone(ec2: Any) -> None:
    # Given a snapshot listed, then deleted by someone else before the sweep deletes it
    gone = snapshot(ec2, STAGE, iso(NOW - timedelta(days=1)))

    class DeletedMeanwhile:
        def __getattr__(self, name: str) -> Any:
            return getattr(ec2, name)

        def delete_snapshot(self, **kwargs: Any) -> Any:
            ec2.delete_snapshot(**kwargs)
            return ec2.delete_snapshot(**kwargs)  # the sweep's own call: NotFound

    result = sweep(STAGE, client=lambda service: DeletedMeanwhile())

    assert (result["deleted"], result["gone"]) == (0, 1)
    assert gone not in existing(ec2)


def test_a_snapshot_an_ami_uses_is_kept_and_reported(ec2: Any) -> None:
    # Given an image made of an instance: its snapshot carries this stage's expired tags
    instance = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)["Instances"][0]
    image = ec2.create_image(InstanceId=instance["InstanceId"], Name="golden")["ImageId"]
    [mapping] = ec2.describe_images(ImageIds=[image])["Images"][0]["BlockDeviceMappings"]
    used = mapping["Ebs"]["SnapshotId"]
    ec2.create_tags(
        Resources=[used],
        Tags=[
            {"Key": STAGE_TAG, "Value": STAGE},
            {"Key": DELETE_AFTER_TAG, "Value": iso(NOW - timedelta(days=1))},
        ],
    )

    result = sweep(STAGE, client=lambda service: ec2)

    assert used in existing(ec2)
    assert (result["deleted"], result["in_use"]) == (0, 1)
    [reported] = result["in_use_snapshots"]
    assert reported["snapshot"] == used
    assert "AMI" in reported["reason"]


def test_other_errors_are_not_swallowed() -> None:
    class Denied:
        def delete_snapshot(self, **kwargs: Any) -> Any:
            raise ClientError(
                {"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "DeleteSnapshot"
            )

    with pytest.raises(ClientError, match="UnauthorizedOperation"):
        delete_snapshot(Denied(), "snap-0123456789abcdef0")

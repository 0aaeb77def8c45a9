"""Snapshot retention's AWS conversation: the stage's own snapshots, and deleting one.

Facts this relies on (Amazon EC2 API reference, DescribeSnapshots and DeleteSnapshot,
https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteSnapshot.html, and its
error codes, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):

* ``OwnerIds=["self"]`` lists the account's own snapshots only (not those shared with it,
  which it could not delete anyway); ``tag:<key>`` filters on a tag's value. The answer is
  paginated (``NextToken``).
* DeleteSnapshot of a snapshot that no longer exists fails ``InvalidSnapshot.NotFound``; of
  a snapshot an AMI uses (a registered image's block device), ``InvalidSnapshot.InUse``:
  the image must be deregistered first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from botocore.exceptions import ClientError

from fleetpatch.contracts.tags import STAGE_TAG

Deleted = Literal["deleted", "gone", "in-use"]


def stage_snapshots(ec2: Any, stage: str) -> Iterator[tuple[str, dict[str, str]]]:
    """The account's own snapshots tagged with ``stage``: (snapshot id, its tags)."""
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{STAGE_TAG}", "Values": [stage]}]
    )
    for page in pages:
        for snapshot in page["Snapshots"]:
            tags = {tag["Key"]: tag["Value"] for tag in snapshot.get("Tags", [])}
            yield str(snapshot["SnapshotId"]), tags


def delete_snapshot(ec2: Any, snapshot_id: str) -> Deleted:
    """Delete it; a snapshot already gone is fine, one an AMI uses stays (``in-use``)."""
    try:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "InvalidSnapshot.NotFound":
            return "gone"
        if code == "InvalidSnapshot.InUse":
            return "in-use"
        raise
    return "deleted"

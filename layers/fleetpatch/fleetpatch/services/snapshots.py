"""Snapshot retention: delete the stage's snapshots whose retention has ended.

The snapshot-retention function runs daily (an EventBridge Scheduler schedule). It lists
the account's own snapshots tagged with this stage (``fleetpatch.snapshots_aws``) and
deletes those whose ``fleetpatch:delete-after`` has passed (``fleetpatch.snapshots``).
Idempotent: a second run finds nothing left to do, and a snapshot deleted meanwhile (by an
operator, or by a run retried after a partial failure) counts as ``gone``. A snapshot an
AMI still uses is kept and reported (``in_use_snapshots``), and so is one whose
delete-after tag is malformed (``malformed_snapshots``): neither is deleted by guess.
"""

from __future__ import annotations

import logging
from typing import Any

from fleetpatch import clock
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.snapshots import judge
from fleetpatch.snapshots_aws import delete_snapshot, stage_snapshots

LOG = logging.getLogger(__name__)


def sweep(stage: str, *, client: ClientFactory = aws_client) -> dict[str, Any]:
    """Delete ``stage``'s expired snapshots; the counts, and the snapshots an operator should see.

    Any other error (throttling that outlasted botocore's retries, access denied) fails the
    invocation: Lambda retries it, then sends it to the function's dead-letter queue, and
    the next day's run picks up what is left.
    """
    ec2 = client("ec2")
    now = clock.now()
    counts = {"examined": 0, "deleted": 0, "gone": 0, "kept": 0, "in_use": 0, "malformed": 0}
    reported: dict[str, list[dict[str, str]]] = {"in_use_snapshots": [], "malformed_snapshots": []}
    for snapshot_id, tags in stage_snapshots(ec2, stage):
        counts["examined"] += 1
        retention = judge(snapshot_id, tags, now)
        if retention.decision == "keep":
            counts["kept"] += 1
            continue
        if retention.decision == "malformed":
            counts["malformed"] += 1
            reported["malformed_snapshots"].append(
                {"snapshot": snapshot_id, "reason": retention.reason}
            )
            LOG.warning("kept %s: %s", snapshot_id, retention.reason)
            continue
        outcome = delete_snapshot(ec2, snapshot_id)
        if outcome == "in-use":
            counts["in_use"] += 1
            reason = f"{retention.reason}, but an AMI uses it (deregister the image first)"
            reported["in_use_snapshots"].append({"snapshot": snapshot_id, "reason": reason})
            LOG.warning("kept %s: %s", snapshot_id, reason)
            continue
        counts[outcome] += 1
        LOG.info(
            "%s %s (%s)",
            "deleted" if outcome == "deleted" else "already gone:",
            snapshot_id,
            retention.reason,
        )
    return {"stage": stage, "at": now.isoformat(), **counts, **reported}

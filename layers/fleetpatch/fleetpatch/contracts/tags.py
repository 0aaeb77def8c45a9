"""The tags fleetpatch writes on what it creates, and reads back to find its own.

One owner for each key: the policy stack tags its maintenance windows with the stage, and
patch-serving-instance (``statemachines/patch_serving_instance.asl.json``, ``Snapshot``)
tags every snapshot it takes with the stage, the run, the instance and when the snapshot
may be deleted; snapshot-retention (``fleetpatch.services.snapshots``) finds the stage's
snapshots by the first and deletes them by the last. The ASL cannot import these names:
``tests/unit/test_asl_contracts.py`` checks it spells exactly these.
"""

from __future__ import annotations

STAGE_TAG = "fleetpatch:stage"
"""The stack's ``Stage``: a stage's resources are found (and IAM scopes them) by it."""
WAVE_TAG = "fleetpatch:wave"
"""A maintenance window's wave (set by the policy stack)."""
RUN_TAG = "fleetpatch:run"
"""The run that created the resource (an execution name)."""
INSTANCE_TAG = "fleetpatch:instance"
"""The instance a snapshot was taken of."""
DELETE_AFTER_TAG = "fleetpatch:delete-after"
"""When a snapshot may be deleted: an ISO 8601 UTC timestamp (the policy's retention)."""

SNAPSHOT_TAGS: tuple[str, ...] = (STAGE_TAG, RUN_TAG, INSTANCE_TAG, DELETE_AFTER_TAG)
"""Every tag a serving run's snapshot carries, in the order the ASL writes them."""

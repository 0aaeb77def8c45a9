"""Snapshot retention: whether one of the stage's snapshots may be deleted now (a pure rule).

patch-serving-instance tags each snapshot it takes with ``fleetpatch:delete-after``: the
time of the snapshot plus the policy's ``retention_days``, as an ISO 8601 UTC timestamp
(JSONata's ``$fromMillis``: ``2026-11-14T04:00:00.000Z``). A snapshot is deleted once that
time has passed, and never by guess: a tag that is missing, not a timestamp, or a
timestamp without a time zone keeps the snapshot and is reported, so an operator decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from fleetpatch.contracts.tags import DELETE_AFTER_TAG

Decision = Literal["delete", "keep", "malformed"]


@dataclass(frozen=True)
class Retention:
    """What to do with one snapshot, and why."""

    snapshot_id: str
    decision: Decision
    delete_after: datetime | None
    reason: str


def delete_after(value: str | None) -> datetime:
    """The ``fleetpatch:delete-after`` tag's time; ValueError when it is not a UTC-aware one."""
    if not value:
        raise ValueError(f"no {DELETE_AFTER_TAG} tag")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValueError(f"{DELETE_AFTER_TAG} {value!r} is not an ISO 8601 timestamp") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"{DELETE_AFTER_TAG} {value!r} has no time zone")
    return parsed


def judge(snapshot_id: str, tags: Mapping[str, str], now: datetime) -> Retention:
    """Delete once ``delete-after`` is past; keep until then; a bad tag keeps it (reported)."""
    try:
        due = delete_after(tags.get(DELETE_AFTER_TAG))
    except ValueError as exc:
        return Retention(snapshot_id, "malformed", None, str(exc))
    if now > due:
        return Retention(snapshot_id, "delete", due, f"retention ended at {due.isoformat()}")
    return Retention(snapshot_id, "keep", due, f"kept until {due.isoformat()}")

"""Patch compliance per instance: current state, history of transitions, drift to notify.

One item per instance (``INSTANCE#<id>`` / ``COMPLIANCE``) holds the latest state. Each
change of state adds a history item (``COMPLIANCE#<time>#<event id>``) and, for drift and
recovery, an entry the digest will send (``DIGEST`` / ``<time>#<instance>``): one message
for 200 drifting instances, not 200.

EventBridge delivers at least once and out of order. The state is written only by an
event newer than the one that wrote it (a conditional update on the event time), so a
duplicate or a late event changes nothing and notifies nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["compliant", "non_compliant"]
Transition = Literal["first", "drifted", "recovered", "unchanged", "stale"]

# History and digest entries outlive any digest interval, then TTL removes them.
HISTORY_TTL_SECONDS = 90 * 24 * 3600


@dataclass(frozen=True)
class ComplianceChange:
    instance_id: str
    status: Status
    baseline_id: str
    severity: str | None
    event_time: datetime
    event_id: str


@dataclass(frozen=True)
class Recorded:
    transition: Transition
    previous: str | None

    @property
    def notify(self) -> bool:
        """Whether the digest carries it: drift and recovery, never repeats or stale events."""
        return self.transition in {"drifted", "recovered"}


class ComplianceLedger:
    def __init__(self, dynamodb: Any, table: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._now = now

    def record(self, change: ComplianceChange) -> Recorded:
        when = change.event_time.isoformat()
        try:
            response = self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"INSTANCE#{change.instance_id}"}, "sk": {"S": "COMPLIANCE"}},
                UpdateExpression=(
                    "SET #status = :status, baseline_id = :baseline, event_time = :time, "
                    "event_id = :id, severity = :severity, "
                    "since = if_not_exists(since, :time)"
                ),
                ConditionExpression="attribute_not_exists(event_time) OR event_time < :time",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":status": {"S": change.status},
                    ":baseline": {"S": change.baseline_id},
                    ":time": {"S": when},
                    ":id": {"S": change.event_id},
                    ":severity": {"S": change.severity or ""},
                },
                ReturnValues="ALL_OLD",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return Recorded("stale", None)
        previous = response.get("Attributes", {}).get("status", {}).get("S")
        if previous == change.status:
            return Recorded("unchanged", previous)
        transition: Transition
        if change.status == "non_compliant":
            transition = "drifted"
        elif previous == "non_compliant":
            transition = "recovered"
        else:
            transition = "first"
        self._since(change)
        self._history(change, previous, transition)
        recorded = Recorded(transition, previous)
        if recorded.notify:
            self._digest_entry(change, transition)
        return recorded

    def _ttl(self) -> dict[str, str]:
        return {"N": str(int(self._now()) + HISTORY_TTL_SECONDS)}

    def _since(self, change: ComplianceChange) -> None:
        # A change of state restarts "since" (how long an instance has been drifting).
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": {"S": f"INSTANCE#{change.instance_id}"}, "sk": {"S": "COMPLIANCE"}},
            UpdateExpression="SET since = :time",
            ConditionExpression="event_id = :id",
            ExpressionAttributeValues={
                ":time": {"S": change.event_time.isoformat()},
                ":id": {"S": change.event_id},
            },
        )

    def _history(self, change: ComplianceChange, previous: str | None, kind: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": f"INSTANCE#{change.instance_id}"},
                "sk": {"S": f"COMPLIANCE#{change.event_time.isoformat()}#{change.event_id}"},
                "from": {"S": previous or ""},
                "to": {"S": change.status},
                "transition": {"S": kind},
                "baseline_id": {"S": change.baseline_id},
                "expires_at": self._ttl(),
            },
        )

    def _digest_entry(self, change: ComplianceChange, kind: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": {"S": "DIGEST"},
                "sk": {"S": f"{change.event_time.isoformat()}#{change.instance_id}"},
                "instance_id": {"S": change.instance_id},
                "transition": {"S": kind},
                "severity": {"S": change.severity or ""},
                "baseline_id": {"S": change.baseline_id},
                "expires_at": self._ttl(),
            },
        )

"""Patch compliance per instance: current state, history of transitions, drift to notify.

One item per instance (``INSTANCE#<id>`` / ``COMPLIANCE``) holds the latest state. Each
change of state adds a history item (``COMPLIANCE#<time>#<event id>``) and, for drift and
recovery, an entry the digest will send (``DIGEST`` / ``<time>#<instance>``): one message
for 200 drifting instances, not 200.

EventBridge delivers at least once and out of order. The state is written only by an
event newer than the one that wrote it (read, compare event times, then a put conditional
on the event that was read), so a duplicate or a late event changes nothing and notifies
nobody.

Lambda retries an invocation that failed half way (the state written, the digest not yet
scheduled): the state item keeps the event as ``pending`` (with the status it replaced)
until the caller has done everything the event asks and calls :meth:`ComplianceLedger.settle`.
A retry of a pending event does the rest again, each part keyed (history and digest
entries by event, the digest schedule by its marker, remediation by its run name); a
duplicate of a settled event does nothing.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fleetpatch.contracts import keys
from fleetpatch.contracts.keys import DIGEST_PENDING_KEY
from fleetpatch.errors import ComplianceWriteConflictError
from fleetpatch.reports import DigestReport, DriftEntry

Status = Literal["compliant", "non_compliant"]
Transition = Literal["first", "drifted", "recovered", "unchanged", "stale"]

# Concurrent events for one instance: read and write again this many times, then fail (and
# let Lambda retry) rather than lose one.
WRITE_ATTEMPTS = 5

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
    patch_group: str | None = None
    environment: str | None = None


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
        """Record the change; ``stale`` for a late event or a duplicate of a settled one."""
        # Read, then put the whole record on the condition that nobody wrote it in between
        # (optimistic: a concurrent event makes us read again). Two cheap calls instead of
        # a long conditional update plus a second one to restart "since" on a transition:
        # a wave reports every instance it patched, so this runs once per instance.
        for _ in range(WRITE_ATTEMPTS):
            current = self._dynamodb.get_item(
                TableName=self._table,
                Key=keys.compliance_key(change.instance_id),
                ConsistentRead=True,
            ).get("Item")
            recorded = self._replace(change, current)
            if recorded is not None:
                return recorded
        raise ComplianceWriteConflictError(
            f"the compliance record of {change.instance_id} changed under {WRITE_ATTEMPTS} "
            "writes in a row; Lambda retries the event"
        )

    def _replace(self, change: ComplianceChange, current: dict[str, Any] | None) -> Recorded | None:
        """What the change was, once written; None if another event wrote first."""
        when = change.event_time.isoformat()
        if current is not None and current["event_time"]["S"] >= when:
            # Late or a duplicate, unless it is a retry of this very event whose first
            # attempt did not finish (still pending): then do the rest again.
            if (current.get("pending", {}).get("S"), current["event_time"]["S"]) != (
                change.event_id,
                when,
            ):
                return Recorded("stale", None)
            return self._notify(change, current.get("previous", {}).get("S") or None)
        previous = current.get("status", {}).get("S") if current else None
        recorded = Recorded(_transition(change.status, previous), previous)
        if recorded.transition == "first":
            # Written before the state: once the state is in, a retry or a duplicate is
            # stale and has nothing left to do (the entry is keyed by the event).
            self._history(change, previous, recorded.transition)
        item = {
            **keys.compliance_key(change.instance_id),
            "status": {"S": change.status},
            "baseline_id": {"S": change.baseline_id},
            "event_time": {"S": when},
            "event_id": {"S": change.event_id},
            "severity": {"S": change.severity or ""},
            "patch_group": {"S": change.patch_group or ""},
            "environment": {"S": change.environment or ""},
            # The fleet's compliance, by environment and patch group, in one query.
            "gsi1pk": {"S": keys.COMPLIANCE_INDEX},
            "gsi1sk": {
                "S": f"{change.environment or '-'}#{change.patch_group or '-'}#{change.instance_id}"
            },
            # A change of state restarts "since" (how long an instance has been drifting).
            "since": current["since"] if current and previous == change.status else {"S": when},
            "previous": {"S": previous or ""},
        }
        if recorded.notify:
            # Kept until the caller settles the event (digest entry and remediation done):
            # a retry finds it, with what it replaced, and does the rest again.
            item["pending"] = {"S": change.event_id}
        try:
            if current is None:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(pk)",
                )
            else:
                self._dynamodb.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="event_id = :seen",
                    ExpressionAttributeValues={":seen": current["event_id"]},
                )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        return self._notify(change, previous) if recorded.notify else recorded

    def _notify(self, change: ComplianceChange, previous: str | None) -> Recorded:
        """History and the digest entry of drift or recovery (both keyed by the event)."""
        recorded = Recorded(_transition(change.status, previous), previous)
        self._history(change, previous, recorded.transition)
        self._digest_entry(change, recorded.transition)
        return recorded

    def settle(self, change: ComplianceChange) -> None:
        """Everything ``change`` asked for is done: a duplicate of it now changes nothing."""
        # The condition fails when a newer event is recorded (and pending) by now: that
        # one is not this one's to settle.
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.update_item(
                TableName=self._table,
                Key=keys.compliance_key(change.instance_id),
                UpdateExpression="REMOVE pending",
                ConditionExpression="pending = :id",
                ExpressionAttributeValues={":id": {"S": change.event_id}},
            )

    def _ttl(self) -> dict[str, str]:
        return keys.expires_at(self._now(), HISTORY_TTL_SECONDS)

    def _history(self, change: ComplianceChange, previous: str | None, kind: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                **keys.compliance_history_key(
                    change.instance_id, change.event_time, change.event_id
                ),
                "from": {"S": previous or ""},
                "to": {"S": change.status},
                "transition": {"S": kind},
                "baseline_id": {"S": change.baseline_id},
                # issue 21: the audit export's time to remediate is per severity.
                "severity": {"S": change.severity or ""},
                "expires_at": self._ttl(),
            },
        )

    def _digest_entry(self, change: ComplianceChange, kind: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                **keys.digest_entry_key(change.event_time, change.instance_id),
                "instance_id": {"S": change.instance_id},
                "transition": {"S": kind},
                "severity": {"S": change.severity or ""},
                "baseline_id": {"S": change.baseline_id},
                "patch_group": {"S": change.patch_group or ""},
                "environment": {"S": change.environment or ""},
                "at": {"S": change.event_time.isoformat()},
                # When it was written (not when it happened): which digest could see it.
                "written_at": {"N": repr(self._now())},
                "expires_at": self._ttl(),
            },
        )

    # --- reading ----------------------------------------------------------------------------

    def fleet(self) -> list[dict[str, str]]:
        """Every instance's latest compliance state, ordered by environment and patch group."""
        found: list[dict[str, str]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.COMPLIANCE_INDEX}},
        }
        while True:
            page = self._dynamodb.query(**kwargs)
            for item in page.get("Items", []):
                found.append(
                    {
                        "instance_id": keys.instance_of(item["pk"]["S"]),
                        **{
                            key: item[key]["S"]
                            for key in (
                                "status",
                                "environment",
                                "patch_group",
                                "baseline_id",
                                "severity",
                                "since",
                                "event_time",
                            )
                            if key in item
                        },
                    }
                )
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _transition(status: str, previous: str | None) -> Transition:
    if previous == status:
        return "unchanged"
    if status == "non_compliant":
        return "drifted"
    if previous == "non_compliant":
        return "recovered"
    return "first"


# --- the digest -------------------------------------------------------------------------------


class DigestScheduler:
    """At most one digest per interval, and only when something drifted or recovered.

    The first entry after a digest schedules the next one (a one-time EventBridge Scheduler
    schedule, ``digest_minutes`` later, that deletes itself). A marker in the state table,
    written under a condition, makes sure 200 drifting instances schedule it once. A marker
    older than two intervals means its schedule was lost: the next entry schedules anew.
    """

    def __init__(
        self,
        *,
        dynamodb: Any,
        scheduler: Any,
        table: str,
        target_arn: str,
        role_arn: str,
        name_prefix: str,
        now: Callable[[], float],
    ) -> None:
        self._dynamodb = dynamodb
        self._scheduler = scheduler
        self._table = table
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._prefix = name_prefix
        self._now = now

    def ensure(self, digest_minutes: int) -> datetime | None:
        """Schedule the next digest unless one is pending; returns when it was scheduled for."""
        now = datetime.fromtimestamp(self._now(), UTC)
        due = (now + timedelta(minutes=digest_minutes)).replace(microsecond=0)
        stale = now - timedelta(minutes=2 * digest_minutes)
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **DIGEST_PENDING_KEY,
                    "due": {"S": due.isoformat()},
                    "expires_at": keys.expires_at(self._now(), HISTORY_TTL_SECONDS),
                },
                ConditionExpression="attribute_not_exists(pk) OR #due < :stale",
                ExpressionAttributeNames={"#due": "due"},
                ExpressionAttributeValues={":stale": {"S": stale.isoformat()}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return None
        name = f"{self._prefix}{due:%Y%m%dT%H%M%S}"
        try:
            self._scheduler.create_schedule(
                Name=name,
                ScheduleExpression=f"at({due.replace(tzinfo=None).isoformat()})",
                ScheduleExpressionTimezone="UTC",
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                Target={
                    "Arn": self._target_arn,
                    "RoleArn": self._role_arn,
                    "Input": json.dumps({"kind": "compliance-digest", "due": due.isoformat()}),
                    "RetryPolicy": {"MaximumRetryAttempts": 10, "MaximumEventAgeInSeconds": 3600},
                },
            )
        except self._scheduler.exceptions.ConflictException:
            pass  # a retry of this very call created it already
        except Exception:
            # No schedule, no digest: give the marker back so the next entry tries again.
            self._dynamodb.delete_item(TableName=self._table, Key=DIGEST_PENDING_KEY)
            raise
        return due


class DigestCollector:
    """The entries a digest carries, collapsed per instance, and their removal once sent."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def release(self) -> None:
        """Drop the pending marker first: an entry written from now on schedules a new digest."""
        self._dynamodb.delete_item(TableName=self._table, Key=DIGEST_PENDING_KEY)

    def entries(
        self, until: datetime, written_before: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Entries of changes up to ``until``; only those written before ``written_before``.

        A digest cut at a time carried the entries there were then; a late event (one that
        happened before the cut and arrived after it) is left for the next digest.
        """
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk <= :until",
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.DIGEST_PK},
                ":until": {"S": until.isoformat() + "~"},
            },
            "ConsistentRead": True,
        }
        while True:
            page = self._dynamodb.query(**kwargs)
            items += [
                item
                for item in page.get("Items", [])
                if written_before is None
                # Strictly before: at the very instant of the cut, a repeat beats a loss.
                or float(item.get("written_at", {}).get("N", "0")) < written_before.timestamp()
            ]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 25):
            requests = [
                {"DeleteRequest": {"Key": {"pk": item["pk"], "sk": item["sk"]}}}
                for item in items[start : start + 25]
            ]
            pending: dict[str, Any] = {self._table: requests}
            for _ in range(8):
                response = self._dynamodb.batch_write_item(RequestItems=pending)
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break


def digest_report(
    items: list[dict[str, Any]],
    *,
    sent_at: datetime,
    include_recoveries: bool,
    digest_id: str | None = None,
) -> DigestReport | None:
    """One digest from its entries: per instance the latest transition and how many there were."""
    latest: dict[str, dict[str, Any]] = {}
    earliest: dict[str, datetime] = {}
    changes: dict[str, int] = {}
    for item in sorted(items, key=lambda i: i["sk"]["S"]):
        instance = item["instance_id"]["S"]
        latest[instance] = item
        earliest.setdefault(instance, keys.digest_entry_time(item["sk"]["S"]))
        changes[instance] = changes.get(instance, 0) + 1
    entries = []
    for instance, item in sorted(latest.items()):
        transition = item["transition"]["S"]
        if transition == "recovered" and not include_recoveries:
            continue
        entries.append(
            DriftEntry(
                instance_id=instance,
                transition=transition,
                at=keys.digest_entry_time(item["sk"]["S"]),
                environment=item.get("environment", {}).get("S") or None,
                patch_group=item.get("patch_group", {}).get("S") or None,
                severity=item.get("severity", {}).get("S") or None,
                baseline_id=item.get("baseline_id", {}).get("S") or None,
                changes=changes[instance],
            )
        )
    if not entries:
        return None
    # The first change the digest carries (an instance's earlier changes included).
    first = min(earliest[e.instance_id] for e in entries)
    return DigestReport(
        run_id=digest_id or f"digest-{sent_at.astimezone(UTC):%Y%m%dT%H%M%SZ}",
        started_at=first,
        ended_at=sent_at,
        entries=entries,
    )

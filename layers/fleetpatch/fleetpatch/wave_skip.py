"""An operator's skip of a wave's next occurrence (``fleetpatch wave skip WAVE --next``).

One item per wave (``contracts.keys.skip_key``) says the next window's run is skipped, by
whom, when and why. The next run its window starts takes it (:func:`take`: a conditional
update, so of two runs racing exactly one takes it, and a retried check by the same run
takes it again) and is reported as skipped by the operator, with the reason; it sends
nothing. A taken skip applies to that run only: the occurrence after it runs as usual. A
pending skip can be cancelled (``wave skip WAVE --cancel``). Every request, cancellation and
application is also written as an audit record under the same partition (400 days).

A run started by hand (``wave start``) neither takes nor honours a skip: starting a wave is
the operator's own decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetpatch.contracts import keys
from fleetpatch.dynamo import item, plain


@dataclass(frozen=True)
class Skip:
    wave: str
    reason: str
    by: str
    at: str
    taken_by: str | None = None
    taken_at: str | None = None

    @property
    def pending(self) -> bool:
        return self.taken_by is None

    def describe(self) -> str:
        return f"skipped by {self.by} (requested {self.at}): {self.reason}"

    @classmethod
    def of(cls, found: dict[str, Any]) -> Skip:
        return cls(
            wave=str(found["wave"]),
            reason=str(found["reason"]),
            by=str(found["by"]),
            at=str(found["at"]),
            taken_by=found.get("taken_by"),
            taken_at=found.get("taken_at"),
        )


class SkipError(Exception):
    """A skip that cannot be requested or cancelled (one is pending, or none is)."""


def _audit(dynamodb: Any, table: str, wave: str, action: str, now: datetime, **what: Any) -> None:
    dynamodb.put_item(
        TableName=table,
        Item={
            **keys.skip_log_key(wave, now, action),
            **item({"wave": wave, "action": action, "at": now.isoformat(), **what}),
            keys.TTL_ATTRIBUTE: keys.expires_at(now.timestamp()),
        },
    )


def request(dynamodb: Any, table: str, wave: str, *, reason: str, by: str, now: datetime) -> Skip:
    """Skip ``wave``'s next occurrence; refused while a skip is already pending."""
    skip = Skip(wave=wave, reason=reason, by=by, at=now.isoformat())
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **keys.skip_key(wave),
                **item({"wave": wave, "reason": reason, "by": by, "at": skip.at}),
                keys.TTL_ATTRIBUTE: keys.expires_at(now.timestamp()),
            },
            # A taken skip (history) may be replaced; a pending one is cancelled first.
            ConditionExpression="attribute_not_exists(pk) OR attribute_exists(taken_by)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise SkipError(
            f"wave {wave}'s next occurrence is already skipped (see wave status); "
            f"cancel it first: fleetpatch wave skip {wave} --cancel"
        ) from None
    _audit(dynamodb, table, wave, "requested", now, reason=reason, by=by)
    return skip


def cancel(dynamodb: Any, table: str, wave: str, *, by: str, now: datetime) -> Skip:
    """Cancel ``wave``'s pending skip; refused when none is pending."""
    try:
        found = dynamodb.delete_item(
            TableName=table,
            Key=keys.skip_key(wave),
            ConditionExpression="attribute_exists(pk) AND attribute_not_exists(taken_by)",
            ReturnValues="ALL_OLD",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        raise SkipError(f"wave {wave} has no pending skip to cancel") from None
    skip = Skip.of(plain(found["Attributes"]))
    _audit(dynamodb, table, wave, "cancelled", now, reason=skip.reason, by=by)
    return skip


def current(dynamodb: Any, table: str, wave: str) -> Skip | None:
    """The wave's skip item (pending, or the last one taken), if any."""
    found = dynamodb.get_item(TableName=table, Key=keys.skip_key(wave), ConsistentRead=True)
    return Skip.of(plain(found["Item"])) if "Item" in found else None


def take(dynamodb: Any, table: str, wave: str, *, run_id: str, now: datetime) -> Skip | None:
    """The pending skip of ``wave``, now taken by ``run_id`` (None: no skip for this run)."""
    try:
        found = dynamodb.update_item(
            TableName=table,
            Key=keys.skip_key(wave),
            UpdateExpression="SET taken_by = :run, taken_at = if_not_exists(taken_at, :at)",
            ConditionExpression="attribute_exists(pk) AND "
            "(attribute_not_exists(taken_by) OR taken_by = :run)",
            ExpressionAttributeValues={":run": {"S": run_id}, ":at": {"S": now.isoformat()}},
            ReturnValues="ALL_NEW",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return None
    skip = Skip.of(plain(found["Attributes"]))
    if skip.taken_at == now.isoformat():
        _audit(dynamodb, table, wave, "applied", now, reason=skip.reason, by=skip.by, run=run_id)
    return skip

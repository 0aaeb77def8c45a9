"""The organization's digests in the org index: one a day, claimed under a condition.

``ORGDIGEST#<day>`` (``fleetpatch.contracts.org``) holds what the day's digest says, put by
the first delivery of the schedule tick with ``attribute_not_exists(pk)``, and its SNS
message id once published (set under ``attribute_not_exists(message_id)``). Scheduler
delivers at least once: a repeated tick finds the message id and sends nothing; a tick
retried after a crash between the claim and the publish finds the claim without a message
id and publishes what it says (the same text: it was frozen at the claim). What is left is
the window between the publish and recording its id, as for a member run's announcement
(``fleetpatch.org_index``): a crash exactly there sends the digest twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetpatch.contracts.org import ORG_DIGESTS_INDEX, org_digest_key
from fleetpatch.org_digest import OrgDigest


@dataclass(frozen=True)
class DigestRecord:
    day: str
    sent_at: datetime
    subject: str
    body: str
    attributes: dict[str, dict[str, str]]
    counts: dict[str, int]
    message_id: str | None

    @classmethod
    def of(cls, digest: OrgDigest, subject: str, body: str, attributes: Any) -> DigestRecord:
        return cls(digest.day, digest.sent_at, subject, body, attributes, digest.counts(), None)


class OrgDigests:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def get(self, day: str) -> DigestRecord | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key=org_digest_key(day), ConsistentRead=True
        ).get("Item")
        return None if item is None else _record(item)

    def previous(self, day: str) -> DigestRecord | None:
        """The latest digest of a day before ``day``."""
        found = self._dynamodb.query(
            TableName=self._table,
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk < :day",
            ExpressionAttributeValues={":pk": {"S": ORG_DIGESTS_INDEX}, ":day": {"S": day}},
            ScanIndexForward=False,
            Limit=1,
        ).get("Items", [])
        return _record(found[0]) if found else None

    def claim(self, record: DigestRecord) -> bool:
        """Put the day's digest; False when a delivery of the same tick put it first."""
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **org_digest_key(record.day),
                    "gsi1pk": {"S": ORG_DIGESTS_INDEX},
                    "gsi1sk": {"S": record.day},
                    "sent_at": {"S": record.sent_at.isoformat()},
                    "subject": {"S": record.subject},
                    "body": {"S": record.body},
                    "attributes": {"S": json.dumps(record.attributes)},
                    "counts": {"S": json.dumps(record.counts)},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_sent(self, day: str, message_id: str) -> bool:
        """Record the publish; False when another delivery recorded one first."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=org_digest_key(day),
                UpdateExpression="SET message_id = :id",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(message_id)",
                ExpressionAttributeValues={":id": {"S": message_id}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _record(item: dict[str, Any]) -> DigestRecord:
    return DigestRecord(
        day=item["gsi1sk"]["S"],
        sent_at=datetime.fromisoformat(item["sent_at"]["S"]),
        subject=item["subject"]["S"],
        body=item["body"]["S"],
        attributes=json.loads(item["attributes"]["S"]),
        counts={k: int(v) for k, v in json.loads(item["counts"]["S"]).items()},
        message_id=item.get("message_id", {}).get("S"),
    )

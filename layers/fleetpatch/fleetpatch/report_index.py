"""The state table's index of run reports: what ``fleetpatch runs`` and ``fleetpatch report``
read, and where a report is stored in the artifacts bucket.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fleetpatch.contracts import keys
from fleetpatch.dynamo import plain as _plain
from fleetpatch.reports import DigestReport, RunReport


class ReportIndex:
    """The state table's index of reports (``REPORT#<run>``; gsi1 ``REPORTS`` by end time).

    Publishing is recorded so a retried publish does not announce a run twice.
    """

    def __init__(self, dynamodb: Any, table: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._now = now

    @staticmethod
    def _key(run_id: str) -> keys.Key:
        return keys.report_key(run_id)

    def record(
        self,
        report: RunReport | DigestReport,
        *,
        subject_line: str,
        json_key: str | None,
        html_key: str | None,
        store_error: str | None = None,
    ) -> None:
        if isinstance(report, RunReport):
            instances, failed = len(report.instances()), len(report.failed_instances())
        else:
            instances, failed = len(report.entries), len(report.drifted)
        item = {
            **self._key(report.run_id),
            "gsi1pk": {"S": keys.REPORTS_INDEX},
            "gsi1sk": {
                "S": keys.by_time(report.ended_at.astimezone(UTC).isoformat(), report.run_id)
            },
            "run_id": {"S": report.run_id},
            "kind": {"S": report.kind},
            "title": {"S": report.title},
            "outcome": {"S": report.outcome},
            "subject": {"S": subject_line},
            "environment": {"S": report.environment or ""},
            "started_at": {"S": report.started_at.astimezone(UTC).isoformat()},
            "ended_at": {"S": report.ended_at.astimezone(UTC).isoformat()},
            "instances": {"N": str(instances)},
            "failed": {"N": str(failed)},
            "json_key": {"S": json_key or ""},
            "html_key": {"S": html_key or ""},
            "store_error": {"S": store_error or ""},
            "expires_at": keys.expires_at(self._now()),
        }
        # Keep what an earlier attempt published (message ids) when a retry rewrites it.
        names = {f"#{k}": k for k in item if k not in ("pk", "sk")}
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(report.run_id),
            UpdateExpression="SET "
            + ", ".join(f"#{k} = :{k}" for k in item if k not in ("pk", "sk")),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                f":{k}": v for k, v in item.items() if k not in ("pk", "sk")
            },
        )

    def published(self, run_id: str) -> str | None:
        """The SNS message id a run's report was announced with, if it was."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key=self._key(run_id), ConsistentRead=True
        ).get("Item", {})
        return item.get("message_id", {}).get("S") or None

    def mark_published(self, run_id: str, message_id: str) -> bool:
        """Record the announcement; False when another attempt got there first."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(run_id),
                UpdateExpression="SET message_id = :id",
                ConditionExpression="attribute_not_exists(message_id)",
                ExpressionAttributeValues={":id": {"S": message_id}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, run_id: str) -> dict[str, Any] | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=self._key(run_id)).get("Item")
        return None if item is None else _plain(item)

    def list(self, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Reports, newest first, ended at or after ``since``."""
        condition = "gsi1pk = :pk"
        values: dict[str, Any] = {":pk": {"S": keys.REPORTS_INDEX}}
        if since is not None:
            condition += " AND gsi1sk >= :since"
            values[":since"] = {"S": since.astimezone(UTC).isoformat()}
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        while len(found) < limit:
            page = self._dynamodb.query(**kwargs)
            found += [_plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

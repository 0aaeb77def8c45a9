"""issue 22: the organization's index in the central account (``OrgIndexTable``).

The central stack's ingest function files each forwarded event here; ``fleetpatch runs|
compliance|status --org`` read it. Keys are ``fleetpatch.contracts.org``'s.

EventBridge delivers at least once and in no particular order, so every write is a
conditional put that keeps what is newer: a run is filed once (a repeated delivery of the
same run, or an older one, changes nothing), and an account and region's compliance summary
is replaced only by a later one (``as_of``). A refused condition is the duplicate, not an
error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fleetpatch.contracts import keys
from fleetpatch.contracts.org import (
    ORG_COMPLIANCE_INDEX,
    ORG_RUNS_INDEX,
    org_compliance_key,
    org_run_key,
    org_run_order,
)
from fleetpatch.dynamo import plain
from fleetpatch.shared_events import ComplianceSummary, RunFinished


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


class OrgIndex:
    def __init__(self, dynamodb: Any, table: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._now = now

    # --- writing (the ingest function) -------------------------------------------------------

    def record_run(self, run: RunFinished, event_id: str) -> bool:
        """File a member's run; False when it was filed already (a repeated delivery)."""
        ended = _iso(run.ended_at)
        item: dict[str, Any] = {
            **org_run_key(run.account, run.region, run.run_id),
            "gsi1pk": {"S": ORG_RUNS_INDEX},
            "gsi1sk": {"S": org_run_order(ended, run.account, run.region, run.run_id)},
            "account": {"S": run.account},
            "region": {"S": run.region},
            "stage": {"S": run.stage},
            "run_id": {"S": run.run_id},
            "kind": {"S": run.kind},
            "outcome": {"S": run.status},
            "title": {"S": run.title},
            "subject": {"S": run.subject},
            "environment": {"S": run.environment or ""},
            "started_at": {"S": _iso(run.started_at)},
            "ended_at": {"S": ended},
            "instances": {"N": str(run.instances)},
            "failed": {"N": str(run.failed)},
            "report_bucket": {"S": run.report.bucket if run.report else ""},
            "json_key": {"S": run.report.json_key if run.report else ""},
            "html_key": {"S": run.report.html_key if run.report else ""},
            "execution_arn": {"S": run.execution_arn or ""},
            "event_id": {"S": event_id},
            "expires_at": keys.expires_at(self._now()),
        }
        return self._put_if_newer(item, "ended_at", ended)

    def record_compliance(self, summary: ComplianceSummary, event_id: str) -> bool:
        """Keep an account and region's latest summary; False for an older or repeated one."""
        as_of = _iso(summary.as_of)
        item: dict[str, Any] = {
            **org_compliance_key(summary.account, summary.region),
            "gsi1pk": {"S": ORG_COMPLIANCE_INDEX},
            "gsi1sk": {"S": f"{summary.account}#{summary.region}"},
            "account": {"S": summary.account},
            "region": {"S": summary.region},
            "stage": {"S": summary.stage},
            "as_of": {"S": as_of},
            "compliant": {"N": str(summary.compliant)},
            "non_compliant": {"N": str(summary.non_compliant)},
            "groups": {"S": json.dumps([g.model_dump(mode="json") for g in summary.groups])},
            "event_id": {"S": event_id},
        }
        return self._put_if_newer(item, "as_of", as_of)

    def _put_if_newer(self, item: dict[str, Any], field: str, value: str) -> bool:
        # An update, not a put: what was recorded about the item since (its announcement)
        # stays when a newer delivery rewrites it.
        names = [k for k in item if k not in ("pk", "sk")]
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": item["pk"], "sk": item["sk"]},
                UpdateExpression="SET " + ", ".join(f"#a{n} = :a{n}" for n in range(len(names))),
                # Newer only: a repeat (same time) or a late older delivery is refused.
                ConditionExpression="attribute_not_exists(pk) OR #f < :v",
                ExpressionAttributeNames={
                    "#f": field,
                    **{f"#a{n}": name for n, name in enumerate(names)},
                },
                ExpressionAttributeValues={
                    ":v": {"S": value},
                    **{f":a{n}": item[name] for n, name in enumerate(names)},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- announcing once (the central topic, issue 22) ---------------------------------------

    def announced(self, run: RunFinished) -> str | None:
        """The central topic's message id the run was announced with, if it was."""
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key=org_run_key(run.account, run.region, run.run_id),
            ConsistentRead=True,
        ).get("Item", {})
        return item.get("message_id", {}).get("S") or None

    def mark_announced(self, run: RunFinished, message_id: str) -> bool:
        """Record the announcement; False when another delivery got there first."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=org_run_key(run.account, run.region, run.run_id),
                UpdateExpression="SET message_id = :id",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(message_id)",
                ExpressionAttributeValues={":id": {"S": message_id}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # --- reading (the CLI's --org views) ------------------------------------------------------

    def runs(self, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Every member's runs, newest first, ended at or after ``since``."""
        condition = "gsi1pk = :pk"
        values: dict[str, Any] = {":pk": {"S": ORG_RUNS_INDEX}}
        if since is not None:
            condition += " AND gsi1sk >= :since"
            values[":since"] = {"S": _iso(since)}
        return self._query(condition, values, limit, newest_first=True)

    def run(self, account: str, region: str, run_id: str) -> dict[str, Any] | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key=org_run_key(account, region, run_id)
        ).get("Item")
        return None if item is None else plain(item)

    def runs_named(self, run_id: str) -> list[dict[str, Any]]:
        """The runs with this id in any account and region (ids are unique per account)."""
        return [r for r in self.runs(None, limit=10_000) if r.get("run_id") == run_id]

    def compliance(self) -> list[dict[str, Any]]:
        """Each account and region's latest summary, by account then region."""
        found = self._query(
            "gsi1pk = :pk", {":pk": {"S": ORG_COMPLIANCE_INDEX}}, 10_000, newest_first=False
        )
        for item in found:
            item["groups"] = json.loads(item.get("groups") or "[]")
        return found

    def _query(
        self, condition: str, values: dict[str, Any], limit: int, *, newest_first: bool
    ) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": not newest_first,
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = self._dynamodb.query(**kwargs)
            found += [plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

"""An emergency's records in the state table: the findings for a CVE (``EMERGENCY#<cve>``,
one item per instance) and the claim of the CVE's lease (``fleetpatch.lease``) that makes a
burst of findings start one run (``fleetpatch.services.emergency``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fleetpatch import aws, clock
from fleetpatch.contracts import keys
from fleetpatch.lease import WaveLease, read_lease

CLAIM_SECONDS = 600  # how long a claimed lease waits for its run to start


def record_findings(
    dynamodb: Any,
    table: str,
    *,
    cve: str,
    findings: Mapping[str, datetime],
    severity: str | None,
    at: datetime,
    run_id: str | None,
) -> None:
    """Each instance's finding for the CVE: first seen kept, last seen and run updated."""
    for instance_id, first in sorted(findings.items()):
        values: dict[str, Any] = {
            ":first": {"S": first.isoformat()},
            ":now": {"S": at.isoformat()},
            ":severity": {"S": severity or "UNTRIAGED"},
            ":ttl": keys.expires_at(clock.time()),
        }
        update = (
            "SET first_seen = if_not_exists(first_seen, :first), last_seen = :now, "
            "severity = :severity, expires_at = :ttl"
        )
        if run_id is not None:
            update += ", run_id = :run"
            values[":run"] = {"S": run_id}
        aws.patiently(
            dynamodb.update_item,
            TableName=table,
            Key=keys.finding_key(cve, instance_id),
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )


def recorded_findings(dynamodb: Any, table: str, cve: str) -> dict[str, dict[str, str]]:
    """Instance -> its recorded finding (first_seen, last_seen, severity, run_id)."""
    found: dict[str, dict[str, str]] = {}
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.emergency_pk(cve)},
            ":prefix": {"S": keys.FINDING_PREFIX},
        },
        "ConsistentRead": True,
    }
    while True:
        page = aws.patiently(dynamodb.query, **kwargs)
        for item in page.get("Items", []):
            instance_id = item["sk"]["S"][len(keys.FINDING_PREFIX) :]
            found[instance_id] = {k: v["S"] for k, v in item.items() if "S" in v}
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def claim(dynamodb: Any, table: str, wave: str, run_id: str, now: float) -> WaveLease | None:
    """Take ``wave``'s lease for ``run_id``: None if taken, else the live holder.

    The same conditional write as the workflow's TakeLease (free or expired): of a burst,
    one wins. The workflow finds the lease its own (the same run id) and renews it.
    """
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **keys.lease_key(wave),
                "run_id": {"S": run_id},
                "execution_arn": {"S": ""},
                "taken_at": {"S": clock.now().isoformat()},
                "expires_at": {"N": str(int(now) + CLAIM_SECONDS)},
            },
            ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
            ExpressionAttributeValues={":now": {"N": str(int(now))}},
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return read_lease(dynamodb, table, wave) or WaveLease(wave, "unknown", "", "", 0)
    return None

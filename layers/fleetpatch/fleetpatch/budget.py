"""Disruption budgets: at most N (or X%) of a scope out of service at once, across every run.

A scope is an Auto Scaling group, an ELB target group or an Availability Zone
(``fleetpatch.serving.Scope``). Its item in the state table (``keys.budget_key``) holds the
string set of the instances out of service in it. An instance takes every scope it serves
in with one ``TransactWriteItems`` (all or none), before it is drained, and gives them back
once it is healthy in service again. Each update is conditional::

    attribute_not_exists(holders) OR contains(holders, :id) OR size(holders) < :limit

so two runs (two waves, a wave and a remediation) can never both take the last place, and
an instance that already holds (a retried step, or a failed instance patched again) passes.

An instance that failed its health check stays out of service and keeps its places: a bad
patch cannot take down a tier one instance at a time. Its places come back when it is
patched successfully, or when it is gone: a full scope is checked for holders that were
terminated (an instance terminated in Standby), and those are released before the request
is refused.

The holder record (``keys.budget_holder_key``) says which scopes an instance holds, so a
release needs nothing but the instance id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch.contracts import keys
from fleetpatch.errors import BudgetExhaustedError

# TransactWriteItems takes at most 100 actions: the scopes and the holder record.
MAX_SCOPES = 99
GONE = ("shutting-down", "terminated")


@dataclass(frozen=True)
class Claim:
    """One scope an instance asks a place in, with the most that may be out at once."""

    scope: str
    limit: int
    total: int
    """How many instances the scope has (for the report: "1 of 6")."""


def acquire(
    dynamodb: Any,
    table: str,
    instance_id: str,
    claims: Sequence[Claim],
    *,
    run_id: str,
    now: str,
    instance_states: Callable[[Sequence[str]], Mapping[str, str]],
    note: str = "",
) -> None:
    """Take a place in every scope of ``claims`` for ``instance_id``, or raise.

    ``instance_states(ids)`` answers the EC2 state of other holders (absent: gone); it is
    asked only when a scope is full. ``note`` is kept with the holder record (the serving
    workflow keeps where the instance served, to put it back). Raises
    :class:`BudgetExhaustedError` naming the full scopes and who holds them.
    """
    if len(claims) > MAX_SCOPES:
        raise ValueError(f"{instance_id} is in {len(claims)} scopes; at most {MAX_SCOPES}")
    full = _try(dynamodb, table, instance_id, claims, run_id=run_id, now=now, note=note)
    if not full:
        return
    released = _release_gone(dynamodb, table, instance_id, full, instance_states)
    if released:
        full = _try(dynamodb, table, instance_id, claims, run_id=run_id, now=now, note=note)
        if not full:
            return
    raise BudgetExhaustedError(
        "; ".join(
            f"{claim.scope} has {claim.limit} of {claim.total} out of service already "
            f"({', '.join(sorted(holders)) or 'none'})"
            for claim, holders in full.items()
        )
    )


def release(
    dynamodb: Any,
    table: str,
    instance_id: str,
    run_id: str | None = None,
    *,
    keep_instance: bool = False,
) -> list[str]:
    """Give back every place ``instance_id`` holds; the scopes it held (none: nothing held).

    With ``run_id``, only places that run holds: a run that never got the instance's places
    (it waited for another run patching it) gives back nothing. ``keep_instance``: the
    places go back but the run keeps the instance (still working on it in service).
    """
    held = holder(dynamodb, table, instance_id)
    if held is None or (run_id is not None and held["run"] != run_id):
        return []
    scopes = held["scopes"]
    actions: list[dict[str, Any]] = [
        {"Update": _drop(table, scope, instance_id)} for scope in scopes
    ]
    if keep_instance:
        # The places go back; the run keeps the instance (another run still waits for it).
        actions.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": keys.budget_holder_key(instance_id),
                    "UpdateExpression": "SET scopes = :none",
                    "ExpressionAttributeValues": {":none": {"L": []}},
                }
            }
        )
    else:
        actions.append({"Delete": {"TableName": table, "Key": keys.budget_holder_key(instance_id)}})
    dynamodb.transact_write_items(TransactItems=actions)
    return list(scopes)


def _drop(table: str, scope: str, instance_id: str) -> dict[str, Any]:
    """The update that takes ``instance_id`` out of ``scope``'s holders."""
    return {
        "TableName": table,
        "Key": keys.budget_key(scope),
        "UpdateExpression": "DELETE holders :me",
        "ExpressionAttributeValues": {":me": {"SS": [instance_id]}},
    }


def holder(dynamodb: Any, table: str, instance_id: str) -> dict[str, Any] | None:
    """The places ``instance_id`` holds: ``{"scopes", "run", "since", "note", "kept"}``."""
    item = dynamodb.get_item(
        TableName=table, Key=keys.budget_holder_key(instance_id), ConsistentRead=True
    ).get("Item")
    if item is None:
        return None
    return {
        "scopes": [v["S"] for v in item.get("scopes", {}).get("L", [])],
        "run": item.get("run_id", {}).get("S", ""),
        "since": item.get("since", {}).get("S", ""),
        "note": item.get("note", {}).get("S", ""),
        "kept": bool(item.get("kept", {}).get("BOOL", False)),
    }


def holders(dynamodb: Any, table: str, scope: str) -> set[str]:
    """The instances out of service in ``scope`` now."""
    item = dynamodb.get_item(TableName=table, Key=keys.budget_key(scope), ConsistentRead=True)
    return set(item.get("Item", {}).get("holders", {}).get("SS", []))


def _try(
    dynamodb: Any,
    table: str,
    instance_id: str,
    claims: Sequence[Claim],
    *,
    run_id: str,
    now: str,
    note: str,
) -> dict[Claim, set[str]]:
    """One all-or-nothing attempt; the full scopes and their holders (empty: taken)."""
    actions: list[dict[str, Any]] = [
        {
            "Update": {
                "TableName": table,
                "Key": keys.budget_key(claim.scope),
                "UpdateExpression": "ADD holders :me",
                "ConditionExpression": "attribute_not_exists(holders) OR contains(holders, :id) "
                "OR size(holders) < :limit",
                "ExpressionAttributeValues": {
                    ":me": {"SS": [instance_id]},
                    ":id": {"S": instance_id},
                    ":limit": {"N": str(claim.limit)},
                },
            }
        }
        for claim in claims
    ]
    actions.append(
        {
            "Put": {
                "TableName": table,
                "Item": {
                    **keys.budget_holder_key(instance_id),
                    "scopes": {"L": [{"S": claim.scope} for claim in claims]},
                    "run_id": {"S": run_id},
                    "since": {"S": now},
                    "note": {"S": note},
                },
                # Out of service for another run still working on it: wait. One a run left
                # out of service (kept: it failed its checks) may be taken over.
                "ConditionExpression": "attribute_not_exists(pk) OR run_id = :run OR kept = :kept",
                "ExpressionAttributeValues": {":run": {"S": run_id}, ":kept": {"BOOL": True}},
            }
        }
    )
    try:
        dynamodb.transact_write_items(TransactItems=actions)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "TransactionCanceledException":
            raise
        reasons = exc.response.get("CancellationReasons") or []
        if len(reasons) > len(claims) and reasons[len(claims)].get("Code") == (
            "ConditionalCheckFailed"
        ):
            other = holder(dynamodb, table, instance_id) or {}
            raise BudgetExhaustedError(
                f"{instance_id} is out of service for run {other.get('run') or 'unknown'}, "
                "which is still patching it"
            ) from exc
        failed = [
            claims[i]
            for i, reason in enumerate(reasons[: len(claims)])
            if reason.get("Code") == "ConditionalCheckFailed"
        ]
        if not failed:
            raise
        return {claim: holders(dynamodb, table, claim.scope) for claim in failed}
    return {}


def _release_gone(
    dynamodb: Any,
    table: str,
    instance_id: str,
    full: Mapping[Claim, set[str]],
    instance_states: Callable[[Sequence[str]], Mapping[str, str]],
) -> list[str]:
    """Release the holders of full scopes that no longer exist; the ones released."""
    others = sorted({h for held in full.values() for h in held if h != instance_id})
    if not others:
        return []
    states = instance_states(others)
    gone = [h for h in others if states.get(h, "terminated") in GONE]
    for instance in gone:
        if not release(dynamodb, table, instance):
            # No holder record (written by hand, or lost): drop it from the full scopes.
            for claim, held in full.items():
                if instance in held:
                    dynamodb.update_item(**_drop(table, claim.scope, instance))
    return gone


def keep(dynamodb: Any, table: str, instance_id: str, run_id: str) -> None:
    """``run_id`` leaves ``instance_id`` out of service: it keeps its places, and a later run
    may take the instance over (patch it again)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key=keys.budget_holder_key(instance_id),
            UpdateExpression="SET kept = :kept",
            ConditionExpression="run_id = :run",
            ExpressionAttributeValues={":kept": {"BOOL": True}, ":run": {"S": run_id}},
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise

"""Waiting for Run Command invocations without polling.

A workflow parks on a task token until the command-status route sees the invocation's
final status. The two sides meet in one DynamoDB item per (command, instance), and each
writes its half with an atomic update that returns the whole item:

* the waiter stores its task token; if the status is already there (the event won the
  race), the waiter resumes the workflow itself;
* the event handler stores the status; if a token is there, it resumes the workflow. When
  nothing is there yet it creates the item with one conditional put instead (the usual case
  for a wave's per-instance events, which no workflow waits on).

Whichever writes second resumes, so no wake-up is lost; if both do, the second
``SendTaskSuccess`` fails harmlessly (the token is spent) and is ignored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from fleetpatch import clock
from fleetpatch.contracts import keys

LOG = logging.getLogger(__name__)

# Waiter records outlive any command (48 h max) and are then removed by the table's TTL.
WAITER_TTL_SECONDS = 7 * 24 * 3600


# Waiting for a whole command (every instance it targets), not one invocation: the key's
# instance. Resumed by the command-level status event.
WHOLE_COMMAND = "*"


@dataclass(frozen=True)
class InvocationKey:
    command_id: str
    instance_id: str = WHOLE_COMMAND

    @property
    def item_key(self) -> dict[str, dict[str, str]]:
        whole = self.instance_id == WHOLE_COMMAND
        return keys.command_key(self.command_id, None if whole else self.instance_id)


class CommandWaiters:
    def __init__(self, table_name: str, dynamodb: Any, stepfunctions: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb
        self._sfn = stepfunctions

    def register_waiter(self, key: InvocationKey, task_token: str) -> bool:
        """Store the token; resume at once if the status already arrived. True if resumed."""
        item = self._update(key, "task_token", task_token)
        status = item.get("status", {}).get("S")
        if status is None:
            return False
        return self._resume(task_token, key, status, source="recorded-status")

    def record_status(self, key: InvocationKey, status: str) -> bool:
        """Store the final status; resume the waiting workflow if any. True if resumed."""
        # First to arrive (no waiter yet, or ever: a wave waits on its whole command, not on
        # each instance it reports), the status waits in a new item for one that registers.
        token = None
        if not self._first_to_arrive(key, status):
            token = self._update(key, "status", status).get("task_token", {}).get("S")
        if token is None:
            LOG.info("no workflow waits for %s on %s (yet)", key.command_id, key.instance_id)
            return False
        return self._resume(token, key, status, source="status-event")

    def _first_to_arrive(self, key: InvocationKey, status: str) -> bool:
        """Create the record with the status if nothing is there yet: one cheap put.

        A wave's batch of N instances sends N invocation events nobody waits on, so this is
        the usual case at scale; when a waiter got there first, the update below meets it.
        """
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    **key.item_key,
                    "status": {"S": status},
                    "expires_at": keys.expires_at(clock.time(), WAITER_TTL_SECONDS),
                    "command_id": {"S": key.command_id},
                    "instance_id": {"S": key.instance_id},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _update(self, key: InvocationKey, attribute: str, value: str) -> dict[str, Any]:
        response = self._dynamodb.update_item(
            TableName=self._table,
            Key=key.item_key,
            UpdateExpression=(
                "SET #a = :v, expires_at = if_not_exists(expires_at, :ttl), "
                "command_id = :c, instance_id = :i"
            ),
            ExpressionAttributeNames={"#a": attribute},
            ExpressionAttributeValues={
                ":v": {"S": value},
                ":ttl": keys.expires_at(clock.time(), WAITER_TTL_SECONDS),
                ":c": {"S": key.command_id},
                ":i": {"S": key.instance_id},
            },
            ReturnValues="ALL_NEW",
        )
        attributes: dict[str, Any] = response.get("Attributes", {})
        return attributes

    def _resume(self, token: str, key: InvocationKey, status: str, *, source: str) -> bool:
        output = {
            "status": status,
            "commandId": key.command_id,
            "instanceId": key.instance_id,
            "source": source,
        }
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(output))
        except (
            self._sfn.exceptions.TaskTimedOut,
            self._sfn.exceptions.InvalidToken,
            self._sfn.exceptions.TaskDoesNotExist,
        ) as exc:
            # Already resumed by the other side, or the workflow moved on (its fallback ran).
            LOG.info(
                "task token for %s on %s no longer waits: %s", key.command_id, key.instance_id, exc
            )
            return False
        return True

"""DynamoDB on the local cloud: a reader never sees an item halfway through a write."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from localcloud.cloud import LocalCloud

TABLE = "state"
KEY = {"pk": {"S": "LEASE#WAVE#test"}, "sk": {"S": "LEASE"}}


def test_a_read_during_an_update_that_creates_the_item_sees_it_whole(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a table, and moto paused (for at most half a second) just after an UpdateItem
    # stored the bare key of the item it creates, the point a reader once saw
    from moto.dynamodb.models.table import Table

    dynamodb = cloud.client("dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    stored_key = threading.Event()
    read_done = threading.Event()
    original = Table.put_item

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        result = original(self, item_attrs, *args, **kwargs)
        if set(item_attrs) == {"pk", "sk"}:
            stored_key.set()
            read_done.wait(0.5)
        return result

    monkeypatch.setattr(Table, "put_item", put_item)

    # When the gated wave's TakeLease (an UpdateItem on a missing item) runs on one thread
    # and the CLI's read of the lease on another, at that point
    def take() -> None:
        dynamodb.update_item(
            TableName=TABLE,
            Key=KEY,
            UpdateExpression="SET run_id = :run, expires_at = :until",
            ConditionExpression="attribute_not_exists(pk) OR run_id = :run",
            ExpressionAttributeValues={":run": {"S": "run-1"}, ":until": {"N": "100"}},
        )

    writer = threading.Thread(target=take)
    writer.start()
    assert stored_key.wait(5)
    seen = dynamodb.get_item(TableName=TABLE, Key=KEY, ConsistentRead=True).get("Item")
    read_done.set()
    writer.join(5)

    # Then the reader saw the item as DynamoDB would show it: whole (never its bare key)
    assert seen == {**KEY, "run_id": {"S": "run-1"}, "expires_at": {"N": "100"}}

"""Canaries: the moto 5.2.5 DynamoDB behaviour idempotency relies on, checked as we use it.

Nothing here patches moto, but two keys against duplicates hold on the local cloud only
because moto does what DynamoDB documents. If one fails after a moto upgrade, the tests of
at-least-once delivery (tests/workflows/test_idempotency.py) prove nothing until it is
understood:

* powertools idempotency (the Slack notifier) writes its record with a conditional
  PutItem and reads the record it lost to from the error
  (``ReturnValuesOnConditionCheckFailure``);
* the compliance ledger reads the status an event replaces in the same UpdateItem that
  replaces it (every operand is the item as it was before the update) and finds a pending
  event on a failed condition the same way.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.unit.conftest import STATE_TABLE, create_state_table

KEY = {"pk": {"S": "IDEMPOTENCY#fn"}, "sk": {"S": "slack-post#abc"}}


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-central-1")
        create_state_table(client)
        yield client


def test_moto_is_the_pinned_version() -> None:
    assert importlib.metadata.version("moto") == "5.2.5"


def test_a_failed_conditional_put_returns_the_item_it_lost_to(dynamodb: Any) -> None:
    item = {**KEY, "status": {"S": "COMPLETED"}, "expires_at": {"N": "2000000000"}}
    condition = "attribute_not_exists(pk) OR expires_at < :now"
    dynamodb.put_item(
        TableName=STATE_TABLE,
        Item=item,
        ConditionExpression=condition,
        ExpressionAttributeValues={":now": {"N": "1800000000"}},
    )
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException) as raised:
        dynamodb.put_item(
            TableName=STATE_TABLE,
            Item={**KEY, "status": {"S": "INPROGRESS"}, "expires_at": {"N": "2000000001"}},
            ConditionExpression=condition,
            ExpressionAttributeValues={":now": {"N": "1800000000"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert raised.value.response["Item"] == item
    # An expired record is taken over, as powertools expects.
    dynamodb.put_item(
        TableName=STATE_TABLE,
        Item={**KEY, "status": {"S": "INPROGRESS"}, "expires_at": {"N": "2000000001"}},
        ConditionExpression=condition,
        ExpressionAttributeValues={":now": {"N": "2100000000"}},
    )


def test_update_operands_read_the_item_as_it_was_and_failures_return_it(dynamodb: Any) -> None:
    key = {"pk": {"S": "INSTANCE#i-1"}, "sk": {"S": "COMPLIANCE"}}

    def update(status: str, time: str) -> dict[str, Any]:
        response: dict[str, Any] = dynamodb.update_item(
            TableName=STATE_TABLE,
            Key=key,
            UpdateExpression="SET #s = :s, event_time = :t, previous = if_not_exists(#s, :none)",
            ConditionExpression="attribute_not_exists(event_time) OR event_time < :t",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": time}, ":none": {"S": ""}},
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return response["Attributes"]

    assert update("compliant", "1")["previous"] == {"S": ""}
    assert update("non_compliant", "2")["previous"] == {"S": "compliant"}
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException) as raised:
        update("compliant", "2")
    assert raised.value.response["Item"]["previous"] == {"S": "compliant"}
    assert raised.value.response["Item"]["status"] == {"S": "non_compliant"}


def test_update_item_on_a_new_item_stores_the_bare_key_first_and_the_handler_answers_whole() -> (
    None
):
    # localcloud.adapters.dynamodb_atomic holds one lock over DynamoHandler.call_action: the
    # reason (UpdateItem stores the key, then updates the item in place) and the place (the
    # handler's call_action dispatches the action and serialises its result) must both hold.
    import inspect

    from moto.core.responses import BaseResponse
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler

    from localcloud.core import motopatch

    update = inspect.getsource(DynamoDBBackend.update_item)
    assert update.index("table.put_item(data)") < update.index("UpdateExpressionExecutor(")
    handler = DynamoHandler.call_action
    assert "return super().call_action()" in inspect.getsource(
        getattr(handler, motopatch.ORIGINAL, handler)
    )
    base = inspect.getsource(BaseResponse.call_action)
    assert "response = method()" in base
    assert "self.serialized(response)" in base

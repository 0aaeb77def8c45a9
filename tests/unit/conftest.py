"""Unit tests never touch the network: pytest-socket blocks every socket but Unix ones."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from pytest_socket import disable_socket


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup() -> None:
    disable_socket(allow_unix_socket=True)
    # Each test is a new account: no boto3 client or cached policy from the last one.
    from fleetpatch import aws

    aws.reset_clients()


STATE_TABLE = "state"


def create_state_table(dynamodb: Any, name: str = STATE_TABLE) -> None:
    """The template's state table (pk/sk and the gsi1 index), in moto."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def state_table() -> Iterator[Any]:
    """A DynamoDB client (moto) with a table shaped like the template's state table."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
        create_state_table(dynamodb)
        yield dynamodb

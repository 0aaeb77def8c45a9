"""Canaries: the moto 5.2.5 internals localcloud.adapters.dynamodb_values replaces, and proof
that each replacement answers exactly what moto's own method answers.

If one fails after a moto upgrade, revisit localcloud/adapters/dynamodb_values.py.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.parsing import ast_nodes, executors, validators

from localcloud.adapters import dynamodb_values
from localcloud.core import motopatch

REGION = "eu-central-1"

_BLOB = base64.b64encode(b"\x00\x01binary\xff").decode()
VALUES: list[dict[str, Any]] = [
    {"S": "i-0abc"},
    {"S": ""},
    {"S": "naïve ✓"},
    {"N": "12.50"},
    {"N": "-7"},
    {"B": _BLOB},
    {"B": b"raw bytes"},
    {"BOOL": True},
    {"BOOL": False},
    {"NULL": True},
    {"SS": ["a", "bé"]},
    {"NS": ["1", "2.5"]},
    {"BS": [_BLOB]},
    {"L": []},
    {"M": {}},
    {"L": [{"S": "x"}, {"N": "1"}, {"B": _BLOB}, {"L": [{"M": {"k": {"SS": ["z"]}}}]}]},
    {
        "M": {
            "name": {"S": "run"},
            "count": {"N": "3"},
            "blob": {"B": _BLOB},
            "flags": {"M": {"on": {"BOOL": True}, "none": {"NULL": True}}},
            "ids": {"L": [{"S": "i-1"}, {"NS": ["4"]}, {"M": {"deep": {"BS": [_BLOB]}}}]},
        }
    },
]


def _original(name: str) -> Any:
    return motopatch.original(DynamoType, name)


@pytest.fixture(autouse=True)
def _installed() -> None:
    dynamodb_values.install()


def test_dynamo_type_keeps_the_methods_and_fields_replaced() -> None:
    assert motopatch.is_patched(DynamoType.to_regular_json, dynamodb_values.TAG)
    assert motopatch.is_patched(DynamoType.size, dynamodb_values.TAG)
    assert list(inspect.signature(_original("to_regular_json")).parameters) == ["self"]
    assert list(inspect.signature(_original("size")).parameters) == ["self"]
    value = DynamoType({"M": {"a": {"S": "b"}}})
    assert value.type == "M"
    assert isinstance(value.value["a"], DynamoType)


@pytest.mark.parametrize("raw", VALUES, ids=lambda raw: next(iter(raw)))
def test_to_regular_json_and_size_answer_what_moto_answers(raw: dict[str, Any]) -> None:
    value = DynamoType(raw)
    assert value.to_regular_json() == _original("to_regular_json")(value)
    assert value.size() == _original("size")(value)
    # the answer shares no container with the value (moto's deep copy did not either)
    answer = value.to_regular_json()
    inner = answer[value.type]
    if isinstance(inner, dict | list):
        assert inner is not value.value


def test_item_rendering_and_size_are_moto_s() -> None:
    # moto's Item.to_regular_json cannot deserialize a binary set (either way): none here.
    attrs = {f"a{n}": raw for n, raw in enumerate(VALUES) if "'BS'" not in str(raw)}
    item = Item(DynamoType({"S": "pk"}), DynamoType({"S": "sk"}), attrs=attrs)
    rendered = item.to_json()
    saved = DynamoType.to_regular_json, DynamoType.size
    try:
        DynamoType.to_regular_json = _original("to_regular_json")  # type: ignore[method-assign]
        DynamoType.size = _original("size")  # type: ignore[method-assign]
        assert item.to_json() == rendered
        expected_size = item.size()
        expected_regular = item.to_regular_json()
    finally:
        DynamoType.to_regular_json, DynamoType.size = saved  # type: ignore[method-assign]
    assert item.size() == expected_size
    assert item.to_regular_json() == expected_regular


def _traversers() -> list[type]:
    found: list[type] = []
    pending = [ast_nodes.DepthFirstTraverser]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_no_traverser_overrides_the_replaced_methods_and_each_map_is_constant() -> None:
    assert validators.UpdateExpressionValidator  # every traverser is imported
    assert executors
    traversers = _traversers()
    assert len(traversers) > 5
    for cls in traversers[1:]:
        assert "nodes_to_be_processed" not in cls.__dict__, cls
        assert "process" not in cls.__dict__, cls
        source = inspect.getsource(cls._processing_map)
        # a literal {NodeClass: self.method} dict: the same for a traverser's whole life
        assert "return {" in source, cls
    assert motopatch.is_patched(ast_nodes.DepthFirstTraverser.process, dynamodb_values.TAG)
    source = inspect.getsource(motopatch.original(ast_nodes.DepthFirstTraverser, "process"))
    assert "for class_key, processor in self._processing_map().items():" in source
    assert "if isinstance(node, class_key):" in source


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="t",
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
        yield client


KEY = {"pk": {"S": "p"}, "sk": {"S": "s"}}
UPDATES: list[dict[str, Any]] = [
    {"UpdateExpression": "SET a = :a, b = if_not_exists(b, :n)", "ReturnValues": "ALL_NEW"},
    {"UpdateExpression": "SET m = :m", "ReturnValues": "UPDATED_NEW"},
    {"UpdateExpression": "SET m.x = :a, n = n + :n", "ReturnValues": "ALL_OLD"},
    {"UpdateExpression": "ADD s :s", "ReturnValues": "UPDATED_OLD"},
    {"UpdateExpression": "REMOVE a", "ReturnValues": "ALL_NEW"},
    {"UpdateExpression": "SET a = :a, a = :n"},  # overlapping paths
    {"UpdateExpression": "SET pk = :a"},  # a key attribute
    {"UpdateExpression": "SET q = missing + :n"},  # a path that does not exist
    {"UpdateExpression": "SET a = :nope"},  # an undefined value
    {"UpdateExpression": "SET a = :a ADD s :s ADD s :s"},  # two ADD clauses
    {"UpdateExpression": "SET z = :a", "ConditionExpression": "attribute_not_exists(a)"},
]
VALUES_USED = {
    ":a": {"S": "v"},
    ":n": {"N": "2"},
    ":m": {"M": {"x": {"S": "y"}, "l": {"L": [{"B": b"\x01"}, {"SS": ["q"]}]}}},
    ":s": {"SS": ["one", "two"]},
}


def _run(client: Any) -> list[Any]:
    answers: list[Any] = []
    for update in UPDATES:
        expression = update["UpdateExpression"] + " " + update.get("ConditionExpression", "")
        values = {k: v for k, v in VALUES_USED.items() if k in expression}
        try:
            answer = client.update_item(
                TableName="t", Key=KEY, ExpressionAttributeValues=values, **update
            )
            answers.append(answer.get("Attributes"))
        except client.exceptions.ClientError as error:
            answers.append((error.response["Error"]["Code"], error.response["Error"]["Message"]))
    answers.append(client.get_item(TableName="t", Key=KEY, ConsistentRead=True)["Item"])
    return answers


def test_update_item_answers_and_errors_are_moto_s(dynamodb: Any) -> None:
    patched = _run(dynamodb)
    dynamodb.delete_item(TableName="t", Key=KEY)
    names = ("to_regular_json", "size")
    traverser = ast_nodes.DepthFirstTraverser
    saved = [getattr(DynamoType, n) for n in names] + [
        traverser.process,
        traverser.nodes_to_be_processed,
    ]
    try:
        for name in names:
            setattr(DynamoType, name, _original(name))
        traverser.process = motopatch.original(traverser, "process")  # type: ignore[method-assign]
        traverser.nodes_to_be_processed = motopatch.original(  # type: ignore[method-assign]
            traverser, "nodes_to_be_processed"
        )
        expected = _run(dynamodb)
    finally:
        DynamoType.to_regular_json, DynamoType.size = saved[0], saved[1]  # type: ignore[method-assign]
        traverser.process, traverser.nodes_to_be_processed = saved[2], saved[3]  # type: ignore[method-assign]
    assert patched == expected
    assert sum(isinstance(a, tuple) for a in expected) >= 4  # the errors were exercised

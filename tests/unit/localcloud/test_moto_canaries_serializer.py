"""Canaries: the moto 5.2.5 serializer internals localcloud.adapters.serializer reads, and
proof that responses rendered with the fast path are byte for byte moto's own.

If one fails after a moto upgrade, revisit localcloud/adapters/serializer.py.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import serialize
from moto.core.utils import get_service_model

from localcloud.adapters import serializer

REGION = "eu-central-1"


@contextlib.contextmanager
def _moto_own() -> Iterator[None]:
    """moto's ``get_value`` (unpatched) for the duration."""
    patched = serialize.ResponseSerializer.get_value
    original = getattr(patched, "_fleetpatch_original", patched)
    serialize.ResponseSerializer.get_value = original  # type: ignore[method-assign]
    try:
        yield
    finally:
        serialize.ResponseSerializer.get_value = patched  # type: ignore[method-assign]


def test_the_picker_internals_are_where_the_fast_path_expects_them() -> None:
    assert list(inspect.signature(serialize.ResponseSerializer.get_value).parameters) == [
        "self",
        "value",
        "key",
        "shape",
    ]
    assert [
        serialize.ExplicitAlias,
        serialize.ShapeNameAlias,
        serialize.NoAlias,
        serialize.ShapePrefixAlias,
        serialize.ClassPrefixAlias,
        serialize.ModelAlias,
    ] == serialize.DEFAULT_ALIAS_PROVIDERS
    picker = serialize.XFormedAttributePicker()
    assert picker.alias_providers is serialize.DEFAULT_ALIAS_PROVIDERS
    assert picker.response_transformers == {}
    assert "member_shape.parent = shape" in inspect.getsource(
        serialize.ResponseSerializer._serialize_type_structure
    )
    # Only ResponseSerializer defines get_value: no protocol overrides it.
    owners = [
        cls
        for cls in vars(serialize).values()
        if isinstance(cls, type) and "get_value" in cls.__dict__
    ]
    assert owners == [serialize.ResponseSerializer]
    assert "self._value_picker(context)" in inspect.getsource(
        serialize.ResponseSerializer.get_value
    )


def test_install_is_idempotent() -> None:
    serializer.install()
    first = serialize.ResponseSerializer.get_value
    serializer.install()
    assert serialize.ResponseSerializer.get_value is first
    assert getattr(first, "_fleetpatch_original", None) is not None


def _render(operation: str, service: str, result: Any, picker: Any) -> Any:
    model = get_service_model(service).operation_model(operation)
    cls = serialize.get_serializer_class(service, model.service_model.protocol)
    return cls(operation_model=model, value_picker=picker).serialize(result)["body"]


def _shape_name_member(service: str) -> tuple[str, str, str]:
    """An output member for which moto tries the shape's name before the key."""
    model = get_service_model(service)
    for operation in model.operation_names:
        shape = model.operation_model(operation).output_shape
        for key, member in getattr(shape, "members", {}).items():
            if (
                member.type_name == "list"
                and member.member.type_name == "string"
                and member.name != key
                and member.name not in shape.members
            ):
                return operation, key, member.name
    raise AssertionError(f"no such member in {service}")


@pytest.mark.parametrize(
    "picker",
    [serialize.XFormedAttributePicker(), serialize.DefaultAttributePicker()],
    ids=["xformed", "default"],
)
def test_a_dict_holding_both_the_shape_name_and_the_key_renders_as_moto_renders_it(
    picker: Any,
) -> None:
    serializer.install()
    operation, key, shape_name = _shape_name_member("ssm")
    result = {key: ["from-the-key"], shape_name: ["from-the-shape-name"]}
    fast = _render(operation, "ssm", result, picker)
    with _moto_own():
        own = _render(operation, "ssm", result, picker)
    assert fast == own
    # moto's choice differs by picker: the shape's name first (aliases), or the key alone.
    default = type(picker) is serialize.DefaultAttributePicker
    assert json.loads(fast)[key] == ["from-the-key" if default else "from-the-shape-name"]


def test_a_picker_with_response_transformers_is_left_to_moto() -> None:
    serializer.install()
    picker = serialize.XFormedAttributePicker(
        response_transformers={"InstanceInformationList": serialize.never_return}
    )
    result = {"InstanceInformationList": [{"InstanceId": "i-0123456789abcdef0"}]}
    fast = _render("DescribeInstanceInformation", "ssm", result, picker)
    assert "InstanceInformationList" not in json.loads(fast)


def _calls(clients: dict[str, Any]) -> dict[str, Any]:
    ssm, ddb, sqs, ec2 = clients["ssm"], clients["dynamodb"], clients["sqs"], clients["ec2"]
    out: dict[str, Any] = {
        "baselines": ssm.describe_patch_baselines(),
        "parameters": ssm.get_parameters(Names=["/fleet/a", "/fleet/b", "/missing"]),
        "documents": ssm.list_documents(MaxResults=5),
        "items": ddb.query(
            TableName="t",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": "run"}},
        ),
        "table": ddb.describe_table(TableName="t"),
        "queue": sqs.get_queue_attributes(QueueUrl=clients["queue"], AttributeNames=["All"]),
        "instances": ec2.describe_instances(),
        "tags": ec2.describe_tags(),
    }
    for value in out.values():
        value.pop("ResponseMetadata", None)
        value.get("Table", {}).pop("TableStatus", None)
    return out


def test_responses_through_boto3_are_moto_own() -> None:
    with mock_aws():
        serializer.install()
        clients: dict[str, Any] = {
            name: boto3.client(name, region_name=REGION)
            for name in ("ssm", "dynamodb", "sqs", "ec2")
        }
        ssm, ddb = clients["ssm"], clients["dynamodb"]
        ssm.put_parameter(Name="/fleet/a", Value="1", Type="String")
        ssm.put_parameter(Name="/fleet/b", Value="2", Type="StringList")
        ddb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(
            TableName="t",
            Item={"pk": {"S": "run"}, "n": {"N": "3"}, "l": {"L": [{"M": {"x": {"BOOL": True}}}]}},
        )
        clients["queue"] = clients["sqs"].create_queue(QueueName="q")["QueueUrl"]
        clients["ec2"].run_instances(
            ImageId="ami-12c6146b",
            MinCount=2,
            MaxCount=2,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": [{"Key": "Patch Group", "Value": "g"}]}
            ],
        )
        fast = _calls(clients)
        with _moto_own():
            own = _calls(clients)
    assert fast == own
    assert fast["parameters"]["InvalidParameters"] == ["/missing"]


def _members(service: str) -> Iterator[tuple[Any, str, Any]]:
    """Every (structure, key, member shape) reachable from the service's outputs."""
    model = get_service_model(service)
    seen: set[str] = set()  # by name: botocore builds new shapes for recursive references
    todo = [model.operation_model(op).output_shape for op in model.operation_names]
    while todo:
        shape = todo.pop()
        if shape is None or shape.name in seen:
            continue
        seen.add(shape.name)
        if shape.type_name == "structure":
            for key, member in shape.members.items():
                member.parent = shape  # as moto's structure serializer sets it
                yield shape, key, member
                todo.append(member)
        elif shape.type_name == "list":
            todo.append(shape.member)
        elif shape.type_name == "map":
            todo.append(shape.value)


@pytest.mark.parametrize("service", ["ssm", "ec2", "dynamodb", "sqs", "stepfunctions", "events"])
@pytest.mark.parametrize("xformed", [True, False])
def test_the_keys_tried_on_a_dict_are_moto_own_in_its_order(service: str, xformed: bool) -> None:
    picker = serialize.XFormedAttributePicker() if xformed else serialize.AttributePicker()
    checked = 0
    for _, key, member in _members(service):
        context = serialize.AttributePickerContext(obj={}, key=key, shape=member)
        own = tuple(picker.get_possible_keys(context))
        assert serializer._keys_tried(member, key, xformed) == own, (service, key, member.name)
        checked += 1
    assert checked > 40

"""Canaries: where moto 5.2.5 calls ``xmltodict.unparse``, and proof that
localcloud.adapters.xml_bodies writes exactly what xmltodict writes (or leaves it to it).

If one fails after a moto or xmltodict upgrade, revisit localcloud/adapters/xml_bodies.py.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import xmltodict
from moto import mock_aws
from moto.core import serialize

from localcloud.adapters import xml_bodies

REGION = "eu-central-1"


def test_moto_calls_unparse_on_the_module_it_imported() -> None:
    source = inspect.getsource(serialize)
    assert "import xmltodict" in source
    assert source.count("xmltodict.unparse(") >= 4
    assert callable(xmltodict._validate_name)  # type: ignore[attr-defined]
    xml_bodies.install()
    assert serialize.xmltodict.unparse is xml_bodies.unparse
    assert serialize.xmltodict.parse is xmltodict.parse
    xml_bodies.install()
    assert serialize.xmltodict._fleetpatch_original is xmltodict


def _both(body: Any, **options: Any) -> tuple[Any, Any]:
    def run(unparse: Any) -> Any:
        try:
            return unparse(body, **options)
        except Exception as exc:
            return (type(exc), str(exc))

    return run(xml_bodies.unparse), run(xml_bodies._original_unparse)


EDGE_CASES: list[Any] = [
    {"R": {"a": "x & <y> \"z\" 'w'", "@attr": "say \"hi\" & 'bye'\n\t", "b": None}},
    {"R": {"t": True, "f": False, "n": 0, "fl": 1.5, "bytes": b"\xff\xfeok", "empty": ""}},
    {"R": {"list": [1, None, "s", {"k": "v"}, [1, 2]], "gone": [], "tuple": ()}},
    {"R": {"#text": "body", "@id": None, "@n": 3, "child": {"#text": None}}},
    {"R": {"#text": "", "x": {"#text": ""}}},
    {"R": {"deep": {"deeper": {"deepest": [{"a": "1"}, {"a": "2", "@b": "c"}]}}}},
    {"R": {"gen": (i for i in range(3)), "e": {}}},
    {"R": {"#comment": "a note", "a": "1"}},
    {"R": {"@xmlns": {"": "urn:x", "p": "urn:p"}, "a": "1"}},
    {"R": {"bad name": "1"}},
    {"R": {"@bad=attr": "1"}},
    {"R": {1: "numeric name"}},
    {"R": "one", "S": "two"},
    {"R": ["one", "two"]},
    {},
]


@pytest.mark.parametrize("body", EDGE_CASES)
@pytest.mark.parametrize(
    "options",
    [
        {"full_document": True, "short_empty_elements": True},
        {"full_document": False, "short_empty_elements": True},
        {"full_document": True, "short_empty_elements": False},
        {"full_document": True, "short_empty_elements": True, "pretty": True},
    ],
)
def test_edge_cases_are_written_as_xmltodict_writes_them(body: Any, options: Any) -> None:
    copy = dict(body)
    fast, own = _both(body, **options)
    if any(inspect.isgenerator(v) for v in _values(copy)):
        return  # a generator is consumed by the first writer; see the test below
    assert fast == own


def _values(body: dict[str, Any]) -> Iterator[Any]:
    for value in body.values():
        yield value
        if isinstance(value, dict):
            yield from _values(value)


def test_a_generator_is_written_as_xmltodict_writes_it() -> None:
    fast = xml_bodies.unparse({"R": {"gen": (i for i in range(3))}}, short_empty_elements=True)
    own = xmltodict.unparse({"R": {"gen": (i for i in range(3))}}, short_empty_elements=True)
    assert fast == own


def test_real_responses_are_written_as_xmltodict_writes_them() -> None:
    captured: list[tuple[Any, dict[str, Any]]] = []

    def capture(body: Any, **options: Any) -> Any:
        captured.append((body, options))
        return xml_bodies._original_unparse(body, **options)

    with mock_aws():
        xml_bodies.install()
        proxy = serialize.xmltodict
        proxy.unparse = capture
        try:
            ec2 = boto3.client("ec2", region_name=REGION)
            ids = [
                i["InstanceId"]
                for i in ec2.run_instances(
                    ImageId="ami-12c6146b",
                    MinCount=3,
                    MaxCount=3,
                    TagSpecifications=[
                        {
                            "ResourceType": "instance",
                            "Tags": [{"Key": "Patch Group", "Value": "a & <b>"}],
                        }
                    ],
                )["Instances"]
            ]
            ec2.describe_instances(InstanceIds=ids)
            ec2.describe_tags()
            ec2.describe_instance_status(InstanceIds=ids, IncludeAllInstances=True)
            ec2.stop_instances(InstanceIds=ids[:1])
            with pytest.raises(ec2.exceptions.ClientError):
                ec2.describe_instances(InstanceIds=["i-0000000000000000f"])
            asg = boto3.client("autoscaling", region_name=REGION)
            asg.describe_auto_scaling_groups()
            iam = boto3.client("iam", region_name=REGION)
            iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}", Description="x & y")
            iam.list_roles()
            s3 = boto3.client("s3", region_name=REGION)
            s3.create_bucket(
                Bucket="fleetpatch-canary", CreateBucketConfiguration={"LocationConstraint": REGION}
            )
            s3.put_object(Bucket="fleetpatch-canary", Key="k & <1>", Body=b"x")
            s3.list_objects_v2(Bucket="fleetpatch-canary")
            sns = boto3.client("sns", region_name=REGION)
            sns.create_topic(Name="t")
            sns.list_topics()
        finally:
            proxy.unparse = xml_bodies.unparse
    assert len(captured) >= 10
    for body, options in captured:
        assert xml_bodies.unparse(body, **options) == xml_bodies._original_unparse(body, **options)

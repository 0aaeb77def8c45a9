"""Canaries: the moto 5.2.5 internals localcloud.adapters.lookups speeds up, and proof that
each fast path answers exactly what moto's own code answers on the same account.

If one fails after a moto upgrade, revisit localcloud/adapters/lookups.py.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.adapters import lookups

REGION = "eu-central-1"


@pytest.fixture
def ec2() -> Iterator[Any]:
    with mock_aws():
        lookups.install()
        client = boto3.client("ec2", region_name=REGION)
        yield client


def _backend() -> Any:
    from moto.ec2.models import ec2_backends

    return ec2_backends["123456789012"][REGION]


def _original(owner: type, name: str) -> Any:
    return getattr(owner, name)._fleetpatch_original


def _launch(ec2: Any, count: int, tags: dict[str, str]) -> list[str]:
    response = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=count,
        MaxCount=count,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
            }
        ],
    )
    return [i["InstanceId"] for i in response["Instances"]]


def test_the_moto_internals_read_are_where_the_fast_paths_expect_them() -> None:
    from moto.dynamodb.parsing import validators
    from moto.ec2.models import core, instances, tags
    from moto.s3.models import S3Backend

    assert "self.tags.copy().items()" in inspect.getsource(tags.TagBackend.describe_tags)
    assert hasattr(tags.TagBackend, "VALID_TAG_FILTERS")
    # every instance's tags are one describe_tags by resource-id: the N^2 this removes
    assert 'describe_tags(filters={"resource-id": [self.id]})' in inspect.getsource(
        core.TaggedEC2Resource.get_tags
    )
    backend = inspect.getsource(instances.InstanceBackend.__init__)
    assert "self.reservations: dict[str, Reservation] = OrderedDict()" in backend
    assert "reservations = filter_reservations(reservations, filters)" in inspect.getsource(
        instances.InstanceBackend.all_reservations
    )
    for name in (
        "get_instance",
        "get_instance_by_id",
        "get_multi_instances_by_id",
        "get_reservations_by_instance_ids",
        "all_reservations",
    ):
        assert name in vars(instances.InstanceBackend), name
    # a cached UpdateExpression tree is safe only because moto validates a deep copy
    assert "self.node_to_validate = deepcopy(expression)" in inspect.getsource(
        validators.Validator.__init__
    )
    assert isinstance(vars(S3Backend)["_url_module"], property)


def test_describe_tags_by_resource_id_answers_as_moto_does(ec2: Any) -> None:
    from moto.ec2.models.tags import TagBackend

    ids = _launch(ec2, 5, {"Patch Group": "g1", "Name": "web"})
    backend = _backend()
    original = _original(TagBackend, "describe_tags")
    for filters in (
        {"resource-id": [ids[2]]},
        {"resource-id": [ids[0], ids[3], "i-00000000000000000"], "key": ["Patch Group"]},
        {"resource-id": [ids[1]], "key": ["Patch*"], "value": ["g1"]},
        {"resource-id": ["i-*"]},  # a pattern: moto's own scan
        {"key": ["Name"]},
    ):
        assert backend.describe_tags(filters) == original(backend, filters), filters
    described = ec2.describe_tags(
        Filters=[{"Name": "resource-id", "Values": [ids[4]]}, {"Name": "key", "Values": ["Name"]}]
    )["Tags"]
    assert described == [
        {"ResourceId": ids[4], "ResourceType": "instance", "Key": "Name", "Value": "web"}
    ]


def test_describe_tags_by_key_answers_as_moto_does(ec2: Any) -> None:
    from moto.ec2.models.tags import TagBackend
    from moto.ec2.utils import simple_aws_filter_to_re

    # moto matches a key filter with fnmatch's anchored pattern: a literal is the key itself
    source = inspect.getsource(_original(TagBackend, "describe_tags"))
    assert "re.compile(simple_aws_filter_to_re(value))" in source
    assert "if pattern.match(key) is not None:" in source
    assert re.compile(simple_aws_filter_to_re("Patch")).match("PatchGroup") is None
    assert re.compile(simple_aws_filter_to_re("a.b+c")).match("aXb+c") is None

    grouped = _launch(ec2, 3, {"Patch Group": "g1", "Name": "web", "a.b+c": "x"})
    other = _launch(ec2, 2, {"PatchGroup": "g2", "Name": "db"})
    untagged = _launch(ec2, 1, {"Owner": "me"})
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=1)["VolumeId"]
    ec2.create_tags(Resources=[volume], Tags=[{"Key": "Patch Group", "Value": "g1"}])
    ec2.create_tags(Resources=[grouped[1]], Tags=[{"Key": "Patch Group", "Value": "g3"}])
    backend = _backend()
    original = _original(TagBackend, "describe_tags")
    for filters in (
        {"key": ["Patch Group"]},
        {"key": ["Patch Group", "PatchGroup"], "resource-type": ["instance"]},
        {"key": ["PatchGroup", "Patch Group"], "value": ["g1", "g2"]},
        {"key": ["Patch"]},
        {"key": ["a.b+c"]},
        {"key": ["Name"], "resource-id": ["i-*"]},
        {"key": ["Patch*"]},  # a pattern: moto's own scan
        {"key": ["nothing"]},
        {"key": ["Owner"], "resource-id": [untagged[0], other[0]]},
    ):
        assert backend.describe_tags(filters) == original(backend, filters), filters
    described = ec2.describe_tags(
        Filters=[
            {"Name": "resource-type", "Values": ["instance"]},
            {"Name": "key", "Values": ["Patch Group", "PatchGroup"]},
        ]
    )["Tags"]
    assert sorted((t["ResourceId"], t["Value"]) for t in described) == sorted(
        [(grouped[0], "g1"), (grouped[1], "g3"), (grouped[2], "g1"), *((i, "g2") for i in other)]
    )


def test_instance_lookups_answer_as_moto_does(ec2: Any) -> None:
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.models.instances import InstanceBackend

    first = _launch(ec2, 3, {"Patch Group": "g1"})
    second = _launch(ec2, 2, {"Patch Group": "g2"})
    ec2.terminate_instances(InstanceIds=[first[1]])
    backend = _backend()

    def same(name: str, *args: Any) -> None:
        fast = getattr(backend, name)(*args)
        slow = _original(InstanceBackend, name)(backend, *args)
        if isinstance(fast, list) and fast and hasattr(fast[0], "instances"):
            fast = [(r.id, [i.id for i in r.instances]) for r in fast]
            slow = [(r.id, [i.id for i in r.instances]) for r in slow]
        assert fast == slow, (name, args)

    same("get_instance", second[1])
    same("get_instance_by_id", first[1])
    same("get_instance_by_id", "i-00000000000000000")
    same("get_multi_instances_by_id", [second[0], first[2]])
    same(
        "get_multi_instances_by_id",
        [first[0], first[1]],
        [{"name": "instance-state-name", "values": ["terminated"]}],
    )
    same("get_reservations_by_instance_ids", [second[1], first[0], first[2]])
    same("get_reservations_by_instance_ids", [first[1]], {"instance-state-name": ["running"]})
    same("all_reservations", {"instance-id": [first[2], second[0], "i-00000000000000000"]})
    same("all_reservations", {"instance-id": ["i-*"]})
    same("all_reservations", {"tag:Patch Group": ["g2"]})
    same("all_reservations")
    with pytest.raises(InvalidInstanceIdError):
        backend.get_instance("i-00000000000000000")
    with pytest.raises(InvalidInstanceIdError):
        backend.get_reservations_by_instance_ids([first[0], "i-00000000000000000"])

    # what the handlers see
    described = ec2.describe_instances(InstanceIds=[second[1]])["Reservations"]
    assert [[i["InstanceId"] for i in r["Instances"]] for r in described] == [[second[1]]]
    assert described[0]["Instances"][0]["Tags"] == [{"Key": "Patch Group", "Value": "g2"}]
    filtered = ec2.describe_instances(Filters=[{"Name": "instance-id", "Values": [first[1]]}])
    assert filtered["Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated"


def test_update_expressions_are_parsed_once_and_never_shared_between_items() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    with mock_aws():
        lookups.install()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        expression = "SET #v = :v, n = if_not_exists(n, :zero) + :one"
        for key, value in (("a", "1"), ("b", "2"), ("a", "3")):
            dynamodb.update_item(
                TableName="t",
                Key={"pk": {"S": key}},
                UpdateExpression=expression,
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={
                    ":v": {"S": value},
                    ":zero": {"N": "0"},
                    ":one": {"N": "1"},
                },
            )
        items = {
            i["pk"]["S"]: (i["value"]["S"], i["n"]["N"])
            for i in dynamodb.scan(TableName="t")["Items"]
        }
        assert items == {"a": ("3", "2"), "b": ("2", "1")}
        assert UpdateExpressionParser.make(expression) is UpdateExpressionParser.make(expression)


def test_s3_requests_reuse_the_url_module() -> None:
    from moto.s3.models import S3Backend

    with mock_aws():
        lookups.install()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(
            Bucket="fleetpatch-canary", CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        s3.put_object(Bucket="fleetpatch-canary", Key="k", Body=b"x")
        assert s3.get_object(Bucket="fleetpatch-canary", Key="k")["Body"].read() == b"x"
        backend = object.__new__(S3Backend)
        assert backend._url_module is backend._url_module
        assert backend.url_bases  # moto still routes S3 from it


# --- SQS SendMessage: one attribute, not all of them ------------------------------------------


def test_moto_send_message_reads_only_content_based_deduplication() -> None:
    import re

    from moto.sqs.models import Queue, SQSBackend

    for source in (
        inspect.getsource(SQSBackend.send_message),
        inspect.getsource(Queue.add_message),
    ):
        reads = re.findall(r"\.attributes\b(.{0,40})", source)
        assert reads, "moto no longer reads Queue.attributes while sending: drop the fast path"
        assert all(r.startswith('.get("ContentBasedDeduplication")') for r in reads), reads
    assert isinstance(Queue.__dict__["attributes"], property)


@pytest.mark.parametrize(
    "attributes",
    [{}, {"FifoQueue": "true"}, {"FifoQueue": "true", "ContentBasedDeduplication": "true"}],
)
def test_sending_attributes_agree_with_moto(attributes: dict[str, str]) -> None:
    from moto.sqs.models import Queue, sqs_backends

    with mock_aws():
        lookups.install()
        sqs = boto3.client("sqs", region_name=REGION)
        name = "q.fifo" if attributes.get("FifoQueue") else "q"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        queue = sqs_backends["123456789012"][REGION].get_queue(name)
        moto_view = Queue.__dict__["attributes"].fget._fleetpatch_original(queue)
        assert lookups.sending_attributes(queue).get("ContentBasedDeduplication") == (
            moto_view.get("ContentBasedDeduplication")
        )
        # And sends behave as moto's: a FIFO queue with content-based deduplication drops
        # the duplicate; the queue's counts are still counted when asked.
        group = {"MessageGroupId": "g"} if attributes.get("FifoQueue") else {}
        extra = {"MessageDeduplicationId": "d"} if group and len(attributes) == 1 else {}
        for _ in range(2):
            sqs.send_message(QueueUrl=url, MessageBody="same", **group, **extra)
        count = sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"]
        assert count == ("1" if group else "2")


# --- RunInstances: new instances are indexed as they come, not by rebuilding ------------------


def test_moto_registers_a_reservation_before_creating_its_instances() -> None:
    from moto.ec2.models import instances

    # The module's text, not the method: the local cloud wraps run_instances (adapters.ssm)
    module = inspect.getsource(instances)
    start = module.index("    def run_instances(")
    source = module[start : module.index("\n    def ", start + 1)]
    registered = source.index("self.reservations[new_reservation.id] = new_reservation")
    assert registered < source.index("for index in range(count)")
    assert "setup_defaults()" in source


def test_launching_many_instances_indexes_each_once(ec2: Any, monkeypatch: Any) -> None:
    # Given the index, counting full rebuilds
    rebuilds: list[int] = []
    original = lookups._InstanceIndex._rebuild

    def counted(self: Any, backend: Any) -> None:
        rebuilds.append(1)
        original(self, backend)

    monkeypatch.setattr(lookups._InstanceIndex, "_rebuild", counted)
    # When one RunInstances call launches 50 instances (each looked up as it is created)
    ids = _launch(ec2, 50, {"Patch Group": "g"})
    # Then no lookup rebuilt the whole index, and every instance is found as moto finds it
    assert rebuilds == []
    backend = _backend()
    for instance_id in ids:
        assert backend.get_instance(instance_id) is _original(type(backend), "get_instance")(
            backend, instance_id
        )


# --- DynamoDB: a Query reads its partition only ------------------------------------------------


def test_moto_queries_a_table_from_all_its_items() -> None:
    from moto.dynamodb.models.table import Table

    query = inspect.getsource(_original(Table, "query"))
    assert "for item in self.all_items()" in query
    assert "isinstance(item, Item) and item.hash_key == hash_key" in query
    assert "self.items = defaultdict(dict)" in inspect.getsource(Table.__init__)
    assert "hash_key" in inspect.signature(Table.query).parameters
    assert "index_name" in inspect.signature(Table.query).parameters


def _table(dynamodb: Any, name: str, *, sort_key: bool) -> None:
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    if sort_key:
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
    dynamodb.create_table(
        TableName=name,
        KeySchema=schema,
        AttributeDefinitions=attributes,
        BillingMode="PAY_PER_REQUEST",
    )


def test_a_query_on_the_table_key_answers_as_moto_does(monkeypatch: Any) -> None:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    with mock_aws():
        lookups.install()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _table(dynamodb, "t", sort_key=True)
        _table(dynamodb, "h", sort_key=False)
        for pk in ("WAITING", "RUN#1", "RUN#2", "A"):
            for n in (7, 3, 11, 1, 5):
                item = {"pk": {"S": pk}, "sk": {"S": f"s#{n:02d}"}, "n": {"N": str(n)}}
                dynamodb.put_item(TableName="t", Item=item)
        for pk in ("x", "y"):
            dynamodb.put_item(TableName="h", Item={"pk": {"S": pk}, "v": {"S": pk * 2}})
        table = dynamodb_backends["123456789012"][REGION].get_table("t")
        plain = dynamodb_backends["123456789012"][REGION].get_table("h")
        original_all = _original(Table, "all_items")
        for tbl, pk in ((table, "WAITING"), (table, "RUN#2"), (table, "none"), (plain, "y")):
            hk = DynamoType({"S": pk})
            assert lookups.partition_items(tbl, hk) == [
                i for i in original_all(tbl) if i.hash_key == hk
            ]

        asked: list[Any] = []
        real = lookups.partition_items
        monkeypatch.setattr(
            lookups, "partition_items", lambda t, hk: asked.append(hk) or real(t, hk)
        )
        original_query = _original(Table, "query")
        for args, kwargs in (
            (("RUN#1", None, [], None, None, True, None), {}),
            (("RUN#1", None, [], None, None, False, None), {}),
            (("RUN#1", "BEGINS_WITH", [{"S": "s#0"}], 2, None, True, None), {}),
            (("RUN#1", "BETWEEN", [{"S": "s#03"}, {"S": "s#07"}], None, None, True, None), {}),
            (("RUN#1", None, [], 2, {"pk": {"S": "RUN#1"}, "sk": {"S": "s#03"}}, True, None), {}),
            (("none", None, [], None, None, True, None), {}),
        ):
            hk = DynamoType({"S": args[0]})
            values = [DynamoType(v) for v in args[2]]
            call = (hk, args[1], values, *args[3:])
            assert table.query(*call, **kwargs) == original_query(table, *call, **kwargs), args
        assert asked, "the fast path was not taken"
        pages = dynamodb.query(
            TableName="t",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "WAITING"}},
            ConsistentRead=True,
            Limit=3,
        )
        assert [i["sk"]["S"] for i in pages["Items"]] == ["s#01", "s#03", "s#05"]
        assert pages["LastEvaluatedKey"] == {"pk": {"S": "WAITING"}, "sk": {"S": "s#05"}}
        scanned = dynamodb.scan(TableName="t")["Items"]
        assert len(scanned) == 20  # a Scan still sees every partition


# --- S3: what an AWS service writes goes to moto's backend ---------------------------------------


def test_moto_put_object_handler_calls_the_backend_with_bucket_key_and_body() -> None:
    from moto.s3.models import S3Backend
    from moto.s3.responses import S3Response

    handler = inspect.getsource(S3Response.put_object)
    assert "new_key = self.backend.put_object(" in handler
    parameters = list(inspect.signature(S3Backend.put_object).parameters)
    assert parameters[:4] == ["self", "bucket_name", "key_name", "value"]
    assert "if bucket.encryption:" in inspect.getsource(S3Backend.put_object)


def test_a_service_write_is_the_object_a_put_object_request_stores() -> None:
    from moto.s3.exceptions import MissingBucket

    from localcloud.adapters import s3_objects

    with mock_aws():
        lookups.install()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="out", CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_encryption(
            Bucket="out",
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
            },
        )
        s3.put_object(Bucket="out", Key="by/request", Body=b"patched\n")
        s3_objects.put_object("123456789012", REGION, "out", "by/service", b"patched\n")
        by_request = s3.get_object(Bucket="out", Key="by/request")
        by_service = s3.get_object(Bucket="out", Key="by/service")
        assert by_service["Body"].read() == by_request["Body"].read() == b"patched\n"
        for field in ("ServerSideEncryption", "ContentLength", "ETag"):
            assert by_service.get(field) == by_request.get(field), field
        with pytest.raises(MissingBucket):
            s3_objects.put_object("123456789012", REGION, "missing", "k", b"x")


# --- DynamoDB: attribute values already in their wire form ---------------------------------------

EVERY_TYPE = {
    "pk": {"S": "ITEM"},
    "s": {"S": "i-0abc"},
    "empty": {"S": ""},
    "n": {"N": "12.5"},
    "flag": {"BOOL": False},
    "none": {"NULL": True},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2"]},
    "bin": {"B": b"\x00\xffbinary"},
    "bs": {"BS": [b"\x01", b"\x02"]},
    "list": {"L": [{"S": "x"}, {"N": "1"}, {"L": []}, {"M": {"k": {"B": b"\x03"}}}]},
    "map": {"M": {"ids": {"L": [{"S": "i-1"}, {"S": "i-2"}]}, "empty": {"M": {}}}},
}


def test_moto_serialises_dynamodb_attribute_values_as_one_structure_shape() -> None:
    from botocore.session import get_session
    from moto.core.serialize import BaseJSONSerializer, ResponseSerializer

    shape = get_session().get_service_model("dynamodb").shape_for("AttributeValue")
    assert shape.type_name == "structure"
    assert set(shape.members) == {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}
    source = inspect.getsource(_original(BaseJSONSerializer, "_serialize_type_structure"))
    assert "super()._serialize_type_structure(serialized, value, shape, key)" in source
    assert "serialized[serialization_key] = value" in inspect.getsource(
        ResponseSerializer._default_serialize
    )


def test_attribute_values_read_back_as_written(monkeypatch: Any) -> None:
    from moto.core.serialize import BaseJSONSerializer

    asked: list[Any] = []
    real = lookups.plain_attribute
    monkeypatch.setattr(lookups, "plain_attribute", lambda v: asked.append(v) or real(v))
    with mock_aws():
        lookups.install()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        _table(dynamodb, "items", sort_key=False)
        dynamodb.put_item(TableName="items", Item=EVERY_TYPE)
        key = {"pk": {"S": "ITEM"}}
        fast = dynamodb.get_item(TableName="items", Key=key)["Item"]
        queried = dynamodb.query(
            TableName="items",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "ITEM"}},
        )["Items"]
        original = _original(BaseJSONSerializer, "_serialize_type_structure")
        patched = BaseJSONSerializer._serialize_type_structure
        BaseJSONSerializer._serialize_type_structure = original  # type: ignore[method-assign]
        try:
            slow = dynamodb.get_item(TableName="items", Key=key)["Item"]
        finally:
            BaseJSONSerializer._serialize_type_structure = patched  # type: ignore[method-assign]
    assert fast == slow == queried[0]
    assert fast.keys() == EVERY_TYPE.keys()
    assert asked, "the fast path was not taken"
    assert fast["bin"] == {"B": b"\x00\xffbinary"}
    assert fast["list"] == EVERY_TYPE["list"]
    assert fast["map"] == EVERY_TYPE["map"]
    assert lookups.plain_attribute({"B": "AAE="}) is None
    assert lookups.plain_attribute({"L": [{"S": "x"}, {"BS": []}]}) is None
    assert lookups.plain_attribute({"M": {"a": {"N": "1"}}}) == {"M": {"a": {"N": "1"}}}

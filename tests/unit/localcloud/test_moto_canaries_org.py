"""Canaries: the moto 5.2.5 behaviour and internals an organization of local clouds relies on
(localcloud.org, localcloud.deployer.s3_artifacts, the cross-account parts of
localcloud.adapters.events and localcloud.core.iam.enforcer).

If one fails after a moto upgrade, revisit those modules.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

REGION = "eu-central-1"
A, B = "111111111111", "222222222222"


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MOTO_ACCOUNT_ID": A,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


def test_moto_answers_as_the_account_in_moto_account_id_at_each_request(moto: None) -> None:
    # The organization switches accounts on one moto state by this variable alone.
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="in-a", CreateBucketConfiguration={"LocationConstraint": REGION})
    os.environ["MOTO_ACCOUNT_ID"] = B
    sqs = boto3.client("sqs", region_name=REGION)
    assert sqs.create_queue(QueueName="q")["QueueUrl"].split("/")[-2] == B
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []
    os.environ["MOTO_ACCOUNT_ID"] = A
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["in-a"]


def test_mock_aws_start_without_reset_keeps_state() -> None:
    # LocalCloud.start(shared_moto=True) starts no mock; Organization starts one mock, once.
    signature = inspect.signature(mock_aws().start)
    assert signature.parameters["reset"].default is True


def test_s3_bucket_accounts_region_policy_and_keys(moto: None) -> None:
    from moto.s3.models import s3_backends

    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="code", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="code", Key="k.zip", Body=b"zip")
    s3.put_bucket_policy(Bucket="code", Policy=json.dumps({"Statement": []}))
    assert s3_backends.bucket_accounts["code"] == ("aws", A)
    bucket = s3_backends[A]["aws"].buckets["code"]
    assert (bucket.region_name, bucket.account_id) == (REGION, A)
    assert json.loads(bucket.policy) == {"Statement": []}
    assert bucket.keys.get("k.zip").value == b"zip"
    assert bucket.keys.get("missing") is None


def test_s3_lets_another_account_reach_a_bucket_by_name(moto: None) -> None:
    # moto serves cross-account requests (so the local cloud's IAM must refuse them).
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="central", CreateBucketConfiguration={"LocationConstraint": REGION})
    os.environ["MOTO_ACCOUNT_ID"] = B
    s3.put_object(Bucket="central", Key="from-b", Body=b"x")
    os.environ["MOTO_ACCOUNT_ID"] = A
    assert s3.get_object(Bucket="central", Key="from-b")["Body"].read() == b"x"


def test_events_bus_policy_rules_and_rule_fields(moto: None) -> None:
    from moto.events.models import Rule, events_backends

    events = boto3.client("events", region_name=REGION)
    events.create_event_bus(Name="central")
    events.put_permission(
        EventBusName="central", Action="events:PutEvents", Principal=B, StatementId="b"
    )
    events.put_rule(Name="r", EventBusName="central", EventPattern='{"source":["x"]}')
    bus = events_backends[A][REGION].event_buses["central"]
    [statement] = json.loads(bus.policy)["Statement"]
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{B}:root"}
    rule = bus.rules["r"]
    assert (rule.account_id, rule.region_name) == (A, REGION)
    assert list(inspect.signature(Rule.send_to_targets).parameters) == [
        "self",
        "original_event",
        "transform_input",
    ]
    assert events_backends[A][REGION].event_buses.get("none") is None


def test_events_native_delivery_reads_time_and_ingestion_time(moto: None) -> None:
    # localcloud.adapters.events.arrive hands moto events with both, in epoch seconds.
    from moto.events import utils

    source = inspect.getsource(utils.EventTemplateParser.parse)
    assert 'event["ingestion-time"]' in source


def test_kms_key_policy_by_account_and_region(moto: None) -> None:
    from moto.kms.models import kms_backends

    kms = boto3.client("kms", region_name=REGION)
    policy = json.dumps({"Statement": [{"Sid": "x"}]})
    key = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
    assert kms_backends[A][REGION].keys[key].policy == policy


def test_organizations_create_account_is_active_at_once(moto: None) -> None:
    organizations = boto3.client("organizations", region_name="us-east-1")
    organizations.create_organization(FeatureSet="ALL")
    [root] = organizations.list_roots()["Roots"]
    ou = organizations.create_organizational_unit(ParentId=root["Id"], Name="w")[
        "OrganizationalUnit"
    ]["Id"]
    status = organizations.create_account(AccountName="m", Email="m@example.com")[
        "CreateAccountStatus"
    ]
    assert status["State"] == "SUCCEEDED"
    account = status["AccountId"]
    [parent] = organizations.list_parents(ChildId=account)["Parents"]
    assert parent["Id"] == root["Id"]
    organizations.move_account(AccountId=account, SourceParentId=root["Id"], DestinationParentId=ou)
    assert organizations.list_parents(ChildId=ou)["Parents"][0]["Id"] == root["Id"]
    assert organizations.list_parents(ChildId=account)["Parents"][0]["Id"] == ou

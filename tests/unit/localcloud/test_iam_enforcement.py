"""IAM enforcement on a running local cloud: calls made as a role are refused as AWS refuses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core import clock as sim
from localcloud.core.iam import enforcer
from localcloud.core.iam.enforcer import AccessDenied, enabled_by_default
from localcloud.core.iam.principal import Principal, acting_as, current
from localcloud.core.iam.requests import UnmodelledRequestError

TRUST_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        running.iam.denials_expected = True
        yield running


def role(
    cloud: LocalCloud, name: str, *statements: dict[str, Any], trust: dict[str, Any] = TRUST_LAMBDA
) -> Principal:
    iam = cloud.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="inline",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        )
    return cloud.iam.assume(arn, "lambda.amazonaws.com")


def machine_role(cloud: LocalCloud, name: str) -> str:
    """A role only Step Functions may assume, with no permissions."""
    trust = {
        **TRUST_LAMBDA,
        "Statement": [
            {**TRUST_LAMBDA["Statement"][0], "Principal": {"Service": "states.amazonaws.com"}}
        ],
    }
    return str(
        cloud.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
    )


def error_of(call: Any, **params: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call(**params)
    return dict(raised.value.response["Error"])


def test_a_denied_call_fails_with_the_services_error_naming_principal_action_and_resource(
    cloud: LocalCloud,
) -> None:
    # Given a role that may read one parameter
    worker = role(
        cloud,
        "worker",
        {
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": "arn:aws:ssm:eu-central-1:123456789012:parameter/ok",
        },
    )
    ssm = cloud.client("ssm")
    ssm.put_parameter(Name="/ok", Value="1", Type="String")
    ssm.put_parameter(Name="/secret", Value="2", Type="String")
    with acting_as(worker):
        # When it reads that one, then another
        assert ssm.get_parameter(Name="/ok")["Parameter"]["Value"] == "1"
        error = error_of(ssm.get_parameter, Name="/secret")
    # Then the second fails as SSM fails it, naming who, what and on what
    assert error["Code"] == "AccessDeniedException"
    assert (
        "assumed-role/worker/lambda is not authorized to perform: ssm:GetParameter"
        in error["Message"]
    )
    assert "on resource: arn:aws:ssm:eu-central-1:123456789012:parameter/secret" in error["Message"]
    # and the harness itself (no principal) is AWS: never refused
    assert ssm.get_parameter(Name="/secret")["Parameter"]["Value"] == "2"


@pytest.mark.parametrize(
    ("service", "method", "params", "code"),
    [
        ("ec2", "describe_instances", {}, "UnauthorizedOperation"),
        (
            "sns",
            "publish",
            {"TopicArn": "arn:aws:sns:eu-central-1:123456789012:t", "Message": "m"},
            "AuthorizationError",
        ),
        ("s3", "put_object", {"Bucket": "bucket-b", "Key": "k", "Body": b"x"}, "AccessDenied"),
        (
            "stepfunctions",
            "send_task_success",
            {"taskToken": "t", "output": "{}"},
            "AccessDeniedException",
        ),
        (
            "autoscaling",
            "complete_lifecycle_action",
            {
                "AutoScalingGroupName": "g",
                "LifecycleHookName": "h",
                "LifecycleActionResult": "CONTINUE",
                "InstanceId": "i-0123456789abcdef0",
            },
            "AccessDenied",
        ),
    ],
)
def test_each_service_refuses_with_its_own_error_code(
    cloud: LocalCloud, service: str, method: str, params: dict[str, Any], code: str
) -> None:
    nobody = role(cloud, "nobody")
    cloud.client("sns").create_topic(Name="t")
    cloud.client("s3").create_bucket(
        Bucket="bucket-b", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    with acting_as(nobody):
        assert error_of(getattr(cloud.client(service), method), **params)["Code"] == code


def test_task_tokens_are_authorized_only_on_star(cloud: LocalCloud) -> None:
    # Given a grant scoped to state machines (what the template had)
    scoped = role(
        cloud,
        "scoped",
        {
            "Effect": "Allow",
            "Action": "states:SendTaskSuccess",
            "Resource": "arn:aws:states:eu-central-1:123456789012:stateMachine:*",
        },
    )
    with acting_as(scoped):
        error = error_of(
            cloud.client("stepfunctions").send_task_success, taskToken="t", output="{}"
        )
    # Then IAM refuses it: the action has no resource types, its resource is "*"
    assert "states:SendTaskSuccess on resource: *" in error["Message"]


def test_a_customer_managed_key_behind_a_queue_needs_kms_via_sqs(cloud: LocalCloud) -> None:
    # Given a queue encrypted with a customer managed key (key policy delegates to IAM)
    key = cloud.client("kms").create_key()["KeyMetadata"]["Arn"]
    sqs = cloud.client("sqs")
    url = sqs.create_queue(QueueName="q", Attributes={"KmsMasterKeyId": key})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    send = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn}
    kms = {
        "Effect": "Allow",
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": key,
        "Condition": {"StringEquals": {"kms:ViaService": "sqs.eu-central-1.amazonaws.com"}},
    }
    only_sqs = role(cloud, "only-sqs", send)
    with_key = role(cloud, "with-key", send, kms)
    # When a role without the key sends, then one with it
    with acting_as(only_sqs):
        error = error_of(sqs.send_message, QueueUrl=url, MessageBody="m")
    with acting_as(with_key):
        sqs.send_message(QueueUrl=url, MessageBody="m")
    # Then SQS refuses the first with its KMS error
    assert error["Code"] == "KmsAccessDenied"
    assert "kms:GenerateDataKey" in error["Message"]


def test_a_listing_conditioned_on_s3_prefix_is_allowed_only_under_that_prefix(
    cloud: LocalCloud,
) -> None:
    # Given a bucket and a role that may list only under promotion/ (as publish-report)
    s3 = cloud.client("s3")
    s3.create_bucket(
        Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    lister = role(
        cloud,
        "lister",
        {
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "arn:aws:s3:::bucket",
            "Condition": {"StringLike": {"s3:prefix": "promotion/*"}},
        },
    )
    with acting_as(lister):
        s3.list_objects_v2(Bucket="bucket", Prefix="promotion/prod/install-override-list.yaml")
        elsewhere = error_of(s3.list_objects_v2, Bucket="bucket", Prefix="reports/")
        everything = error_of(s3.list_objects_v2, Bucket="bucket")
    # Then a listing elsewhere, or of the whole bucket, is refused
    assert (elsewhere["Code"], everything["Code"]) == ("AccessDenied", "AccessDenied")


def test_a_write_conditioned_on_the_etag_needs_get_object_too(cloud: LocalCloud) -> None:
    # Given a page, and a role that may only write it, and one that may also read it
    s3 = cloud.client("s3")
    s3.create_bucket(
        Bucket="bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    etag = s3.put_object(Bucket="bucket", Key="reports/2026/11/21/index.html", Body=b"1")["ETag"]
    put = {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/*"}
    get = {
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": "arn:aws:s3:::bucket/reports/*/index.html",
    }
    writer, reader = role(cloud, "writer", put), role(cloud, "reader-writer", put, get)
    page = {"Bucket": "bucket", "Key": "reports/2026/11/21/index.html", "Body": b"2"}
    # When each writes it with If-Match (and the writer with If-None-Match, on a new page)
    with acting_as(writer):
        refused = error_of(s3.put_object, **page, IfMatch=etag)
        s3.put_object(**{**page, "Key": "reports/2026/11/22/index.html"}, IfNoneMatch="*")
    with acting_as(reader):
        s3.put_object(**page, IfMatch=etag)
    # Then If-Match without s3:GetObject is refused (as AWS documents), If-None-Match is not
    assert refused["Code"] == "AccessDenied"
    assert "s3:GetObject" in refused["Message"]


def test_alarm_history_is_authorized_per_alarm(cloud: LocalCloud) -> None:
    # Given a role that may read the history of one alarm
    reader = role(
        cloud,
        "reader",
        {
            "Effect": "Allow",
            "Action": "cloudwatch:DescribeAlarmHistory",
            "Resource": "arn:aws:cloudwatch:eu-central-1:123456789012:alarm:api-errors",
        },
    )
    cloudwatch = cloud.client("cloudwatch")
    with acting_as(reader):
        cloudwatch.describe_alarm_history(AlarmName="api-errors")
        other = error_of(cloudwatch.describe_alarm_history, AlarmName="db-errors")
        every = error_of(cloudwatch.describe_alarm_history)
    # Then another alarm's, or every alarm's, is refused
    assert "alarm:db-errors" in other["Message"]
    assert "alarm:*" in every["Message"]


def test_a_request_whose_resources_the_local_cloud_does_not_know_is_an_error_not_an_allow(
    cloud: LocalCloud,
) -> None:
    anyone = role(cloud, "anyone", {"Effect": "Allow", "Action": "*", "Resource": "*"})
    with acting_as(anyone), pytest.raises(UnmodelledRequestError, match="ssm:DeleteDocument"):
        cloud.client("ssm").delete_document(Name="doc")


def test_a_role_that_does_not_trust_the_service_cannot_be_assumed(cloud: LocalCloud) -> None:
    arn = machine_role(cloud, "sfn")
    assert cloud.iam.assume(arn, "states.amazonaws.com").role_name == "sfn"
    with pytest.raises(
        AccessDenied, match=r"lambda\.amazonaws\.com is not authorized to perform: sts:AssumeRole"
    ):
        cloud.iam.assume(arn, "lambda.amazonaws.com")


def test_threads_of_the_simulated_clock_work_for_whoever_started_them(cloud: LocalCloud) -> None:
    worker = role(cloud, "worker")
    seen: list[Principal | None] = []
    with acting_as(worker):
        thread = sim.ClockThread(target=lambda: seen.append(current()))
        thread.start()
    thread.join()
    assert seen == [worker]


def test_a_state_machine_task_runs_as_the_state_machines_role(cloud: LocalCloud) -> None:
    # Given a state machine whose role may not read the parameter its task reads
    arn = machine_role(cloud, "machine")
    cloud.client("ssm").put_parameter(Name="/p", Value="1", Type="String")
    definition = {
        "StartAt": "Read",
        "States": {
            "Read": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
                "Parameters": {"Name": "/p"},
                "End": True,
            }
        },
    }
    sfn = cloud.client("stepfunctions")
    machine = sfn.create_state_machine(name="m", definition=json.dumps(definition), roleArn=arn)[
        "stateMachineArn"
    ]
    # When it runs
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    cloud.settle()
    # Then the task fails with the name Step Functions gives the service's error
    result = sfn.describe_execution(executionArn=execution)
    assert result["status"] == "FAILED"
    assert result["error"] == "Ssm.AccessDeniedException"
    assert (
        "assumed-role/machine/states is not authorized to perform: ssm:GetParameter"
        in result["cause"]
    )


def test_enforcement_is_on_by_default_and_off_only_outside_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLEETPATCH_IAM", raising=False)
    assert enabled_by_default()
    monkeypatch.setenv("FLEETPATCH_IAM", "off")
    monkeypatch.delenv("CI", raising=False)
    assert not enabled_by_default()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="never in CI"):
        enabled_by_default()
    monkeypatch.setenv("FLEETPATCH_IAM", "maybe")
    with pytest.raises(ValueError, match="FLEETPATCH_IAM"):
        enabled_by_default()


def test_denials_no_test_asked_for_are_collected_for_the_suites_guard() -> None:
    with LocalCloud() as running:
        nobody = role(running, "nobody")
        enforcer.take_unexpected_denials()
        with acting_as(nobody), pytest.raises(ClientError):
            running.client("ec2").describe_instances()
        denials = enforcer.take_unexpected_denials()
    assert [(d.principal, d.action) for d in denials] == [("nobody", "ec2:DescribeInstances")]

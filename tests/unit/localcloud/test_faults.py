"""Fault injection: lost, duplicate and reordered events, crashes, and AWS API errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core.faults import FaultInjector
from tests.conftest import load_event
from tests.unit.localcloud.conftest import deploy_function

HANDLERS = Path(__file__).parent / "handlers"


def echo_behind_rule(cloud: LocalCloud) -> None:
    arn = deploy_function(cloud, "echo", HANDLERS / "echo")
    events = cloud.client("events")
    events.put_rule(Name="all-ec2", EventPattern=json.dumps({"source": ["aws.ec2"]}))
    events.put_targets(Rule="all-ec2", Targets=[{"Id": "fn", "Arn": arn}])


def test_dropped_events_never_reach_a_target_and_others_still_do(cloud: LocalCloud) -> None:
    # Given a rule for every EC2 event and "running" events dropped
    echo_behind_rule(cloud)
    running, stopped = (
        load_event("aws.ec2/instance-running"),
        load_event("aws.ec2/instance-stopped"),
    )
    assert running["detail-type"] == stopped["detail-type"]
    cloud.faults.drop_events(running["detail-type"])
    # When both are emitted
    cloud.put_event(running)
    cloud.put_event(stopped)
    cloud.settle()
    # Then neither is delivered (same detail-type), and each drop is counted
    assert cloud.lambdas.invocations == []
    assert cloud.faults.events_affected(running["detail-type"]) == 2


def test_duplicated_events_arrive_several_times_out_of_order(cloud: LocalCloud) -> None:
    echo_behind_rule(cloud)
    fixture = load_event("aws.ec2/instance-running")
    cloud.faults.duplicate_events(fixture["detail-type"], copies=3, max_delay_seconds=60, seed=1)
    sent = []
    for state in ("pending", "running"):
        event = json.loads(json.dumps(fixture))
        event["detail"]["state"] = state
        sent.append(state)
        cloud.put_event(event)
    cloud.settle()
    received = [i.result["event"]["detail"]["state"] for i in cloud.lambdas.invocations]
    assert sorted(received) == ["pending"] * 3 + ["running"] * 3
    # seeded delays: the later event overtakes copies of the earlier one
    assert received != sorted(received, key=sent.index)


def test_a_crashing_function_fails_once_then_runs(cloud: LocalCloud) -> None:
    deploy_function(cloud, "echo", HANDLERS / "echo")
    cloud.faults.crash_once("echo")
    first = cloud.lambdas.invoke("echo", {})
    second = cloud.lambdas.invoke("echo", {})
    assert (first.error_type, first.error_message) == (
        "InjectedCrash",
        "echo crashed (injected fault)",
    )
    assert second.error_type is None
    assert cloud.faults.crashes("echo") == 1


def test_an_api_error_is_the_real_client_error(cloud: LocalCloud) -> None:
    s3 = cloud.client("s3")
    s3.create_bucket(
        Bucket="reports", CreateBucketConfiguration={"LocationConstraint": cloud.region}
    )
    cloud.faults.fail_api("s3", "PutObject", "AccessDenied", status=403, matching="/denied/")
    with pytest.raises(ClientError) as denied:
        s3.put_object(Bucket="reports", Key="denied/report.json", Body=b"{}")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    s3.put_object(Bucket="reports", Key="allowed/report.json", Body=b"{}")  # not matching
    assert cloud.faults.api_failures("s3", "PutObject") == 1


def test_a_service_write_meets_scripted_s3_faults(cloud: LocalCloud) -> None:
    # Given a bucket; AWS's own writes (the SSM agent's output) skip the request path
    s3 = cloud.client("s3")
    s3.create_bucket(
        Bucket="reports", CreateBucketConfiguration={"LocationConstraint": cloud.region}
    )
    cloud.put_object("reports", "direct/out.txt", b"ok")
    # When a test scripts an S3 PutObject fault
    cloud.faults.fail_api("s3", "PutObject", "AccessDenied", status=403, matching="/denied/")
    # Then such writes go through a client and meet it
    with pytest.raises(ClientError) as denied:
        cloud.put_object("reports", "denied/out.txt", b"{}")
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    cloud.put_object("reports", "allowed/out.txt", b"{}")
    assert cloud.faults.api_failures("s3", "PutObject") == 1
    assert s3.get_object(Bucket="reports", Key="direct/out.txt")["Body"].read() == b"ok"


def test_an_auto_scaling_error_is_injected_by_its_client_name(cloud: LocalCloud) -> None:
    # Given a fault on Auto Scaling, named as its client is ("autoscaling"; botocore's
    # events say "auto-scaling")
    cloud.faults.fail_api(
        "autoscaling", "DescribeAutoScalingGroups", "AccessDenied", status=403, times=1
    )
    autoscaling = cloud.client("autoscaling")
    # When the API is called twice
    with pytest.raises(ClientError) as denied:
        autoscaling.describe_auto_scaling_groups()
    autoscaling.describe_auto_scaling_groups()
    # Then the first call failed with the injected code, the second went through
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert cloud.faults.api_failures("autoscaling", "DescribeAutoScalingGroups") == 1


def test_a_dynamodb_error_is_the_modelled_exception_for_the_next_n_calls(
    cloud: LocalCloud,
) -> None:
    dynamodb = cloud.client("dynamodb")
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    cloud.faults.fail_api(
        "dynamodb", "UpdateItem", "ConditionalCheckFailedException", matching="state", times=2
    )
    update = {
        "TableName": "state",
        "Key": {"pk": {"S": "a"}},
        "UpdateExpression": "SET v = :v",
        "ExpressionAttributeValues": {":v": {"S": "x"}},
    }
    for _ in range(2):
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.update_item(**update)
    dynamodb.update_item(**update)
    assert dynamodb.get_item(TableName="state", Key={"pk": {"S": "a"}})["Item"]["v"] == {"S": "x"}


@pytest.mark.parametrize(
    ("service", "operation", "call"),
    [
        (
            "stepfunctions",
            "ListStateMachines",
            lambda cloud: cloud.client("stepfunctions").list_state_machines(),
        ),
        (
            "autoscaling",
            "DescribeAutoScalingGroups",
            lambda cloud: cloud.client("autoscaling").describe_auto_scaling_groups(),
        ),
    ],
)
def test_api_errors_reach_services_whose_event_names_differ_from_their_client_names(
    cloud: LocalCloud, service: str, operation: str, call: Any
) -> None:
    # Given an error scripted under the client's name (botocore's events say sfn, auto-scaling)
    cloud.faults.fail_api(service, operation, "InternalFailure", status=500, times=1)
    cloud.rate_limits.enabled = False
    # When the API is called (botocore retries a 500: the one injected error is absorbed)
    call(cloud)
    # Then the error was injected
    assert cloud.faults.api_failures(service, operation) == 1


def test_probabilistic_api_errors_are_seeded() -> None:
    def injected(seed: int) -> list[bool]:
        faults = FaultInjector()
        faults.fail_api("sns", "Publish", "Throttled", probability=0.5, seed=seed)

        class Request:
            url = "https://sns.eu-central-1.amazonaws.com/"
            body = b"Action=Publish"

        return [
            faults.api_error("before-send.sns.Publish", Request()) is not None for _ in range(20)
        ]

    assert injected(3) == injected(3)
    assert 0 < sum(injected(3)) < 20


def test_faults_name_what_is_wrong() -> None:
    faults = FaultInjector()
    with pytest.raises(ValueError, match="service 'kinesis' has no error format"):
        faults.fail_api("kinesis", "PutRecord", "Throttled")
    with pytest.raises(ValueError, match="operation must be the API name"):
        faults.fail_api("s3", "put_object", "AccessDenied")
    with pytest.raises(ValueError, match="copies must be at least 2"):
        faults.duplicate_events("x", copies=1)
    with pytest.raises(ValueError, match="times must be at least 1"):
        faults.crash_once("patch-batch", times=0)

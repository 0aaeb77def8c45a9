"""SNS delivers to in-process Lambda asynchronously, with the event AWS sends."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import deploy_function

HANDLERS = Path(__file__).parent / "handlers"


def topic_with_function(
    cloud: LocalCloud, function: str = "echo", **subscription: Any
) -> tuple[str, str]:
    """A topic and a Lambda subscription to it: (topic ARN, subscription ARN)."""
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    subscription_arn = sns.subscribe(
        TopicArn=topic, Protocol="lambda", Endpoint=cloud.lambdas.arn(function), **subscription
    )["SubscriptionArn"]
    return topic, subscription_arn


def delivered_events(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [i.result["event"] for i in cloud.lambdas.invocations if i.error_type is None]


def test_a_published_message_reaches_the_function_as_aws_shapes_it(cloud: LocalCloud) -> None:
    # Given a function subscribed to a topic
    deploy_function(cloud, "echo", HANDLERS / "echo")
    topic, subscription = topic_with_function(cloud)
    cloud.advance(7200)  # the event carries the simulated publish time
    # When a message with a subject and attributes is published
    message_id = cloud.client("sns").publish(
        TopicArn=topic,
        Subject="Patch run finished",
        Message=json.dumps({"run": "r-1"}),
        MessageAttributes={
            "severity": {"DataType": "String", "StringValue": "high"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )["MessageId"]
    assert cloud.lambdas.invocations == []  # asynchronous, like SNS: after Publish returns
    cloud.settle()
    # Then the function got one record, shaped as SNS sends it
    [invocation] = cloud.lambdas.invocations
    assert invocation.asynchronous
    [record] = invocation.result["event"]["Records"]
    assert record["EventSource"] == "aws:sns"
    assert record["EventVersion"] == "1.0"
    assert record["EventSubscriptionArn"] == subscription
    sns = record["Sns"]
    assert sns["Type"] == "Notification"
    assert sns["MessageId"] == message_id
    assert sns["TopicArn"] == topic
    assert sns["Subject"] == "Patch run finished"
    assert json.loads(sns["Message"]) == {"run": "r-1"}
    assert sns["Timestamp"] == "2026-11-07T06:00:00.000Z"
    assert sns["SignatureVersion"] == "1"
    assert sns["Signature"] == "EXAMPLE"
    assert sns["SigningCertUrl"].startswith("https://sns.eu-central-1.amazonaws.com/")
    assert sns["UnsubscribeUrl"].endswith(f"&SubscriptionArn={subscription}")
    assert sns["MessageAttributes"] == {
        "severity": {"Type": "String", "Value": "high"},
        "count": {"Type": "Number", "Value": "3"},
        "blob": {"Type": "Binary", "Value": "AAE="},
    }
    [notification] = cloud.notifications.notifications
    assert notification.delivered


def test_no_subject_and_no_attributes_arrive_as_null_and_empty(cloud: LocalCloud) -> None:
    deploy_function(cloud, "echo", HANDLERS / "echo")
    topic, _ = topic_with_function(cloud)
    cloud.client("sns").publish(TopicArn=topic, Message="plain")
    cloud.settle()
    [event] = delivered_events(cloud)
    sns = event["Records"][0]["Sns"]
    assert sns["Subject"] is None  # AWS sends null, not moto's "TestInvoke"
    assert sns["MessageAttributes"] == {}
    assert sns["Message"] == "plain"


def test_a_failing_function_is_retried_then_dead_lettered(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a function that always fails, with Lambda's default two retries and a DLQ
    monkeypatch.setattr(
        "tests.unit.localcloud.handlers.failing.app.CALLS", {"count": 0}, raising=False
    )
    sqs = cloud.client("sqs")
    dlq_url = sqs.create_queue(QueueName="fn-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    deploy_function(
        cloud,
        "broken",
        HANDLERS / "failing",
        environment={"FAIL_TIMES": "99"},
        dead_letter_arn=dlq_arn,
    )
    topic, _ = topic_with_function(cloud, "broken")
    start = cloud.clock.now()
    # When a message is published
    cloud.client("sns").publish(TopicArn=topic, Message="patch me")
    cloud.settle()
    # Then Lambda tried three times, a minute then two minutes apart, and kept the SNS event
    assert [i.attempt for i in cloud.lambdas.invocations] == [1, 2, 3]
    assert cloud.clock.now() - start == timedelta(minutes=3)
    [message] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["Records"][0]["Sns"]["Message"] == "patch me"
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"].startswith(
        "PatchLockBusyError"
    )


def test_sqs_subscriptions_keep_motos_delivery(cloud: LocalCloud) -> None:
    # Given a topic with a Lambda and an SQS subscriber
    deploy_function(cloud, "echo", HANDLERS / "echo")
    topic, _ = topic_with_function(cloud)
    sqs = cloud.client("sqs")
    queue_url = sqs.create_queue(QueueName="fanout")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    cloud.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    # When a message is published
    cloud.client("sns").publish(TopicArn=topic, Message="both", Subject="s")
    # Then the queue has SNS's envelope at once (moto's delivery), and the function runs later
    [message] = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    envelope = json.loads(message["Body"])
    assert (envelope["Type"], envelope["TopicArn"], envelope["Message"]) == (
        "Notification",
        topic,
        "both",
    )
    cloud.settle()
    [event] = delivered_events(cloud)
    assert event["Records"][0]["Sns"]["Message"] == "both"


def test_the_filter_policy_decides_what_the_function_gets(cloud: LocalCloud) -> None:
    deploy_function(cloud, "echo", HANDLERS / "echo")
    topic, _ = topic_with_function(
        cloud, Attributes={"FilterPolicy": json.dumps({"severity": ["high"]})}
    )
    sns = cloud.client("sns")
    for severity in ("low", "high"):
        sns.publish(
            TopicArn=topic,
            Message=severity,
            MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}},
        )
    sns.publish(TopicArn=topic, Message="no attributes")
    cloud.settle()
    assert [e["Records"][0]["Sns"]["Message"] for e in delivered_events(cloud)] == ["high"]


def test_a_json_structured_message_delivers_its_lambda_text(cloud: LocalCloud) -> None:
    deploy_function(cloud, "echo", HANDLERS / "echo")
    topic, _ = topic_with_function(cloud)
    cloud.client("sns").publish(
        TopicArn=topic,
        MessageStructure="json",
        Message=json.dumps({"default": "for everyone", "lambda": "for functions"}),
    )
    cloud.settle()
    [event] = delivered_events(cloud)
    assert event["Records"][0]["Sns"]["Message"] == "for functions"


def test_a_missing_function_is_recorded_and_publish_still_succeeds(cloud: LocalCloud) -> None:
    topic, _ = topic_with_function(cloud, "gone")
    cloud.client("sns").publish(TopicArn=topic, Message="lost")
    cloud.settle()
    assert cloud.lambdas.invocations == []
    [notification] = cloud.notifications.notifications
    assert not notification.delivered
    assert notification.error == "function gone does not exist"

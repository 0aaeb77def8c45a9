"""CloudWatch alarm evaluation on the local cloud: datapoints in, states and actions out.

No template: alarms created through the API on a bare cloud, their metrics put by hand (a
custom namespace: evaluated once data arrives) or produced by the cloud (AWS/SQS depth).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from localcloud.cloud import LocalCloud


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        running.alarms.enabled = True
        yield running


def _alarm(cloud: LocalCloud, name: str, **settings: Any) -> None:
    defaults: dict[str, Any] = {
        "Namespace": "App",
        "MetricName": "Failures",
        "Statistic": "Sum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
    }
    cloud.client("cloudwatch").put_metric_alarm(AlarmName=name, **(defaults | settings))


def _put(cloud: LocalCloud, value: float) -> None:
    cloud.client("cloudwatch").put_metric_data(
        Namespace="App",
        MetricData=[{"MetricName": "Failures", "Value": value, "Timestamp": cloud.clock.now()}],
    )


def _state(cloud: LocalCloud, name: str) -> str:
    [alarm] = cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return str(alarm["StateValue"])


def test_a_datapoint_over_the_threshold_alarms_and_missing_data_is_treated_as_told(
    cloud: LocalCloud,
) -> None:
    # Given: the same alarm four times, with each way of treating missing data
    for treat in ("notBreaching", "breaching", "ignore", "missing"):
        _alarm(cloud, treat, TreatMissingData=treat)

    # When: one failure is counted, and the next minute is evaluated
    _put(cloud, 1)
    cloud.advance(61)

    # Then: every one of them is in ALARM
    assert {t: _state(cloud, t) for t in ("notBreaching", "breaching", "ignore", "missing")} == {
        t: "ALARM" for t in ("notBreaching", "breaching", "ignore", "missing")
    }

    # When: a minute passes with no datapoint
    cloud.advance(60)

    # Then: each treats the missing datapoint as CloudWatch does
    assert {t: _state(cloud, t) for t in ("notBreaching", "breaching", "ignore", "missing")} == {
        "notBreaching": "OK",
        "breaching": "ALARM",
        "ignore": "ALARM",
        "missing": "INSUFFICIENT_DATA",
    }


def test_datapoints_to_alarm_of_evaluation_periods(cloud: LocalCloud) -> None:
    # Given: 2 of the last 3 minutes must breach
    _alarm(
        cloud,
        "two-of-three",
        EvaluationPeriods=3,
        DatapointsToAlarm=2,
        TreatMissingData="notBreaching",
    )

    # When: one minute breaches
    _put(cloud, 1)
    cloud.advance(61)
    # Then: not yet
    assert _state(cloud, "two-of-three") == "OK"

    # When: a second minute breaches
    _put(cloud, 1)
    cloud.advance(60)
    # Then: ALARM
    assert _state(cloud, "two-of-three") == "ALARM"


def test_an_alarm_on_a_metric_nothing_produces_keeps_the_state_it_was_set_to(
    cloud: LocalCloud,
) -> None:
    # Given: an alarm on a metric no one puts data for, set to ALARM by hand (as gate tests do)
    _alarm(cloud, "api-errors", Namespace="Elsewhere", TreatMissingData="notBreaching")
    cloud.client("cloudwatch").set_alarm_state(
        AlarmName="api-errors", StateValue="ALARM", StateReason="by hand"
    )

    # When: time passes and other metrics are evaluated
    _put(cloud, 1)
    cloud.advance(600)

    # Then: it stays where SetAlarmState put it
    assert _state(cloud, "api-errors") == "ALARM"


def test_a_queue_depth_alarm_follows_the_queue(cloud: LocalCloud) -> None:
    # Given: a queue and an alarm on its visible messages, notifying a topic
    sqs, sns = cloud.client("sqs"), cloud.client("sns")
    url = sqs.create_queue(QueueName="parked")["QueueUrl"]
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    # CloudWatch publishes as itself: the topic's policy lets it, for this alarm
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:*:*:alarm:parked-*"}
                },
            }
        ],
    }
    sns.set_topic_attributes(
        TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(policy)
    )
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    _alarm(
        cloud,
        "parked-depth",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Statistic="Maximum",
        Dimensions=[{"Name": "QueueName", "Value": "parked"}],
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )

    # When: a message is parked
    sqs.send_message(QueueUrl=url, MessageBody="x")
    cloud.settle(max_seconds=300)

    # Then: the alarm fired at the next minute and its notification arrived
    assert _state(cloud, "parked-depth") == "ALARM"
    [received] = sqs.receive_message(QueueUrl=inbox)["Messages"]
    envelope = json.loads(received["Body"])
    assert envelope["Subject"] == 'ALARM: "parked-depth" in EU (Frankfurt)'
    message = json.loads(envelope["Message"])
    assert message["NewStateValue"] == "ALARM"
    assert message["Trigger"]["Namespace"] == "AWS/SQS"
    assert message["AlarmArn"].endswith(":alarm:parked-depth")
    start = cloud.clock.now()
    datapoints = cloud.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "parked"}],
        StartTime=start - timedelta(hours=1),
        EndTime=start,
        Period=60,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert datapoints
    assert {d["Maximum"] for d in datapoints} == {1.0}


def test_off_by_default_nothing_is_evaluated() -> None:
    with LocalCloud() as cloud:
        _alarm(cloud, "quiet", TreatMissingData="breaching")
        _put(cloud, 1)
        cloud.advance(120)
        assert _state(cloud, "quiet") == "OK"  # moto's initial state, never evaluated

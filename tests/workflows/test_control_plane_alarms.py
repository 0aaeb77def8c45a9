"""The control plane watches itself: a message in a dead-letter queue, or a failed function,
sets off its alarm, and the alarm's notification reaches e-mail and Slack through the
encrypted reports topic, published by CloudWatch as itself (the topic's and the key's
policies must let it, or nothing arrives).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed

DLQ = "PatchComplianceEventsDeadLetterQueue"
DLQ_ALARM = "fleetpatch-default-patch-compliance-events-dlq"


@pytest.fixture
def watching(deployed: Deployed, slack: SlackWebhookReceiver) -> Deployed:
    deployed.cloud.alarms.enabled = True
    return deployed


def _park_a_message(deployed: Deployed) -> str:
    """An event EventBridge could not deliver, waiting in a rule's dead-letter queue."""
    sqs = deployed.cloud.client("sqs")
    name = deployed.stack.physical_id(DLQ).rsplit("/", 1)[-1]
    url: str = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"detail-type": "undeliverable"}))
    return url


def _alarm(deployed: Deployed, name: str) -> dict[str, Any]:
    [alarm] = deployed.cloud.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    return dict(alarm)


def _actions(deployed: Deployed, name: str) -> list[str]:
    history = deployed.cloud.client("cloudwatch").describe_alarm_history(
        AlarmName=name, HistoryItemType="Action"
    )["AlarmHistoryItems"]
    return [str(item["HistorySummary"]) for item in history]


def test_a_message_in_a_dead_letter_queue_reaches_email_and_slack(watching: Deployed) -> None:
    # Given: a stage whose alarms are evaluated, and an event parked in a dead-letter queue
    topic = watching.stack.physical_id("ReportsTopic")
    url = _park_a_message(watching)

    # When: CloudWatch evaluates the queue's depth (the next minute)
    watching.cloud.settle(max_seconds=600)

    # Then: the queue's alarm fired and CloudWatch notified the reports topic ...
    alarm = _alarm(watching, DLQ_ALARM)
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")
    assert _actions(watching, DLQ_ALARM) == [f"Successfully executed action {topic}"]
    # ... which e-mails CloudWatch's message, and Slack gets it as an alarm message
    [email] = [
        m
        for m in watching.messages()
        if m["channel"] != "slack" and DLQ_ALARM in (m["subject"] or "")
    ]
    assert email["subject"] == f'ALARM: "{DLQ_ALARM}" in EU (Frankfurt)'
    body = email["message"]  # the recorder reads a JSON message as JSON
    assert body["NewStateValue"] == "ALARM"
    assert body["OldStateValue"] == "OK"
    assert body["Trigger"]["Dimensions"] == [
        {"value": watching.stack.physical_id(DLQ).rsplit("/", 1)[-1], "name": "QueueName"}
    ]
    [posted] = [r.body for r in watching.recorder.slack.messages if DLQ_ALARM in r.body["text"]]  # type: ignore[union-attr]
    assert posted["text"] == f":rotating_light: ALARM: {DLQ_ALARM}"
    # ... and no other alarm went off: the notifier posted it without an error
    in_alarm = watching.cloud.client("cloudwatch").describe_alarms(StateValue="ALARM")
    assert [a["AlarmName"] for a in in_alarm["MetricAlarms"]] == [DLQ_ALARM]

    # When: an operator drains the queue, and a minute passes
    sqs = watching.cloud.client("sqs")
    for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    watching.cloud.advance(120)

    # Then: the alarm is OK again (no OK action: a deploy would send one per alarm)
    assert _alarm(watching, DLQ_ALARM)["StateValue"] == "OK"
    assert len(_actions(watching, DLQ_ALARM)) == 1


def test_a_failed_invocation_sets_off_the_functions_errors_alarm(watching: Deployed) -> None:
    # Given: an event the compliance-change function cannot take (no detail)
    function = watching.stack.function_name("ComplianceChangeFunction")

    # When: it is invoked with it, and CloudWatch evaluates
    answer = watching.cloud.client("lambda").invoke(
        FunctionName=function, Payload=json.dumps({"source": "aws.ssm"}).encode()
    )
    assert "FunctionError" in answer
    watching.cloud.settle(max_seconds=600)

    # Then: its Errors alarm fired and notified the reports topic, and a minute without
    # errors later it was OK again (no datapoint is not breaching)
    name = "fleetpatch-default-compliance-change-errors"
    history = watching.cloud.client("cloudwatch").describe_alarm_history(
        AlarmName=name, HistoryItemType="StateUpdate", ScanBy="TimestampAscending"
    )["AlarmHistoryItems"]
    assert [h["HistorySummary"] for h in history] == [
        "Alarm updated from OK to ALARM",
        "Alarm updated from ALARM to OK",
    ]
    assert [m["subject"] for m in watching.messages() if name in (m["subject"] or "")] == [
        f'ALARM: "{name}" in EU (Frankfurt)',
        f":rotating_light: ALARM: {name}",
    ]


@pytest.mark.parametrize(
    ("policy", "refusal"),
    [("topic", "AuthorizationError"), ("key", "KMSAccessDenied")],
)
def test_without_cloudwatch_in_the_topic_or_key_policy_nothing_arrives(
    watching: Deployed, policy: str, refusal: str
) -> None:
    # Given: the topic's policy, or the key's, without its CloudWatch statement
    watching.cloud.iam.denials_expected = True
    topic = watching.stack.physical_id("ReportsTopic")
    if policy == "topic":
        sns = watching.cloud.client("sns")
        document = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
        document["Statement"] = [
            s for s in document["Statement"] if s.get("Sid") != "AllowCloudWatchAlarmsToPublish"
        ]
        sns.set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(document)
        )
    else:
        kms = watching.cloud.client("kms")
        key = watching.stack.physical_id("FleetpatchKey")
        document = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
        document["Statement"] = [
            s
            for s in document["Statement"]
            if s.get("Sid") != "AllowCloudWatchAlarmsToNotifyEncryptedTopic"
        ]
        kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(document))

    # When: a message waits in a dead-letter queue and the alarm fires
    _park_a_message(watching)
    watching.cloud.settle(max_seconds=600)

    # Then: the alarm is ALARM, but its notification was refused and reached no one
    assert _alarm(watching, DLQ_ALARM)["StateValue"] == "ALARM"
    [action] = _actions(watching, DLQ_ALARM)
    assert action == f"Failed to execute action {topic}"
    assert not [m for m in watching.messages() if DLQ_ALARM in str(m["subject"] or "")]
    refused = [d for d in watching.cloud.iam.denials() if d.principal == "cloudwatch.amazonaws.com"]
    assert refused
    history = watching.cloud.client("cloudwatch").describe_alarm_history(
        AlarmName=DLQ_ALARM, HistoryItemType="Action"
    )["AlarmHistoryItems"]
    assert refusal in json.loads(history[0]["HistoryData"])["error"]


def test_a_broken_slack_does_not_loop_through_the_notifiers_own_alarms(
    watching: Deployed,
) -> None:
    # Given: Slack refuses everything (the notifier's errors and dead-letter queue have
    # alarms that notify the topic the notifier reads)
    slack = watching.recorder.slack
    assert slack is not None
    slack.fail_next(1000, status=500)

    # When: an alarm fires, and half an hour passes
    _park_a_message(watching)
    watching.cloud.settle(max_seconds=600)
    watching.cloud.advance(1800)

    # Then: one alarm notification, e-mailed; Slack was tried and the notifier did not fail
    alarms = [m for m in watching.messages() if m["channel"] != "slack"]
    assert [m["subject"] for m in alarms] == [f'ALARM: "{DLQ_ALARM}" in EU (Frankfurt)']
    assert slack.messages
    notifier = watching.stack.function_name("NotifySlackFunction")
    runs = [i for i in watching.cloud.lambdas.invocations if i.function_name == notifier]
    assert [i.error_type for i in runs] == [None]
    in_alarm = watching.cloud.client("cloudwatch").describe_alarms(StateValue="ALARM")
    assert [a["AlarmName"] for a in in_alarm["MetricAlarms"]] == [DLQ_ALARM]

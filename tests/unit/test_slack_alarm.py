"""A control plane alarm on the reports topic becomes a Slack message of its own.

CloudWatch publishes an alarm's change of state as JSON with no report behind it: the
notifier must neither fail on it (Lambda would retry it into the dead-letter queue, whose
alarm would then notify again) nor post the raw JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleetpatch.notify import Sent
from fleetpatch.slack_message import alarm_message, alarm_notification
from tests.unit.slack_samples import ESCAPED, HOSTILE, alarm_message_text, texts
from tests.unit.test_notify import Aws, FakeSlack, cloud, notification, sns_record

__all__ = ["cloud"]  # the fixture, shared with test_notify


def test_an_alarm_reads_as_what_why_since_and_where() -> None:
    alarm = alarm_notification(alarm_message_text())
    assert alarm is not None
    message = alarm_message(alarm)

    # Given/Then: the state and the alarm in the header and the notification text
    assert message["text"] == ":rotating_light: ALARM: fleetpatch-prod-notify-slack-dlq"
    assert message["blocks"][0]["text"]["text"] == message["text"]
    shown = "\n".join(texts(message))
    assert "messages wait in the dead-letter queue notify-slack" in shown
    assert "OK \u2192 ALARM" in shown
    assert "2026-11-21T05:01:00.000+0000" in shown
    assert "AWS/SQS ApproximateNumberOfMessagesVisible (QueueName=fleetpatch-prod-" in shown
    assert "Threshold Crossed: 1 out of the last 1 datapoints" in shown
    assert (
        "<https://eu-central-1.console.aws.amazon.com/cloudwatch/home?region=eu-central-1"
        "#alarmsV2:alarm/fleetpatch-prod-notify-slack-dlq|alarm in the console>"
    ) in shown


def test_back_to_ok_and_an_escaped_reason() -> None:
    alarm = alarm_notification(alarm_message_text("OK", "ALARM", reason=HOSTILE))
    assert alarm is not None
    message = alarm_message(alarm)
    assert message["text"].startswith(":white_check_mark: OK: ")
    shown = "\n".join(texts(message))
    assert ESCAPED in shown
    assert HOSTILE not in shown


@pytest.mark.parametrize(
    "text",
    ["not json", "[1, 2]", json.dumps({"AlarmName": "x"}), json.dumps({"run": "wave-1"})],
)
def test_what_is_not_an_alarm_is_not_read_as_one(text: str) -> None:
    assert alarm_notification(text) is None


def _alarm_record() -> dict[str, Any]:
    record = sns_record(Message=alarm_message_text(), Subject='ALARM: "x" in EU (Frankfurt)')
    record["Sns"]["MessageAttributes"] = {}  # CloudWatch sets none
    return record


def test_the_notifier_posts_an_alarm_without_looking_for_a_report(cloud: Aws) -> None:
    slack = FakeSlack()
    sent = cloud.notifier(slack).notify(notification(**_alarm_record()["Sns"]))
    assert sent == Sent("fleetpatch-prod-notify-slack-dlq", fallback=False)
    alarm = alarm_notification(alarm_message_text())
    assert alarm is not None
    expected = alarm_message(alarm)
    assert slack.posted == [{"text": expected["text"], "blocks": expected["blocks"]}]
    assert cloud.logged == []  # no report was looked for, none found unreadable


def test_an_alarm_slack_refuses_is_logged_not_retried(cloud: Aws) -> None:
    # Given: Slack answers 500 to everything (the client's own retries included)
    slack = FakeSlack(status=500)

    # When: an alarm notification arrives
    sent = cloud.notifier(slack).notify(notification(**_alarm_record()["Sns"]))

    # Then: no exception for Lambda to retry (the notifier's errors alarm would notify
    # again, through this same topic, for as long as Slack is broken) ...
    assert sent == Sent("fleetpatch-prod-notify-slack-dlq", fallback=False, delivered=False)
    # ... but it was tried, and the failure is logged
    assert slack.posted
    [(message, extra)] = cloud.logged
    assert message.startswith("alarm not posted to Slack")
    assert extra["alarm"] == "fleetpatch-prod-notify-slack-dlq"
    assert "500" in extra["error"]


def test_an_alarm_without_the_webhook_secret_is_logged_not_retried(cloud: Aws) -> None:
    sent = cloud.notifier(FakeSlack(), secret_id="no-such-secret").notify(
        notification(**_alarm_record()["Sns"])
    )
    assert sent.delivered is False
    assert cloud.logged[0][1]["error"].startswith("cannot read the Slack webhook secret")

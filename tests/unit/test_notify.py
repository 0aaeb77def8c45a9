"""The Slack notifier: SNS events in, the stored report (or the notification) out to Slack."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from fleetpatch.contracts.s3 import report_keys
from fleetpatch.errors import InvalidEventError
from fleetpatch.notify import Sent, SlackNotifier, SnsNotification, sns_notifications
from fleetpatch.reports import BatchResult, InstanceResult, RunReport
from fleetpatch.slack_message import (
    SlackNotConfigured,
    SlackNotDelivered,
    fallback_message,
    message_for,
)

REGION: Final = "eu-central-1"
BUCKET = "fleetpatch-artifacts-123456789012"
SECRET = "fleetpatch/slack-webhook"
WEBHOOK = "https://hooks.slack.com/services/T0123/B0456/s3cr3tt0k3n"
TOPIC = "arn:aws:sns:eu-central-1:123456789012:fleetpatch-reports"
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
INSTANCE = "i-0a1b2c3d4e5f60718"
RUN = "launch-i-0a1b2c3d4e5f60718-1"
REPORT_KEY = report_keys(RUN, T0)[0]
HTML_URL = (
    f"https://{REGION}.console.aws.amazon.com/s3/object/{BUCKET}"
    f"?region={REGION}&prefix={report_keys(RUN, T0)[1]}"
)


def report() -> RunReport:
    return RunReport(
        kind="launch",
        run_id=RUN,
        title=f"launch of {INSTANCE}",
        outcome="failed",
        reason="CommandFailed",
        summary="AWS-RunPatchBaseline failed on the instance",
        environment="prod",
        trigger="launch",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=12),
        batches=[
            BatchResult(
                name="patch_prod_0600_batch_1",
                status="ran",
                instances=[
                    InstanceResult(
                        instance_id=INSTANCE,
                        outcome="failed",
                        reason="AWS-RunPatchBaseline ended Failed",
                    )
                ],
            )
        ],
    )


def sns_record(**sns: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
        "TopicArn": TOPIC,
        "Subject": f"launch of {INSTANCE}: failed (CommandFailed) [prod]",
        "Message": "launch of i-0a1b2c3d4e5f60718: failed\n\nOutcome: failed (CommandFailed)\n",
        "Timestamp": "2026-11-21T05:12:00.000Z",
        "SignatureVersion": "1",
        "MessageAttributes": {
            "kind": {"Type": "String", "Value": "launch"},
            "environment": {"Type": "String", "Value": "prod"},
            "outcome": {"Type": "String", "Value": "failed"},
            "run": {"Type": "String", "Value": RUN},
            "report": {"Type": "String", "Value": REPORT_KEY},
        },
    }
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        "Sns": body | sns,
    }


# --- the event ----------------------------------------------------------------------------------


def test_an_sns_event_gives_its_notifications() -> None:
    [notification] = sns_notifications({"Records": [sns_record()]})
    assert notification.message_id == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert notification.topic_arn == TOPIC
    assert notification.subject == f"launch of {INSTANCE}: failed (CommandFailed) [prod]"
    assert notification.attributes == {
        "kind": "launch",
        "environment": "prod",
        "outcome": "failed",
        "run": RUN,
        "report": REPORT_KEY,
    }


def test_a_notification_without_subject_or_attributes() -> None:
    record = sns_record()
    del record["Sns"]["Subject"], record["Sns"]["MessageAttributes"]
    first, second = sns_notifications({"Records": [record, sns_record(MessageId="second")]})
    assert (first.subject, first.attributes) == (None, {})
    assert (second.message_id, second.attributes["run"]) == ("second", RUN)


@pytest.mark.parametrize("event", [{}, {"Records": []}, {"Records": "x"}, {"Records": None}])
def test_an_event_without_records_names_records(event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEventError) as raised:
        sns_notifications(event)
    assert raised.value.field == "Records"
    assert str(raised.value) == "Records: an SNS event has a non-empty Records list"


def test_a_record_without_a_message_names_the_field() -> None:
    record = sns_record()
    del record["Sns"]["Message"]
    with pytest.raises(InvalidEventError) as raised:
        sns_notifications({"Records": [sns_record(), record]})
    assert raised.value.field == "Records[1].Sns.Message"
    assert str(raised.value) == "Records[1].Sns.Message: not an SNS notification"


def test_a_record_that_is_not_an_object_names_the_record() -> None:
    with pytest.raises(InvalidEventError) as raised:
        sns_notifications({"Records": ["not a record"]})
    assert raised.value.field == "Records[0].Sns"


def test_a_record_without_sns_names_the_field() -> None:
    with pytest.raises(InvalidEventError) as raised:
        sns_notifications({"Records": [{"EventSource": "aws:sns"}]})
    assert raised.value.field == "Records[0].Sns"


# --- the notifier -------------------------------------------------------------------------------


@dataclass
class FakeSlack:
    """A client_factory whose clients record what they were asked to post."""

    status: int = 200
    urls: list[str] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, url: str) -> Any:
        self.urls.append(url)
        return self

    def send(self, **payload: Any) -> Any:
        self.posted.append(payload)
        return SimpleNamespace(status_code=self.status, body="ok" if self.status == 200 else "no")


class CountingSecrets:
    def __init__(self, secrets: Any) -> None:
        self._secrets = secrets
        self.calls = 0

    def get_secret_value(self, **request: Any) -> Any:
        self.calls += 1
        return self._secrets.get_secret_value(**request)


@dataclass
class Aws:
    s3: Any
    secrets: CountingSecrets
    clock: list[float]
    cache: dict[str, tuple[float, str]] = field(default_factory=dict)
    logged: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def notifier(self, slack: FakeSlack, secret_id: str = SECRET) -> SlackNotifier:
        return SlackNotifier(
            s3=self.s3,
            secrets=self.secrets,
            bucket=BUCKET,
            secret_id=secret_id,
            region=REGION,
            cache=self.cache,
            now=lambda: self.clock[0],
            ttl_seconds=300,
            log=lambda message, extra: self.logged.append((message, extra)),
            client_factory=slack,
        )


@pytest.fixture
def cloud() -> Iterator[Aws]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        secrets = boto3.client("secretsmanager", region_name=REGION)
        secrets.create_secret(Name=SECRET, SecretString=f'{{"webhook_url": "{WEBHOOK}"}}')
        yield Aws(s3, CountingSecrets(secrets), clock=[1000.0])


def notification(**sns: Any) -> SnsNotification:
    [found] = sns_notifications({"Records": [sns_record(**sns)]})
    return found


def store(cloud: Aws) -> None:
    cloud.s3.put_object(
        Bucket=BUCKET, Key=REPORT_KEY, Body=report().model_dump_json(indent=1).encode()
    )


def test_the_notifier_sends_the_stored_report(cloud: Aws) -> None:
    store(cloud)
    slack = FakeSlack()
    sent = cloud.notifier(slack).notify(notification())
    assert sent == Sent(RUN, fallback=False)
    assert slack.urls == [WEBHOOK]
    expected = message_for(report(), report_url=HTML_URL)
    assert slack.posted == [{"text": expected["text"], "blocks": expected["blocks"]}]
    assert cloud.logged == []


def test_the_notifier_falls_back_to_the_notification_when_the_report_is_missing(
    cloud: Aws,
) -> None:
    slack = FakeSlack()
    note = notification()
    sent = cloud.notifier(slack).notify(note)
    assert sent == Sent(RUN, fallback=True)
    expected = fallback_message(note.subject or "", note.message, note.attributes)
    assert slack.posted == [{"text": expected["text"], "blocks": expected["blocks"]}]
    [(message, extra)] = cloud.logged
    assert message == "report unreadable, sending the notification text"
    assert extra["key"] == REPORT_KEY


def test_a_notification_without_a_report_is_sent_as_it_is(cloud: Aws) -> None:
    attributes = sns_record()["Sns"]["MessageAttributes"]
    del attributes["report"], attributes["run"]
    slack = FakeSlack()
    sent = cloud.notifier(slack).notify(notification(MessageAttributes=attributes, Subject=None))
    # No run attribute: the notification's own id names it.
    assert sent == Sent("95df01b4-ee98-5cb9-9903-4c221d41eb5e", fallback=True)
    assert slack.posted[0]["text"] == "fleetpatch"
    assert cloud.logged == []  # nothing was unreadable: there was nothing to read


def test_a_stored_report_that_is_not_a_report_falls_back(cloud: Aws) -> None:
    cloud.s3.put_object(Bucket=BUCKET, Key=REPORT_KEY, Body=b'{"kind": "wave"}')
    slack = FakeSlack()
    assert cloud.notifier(slack).notify(notification()).fallback is True
    assert len(slack.posted) == 1


def test_the_webhook_secret_is_read_once_and_cached(cloud: Aws) -> None:
    store(cloud)
    slack = FakeSlack()
    cloud.notifier(slack).notify(notification())
    cloud.clock[0] += 299
    cloud.notifier(slack).notify(notification())  # a warm invocation: a new notifier
    assert cloud.secrets.calls == 1
    assert cloud.cache[SECRET] == (1000.0, WEBHOOK)
    cloud.clock[0] += 2  # past the TTL: a rotated secret is read again
    cloud.notifier(slack).notify(notification())
    assert cloud.secrets.calls == 2
    assert slack.urls == [WEBHOOK] * 3


def test_a_missing_secret_is_not_configured(cloud: Aws) -> None:
    slack = FakeSlack()
    with pytest.raises(SlackNotConfigured) as raised:
        cloud.notifier(slack, secret_id="fleetpatch/no-such-secret").notify(notification())
    assert str(raised.value) == (
        "cannot read the Slack webhook secret fleetpatch/no-such-secret: ResourceNotFoundException"
    )
    assert slack.posted == []


def test_a_secret_that_holds_no_url_is_not_configured_and_not_cached(cloud: Aws) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="fleetpatch/bad", SecretString="xoxb-s3cr3tt0k3n"
    )
    with pytest.raises(SlackNotConfigured) as raised:
        cloud.notifier(FakeSlack(), secret_id="fleetpatch/bad").notify(notification())
    assert "s3cr3tt0k3n" not in str(raised.value)
    assert "fleetpatch/bad" not in cloud.cache


def test_slack_refusing_the_message_raises_for_lambda_to_retry(cloud: Aws) -> None:
    store(cloud)
    with pytest.raises(SlackNotDelivered, match="answered 500"):
        cloud.notifier(FakeSlack(status=500)).notify(notification())

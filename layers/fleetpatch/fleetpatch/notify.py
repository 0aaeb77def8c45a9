"""The Slack notifier's work: read SNS notifications, find their reports, post them.

See :mod:`fleetpatch.slack_message` for the messages and the webhook client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetpatch import slack_message
from fleetpatch.errors import InvalidEventError
from fleetpatch.publishing import load_report
from fleetpatch.report_text import report_console_url


class _SnsAttribute(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)
    type: str = Field(alias="Type")
    value: str = Field(alias="Value")


class SnsNotification(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    subject: str | None = Field(default=None, alias="Subject")
    message: str = Field(alias="Message")
    message_attributes: dict[str, _SnsAttribute] = Field(
        default_factory=dict, alias="MessageAttributes"
    )

    @property
    def attributes(self) -> dict[str, str]:
        return {k: v.value for k, v in self.message_attributes.items()}


def sns_notifications(event: Mapping[str, Any]) -> list[SnsNotification]:
    """The notifications of an SNS-to-Lambda event; a malformed one names its field."""
    records = event.get("Records")
    if not isinstance(records, list) or not records:
        raise InvalidEventError("Records", "an SNS event has a non-empty Records list")
    found = []
    for index, record in enumerate(records):
        try:
            found.append(SnsNotification.model_validate(record.get("Sns")))
        except (ValidationError, AttributeError) as exc:
            field = f"Records[{index}].Sns"
            location = exc.errors()[0]["loc"] if isinstance(exc, ValidationError) else ()
            if location:
                field += "." + ".".join(str(p) for p in location)
            raise InvalidEventError(field, "not an SNS notification") from None
    return found


@dataclass(frozen=True)
class Sent:
    run_id: str
    fallback: bool
    delivered: bool = True


class SlackNotifier:
    def __init__(
        self,
        *,
        s3: Any,
        secrets: Any,
        bucket: str,
        secret_id: str,
        region: str,
        cache: dict[str, tuple[float, str]],
        now: Callable[[], float],
        ttl_seconds: float,
        log: Callable[[str, dict[str, Any]], None],
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        self._s3 = s3
        self._secrets = secrets
        self._bucket = bucket
        self._secret_id = secret_id
        self._region = region
        self._cache = cache
        self._now = now
        self._ttl = ttl_seconds
        self._log = log
        self._client_factory = client_factory

    def notify(self, notification: SnsNotification) -> Sent:
        attributes = notification.attributes
        report = None
        key = attributes.get("report")
        if key:
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
                report = load_report(body)
            except (ClientError, BotoCoreError, ValueError) as exc:
                self._log(
                    "report unreadable, sending the notification text",
                    {"key": key, "error": str(exc)},
                )
        alarm = slack_message.alarm_notification(notification.message) if not key else None
        if alarm is not None:
            return self._notify_alarm(alarm)
        if report is not None:
            html_key = key.removesuffix(".json") + ".html" if key else None
            message = slack_message.message_for(
                report, report_url=report_console_url(self._region, self._bucket, html_key)
            )
            run_id = report.run_id
        else:
            message = slack_message.fallback_message(
                notification.subject or "fleetpatch", notification.message, attributes
            )
            run_id = attributes.get("run", notification.message_id)
        slack_message.send(self._webhook_url(), message, client_factory=self._client_factory)
        return Sent(run_id, fallback=report is None)

    def _notify_alarm(self, alarm: slack_message.AlarmNotification) -> Sent:
        """A control plane alarm (CloudWatch's JSON): no report, a message of its own.

        Posted once, never retried: a Slack that refuses would fail this function, whose
        errors alarm (and dead-letter queue alarm) would notify again through the same topic,
        for as long as Slack is broken. The alarm was e-mailed from the same topic anyway.
        """
        try:
            slack_message.send(
                self._webhook_url(),
                slack_message.alarm_message(alarm),
                client_factory=self._client_factory,
            )
        except (slack_message.SlackNotDelivered, slack_message.SlackNotConfigured) as exc:
            self._log(
                "alarm not posted to Slack (e-mailed; not retried, or it would alarm again)",
                {"alarm": alarm.name, "state": alarm.new_state, "error": str(exc)},
            )
            return Sent(alarm.name, fallback=False, delivered=False)
        return Sent(alarm.name, fallback=False)

    def _webhook_url(self) -> str:
        cached = self._cache.get(self._secret_id)
        if cached is not None and self._now() - cached[0] < self._ttl:
            return cached[1]
        try:
            secret = self._secrets.get_secret_value(SecretId=self._secret_id)["SecretString"]
        except (ClientError, BotoCoreError, KeyError) as exc:
            raise slack_message.SlackNotConfigured(
                f"cannot read the Slack webhook secret {self._secret_id}: {type(exc).__name__}"
            ) from None
        url = slack_message.webhook_url(secret)
        self._cache[self._secret_id] = (self._now(), url)
        return url

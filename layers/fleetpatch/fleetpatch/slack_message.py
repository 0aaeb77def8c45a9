"""Slack: Block Kit messages for run reports and digests, sent through an incoming webhook.

The notifier function is subscribed to the reports topic. For each notification it reads
the stored report (its key is the ``report`` message attribute) and builds the message
from it; when the report could not be stored it falls back to the notification's subject
and text. The webhook URL comes from Secrets Manager and never appears in a log or an
error. Sending uses slack-sdk's ``WebhookClient`` with its retry handlers (connection
errors, 429 with Retry-After, 5xx); what still fails raises :class:`SlackNotDelivered`,
so Lambda retries the notification and then parks it in the notifier's dead-letter queue.
A patch run never waits on, or fails because of, Slack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fleetpatch import launch_report, report_text
from fleetpatch.errors import FleetpatchError
from fleetpatch.outcomes import label
from fleetpatch.report_text import clip
from fleetpatch.reports import DigestReport, RunReport

LISTED = 10  # instances named in a message; the report has them all
_SECTION_LIMIT = 2900  # Slack allows 3,000 characters in a section's text
_HEADER_LIMIT = 150

_EMOJI = {
    "patched": ":white_check_mark:",
    "compliant": ":white_check_mark:",
    "completed": ":white_check_mark:",
    "recovered": ":white_check_mark:",
    "completed-with-failures": ":warning:",
    "drift": ":warning:",
    "held": ":octagonal_sign:",
    "skipped": ":double_vertical_bar:",
    "failed": ":x:",
}


class SlackNotDelivered(FleetpatchError):
    """Slack did not accept the message after the client's retries."""


class SlackNotConfigured(FleetpatchError):
    """The webhook secret is missing, empty or not a URL."""


def message_for(report: RunReport | DigestReport, *, report_url: str | None) -> dict[str, Any]:
    if isinstance(report, DigestReport):
        return _digest_message(report, report_url)
    return _run_message(report, report_url)


def fallback_message(subject: str, text: str, attributes: Mapping[str, str]) -> dict[str, Any]:
    """The message when no stored report can be read: the notification as it was sent."""
    outcome = attributes.get("outcome", "")
    return {
        "text": subject,
        "blocks": [
            _header(f"{_EMOJI.get(outcome, ':information_source:')} {subject}"),
            {
                "type": "section",
                "text": _mrkdwn(f"```{clip(_escape(text), _SECTION_LIMIT - 6)}```"),
            },
            _context(
                " | ".join(
                    f"{k}: {attributes[k]}"
                    for k in ("kind", "environment", "run")
                    if k in attributes
                )
                or "fleetpatch"
            ),
        ],
    }


# --- CloudWatch alarm notifications ----------------------------------------------------------
# The control plane's own alarms (docs/operations.md) notify the reports topic: the SNS
# message is CloudWatch's JSON, with no report behind it.

_ALARM_EMOJI = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:"}


class _AlarmDimension(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)
    name: str
    value: str


class _AlarmTrigger(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, defer_build=True)
    metric_name: str | None = Field(default=None, alias="MetricName")
    namespace: str | None = Field(default=None, alias="Namespace")
    dimensions: list[_AlarmDimension] = Field(default_factory=list, alias="Dimensions")


class AlarmNotification(BaseModel):
    """What CloudWatch publishes to an alarm's SNS action (the fields a person needs)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True, defer_build=True)
    name: str = Field(alias="AlarmName", min_length=1)
    description: str | None = Field(default=None, alias="AlarmDescription")
    new_state: str = Field(alias="NewStateValue", min_length=1)
    old_state: str | None = Field(default=None, alias="OldStateValue")
    reason: str = Field(default="", alias="NewStateReason")
    changed_at: str | None = Field(default=None, alias="StateChangeTime")
    arn: str | None = Field(default=None, alias="AlarmArn")
    trigger: _AlarmTrigger | None = Field(default=None, alias="Trigger")

    @property
    def region(self) -> str | None:
        """The region code, from the ARN (the message's Region is a long name)."""
        parts = (self.arn or "").split(":")
        return parts[3] if len(parts) > 6 and parts[3] else None


def alarm_notification(text: str) -> AlarmNotification | None:
    """The alarm a notification's message describes, or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or "AlarmName" not in data or "NewStateValue" not in data:
        return None
    try:
        return AlarmNotification.model_validate(data)
    except ValidationError:
        return None


def alarm_message(alarm: AlarmNotification) -> dict[str, Any]:
    """An alarm's change of state: what, since when, why, and where to look."""
    emoji = _ALARM_EMOJI.get(alarm.new_state, ":grey_question:")
    title = f"{alarm.new_state}: {alarm.name}"
    fields = [_mrkdwn(f"*State*\n{alarm.old_state or '?'} \u2192 {alarm.new_state}")]
    if alarm.changed_at:
        fields.append(_mrkdwn(f"*Since*\n{alarm.changed_at}"))
    trigger = alarm.trigger
    if trigger is not None and trigger.metric_name:
        dimensions = ", ".join(f"{d.name}={d.value}" for d in trigger.dimensions)
        metric = f"{trigger.namespace or ''} {trigger.metric_name}".strip()
        fields.append(
            _mrkdwn(
                f"*Metric*\n{_escape(metric)}" + (f" ({_escape(dimensions)})" if dimensions else "")
            )
        )
    blocks: list[dict[str, Any]] = [_header(f"{emoji} {title}")]
    if alarm.description:
        blocks.append(
            {"type": "section", "text": _mrkdwn(clip(_escape(alarm.description), _SECTION_LIMIT))}
        )
    blocks.append({"type": "section", "fields": fields})
    if alarm.reason:
        blocks.append(
            {
                "type": "section",
                "text": _mrkdwn(f"_{clip(_escape(alarm.reason), _SECTION_LIMIT - 2)}_"),
            }
        )
    where = "fleetpatch control plane alarm"
    if alarm.region:
        url = (
            f"https://{alarm.region}.console.aws.amazon.com/cloudwatch/home?region="
            f"{alarm.region}#alarmsV2:alarm/{quote(alarm.name, safe='')}"
        )
        where += f" | <{url}|alarm in the console>"
    blocks.append(_context(where))
    return {"text": f"{emoji} {title}", "blocks": blocks}


def _run_message(report: RunReport, report_url: str | None) -> dict[str, Any]:
    subject = report_text.subject(report)
    patches = report_text.patches_line(report)
    if report.kind == "wave":
        by_run = report.installed_by_run
        installed = "not counted" if by_run is None else str(by_run)
        patches = f"installed by this run: {installed}; {patches}"
    blocks: list[dict[str, Any]] = [
        _header(f"{_EMOJI.get(report.outcome, ':information_source:')} {subject}"),
        {"type": "section", "text": _mrkdwn(clip(_escape(report.summary), _SECTION_LIMIT))},
        {
            "type": "section",
            "fields": [
                _mrkdwn(
                    f"*Outcome*\n{report.outcome}"
                    + (f" ({_escape(report.reason)})" if report.reason else "")
                ),
                _mrkdwn(f"*Environment*\n{report.environment or '-'}"),
                _mrkdwn(f"*Instances*\n{report.counts().describe()}"),
                _mrkdwn(f"*Patches*\n{_escape(patches)}"),
                _mrkdwn(f"*Run*\n`{report.run_id}`"),
                _mrkdwn(f"*Duration*\n{report_text.format_duration(report.duration_seconds)}"),
                *_lifecycle_field(report),
            ],
        },
    ]
    if report.churn is not None and report.churn.escalation:
        text = "\n".join(_escape(line) for line in launch_report.escalation_lines(report.churn))
        blocks.append({"type": "section", "text": _mrkdwn(clip(text, _SECTION_LIMIT))})
    if report.kind == "wave":
        lines = []
        for batch in report.batches:
            status = {"ran": "ran", "held": "*held*", "not-reached": "not reached"}[batch.status]
            line = f"*{_escape(batch.name)}*: {status} ({batch.counts().sentence()})"
            if batch.gate is not None:
                verdict = "passed" if batch.gate.passed else "failed"
                line += f"\n    gate {verdict}: {_escape('; '.join(batch.gate.reasons))}"
            lines.append(line)
        blocks.append({"type": "section", "text": _mrkdwn(clip("\n".join(lines), _SECTION_LIMIT))})
    failed = report.failed_instances()
    if failed:
        unreached = any(i.outcome == "not-reached" for i in failed)
        blocks.append(
            _listed(
                "Failed or not reached" if unreached else "Failed",
                [
                    f"`{_escape(i.instance_id)}` {label(i.outcome)}: {_escape(i.reason or '-')}"
                    for i in failed
                ],
            )
        )
    excluded = report.excluded()
    if excluded:
        blocks.append(
            _listed(
                "Excluded",
                [f"`{_escape(i)}`: {_escape(why)}" for i, why in sorted(excluded.items())],
            )
        )
    exceptions = report.exceptions()
    if exceptions:
        blocks.append(
            _listed(
                "Exceptions (fleetpatch:skip)",
                [f"`{_escape(i)}`: {_escape(x.note)}" for i, x in sorted(exceptions.items())],
            )
        )
    blocks.append(_context(_where(report.run_id, report_url)))
    return {"text": subject, "blocks": blocks}


def _lifecycle_field(report: RunReport) -> list[dict[str, str]]:
    """A launch's lifecycle result, and its group ("ABANDON in `web`"); nothing for a wave."""
    if launch_report.lifecycle_description(report) is None:
        return []
    if report.lifecycle_result and report.auto_scaling_group:
        text = f"{report.lifecycle_result} in `{_escape(report.auto_scaling_group)}`"
    else:
        text = _escape(launch_report.lifecycle_description(report) or "-")
    return [_mrkdwn(f"*Lifecycle*\n{text}")]


def _listed(title: str, lines: list[str]) -> dict[str, Any]:
    """A section of at most LISTED lines under a counted title; the rest are in the report."""
    shown = lines[:LISTED]
    if len(lines) > LISTED:
        shown.append(f"... and {len(lines) - LISTED} more in the report")
    text = f"*{title} ({len(lines)})*\n" + "\n".join(shown)
    return {"type": "section", "text": _mrkdwn(clip(text, _SECTION_LIMIT))}


def _digest_message(digest: DigestReport, report_url: str | None) -> dict[str, Any]:
    from fleetpatch.publishing import subject_of

    subject = subject_of(digest)
    blocks: list[dict[str, Any]] = [
        _header(f"{_EMOJI.get(digest.outcome, ':information_source:')} {subject}"),
        {
            "type": "section",
            "text": _mrkdwn(
                f"Patch compliance changes from {digest.started_at.astimezone(UTC):%Y-%m-%d %H:%M} "
                f"to {digest.ended_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC."
            ),
        },
    ]
    for title, entries in (("Drifted", digest.drifted), ("Recovered", digest.recovered)):
        if entries:
            blocks.append(
                _listed(
                    title,
                    [
                        f"`{e.instance_id}` {_escape(_where_is(e.environment, e.patch_group))}"
                        + (f" severity {e.severity}" if e.severity else "")
                        + (f" ({_escape(e.exception)}: not remediated)" if e.exception else "")
                        for e in entries
                    ],
                )
            )
    blocks.append(_context(_where(digest.run_id, report_url)))
    return {"text": subject, "blocks": blocks}


def _where_is(environment: str | None, patch_group: str | None) -> str:
    return "/".join(x for x in (environment, patch_group) if x) or "-"


def _where(run_id: str, report_url: str | None) -> str:
    text = f"fleetpatch run `{run_id}`"
    return text + (f" | <{report_url}|report>" if report_url else "")


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, _HEADER_LIMIT), "emoji": True},
    }


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _escape(text: str) -> str:
    """Slack's three control characters, so a reason cannot ping @channel or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the webhook ------------------------------------------------------------------------------


def webhook_url(secret_string: str) -> str:
    """The URL from the secret: the URL itself, or JSON with ``webhook_url`` (or ``url``)."""
    value = secret_string.strip()
    if value.startswith("{"):
        try:
            data = json.loads(value)
        except ValueError:
            raise SlackNotConfigured("the Slack secret is neither a URL nor JSON") from None
        value = str(data.get("webhook_url") or data.get("url") or "")
    if not value.startswith(("https://", "http://")):
        # Never echo the value: it may be a token pasted in the wrong place.
        raise SlackNotConfigured("the Slack secret holds no webhook URL")
    return value


def send(
    url: str,
    message: Mapping[str, Any],
    *,
    client_factory: Callable[[str], Any] | None = None,
) -> int:
    """Post ``message``; returns Slack's status. Raises :class:`SlackNotDelivered`."""
    client = (client_factory or _client)(url)
    try:
        response = client.send(text=message.get("text"), blocks=message.get("blocks"))
    except Exception as exc:
        raise SlackNotDelivered(f"Slack webhook failed: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise SlackNotDelivered(
            f"Slack webhook answered {response.status_code}: {str(response.body)[:200]}"
        )
    return int(response.status_code)


def _client(url: str) -> Any:
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.builtin_interval_calculators import (
        BackoffRetryIntervalCalculator,
    )
    from slack_sdk.webhook import WebhookClient

    # Short in-call retries (0.25 s and 0.5 s, plus up to 1 s of slack-sdk's jitter) for
    # blips; a longer outage is Lambda's to retry (minutes apart) and then the dead-letter
    # queue's to keep. 429 waits for Retry-After.
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.25)
    return WebhookClient(
        url,
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
        ],
    )

"""Slack: each message of the reports topic, as a Block Kit message, once per SNS message id.

The message is built from the stored report the notification points to (or from the
notification itself when there is none) and posted with slack-sdk's retrying webhook
client (``fleetpatch.notify``). A failure raises, so Lambda retries the notification. SNS
delivers at least once and a Slack webhook has no idempotency key: the caller provides the
"once" (notify-slack: powertools idempotency in the state table).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from fleetpatch.notify import SlackNotifier, SnsNotification
from fleetpatch.services import ClientFactory, aws_client

LOG = logging.getLogger(__name__)


class SlackSettings(Protocol):
    """What the notify-slack function is configured with."""

    @property
    def bucket(self) -> str: ...
    @property
    def webhook_secret(self) -> str: ...
    @property
    def region(self) -> str: ...


# The webhook URL is cached for warm invocations; re-read after this long (a rotated secret).
SECRET_TTL_SECONDS = 300

Post = Callable[[SnsNotification], dict[str, Any]]
# Makes a post happen once per message: (result, True) for a message posted before.
Once = Callable[[Post], Callable[[SnsNotification], tuple[dict[str, Any], bool]]]


def post_to_slack(
    notifications: Sequence[SnsNotification],
    settings: SlackSettings,
    *,
    once: Once,
    secret_cache: dict[str, tuple[float, str]],
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Post each notification to Slack, once per message; nothing when Slack is not set up.

    ``secret_cache`` keeps the webhook URL for the process (the function's warm state).
    """
    if not settings.webhook_secret:
        LOG.info("Slack is not configured: nothing sent", extra={"messages": len(notifications)})
        return {"sent": 0, "skipped": len(notifications)}
    notifier = SlackNotifier(
        s3=client("s3"),
        secrets=client("secretsmanager"),
        bucket=settings.bucket,
        secret_id=settings.webhook_secret,
        region=settings.region,
        cache=secret_cache,
        now=time.monotonic,
        ttl_seconds=SECRET_TTL_SECONDS,
        log=lambda message, extra: LOG.warning(message, extra=extra),
    )

    def post(notification: SnsNotification) -> dict[str, Any]:
        sent = notifier.notify(notification)
        return {"run": sent.run_id, "fallback": sent.fallback}

    post_once = once(post)
    sent: list[dict[str, Any]] = []
    repeated: list[dict[str, Any]] = []
    for notification in notifications:
        result, again = post_once(notification)
        (repeated if again else sent).append(result)
        if again:
            LOG.info(
                "duplicate delivery: already posted to Slack",
                extra={"message_id": notification.message_id, "run": result["run"]},
            )
    LOG.info("sent to Slack", extra={"messages": len(sent), "runs": [s["run"] for s in sent]})
    return {
        "sent": len(sent),
        "duplicates": len(repeated),
        "runs": [s["run"] for s in sent],
        "fallback": [s["fallback"] for s in sent],
    }

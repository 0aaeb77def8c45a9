"""Notify Slack: every message on the reports topic, as a Block Kit message (SNS subscriber).

The only function that may read the Slack webhook secret. It builds the message from the
stored report the notification points to (or from the notification itself when there is
none) and posts it with slack-sdk's retrying webhook client. A failure raises, so Lambda
retries the notification and then keeps it in this function's dead-letter queue; the
patch runs never depend on Slack.
"""

from __future__ import annotations

import time
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field

from fleetpatch import aws
from fleetpatch.notify import SlackNotifier, sns_notifications


class Config(FunctionConfig):
    bucket: str = Field(alias="FLEETPATCH_BUCKET_NAME", min_length=3)
    webhook_secret: str = Field(default="", alias="FLEETPATCH_SLACK_WEBHOOK_SECRET")
    region: str = Field(alias="AWS_REGION", min_length=1)


# The webhook URL, cached for warm invocations; re-read after this long (a rotated secret).
_SECRET_TTL_SECONDS = 300
_CACHE: dict[str, tuple[float, str]] = {}


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = load_config(Config)
    notifications = sns_notifications(event)
    if not config.webhook_secret:
        logger.info("Slack is not configured: nothing sent", extra={"messages": len(notifications)})
        return {"sent": 0, "skipped": len(notifications)}
    notifier = SlackNotifier(
        s3=aws.client("s3"),
        secrets=aws.client("secretsmanager"),
        bucket=config.bucket,
        secret_id=config.webhook_secret,
        region=config.region,
        cache=_CACHE,
        now=time.monotonic,
        ttl_seconds=_SECRET_TTL_SECONDS,
        log=lambda message, extra: logger.warning(message, extra=extra),
    )
    sent = [notifier.notify(n) for n in notifications]
    logger.info("sent to Slack", extra={"messages": len(sent), "runs": [s.run_id for s in sent]})
    return {
        "sent": len(sent),
        "runs": [s.run_id for s in sent],
        "fallback": [s.fallback for s in sent],
    }

"""Notify Slack: every message on the reports topic, as a Block Kit message (SNS subscriber).

The only function that may read the Slack webhook secret. It builds the message from the
stored report the notification points to (or from the notification itself when there is
none) and posts it with slack-sdk's retrying webhook client. A failure raises, so Lambda
retries the notification and then keeps it in this function's dead-letter queue; the
patch runs never depend on Slack.

SNS delivers at least once, and a Slack webhook has no idempotency key: each SNS message
id is posted once (powertools idempotency in the state table, see
``fleetpatch_lambda.idempotency``). A post that fails is not recorded, so the retry posts.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fleetpatch_lambda.observability import instrumented

from fleetpatch import aws

# The webhook URL, cached for warm invocations (this execution environment's).
_CACHE: dict[str, tuple[float, str]] = {}

# How long a message id is remembered: SNS redelivers within minutes and Lambda's own
# retries of an SNS event end within MaximumEventAgeInSeconds (an hour); a day covers both
# with room, and the table's TTL removes the record after it.
POSTED_TTL_SECONDS = 24 * 3600


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19): powertools'
    # idempotency utility, the SNS parsing and the Slack message.
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.idempotency import once
    from fleetpatch_lambda.inputs.notify_slack import Config

    from fleetpatch.notify import sns_notifications
    from fleetpatch.services.slack import post_to_slack

    config = load_config(Config)
    return post_to_slack(
        sns_notifications(event),
        config,
        once=partial(
            once,
            what="slack-post",
            key="message_id",
            table_name=config.table_name,
            function_name=config.function_name,
            dynamodb=aws.client("dynamodb"),
            lambda_context=context,
            expires_after_seconds=POSTED_TTL_SECONDS,
        ),
        secret_cache=_CACHE,
    )

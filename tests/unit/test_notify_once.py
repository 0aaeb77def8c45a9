"""The Slack notifier posts each SNS message once, however often SNS delivers it.

The real handler (functions/notify_slack) with powertools idempotency in a moto state
table shaped like the template's, posting to the local Slack receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from moto import mock_aws
from pytest_socket import socket_allow_hosts

from fleetpatch import aws
from fleetpatch.contracts import keys
from fleetpatch.notify import SlackNotifier
from fleetpatch.slack_message import SlackNotDelivered
from localcloud.adapters.handlers import LambdaHandler, load_handler
from localcloud.slack import SlackWebhookReceiver
from tests.conftest import REPO_ROOT
from tests.unit.conftest import STATE_TABLE, create_state_table
from tests.unit.test_notify import BUCKET, REGION, SECRET, sns_record

pytestmark = [pytest.mark.enable_socket]

FUNCTION = "fleetpatch-test-notify-slack"


@dataclass
class Context:
    """The Lambda context powertools reads (the in-progress record expires with it)."""

    function_name: str = FUNCTION
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:{FUNCTION}"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class World:
    handler: LambdaHandler
    slack: SlackWebhookReceiver
    dynamodb: Any

    def deliver(self, message_id: str = "95df01b4-ee98-5cb9-9903-4c221d41eb5e") -> Any:
        """SNS delivers the notification ``message_id`` to the function (once more)."""
        return self.handler({"Records": [sns_record(MessageId=message_id)]}, Context())

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.dynamodb.query(
            TableName=STATE_TABLE,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"{keys.IDEMPOTENCY_PREFIX}{FUNCTION}"}},
            ConsistentRead=True,
        )["Items"]
        return found


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    resolve = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "127.0.0.1":
            raise OSError(f"test resolves only 127.0.0.1, not {host!r}")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "fleetpatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Fleetpatch",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "FLEETPATCH_TABLE_NAME": STATE_TABLE,
        "FLEETPATCH_ARTIFACTS_BUCKET": BUCKET,
        "FLEETPATCH_SLACK_WEBHOOK_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(), SlackWebhookReceiver() as slack:
        aws.reset_clients()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb)
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=SECRET, SecretString=json.dumps({"webhook_url": slack.url})
        )
        handler = load_handler(REPO_ROOT / "functions" / "notify_slack", "app.lambda_handler")
        yield World(handler, slack, dynamodb)
        aws.reset_clients()


def test_a_message_delivered_three_times_is_posted_once(world: World) -> None:
    results = [world.deliver() for _ in range(3)]
    assert len(world.slack.delivered) == 1
    assert [(r["sent"], r["duplicates"]) for r in results] == [(1, 0), (0, 1), (0, 1)]
    # The record: this function's partition, COMPLETED, removed by the table's TTL in a day.
    [record] = world.records()
    assert record["sk"]["S"].startswith("slack-post#")
    assert record["status"]["S"] == "COMPLETED"
    assert abs(int(record["expires_at"]["N"]) - (time.time() + 24 * 3600)) < 60


def test_each_message_id_is_posted(world: World) -> None:
    # The key is the message id, not the content: two publishes of one text are two posts.
    world.deliver("message-1")
    world.deliver("message-2")
    world.deliver("message-1")
    assert len(world.slack.delivered) == 2
    assert len(world.records()) == 2


def test_a_post_that_failed_is_not_recorded_and_the_retry_posts(world: World) -> None:
    world.slack.fail_next(1, status=403)  # refused: no slack-sdk retry, the invocation fails
    with pytest.raises(SlackNotDelivered):
        world.deliver()
    assert world.slack.delivered == []
    assert world.records() == []  # nothing claims the message: Lambda's retry posts it
    assert world.deliver()["sent"] == 1
    assert world.deliver()["duplicates"] == 1
    assert len(world.slack.delivered) == 1


def test_a_duplicate_while_the_first_still_posts_fails_for_a_later_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SNS hands the same message to two concurrent invocations: the second arrives while
    # the first is still posting (here: from inside the first's post).
    raised: list[BaseException] = []
    notify = SlackNotifier.notify

    def notify_with_a_concurrent_duplicate(self: SlackNotifier, notification: Any) -> Any:
        try:
            world.deliver()
        except IdempotencyAlreadyInProgressError as exc:
            raised.append(exc)
        return notify(self, notification)

    monkeypatch.setattr(SlackNotifier, "notify", notify_with_a_concurrent_duplicate)
    assert world.deliver()["sent"] == 1
    assert len(raised) == 1  # the duplicate failed (Lambda retries it) and posted nothing
    monkeypatch.setattr(SlackNotifier, "notify", notify)
    assert world.deliver()["duplicates"] == 1  # that retry finds the post done
    assert len(world.slack.delivered) == 1

"""SNS on the local cloud: delivery to Lambda subscriptions, shaped and timed as in AWS.

moto 5.2.5 hands a message for a ``lambda`` subscription to
``LambdaBackend.send_sns_message``, which invokes the function *synchronously*, inside
``Publish``, with a canned event: ``MessageAttributes`` ``{"Test": ...}``, ``TopicArn``
``arn:aws:sns:EXAMPLE``, a 1970 ``Timestamp`` and ``Subject`` "TestInvoke" when there is
none. A handler tested against that passes on the local cloud and breaks in AWS.

We take over ``moto.sns.models.Subscription.publish`` for protocol ``lambda`` only; SQS,
HTTP and the other protocols keep moto's delivery. For a Lambda subscription, as SNS does:

* the subscription's ``FilterPolicy`` (either ``FilterPolicyScope``) is applied with moto's
  own matcher, and a ``MessageStructure=json`` message is reduced to its ``lambda`` (else
  ``default``) key, both exactly where moto's ``publish`` does it;
* the event is the one SNS sends: ``Records[0]`` with ``EventSource`` ``aws:sns``, the
  subscription ARN, and ``Sns`` carrying the real topic ARN, message id, ``Subject``
  (``None`` when absent: AWS sends ``null``), the simulated publish time
  (``2026-11-07T06:00:00.000Z``) and the message attributes as
  ``{"name": {"Type": "String", "Value": "..."}}``;
* SNS invokes Lambda asynchronously: the invocation is queued on the simulated clock
  (``LambdaRuntime.invoke_async``) after ``Publish`` has returned, with Lambda's
  asynchronous retries and the function's dead-letter queue.

Not simulated: SNS's own delivery retries and a subscription's ``RedrivePolicy`` for a
function that does not exist; such a delivery is recorded (``delivered=False``) and logged.
``Publish`` still succeeds, as in AWS (moto's own delivery would fail the ``Publish``).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from localcloud.adapters.awslambda import LambdaRuntime
from localcloud.core import clock as sim
from localcloud.core import motopatch
from localcloud.core.iam import enforcer
from localcloud.core.iam.enforcer import AccessDenied
from localcloud.core.registry import Slot

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

LOG = logging.getLogger(__name__)

# SNS signs every message; nobody checks the signature of a local one, so these stay
# recognisably fake (the values AWS documents in its sample event).
SIGNATURE = "EXAMPLE"
SIGNING_CERT_NAME = f"SimpleNotificationService-{'0' * 32}.pem"


@dataclass
class Notification:
    """One message handed (or not) to one Lambda subscription, for the timeline and tests."""

    topic_arn: str
    subscription_arn: str
    function_name: str
    event: dict[str, Any]
    delivered: bool
    error: str | None = None


class NotificationDelivery:
    """Holds what the patched subscription needs: the Lambda runtime and a delivery log."""

    def __init__(self, runtime: LambdaRuntime) -> None:
        self.runtime = runtime
        self.notifications: list[Notification] = []
        self.listeners: list[Callable[[Notification], None]] = []

    def record(self, notification: Notification) -> None:
        self.notifications.append(notification)
        for listener in self.listeners:
            listener(notification)


# The running cloud's notification-delivery (localcloud.core.registry).
DELIVERY: Slot[NotificationDelivery] = Slot("notification-delivery")


def sns_timestamp(moment: datetime) -> str:
    """SNS's ``Timestamp``: UTC with milliseconds and a ``Z`` (``2026-11-07T06:00:00.000Z``)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def lambda_message_attributes(attributes: dict[str, Any] | None) -> dict[str, Any]:
    """Message attributes as SNS hands them to Lambda: ``{"name": {"Type", "Value"}}``.

    moto's ``Publish`` already turns the API's ``DataType``/``StringValue``/``BinaryValue``
    into ``Type``/``Value`` (binary values base64 text), which is Lambda's shape; values
    are strings in the event, numbers too.
    """
    shaped: dict[str, Any] = {}
    for name, given in (attributes or {}).items():
        if "DataType" in given:  # the API's shape, should a caller inside moto pass it
            kind = given["DataType"]
            value = given.get("StringValue", given.get("BinaryValue"))
        else:
            kind, value = given["Type"], given.get("Value")
        if isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        shaped[name] = {"Type": kind, "Value": str(value)}
    return shaped


def lambda_event(
    *,
    subscription_arn: str,
    topic_arn: str,
    message_id: str,
    message: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None,
    timestamp: datetime,
) -> dict[str, Any]:
    """The event SNS invokes a subscribed function with (one record per invocation)."""
    region = topic_arn.split(":")[3]
    endpoint = f"https://sns.{region}.amazonaws.com"
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": topic_arn,
                    "Subject": subject,
                    "Message": message,
                    "Timestamp": sns_timestamp(timestamp),
                    "SignatureVersion": "1",
                    "Signature": SIGNATURE,
                    "SigningCertUrl": f"{endpoint}/{SIGNING_CERT_NAME}",
                    "UnsubscribeUrl": (
                        f"{endpoint}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
                    ),
                    "MessageAttributes": lambda_message_attributes(message_attributes),
                },
            }
        ]
    }


def _deliver_to_lambda(
    subscription: Any,
    *,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None,
    message_structure: str | None,
) -> None:
    delivery = DELIVERY.get()
    assert delivery is not None
    # What moto's Subscription.publish does before it looks at the protocol.
    matcher = subscription._filter_policy_matcher
    if matcher is not None and not matcher.matches(message_attributes, message):
        return
    if message_structure == "json":
        message = subscription._parse_message_structure(message, subscription.protocol)
    # The endpoint may carry a qualifier (alias or version); the local runtime runs one
    # version of each function.
    function_name = str(subscription.endpoint).split(":")[6]
    event = lambda_event(
        subscription_arn=subscription.arn,
        topic_arn=subscription.topic.arn,
        message_id=message_id,
        message=message,
        subject=subject,
        message_attributes=message_attributes,
        timestamp=sim.current().now(),
    )
    notification = Notification(
        subscription.topic.arn, subscription.arn, function_name, event, delivered=True
    )
    if function_name not in delivery.runtime.functions:
        notification.delivered = False
        notification.error = f"function {function_name} does not exist"
        LOG.warning(
            "SNS delivery from %s to %s failed: %s",
            subscription.topic.arn,
            subscription.endpoint,
            notification.error,
        )
    else:
        # SNS invokes as itself: the function's resource policy must allow the topic.
        iam = enforcer.active()
        try:
            if iam is not None:
                principal = iam.service("sns.amazonaws.com", subscription.topic.arn)
                iam.require(principal, "lambda", "Invoke", {"FunctionName": subscription.endpoint})
        except AccessDenied as exc:
            notification.delivered = False
            notification.error = str(exc)
            LOG.warning("SNS delivery from %s refused: %s", subscription.topic.arn, exc)
        else:
            delivery.runtime.invoke_async(function_name, event)
    delivery.record(notification)


def install(delivery: NotificationDelivery) -> None:
    """Take over delivery to Lambda subscriptions (idempotent; replaces an earlier holder)."""
    DELIVERY.set(delivery)
    from moto.sns.models import Subscription

    original = Subscription.publish
    if motopatch.is_patched(original):
        return

    def publish(
        self: Any,
        message: str,
        message_id: str,
        *,  # moto's Topic.publish passes the rest by keyword (see the canary)
        subject: str | None = None,
        message_attributes: dict[str, Any] | None = None,
        group_id: str | None = None,
        deduplication_id: str | None = None,
        message_structure: str | None = None,
    ) -> None:
        if self.protocol != "lambda" or DELIVERY.get() is None:
            original(
                self,
                message,
                message_id,
                subject=subject,
                message_attributes=message_attributes,
                group_id=group_id,
                deduplication_id=deduplication_id,
                message_structure=message_structure,
            )
            return
        _deliver_to_lambda(
            self,
            message=message,
            message_id=message_id,
            subject=subject,
            message_attributes=message_attributes,
            message_structure=message_structure,
        )

    motopatch.replace(Subscription, "publish", publish)

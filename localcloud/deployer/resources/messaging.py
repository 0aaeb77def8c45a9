"""SNS topics, subscriptions and topic policies; SQS queues and queue policies."""

from __future__ import annotations

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import attribute_text, creates, is_true, json_text, tags

# --- SNS ------------------------------------------------------------------------------------


def _generated_name(ctx: Context, res: Resource, max_length: int, fifo: bool) -> str:
    """A generated topic or queue name; FIFO ones must end in ``.fifo``."""
    if fifo:
        return ctx.name(res.logical_id, max_length - len(".fifo")) + ".fifo"
    return ctx.name(res.logical_id, max_length)


_TOPIC_ATTRIBUTES = (
    "DisplayName KmsMasterKeyId FifoTopic ContentBasedDeduplication SignatureVersion TracingConfig"
)


@creates(
    applies=f"TopicName Subscription Tags {_TOPIC_ATTRIBUTES}",
)
def topic(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("TopicName") or _generated_name(ctx, res, 256, is_true(p.get("FifoTopic")))
    attributes = {key: attribute_text(p[key], key) for key in _TOPIC_ATTRIBUTES.split() if key in p}
    arn = ctx.call("sns", "create_topic", Name=name, Attributes=attributes, Tags=p.get("Tags"))[
        "TopicArn"
    ]
    for subscription in p.get("Subscription", []):
        ctx.call("sns", "subscribe", TopicArn=arn, **subscription)
    return Created(arn, {"TopicArn": arn, "TopicName": name})


_SUBSCRIPTION_ATTRIBUTES = (
    "FilterPolicy FilterPolicyScope RawMessageDelivery RedrivePolicy DeliveryPolicy"
)


@creates(
    passes="TopicArn Protocol Endpoint",
    applies=_SUBSCRIPTION_ATTRIBUTES,
    # The local cloud is one region: a subscription's region is always its own.
    records="Region",
)
def subscription(ctx: Context, res: Resource) -> Created:
    p = res.properties
    attributes = {
        key: attribute_text(p[key], key) for key in _SUBSCRIPTION_ATTRIBUTES.split() if key in p
    }
    arn = ctx.call(
        "sns",
        "subscribe",
        **res.passed,
        Attributes=attributes or None,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return Created(arn, {"Arn": arn})


@creates(applies="Topics PolicyDocument")
def topic_policy(ctx: Context, res: Resource) -> Created:
    policy = json_text(res.require("PolicyDocument"))
    for topic in res.require("Topics"):
        ctx.call(
            "sns",
            "set_topic_attributes",
            TopicArn=topic,
            AttributeName="Policy",
            AttributeValue=policy,
        )
    return Created(ctx.name(res.logical_id, 128))


# --- SQS ------------------------------------------------------------------------------------


_QUEUE_ATTRIBUTES = (
    "DelaySeconds MaximumMessageSize MessageRetentionPeriod ReceiveMessageWaitTimeSeconds "
    "VisibilityTimeout KmsMasterKeyId KmsDataKeyReusePeriodSeconds SqsManagedSseEnabled "
    "FifoQueue ContentBasedDeduplication DeduplicationScope FifoThroughputLimit "
    "RedrivePolicy RedriveAllowPolicy"
)


@creates(applies=f"QueueName Tags {_QUEUE_ATTRIBUTES}")
def queue(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("QueueName") or _generated_name(ctx, res, 80, is_true(p.get("FifoQueue")))
    attributes = {key: attribute_text(p[key], key) for key in _QUEUE_ATTRIBUTES.split() if key in p}
    url = ctx.call(
        "sqs", "create_queue", QueueName=name, Attributes=attributes, tags=tags(p) or None
    )["QueueUrl"]
    arn = ctx.call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return Created(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


@creates(applies="Queues PolicyDocument")
def queue_policy(ctx: Context, res: Resource) -> Created:
    policy = json_text(res.require("PolicyDocument"))
    for url in res.require("Queues"):
        ctx.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes={"Policy": policy})
    return Created(ctx.name(res.logical_id, 128))

"""AWS's quotas and limits, as the local cloud enforces them (:mod:`localcloud.adapters.quotas`).

One table (``QUOTAS``) holds each limit, its value, how AWS fails a breach and the page the
value comes from; docs/limits.md shows the same table. These values restate AWS facts on
purpose, as an independent oracle: tests assert behaviour against them, not against moto.

Where AWS's current documentation differs from older figures (Lambda asynchronous payloads,
EventBridge entries and SQS messages went from 256 KiB to 1 MiB), the table follows the
current AWS documentation and the service model botocore 1.44.5 ships.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quota:
    """One AWS limit the local cloud enforces."""

    what: str  # and the unit of value
    value: int
    failure: str
    source: str


_SFN_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
QUOTAS: dict[str, Quota] = {
    "sfn_payload": Quota(
        "Step Functions state input/output (and execution input), bytes (UTF-8)",
        262_144,
        "state data: States.DataLimitExceeded, terminal (States.ALL does not catch it); "
        "StartExecution input: ValidationException",
        _SFN_QUOTAS,
    ),
    "sfn_history": Quota(
        "Step Functions execution history, events",
        25_000,
        "the execution fails with States.Runtime, 'The execution reached the maximum "
        "number of history events (25000).'; event 25,000 is ExecutionFailed",
        _SFN_QUOTAS,
    ),
    "sfn_execution_name": Quota(
        "Step Functions execution name, characters",
        80,
        "StartExecution: ValidationException (length); InvalidName (forbidden characters)",
        "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html",
    ),
    "sfn_inline_map_concurrency": Quota(
        "Step Functions inline Map concurrent iterations, iterations",
        40,
        "not a failure: iterations beyond 40 wait (MaxConcurrency 0 or above 40 runs 40)",
        "https://docs.aws.amazon.com/step-functions/latest/dg/state-map-inline.html",
    ),
    "lambda_sync_payload": Quota(
        "Lambda Invoke request payload, synchronous, bytes",
        6_291_456,
        "Invoke: 413 RequestEntityTooLargeException",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    ),
    "lambda_async_payload": Quota(
        "Lambda Invoke request payload, asynchronous (InvocationType Event), bytes",
        1_048_576,
        "Invoke: 413 RequestEntityTooLargeException",
        "https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html",
    ),
    "lambda_response": Quota(
        "Lambda response payload, synchronous, bytes",
        6_291_556,
        "the invocation fails: FunctionError Unhandled, errorType Function.ResponseSizeTooLarge",
        "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    ),
    "eventbridge_entries": Quota(
        "EventBridge PutEvents total entry size (per request), bytes, must stay below",
        1_048_576,
        "PutEvents: ValidationException 'Total size of the entries in the request is over "
        "the limit.'",
        "https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html",
    ),
    "sns_message": Quota(
        "SNS Publish message, bytes (UTF-8)",
        262_144,
        "Publish: InvalidParameter 'Invalid parameter: Message too long'",
        "https://docs.aws.amazon.com/sns/latest/api/API_Publish.html",
    ),
    "sns_subject": Quota(
        "SNS Publish subject, characters",
        100,
        "Publish: InvalidParameter (moto's own check, kept)",
        "https://docs.aws.amazon.com/sns/latest/api/API_Publish.html",
    ),
    "sqs_message": Quota(
        "SQS message (body and attributes), default queue MaximumMessageSize, bytes",
        1_048_576,
        "SendMessage: InvalidParameterValue 'One or more parameters are invalid. Reason: "
        "Message must be shorter than N bytes.'",
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html",
    ),
    "dynamodb_item": Quota(
        "DynamoDB item (attribute names and values), bytes",
        409_600,
        "PutItem: ValidationException 'Item size has exceeded the maximum allowed size'; "
        "UpdateItem: '... Item size to update has exceeded ...'",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html",
    ),
    "ssm_parameter_standard": Quota(
        "SSM parameter value, Standard tier, characters",
        4_096,
        "PutParameter: ValidationException 'Standard tier parameters support a maximum "
        "parameter value of 4096 characters. ...'",
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
    ),
    "ssm_parameter_advanced": Quota(
        "SSM parameter value, Advanced (and Intelligent-Tiering) tier, characters",
        8_192,
        "PutParameter: ValidationException",
        "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html",
    ),
    "ssm_send_command_instances": Quota(
        "SendCommand InstanceIds, ids",
        50,
        "SendCommand: ValidationException (constraint 'length less than or equal to 50')",
        "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html",
    ),
    "ssm_send_command_comment": Quota(
        "SendCommand Comment, characters",
        100,
        "SendCommand: ValidationException (constraint 'length less than or equal to 100')",
        "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html",
    ),
    "scheduler_name": Quota(
        "EventBridge Scheduler schedule name, characters",
        64,
        "CreateSchedule: ValidationException (constraint 'length less than or equal to 64')",
        "https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html",
    ),
    "s3_key": Quota(
        "S3 object key, bytes (UTF-8)",
        1_024,
        "PutObject, CopyObject, CreateMultipartUpload: 400 KeyTooLongError 'Your key is too long'",
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html",
    ),
}


def limit(key: str) -> int:
    """The value of one quota (read at each check: a test may lower it for a while)."""
    return QUOTAS[key].value

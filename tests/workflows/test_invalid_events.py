"""An invalid event that matches a rule ends in its function's dead-letter queue, named.

For each EventBridge-triggered function: an event its rule's pattern lets through but the
edge rejects (a bad id, a missing field, a bad time). Lambda retries the asynchronous
invocation twice, then parks the event in the function's dead-letter queue with the reason
naming the field, and nothing else happens: no workflow run, no command, no table write,
no message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import load_event
from tests.workflows.conftest import Deployed


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda detail: detail.pop(key)


def _setting(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda detail: detail.update({key: value})


# (fixture, how its detail is broken, the function, its dead-letter queue, the field named)
INVALID = [
    (
        "aws.autoscaling/launch-lifecycle-action",
        _setting("EC2InstanceId", "i-NOT-AN-ID"),
        "patch-on-launch",
        "PatchOnLaunchFunctionDeadLetterQueue",
        "detail.EC2InstanceId",
    ),
    (
        "aws.ec2/instance-running",
        _setting("instance-id", 42),
        "patch-on-launch",
        "PatchOnLaunchFunctionDeadLetterQueue",
        "detail.instance-id",
    ),
    (
        "aws.ssm/maintenance-window-execution-success",
        _without("window-execution-id"),
        "batch-gate",
        "BatchGateFunctionDeadLetterQueue",
        "detail.window-execution-id",
    ),
    (
        "aws.ssm/compliance-patch-non-compliant",
        _setting("patch-baseline-id", "https://example.com/baseline"),
        "compliance-change",
        "ComplianceChangeFunctionDeadLetterQueue",
        "detail.patch-baseline-id",
    ),
    (
        "aws.ssm/command-invocation-success",
        _setting("requested-date-time", 1_700_000_000),
        "command-status",
        "CommandStatusFunctionDeadLetterQueue",
        "detail.requested-date-time",
    ),
    (
        "aws.ssm/command-success",
        _setting("parameters", {"Operation": "Install"}),
        "command-status",
        "CommandStatusFunctionDeadLetterQueue",
        "detail.parameters.Operation",
    ),
    (
        "aws.inspector2/package-vulnerability-critical",
        _setting("firstObservedAt", "last Tuesday"),
        "emergency",
        "EmergencyFunctionDeadLetterQueue",
        "detail.firstObservedAt",
    ),
    (
        "fleetpatch.operator/emergency-patch-requested",
        _without("reason"),
        "emergency",
        "EmergencyFunctionDeadLetterQueue",
        "detail.reason",
    ),
]


def _dead_letters(deployed: Deployed, logical_id: str) -> list[dict[str, Any]]:
    sqs = deployed.cloud.client("sqs")
    name = deployed.stack.physical_id(logical_id).rsplit("/", 1)[-1]
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        messages += batch
    return messages


def test_invalid_events_end_in_the_dead_letter_queue_naming_the_field(deployed: Deployed) -> None:
    # Given the deployed stack, and for each EventBridge-triggered function an event its
    # rule matches but whose detail is invalid
    sent: dict[str, tuple[str, str, str]] = {}
    for fixture, breaks, function, queue, field in INVALID:
        event = load_event(fixture)
        breaks(event["detail"])
        sent[json.dumps(event["detail"], sort_keys=True)] = (function, queue, field)
        # When EventBridge delivers it
        deployed.cloud.put_event(event)
    deployed.cloud.settle(max_seconds=30 * 60)

    # Then each function ran three times (Lambda's two retries), failing on the field...
    invocations = [
        i for i in deployed.cloud.lambdas.invocations if i.function_name.startswith("fleetpatch-")
    ]
    assert len(invocations) == 3 * len(INVALID)
    for invocation in invocations:
        function, _, field = sent[json.dumps(invocation.event["detail"], sort_keys=True)]
        assert invocation.function_name.endswith(function)
        assert invocation.error_type == "InvalidEventError"
        assert (invocation.error_message or "").startswith(f"{field}: ")

    # ... and the event waits in the function's dead-letter queue with the reason.
    parked: dict[str, str] = {}
    for queue in sorted({row[3] for row in INVALID}):
        for message in _dead_letters(deployed, queue):
            detail = json.dumps(json.loads(message["Body"])["detail"], sort_keys=True)
            assert sent[detail][1] == queue  # the queue of the function it was for
            parked[detail] = message["MessageAttributes"]["ErrorMessage"]["StringValue"]
    assert set(parked) == set(sent)
    for detail, reason in parked.items():
        assert reason.startswith(f"InvalidEventError: {sent[detail][2]}: "), reason

    # And nothing else happened: no workflow run, no command, no state, no message.
    sfn = deployed.cloud.client("stepfunctions")
    for machine in sfn.list_state_machines()["stateMachines"]:
        assert sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"] == []
    assert deployed.cloud.client("ssm").list_commands()["Commands"] == []
    table = deployed.stack.physical_id("StateTable")
    assert deployed.cloud.client("dynamodb").scan(TableName=table)["Items"] == []
    assert deployed.messages() == []

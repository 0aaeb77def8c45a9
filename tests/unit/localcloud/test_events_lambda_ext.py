"""EventBridge delivers to in-process Lambda and Step Functions; async failures reach the DLQ."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from localcloud.cloud import LocalCloud
from tests.conftest import load_event
from tests.unit.localcloud.conftest import create_state_machine, deploy_function, role_arn

HANDLERS = Path(__file__).parent / "handlers"


def add_rule(
    cloud: LocalCloud, name: str, pattern: dict[str, object], targets: list[dict[str, object]]
) -> None:
    events = cloud.client("events")
    events.put_rule(Name=name, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, Targets=targets)


def test_event_reaches_a_lambda_target_with_its_environment(cloud: LocalCloud) -> None:
    # Given a function behind a rule on aws.ec2 running events
    arn = deploy_function(cloud, "echo", HANDLERS / "echo", environment={"GREETING": "hello"})
    add_rule(
        cloud,
        "running",
        {"source": ["aws.ec2"], "detail": {"state": ["running"]}},
        [{"Id": "fn", "Arn": arn}],
    )
    fixture = load_event("aws.ec2/instance-running")
    # When AWS emits the event
    cloud.put_event(fixture)
    assert cloud.lambdas.invocations == []  # delivery is asynchronous, like EventBridge
    cloud.settle()
    # Then the handler ran once with the full event, AWS-shaped
    [invocation] = cloud.lambdas.invocations
    assert invocation.error_type is None
    assert invocation.result["greeting"] == "hello"
    delivered = invocation.result["event"]
    assert delivered["detail"] == fixture["detail"]
    assert delivered["detail-type"] == fixture["detail-type"]
    assert delivered["time"].endswith("Z")
    assert "echo handler ran" in invocation.logs


def test_non_matching_events_are_not_delivered(cloud: LocalCloud) -> None:
    arn = deploy_function(cloud, "echo", HANDLERS / "echo")
    add_rule(
        cloud,
        "running",
        {"source": ["aws.ec2"], "detail": {"state": ["running"]}},
        [{"Id": "fn", "Arn": arn}],
    )
    cloud.put_event(load_event("aws.ec2/instance-stopped"))
    cloud.settle()
    assert cloud.lambdas.invocations == []


def test_input_path_and_transformer_shape_the_target_input(cloud: LocalCloud) -> None:
    arn = deploy_function(cloud, "echo", HANDLERS / "echo")
    add_rule(
        cloud,
        "shaped",
        {"source": ["aws.ec2"]},
        [
            {"Id": "path", "Arn": arn, "InputPath": "$.detail"},
            {
                "Id": "transformer",
                "Arn": arn,
                "InputTransformer": {
                    "InputPathsMap": {"instance": "$.detail.instance-id"},
                    "InputTemplate": '{"instance": <instance>, "kind": "launch"}',
                },
            },
        ],
    )
    fixture = load_event("aws.ec2/instance-running")
    cloud.put_event(fixture)
    cloud.settle()
    events = sorted((i.result["event"] for i in cloud.lambdas.invocations), key=json.dumps)
    assert {"instance": fixture["detail"]["instance-id"], "kind": "launch"} in events
    assert fixture["detail"] in events


def test_event_starts_a_state_machine_target(cloud: LocalCloud) -> None:
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Take",
            "States": {
                "Take": {"Type": "Pass", "Output": "{% $states.input.detail %}", "End": True}
            },
        },
    )
    add_rule(
        cloud,
        "to-sfn",
        {"source": ["aws.ec2"]},
        [{"Id": "sm", "Arn": machine, "RoleArn": role_arn(cloud)}],
    )
    cloud.put_event(load_event("aws.ec2/instance-running"))
    cloud.put_event(load_event("aws.ec2/instance-running"))  # at-least-once: duplicates start again
    cloud.settle()
    sfn = cloud.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    assert len(executions) == 2
    output = json.loads(
        sfn.describe_execution(executionArn=executions[0]["executionArn"])["output"]
    )
    assert output["state"] == "running"


def test_a_failing_async_invocation_is_retried_then_dead_lettered(
    cloud: LocalCloud, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    # Given a function that always fails, with Lambda's default two retries and a DLQ
    monkeypatch.setattr(
        "tests.unit.localcloud.handlers.failing.app.CALLS", {"count": 0}, raising=False
    )
    sqs = cloud.client("sqs")
    dlq_url = sqs.create_queue(QueueName="fn-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    arn = deploy_function(
        cloud,
        "broken",
        HANDLERS / "failing",
        environment={"FAIL_TIMES": "99"},
        dead_letter_arn=dlq_arn,
    )
    add_rule(cloud, "to-broken", {"source": ["aws.ec2"]}, [{"Id": "fn", "Arn": arn}])
    start = cloud.clock.now()
    # When an event arrives
    cloud.put_event(load_event("aws.ec2/instance-running"))
    cloud.settle()
    # Then Lambda tried three times, a minute then two minutes apart, and kept the event
    assert [i.attempt for i in cloud.lambdas.invocations] == [1, 2, 3]
    assert cloud.clock.now() - start == timedelta(minutes=3)
    [message] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["detail"]["state"] == "running"
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"].startswith(
        "PatchLockBusyError"
    )
    # And each attempt's logs end with the error's stack trace, as Lambda logs it
    logs = cloud.lambdas.invocations[0].logs
    assert "Traceback (most recent call last)" in logs
    assert 'raise PatchLockBusyError(f"attempt {CALLS' in logs
    assert logs.rstrip().endswith("PatchLockBusyError: attempt 1 failed")


def rule_to_a_missing_function(cloud: LocalCloud, *, eventbridge_may_write: bool) -> str:
    """A rule whose target is gone, with a dead-letter queue; the queue's URL.

    EventBridge writes to the queue as itself: only a queue policy lets it.
    """
    sqs = cloud.client("sqs")
    dlq_url = sqs.create_queue(QueueName="rule-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    if eventbridge_may_write:
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": dlq_arn,
                    "Condition": {"StringEquals": {"aws:SourceAccount": cloud.account_id}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"Policy": json.dumps(policy)})
    add_rule(
        cloud,
        "dangling",
        {"source": ["aws.ec2"]},
        [
            {
                "Id": "gone",
                "Arn": cloud.lambdas.arn("deleted-function"),
                "DeadLetterConfig": {"Arn": dlq_arn},
            }
        ],
    )
    return str(dlq_url)


def test_a_rule_dlq_without_a_policy_for_eventbridge_gets_nothing(cloud: LocalCloud) -> None:
    # Given a rule whose dead-letter queue does not let EventBridge write
    cloud.iam.denials_expected = True
    dlq_url = rule_to_a_missing_function(cloud, eventbridge_may_write=False)
    # When its delivery fails
    cloud.put_event(load_event("aws.ec2/instance-running"))
    cloud.settle()
    # Then the event is dropped, as EventBridge drops it, and the refusal is on record
    assert "Messages" not in cloud.client("sqs").receive_message(QueueUrl=dlq_url)
    assert any(
        d.action == "sqs:SendMessage" and d.principal == "events.amazonaws.com"
        for d in cloud.iam.denials()
    )


def test_delivery_to_a_missing_target_goes_to_the_rule_dlq(cloud: LocalCloud) -> None:
    dlq_url = rule_to_a_missing_function(cloud, eventbridge_may_write=True)
    cloud.put_event(load_event("aws.ec2/instance-running"))
    cloud.settle()
    sqs = cloud.client("sqs")
    [message] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "RESOURCE_NOT_FOUND"
    assert [d.delivered for d in cloud.delivery.deliveries] == [False]


def test_direct_invoke_returns_lambdas_error_shape(cloud: LocalCloud) -> None:
    deploy_function(cloud, "always-fails", HANDLERS / "failing", environment={"FAIL_TIMES": "1000"})
    response = cloud.client("lambda").invoke(FunctionName="always-fails", Payload=b"{}")
    assert response["FunctionError"] == "Handled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "PatchLockBusyError"
    assert "failed" in payload["errorMessage"]

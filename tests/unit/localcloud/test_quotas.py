"""AWS's quotas on the local cloud: a breach fails as AWS fails it, the limit itself passes.

One test per row of localcloud.adapters.quota_table.QUOTAS (docs/limits.md), through boto3 on
a running LocalCloud.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.adapters import quota_table, quotas
from localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import create_state_machine, deploy_function, run_to_end

HANDLERS = Path(__file__).parent / "handlers"
KIB = 1024


@pytest.fixture(scope="module")
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        yield running


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response: Any = exc.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


# --- Step Functions ---------------------------------------------------------------------------


def pass_returning(size: int) -> dict[str, Any]:
    """A machine whose one state outputs a JSON string of ``size`` bytes (quotes included)."""
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "Big",
        "States": {
            "Big": {"Type": "Pass", "Output": f"{{% $pad('', {size - 2}, 'x') %}}", "End": True}
        },
    }


def test_a_state_output_of_256_kib_passes_and_one_byte_more_fails_with_data_limit_exceeded(
    cloud: LocalCloud,
) -> None:
    # Given machines whose state outputs exactly 256 KiB and one byte more
    at_limit = create_state_machine(cloud, pass_returning(256 * KIB), name="payload-at-limit")
    over = create_state_machine(cloud, pass_returning(256 * KIB + 1), name="payload-over")

    # When both run
    passed = run_to_end(cloud, at_limit, {})
    failed = run_to_end(cloud, over, {})

    # Then the first succeeds (moto refuses exactly 256 KiB) and the second fails the
    # execution as Step Functions does
    assert passed["status"] == "SUCCEEDED"
    assert failed["status"] == "FAILED"
    assert failed["error"] == "States.DataLimitExceeded"


def catching_big_result(function_arn: str, error_equals: list[str]) -> dict[str, Any]:
    return {
        "StartAt": "Big",
        "States": {
            "Big": {
                "Type": "Task",
                "Resource": function_arn,
                "Catch": [{"ErrorEquals": error_equals, "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }


def test_a_task_result_over_256_kib_is_not_caught_by_states_all(
    cloud: LocalCloud, padded: str
) -> None:
    # Given a task whose Lambda returns 256 KiB + 1, caught by States.ALL, or by name
    function_arn = cloud.lambdas.arn(padded)
    by_all = create_state_machine(
        cloud, catching_big_result(function_arn, ["States.ALL"]), name="catch-all"
    )
    by_name = create_state_machine(
        cloud,
        catching_big_result(function_arn, ["States.DataLimitExceeded"]),
        name="catch-by-name",
    )

    # When both run
    uncaught = run_to_end(cloud, by_all, {"size": 256 * KIB + 1})
    caught = run_to_end(cloud, by_name, {"size": 256 * KIB + 1})

    # Then States.ALL lets the terminal error fail the execution; naming it catches it
    assert uncaught["status"] == "FAILED"
    assert uncaught["error"] == "States.DataLimitExceeded"
    assert caught["status"] == "SUCCEEDED"


def test_an_execution_input_over_256_kib_is_refused_by_start_execution(cloud: LocalCloud) -> None:
    # Given a machine and an input of exactly 256 KiB ({"a": "xx..."} is 9 bytes plus the x's)
    machine = create_state_machine(cloud, pass_returning(4), name="input-size")
    sfn = cloud.client("stepfunctions")
    at_limit = json.dumps({"a": "x" * (256 * KIB - 9)})
    assert len(at_limit) == 256 * KIB

    # When it starts with that input, and with one byte more
    sfn.start_execution(stateMachineArn=machine, input=at_limit)
    with pytest.raises(ClientError) as refused:
        sfn.start_execution(stateMachineArn=machine, input=at_limit.replace('"}', 'x"}'))

    # Then only the larger one is refused, with a validation error
    code, status, message = error_of(refused)
    assert (code, status) == ("ValidationException", 400)
    assert "'input'" in message
    assert "262144" in message


def counting_loop() -> dict[str, Any]:
    # ExecutionStarted, 4 events per round, SucceedStateEntered/Exited, ExecutionSucceeded:
    # 4 x rounds + 4 events in all.
    return {
        "StartAt": "Loop",
        "States": {
            "Loop": {
                "Type": "Pass",
                "Parameters": {"n.$": "States.MathAdd($.n, 1)", "rounds.$": "$.rounds"},
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThanPath": "$.rounds", "Next": "Loop"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }


def test_an_execution_whose_history_reaches_the_limit_fails_with_states_runtime(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the history quota, lowered to 44 events: 25,000 events take half a minute to
    # interpret under moto, and the mechanism is the same
    assert quota_table.limit("sfn_history") == 25_000
    lowered = quota_table.QUOTAS["sfn_history"].__class__(
        **{**quota_table.QUOTAS["sfn_history"].__dict__, "value": 44}
    )
    monkeypatch.setitem(quota_table.QUOTAS, "sfn_history", lowered)
    machine = create_state_machine(cloud, counting_loop(), name="history")
    sfn = cloud.client("stepfunctions")

    # When one execution needs exactly 44 events and another one round more
    at_limit = run_to_end(cloud, machine, {"n": 0, "rounds": 10})
    over = run_to_end(cloud, machine, {"n": 0, "rounds": 11})

    # Then the first succeeds, and the second fails with event 44 being ExecutionFailed
    assert at_limit["status"] == "SUCCEEDED"
    assert over["status"] == "FAILED"
    assert over["error"] == "States.Runtime"
    assert over["cause"] == "The execution reached the maximum number of history events (44)."
    events = sfn.get_execution_history(executionArn=over["executionArn"])["events"]
    assert len(events) == 44
    assert (events[-1]["id"], events[-1]["type"]) == (44, "ExecutionFailed")


def test_an_execution_name_over_80_characters_or_with_a_space_is_refused(cloud: LocalCloud) -> None:
    # Given a machine
    machine = create_state_machine(cloud, pass_returning(4), name="names")
    sfn = cloud.client("stepfunctions")

    # When executions are named with 80 characters, 81, and with a space
    sfn.start_execution(stateMachineArn=machine, name="n" * 80)
    with pytest.raises(ClientError) as too_long:
        sfn.start_execution(stateMachineArn=machine, name="n" * 81)
    with pytest.raises(ClientError) as invalid:
        sfn.start_execution(stateMachineArn=machine, name="wave 1")

    # Then 80 passes; 81 is a validation error and the space an InvalidName
    assert error_of(too_long)[:2] == ("ValidationException", 400)
    assert "less than or equal to 80" in error_of(too_long)[2]
    assert error_of(invalid)[:2] == ("InvalidName", 400)


def waiting_map(max_concurrency: int) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Wait",
                    "States": {"Wait": {"Type": "Wait", "Seconds": 10, "End": True}},
                },
                "End": True,
            }
        },
    }


@pytest.mark.parametrize("max_concurrency", [0, 100])
def test_an_inline_map_runs_at_most_40_iterations_at_once(
    cloud: LocalCloud, max_concurrency: int
) -> None:
    # Given an inline Map whose iterations each wait 10 simulated seconds, unbounded or
    # bounded above the quota
    machine = create_state_machine(
        cloud, waiting_map(max_concurrency), name=f"map-{max_concurrency}"
    )

    # When it maps 40 items, then 41
    forty = run_to_end(cloud, machine, {"items": list(range(40))})
    forty_one = run_to_end(cloud, machine, {"items": list(range(41))})

    # Then 40 run at once (10 s); the 41st waits for a free slot (20 s)
    assert (forty["stopDate"] - forty["startDate"]).total_seconds() == 10
    assert (forty_one["stopDate"] - forty_one["startDate"]).total_seconds() == 20


# --- Lambda -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def padded(cloud: LocalCloud) -> str:
    deploy_function(cloud, "padded", HANDLERS / "padded")
    return "padded"


def request_of(size: int) -> bytes:
    """An Invoke payload of ``size`` bytes: {"size": 2, "pad": "x..."}."""
    head = b'{"size": 2, "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.mark.parametrize(
    ("invocation_type", "quota"),
    [("Event", "lambda_async_payload"), ("RequestResponse", "lambda_sync_payload")],
)
def test_an_invoke_payload_over_the_quota_is_refused_with_413(
    cloud: LocalCloud, padded: str, invocation_type: str, quota: str
) -> None:
    # Given a function and payloads of exactly the quota (1 MiB asynchronous, 6 MiB
    # synchronous) and one byte more
    lam = cloud.client("lambda")
    at_limit = request_of(quota_table.limit(quota))

    # When each is invoked
    lam.invoke(FunctionName=padded, InvocationType=invocation_type, Payload=at_limit)
    with pytest.raises(ClientError) as refused:
        lam.invoke(
            FunctionName=padded,
            InvocationType=invocation_type,
            Payload=request_of(quota_table.limit(quota) + 1),
        )

    # Then only the larger one is refused, as Lambda does
    assert error_of(refused)[:2] == ("RequestEntityTooLargeException", 413)


def test_a_response_over_6_mb_fails_the_invocation(cloud: LocalCloud, padded: str) -> None:
    # Given a function asked for responses of exactly the quota and one byte more
    lam = cloud.client("lambda")
    limit = quota_table.limit("lambda_response")

    # When it is invoked for each
    fits = lam.invoke(FunctionName=padded, Payload=json.dumps({"size": limit}))
    too_big = lam.invoke(FunctionName=padded, Payload=json.dumps({"size": limit + 1}))

    # Then the first returns its result and the second is a function error
    assert "FunctionError" not in fits, fits["Payload"].read()[:300]
    assert len(fits["Payload"].read()) == limit
    # (AWS labels it Unhandled; moto labels every function error Handled)
    assert "FunctionError" in too_big
    assert json.loads(too_big["Payload"].read())["errorType"] == "Function.ResponseSizeTooLarge"


# --- EventBridge, SNS, SQS --------------------------------------------------------------------


def test_put_events_at_1_mib_of_entries_is_refused(cloud: LocalCloud) -> None:
    # Given one entry just under 1 MiB by EventBridge's measure, and one at 1 MiB:
    # Source (1) + DetailType (1) + Detail ({"a":"..."} = 8 + k bytes)
    events = cloud.client("events")

    def entry(size: int) -> dict[str, Any]:
        detail = '{"a":"' + "x" * (size - 10) + '"}'
        return {"Source": "s", "DetailType": "d", "Detail": detail}

    assert quotas.put_events_entry_size(entry(1024 * KIB - 1)) == 1024 * KIB - 1

    # When each is put
    accepted = events.put_events(Entries=[entry(1024 * KIB - 1)])
    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[entry(1024 * KIB)])

    # Then the request at the limit is refused as a whole
    assert accepted["FailedEntryCount"] == 0
    assert error_of(refused) == (
        "ValidationException",
        400,
        "Total size of the entries in the request is over the limit.",
    )


def test_an_sns_message_over_256_kib_of_utf8_is_refused(cloud: LocalCloud) -> None:
    # Given a topic and a message of 256 KiB in two-byte characters (moto counted characters)
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="quota-topic")["TopicArn"]
    at_limit = "é" * (128 * KIB)

    # When it is published as is and with one more byte
    sns.publish(TopicArn=topic, Message=at_limit)
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, Message=at_limit + "a")

    # Then only the larger one is refused
    assert error_of(refused) == ("InvalidParameter", 400, "Invalid parameter: Message too long")


def test_an_sns_subject_over_100_characters_is_refused(cloud: LocalCloud) -> None:
    # Given a topic
    sns = cloud.client("sns")
    topic = sns.create_topic(Name="quota-subject")["TopicArn"]

    # When messages are published with a 100- and a 101-character subject
    sns.publish(TopicArn=topic, Message="m", Subject="s" * 100)
    with pytest.raises(ClientError) as refused:
        sns.publish(TopicArn=topic, Message="m", Subject="s" * 101)

    # Then the longer subject is an invalid parameter
    assert error_of(refused)[:2] == ("InvalidParameter", 400)


def test_an_sqs_message_over_the_queue_maximum_in_bytes_is_refused(cloud: LocalCloud) -> None:
    # Given a queue (default maximum 1 MiB) and a body of 1 MiB in two-byte characters
    sqs = cloud.client("sqs")
    queue = sqs.create_queue(QueueName="quota-queue")["QueueUrl"]
    at_limit = "é" * (512 * KIB)

    # When it is sent as is, and with one message attribute more
    sqs.send_message(QueueUrl=queue, MessageBody=at_limit)
    with pytest.raises(ClientError) as refused:
        sqs.send_message(
            QueueUrl=queue,
            MessageBody=at_limit,
            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}},
        )

    # Then the attribute's bytes count, and the message is refused as SQS refuses it
    assert error_of(refused) == (
        "InvalidParameterValue",
        400,
        "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.",
    )


# --- DynamoDB, SSM, Scheduler, S3 -------------------------------------------------------------


def test_a_dynamodb_item_over_400_kb_is_refused(cloud: LocalCloud) -> None:
    # Given a table, and an item of exactly 400 KB: names "pk" (2) + "k" (1) + "v" (1)
    ddb = cloud.client("dynamodb")
    ddb.create_table(
        TableName="quota-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def item(size: int) -> dict[str, Any]:
        return {"pk": {"S": "k"}, "v": {"S": "a" * (size - 4)}}

    # When it is put (moto refused above 405,000 bytes), and one byte more
    ddb.put_item(TableName="quota-table", Item=item(400 * KIB))
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName="quota-table", Item=item(400 * KIB + 1))

    # Then the larger one is refused as DynamoDB refuses it
    assert error_of(refused) == (
        "ValidationException",
        400,
        "Item size has exceeded the maximum allowed size",
    )


@pytest.mark.parametrize(
    ("tier", "size", "refused_with"),
    [
        ("Standard", 4096, None),
        ("Standard", 4097, "Standard tier parameters support a maximum parameter value of 4096"),
        ("Intelligent-Tiering", 8192, None),
        ("Advanced", 8192, None),
        ("Advanced", 8193, "Member must have length less than or equal to 8192"),
    ],
)
def test_an_ssm_parameter_value_over_its_tier_limit_is_refused(
    cloud: LocalCloud, tier: str, size: int, refused_with: str | None
) -> None:
    # Given a parameter value of the given size
    ssm = cloud.client("ssm")
    name = f"/quota/{tier}/{size}"

    # When it is put in the given tier
    if refused_with is None:
        ssm.put_parameter(Name=name, Value="v" * size, Type="String", Tier=tier)
        # Then it is stored
        assert len(ssm.get_parameter(Name=name)["Parameter"]["Value"]) == size
        return
    with pytest.raises(ClientError) as refused:
        ssm.put_parameter(Name=name, Value="v" * size, Type="String", Tier=tier)

    # Then it is refused as Parameter Store refuses it
    code, status, message = error_of(refused)
    assert (code, status) == ("ValidationException", 400)
    assert refused_with in message


def test_send_command_with_51_instance_ids_or_a_101_character_comment_is_refused(
    cloud: LocalCloud,
) -> None:
    # Given 50 managed instances and a comment of 100 characters (AWS-RunShellScript runs on
    # the simulated fleet, which refuses ids that are not managed instances)
    ssm = cloud.client("ssm")
    assert cloud.fleet is not None
    ids = cloud.fleet.launch("AMAZON_LINUX_2", count=50)
    cloud.settle()
    command = {"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["true"]}}

    # When commands are sent at those limits and just over them
    ssm.send_command(InstanceIds=ids, Comment="c" * 100, **command)
    with pytest.raises(ClientError) as too_many:
        ssm.send_command(InstanceIds=[*ids, "i-00000000000000099"], **command)
    with pytest.raises(ClientError) as too_long:
        ssm.send_command(InstanceIds=ids[:1], Comment="c" * 101, **command)

    # Then both breaches are validation errors naming the member
    assert error_of(too_many)[:2] == ("ValidationException", 400)
    assert "at 'instanceIds'" in error_of(too_many)[2]
    assert "less than or equal to 50" in error_of(too_many)[2]
    assert error_of(too_long)[:2] == ("ValidationException", 400)
    assert "at 'comment'" in error_of(too_long)[2]


def test_a_schedule_name_over_64_characters_is_refused(cloud: LocalCloud) -> None:
    # Given a schedule definition
    scheduler = cloud.client("scheduler")
    schedule = {
        "ScheduleExpression": "rate(1 hour)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {
            "Arn": "arn:aws:lambda:eu-central-1:123456789012:function:nowhere",
            "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
        },
    }

    # When schedules are created with 64- and 65-character names
    scheduler.create_schedule(Name="n" * 64, **schedule)
    with pytest.raises(ClientError) as refused:
        scheduler.create_schedule(Name="n" * 65, **schedule)

    # Then the longer name is a validation error
    assert error_of(refused)[:2] == ("ValidationException", 400)
    assert "less than or equal to 64" in error_of(refused)[2]


def test_an_s3_key_over_1024_bytes_is_refused(cloud: LocalCloud) -> None:
    # Given a bucket and a key of 1,024 bytes in two-byte characters
    s3 = cloud.client("s3")
    s3.create_bucket(
        Bucket="quota-bucket", CreateBucketConfiguration={"LocationConstraint": cloud.region}
    )
    at_limit = "é" * 512

    # When objects are written under it and under a key one byte longer
    s3.put_object(Bucket="quota-bucket", Key=at_limit, Body=b"x")
    longer = at_limit + "a"
    source = {"Bucket": "quota-bucket", "Key": at_limit}
    refused = []
    for operation, arguments in (
        ("put_object", {"Key": longer, "Body": b"x"}),
        ("copy_object", {"Key": longer, "CopySource": source}),
        ("create_multipart_upload", {"Key": longer}),
    ):
        with pytest.raises(ClientError) as error:
            getattr(s3, operation)(Bucket="quota-bucket", **arguments)
        refused.append(error_of(error))

    # Then every write is refused as S3 refuses it
    assert refused == [("KeyTooLongError", 400, "Your key is too long")] * 3

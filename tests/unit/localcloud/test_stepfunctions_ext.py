"""Step Functions on the local cloud: JSONata, simulated waits, names, SDK results and errors."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path

from localcloud.adapters.stepfunctions import _encode_bindings, _split_bindings, evaluate_jsonata
from localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import (
    create_state_machine,
    deploy_function,
    history_types,
    run_to_end,
)

HANDLERS = Path(__file__).parent / "handlers"


def test_jsonata_step_functions_functions() -> None:
    result = evaluate_jsonata(
        '($s := "quote \\" and \\n newline"; {"p": $partition([1,2,3,4,5], 2), "r": $range(0, 10, 5),'
        ' "h": $hash("abc", "SHA-256"), "parsed": $parse("{\\"a\\": 1}"), "s": $s, "n": 2 * 3})'
    )
    assert result == {
        "p": [[1, 2], [3, 4], [5]],
        "r": [0, 5, 10],
        "h": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "parsed": {"a": 1},
        "s": 'quote " and \n newline',
        "n": 6,
    }
    assert len(evaluate_jsonata("$uuid()")) == 36


def test_encoded_bindings_mean_what_the_same_values_written_as_jsonata_mean() -> None:
    # Given values as moto binds them ($states, variables): nulls, nested nulls, a string with a
    # quote and a newline, numbers, lists, and an empty object
    values = {
        "$status": None,
        "$states": {"input": {"a": None, "s": 'q"\n', "n": 3, "f": 1.5, "l": [1, None]}},
        "$empty": {},
    }
    body = (
        '{"nullIsNull": $status = null, "exists": $exists($status), '
        '"nested": $states.input.a = null, "s": $states.input.s, "sum": $states.input.n + 1, '
        '"f": $states.input.f * 2, "l": $states.input.l, "count": $count($keys($empty))}'
    )
    # When the expression is evaluated with the encoded bindings (parsed as JSON) and with the
    # same values written out as JSONata literals (parsed as JSONata)
    encoded = evaluate_jsonata(f"({_encode_bindings(values)}{body})")
    literal = evaluate_jsonata(
        "(" + "".join(f"{k}:={json.dumps(v)};" for k, v in values.items()) + body + ")"
    )
    # Then both agree, and null stays a value (not undefined)
    assert encoded == literal
    assert encoded == {
        "nullIsNull": True,
        "exists": True,
        "nested": True,
        "s": 'q"\n',
        "sum": 4,
        "f": 3,
        "l": [1, None],
        "count": 0,
    }


def test_only_the_bindings_an_expression_mentions_are_decoded() -> None:
    # Given bindings as moto composes them: every variable of the execution, used or not
    values = {"$used": {"a": 1}, "$unused": {"big": list(range(50))}, "$usedToo": "x"}
    body = '{"a": $used.a, "s": $usedToo & "$unused is text in a string"}'
    # When the expression is split
    split, bindings = _split_bindings(f"({_encode_bindings(values)}{body})")
    # Then the body is the expression alone, and only what it names is bound (a mention
    # inside a string literal counts too: kept, harmlessly)
    assert split == f"({body})"
    assert set(bindings) == {"used", "usedToo", "unused"}
    split, bindings = _split_bindings(f"({_encode_bindings(values)}$used.a)")
    assert set(bindings) == {"used"}
    # and the evaluation is the same as with every binding
    assert evaluate_jsonata(f"({_encode_bindings(values)}{body})") == {
        "a": 1,
        "s": "x$unused is text in a string",
    }


def test_a_two_hour_wait_plays_in_simulated_time(cloud: LocalCloud) -> None:
    # Given a JSONata machine that waits two hours then computes its output
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Wait",
            "States": {
                "Wait": {"Type": "Wait", "Seconds": 7200, "Next": "Compute"},
                "Compute": {
                    "Type": "Pass",
                    "Output": "{% {'doubled': $states.input.n * 2} %}",
                    "End": True,
                },
            },
        },
    )
    start = cloud.clock.now()
    # When it runs
    execution = run_to_end(cloud, machine, {"n": 21})
    # Then it succeeded two simulated hours later
    assert execution["status"] == "SUCCEEDED"
    assert json.loads(execution["output"]) == {"doubled": 42}
    assert cloud.clock.now() - start == timedelta(hours=2)


def test_hash_and_uuid_work_inside_an_execution(cloud: LocalCloud) -> None:
    # moto declares both as stubs returning "Function ... is currently not supported".
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Compute",
            "States": {
                "Compute": {
                    "Type": "Pass",
                    "Output": "{% {'hash': $hash($states.input.v, 'SHA-256'), 'uuid': $uuid()} %}",
                    "End": True,
                }
            },
        },
    )
    output = json.loads(run_to_end(cloud, machine, {"v": "fleetpatch"})["output"])
    assert output["hash"] == hashlib.sha256(b"fleetpatch").hexdigest()
    assert uuid.UUID(output["uuid"]).version == 4


def test_executions_without_a_name_get_unique_names(cloud: LocalCloud) -> None:
    machine = create_state_machine(
        cloud, {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    )
    sfn = cloud.client("stepfunctions")
    first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second
    assert not first.endswith(":None")


def test_lambda_errors_match_retry_by_name_with_simulated_backoff(cloud: LocalCloud) -> None:
    # Given a handler that fails twice with a named error, and a Retry on that name
    deploy_function(cloud, "flaky", HANDLERS / "failing", environment={"FAIL_TIMES": "2"})
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "flaky", "Payload": {}},
                    "Retry": [
                        {
                            "ErrorEquals": ["PatchLockBusyError"],
                            "IntervalSeconds": 30,
                            "BackoffRate": 2,
                            "MaxAttempts": 3,
                        }
                    ],
                    "Output": "{% $states.result.Payload %}",
                    "End": True,
                }
            },
        },
    )
    start = cloud.clock.now()
    # When it runs
    execution = run_to_end(cloud, machine, {})
    # Then the retries matched the error name and waited 30 s + 60 s of simulated time
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"attempts": 3, "function": "flaky"}
    assert cloud.clock.now() - start == timedelta(seconds=90)


def test_an_uncaught_lambda_error_carries_its_name(cloud: LocalCloud) -> None:
    deploy_function(cloud, "always-fails", HANDLERS / "failing", environment={"FAIL_TIMES": "1000"})
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Call",
            "States": {
                "Call": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Arguments": {"FunctionName": "always-fails", "Payload": {}},
                    "End": True,
                }
            },
        },
    )
    execution = run_to_end(cloud, machine, {})
    assert execution["status"] == "FAILED"
    assert execution["error"] == "PatchLockBusyError"


def test_sdk_errors_are_named_like_aws_and_results_are_json(cloud: LocalCloud) -> None:
    # Given a parameter that exists and one that does not
    cloud.client("ssm").put_parameter(Name="/fleetpatch/present", Value="v", Type="String")
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Present",
            "States": {
                "Present": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
                    "Arguments": {"Name": "/fleetpatch/present"},
                    "Assign": {"modified": "{% $states.result.Parameter.LastModifiedDate %}"},
                    "Next": "Missing",
                },
                "Missing": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::aws-sdk:ssm:getParameter",
                    "Arguments": {"Name": "/fleetpatch/absent"},
                    "Catch": [
                        {
                            "ErrorEquals": ["Ssm.ParameterNotFoundException"],
                            "Output": "{% {'caught': $states.errorOutput.Error, 'modified': $modified} %}",
                            "Next": "Done",
                        }
                    ],
                    "Next": "Done",
                },
                "Done": {"Type": "Succeed"},
            },
        },
    )
    # When it runs
    execution = run_to_end(cloud, machine, {})
    # Then the SDK error matched AWS's name and the datetime came back as an ISO string
    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    assert output["caught"] == "Ssm.ParameterNotFoundException"
    assert output["modified"].endswith("Z")
    assert "T" in output["modified"]


def test_task_token_timeout_is_simulated(cloud: LocalCloud) -> None:
    queue = cloud.client("sqs").create_queue(QueueName="tokens")["QueueUrl"]
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Await",
            "States": {
                "Await": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                    "Arguments": {
                        "QueueUrl": queue,
                        "MessageBody": "{% $states.context.Task.Token %}",
                    },
                    "TimeoutSeconds": 900,
                    "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
                    "End": True,
                },
                "TimedOut": {"Type": "Pass", "Output": {"fallback": True}, "End": True},
            },
        },
    )
    start = cloud.clock.now()
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    cloud.settle()
    described = sfn.describe_execution(executionArn=execution)
    assert json.loads(described["output"]) == {"fallback": True}
    assert cloud.clock.now() - start == timedelta(seconds=900)
    assert "TaskTimedOut" in history_types(cloud, execution)


def test_a_stopped_execution_is_aborted_at_once_and_stays_so(cloud: LocalCloud) -> None:
    # Given an execution parked in a Map on a task token (as a wave waits for its commands)
    queue = cloud.client("sqs").create_queue(QueueName="stop-tokens")["QueueUrl"]
    machine = create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "Items": "{% [1, 2] %}",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "INLINE"},
                        "StartAt": "Await",
                        "States": {
                            "Await": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                "Arguments": {
                                    "QueueUrl": queue,
                                    "MessageBody": "{% $states.context.Task.Token %}",
                                },
                                "TimeoutSeconds": 900,
                                "End": True,
                            }
                        },
                    },
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            },
        },
    )
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    cloud.advance(60)
    # When it is stopped
    sfn.stop_execution(executionArn=execution)
    # Then it is ABORTED when the call returns (AWS), and stays so when its waits end:
    # neither failed by the Map's aborted iterations nor caught into another state
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    cloud.settle()
    assert sfn.describe_execution(executionArn=execution)["status"] == "ABORTED"
    history = history_types(cloud, execution)
    assert "ExecutionAborted" in history
    assert "ExecutionFailed" not in history
    assert "PassStateEntered" not in history

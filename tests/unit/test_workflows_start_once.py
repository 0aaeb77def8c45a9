"""Starting a run once: a second start of the same name is a duplicate, never an error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch.workflows import start_once

REGION = "eu-central-1"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def workflow() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="sfn", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        arn = sfn.create_state_machine(name="wf", definition=PASS, roleArn=role)["stateMachineArn"]
        yield sfn, arn


def test_the_first_start_starts_the_run(workflow: tuple[Any, str]) -> None:
    sfn, arn = workflow
    started = start_once(sfn, arn, "launch-token-1", {"instanceId": "i-0a1b2c3d4e5f60718"})
    assert not started.duplicate
    assert started.execution_arn is not None
    assert started.execution_arn.endswith(":launch-token-1")
    [execution] = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"]) == {
        "instanceId": "i-0a1b2c3d4e5f60718"
    }


def test_a_second_start_of_the_name_is_a_duplicate(workflow: tuple[Any, str]) -> None:
    sfn, arn = workflow
    start_once(sfn, arn, "wave-1", {"wave": "test"})
    # Step Functions refuses the name with ExecutionAlreadyExists (here: another input,
    # as when the policy changed between the window's task and its event)
    again = start_once(sfn, arn, "wave-1", {"wave": "test", "changed": True})
    assert again.duplicate
    assert again.name == "wave-1"
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1


def test_other_errors_are_not_swallowed(workflow: tuple[Any, str]) -> None:
    sfn, arn = workflow
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        start_once(sfn, arn.replace(":wf", ":gone"), "wave-2", {})

"""GetExecutionHistory pages, orders and trims events as Step Functions does."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import create_state_machine

STEPS = 60  # a Pass state adds two events: 2 + 2 * 60 = 122 events in all


@pytest.fixture
def long_run(cloud: LocalCloud) -> str:
    states: dict[str, object] = {}
    for i in range(STEPS):
        states[f"Step{i}"] = {"Type": "Pass", "Next": f"Step{i + 1}"}
    states[f"Step{STEPS}"] = {"Type": "Succeed"}
    machine = create_state_machine(
        cloud, {"QueryLanguage": "JSONata", "StartAt": "Step0", "States": states}
    )
    sfn = cloud.client("stepfunctions")
    arn = str(sfn.start_execution(stateMachineArn=machine, input='{"secret": 1}')["executionArn"])
    cloud.settle()
    return arn


def test_a_page_holds_100_events_unless_asked_otherwise(cloud: LocalCloud, long_run: str) -> None:
    sfn = cloud.client("stepfunctions")
    first = sfn.get_execution_history(executionArn=long_run)
    assert len(first["events"]) == 100
    assert first["nextToken"]
    rest = sfn.get_execution_history(executionArn=long_run, nextToken=first["nextToken"])
    assert "nextToken" not in rest
    ids = [e["id"] for e in first["events"] + rest["events"]]
    assert ids == sorted(ids)
    assert len(ids) == len(set(ids)) > 100
    paged = [
        e["id"]
        for p in sfn.get_paginator("get_execution_history").paginate(executionArn=long_run)
        for e in p["events"]
    ]
    assert paged == ids


def test_reverse_order_gives_the_newest_first(cloud: LocalCloud, long_run: str) -> None:
    sfn = cloud.client("stepfunctions")
    page = sfn.get_execution_history(executionArn=long_run, reverseOrder=True, maxResults=5)
    assert page["events"][0]["type"] == "ExecutionSucceeded"
    ids = [e["id"] for e in page["events"]]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 5
    more = sfn.get_execution_history(
        executionArn=long_run, reverseOrder=True, maxResults=5, nextToken=page["nextToken"]
    )
    assert more["events"][0]["id"] == ids[-1] - 1


def test_without_execution_data_events_carry_no_input_or_output(
    cloud: LocalCloud, long_run: str
) -> None:
    sfn = cloud.client("stepfunctions")
    page = sfn.get_execution_history(
        executionArn=long_run, maxResults=1, includeExecutionData=False
    )
    started = page["events"][0]
    assert started["type"] == "ExecutionStarted"
    assert "input" not in started["executionStartedEventDetails"]
    with_data = sfn.get_execution_history(executionArn=long_run, maxResults=1)["events"][0]
    assert with_data["executionStartedEventDetails"]["input"] == '{"secret": 1}'


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"maxResults": 1001}, "ValidationException"),
        ({"nextToken": "not-a-token"}, "InvalidToken"),
    ],
)
def test_out_of_range_or_foreign_arguments_are_refused(
    cloud: LocalCloud, long_run: str, arguments: dict[str, object], code: str
) -> None:
    sfn = cloud.client("stepfunctions")
    with pytest.raises(ClientError) as raised:
        sfn.get_execution_history(executionArn=long_run, **arguments)
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_token_of_the_other_order_is_refused(cloud: LocalCloud, long_run: str) -> None:
    sfn = cloud.client("stepfunctions")
    token = sfn.get_execution_history(executionArn=long_run, maxResults=5)["nextToken"]
    with pytest.raises(ClientError) as raised:
        sfn.get_execution_history(executionArn=long_run, reverseOrder=True, nextToken=token)
    assert raised.value.response["Error"]["Code"] == "InvalidToken"

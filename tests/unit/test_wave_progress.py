"""``fleetpatch wave status RUN`` of a running run: batch k of n, the bake's end, the commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch.contracts import keys
from fleetpatch.contracts.names import state_table_name
from fleetpatch_cli.wave_cmd import ControlPlane, status_data, status_lines
from tests.unit.conftest import create_state_table

RUN = "manual-prod-20261205T050000Z"
REGION = "eu-central-1"
ENTERED = datetime(2026, 12, 5, 6, 10, tzinfo=UTC)
EXECUTION = {
    "executionArn": f"arn:aws:states:{REGION}:123456789012:execution:gw:{RUN}",
    "status": "RUNNING",
    "startDate": datetime(2026, 12, 5, 5, tzinfo=UTC),
    "input": json.dumps(
        {
            "wave": "prod",
            "batches": [
                {"name": "linux-databases"},
                {"name": "windows-apps", "gate": {"bakeMinutes": 30}},
            ],
        }
    ),
}
COMMANDS = {
    "c-1": {"Status": "Success", "TargetCount": 50, "CompletedCount": 50, "ErrorCount": 1},
    "c-2": {"Status": "InProgress", "TargetCount": 10, "CompletedCount": 4, "ErrorCount": 0},
}


class StepFunctions:
    def __init__(self, last_state: str) -> None:
        self.last_state = last_state
        self.meta = type("Meta", (), {"region_name": REGION})
        self.exceptions = boto3.client("stepfunctions", region_name=REGION).exceptions

    def describe_execution(self, **_: Any) -> dict[str, Any]:
        return EXECUTION

    def get_execution_history(self, **kwargs: Any) -> dict[str, Any]:
        assert kwargs["reverseOrder"] is True
        return {
            "events": [
                {"id": 9, "timestamp": ENTERED, "type": "WaitStateExited"},  # no details
                {
                    "id": 8,
                    "timestamp": ENTERED,
                    "type": "TaskStateEntered",
                    "stateEnteredEventDetails": {"name": self.last_state},
                },
            ]
        }


class Ssm:
    def list_commands(self, CommandId: str) -> dict[str, Any]:
        return {"Commands": [COMMANDS[CommandId] | {"CommandId": CommandId}]}


@pytest.fixture
def records() -> Iterator[Any]:
    """The run's first batch planned (60 ready, 2 skipped) and sent as two commands."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        table = state_table_name("default")
        create_state_table(dynamodb, table)
        pk = {"S": keys.wave_pk(RUN)}
        dynamodb.put_item(
            TableName=table,
            Item={
                "pk": pk,
                "sk": {"S": keys.plan_sk(0, 0)},
                "ready": {"L": [{"S": f"i-{n:017x}"} for n in range(60)]},
                "skipped": {
                    "M": {
                        f"i-{n:017x}": {"L": [{"S": "stopped"}, {"S": "x"}, {"S": ""}]}
                        for n in (98, 99)
                    }
                },
            },
        )
        dynamodb.put_item(
            TableName=table,
            Item={
                "pk": pk,
                "sk": {"S": keys.send_sk(0, 0)},
                "chunk": {"N": "0"},
                "command_ids": {"L": [{"S": "c-1"}, {"S": "c-2"}]},
            },
        )
        yield dynamodb


def plane(dynamodb: Any, last_state: str) -> ControlPlane:
    clients = {
        "dynamodb": dynamodb,
        "ssm": Ssm(),
        "stepfunctions": StepFunctions(last_state),
        "sts": boto3.client("sts", region_name=REGION),
    }
    return ControlPlane(clients.__getitem__, "default")


def test_a_batch_being_patched(records: Any) -> None:
    lines = status_lines(plane(records, "AwaitBatchCommand"), RUN)
    assert lines[:4] == [
        f"{RUN}: wave prod, RUNNING",
        "  now: batch 1 of 2 (linux-databases), AwaitBatchCommand",
        "  this batch: 60 instances sent, 2 skipped",
        "  so far: 2 command(s) to 60 instances, 54 finished (1 failed); 1 command(s) in "
        "flight: c-2",
    ]


def test_a_bake_says_when_it_ends(records: Any) -> None:
    lines = status_lines(plane(records, "Bake"), RUN)
    assert lines[1:3] == [
        "  now: gate before batch 2 of 2 (windows-apps), Bake",
        "  bake ends at 2026-12-05 06:40:00 UTC",
    ]
    data = status_data(plane(records, "Bake"), RUN)["progress"]
    assert (data["batch"], data["batches"], data["bake_ends_at"]) == (
        2,
        2,
        "2026-12-05T06:40:00+00:00",
    )
    assert data["in_flight"] == ["c-2"]

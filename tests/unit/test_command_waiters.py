"""The command waiter handshake: whichever side writes second resumes the workflow."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from fleetpatch.command_waiters import CommandWaiters, InvocationKey
from tests.unit.conftest import STATE_TABLE

KEY = InvocationKey("5e2f1c1a-8b1e-4c53-9d44-0c2a3f4b5d6e", "i-0a1b2c3d4e5f60718")


class RecordingStepFunctions:
    """Records SendTaskSuccess; a spent token fails like AWS's."""

    def __init__(self, client: Any) -> None:
        self.exceptions = client.exceptions
        self.resumed: list[tuple[str, dict[str, Any]]] = []
        self.spent: set[str] = set()

    def send_task_success(self, taskToken: str, output: str) -> None:
        if taskToken in self.spent:
            raise self.exceptions.TaskTimedOut(
                {"Error": {"Code": "TaskTimedOut", "Message": "spent"}}, "SendTaskSuccess"
            )
        self.spent.add(taskToken)
        self.resumed.append((taskToken, json.loads(output)))


@pytest.fixture
def waiters(state_table: Any) -> tuple[CommandWaiters, RecordingStepFunctions]:
    sfn = RecordingStepFunctions(boto3.client("stepfunctions", region_name="eu-central-1"))
    return CommandWaiters(STATE_TABLE, state_table, sfn), sfn


def test_event_after_waiter_resumes_from_the_event(
    waiters: tuple[CommandWaiters, RecordingStepFunctions],
) -> None:
    registry, sfn = waiters
    assert registry.register_waiter(KEY, "token-1") is False
    assert registry.record_status(KEY, "Success") is True
    assert sfn.resumed == [
        (
            "token-1",
            {
                "status": "Success",
                "commandId": KEY.command_id,
                "instanceId": KEY.instance_id,
                "source": "status-event",
            },
        )
    ]


def test_event_before_waiter_resumes_at_registration(
    waiters: tuple[CommandWaiters, RecordingStepFunctions],
) -> None:
    # The status event can win the race against the workflow storing its token.
    registry, sfn = waiters
    assert registry.record_status(KEY, "Failed") is False
    assert registry.register_waiter(KEY, "token-2") is True
    assert [(token, out["status"], out["source"]) for token, out in sfn.resumed] == [
        ("token-2", "Failed", "recorded-status")
    ]


def test_duplicate_status_events_resume_once(
    waiters: tuple[CommandWaiters, RecordingStepFunctions],
) -> None:
    registry, sfn = waiters
    registry.register_waiter(KEY, "token-3")
    assert registry.record_status(KEY, "Success") is True
    assert registry.record_status(KEY, "Success") is False  # the token is spent
    assert len(sfn.resumed) == 1


def test_a_whole_command_waiter_is_apart_from_its_invocations(
    waiters: tuple[CommandWaiters, RecordingStepFunctions],
) -> None:
    # A batch waits on the whole command; an invocation's event must not wake it.
    registry, sfn = waiters
    whole = InvocationKey(KEY.command_id)
    assert whole.item_key["sk"] == {"S": "COMMAND"}
    assert registry.register_waiter(whole, "batch-token") is False
    assert registry.record_status(KEY, "Success") is False
    assert sfn.resumed == []
    assert registry.record_status(whole, "Failed") is True
    assert [token for token, _ in sfn.resumed] == ["batch-token"]

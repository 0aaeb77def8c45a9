"""Starting a workflow run (Step Functions): once per name, whoever asks again.

Every run the control plane starts on an event is named after that event (the lifecycle
action, the window execution, the drift event): the name is the idempotency key. A
second start of the same name, a redelivered event or the other of two triggers, raises
``ExecutionAlreadyExists``; that is not an error, the run is already under way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


@dataclass(frozen=True)
class Started:
    name: str
    execution_arn: str | None
    """None: a run of this name had been started already (a duplicate)."""

    @property
    def duplicate(self) -> bool:
        return self.execution_arn is None


def start_once(
    stepfunctions: SFNClient, state_machine_arn: str, name: str, run_input: Mapping[str, Any]
) -> Started:
    """Start the run ``name`` of ``state_machine_arn`` unless it has been started already."""
    try:
        started = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(run_input)
        )
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        return Started(name, None)
    return Started(name, started["executionArn"])

"""What ``functions/await_ready`` takes: ``Config``, ``ServingCheckRequest``, ``AwaitReadyRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetpatch.ids import ManagedInstanceId
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    watcher_arn: str = Field(alias="FLEETPATCH_WATCHER_STATE_MACHINE_ARN", min_length=20)


class ServingCheckRequest(BaseModel):
    """The serve-instance check a serving run waits on (read-only actions only)."""

    model_config = ConfigDict(extra="allow", defer_build=True)
    action: Literal["drained", "check"]


class AwaitReadyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    task_token: str = Field(alias="taskToken", min_length=1, max_length=1024)
    kind: Literal["agent-online", "serving-check"]
    subject: ManagedInstanceId
    request: ServingCheckRequest | None = Field(
        default=None, description="serving-check: what serve-instance is asked"
    )
    run_id: str = Field(alias="runId", min_length=1, max_length=80)
    timeout_seconds: int = Field(
        alias="timeoutSeconds", ge=1, le=86_400, description="the task's own TimeoutSeconds"
    )

    @model_validator(mode="after")
    def _request_for_serving_checks(self) -> Self:
        if (self.kind == "serving-check") != (self.request is not None):
            raise ValueError("request: given for a serving-check, and only for one")
        return self

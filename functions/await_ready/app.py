"""Await ready: park a run's task token until a condition no event announces holds.

Invoked by Step Functions with ``lambda:invoke.waitForTaskToken`` (patch-new-instance waits
for its instance's SSM agent this way); the readiness watcher resumes the run. See
``fleetpatch.readiness``.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Self

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetpatch import clock
from fleetpatch.ids import ManagedInstanceId


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


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.readiness import Waiter
    from fleetpatch.services.readiness import await_ready

    request = AwaitReadyRequest.model_validate(event)
    config = load_config(Config)
    waiter = Waiter(
        kind=request.kind,
        subject=request.subject,
        run_id=request.run_id,
        task_token=request.task_token,
        deadline=clock.time() + request.timeout_seconds,
        request=None if request.request is None else json.dumps(request.request.model_dump()),
    )
    return await_ready(config.table_name, config.watcher_arn, waiter)

"""Await command: park a workflow's task token until its command (or one invocation) finishes.

Invoked by Step Functions with ``lambda:invoke.waitForTaskToken``; the command-status
route resumes the workflow (see ``fleetpatch.command_waiters`` for the race-free handshake).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.ids import ManagedInstanceId, Uuid


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


class AwaitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    task_token: str = Field(alias="taskToken", min_length=1, max_length=1024)
    command_id: Uuid = Field(alias="commandId")
    instance_id: ManagedInstanceId | None = Field(
        default=None, alias="instanceId", description="absent: wait for the whole command"
    )


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.services.commands import await_command

    request = AwaitRequest.model_validate(event)
    resumed = await_command(
        load_config(Config).table_name,
        request.task_token,
        request.command_id,
        request.instance_id,
    )
    return {"registered": True, "resumedAtOnce": resumed}

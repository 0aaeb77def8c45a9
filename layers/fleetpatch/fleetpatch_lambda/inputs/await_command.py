"""What ``functions/await_command`` takes: ``Config``, ``AwaitRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.ids import ManagedInstanceId, Uuid
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


class AwaitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    task_token: str = Field(alias="taskToken", min_length=1, max_length=1024)
    command_id: Uuid = Field(alias="commandId")
    instance_id: ManagedInstanceId | None = Field(
        default=None, alias="instanceId", description="absent: wait for the whole command"
    )

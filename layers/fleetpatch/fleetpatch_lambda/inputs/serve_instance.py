"""What ``functions/serve_instance`` takes: ``Config`` and one request model per action.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.batch_policy import RuntimeServing
from fleetpatch.contracts.serving import ServingOutcome
from fleetpatch.ids import InstanceId
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class TakeOut(_Request):
    action: Literal["take-out"]
    run_id: str = Field(alias="runId", min_length=1)
    instance_id: InstanceId = Field(alias="instanceId")
    serving: RuntimeServing


class Drained(_Request):
    action: Literal["drained"]
    placement: dict[str, Any]
    out: dict[str, Any]


class Check(_Request):
    action: Literal["check"]
    instance_id: InstanceId = Field(alias="instanceId")
    serving: RuntimeServing
    since: datetime | None = None
    in_service: dict[str, Any] | None = Field(default=None, alias="inService")


class PutBack(_Request):
    action: Literal["put-back"]
    placement: dict[str, Any]
    out: dict[str, Any] | None


class TakeOutAgain(_Request):
    action: Literal["take-out-again"]
    placement: dict[str, Any]
    serving: RuntimeServing


class GiveBack(_Request):
    action: Literal["give-back"]
    run_id: str = Field(alias="runId", min_length=1)
    instance_id: InstanceId = Field(alias="instanceId")


class Finish(_Request):
    action: Literal["finish"]
    run_id: str = Field(alias="runId", min_length=1)
    step: int = Field(ge=0)
    instance_id: InstanceId = Field(alias="instanceId")
    outcome: ServingOutcome
    detail: dict[str, Any]


class Request(BaseModel):
    model_config = ConfigDict(defer_build=True)

    request: Annotated[
        TakeOut | Drained | Check | PutBack | TakeOutAgain | GiveBack | Finish,
        Field(discriminator="action"),
    ]

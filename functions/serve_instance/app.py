"""Serve instance: the steps of the serving workflow that need more than one AWS call.

Invoked synchronously by patch-serving-instance (``statemachines/``), one action per
call: take the instance out of service under its disruption budget, tell whether
draining ended, check its health, put it back, take it out again, record its outcome.
Every action is safe to retry (``fleetpatch.services.serving``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fleetpatch_lambda.config import FunctionConfig, load_config, resolved
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.contracts.serving import ServingOutcome
from fleetpatch.ids import InstanceId

if TYPE_CHECKING:
    from fleetpatch.batch_policy import RuntimeServing


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


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.batch_policy import RuntimeServing
    from fleetpatch.services import serving

    for carrying_serving in (TakeOut, Check, TakeOutAgain):
        resolved(carrying_serving, RuntimeServing=RuntimeServing)
    request = Request.model_validate({"request": event}).request
    match request:
        case TakeOut():
            return serving.take_out(
                request.run_id,
                request.instance_id,
                request.serving,
                table_name=load_config(Config).table_name,
            )
        case Drained():
            return serving.drained(request.placement, request.out)
        case Check():
            return serving.check(
                request.instance_id,
                request.serving,
                since=request.since,
                in_service=request.in_service,
            )
        case PutBack():
            return serving.put_back(request.placement, request.out or {})
        case TakeOutAgain():
            return serving.take_out_again(request.placement, request.serving)
        case GiveBack():
            return serving.give_back(
                request.run_id, request.instance_id, table_name=load_config(Config).table_name
            )
        case Finish():
            return serving.finish(
                request.run_id,
                request.step,
                request.instance_id,
                request.outcome,
                request.detail,
                table_name=load_config(Config).table_name,
            )

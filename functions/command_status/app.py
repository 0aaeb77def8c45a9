"""Command status: a patch command (or one invocation) reached a final status; resume its waiter."""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented
from pydantic import Field

from fleetpatch import aws
from fleetpatch.commands import CommandWaiters, InvocationKey
from fleetpatch.events import CommandInvocationEvent, CommandStatusEvent
from fleetpatch.routing import Route


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    parsed, decision = accept_event(event, Route.COMMAND_STATUS)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, CommandInvocationEvent | CommandStatusEvent)
    waiters = CommandWaiters(
        load_config(Config).table_name, aws.client("dynamodb"), aws.client("stepfunctions")
    )
    if isinstance(parsed, CommandStatusEvent):
        key = InvocationKey(parsed.detail.command_id)  # a batch waits on the whole command
    else:
        key = InvocationKey(parsed.detail.command_id, parsed.detail.instance_id)
    resumed = waiters.record_status(key, parsed.detail.status)
    return {"route": decision.route.value, "reason": decision.reason, "resumed": resumed}

"""Command status: a patch command (or one invocation) reached a final status; resume its waiter."""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented
from pydantic import Field


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch.events import CommandInvocationEvent, CommandStatusEvent
    from fleetpatch.routing import Route

    parsed, decision = accept_event(event, Route.COMMAND_STATUS)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    # The use case, only for an event of this route.
    from fleetpatch.services.commands import record_status

    assert isinstance(parsed, CommandInvocationEvent | CommandStatusEvent)
    resumed = record_status(parsed, load_config(Config).table_name)
    return {"route": decision.route.value, "reason": decision.reason, "resumed": resumed}

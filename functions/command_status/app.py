"""Command status: a patch command (or one invocation) reached a final status; resume its waiter."""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch.events import CommandInvocationEvent, CommandStatusEvent
    from fleetpatch.routing import Route

    parsed, decision = accept_event(event, Route.COMMAND_STATUS)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    # The use case and the configuration, only for an event of this route.
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.command_status import Config

    from fleetpatch.services.commands import record_status

    assert isinstance(parsed, CommandInvocationEvent | CommandStatusEvent)
    resumed = record_status(parsed, load_config(Config).table_name)
    return {"route": decision.route.value, "reason": decision.reason, "resumed": resumed}

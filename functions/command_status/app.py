"""Command status: a patch command invocation reached a final status.

Validates and routes the event; the workflow it starts is built in a later issue, so
for now it reports the routing decision and does nothing else.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented

from fleetpatch.routing import Route


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    _, decision = accept_event(event, Route.COMMAND_STATUS)
    return {"route": decision.route.value, "reason": decision.reason}

"""Compliance change: an instance's patch compliance state changed.

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
    _, decision = accept_event(event, Route.COMPLIANCE_CHANGE)
    return {"route": decision.route.value, "reason": decision.reason}

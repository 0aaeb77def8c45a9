"""The event edge every handler shares: validate, route, and refuse what is not ours.

The event models and the router (``fleetpatch.events``, ``fleetpatch.routing``: dozens of
pydantic models) are imported by the first event, not by the handler's import (cold
start, issue 19): a handler module imports this edge, and only an invocation parses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleetpatch.errors import InvalidEventError, MisroutedEventError
from fleetpatch_lambda.observability import logger, metrics

if TYPE_CHECKING:
    from fleetpatch.events import FleetEvent
    from fleetpatch.routing import Route, RouteDecision


def accept_event(raw: Any, expected: Route) -> tuple[FleetEvent, RouteDecision]:
    """Validate ``raw`` and check it belongs to ``expected``.

    Invalid events raise :class:`InvalidEventError` so the asynchronous invocation fails
    and, after Lambda's retries, the event lands in the function's dead-letter queue.
    """
    from aws_lambda_powertools.metrics import MetricUnit

    from fleetpatch.routing import Route, route_raw

    try:
        event, decision = route_raw(raw)
    except InvalidEventError as exc:
        logger().error("invalid event", extra={"field": exc.field, "problem": exc.message})
        metrics().add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
        raise
    logger().append_keys(route=decision.route.value, detail_type=event.detail_type)
    if decision.route not in {expected, Route.IGNORED}:
        raise MisroutedEventError(expected=expected.value, actual=decision.route.value)
    metrics().add_metric(
        name="IgnoredEvents" if decision.route is Route.IGNORED else "AcceptedEvents",
        unit=MetricUnit.Count,
        value=1,
    )
    logger().info("event routed", extra={"reason": decision.reason})
    return event, decision

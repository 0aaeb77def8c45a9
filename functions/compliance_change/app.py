"""Compliance change: record an instance's patch compliance state; digest and remediate drift.

Each change of state is kept in the state table's history; drift and recovery also wait
there for the digest (see ``fleetpatch.compliance``), which the first of them schedules.
Drift starts the remediation the policy allows for the instance's environment (see
``fleetpatch.remediation``): a patch-instance run named after the event, so a redelivered
event starts nothing. Duplicates and late events change nothing; a retry after a failure
half way does what the failed attempt did not. The order that makes it so lives in
``fleetpatch.services.compliance``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch.events import ComplianceChangeEvent
    from fleetpatch.routing import Route

    parsed, decision = accept_event(event, Route.COMPLIANCE_CHANGE)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    # The use case and the configuration, only for an event of this route.
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.compliance_change import Config

    from fleetpatch.services.compliance import record_change

    assert isinstance(parsed, ComplianceChangeEvent)
    result = {
        "route": decision.route.value,
        "reason": decision.reason,
        **record_change(parsed, load_config(Config)),
    }
    # The dashboard's "compliance by environment" reads these fields (tools/render_monitoring.py).
    logger().info(
        "compliance recorded",
        extra={
            "instance": parsed.detail.resource_id,
            "compliance": parsed.detail.compliance_status,
            **result,
        },
    )
    return result

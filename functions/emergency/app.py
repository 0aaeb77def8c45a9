"""Emergency: an Inspector finding or an operator's request starts (or joins) a CVE's run.

Both arrive from EventBridge (``aws.inspector2`` ``Inspector2 Finding``, ``fleetpatch.operator``
``Emergency Patch Requested``), validated at the edge; an invalid one lands in the
function's dead-letter queue with its field named. One run per CVE at a time
(``fleetpatch.services.emergency``): a burst of findings starts one run.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented

from fleetpatch import aws


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first event, not at cold start (issue 19): the event models, the
    # router and the use case (which brings the policy) are most of the handler's imports.
    from fleetpatch.events import EmergencyRequestEvent, InspectorFindingEvent
    from fleetpatch.routing import Route

    parsed, decision = accept_event(event, Route.EMERGENCY)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    # The use case and the configuration, only for an event of this route.
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.emergency import Config

    from fleetpatch.services.emergency import start_for_event

    assert isinstance(parsed, InspectorFindingEvent | EmergencyRequestEvent)
    config = load_config(Config)
    return start_for_event(parsed, config, aws.compiled_policy(config.policy_parameter))

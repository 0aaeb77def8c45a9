"""Central ingest (the central stack, issue 22): a member's forwarded event, into the org index.

Validated at the edge (``fleetpatch.shared_events``); ``fleetpatch.services.central`` says
why a repeated delivery is harmless and where an invalid one goes.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.central_ingest import Config

    from fleetpatch.services.central import file_event
    from fleetpatch.shared_events import parse_shared_event

    return file_event(parse_shared_event(event), load_config(Config))

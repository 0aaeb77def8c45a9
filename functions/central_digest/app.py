"""Central digest (the central stack, issue 22): the organization's compliance digest, daily.

Invoked by the central stack's ``OrgDigestSchedule`` with the tick's scheduled time (the
Scheduler context attribute): the digest is that UTC day's, sent once however often the tick
is delivered. See ``fleetpatch.services.org_digest``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented

from fleetpatch.errors import InvalidEventError


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first tick, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.central_digest import Config, Tick
    from pydantic import ValidationError

    from fleetpatch.services.org_digest import send_org_digest

    try:
        tick = Tick.model_validate(event)
    except ValidationError as exc:
        raise InvalidEventError("scheduledTime", exc.errors()[0]["msg"]) from None
    return send_org_digest(tick.scheduled_time, load_config(Config))

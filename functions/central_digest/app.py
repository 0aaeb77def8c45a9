"""Central digest (the central stack, issue 22): the organization's compliance digest, daily.

Invoked by the central stack's ``OrgDigestSchedule`` with the tick's scheduled time (the
Scheduler context attribute): the digest is that UTC day's, sent once however often the tick
is delivered. See ``fleetpatch.services.org_digest``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from fleetpatch.errors import InvalidEventError


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_ORG_INDEX_TABLE", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)


class Tick(BaseModel):
    """The schedule's Input: ``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``."""

    model_config = ConfigDict(frozen=True, defer_build=True)
    scheduled_time: AwareDatetime = Field(alias="scheduledTime")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first tick, not at cold start (issue 19).
    from fleetpatch.services.org_digest import send_org_digest

    try:
        tick = Tick.model_validate(event)
    except ValidationError as exc:
        raise InvalidEventError("scheduledTime", exc.errors()[0]["msg"]) from None
    return send_org_digest(tick.scheduled_time, load_config(Config))

"""Watch ready: one round of the account's readiness watcher.

Invoked by the readiness-watcher state machine, which runs it again while ``watching`` is
true. Each round polls for every waiting run at once and resumes the ready ones, until
nothing waits or the round's time is up. See ``fleetpatch.readiness``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

# A round ends this long before the function's own timeout, whatever it was asked.
TIMEOUT_MARGIN_SECONDS = 30.0


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    round_seconds: float = Field(alias="FLEETPATCH_WATCH_ROUND_SECONDS", gt=0, le=840)
    poll_seconds: float = Field(alias="FLEETPATCH_WATCH_POLL_SECONDS", gt=0, le=60)
    calls_per_second: float = Field(alias="FLEETPATCH_WATCH_CALLS_PER_SECOND", gt=0, le=100)
    serve_instance_function: str = Field(alias="FLEETPATCH_SERVE_INSTANCE_FUNCTION", min_length=1)


class WatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    owner: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.services.readiness import watch

    request = WatchRequest.model_validate(event)
    config = load_config(Config)
    remaining = context.get_remaining_time_in_millis() / 1000 - TIMEOUT_MARGIN_SECONDS
    return watch(
        config.table_name,
        request.owner,
        max(1.0, min(config.round_seconds, remaining)),
        poll_seconds=config.poll_seconds,
        calls_per_second=config.calls_per_second,
        serve_instance_function=config.serve_instance_function,
    )

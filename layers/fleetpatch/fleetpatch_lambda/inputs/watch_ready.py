"""What ``functions/watch_ready`` takes: ``Config``, ``WatchRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    round_seconds: float = Field(alias="FLEETPATCH_WATCH_ROUND_SECONDS", gt=0, le=840)
    poll_seconds: float = Field(alias="FLEETPATCH_WATCH_POLL_SECONDS", gt=0, le=60)
    calls_per_second: float = Field(alias="FLEETPATCH_WATCH_CALLS_PER_SECOND", gt=0, le=100)
    serve_instance_function: str = Field(alias="FLEETPATCH_SERVE_INSTANCE_FUNCTION", min_length=1)


class WatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    owner: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_-]+$")

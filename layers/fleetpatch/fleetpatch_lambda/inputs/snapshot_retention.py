"""What ``functions/snapshot_retention`` takes: ``Config``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from pydantic import Field

from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    stage: str = Field(alias="FLEETPATCH_STAGE", min_length=1)

"""What ``functions/resolve_instance`` takes: ``ResolveRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.ids import InstanceId


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    instance_id: InstanceId = Field(alias="instanceId")
    only: Literal["exception"] | None = None

"""Resolve instance: the OS, patch group and baseline that apply to an instance (workflow task)."""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.ids import InstanceId
from fleetpatch.services.launch import resolve_instance


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    instance_id: InstanceId = Field(alias="instanceId")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request = ResolveRequest.model_validate(event)
    return resolve_instance(request.instance_id)

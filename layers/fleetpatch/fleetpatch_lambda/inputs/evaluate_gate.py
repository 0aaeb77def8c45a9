"""What ``functions/evaluate_gate`` takes: ``Config``, ``EvaluateRequest``, ``GovernanceRequest``.

Imported by the handler's first invocation, not at cold start (issue 19).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.services.governance import Governance
from fleetpatch_lambda.config import FunctionConfig


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    step: int = Field(ge=1, description="the batch the gate guards (len(batches): the end)")
    gate: RuntimeGate
    batches: list[RuntimeBatch] = Field(min_length=1)
    window_execution_id: str | None = Field(default=None, alias="windowExecutionId")
    window_status: str | None = Field(default=None, alias="windowStatus")
    commands: dict[str, list[str]] = Field(
        default_factory=dict, description="batch name -> commands the workflow sent"
    )
    started_at: datetime = Field(alias="startedAt", description="when the wave run started")
    bake_started_at: datetime | None = Field(
        default=None, alias="bakeStartedAt", description="alarms count from here (the Bake state)"
    )


class GovernanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    check: Literal["governance"]
    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    governance: Governance

"""Evaluate gate: gather the evidence of the batches a gate checks and decide (workflow task).

Invoked synchronously by the gated-wave workflow. Reads command results, patch states and
alarms (read-only), records the decision in the state table and returns its summary.
With ``check: governance`` it is the gate before the first batch of a window's run: an
operator's skip, the change freeze (``fleetpatch.services.governance``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from fleetpatch_lambda.config import FunctionConfig, load_config, resolved
from fleetpatch_lambda.observability import instrumented
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
    from fleetpatch.services.governance import Governance


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


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
    from fleetpatch.services.governance import Governance, check_governance
    from fleetpatch.services.waves import evaluate_gate

    if isinstance(event, dict) and event.get("check") == "governance":
        asked = resolved(GovernanceRequest, Governance=Governance).model_validate(event)
        return check_governance(
            asked.run_id, asked.wave, asked.governance, table_name=load_config(Config).table_name
        )
    request = resolved(
        EvaluateRequest, RuntimeBatch=RuntimeBatch, RuntimeGate=RuntimeGate
    ).model_validate(event)
    return evaluate_gate(request, table_name=load_config(Config).table_name)

"""Start wave: a wave's maintenance window opened; start the wave's gated run (window task).

Each wave's window has one LAMBDA task that invokes this function (as the stack's window
task role) with ``{"source": "fleetpatch.window", "wave": ..., "windowId": ...}``. The run
is named after the window's running execution, so a repeated invocation starts nothing, and
it patches every batch, the first included, with the control plane's batch membership.

Only the stack's own windows start waves: the window must carry the ``fleetpatch:wave`` and
``fleetpatch:stage`` tags the policy stack sets, and be running now. Maintenance window
state-change events (the rule that still delivers them validates them, and dead-letters the
invalid) start nothing: a window with a wave's name, or an event delivered late, is not a
reason to patch.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Literal

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import aws, clock
from fleetpatch.routing import Route
from fleetpatch.waves import promotion_input


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_GATED_WAVE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    stage: str = Field(alias="FLEETPATCH_STAGE", min_length=1)


class WindowTask(BaseModel):
    """What a wave's window task sends (its Payload, rendered by the policy stack)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    source: Literal["fleetpatch.window"]
    wave: str = Field(min_length=1, max_length=64)
    window_id: str = Field(alias="windowId", pattern=r"^mw-[0-9a-f]{17}$")


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    if not (isinstance(event, dict) and event.get("source") == "fleetpatch.window"):
        # A window state-change event: validated (invalid ones go to the DLQ), never acted on.
        _, decision = accept_event(event, Route.BATCH_GATE)
        return {
            "route": "ignored",
            "reason": f"{decision.reason}: a wave starts from its own window's task when the "
            "window opens, never from a window event",
        }
    task = WindowTask.model_validate(event)
    config = load_config(Config)
    ssm = aws.client("ssm")
    refused = _not_ours(ssm, task, config.stage)
    if refused is not None:
        logger.warning("window refused", extra={"window": task.window_id, "reason": refused})
        return {"route": "ignored", "reason": refused}
    # The window's running execution (windows never overlap themselves). The API filters by
    # start time only: a window lasts at most 24 hours.
    since = datetime.fromtimestamp(clock.time() - 24 * 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    running = [
        e
        for e in ssm.describe_maintenance_window_executions(
            WindowId=task.window_id, Filters=[{"Key": "ExecutedAfter", "Values": [since]}]
        )["WindowExecutions"]
        if e["Status"] == "IN_PROGRESS"
    ]
    if not running:
        return {"route": "ignored", "reason": f"window {task.window_id} is not running"}
    execution_id = running[0]["WindowExecutionId"]
    policy = aws.compiled_policy(config.policy_parameter)
    if task.wave not in policy["waves"]:
        return {"route": "ignored", "reason": f"wave {task.wave} is not in the fleet policy"}
    name = f"wave-{execution_id}"
    sfn = aws.client("stepfunctions")
    try:
        sfn.start_execution(
            stateMachineArn=config.state_machine_arn,
            name=name,
            input=json.dumps(
                {
                    "wave": task.wave,
                    "windowId": task.window_id,
                    "windowExecutionId": execution_id,
                    "windowStatus": None,
                    "batches": policy["waves"][task.wave]["batches"],
                    "startStep": 0,
                    **promotion_input(policy["waves"], task.wave),
                }
            ),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("repeated window task: wave run already started", extra={"execution": name})
        return {"route": "batch-gate", "reason": "duplicate: run already started"}
    logger.info("started gated-wave", extra={"wave": task.wave, "execution": name})
    return {
        "route": "batch-gate",
        "reason": f"window of wave {task.wave} opened",
        "execution": name,
    }


def _not_ours(ssm: Any, task: WindowTask, stage: str) -> str | None:
    """Why the invoking window is not this stack's window of ``task.wave`` (None: it is)."""
    tags = {
        t["Key"]: t["Value"]
        for t in ssm.list_tags_for_resource(
            ResourceType="MaintenanceWindow", ResourceId=task.window_id
        )["TagList"]
    }
    if tags.get("fleetpatch:wave") != task.wave or tags.get("fleetpatch:stage") != stage:
        return (
            f"window {task.window_id} is not the {task.wave} wave's window of stage {stage} "
            "(its fleetpatch:wave and fleetpatch:stage tags say otherwise)"
        )
    return None

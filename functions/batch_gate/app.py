"""Start wave: a wave's maintenance window opened; start the wave's gated run.

Each wave's window has one LAMBDA task that invokes this function (as the stack's window
task role) with ``{"source": "fleetpatch.window", "wave": ..., "windowId": ...}``, and the
window's end is also announced by EventBridge (``Maintenance Window Execution State-change
Notification``): whichever comes first starts the run, named after the window execution,
and the other finds it started. The event is the backstop for a task that failed (a
crashed invocation is not retried by Systems Manager); the task, for an event never
delivered. The run patches every batch, the first included, with the control plane's
batch membership: the window itself patches nothing.

Only the stack's own windows start waves: the window must carry the ``fleetpatch:wave`` and
``fleetpatch:stage`` tags the policy stack sets. A window event delivered more than an hour
after the window ended (EventBridge's retry limit for the rule) starts nothing: it is
reported, and a wave never starts long after its window.
"""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any, Literal

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import aws, clock
from fleetpatch.contracts.names import window_run_name
from fleetpatch.events import WindowExecutionEvent
from fleetpatch.routing import Route
from fleetpatch.waves import promotion_arguments, run_input

# A window event later than this after the window's end starts nothing by itself.
LATE_EVENT = timedelta(hours=1)


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
    if isinstance(event, dict) and event.get("source") == "fleetpatch.window":
        task = WindowTask.model_validate(event)
        config = load_config(Config)
        ssm = aws.client("ssm")
        wave, refused = _wave_of(ssm, task.window_id, config.stage)
        if refused is None and wave != task.wave:
            refused = f"window {task.window_id} is the {wave} wave's, not {task.wave}'s"
        if refused is not None:
            logger.warning("window refused", extra={"window": task.window_id, "reason": refused})
            return {"route": "ignored", "reason": refused}
        execution_id = _running_execution(ssm, task.window_id)
        if execution_id is None:
            return {"route": "ignored", "reason": f"window {task.window_id} is not running"}
        return _start(config, wave, task.window_id, execution_id)
    parsed, decision = accept_event(event, Route.BATCH_GATE)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, WindowExecutionEvent)
    detail = parsed.detail
    config = load_config(Config)
    ssm = aws.client("ssm")
    wave, refused = _wave_of(ssm, detail.window_id, config.stage)
    if refused is not None:
        return {"route": "ignored", "reason": refused}
    ended = detail.end_time or parsed.time
    late = clock.now() - ended
    if late > LATE_EVENT:
        logger.error(
            "late window event: no wave started",
            extra={"window": detail.window_id, "execution": detail.window_execution_id},
        )
        return {
            "route": "ignored",
            "reason": f"window {detail.window_id} ended {late} ago: a window event later than "
            f"{LATE_EVENT} starts no wave (run `fleetpatch wave start {wave}` to patch now)",
        }
    return _start(config, wave, detail.window_id, detail.window_execution_id)


def _start(config: Config, wave: str, window_id: str, execution_id: str) -> dict[str, str]:
    policy = aws.compiled_policy(config.policy_parameter)
    if wave not in policy["waves"]:
        return {"route": "ignored", "reason": f"wave {wave} is not in the fleet policy"}
    name = window_run_name(execution_id)
    sfn = aws.client("stepfunctions")
    try:
        sfn.start_execution(
            stateMachineArn=config.state_machine_arn,
            name=name,
            input=json.dumps(
                run_input(
                    wave,
                    policy["waves"][wave]["batches"],
                    window_id=window_id,
                    window_execution_id=execution_id,
                    **promotion_arguments(policy["waves"], wave),
                )
            ),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("wave run already started", extra={"execution": name})
        return {"route": "batch-gate", "reason": "duplicate: run already started"}
    logger.info("started gated-wave", extra={"wave": wave, "execution": name})
    return {"route": "batch-gate", "reason": f"window of wave {wave}", "execution": name}


def _wave_of(ssm: Any, window_id: str, stage: str) -> tuple[str, str | None]:
    """The wave whose window ``window_id`` is in this stage, or why it is none."""
    tags = {
        t["Key"]: t["Value"]
        for t in ssm.list_tags_for_resource(ResourceType="MaintenanceWindow", ResourceId=window_id)[
            "TagList"
        ]
    }
    wave = tags.get("fleetpatch:wave", "")
    if not wave or tags.get("fleetpatch:stage") != stage:
        return wave, (
            f"window {window_id} is no wave's window of stage {stage} (it lacks the "
            "fleetpatch:wave and fleetpatch:stage tags the policy stack sets)"
        )
    return wave, None


def _running_execution(ssm: Any, window_id: str) -> str | None:
    """The window's running execution (windows never overlap themselves).

    The API filters by start time only (ExecutedAfter); a window lasts at most 24 hours.
    """
    since = (clock.now() - timedelta(hours=24)).astimezone(UTC)
    executions = ssm.describe_maintenance_window_executions(
        WindowId=window_id,
        Filters=[{"Key": "ExecutedAfter", "Values": [since.strftime("%Y-%m-%dT%H:%M:%SZ")]}],
    )["WindowExecutions"]
    running = [e for e in executions if e["Status"] == "IN_PROGRESS"]
    return str(running[0]["WindowExecutionId"]) if running else None

"""Batch gate: a wave's first-batch window ended; start the gated wave for its later batches.

One ``gated-wave`` run per window execution: the run is named after the execution id, so
a duplicate event starts nothing. Windows that are not a fleetpatch wave's are ignored.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field

from fleetpatch import aws
from fleetpatch.events import WindowExecutionEvent
from fleetpatch.routing import Route
from fleetpatch.waves import promotion_input, wave_of_window


class Config(FunctionConfig):
    state_machine_arn: str = Field(
        alias="FLEETPATCH_GATED_WAVE_ARN", pattern=r"^arn:aws[a-z-]*:states:"
    )
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    window_prefix: str = Field(alias="FLEETPATCH_WINDOW_PREFIX", min_length=1)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    parsed, decision = accept_event(event, Route.BATCH_GATE)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, WindowExecutionEvent)
    config = load_config(Config)
    detail = parsed.detail
    ssm = aws.client("ssm")
    window = ssm.get_maintenance_window(WindowId=detail.window_id)
    policy = aws.compiled_policy(config.policy_parameter)
    wave = wave_of_window(window["Name"], config.window_prefix, policy["waves"])
    if wave is None:
        return {
            "route": "ignored",
            "reason": f"window {window['Name']} runs no wave of the fleet policy",
        }
    name = f"wave-{detail.window_execution_id}"
    sfn = aws.client("stepfunctions")
    try:
        sfn.start_execution(
            stateMachineArn=config.state_machine_arn,
            name=name,
            input=json.dumps(
                {
                    "wave": wave,
                    "windowId": detail.window_id,
                    "windowExecutionId": detail.window_execution_id,
                    "windowStatus": detail.status,
                    "batches": policy["waves"][wave]["batches"],
                    **promotion_input(policy["waves"], wave),
                }
            ),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("duplicate event: wave run already started", extra={"execution": name})
        return {"route": decision.route.value, "reason": "duplicate: run already started"}
    logger.info("started gated-wave", extra={"wave": wave, "execution": name})
    return {"route": decision.route.value, "reason": decision.reason, "execution": name}

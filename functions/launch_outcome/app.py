"""Launch outcome: where a run's instance belongs and what its outcome does to launch churn.

A workflow task of patch-new-instance, called at release (see ``fleetpatch.launch_outcome``):
its answer gives the lifecycle result to release the instance with, the environment and
Auto Scaling group for the report, and the group's churn decision (announce, stay quiet,
or escalate, having suspended the group's Launch process if the policy says so).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.launch_outcome import Config

    from fleetpatch.launch_outcome import OutcomeRequest
    from fleetpatch.services.launch import account_outcome

    request = OutcomeRequest.model_validate(event)
    return account_outcome(request, load_config(Config).table_name)

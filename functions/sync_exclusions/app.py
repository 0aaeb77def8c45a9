"""Sync exclusions: the policy's package/KB exclusions into the baselines, daily (issue 21).

Invoked by an EventBridge Scheduler schedule (template.yaml); the event carries nothing the
function needs. See ``fleetpatch.services.exclusions``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.sync_exclusions import Config

    from fleetpatch.services.exclusions import sync

    return sync(load_config(Config).policy_parameter)

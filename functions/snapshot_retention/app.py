"""Snapshot retention: delete this stage's snapshots whose retention has ended.

Invoked daily by an EventBridge Scheduler schedule (template.yaml); the event carries
nothing the function needs. See ``fleetpatch.services.snapshots``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.snapshot_retention import Config

    from fleetpatch.services.snapshots import sweep

    return sweep(load_config(Config).stage)

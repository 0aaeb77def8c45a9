"""Patch batch: send one round of AWS-RunPatchBaseline to a batch's ready members (workflow task).

Invoked synchronously by the gated-wave workflow once the batch's gate has passed, once per
round (``fleetpatch.batch_run``). Safe to retry: the plan and each command are recorded as
they are made, and a retry sends only the rest.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.patch_batch import Config, PatchRequest

    from fleetpatch.services.waves import send_batch_round

    request = PatchRequest.model_validate(event)
    config = load_config(Config)
    return send_batch_round(
        request, table_name=config.table_name, artifacts_bucket=config.artifacts_bucket
    )

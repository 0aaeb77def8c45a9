"""Evaluate gate: gather the evidence of the batches a gate checks and decide (workflow task).

Invoked synchronously by the gated-wave workflow. Reads command results, patch states and
alarms (read-only), records the decision in the state table and returns its summary.
With ``check: governance`` it is the gate before the first batch of a window's run: an
operator's skip, the change freeze (``fleetpatch.services.governance``).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.evaluate_gate import Config, EvaluateRequest, GovernanceRequest

    from fleetpatch.services.governance import check_governance
    from fleetpatch.services.waves import evaluate_gate

    if isinstance(event, dict) and event.get("check") == "governance":
        asked = GovernanceRequest.model_validate(event)
        return check_governance(
            asked.run_id, asked.wave, asked.governance, table_name=load_config(Config).table_name
        )
    request = EvaluateRequest.model_validate(event)
    return evaluate_gate(request, table_name=load_config(Config).table_name)

"""Serve instance: the steps of the serving workflow that need more than one AWS call.

Invoked synchronously by patch-serving-instance (``statemachines/``), one action per
call: take the instance out of service under its disruption budget, tell whether
draining ended, check its health, put it back, take it out again, record its outcome.
Every action is safe to retry (``fleetpatch.services.serving``).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.serve_instance import (
        Check,
        Config,
        Drained,
        Finish,
        GiveBack,
        PutBack,
        Request,
        TakeOut,
        TakeOutAgain,
    )

    from fleetpatch.services import serving

    request = Request.model_validate({"request": event}).request
    match request:
        case TakeOut():
            return serving.take_out(
                request.run_id,
                request.instance_id,
                request.serving,
                table_name=load_config(Config).table_name,
            )
        case Drained():
            return serving.drained(request.placement, request.out)
        case Check():
            return serving.check(
                request.instance_id,
                request.serving,
                since=request.since,
                in_service=request.in_service,
            )
        case PutBack():
            return serving.put_back(request.placement, request.out or {})
        case TakeOutAgain():
            return serving.take_out_again(request.placement, request.serving)
        case GiveBack():
            return serving.give_back(
                request.run_id, request.instance_id, table_name=load_config(Config).table_name
            )
        case Finish():
            return serving.finish(
                request.run_id,
                request.step,
                request.instance_id,
                request.outcome,
                request.detail,
                table_name=load_config(Config).table_name,
            )

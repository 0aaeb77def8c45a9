"""Resolve instance: the OS, patch group and baseline that apply to an instance (workflow task).

With ``only: exception`` it reads the instance's EC2 tags alone (no SSM agent needed): the
launch workflow's first question, whether a fleetpatch:skip exception applies.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.inputs.resolve_instance import ResolveRequest

    from fleetpatch.services.launch import resolve_exception, resolve_instance

    request = ResolveRequest.model_validate(event)
    if request.only == "exception":
        return resolve_exception(request.instance_id)
    return resolve_instance(request.instance_id)

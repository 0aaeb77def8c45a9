"""Await command: park a workflow's task token until its command (or one invocation) finishes.

Invoked by Step Functions with ``lambda:invoke.waitForTaskToken``; the command-status
route resumes the workflow (see ``fleetpatch.command_waiters`` for the race-free handshake).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.await_command import AwaitRequest, Config

    from fleetpatch.services.commands import await_command

    request = AwaitRequest.model_validate(event)
    resumed = await_command(
        load_config(Config).table_name,
        request.task_token,
        request.command_id,
        request.instance_id,
    )
    return {"registered": True, "resumedAtOnce": resumed}

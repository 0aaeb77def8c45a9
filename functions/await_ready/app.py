"""Await ready: park a run's task token until a condition no event announces holds.

Invoked by Step Functions with ``lambda:invoke.waitForTaskToken`` (patch-new-instance waits
for its instance's SSM agent this way); the readiness watcher resumes the run. See
``fleetpatch.readiness``.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch_lambda.observability import instrumented

from fleetpatch import clock


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.await_ready import AwaitReadyRequest, Config

    from fleetpatch.readiness import Waiter
    from fleetpatch.services.readiness import await_ready

    request = AwaitReadyRequest.model_validate(event)
    config = load_config(Config)
    waiter = Waiter(
        kind=request.kind,
        subject=request.subject,
        run_id=request.run_id,
        task_token=request.task_token,
        deadline=clock.time() + request.timeout_seconds,
        request=None if request.request is None else json.dumps(request.request.model_dump()),
    )
    return await_ready(config.table_name, config.watcher_arn, waiter)

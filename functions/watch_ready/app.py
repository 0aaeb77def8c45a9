"""Watch ready: one round of the account's readiness watcher.

Invoked by the readiness-watcher state machine, which runs it again while ``watching`` is
true. Each round polls for every waiting run at once and resumes the ready ones, until
nothing waits or the round's time is up. See ``fleetpatch.readiness``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented

# A round ends this long before the function's own timeout, whatever it was asked.
TIMEOUT_MARGIN_SECONDS = 30.0


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.watch_ready import Config, WatchRequest

    from fleetpatch.services.readiness import watch

    request = WatchRequest.model_validate(event)
    config = load_config(Config)
    remaining = context.get_remaining_time_in_millis() / 1000 - TIMEOUT_MARGIN_SECONDS
    return watch(
        config.table_name,
        request.owner,
        max(1.0, min(config.round_seconds, remaining)),
        poll_seconds=config.poll_seconds,
        calls_per_second=config.calls_per_second,
        serve_instance_function=config.serve_instance_function,
    )

"""Start wave: a wave's maintenance window opened (its task) or ended (its event); start its run.

The window's task and EventBridge's window event both start the wave's gated run, once
(``fleetpatch.services.waves`` says how, and which windows start nothing).
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.edge import accept_event
from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, str]:
    # Imported by the first event, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.batch_gate import Config, WindowTask

    from fleetpatch.events import WindowExecutionEvent
    from fleetpatch.routing import Route
    from fleetpatch.services.wave_start import start_for_window_event, start_for_window_task

    if isinstance(event, dict) and event.get("source") == "fleetpatch.window":
        task = WindowTask.model_validate(event)
        return start_for_window_task(task.wave, task.window_id, load_config(Config))
    parsed, decision = accept_event(event, Route.BATCH_GATE)
    if decision.route is Route.IGNORED:
        return {"route": decision.route.value, "reason": decision.reason}
    assert isinstance(parsed, WindowExecutionEvent)
    return start_for_window_event(parsed, load_config(Config))

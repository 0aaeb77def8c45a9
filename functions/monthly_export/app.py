"""Monthly export: last month's audit evidence to the artifacts bucket (issue 21, part 5).

Invoked on the 1st of each month by an EventBridge Scheduler schedule (template.yaml), with
``{"scheduledTime": "<aws.scheduler.scheduled-time>"}``. See ``fleetpatch.services.audit``.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.monthly_export import Config, MonthlyExportEvent

    from fleetpatch.services.audit import export_month

    request = MonthlyExportEvent.model_validate(event)
    return export_month(load_config(Config), request.scheduled_time)

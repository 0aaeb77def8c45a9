"""Publish report: the last task of every run (workflow task), and the compliance digest.

A run's summary (``kind: wave`` for a gated wave, otherwise a patch-instance run) becomes
its stored, indexed and announced report; the one-time digest schedule's
``{"kind": "compliance-digest"}`` sends the compliance digest, and the hourly
``{"kind": "wave-notice"}`` the advance notices of waves (``fleetpatch.services.notices``).
``fleetpatch.services.reports`` says what each does and why it is safe to repeat.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented
from pydantic import Field


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    bucket: str = Field(alias="FLEETPATCH_ARTIFACTS_BUCKET", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)
    # issue 22: shared with the organization's central account (docs/multi-account.md).
    stage: str = Field(alias="FLEETPATCH_STAGE", min_length=1)
    central_bucket: str = Field(alias="FLEETPATCH_CENTRAL_REPORTS_BUCKET")
    dead_letter_queue_url: str = Field(alias="FLEETPATCH_DEAD_LETTER_QUEUE_URL", min_length=10)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch.launch_summary import InstanceRunSummary
    from fleetpatch.services.notices import send_wave_notices
    from fleetpatch.services.reports import publish_run_report, send_compliance_digest
    from fleetpatch.wave_report import WaveRunSummary

    config = load_config(Config)
    if event.get("kind") == "compliance-digest":
        return send_compliance_digest(config, event.get("due"))
    if event.get("kind") == "wave-notice":
        return send_wave_notices(config)
    run = (
        WaveRunSummary.model_validate(event)
        if event.get("kind") == "wave"
        else InstanceRunSummary.model_validate(event)
    )
    return publish_run_report(run, config)

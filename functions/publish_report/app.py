"""Publish report: the last task of every run (workflow task), and the compliance digest.

A run's summary (``kind: wave`` for a gated wave, otherwise a patch-instance run) becomes
its stored, indexed and announced report; the one-time digest schedule's
``{"kind": "compliance-digest"}`` sends the compliance digest, and the hourly
``{"kind": "wave-notice"}`` the advance notices of waves (``fleetpatch.services.notices``).
``fleetpatch.services.reports`` says what each does and why it is safe to repeat.
"""

from __future__ import annotations

from typing import Any

from fleetpatch_lambda.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # Imported by the first invocation, not at cold start (issue 19).
    from fleetpatch_lambda.config import load_config
    from fleetpatch_lambda.inputs.publish_report import Config

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

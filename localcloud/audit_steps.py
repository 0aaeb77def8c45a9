"""The demo's evidence steps (issue 21): an auditor's export and Security Hub's findings.

``audit_export`` runs what ``fleetpatch export`` runs (``fleetpatch.audit_export_aws``,
read-only, through the AWS APIs) and keeps the CSV and the JSON for the reports folder;
``security_hub`` either enables Security Hub in the account and the policy's
``security_hub`` switch (what an operator does: ``aws securityhub enable-security-hub``
and a policy deploy) or reads the findings the control plane imported. Nothing here
decides what the control plane does.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from fleetpatch.audit_export_aws import gather
from fleetpatch.contracts.names import policy_parameter_name
from fleetpatch.policy import CompiledPolicy
from localcloud.cloud import LocalCloud
from localcloud.recorder import Recorder
from localcloud.scenario import AuditExportStep, SecurityHubStep

STAGE = "default"  # the template's default Stage, which scenarios deploy


def play(
    cloud: LocalCloud,
    step: AuditExportStep | SecurityHubStep,
    recorder: Recorder,
    outputs: dict[str, str],
) -> None:
    """Play one evidence step; files for the reports folder go into ``outputs``."""
    if isinstance(step, AuditExportStep):
        _export(cloud, step.audit_export.since_days, recorder, outputs)
    elif step.security_hub.action == "enable":
        _enable_security_hub(cloud, recorder)
    else:
        _show_findings(cloud, recorder, outputs)


def _policy(cloud: LocalCloud) -> tuple[str, dict[str, Any]]:
    name = policy_parameter_name(STAGE)
    value = cloud.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    return name, json.loads(value)


def _export(cloud: LocalCloud, days: int, recorder: Recorder, outputs: dict[str, str]) -> None:
    assert cloud.stack is not None
    now = cloud.clock.now()
    export = gather(
        cloud.client,
        table=cloud.stack.physical_id("StateTable"),
        bucket=cloud.stack.physical_id("ArtifactsBucket"),
        policy=CompiledPolicy.model_validate(_policy(cloud)[1]),
        since=now - timedelta(days=days),
        now=now,
    )
    stem = f"audit/patches-{now:%Y%m%dT%H%MZ}"
    outputs[f"{stem}.csv"] = export.to_csv()
    outputs[f"{stem}.json"] = export.to_json()
    summary = export.summary()
    states = ", ".join(f"{n} {state}" for state, n in summary["states"].items())
    recorder.note(
        "step",
        f"audit export (fleetpatch export --since {days}d): {summary['rows']} rows, "
        f"{summary['instances']} instances ({states}) -> {stem}.csv",
    )


def _enable_security_hub(cloud: LocalCloud, recorder: Recorder) -> None:
    cloud.client("securityhub").enable_security_hub()
    name, policy = _policy(cloud)
    policy["securityHub"] = {"enabled": True}
    cloud.client("ssm").put_parameter(
        Name=name,
        Value=json.dumps(policy, separators=(",", ":")),
        Type="String",
        Tier="Intelligent-Tiering",  # near the Standard tier's 4,096 characters
        Overwrite=True,
    )
    recorder.note("step", "Security Hub enabled; the policy's security_hub switch on")


def _show_findings(cloud: LocalCloud, recorder: Recorder, outputs: dict[str, str]) -> None:
    findings: list[dict[str, Any]] = []
    for page in cloud.client("securityhub").get_paginator("get_findings").paginate():
        findings += page["Findings"]
    ours = [f for f in findings if str(f.get("GeneratorId", "")).startswith("fleetpatch/")]
    outputs["audit/security-hub-findings.json"] = json.dumps(ours, indent=2, default=str)
    counts = Counter(
        f"{f['Compliance']['Status']}/{f['RecordState']}/{f['Workflow']['Status']}" for f in ours
    )
    listed = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())) or "none"
    recorder.note("step", f"Security Hub findings from fleetpatch: {listed}")
    for found in ours:
        if found["Compliance"]["Status"] == "FAILED":
            recorder.note("step", f"  {found['Severity']['Label']}: {found['Title']}")

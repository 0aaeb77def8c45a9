"""The demo's emergency step (issue 21): Inspector finds a CVE on named instances, and the
timeline shows what the emergency run reported, each instance's time to remediate.

The runner (localcloud.runner) plays the step and calls :func:`note_remediation` when the
scenario ends; nothing here decides what the control plane does: the findings go out as
Inspector's EventBridge events, and the deployed emergency function reacts to them.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.cloud import LocalCloud
from localcloud.recorder import Entry, Recorder
from localcloud.scenario import InspectorFinding

# The report lines worth a timeline entry (fleetpatch.emergency_report writes them).
_SHOWN = (
    "EMERGENCY run for",
    "time to remediate:",
    ": installs exactly",
    " remediated",
    "already fixed when found",
)


def instances_named(cloud: LocalCloud, name: str) -> list[str]:
    """The alive instances tagged ``Name: name``, in launch order."""
    found = cloud.client("ec2").describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ]
    )
    instances = sorted(
        (i for r in found["Reservations"] for i in r["Instances"]),
        key=lambda i: (i["LaunchTime"], i["AmiLaunchIndex"], i["InstanceId"]),
    )
    return [str(i["InstanceId"]) for i in instances]


def raise_findings(cloud: LocalCloud, spec: InspectorFinding, recorder: Recorder) -> None:
    if cloud.inspector is None:
        raise RuntimeError("the local cloud is not running")
    for name in spec.names:
        for instance_id in instances_named(cloud, name):
            cloud.inspector.raise_finding(instance_id, spec.cve, spec.severity)
            recorder.note(
                "step",
                f"Amazon Inspector finds {spec.cve} ({spec.severity}) on {name} ({instance_id})",
            )


def note_remediation(cloud: LocalCloud, bucket: str, recorder: Recorder) -> None:
    """Each emergency run's report lines (the CVE, its fix, each instance's time to remediate)."""
    s3 = cloud.client("s3")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="reports/")
        for item in page.get("Contents", [])
        if item["Key"].rsplit("/", 1)[-1].startswith("emergency-") and item["Key"].endswith(".json")
    ]
    for key in sorted(keys):
        report: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        notes: list[str] = report.get("notes", [])
        at = recorder.cloud.clock.now()
        shown = [n for n in notes if any(part in n for part in _SHOWN)]
        for line in shown:
            recorder.entries.append(Entry(at, "emergency", line))

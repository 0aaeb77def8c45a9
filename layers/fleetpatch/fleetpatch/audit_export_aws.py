"""Reading the evidence the audit export needs (the AWS side of :mod:`fleetpatch.audit_export`).

Read-only, batched as each API allows:

* ``ssm:DescribeInstanceInformation`` (50 a page): the managed instances;
* ``ssm:DescribeInstancePatchStates`` (50 instance ids a call): each one's patch group;
* ``ssm:DescribeInstancePatches`` (one instance, 50 a page, every page): its patches;
* ``ssm:DescribeEffectivePatchesForPatchBaseline`` (one call a page per baseline in use):
  the CVE ids of installed patches, which DescribeInstancePatches leaves out;
* ``ec2:DescribeTags`` (200 instance ids a call): Name and ``fleetpatch:skip`` tags;
* the state table: the report index (``Query`` on gsi1) and each instance's compliance
  history (``Query`` on its partition); the artifacts bucket: the reports' JSON
  (``s3:GetObject`` under ``reports/``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch import aws
from fleetpatch.audit_export import (
    NO_PATCH_DATA,
    Drift,
    Export,
    InstanceFacts,
    RunSpan,
    drifts_of,
    in_period,
    patch_row,
)
from fleetpatch.contracts import keys
from fleetpatch.policy import CompiledPolicy
from fleetpatch.report_index import ReportIndex
from fleetpatch.reports import RunReport
from fleetpatch.tags import SKIP_TAG_KEY

IDS_PER_PATCH_STATES_CALL = 50  # DescribeInstancePatchStates InstanceIds: 1-50
PATCHES_PAGE = 50  # DescribeInstancePatches MaxResults: 10-100
AGENTS_PAGE = 50  # DescribeInstanceInformation MaxResults: 5-50
TAGS_PER_CALL = 200  # DescribeTags: filter values per call
EFFECTIVE_PAGE = 100  # DescribeEffectivePatchesForPatchBaseline MaxResults: 1-100
MAX_REPORTS = 100_000


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def managed_instances(ssm: Any) -> list[str]:
    found: list[str] = []
    for page in aws.pages(ssm.describe_instance_information, MaxResults=AGENTS_PAGE):
        found += [i["InstanceId"] for i in page.get("InstanceInformationList", [])]
    return sorted(set(found))


def patch_states(ssm: Any, instance_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Instance id -> (patch group, baseline id)."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in _chunks(instance_ids, IDS_PER_PATCH_STATES_CALL):
        for page in aws.pages(ssm.describe_instance_patch_states, InstanceIds=chunk):
            for state in page.get("InstancePatchStates", []):
                found[state["InstanceId"]] = (
                    state.get("PatchGroup", ""),
                    state.get("BaselineId", ""),
                )
    return found


def baseline_cves(ssm: Any, baseline_ids: Iterable[str]) -> dict[str, list[str]]:
    """``name.arch`` -> CVE ids, from each baseline's approved patches.

    DescribeInstancePatches reports CVE ids only for Missing and Failed patches (API
    reference, PatchComplianceData.CVEIds); an installed patch's come from its baseline's
    effective patches (Linux: ``Patch.CVEIds``), one paged call per baseline.
    """
    found: dict[str, list[str]] = {}
    for baseline_id in sorted(set(b for b in baseline_ids if b)):
        for page in aws.pages(
            ssm.describe_effective_patches_for_patch_baseline,
            BaselineId=baseline_id,
            MaxResults=EFFECTIVE_PAGE,
        ):
            for effective in page.get("EffectivePatches", []):
                patch = effective.get("Patch", {})
                if patch.get("CVEIds") and patch.get("Name"):
                    found[f"{patch['Name']}.{patch.get('Arch', '')}"] = list(patch["CVEIds"])
    return found


def tags(ec2: Any, instance_ids: Sequence[str], key: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in _chunks(instance_ids, TAGS_PER_CALL):
        filters = [
            {"Name": "resource-type", "Values": ["instance"]},
            {"Name": "resource-id", "Values": chunk},
            {"Name": "key", "Values": [key]},
        ]
        for page in aws.pages(ec2.describe_tags, Filters=filters, MaxResults=1000):
            for tag in page.get("Tags", []):
                found[tag["ResourceId"]] = tag.get("Value", "")
    return found


def instance_patches(ssm: Any, instance_id: str) -> list[dict[str, Any]]:
    """Its patches; none for a host Systems Manager no longer answers for (InvalidInstanceId:
    stopped, terminated or deregistered), which the export shows as having no patch data."""
    found: list[dict[str, Any]] = []
    try:
        for page in aws.pages(
            ssm.describe_instance_patches, InstanceId=instance_id, MaxResults=PATCHES_PAGE
        ):
            found += page.get("Patches", [])
    except ssm.exceptions.InvalidInstanceId:
        return []
    return found


def run_spans(
    dynamodb: Any, s3: Any, *, table: str, bucket: str, since: datetime, now: Callable[[], float]
) -> tuple[list[RunSpan], list[str]]:
    """The runs that ended since ``since``, per instance, from their stored reports."""
    spans: list[RunSpan] = []
    notes: list[str] = []
    for entry in ReportIndex(dynamodb, table, now).list(since, limit=MAX_REPORTS):
        key = entry.get("json_key")
        if not key or entry.get("kind") == "compliance-digest":
            continue
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            notes.append(f"report {entry.get('run_id')} not read ({exc.response['Error']['Code']})")
            continue
        report = RunReport.model_validate_json(body)
        spans += [
            RunSpan(report.run_id, i.instance_id, report.started_at, report.ended_at)
            for i in report.instances()
        ]
    return spans, notes


def compliance_history(dynamodb: Any, table: str, instance_id: str) -> list[Drift]:
    changes: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {
            ":pk": {"S": keys.instance_pk(instance_id)},
            ":prefix": {"S": f"{keys.COMPLIANCE_SK}#"},
        },
    }
    while True:
        page = dynamodb.query(**kwargs)
        for item in page.get("Items", []):
            changes.append(
                {
                    "at": keys.compliance_history_time(item["sk"]["S"]),
                    "to": item.get("to", {}).get("S", ""),
                    "severity": item.get("severity", {}).get("S", ""),
                }
            )
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return drifts_of(changes, instance_id)


def gather(
    clients: Callable[[str], Any],
    *,
    table: str,
    bucket: str,
    policy: CompiledPolicy,
    since: datetime,
    now: datetime,
) -> Export:
    """Every managed instance's patches (gaps now, installs since ``since``), with their runs,
    exceptions and the period's time to remediate."""
    ssm, ec2, dynamodb = clients("ssm"), clients("ec2"), clients("dynamodb")
    export = Export(since=since, until=now)
    ids = managed_instances(ssm)
    states = patch_states(ssm, ids)
    cves = baseline_cves(ssm, (baseline for _, baseline in states.values()))
    names = tags(ec2, ids, "Name")
    # An instance never scanned has no patch state: its patch group from its tag (either
    # spelling Patch Manager reads).
    tagged_groups = tags(ec2, ids, "PatchGroup") | tags(ec2, ids, "Patch Group")
    skips = tags(ec2, ids, SKIP_TAG_KEY)
    spans, export.notes = run_spans(
        dynamodb, clients("s3"), table=table, bucket=bucket, since=since, now=now.timestamp
    )
    for instance_id in ids:
        group = states.get(instance_id, ("", ""))[0] or tagged_groups.get(instance_id, "")
        facts = InstanceFacts(
            instance_id=instance_id,
            name=names.get(instance_id, ""),
            patch_group=group,
            environment=policy.environment_of(group) or "",
            skip_tag=skips.get(instance_id),
        )
        patches = instance_patches(ssm, instance_id) or [NO_PATCH_DATA]
        for reported in patches:
            patch = reported
            if not reported.get("CVEIds") and reported.get("KBId") in cves:
                patch = {**reported, "CVEIds": ",".join(cves[reported["KBId"]])}
            row = patch_row(facts, patch, spans=spans, exclusions=policy.exclusions, at=now)
            if in_period(row, since, now):
                export.rows.append(row)
        export.drifts += compliance_history(dynamodb, table, instance_id)
    export.rows.sort(key=lambda r: (r.environment, r.patch_group, r.instance_id, r.patch_id))
    return export

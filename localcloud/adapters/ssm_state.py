"""SSM patch state and compliance, served from the fleet simulator (see
localcloud.adapters.ssm).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult, EmptyResult

from localcloud.sim.run_command import (
    ComplianceItem,
    ComplianceRecord,
    PatchReport,
    state_label,
)

if TYPE_CHECKING:
    from moto.ssm.responses import SimpleSystemManagerResponse


from localcloud.adapters.ssm_api import (
    SsmApiError,
    api,
    compare_value,
    paginate,
    require_fleet,
    validation_error,
)

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

# --- patch state ---------------------------------------------------------------------------------


def _render_patch_state(report: PatchReport) -> dict[str, Any]:
    non_compliant = report.non_compliant
    critical = {s.patch.kb_id for s in non_compliant if s.compliance_level == "CRITICAL"}
    security = {s.patch.kb_id for s in non_compliant if s.patch.security}
    state: dict[str, Any] = {
        "InstanceId": report.instance_id,
        "PatchGroup": report.patch_group,
        "BaselineId": report.baseline_id,
        "SnapshotId": report.snapshot_id,
        "OwnerInformation": "",
        "InstalledCount": report.count("INSTALLED"),
        "InstalledOtherCount": report.count("INSTALLED_OTHER"),
        "InstalledPendingRebootCount": report.count("INSTALLED_PENDING_REBOOT"),
        "InstalledRejectedCount": report.count("INSTALLED_REJECTED"),
        "MissingCount": report.count("MISSING"),
        "FailedCount": report.count("FAILED"),
        "UnreportedNotApplicableCount": 0,
        "NotApplicableCount": 0,
        "OperationStartTime": report.started,
        "OperationEndTime": report.ended,
        "Operation": report.operation,
        "RebootOption": report.reboot_option,
        "CriticalNonCompliantCount": len(critical),
        "SecurityNonCompliantCount": len(security),
        "OtherNonCompliantCount": len({s.patch.kb_id for s in non_compliant} - critical - security),
    }
    if report.install_override_list:
        state["InstallOverrideList"] = report.install_override_list
    if report.last_no_reboot_install is not None:
        state["LastNoRebootInstallOperationTime"] = report.last_no_reboot_install
    return state


@api
def describe_instance_patch_states(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("DescribeInstancePatchStates")
    wanted = list(self._get_param("InstanceIds") or [])
    if len(wanted) > 50:
        raise validation_error(
            "instanceIds", wanted, "Member must have length less than or equal to 50"
        )
    reports = {r.instance_id: r for r in fleet.patch_states()}
    states = [_render_patch_state(reports[i]) for i in dict.fromkeys(wanted) if i in reports]
    page, token = paginate(self, states, 100)
    return ActionResult({"InstancePatchStates": page, **token})


_STATE_COUNT_KEYS = {
    "InstalledCount",
    "InstalledOtherCount",
    "InstalledPendingRebootCount",
    "InstalledRejectedCount",
    "MissingCount",
    "FailedCount",
    "NotApplicableCount",
    "UnreportedNotApplicableCount",
}


@api
def describe_instance_patch_states_for_patch_group(
    self: SimpleSystemManagerResponse,
) -> ActionResult:
    fleet = require_fleet("DescribeInstancePatchStatesForPatchGroup")
    group = self._get_param("PatchGroup")
    states = [_render_patch_state(r) for r in fleet.patch_states() if r.patch_group == group]
    for f in self._get_param("Filters") or []:
        if f["Key"] not in _STATE_COUNT_KEYS:
            raise SsmApiError("InvalidFilter", f"The filter key {f['Key']} is not valid.")
        states = [s for s in states if compare_value(s[f["Key"]], f["Values"], f["Type"])]
    page, token = paginate(self, states, 100)
    return ActionResult({"InstancePatchStates": page, **token})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CVE_STATES = frozenset({"MISSING", "FAILED"})


@api
def describe_instance_patches(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("DescribeInstancePatches")
    instance_id = self._get_param("InstanceId")
    instance = fleet.managed_instance(instance_id)
    if instance is None:
        raise SsmApiError("InvalidInstanceId", "")
    report = instance.patch_state
    patches: list[dict[str, Any]] = [
        {
            "Title": s.patch.title,
            "KBId": s.patch.kb_id,
            "Classification": s.patch.classification,
            "Severity": s.patch.severity,
            "State": s.state,
            "InstalledTime": s.installed_time or _EPOCH,
            # PatchComplianceData.CVEIds (one comma-separated string): AWS reports it only
            # for patches that are Missing or Failed, and leaves it out otherwise.
            **(
                {"CVEIds": ",".join(s.patch.cve_ids)}
                if s.patch.cve_ids and s.state in _CVE_STATES
                else {}
            ),
        }
        for s in (report.statuses if report is not None else ())
    ]
    fields = {"Classification": "Classification", "KBId": "KBId", "Severity": "Severity"}
    for f in self._get_param("Filters") or []:
        key, values = f["Key"], set(f.get("Values", []))
        if key == "State":
            patches = [p for p in patches if state_label(p["State"]) in values]
        elif key in fields:
            patches = [p for p in patches if p[fields[key]] in values]
        else:
            raise SsmApiError("InvalidFilter", f"The filter key {key} is not valid.")
    page, token = paginate(self, patches, 100)
    return ActionResult({"Patches": page, **token})


# --- compliance ----------------------------------------------------------------------------------


@api
def put_compliance_items(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("PutComplianceItems")
    if self._get_param("ResourceType") != "ManagedInstance":
        raise SsmApiError("InvalidResourceType", "ManagedInstance is the only supported type.")
    summary = self._get_param("ExecutionSummary") or {}
    executed = summary.get("ExecutionTime")
    record = ComplianceRecord(
        resource_id=self._get_param("ResourceId"),
        compliance_type=self._get_param("ComplianceType"),
        execution_time=datetime.fromtimestamp(float(executed), UTC)
        if executed is not None
        else fleet.clock.now(),
        execution_id=summary.get("ExecutionId"),
        execution_type=summary.get("ExecutionType"),
        items=tuple(
            ComplianceItem(
                id=item.get("Id", ""),
                title=item.get("Title", ""),
                status=item["Status"],
                severity=item["Severity"],
                details=item.get("Details") or {},
            )
            for item in self._get_param("Items") or []
        ),
    )
    fleet.put_compliance(record, partial=self._get_param("UploadType") == "PARTIAL")
    return EmptyResult()


def _execution_summary(record: ComplianceRecord) -> dict[str, Any]:
    summary: dict[str, Any] = {"ExecutionTime": record.execution_time}
    if record.execution_id is not None:
        summary["ExecutionId"] = record.execution_id
    if record.execution_type is not None:
        summary["ExecutionType"] = record.execution_type
    return summary


def _item_value(record: ComplianceRecord, item: ComplianceItem, key: str) -> str | None:
    return {
        "ComplianceType": record.compliance_type,
        "Status": item.status,
        "Severity": item.severity,
        "Id": item.id,
        "ExecutionId": record.execution_id,
    }.get(key)


@api
def list_compliance_items(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("ListComplianceItems")
    resource_ids = set(self._get_param("ResourceIds") or [])
    types = set(self._get_param("ResourceTypes") or ["ManagedInstance"])
    filters = self._get_param("Filters") or []
    for f in filters:
        if f["Key"] not in {"ComplianceType", "Status", "Severity", "Id", "ExecutionId"}:
            raise SsmApiError("InvalidFilter", f"The filter key {f['Key']} is not valid.")
    items = [
        {
            "ComplianceType": record.compliance_type,
            "ResourceType": record.resource_type,
            "ResourceId": record.resource_id,
            "Id": item.id,
            "Title": item.title,
            "Status": item.status,
            "Severity": item.severity,
            "ExecutionSummary": _execution_summary(record),
            "Details": dict(item.details),
        }
        for record in fleet.compliance.records()
        if (not resource_ids or record.resource_id in resource_ids)
        and record.resource_type in types
        for item in record.items
        if all(
            compare_value(
                _item_value(record, item, f["Key"]), f.get("Values", []), f.get("Type", "EQUAL")
            )
            for f in filters
        )
    ]
    page, token = paginate(self, items, 50)
    return ActionResult({"ComplianceItems": page, **token})


def _severity_summary(items: Iterable[ComplianceItem]) -> dict[str, int]:
    summary = dict.fromkeys(
        (
            "CriticalCount",
            "HighCount",
            "MediumCount",
            "LowCount",
            "InformationalCount",
            "UnspecifiedCount",
        ),
        0,
    )
    for item in items:
        summary[f"{item.severity.capitalize()}Count"] += 1
    return summary


@api
def list_resource_compliance_summaries(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("ListResourceComplianceSummaries")
    summaries: list[dict[str, Any]] = []
    for record in fleet.compliance.records():
        compliant = [i for i in record.items if i.status == "COMPLIANT"]
        non_compliant = [i for i in record.items if i.status == "NON_COMPLIANT"]
        summaries.append(
            {
                "ComplianceType": record.compliance_type,
                "ResourceType": record.resource_type,
                "ResourceId": record.resource_id,
                "Status": record.status,
                "OverallSeverity": record.overall_severity,
                "ExecutionSummary": _execution_summary(record),
                "CompliantSummary": {
                    "CompliantCount": len(compliant),
                    "SeveritySummary": _severity_summary(compliant),
                },
                "NonCompliantSummary": {
                    "NonCompliantCount": len(non_compliant),
                    "SeveritySummary": _severity_summary(non_compliant),
                },
            }
        )
    for f in self._get_param("Filters") or []:
        key = f["Key"]
        if key not in {"ComplianceType", "Status", "OverallSeverity", "ResourceId", "ResourceType"}:
            raise SsmApiError("InvalidFilter", f"The filter key {key} is not valid.")
        summaries = [
            s
            for s in summaries
            if compare_value(s[key], f.get("Values", []), f.get("Type", "EQUAL"))
        ]
    page, token = paginate(self, summaries, 50)
    return ActionResult({"ResourceComplianceSummaryItems": page, **token})

"""The event contract: every EventBridge event the control plane consumes.

Events are validated at the edge into these models. ``source`` must match the
``detail-type`` (a spoofed ``source`` is rejected), ids are constrained to AWS's
formats, and an unknown ``detail-type`` is rejected rather than ignored. Fields AWS may
add later are tolerated in ``detail``; fields we read are strict.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    ValidationError,
)

from fleetpatch.errors import InvalidEventError
from fleetpatch.ids import (
    AccountId,
    AutoScalingGroupName,
    DocumentName,
    InstanceId,
    LifecycleHookName,
    ManagedInstanceId,
    PatchBaselineId,
    Region,
    Uuid,
    WindowId,
)

# --- times --------------------------------------------------------------------------------

# EventBridge and SSM write instants as ISO 8601 text with a zone ("2026-11-14T06:41:07Z").
# Pydantic alone would also take epoch numbers, a bare date or a time without a zone: none
# comes from AWS, and a naive time cannot be ordered against the aware ones we store.
_ISO_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def _iso_instant_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value  # built in code (tests, the CLI), not read from an event
    if not isinstance(value, str):
        raise ValueError(
            f"expected ISO 8601 text such as 2026-11-14T06:41:07Z, got {type(value).__name__}"
        )
    if not _ISO_INSTANT.fullmatch(value):
        raise ValueError("expected ISO 8601 with a time zone, such as 2026-11-14T06:41:07Z")
    return value


def _in_utc(value: datetime) -> datetime:
    # One zone for every stored time: ledger rows compare event times as ISO text.
    return value.astimezone(UTC)


EventTime = Annotated[AwareDatetime, BeforeValidator(_iso_instant_text), AfterValidator(_in_utc)]


# Free text AWS bounds (lifecycle hook metadata 1023, SSM owner information 128, archive
# replay names 64): longer is not an AWS event, and would only fail later, at a table write.
NotificationMetadata = Annotated[str, StringConstraints(max_length=1023)]
OwnerInformation = Annotated[str, StringConstraints(max_length=128)]
Severity = Annotated[str, StringConstraints(max_length=64)]
ReplayName = Annotated[str, StringConstraints(max_length=64)]

# --- detail-types and their sources -------------------------------------------------------

LAUNCH_LIFECYCLE_ACTION = "EC2 Instance-launch Lifecycle Action"
EC2_STATE_CHANGE = "EC2 Instance State-change Notification"
WINDOW_EXECUTION = "Maintenance Window Execution State-change Notification"
WINDOW_TASK_EXECUTION = "Maintenance Window Task Execution State-change Notification"
WINDOW_TARGET_INVOCATION = "Maintenance Window Task Target Invocation State-change Notification"
COMPLIANCE_CHANGE = "Configuration Compliance State Change"
COMMAND_INVOCATION = "EC2 Command Invocation Status-change Notification"
COMMAND_STATUS = "EC2 Command Status-change Notification"
INSPECTOR_FINDING = "Inspector2 Finding"
EMERGENCY_REQUESTED = "Emergency Patch Requested"  # fleetpatch.operator: docs/emergency.md

# Maintenance window execution, task execution and target invocation share these.
WindowStatus = Literal[
    "PENDING",
    "IN_PROGRESS",
    "SUCCESS",
    "FAILED",
    "TIMED_OUT",
    "CANCELLING",
    "CANCELLED",
    "SKIPPED_OVERLAPPING",
]
TERMINAL_WINDOW_STATUSES: frozenset[str] = frozenset(
    {"SUCCESS", "FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED_OVERLAPPING"}
)

CommandInvocationStatus = Literal[
    "Pending",
    "InProgress",
    "Delayed",
    "Success",
    "Cancelling",
    "Cancelled",
    "Failed",
    "TimedOut",
    "DeliveryTimedOut",
    "ExecutionTimedOut",
    "Undeliverable",
    "Terminated",
    "InvalidPlatform",
    "AccessDenied",
]
TERMINAL_COMMAND_STATUSES: frozenset[str] = frozenset(
    {
        "Success",
        "Cancelled",
        "Failed",
        "TimedOut",
        "DeliveryTimedOut",
        "ExecutionTimedOut",
        "Undeliverable",
        "Terminated",
        "InvalidPlatform",
        "AccessDenied",
    }
)
# The documents fleetpatch sends; status changes of any other command are not ours.
PATCH_DOCUMENTS: frozenset[str] = frozenset(
    {"AWS-RunPatchBaseline", "AWS-RunPatchBaselineWithHooks"}
)

AutoScalingLocation = Literal["EC2", "AutoScalingGroup", "WarmPool"]
InstanceState = Literal["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]


class _Detail(BaseModel):
    # AWS adds fields to events over time; tolerate them, but validate what we read.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class LaunchLifecycleActionDetail(_Detail):
    lifecycle_action_token: Uuid = Field(alias="LifecycleActionToken")
    auto_scaling_group_name: AutoScalingGroupName = Field(alias="AutoScalingGroupName")
    lifecycle_hook_name: LifecycleHookName = Field(alias="LifecycleHookName")
    instance_id: InstanceId = Field(alias="EC2InstanceId")
    lifecycle_transition: Literal["autoscaling:EC2_INSTANCE_LAUNCHING"] = Field(
        alias="LifecycleTransition"
    )
    notification_metadata: NotificationMetadata | None = Field(
        default=None, alias="NotificationMetadata"
    )
    # Present with warm pools: EC2 -> WarmPool on the way in, WarmPool -> AutoScalingGroup out.
    origin: AutoScalingLocation | None = Field(default=None, alias="Origin")
    destination: AutoScalingLocation | None = Field(default=None, alias="Destination")


class InstanceStateChangeDetail(_Detail):
    instance_id: InstanceId = Field(alias="instance-id")
    state: InstanceState


class WindowExecutionDetail(_Detail):
    window_id: WindowId = Field(alias="window-id")
    window_execution_id: Uuid = Field(alias="window-execution-id")
    status: WindowStatus
    start_time: EventTime | None = Field(default=None, alias="start-time")
    end_time: EventTime | None = Field(default=None, alias="end-time")


class WindowTaskExecutionDetail(WindowExecutionDetail):
    task_execution_id: Uuid = Field(alias="task-execution-id")


class WindowTargetInvocationDetail(WindowTaskExecutionDetail):
    # AWS sends no instance id here: per-instance results come from the Run Command APIs.
    window_target_id: Uuid = Field(alias="window-target-id")
    owner_information: OwnerInformation | None = Field(default=None, alias="owner-information")


class PatchComplianceDetail(_Detail):
    resource_type: Literal["managed-instance"] = Field(alias="resource-type")
    resource_id: ManagedInstanceId = Field(alias="resource-id")
    compliance_status: Literal["compliant", "non_compliant"] = Field(alias="compliance-status")
    compliance_type: Literal["Patch"] = Field(alias="compliance-type")
    patch_baseline_id: PatchBaselineId = Field(alias="patch-baseline-id")
    severity: Severity | None = None


class AssociationComplianceDetail(_Detail):
    resource_type: Literal["managed-instance"] = Field(alias="resource-type")
    resource_id: ManagedInstanceId = Field(alias="resource-id")
    compliance_status: Literal["compliant", "non_compliant"] = Field(alias="compliance-status")
    # Real events say "Association"; some carry the association id as "Association:<id>".
    compliance_type: Annotated[str, StringConstraints(pattern=r"^Association(:.+)?$")] = Field(
        alias="compliance-type"
    )
    last_runtime: EventTime | None = Field(default=None, alias="last-runtime")


def _compliance_variant(value: Any) -> str | None:
    kind = value.get("compliance-type") if isinstance(value, Mapping) else None
    if not isinstance(kind, str):
        return None
    if kind == "Patch":
        return "patch"
    if kind == "Association" or kind.startswith("Association:"):
        return "association"
    return None


ComplianceDetail = Annotated[
    Annotated[PatchComplianceDetail, Tag("patch")]
    | Annotated[AssociationComplianceDetail, Tag("association")],
    Discriminator(
        _compliance_variant,
        custom_error_type="compliance_type",
        custom_error_message="compliance-type must be 'Patch' or 'Association'",
    ),
]


class CommandInvocationDetail(_Detail):
    command_id: Uuid = Field(alias="command-id")
    document_name: DocumentName = Field(alias="document-name")
    instance_id: ManagedInstanceId = Field(alias="instance-id")
    requested_date_time: EventTime | None = Field(default=None, alias="requested-date-time")
    status: CommandInvocationStatus


class CommandStatusDetail(_Detail):
    """A whole command's status (all its invocations): what a batch of instances waits on."""

    command_id: Uuid = Field(alias="command-id")
    document_name: DocumentName = Field(alias="document-name")
    expire_after: EventTime | None = Field(default=None, alias="expire-after")
    parameters: dict[str, list[str]] = Field(default_factory=dict)
    requested_date_time: EventTime | None = Field(default=None, alias="requested-date-time")
    status: CommandInvocationStatus


# --- emergencies (docs/emergency.md) ----------------------------------------------------------

CveId = Annotated[str, StringConstraints(pattern=r"^CVE-[0-9]{4}-[0-9]{4,7}$")]
KbId = Annotated[str, StringConstraints(pattern=r"^KB[0-9]{6,8}$")]
PackageName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}$")]
FindingSeverity = Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNTRIAGED"]
_INSPECTOR_TIME = "%b %d, %Y, %I:%M:%S %p"


def _inspector_time(value: Any) -> Any:
    # Inspector's events write instants as "Jan 19, 2023, 10:46:15 PM" (UTC), its API as
    # ISO 8601: take either.
    if isinstance(value, str) and not _ISO_INSTANT.fullmatch(value):
        try:
            return datetime.strptime(value, _INSPECTOR_TIME).replace(tzinfo=UTC)
        except ValueError:
            raise ValueError(
                "expected Inspector's time, such as 'Jan 19, 2023, 10:46:15 PM', or ISO 8601"
            ) from None
    return _iso_instant_text(value)


InspectorTime = Annotated[AwareDatetime, BeforeValidator(_inspector_time), AfterValidator(_in_utc)]


class VulnerablePackage(_Detail):
    name: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    arch: Annotated[str, StringConstraints(max_length=64)] | None = None


class PackageVulnerabilityDetails(_Detail):
    vulnerability_id: CveId = Field(alias="vulnerabilityId")
    vulnerable_packages: list[VulnerablePackage] = Field(
        default_factory=list, alias="vulnerablePackages"
    )


class InspectorResource(_Detail):
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    id: Annotated[str, StringConstraints(min_length=1, max_length=341)]


class InspectorFindingDetail(_Detail):
    """An Amazon Inspector finding, as its EventBridge event carries it (the API's Finding)."""

    finding_arn: Annotated[
        str,
        StringConstraints(
            pattern=r"^arn:aws[a-z-]*:inspector2:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]:[0-9]{12}"
            r":finding/[a-f0-9]{32}$"
        ),
    ] = Field(alias="findingArn")
    severity: FindingSeverity
    status: Literal["ACTIVE", "SUPPRESSED", "CLOSED"]
    type: Literal["PACKAGE_VULNERABILITY", "NETWORK_REACHABILITY", "CODE_VULNERABILITY"]
    first_observed_at: InspectorTime = Field(alias="firstObservedAt")
    package_vulnerability_details: PackageVulnerabilityDetails | None = Field(
        default=None, alias="packageVulnerabilityDetails"
    )
    resources: list[InspectorResource] = Field(min_length=1, max_length=10)

    def instance_ids(self) -> list[str]:
        """The EC2 instances the finding is about (an ARN's or an id's last part)."""
        return [r.id.rsplit("/", 1)[-1] for r in self.resources if r.type == "AWS_EC2_INSTANCE"]


class EmergencyRequestDetail(BaseModel):
    """An operator's own emergency request (``fleetpatch.operator``): strict, every field read."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
    cve: CveId
    kbs: list[KbId] = Field(default_factory=list, max_length=50)
    packages: list[PackageName] = Field(default_factory=list, max_length=50)
    environment: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,30}$")] | None = None
    severity: FindingSeverity | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=256)] = Field(
        alias="requested-by"
    )
    override_freeze: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None, alias="override-freeze"
    )


# --- the envelope ---------------------------------------------------------------------------


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    version: Literal["0"]
    id: Uuid
    account: AccountId
    time: EventTime
    region: Region
    resources: list[str]
    # Some producers add replay-name (archive replays); accept it, it changes nothing.
    replay_name: ReplayName | None = Field(default=None, alias="replay-name")


class LaunchLifecycleActionEvent(_Envelope):
    detail_type: Literal["EC2 Instance-launch Lifecycle Action"] = Field(alias="detail-type")
    source: Literal["aws.autoscaling"]
    detail: LaunchLifecycleActionDetail


class InstanceStateChangeEvent(_Envelope):
    detail_type: Literal["EC2 Instance State-change Notification"] = Field(alias="detail-type")
    source: Literal["aws.ec2"]
    detail: InstanceStateChangeDetail


class WindowExecutionEvent(_Envelope):
    detail_type: Literal["Maintenance Window Execution State-change Notification"] = Field(
        alias="detail-type"
    )
    source: Literal["aws.ssm"]
    detail: WindowExecutionDetail


class WindowTaskExecutionEvent(_Envelope):
    detail_type: Literal["Maintenance Window Task Execution State-change Notification"] = Field(
        alias="detail-type"
    )
    source: Literal["aws.ssm"]
    detail: WindowTaskExecutionDetail


class WindowTargetInvocationEvent(_Envelope):
    detail_type: Literal["Maintenance Window Task Target Invocation State-change Notification"] = (
        Field(alias="detail-type")
    )
    source: Literal["aws.ssm"]
    detail: WindowTargetInvocationDetail


class ComplianceChangeEvent(_Envelope):
    detail_type: Literal["Configuration Compliance State Change"] = Field(alias="detail-type")
    source: Literal["aws.ssm"]
    detail: ComplianceDetail


class CommandInvocationEvent(_Envelope):
    detail_type: Literal["EC2 Command Invocation Status-change Notification"] = Field(
        alias="detail-type"
    )
    source: Literal["aws.ssm"]
    detail: CommandInvocationDetail


class CommandStatusEvent(_Envelope):
    detail_type: Literal["EC2 Command Status-change Notification"] = Field(alias="detail-type")
    source: Literal["aws.ssm"]
    detail: CommandStatusDetail


class InspectorFindingEvent(_Envelope):
    detail_type: Literal["Inspector2 Finding"] = Field(alias="detail-type")
    source: Literal["aws.inspector2"]
    detail: InspectorFindingDetail


class EmergencyRequestEvent(_Envelope):
    detail_type: Literal["Emergency Patch Requested"] = Field(alias="detail-type")
    source: Literal["fleetpatch.operator"]
    detail: EmergencyRequestDetail


FleetEvent = Annotated[
    LaunchLifecycleActionEvent
    | InstanceStateChangeEvent
    | WindowExecutionEvent
    | WindowTaskExecutionEvent
    | WindowTargetInvocationEvent
    | ComplianceChangeEvent
    | CommandInvocationEvent
    | CommandStatusEvent
    | InspectorFindingEvent
    | EmergencyRequestEvent,
    Field(discriminator="detail_type"),
]


@cache
def _fleet_event() -> TypeAdapter[FleetEvent]:
    """Built on first use: compiling every event model costs ~20 ms a cold start would pay."""
    return TypeAdapter(FleetEvent)


KNOWN_DETAIL_TYPES: tuple[str, ...] = (
    LAUNCH_LIFECYCLE_ACTION,
    EC2_STATE_CHANGE,
    WINDOW_EXECUTION,
    WINDOW_TASK_EXECUTION,
    WINDOW_TARGET_INVOCATION,
    COMPLIANCE_CHANGE,
    COMMAND_INVOCATION,
    COMMAND_STATUS,
    INSPECTOR_FINDING,
    EMERGENCY_REQUESTED,
)


_COMPLIANCE_TAGS = frozenset({"patch", "association"})


def _field_path(loc: tuple[int | str, ...], detail_type: str | None) -> str:
    # Pydantic puts the union tags into the location: the detail-type first (e.g.
    # ("EC2 Instance-...", "detail", ...)), and for compliance the variant ("patch",
    # "association") after "detail". Operators want the path inside the event, so drop
    # them there and only there: a key of the event may be spelled like a tag.
    parts = list(loc)
    if parts and parts[0] == detail_type:
        parts = parts[1:]
    if (
        detail_type == COMPLIANCE_CHANGE
        and len(parts) >= 2
        and parts[0] == "detail"
        and parts[1] in _COMPLIANCE_TAGS
    ):
        del parts[1]
    return ".".join(str(p) for p in parts) if parts else "event"


def _first_error(exc: ValidationError, raw: Mapping[str, Any]) -> tuple[str, str]:
    detail_type = raw.get("detail-type")
    error = exc.errors(include_url=False)[0]
    loc = tuple(error["loc"])
    dt = detail_type if isinstance(detail_type, str) else None
    if error["type"] == "union_tag_invalid":
        return "detail-type", (
            f"unknown detail-type {detail_type!r}; expected one of: {', '.join(KNOWN_DETAIL_TYPES)}"
        )
    if error["type"] == "union_tag_not_found":
        return "detail-type", "field required"
    path = _field_path(loc, dt)
    if error["type"] == "compliance_type":
        detail = raw.get("detail")
        if not isinstance(detail, Mapping):
            return "detail", f"expected a JSON object, got {type(detail).__name__}"
        kind = detail.get("compliance-type")
        return "detail.compliance-type", f"must be 'Patch' or 'Association' (got {kind!r})"
    if path == "source" and error["type"] == "literal_error":
        return "source", (
            f"{raw.get('source')!r} is not the source of {detail_type!r} events "
            f"(expected {error.get('ctx', {}).get('expected', '?')})"
        )
    message = error["msg"]
    if error["type"] == "missing":
        message = "field required"
    elif "input" in error and error["type"] not in {"missing"}:
        shown = error["input"]
        if isinstance(shown, str | int | float | bool) or shown is None:
            message = f"{message} (got {shown!r})"
    return path, message


def parse_event(raw: Any, *, source_name: str | None = None) -> FleetEvent:
    """Validate a decoded EventBridge event; raise :class:`InvalidEventError` naming the field."""
    if not isinstance(raw, Mapping):
        raise InvalidEventError(
            "event", f"expected a JSON object, got {type(raw).__name__}", source_name=source_name
        )
    try:
        return _fleet_event().validate_python(raw)
    except ValidationError as exc:
        field, message = _first_error(exc, raw)
        raise InvalidEventError(field, message, source_name=source_name) from exc


def parse_event_json(text: str | bytes, *, source_name: str | None = None) -> FleetEvent:
    """Decode and validate; malformed JSON is reported as an invalid event, not a crash."""
    if not isinstance(text, str | bytes | bytearray):
        raise InvalidEventError(
            "event", f"expected JSON text, got {type(text).__name__}", source_name=source_name
        )
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidEventError("event", f"not valid JSON: {exc}", source_name=source_name) from exc
    except RecursionError as exc:
        # json recurses per nesting level; no event nests more than a few levels.
        raise InvalidEventError(
            "event", "not valid JSON: nested too deeply", source_name=source_name
        ) from exc
    return parse_event(raw, source_name=source_name)

"""Scenario files: a simulated fleet and the steps to play on the local cloud.

    name: demo
    fleet:
      - name: db-test-rhel
        os: REDHAT_ENTERPRISE_LINUX
        tags: {Patch Group: patch_test_0600_batch_1, Environment: test}
    auto_scaling_groups:
      - name: web-test
        os: AMAZON_LINUX_2023
        lifecycle_hook: {name: fleetpatch-launch, heartbeat_timeout: 900}
        target_groups: [web-tg]                      # attached (optional)
        desired_capacity: 2                          # InService at the start (optional)
    target_groups:                                   # ELBv2 (optional)
      - name: web-tg
        port: 80
        deregistration_delay_seconds: 300
        health_check: {interval_seconds: 10, healthy_threshold: 3, unhealthy_threshold: 2}
    steps:
      - scale_out: {group: web-test, count: 2, behaviours: [{}, {never_online: true}]}
      - terminate_instance: {name: web-test, index: 0}
      - put_event: {file: events/aws.ec2/instance-running.json}
      - inspector_finding: {names: [db-test-rhel], cve: CVE-2024-6387, severity: CRITICAL}
      - advance: {minutes: 30}
      - settle: {}

Every step is a mapping with exactly one key, the step's kind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from localcloud.sim.patch_catalogue import OperatingSystem  # what the simulated fleet can run


class ScenarioError(ValueError):
    """A scenario names what the deployed stack does not have; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BehaviourSpec(_Strict):
    """How one simulated instance behaves (defaults: a healthy instance)."""

    agent_delay_seconds: float = Field(default=30.0, ge=0)
    never_online: bool = False
    install_fails: bool = False
    command_times_out: bool = False
    command_duration_seconds: float = Field(default=180.0, gt=0)
    reboot_seconds: float = Field(default=60.0, ge=0)
    # EC2 status checks stay `initializing` this long after a boot.
    status_check_seconds: float = Field(default=30.0, ge=0)
    # The first reboot after an install breaks the application (ELB health, app_healthy)
    # until its root volume is replaced from a snapshot taken before that install.
    unhealthy_after_reboot: bool = False
    # ... and fails the EC2 instance status check (impaired).
    status_impaired_after_reboot: bool = False
    # CreateReplaceRootVolumeTask on this instance ends `failed`.
    rollback_fails: bool = False
    # SSM document name -> exit code when it runs on this instance (default 0: Success).
    hook_exit_codes: dict[str, int] = Field(default_factory=dict)


class HealthCheckSpec(_Strict):
    """A target group's health check (ELBv2's ranges)."""

    interval_seconds: int = Field(default=10, ge=5, le=300)
    healthy_threshold: int = Field(default=3, ge=2, le=10)
    unhealthy_threshold: int = Field(default=2, ge=2, le=10)


class TargetGroupSpec(_Strict):
    """An ELBv2 target group (instance targets, HTTP) in the default VPC."""

    name: str = Field(pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")
    port: int = Field(default=80, ge=1, le=65535)
    deregistration_delay_seconds: int = Field(default=300, ge=0, le=3600)
    health_check: HealthCheckSpec = HealthCheckSpec()


class InstanceSpec(_Strict):
    name: str = Field(min_length=1, max_length=255)
    os: OperatingSystem
    tags: dict[str, str] = Field(default_factory=dict)
    count: int = Field(default=1, ge=1, le=10_000)
    behaviour: BehaviourSpec = BehaviourSpec()
    # Target groups (top-level names) every instance of this entry is registered in.
    target_groups: list[str] = Field(default_factory=list)


class LifecycleHookSpec(_Strict):
    name: str = Field(default="fleetpatch-launch", pattern=r"^[A-Za-z0-9\-_/]{1,255}$")
    heartbeat_timeout: int = Field(default=900, ge=30, le=7200)
    default_result: Literal["CONTINUE", "ABANDON"] = "ABANDON"
    notification_metadata: str | None = None


class WarmPoolSpec(_Strict):
    min_size: int = Field(default=0, ge=0)
    pool_state: Literal["Stopped", "Running", "Hibernated"] = "Stopped"


class GroupSpec(_Strict):
    name: str = Field(min_length=1, max_length=255)
    os: OperatingSystem
    tags: dict[str, str] = Field(default_factory=dict)
    min_size: int = Field(default=0, ge=0)
    max_size: int = Field(default=10, ge=1)
    # Instances InService at the start (launched before the lifecycle hook exists), with
    # the behaviours of the first ones in launch order (the rest healthy).
    desired_capacity: int = Field(default=0, ge=0)
    behaviours: list[BehaviourSpec] = Field(default_factory=list)
    lifecycle_hook: LifecycleHookSpec | None = None
    warm_pool: WarmPoolSpec | None = None
    # Target groups (top-level names) attached to the group: InService members are registered.
    target_groups: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sizes(self) -> GroupSpec:
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError("need min_size <= desired_capacity <= max_size")
        if len(self.behaviours) > self.desired_capacity:
            raise ValueError("behaviours: more than desired_capacity instances")
        return self


class ScaleOut(_Strict):
    group: str
    count: int = Field(ge=1, le=1000)
    # Behaviours of the instances this scale-out launches, in launch order; the rest healthy.
    behaviours: list[BehaviourSpec] = Field(default_factory=list)


class RunWindow(_Strict):
    window: str = Field(min_length=1, description="maintenance window name or id")


class PutEvent(_Strict):
    file: Path


class Advance(_Strict):
    seconds: float = Field(default=0, ge=0)
    minutes: float = Field(default=0, ge=0)
    hours: float = Field(default=0, ge=0)

    @property
    def total_seconds(self) -> float:
        return self.seconds + 60 * self.minutes + 3600 * self.hours


class Settle(_Strict):
    max_hours: float = Field(
        default=48, gt=0, description="stop waiting after this much simulated time"
    )


class Note(_Strict):
    text: str


class TerminateInstance(_Strict):
    """EC2 TerminateInstances of one instance tagged ``Name: name`` (a fleet entry or a group)."""

    name: str = Field(min_length=1)
    index: int = Field(default=0, ge=0, description="which one, in launch order (alive only)")


class InspectorFinding(_Strict):
    """Amazon Inspector finds ``cve`` on each instance tagged ``Name: <name>`` (alive ones)."""

    names: list[str] = Field(min_length=1)
    cve: str = Field(pattern=r"^CVE-[0-9]{4}-[0-9]{4,7}$")
    severity: Literal["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNTRIAGED"] = (
        "CRITICAL"
    )


class InspectorFindingStep(_Strict):
    inspector_finding: InspectorFinding


class ClosedPeriod(_Strict):
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> ClosedPeriod:
        if self.start.tzinfo is None or self.end.tzinfo is None or self.end <= self.start:
            raise ValueError("a closed period has a start and a later end, each with a timezone")
        return self


class ChangeFreeze(_Strict):
    """Create an SSM Change Calendar closed from now for ``closed_minutes`` and name it in the
    deployed policy's change freeze (the compiled policy's ``changeFreeze``)."""

    calendar: str = Field(pattern=r"^[a-zA-Z0-9_\-.]{3,128}$")
    closed_minutes: float | None = Field(
        default=None, gt=0, le=7 * 24 * 60, description="CLOSED from now for this long"
    )
    closed: list[ClosedPeriod] = Field(
        default_factory=list, description="...or CLOSED in these periods (UTC or with offset)"
    )
    on_closed: Literal["wait", "skip"] = "skip"
    max_wait_hours: int = Field(default=4, ge=1, le=168)

    @model_validator(mode="after")
    def _one_way(self) -> ChangeFreeze:
        if (self.closed_minutes is None) == (not self.closed):
            raise ValueError("give closed_minutes or closed (a list of {start, end}), one of them")
        return self


class AdvanceNotice(_Strict):
    """Turn on advance notices in the deployed policy and play the clock until ``wave``'s
    next days-before notice has been sent (the stack's hourly tick sends it)."""

    wave: str = Field(min_length=1)
    days_before: int | None = Field(
        default=None, ge=1, le=14, description="None: as many whole days as are still ahead"
    )


class ScaleOutStep(_Strict):
    scale_out: ScaleOut


class RunWindowStep(_Strict):
    run_window: RunWindow


class PutEventStep(_Strict):
    put_event: PutEvent


class AdvanceStep(_Strict):
    advance: Advance


class SettleStep(_Strict):
    settle: Settle


class NoteStep(_Strict):
    note: Note


class TerminateInstanceStep(_Strict):
    terminate_instance: TerminateInstance


class ChangeFreezeStep(_Strict):
    change_freeze: ChangeFreeze


class AdvanceNoticeStep(_Strict):
    advance_notice: AdvanceNotice


# issue 21: evidence for auditors (localcloud.audit_steps).
class AuditExport(_Strict):
    """``fleetpatch export`` as an auditor runs it: CSV and JSON into the reports folder."""

    since_days: int = Field(default=30, ge=1, le=400)


class SecurityHub(_Strict):
    """``enable``: Security Hub in the account and the policy's switch; ``show``: findings."""

    action: Literal["enable", "show"]


class AuditExportStep(_Strict):
    audit_export: AuditExport


class SecurityHubStep(_Strict):
    security_hub: SecurityHub


STEP_KINDS = (
    "scale_out",
    "run_window",
    "put_event",
    "advance",
    "settle",
    "note",
    "terminate_instance",
    "audit_export",
    "security_hub",
    "inspector_finding",
    "change_freeze",
    "advance_notice",
)


def _step_kind(value: Any) -> str | None:
    if isinstance(value, dict) and len(value) == 1:
        kind = next(iter(value))
        return kind if kind in STEP_KINDS else None
    if isinstance(value, BaseModel):
        return next(iter(type(value).model_fields))
    return None


Step = Annotated[
    Annotated[ScaleOutStep, Tag("scale_out")]
    | Annotated[RunWindowStep, Tag("run_window")]
    | Annotated[PutEventStep, Tag("put_event")]
    | Annotated[AdvanceStep, Tag("advance")]
    | Annotated[SettleStep, Tag("settle")]
    | Annotated[NoteStep, Tag("note")]
    | Annotated[TerminateInstanceStep, Tag("terminate_instance")]
    | Annotated[InspectorFindingStep, Tag("inspector_finding")]
    | Annotated[ChangeFreezeStep, Tag("change_freeze")]
    | Annotated[AdvanceNoticeStep, Tag("advance_notice")]
    | Annotated[AuditExportStep, Tag("audit_export")]
    | Annotated[SecurityHubStep, Tag("security_hub")],
    Discriminator(
        _step_kind,
        custom_error_type="step_kind",
        custom_error_message=f"a step is a mapping with exactly one of: {', '.join(STEP_KINDS)}",
    ),
]


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    start: datetime = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)
    time_factor: float = Field(default=0.0, ge=0, description="real seconds per simulated second")
    parameters: dict[str, str] = Field(
        default_factory=dict, description="template parameter overrides"
    )
    target_groups: list[TargetGroupSpec] = Field(default_factory=list)
    fleet: list[InstanceSpec] = Field(default_factory=list)
    auto_scaling_groups: list[GroupSpec] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        groups = {g.name for g in self.auto_scaling_groups}
        names = groups | {i.name for i in self.fleet}
        for index, step in enumerate(self.steps):
            if isinstance(step, ScaleOutStep) and step.scale_out.group not in groups:
                raise ValueError(
                    f"steps.{index}.scale_out.group: "
                    f"no auto_scaling_groups entry named {step.scale_out.group!r}"
                )
            if (
                isinstance(step, TerminateInstanceStep)
                and step.terminate_instance.name not in names
            ):
                raise ValueError(
                    f"steps.{index}.terminate_instance.name: no fleet or auto_scaling_groups "
                    f"entry named {step.terminate_instance.name!r}"
                )
            if isinstance(step, InspectorFindingStep):
                for missing in sorted(set(step.inspector_finding.names) - names):
                    raise ValueError(
                        f"steps.{index}.inspector_finding.names: no fleet or "
                        f"auto_scaling_groups entry named {missing!r}"
                    )
        self._target_group_references()
        if self.start.tzinfo is None:
            raise ValueError("start must carry a timezone (e.g. 2026-11-07T04:00:00Z)")
        return self

    def _target_group_references(self) -> None:
        known = [t.name for t in self.target_groups]
        if len(set(known)) != len(known):
            raise ValueError("target_groups: names must be unique")
        entries = [("fleet", e.name, e.target_groups) for e in self.fleet] + [
            ("auto_scaling_groups", g.name, g.target_groups) for g in self.auto_scaling_groups
        ]
        for kind, name, wanted in entries:
            for missing in sorted(set(wanted) - set(known)):
                raise ValueError(f"{kind} {name!r}: no target_groups entry named {missing!r}")

"""The compiled fleet policy: the one form the control plane reads, with its defaults.

``fleetpatch policy render`` (``fleetpatch_authoring``, a build-time package outside the
layer) validates ``policy/fleet.yaml`` and compiles it into :class:`CompiledPolicy`, stored
as JSON in the policy stack's SSM parameter; handlers load it with
:func:`fleetpatch.aws.compiled_policy`. Keys are camelCase, as the workflows read and write
them (one shape for both sides). A reader takes a default from here, never one of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from fleetpatch.launch import LaunchPolicy
from fleetpatch.schedule import Schedule, schedule

POLICY_VERSION = 1

Operation = Literal["Install", "Scan"]
RebootOption = Literal["RebootIfNeeded", "NoReboot"]
Remediation = Literal["never", "scan", "install"]
BudgetScope = Literal["auto-scaling-group", "target-group", "availability-zone"]
BUDGET_SCOPES: tuple[BudgetScope, ...] = ("auto-scaling-group", "target-group", "availability-zone")


class _Compiled(BaseModel):
    """camelCase, as the workflows read and write it (one shape for both sides)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class RuntimeGate(_Compiled):
    """What must hold, after the batches it checks, before its batch is patched."""

    batches: list[str] = Field(min_length=1)
    max_failed: int | None = Field(default=0, alias="maxFailed")
    max_failed_percent: float | None = Field(default=None, alias="maxFailedPercent")
    require_compliant: bool = Field(default=True, alias="requireCompliant")
    alarms: list[str] = Field(default_factory=list)
    bake_minutes: int = Field(default=0, alias="bakeMinutes")
    allow_empty: bool = Field(default=False, alias="allowEmpty")
    min_instances: int | None = Field(default=None, alias="minInstances")


class RuntimeHealth(_Compiled):
    """What must hold after the reboot before a serving instance goes back into service."""

    status_checks: bool = Field(default=True, alias="statusChecks")
    agent: bool = True
    target_health: bool = Field(default=True, alias="targetHealth")
    alarms: list[str] = Field(default_factory=list)
    document: str | None = None
    timeout_seconds: int = Field(default=900, alias="timeoutSeconds")


class RuntimeSnapshots(_Compiled):
    """Snapshots of the instance's volumes before the install; ``rollback`` only if enabled."""

    enabled: bool = False
    retention_days: int = Field(default=7, alias="retentionDays")
    rollback: bool = True


class RuntimeHooks(_Compiled):
    """SSM command documents run on the instance at these points (None: nothing)."""

    before_install: str | None = Field(default=None, alias="beforeInstall")
    after_install: str | None = Field(default=None, alias="afterInstall")
    after_reboot: str | None = Field(default=None, alias="afterReboot")


class RuntimeServing(_Compiled):
    """How a serving batch takes each instance out of service, patches it and brings it back.

    Present on a batch only when the batch is a serving batch; its ``rebootOption`` is then
    ``NoReboot`` (the workflow reboots, when ``controlledReboot``, as its own step).
    """

    drain_auto_scaling: bool = Field(default=True, alias="drainAutoScaling")
    drain_target_groups: bool = Field(default=True, alias="drainTargetGroups")
    drain_timeout_seconds: int = Field(default=900, alias="drainTimeoutSeconds")
    controlled_reboot: bool = Field(default=True, alias="controlledReboot")
    max_unavailable: str = Field(default="1", alias="maxUnavailable")
    budget_scopes: list[BudgetScope] = Field(
        default_factory=lambda: list(BUDGET_SCOPES), alias="budgetScopes", min_length=1
    )
    zone_by_zone: bool = Field(default=False, alias="zoneByZone")
    budget_wait_seconds: int = Field(default=14400, alias="budgetWaitSeconds")
    health: RuntimeHealth = RuntimeHealth()
    snapshots: RuntimeSnapshots = RuntimeSnapshots()
    hooks: RuntimeHooks = RuntimeHooks()


class RuntimeBatch(_Compiled):
    """A batch as the compiled policy describes it (and the gated-wave input carries it).

    ``serving`` is None for a batch patched in place, and then left out of the JSON: such a
    batch compiles (and reaches the workflows) exactly as it did before serving existed.
    """

    name: str
    patch_groups: list[str] = Field(alias="patchGroups", min_length=1)
    max_concurrency: str = Field(alias="maxConcurrency")
    max_errors: str = Field(alias="maxErrors")
    operation: Operation
    reboot_option: RebootOption = Field(alias="rebootOption")
    gate: RuntimeGate | None = None
    serving: RuntimeServing | None = None

    @model_serializer(mode="wrap")
    def _without_absent_serving(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("serving", ...) is None:
            del data["serving"]
        return data


class SsmWindowSchedule(_Compiled):
    """The wave's schedule as its maintenance window takes it (see ``Schedule.ssm_schedule``)."""

    expression: str
    timezone: str
    offset_days: int | None = Field(default=None, alias="offsetDays")


class CompiledSchedule(_Compiled):
    """When a wave's window opens: AWS cron in a time zone, optionally N days later."""

    cron: str
    timezone: str = "UTC"
    offset_days: int = Field(default=0, alias="offsetDays")
    ssm: SsmWindowSchedule | None = None

    def resolved(self) -> Schedule:
        return schedule(self.cron, self.timezone, self.offset_days)


class CompiledWave(_Compiled):
    schedule: CompiledSchedule
    window_hours: int = Field(
        default=0, alias="windowHours", description="0: the wave has no window to remediate in"
    )
    promote_from: str | None = Field(default=None, alias="promoteFrom")
    batches: list[RuntimeBatch] = Field(default_factory=list)


class CompiledCompliance(_Compiled):
    digest_minutes: int = Field(default=60, alias="digestMinutes")
    notify_recoveries: bool = Field(default=True, alias="notifyRecoveries")
    remediation: dict[str, Remediation] = Field(default_factory=dict)

    def remediation_of(self, environment: str) -> Remediation:
        """An environment the policy does not list is never remediated."""
        return self.remediation.get(environment, "never")


class CompiledNotifications(_Compiled):
    slack_webhook_secret: str | None = Field(default=None, alias="slackWebhookSecret")


class CompiledPolicy(_Compiled):
    """The whole compiled policy (the SSM parameter's JSON)."""

    version: int = POLICY_VERSION
    launch: LaunchPolicy = LaunchPolicy()
    waves: dict[str, CompiledWave] = Field(default_factory=dict)
    patch_groups: dict[str, str] = Field(
        default_factory=dict, alias="patchGroups", description="patch group -> its environment"
    )
    compliance: CompiledCompliance = CompiledCompliance()
    notifications: CompiledNotifications = CompiledNotifications()

    def environment_of(self, patch_group: str) -> str | None:
        return self.patch_groups.get(patch_group)

    def promotions_of(self, wave: str) -> list[str]:
        """The waves that install what ``wave`` installed (``promoteFrom`` it), by name."""
        return sorted(name for name, spec in self.waves.items() if spec.promote_from == wave)

"""The compiled policy's batch models: what a gated-wave run and a serving batch carry.

Part of the compiled policy (:mod:`fleetpatch.policy` re-exports every name here), kept
apart so the handlers that take a batch (patch-batch, evaluate-gate, record-promotion,
serve-instance) import these models only, not the launch policy and schedules the whole
policy needs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

Operation = Literal["Install", "Scan"]
RebootOption = Literal["RebootIfNeeded", "NoReboot"]
BudgetScope = Literal["auto-scaling-group", "target-group", "availability-zone"]
BUDGET_SCOPES: tuple[BudgetScope, ...] = ("auto-scaling-group", "target-group", "availability-zone")


class Compiled(BaseModel):
    """camelCase, as the workflows read and write it (one shape for both sides)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class RuntimeGate(Compiled):
    """What must hold, after the batches it checks, before its batch is patched."""

    batches: list[str] = Field(min_length=1)
    max_failed: int | None = Field(default=0, alias="maxFailed")
    max_failed_percent: float | None = Field(default=None, alias="maxFailedPercent")
    require_compliant: bool = Field(default=True, alias="requireCompliant")
    alarms: list[str] = Field(default_factory=list)
    bake_minutes: int = Field(default=0, alias="bakeMinutes")
    allow_empty: bool = Field(default=False, alias="allowEmpty")
    min_instances: int | None = Field(default=None, alias="minInstances")


class RuntimeHealth(Compiled):
    """What must hold after the reboot before a serving instance goes back into service."""

    status_checks: bool = Field(default=True, alias="statusChecks")
    agent: bool = True
    target_health: bool = Field(default=True, alias="targetHealth")
    alarms: list[str] = Field(default_factory=list)
    document: str | None = None
    timeout_seconds: int = Field(default=900, alias="timeoutSeconds")


class RuntimeSnapshots(Compiled):
    """Snapshots of the instance's volumes before the install; ``rollback`` only if enabled."""

    enabled: bool = False
    retention_days: int = Field(default=7, alias="retentionDays")
    rollback: bool = True


class RuntimeHooks(Compiled):
    """SSM command documents run on the instance at these points (None: nothing)."""

    before_install: str | None = Field(default=None, alias="beforeInstall")
    after_install: str | None = Field(default=None, alias="afterInstall")
    after_reboot: str | None = Field(default=None, alias="afterReboot")


class RuntimeServing(Compiled):
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
    health: RuntimeHealth = Field(default_factory=RuntimeHealth)
    snapshots: RuntimeSnapshots = Field(default_factory=RuntimeSnapshots)
    hooks: RuntimeHooks = Field(default_factory=RuntimeHooks)


class RuntimeBatch(Compiled):
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
    # An emergency run's batch (fleetpatch.emergency): only these instances of the batch's
    # patch groups are its members, and they install exactly this InstallOverrideList.
    instance_ids: list[str] | None = Field(default=None, alias="instanceIds")
    install_override_list: str | None = Field(
        default=None, alias="installOverrideList", pattern=r"^s3://"
    )

    @model_serializer(mode="wrap")
    def _without_absent_serving(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for optional in ("serving", "instanceIds", "installOverrideList"):
            if data.get(optional, ...) is None:
                del data[optional]
        return data

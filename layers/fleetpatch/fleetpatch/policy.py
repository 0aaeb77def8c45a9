"""The compiled fleet policy: the one form the control plane reads, with its defaults.

``fleetpatch policy render`` (``fleetpatch_authoring``, a build-time package outside the
layer) validates ``policy/fleet.yaml`` and compiles it into :class:`CompiledPolicy`, stored
as JSON in the policy stack's SSM parameter; handlers load it with
:func:`fleetpatch.aws.compiled_policy`. Keys are camelCase, as the workflows read and write
them (one shape for both sides). A reader takes a default from here, never one of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from fleetpatch.batch_policy import (
    Compiled,
    RuntimeBatch,
)
from fleetpatch.change_freeze import FreezePolicy
from fleetpatch.emergency_policy import CompiledEmergency
from fleetpatch.exclusions import CompiledExclusion
from fleetpatch.launch import LaunchPolicy
from fleetpatch.schedule import Schedule, schedule
from fleetpatch.wave_notice import NoticePolicy

POLICY_VERSION = 1

Remediation = Literal["never", "scan", "install"]


class SsmWindowSchedule(Compiled):
    """The wave's schedule as its maintenance window takes it (see ``Schedule.ssm_schedule``)."""

    expression: str
    timezone: str
    offset_days: int | None = Field(default=None, alias="offsetDays")


class CompiledSchedule(Compiled):
    """When a wave's window opens: AWS cron in a time zone, optionally N days later."""

    cron: str
    timezone: str = "UTC"
    offset_days: int = Field(default=0, alias="offsetDays")
    ssm: SsmWindowSchedule | None = None

    def resolved(self) -> Schedule:
        return schedule(self.cron, self.timezone, self.offset_days)


class CompiledWave(Compiled):
    schedule: CompiledSchedule
    window_hours: int = Field(
        default=0, alias="windowHours", description="0: the wave has no window to remediate in"
    )
    promote_from: str | None = Field(default=None, alias="promoteFrom")
    batches: list[RuntimeBatch] = Field(default_factory=list)


class CompiledCompliance(Compiled):
    digest_minutes: int = Field(default=60, alias="digestMinutes")
    notify_recoveries: bool = Field(default=True, alias="notifyRecoveries")
    remediation: dict[str, Remediation] = Field(default_factory=dict)

    def remediation_of(self, environment: str) -> Remediation:
        """An environment the policy does not list is never remediated."""
        return self.remediation.get(environment, "never")


class CompiledNotifications(Compiled):
    slack_webhook_secret: str | None = Field(default=None, alias="slackWebhookSecret")


class CompiledSecurityHub(Compiled):
    """issue 21: publish non-compliant instances to AWS Security Hub (fleetpatch.security_hub)."""

    enabled: bool = False


class CompiledPolicy(Compiled):
    """The whole compiled policy (the SSM parameter's JSON)."""

    version: int = POLICY_VERSION
    launch: LaunchPolicy = Field(default_factory=LaunchPolicy)
    waves: dict[str, CompiledWave] = Field(default_factory=dict)
    patch_groups: dict[str, str] = Field(
        default_factory=dict, alias="patchGroups", description="patch group -> its environment"
    )
    compliance: CompiledCompliance = Field(default_factory=CompiledCompliance)
    notifications: CompiledNotifications = Field(default_factory=CompiledNotifications)
    # issue 21: package/KB exclusions (fleetpatch.exclusions)
    exclusions: list[CompiledExclusion] = Field(default_factory=list)
    security_hub: CompiledSecurityHub = Field(
        default_factory=CompiledSecurityHub, alias="securityHub"
    )

    @model_serializer(mode="wrap")
    def _without_unused_sections(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A policy without exclusions or Security Hub compiles exactly as before they existed.
        data: dict[str, Any] = handler(self)
        if data.get("exclusions", ...) == []:
            del data["exclusions"]
        for key in ("security_hub", "securityHub"):
            if data.get(key, ...) == {"enabled": False}:
                del data[key]
        return data

    emergency: CompiledEmergency = Field(default_factory=CompiledEmergency)
    change_freeze: FreezePolicy | None = Field(
        default=None,
        alias="changeFreeze",
        description="the change freeze (fleetpatch.change_freeze); None: no freeze is checked",
    )
    notice: NoticePolicy | None = Field(
        default=None, description="advance notices of waves (fleetpatch.wave_notice); None: none"
    )

    def environment_of(self, patch_group: str) -> str | None:
        return self.patch_groups.get(patch_group)

    def promotions_of(self, wave: str) -> list[str]:
        """The waves that install what ``wave`` installed (``promoteFrom`` it), by name."""
        return sorted(name for name, spec in self.waves.items() if spec.promote_from == wave)

"""The fleet patch policy file: one declarative file for baselines, patch groups, waves and more.

This is the authoring side (build time, outside the Lambda layer): the file's model, its
naming convention and its compilation (:meth:`FleetPolicy.runtime`) into the form the
control plane reads, :class:`fleetpatch.policy.CompiledPolicy`.

``policy/fleet.yaml`` is validated in two passes (:mod:`fleetpatch_authoring.validate`):

1. **Structure** (pydantic): types, ranges, enumerations, patterns, and the rules local to
   one object (an approval rule's delay *or* date, a schedule SSM can express...).
2. **Relations** (:func:`relation_problems`): what only the whole file can tell: a patch
   group in two environments or two batches, a gate naming a later batch, a promotion
   cycle, names off the naming convention, remediation without a window, an approval-rule
   value AWS does not list for the baseline's operating system (the OS is the key of the
   mapping that holds the rule, out of a rule validator's sight: see
   :mod:`fleetpatch.patch_properties`)...

:func:`validate_policy` runs both and raises :class:`InvalidPolicyError` with *every*
problem of the first pass that fails, each with its location (a path of keys and indexes,
which the CLI turns into ``FILE:LINE: path.to.field: message``).

Nothing here talks to AWS or imports Lambda code: the CLI, ``make policy`` and the local
cloud render and plan with it; the layer never imports it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator

from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.policy import (
    POLICY_VERSION,
    CompiledCompliance,
    CompiledNotifications,
    CompiledPolicy,
    CompiledSchedule,
    CompiledSecurityHub,
    CompiledWave,
    SsmWindowSchedule,
)
from fleetpatch_authoring.baselines import ApprovalRule, Baseline, Environment
from fleetpatch_authoring.emergency import Emergency
from fleetpatch_authoring.exclusions import Exclusion, SecurityHub, compiled
from fleetpatch_authoring.fields import DEFAULT_NAMING, NAME, PolicyModel
from fleetpatch_authoring.governance import ChangeFreeze, Notice
from fleetpatch_authoring.sections import Compliance, Launch, Notifications
from fleetpatch_authoring.serving import Serving, ServingField, effective_serving
from fleetpatch_authoring.waves import Wave


def _version_number(value: Any) -> Any:
    if isinstance(value, bool):  # `version: true` is not version 1
        raise ValueError(f"the version is a number, not {str(value).lower()}")
    return value


# --- the policy -----------------------------------------------------------------------------


class FleetPolicy(PolicyModel):
    """The whole fleet patch policy (``policy/fleet.yaml``)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        # Top-level keys starting with "x-" hold YAML anchors to share (as in Compose files).
        json_schema_extra={"patternProperties": {"^x-": {}}},
    )

    version: Annotated[Literal[1], BeforeValidator(_version_number)] = Field(
        description="the policy file format version"
    )
    patch_group_naming: str | None = Field(
        default=DEFAULT_NAMING,
        description="the naming convention of patch groups, with {environment}, {hhmm} "
        "(the wave's local start time) and {batch} (its 1-based batch number); null: none",
    )
    environments: dict[Annotated[str, Field(pattern=NAME)], Environment] = Field(min_length=1)
    waves: dict[Annotated[str, Field(pattern=NAME)], Wave] = Field(default_factory=dict)
    launch: Launch = Launch()
    compliance: Compliance = Compliance()
    notifications: Notifications = Notifications()
    emergency: Emergency = Field(
        default_factory=Emergency,
        description="emergency runs for one CVE, outside the schedule (docs/emergency.md)",
    )
    serving: ServingField | None = Field(
        default=None,
        description="the fleet's defaults for patching instances that serve traffic: each "
        "batch is a serving batch unless it says serving: false (docs/policy.md)",
    )
    change_freeze: ChangeFreeze | None = Field(
        default=None,
        description="an SSM Change Calendar: while it is CLOSED no wave and no remediation "
        "starts (docs/governance.md)",
    )
    notice: Notice | None = Field(
        default=None,
        description="advance notices: N days and one hour before each wave's window, by SNS "
        "and Slack (docs/governance.md)",
    )
    security_hub: SecurityHub = Field(
        default_factory=SecurityHub,
        description="publish non-compliant instances to AWS Security Hub (docs/audit-export.md)",
    )
    exclusions: list[Exclusion] = Field(
        default_factory=list,
        description="packages and KBs the environments' baselines reject until a date "
        "(docs/exceptions.md)",
    )

    @field_validator("patch_group_naming")
    @classmethod
    def _naming(cls, value: str | None) -> str | None:
        if value is not None:
            naming_pattern(value)
        return value

    # --- lookups ----------------------------------------------------------------------------

    def environment_of(self, patch_group: str) -> str | None:
        for name, environment in self.environments.items():
            if patch_group in environment.patch_groups:
                return name
        return None

    def placement(self, patch_group: str) -> tuple[str, int] | None:
        """(wave, 0-based batch index) patching ``patch_group``, or None."""
        for wave_name, wave in self.waves.items():
            for index, batch in enumerate(wave.batches):
                if patch_group in batch.patch_groups:
                    return wave_name, index
        return None

    def baseline_for(self, patch_group: str, operating_system: str) -> Baseline | None:
        env = self.environment_of(patch_group)
        if env is None:
            return None
        for os_name, baseline in self.environments[env].baselines.items():
            if os_name == operating_system:
                return baseline
        return None

    def operating_systems(self) -> dict[str, list[str]]:
        """Environment -> the operating systems it has a baseline for."""
        return {name: list(env.baselines) for name, env in self.environments.items()}

    def excluded_patches(self, environment: str, operating_system: str) -> list[str]:
        """Every exclusion's patches for one baseline, expired or not (the rendered list)."""
        found: list[str] = []
        oses = self.operating_systems()
        for exclusion in self.exclusions:
            if (
                environment in exclusion.environments
                and operating_system in compiled(exclusion, oses).operating_systems
            ):
                found.extend(p for p in exclusion.patches if p not in found)
        return found

    def serving_of(self, wave: str, index: int) -> Serving | None:
        """Batch ``index`` of ``wave``'s serving block (defaults and override); None: in place."""
        return effective_serving(self.serving, self.waves[wave].batches[index].serving)

    def effective_rule(self, environment: str, rule: ApprovalRule) -> ApprovalRule:
        """``rule`` with the environment's default delay where it gives neither delay nor date."""
        if rule.approve_after_days is None and rule.approve_until_date is None:
            days = self.environments[environment].approve_after_days
            return rule.model_copy(update={"approve_after_days": days})
        return rule

    def runtime(self) -> CompiledPolicy:
        """What the control plane reads at run time (camelCase, as the workflows do)."""
        return CompiledPolicy(
            version=POLICY_VERSION,
            launch=self.launch.launch_policy(),
            waves={name: _compiled_wave(wave, self.serving) for name, wave in self.waves.items()},
            patch_groups={
                group: name
                for name, environment in self.environments.items()
                for group in environment.patch_groups
            },
            compliance=CompiledCompliance(
                digest_minutes=self.compliance.digest_minutes,
                notify_recoveries=self.compliance.notify_recoveries,
                # Every environment, listed or not: the parameter says what each one does.
                remediation={
                    env: self.compliance.remediation.get(env, "never") for env in self.environments
                },
            ),
            notifications=CompiledNotifications(
                slack_webhook_secret=self.notifications.slack.webhook_secret
                if self.notifications.slack
                else None,
            ),
            exclusions=[compiled(e, self.operating_systems()) for e in self.exclusions],
            security_hub=CompiledSecurityHub(enabled=self.security_hub.enabled),
            emergency=self.emergency.compiled(),
            change_freeze=self.change_freeze.runtime() if self.change_freeze else None,
            notice=self.notice.runtime() if self.notice else None,
        )


def _compiled_wave(wave: Wave, serving_defaults: Serving | None) -> CompiledWave:
    ssm = wave.schedule.resolved().ssm_schedule()
    batches = []
    for index, batch in enumerate(wave.batches):
        gate = wave.gate_of(index)
        serving = effective_serving(serving_defaults, batch.serving)
        compiled = RuntimeBatch(
            name=batch.name,
            patch_groups=batch.patch_groups,
            max_concurrency=batch.max_concurrency,
            max_errors=batch.max_errors,
            operation=batch.operation or wave.operation,
            # A serving batch installs with NoReboot: the workflow reboots it under control.
            reboot_option="NoReboot" if serving else batch.reboot or wave.reboot,
            serving=serving.runtime() if serving else None,
            gate=None
            if gate is None
            else RuntimeGate(
                batches=wave.gated_batches(index),
                max_failed=gate.max_failed,
                max_failed_percent=gate.max_failed_percent,
                require_compliant=gate.require_compliant,
                alarms=gate.alarms,
                bake_minutes=gate.bake_minutes,
                allow_empty=gate.allow_empty,
                min_instances=gate.min_instances,
            ),
        )
        batches.append(compiled)
    return CompiledWave(
        schedule=CompiledSchedule(
            cron=wave.schedule.cron,
            timezone=wave.schedule.timezone,
            offset_days=wave.schedule.offset_days,
            ssm=SsmWindowSchedule(
                expression=ssm.expression, timezone=ssm.timezone, offset_days=ssm.offset_days
            ),
        ),
        window_hours=wave.window.duration_hours,
        promote_from=wave.promote_from,
        batches=batches,
    )


# --- the naming convention ------------------------------------------------------------------

_PLACEHOLDERS = {
    "environment": r"(?P<environment>[a-z][a-z0-9-]*)",
    "hhmm": r"(?P<hhmm>[0-2][0-9][0-5][0-9])",
    "batch": r"(?P<batch>[1-9][0-9]?)",
}


def naming_pattern(naming: str) -> re.Pattern[str]:
    pattern = ""
    used: set[str] = set()
    for literal, placeholder in re.findall(r"([^{}]*)(?:\{([^{}]*)\})?", naming):
        pattern += re.escape(literal)
        if placeholder in used:
            # Each placeholder is one named group: a second would make no regular expression.
            raise ValueError(f"{{{placeholder}}} appears twice; each placeholder names one part")
        if placeholder:
            if placeholder not in _PLACEHOLDERS:
                raise ValueError(
                    f"unknown placeholder {{{placeholder}}}; use {{environment}}, {{hhmm}} "
                    "or {batch}"
                )
            used.add(placeholder)
            pattern += _PLACEHOLDERS[placeholder]
    # What the placeholders did not take: an empty {} or a brace without its partner.
    rest = re.sub(r"\{(?:environment|hhmm|batch)\}", "", naming)
    if "{" in rest or "}" in rest:
        raise ValueError(
            "a { or } that is not part of {environment}, {hhmm} or {batch}; "
            "patch group names cannot contain braces"
        )
    return re.compile(pattern)

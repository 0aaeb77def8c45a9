"""The fleet patch policy: one declarative file for baselines, patch groups, waves and more.

``policy/fleet.yaml`` is validated in two passes:

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

Nothing here talks to AWS or imports Lambda code: the CLI renders and plans with it, and
the control plane reads the compiled form (:meth:`FleetPolicy.runtime`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from fleetpatch.churn import ChurnAction, ChurnPolicy
from fleetpatch.errors import FleetpatchError
from fleetpatch.launch import LaunchPolicy
from fleetpatch.patch_properties import RULE_FILTERS, filter_key, filter_keys, value_problem
from fleetpatch.schedule import Schedule, ScheduleError, schedule, zone

POLICY_VERSION = 1

# Patch Manager's OperatingSystem names (AWS::SSM::PatchBaseline OperatingSystem).
OperatingSystem = Literal[
    "WINDOWS",
    "AMAZON_LINUX",
    "AMAZON_LINUX_2",
    "AMAZON_LINUX_2022",
    "AMAZON_LINUX_2023",
    "UBUNTU",
    "DEBIAN",
    "REDHAT_ENTERPRISE_LINUX",
    "SUSE",
    "CENTOS",
    "ORACLE_LINUX",
    "ROCKY_LINUX",
    "ALMA_LINUX",
    "RASPBIAN",
    "MACOS",
]
# Every Patch Manager OS but these two is a Linux distribution.
LINUX = frozenset(get_args(OperatingSystem)) - {"WINDOWS", "MACOS"}
# Debian-family baselines filter on PRIORITY and SECTION, not CLASSIFICATION and SEVERITY.
DEBIAN_FAMILY = frozenset({"UBUNTU", "DEBIAN", "RASPBIAN"})
# Alternative patch sources are a yum/zypper/apt repository feature (not AL1, not macOS).
SOURCES_SUPPORTED = LINUX - {"AMAZON_LINUX"}

ComplianceLevel = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNSPECIFIED"]

# SSM limits (AWS::SSM::PatchBaseline): 10 approval rules, 50 approved and 50 rejected
# patches, 20 sources; ApproveAfterDays 0-360.
MAX_APPROVAL_RULES = 10
MAX_PATCH_LIST = 50
MAX_SOURCES = 20
MAX_APPROVE_AFTER_DAYS = 360

PATCH_GROUP_NAME = r"^[A-Za-z0-9_.:/=+@\- ]{1,256}$"  # a tag value, as SSM accepts it
NAME = r"^[a-z][a-z0-9-]{0,30}$"  # environments, waves, batches: also in resource names
EXTENSION_PREFIX = "x-"  # top-level keys ignored by validation: a place for YAML anchors
DEFAULT_NAMING = "patch_{environment}_{hhmm}_batch_{batch}"

# Percentages or counts, as SSM's MaxConcurrency/MaxErrors take them.
_CONCURRENCY = re.compile(r"^(?:[1-9][0-9]{0,4}|(?:[1-9][0-9]?|100)%)$")
_ERRORS = re.compile(r"^(?:[0-9]{1,5}|(?:[0-9]{1,2}|100)%)$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[^\s]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidPolicyError(FleetpatchError):
    """The policy is invalid; ``problems`` lists every problem found, each with its location."""

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class PolicyProblem:
    loc: tuple[str | int, ...]
    message: str

    @property
    def path(self) -> str:
        return ".".join(str(part) for part in self.loc) or "policy"

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _text(value: Any) -> Any:
    # YAML reads `max_errors: 1` as an int and `0600` as octal-ish text; SSM wants strings.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


RateValue = Annotated[str, BeforeValidator(_text)]

# YAML reads `yes`, `on` and `true` as true, and pydantic would take true as the count 1
# and 0 as false: in a policy file a count is a number and a switch is true or false.
Count = Annotated[int, Strict()]
Percent = Annotated[float, Strict()]  # a whole number is a percentage too
Switch = Annotated[bool, Strict()]


def _version_number(value: Any) -> Any:
    if isinstance(value, bool):  # `version: true` is not version 1
        raise ValueError(f"the version is a number, not {str(value).lower()}")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- baselines ------------------------------------------------------------------------------


class ApprovalRule(_Strict):
    """One auto-approval rule of a baseline (a PatchRule with its filter group)."""

    products: list[str] = Field(default_factory=list, description="PRODUCT filter values")
    classifications: list[str] = Field(
        default_factory=list, description="CLASSIFICATION values (not Ubuntu/Debian)"
    )
    severities: list[str] = Field(
        default_factory=list,
        description="SEVERITY values (MSRC_SEVERITY on Windows; not Ubuntu/Debian)",
    )
    priorities: list[str] = Field(
        default_factory=list, description="PRIORITY values (Ubuntu/Debian only)"
    )
    sections: list[str] = Field(
        default_factory=list, description="SECTION values (Ubuntu/Debian only)"
    )
    approve_after_days: Count | None = Field(
        default=None,
        ge=0,
        le=MAX_APPROVE_AFTER_DAYS,
        description="days after release before a patch is approved (0-360); "
        "defaults to the environment's approve_after_days",
    )
    approve_until_date: date | None = Field(
        default=None, description="approve patches released on or before this date"
    )
    compliance_level: ComplianceLevel = "UNSPECIFIED"
    enable_non_security: Switch = Field(
        default=False, description="also install non-security updates (Linux only)"
    )

    @model_validator(mode="after")
    def _one_approval_delay(self) -> ApprovalRule:
        if self.approve_after_days is not None and self.approve_until_date is not None:
            raise ValueError("give approve_after_days or approve_until_date, not both")
        return self


class PatchSource(_Strict):
    """An alternative repository a Linux baseline installs from."""

    name: str = Field(pattern=r"^[a-zA-Z0-9_\-.]{3,50}$")
    products: list[str] = Field(min_length=1, max_length=20)
    configuration: str = Field(min_length=1, max_length=1024, description="the repo file")


class Baseline(_Strict):
    """The patch baseline of one operating system in one environment."""

    description: str | None = Field(default=None, max_length=1024)
    approval_rules: list[ApprovalRule] = Field(default_factory=list, max_length=MAX_APPROVAL_RULES)
    approved_patches: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_PATCH_LIST
    )
    approved_patches_compliance_level: ComplianceLevel = "UNSPECIFIED"
    approved_patches_enable_non_security: Switch = False
    rejected_patches: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_PATCH_LIST
    )
    rejected_patches_action: Literal["ALLOW_AS_DEPENDENCY", "BLOCK"] = "BLOCK"
    sources: list[PatchSource] = Field(default_factory=list, max_length=MAX_SOURCES)

    @model_validator(mode="after")
    def _approves_something(self) -> Baseline:
        if not self.approval_rules and not self.approved_patches:
            raise ValueError("approves nothing: give approval_rules or approved_patches")
        return self


class Environment(_Strict):
    """An environment (test, prod...): its baselines per OS and the patch groups they cover."""

    description: str | None = None
    approve_after_days: Count | None = Field(
        default=None,
        ge=0,
        le=MAX_APPROVE_AFTER_DAYS,
        description="the approval delay of rules that give neither a delay nor a date",
    )
    patch_groups: list[Annotated[str, Field(pattern=PATCH_GROUP_NAME)]] = Field(
        min_length=1, description="patch groups whose instances this environment's baselines patch"
    )
    baselines: dict[OperatingSystem, Baseline] = Field(min_length=1)


# --- waves ----------------------------------------------------------------------------------


class WaveSchedule(_Strict):
    """When a wave's window opens: AWS cron in a time zone, optionally N days later."""

    cron: str = Field(description="AWS cron, e.g. cron(0 6 ? * SAT#1 *) for the first Saturday")
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. Europe/Zurich")
    offset_days: Count = Field(
        default=0,
        ge=0,
        le=14,
        description="days after each cron occurrence, e.g. cron(0 6 ? * TUE#2 *) + 3 days",
    )

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            parsed = schedule(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc
        # SSM accepts a cron for 30 February; its window would never open. (From 1970, not
        # from now: whether a policy is valid must not depend on the day it is checked.)
        if not parsed.next_runs(datetime(1970, 1, 1, tzinfo=UTC), count=1):
            raise ValueError(f"{value} matches no date: the wave's window would never open")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zone(value)
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _ssm_can_express_it(self) -> WaveSchedule:
        try:
            self.resolved().ssm_schedule()
        except ScheduleError as exc:
            raise ValueError(str(exc)) from exc
        return self

    def resolved(self) -> Schedule:
        return schedule(self.cron, self.timezone, self.offset_days)

    def local_start(self) -> tuple[int, int] | None:
        """(hour, minute) when the cron names exactly one of each, else None."""
        fields = self.cron.removeprefix("cron(").removesuffix(")").split()
        if len(fields) == 6 and fields[0].isdigit() and fields[1].isdigit():
            return int(fields[1]), int(fields[0])
        return None


class Window(_Strict):
    """The maintenance window the wave's first batch runs in."""

    duration_hours: Count = Field(default=4, ge=1, le=24)
    cutoff_hours: Count = Field(
        default=1, ge=0, le=23, description="no new task starts in the last cutoff_hours"
    )

    @model_validator(mode="after")
    def _cutoff_inside(self) -> Window:
        if self.cutoff_hours >= self.duration_hours:
            raise ValueError("cutoff_hours must be less than duration_hours")
        return self


class Gate(_Strict):
    """What must hold, after the batches it checks, before its batch is patched."""

    batches: list[str] | None = Field(
        default=None,
        description="earlier batches whose results this gate checks (default: the one before)",
    )
    max_failed: Count | None = Field(
        default=0, ge=0, description="most instances that may fail (count)"
    )
    max_failed_percent: Percent | None = Field(
        default=None, ge=0, le=100, description="most instances that may fail (percentage)"
    )
    require_compliant: Switch = Field(
        default=True, description="every checked instance must report COMPLIANT afterwards"
    )
    alarms: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=100, description="CloudWatch alarms that must be OK"
    )
    bake_minutes: Count = Field(
        default=0, ge=0, le=7 * 24 * 60, description="wait this long before checking"
    )
    allow_empty: Switch = Field(
        default=False,
        description="pass when the checked batches had no instance to patch (default: hold)",
    )
    min_instances: Count | None = Field(
        default=None,
        ge=1,
        description="hold unless at least this many instances were patched (a canary's size)",
    )


Operation = Literal["Install", "Scan"]
RebootOption = Literal["RebootIfNeeded", "NoReboot"]


class Batch(_Strict):
    """A set of patch groups patched together; batches run in order, each behind its gate."""

    name: str = Field(pattern=NAME)
    patch_groups: list[Annotated[str, Field(pattern=PATCH_GROUP_NAME)]] = Field(min_length=1)
    max_concurrency: RateValue = Field(default="50%", description="count or percentage")
    max_errors: RateValue = Field(default="0", description="count or percentage")
    operation: Operation | None = Field(default=None, description="default: the wave's")
    reboot: RebootOption | None = Field(default=None, description="default: the wave's")
    gate: Gate | None = Field(
        default=None, description="checked before this batch; not allowed on the first"
    )

    @field_validator("max_concurrency")
    @classmethod
    def _concurrency(cls, value: str) -> str:
        if not _CONCURRENCY.fullmatch(value):
            raise ValueError(f"{value!r} is not a count (1-99999) or a percentage (1%-100%)")
        return value

    @field_validator("max_errors")
    @classmethod
    def _errors(cls, value: str) -> str:
        if not _ERRORS.fullmatch(value):
            raise ValueError(f"{value!r} is not a count (0-99999) or a percentage (0%-100%)")
        return value


class Wave(_Strict):
    """A rollout: a window for the first batch, then gated batches in order."""

    description: str | None = None
    schedule: WaveSchedule
    window: Window = Window()
    operation: Operation = "Install"
    reboot: RebootOption = "RebootIfNeeded"
    promote_from: str | None = Field(
        default=None,
        description="install exactly what this other wave installed, per OS (not approval "
        "delays): prod gets what test got",
    )
    batches: list[Batch] = Field(min_length=1, max_length=20)

    def gate_of(self, index: int) -> Gate | None:
        """The gate before batch ``index``: its own, or the default gate (none for the first)."""
        if index == 0:
            return None
        return self.batches[index].gate or Gate()

    def gated_batches(self, index: int) -> list[str]:
        gate = self.gate_of(index)
        if gate is None:
            return []
        return gate.batches if gate.batches is not None else [self.batches[index - 1].name]


# --- the compiled form the control plane reads ----------------------------------------------


class _Compiled(BaseModel):
    """camelCase, as the workflows read and write it (one shape for both sides)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RuntimeGate(_Compiled):
    batches: list[str] = Field(min_length=1)
    max_failed: int | None = Field(default=0, alias="maxFailed")
    max_failed_percent: float | None = Field(default=None, alias="maxFailedPercent")
    require_compliant: bool = Field(default=True, alias="requireCompliant")
    alarms: list[str] = Field(default_factory=list)
    bake_minutes: int = Field(default=0, alias="bakeMinutes")
    allow_empty: bool = Field(default=False, alias="allowEmpty")
    min_instances: int | None = Field(default=None, alias="minInstances")

    def policy_gate(self) -> Gate:
        return Gate(
            batches=self.batches,
            max_failed=self.max_failed,
            max_failed_percent=self.max_failed_percent,
            require_compliant=self.require_compliant,
            alarms=self.alarms,
            bake_minutes=self.bake_minutes,
            allow_empty=self.allow_empty,
            min_instances=self.min_instances,
        )


class RuntimeBatch(_Compiled):
    """A batch as the compiled policy (``FleetPolicy.runtime``) describes it."""

    name: str
    patch_groups: list[str] = Field(alias="patchGroups", min_length=1)
    max_concurrency: str = Field(alias="maxConcurrency")
    max_errors: str = Field(alias="maxErrors")
    operation: Operation
    reboot_option: RebootOption = Field(alias="rebootOption")
    gate: RuntimeGate | None = None


# --- launch, compliance, notifications ------------------------------------------------------


class AutoScalingSelector(_Strict):
    names: list[str] = Field(
        default_factory=list, description="groups patched on launch (empty: any with the hook)"
    )
    tags: dict[str, str] = Field(
        default_factory=dict, description="...or groups carrying all of these tags"
    )


class InstanceSelector(_Strict):
    tag_key: str = Field(default="fleetpatch:patch-on-launch", min_length=1, max_length=128)
    tag_value: str = Field(default="true", max_length=256)


class Churn(_Strict):
    """The same launch failure again and again in one group (see ``fleetpatch.churn``)."""

    after: Count = Field(
        default=3,
        ge=2,
        le=100,
        description="launch failures in a row in one Auto Scaling group, with the same "
        "reason, that make one escalation (the first is reported, the others only stored)",
    )
    action: ChurnAction = Field(
        default="suspend-launch",
        description="then: suspend-launch (suspend the group's Launch process until an "
        "operator resumes it), continue (release the failing instances unpatched, each "
        "reported) or notify-only (escalate, and keep replacing)",
    )


class Launch(_Strict):
    """Which new instances are patched before they serve, and how."""

    lifecycle_hooks: list[str] = Field(default=["fleetpatch-launch"], min_length=1)
    auto_scaling_groups: AutoScalingSelector = AutoScalingSelector()
    instances: InstanceSelector = Field(
        default=InstanceSelector(),
        description="standalone instances (no Auto Scaling group) patched when running",
    )
    agent_timeout_minutes: Count = Field(default=15, ge=1, le=48 * 60)
    heartbeat_seconds: Count = Field(default=600, ge=30, le=7200)
    command_timeout_minutes: Count = Field(default=60, ge=1, le=48 * 60)
    on_failure: Literal["abandon", "continue"] = "abandon"
    reboot: RebootOption = "RebootIfNeeded"
    churn: Churn = Field(
        default=Churn(),
        description="what ends launch, abandon, replace cycles (with on_failure: abandon)",
    )

    @model_validator(mode="after")
    def _launch_policy_valid(self) -> Launch:
        try:
            self.launch_policy()
        except ValidationError as exc:
            raise ValueError("; ".join(e["msg"] for e in exc.errors())) from None
        return self

    def launch_policy(self) -> LaunchPolicy:
        """The form the patch-on-launch function reads."""
        return LaunchPolicy(
            hook_names=self.lifecycle_hooks,
            auto_scaling_group_names=self.auto_scaling_groups.names,
            auto_scaling_group_tags=self.auto_scaling_groups.tags,
            instance_tag_key=self.instances.tag_key,
            instance_tag_value=self.instances.tag_value,
            agent_timeout_seconds=self.agent_timeout_minutes * 60,
            heartbeat_seconds=self.heartbeat_seconds,
            command_timeout_seconds=self.command_timeout_minutes * 60,
            on_failure="ABANDON" if self.on_failure == "abandon" else "CONTINUE",
            reboot_option=self.reboot,
            churn=ChurnPolicy(after=self.churn.after, action=self.churn.action),
        )


Remediation = Literal["never", "scan", "install"]


class Compliance(_Strict):
    digest_minutes: Count = Field(
        default=60, ge=5, le=24 * 60, description="drift is notified at most this often"
    )
    notify_recoveries: Switch = True
    remediation: dict[str, Remediation] = Field(
        default_factory=dict,
        description="per environment: never, scan, or install (inside the environment's "
        "window only); environments not listed: never",
    )


class Slack(_Strict):
    webhook_secret: str = Field(
        description="the Secrets Manager secret (name or ARN) holding the webhook URL"
    )

    @field_validator("webhook_secret")
    @classmethod
    def _a_name_not_a_secret(cls, value: str) -> str:
        lowered = value.lower()
        if lowered.startswith(("http://", "https://")) or "hooks.slack.com" in lowered:
            raise ValueError(
                "this is a webhook URL, a secret: store it in Secrets Manager and give the "
                "secret's name here"
            )
        if lowered.startswith(("xoxb-", "xoxp-", "xapp-")):
            raise ValueError(
                "this is a Slack token, a secret: store it in Secrets Manager and give the "
                "secret's name here"
            )
        if not (_SECRET_NAME.fullmatch(value) or _SECRET_ARN.fullmatch(value)):
            raise ValueError(
                "not a Secrets Manager secret name (letters, digits and /_+=.@-) or ARN"
            )
        return value


def _email_address(address: str) -> str:
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"{address!r} is not an e-mail address")
    return address


class Sns(_Strict):
    # Checked one by one, so the error names the address's index.
    email: list[Annotated[str, AfterValidator(_email_address)]] = Field(
        default_factory=list, description="addresses subscribed to the reports topic"
    )


class Notifications(_Strict):
    sns: Sns = Sns()
    slack: Slack | None = None


# --- the policy -----------------------------------------------------------------------------


class FleetPolicy(_Strict):
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

    @field_validator("patch_group_naming")
    @classmethod
    def _naming(cls, value: str | None) -> str | None:
        if value is not None:
            _naming_pattern(value)
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

    def effective_rule(self, environment: str, rule: ApprovalRule) -> ApprovalRule:
        """``rule`` with the environment's default delay where it gives neither delay nor date."""
        if rule.approve_after_days is None and rule.approve_until_date is None:
            days = self.environments[environment].approve_after_days
            return rule.model_copy(update={"approve_after_days": days})
        return rule

    def runtime(self) -> dict[str, Any]:
        """What the control plane reads at run time (camelCase, as the workflows do)."""
        return {
            "version": POLICY_VERSION,
            "launch": self.launch.launch_policy().model_dump(by_alias=True),
            "waves": {name: _runtime_wave(self, name, wave) for name, wave in self.waves.items()},
            "patchGroups": {
                group: name
                for name, environment in self.environments.items()
                for group in environment.patch_groups
            },
            "compliance": {
                "digestMinutes": self.compliance.digest_minutes,
                "notifyRecoveries": self.compliance.notify_recoveries,
                "remediation": {
                    env: self.compliance.remediation.get(env, "never") for env in self.environments
                },
            },
            "notifications": {
                "slackWebhookSecret": self.notifications.slack.webhook_secret
                if self.notifications.slack
                else None,
            },
        }


def _runtime_wave(policy: FleetPolicy, name: str, wave: Wave) -> dict[str, Any]:
    ssm = wave.schedule.resolved().ssm_schedule()
    batches = []
    for index, batch in enumerate(wave.batches):
        gate = wave.gate_of(index)
        compiled = RuntimeBatch(
            name=batch.name,
            patch_groups=batch.patch_groups,
            max_concurrency=batch.max_concurrency,
            max_errors=batch.max_errors,
            operation=batch.operation or wave.operation,
            reboot_option=batch.reboot or wave.reboot,
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
        batches.append(compiled.model_dump(by_alias=True))
    return {
        "schedule": {
            "cron": wave.schedule.cron,
            "timezone": wave.schedule.timezone,
            "offsetDays": wave.schedule.offset_days,
            "ssm": {
                "expression": ssm.expression,
                "timezone": ssm.timezone,
                "offsetDays": ssm.offset_days,
            },
        },
        "windowHours": wave.window.duration_hours,
        "promoteFrom": wave.promote_from,
        "batches": batches,
    }


# --- the naming convention ------------------------------------------------------------------

_PLACEHOLDERS = {
    "environment": r"(?P<environment>[a-z][a-z0-9-]*)",
    "hhmm": r"(?P<hhmm>[0-2][0-9][0-5][0-9])",
    "batch": r"(?P<batch>[1-9][0-9]?)",
}


def _naming_pattern(naming: str) -> re.Pattern[str]:
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


# --- relations between sections -------------------------------------------------------------


def relation_problems(policy: FleetPolicy) -> list[PolicyProblem]:
    """Every problem that only the whole policy shows (the structure being valid)."""
    return [
        *_patch_group_problems(policy),
        *_wave_problems(policy),
        *_promotion_problems(policy),
        *_compliance_problems(policy),
    ]


def _patch_group_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    owner: dict[str, str] = {}
    for env_name, environment in policy.environments.items():
        for index, group in enumerate(environment.patch_groups):
            loc = ("environments", env_name, "patch_groups", index)
            if group in owner:
                yield PolicyProblem(
                    loc,
                    f"{group} is also in environment {owner[group]}: a patch group has one "
                    "baseline per operating system",
                )
                continue
            owner[group] = env_name
        for os_name, baseline in environment.baselines.items():
            yield from _baseline_problems(
                ("environments", env_name, "baselines", os_name), os_name, baseline, environment
            )


def _baseline_problems(
    loc: tuple[str | int, ...], os_name: str, baseline: Baseline, environment: Environment
) -> Iterator[PolicyProblem]:
    linux = os_name in LINUX
    if baseline.sources and os_name not in SOURCES_SUPPORTED:
        yield PolicyProblem((*loc, "sources"), f"alternative patch sources are not for {os_name}")
    if baseline.approved_patches_enable_non_security and not linux:
        yield PolicyProblem(
            (*loc, "approved_patches_enable_non_security"), "non-security updates are Linux only"
        )
    for index, rule in enumerate(baseline.approval_rules):
        here = (*loc, "approval_rules", index)
        if rule.enable_non_security and not linux:
            yield PolicyProblem(
                (*here, "enable_non_security"), "non-security updates are Linux only"
            )
        yield from _filter_problems(here, os_name, rule)
        if (
            rule.approve_after_days is None
            and rule.approve_until_date is None
            and environment.approve_after_days is None
        ):
            yield PolicyProblem(
                here,
                "give approve_after_days or approve_until_date (or the environment's "
                "approve_after_days)",
            )


def _filter_problems(
    loc: tuple[str | int, ...], os_name: str, rule: ApprovalRule
) -> Iterator[PolicyProblem]:
    """Each filter the OS has not, and each value AWS does not list for it (patch_properties)."""
    for name in RULE_FILTERS:
        values: list[str] = getattr(rule, name)
        if not values:
            continue
        key = filter_key(name, os_name)
        if key not in filter_keys(os_name):
            yield PolicyProblem((*loc, name), _missing_filter(os_name, name, key))
            continue
        for index, value in enumerate(values):
            problem = value_problem(os_name, key, value)
            if problem is not None:
                yield PolicyProblem((*loc, name, index), problem)


def _missing_filter(os_name: str, name: str, key: str) -> str:
    if os_name in DEBIAN_FAMILY:
        return f"{os_name} baselines filter on priorities and sections, not {name}"
    if key in {"PRIORITY", "SECTION"}:
        return f"{name} filter only Ubuntu and Debian baselines"
    return f"{os_name} baselines have no {key} filter"


def _wave_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    naming = _naming_pattern(policy.patch_group_naming) if policy.patch_group_naming else None
    placed: dict[str, str] = {}
    for wave_name, wave in policy.waves.items():
        names: dict[str, int] = {}
        for index, batch in enumerate(wave.batches):
            loc: tuple[str | int, ...] = ("waves", wave_name, "batches", index)
            if batch.name in names:
                yield PolicyProblem((*loc, "name"), f"batch {batch.name} appears twice")
            names.setdefault(batch.name, index)
            for g_index, group in enumerate(batch.patch_groups):
                g_loc = (*loc, "patch_groups", g_index)
                where = f"wave {wave_name} batch {batch.name}"
                if group in placed:
                    yield PolicyProblem(
                        g_loc, f"{group} is already in {placed[group]}: a group is in one batch"
                    )
                    continue
                placed[group] = where
                env = policy.environment_of(group)
                if env is None:
                    yield PolicyProblem(
                        g_loc,
                        f"{group} is in no environment's patch_groups, so no baseline covers it",
                    )
                if naming is not None:
                    yield from _naming_problems(
                        g_loc, naming, group, environment=env, wave=wave, index=index
                    )
            yield from _gate_problems(loc, wave, index, names)


def _naming_problems(
    loc: tuple[str | int, ...],
    naming: re.Pattern[str],
    group: str,
    *,
    environment: str | None,
    wave: Wave,
    index: int,
) -> Iterator[PolicyProblem]:
    match = naming.fullmatch(group)
    if match is None:
        yield PolicyProblem(loc, f"{group} does not follow the naming convention")
        return
    parts = match.groupdict()
    if environment is not None and parts.get("environment") not in (None, environment):
        yield PolicyProblem(
            loc, f"{group} names environment {parts['environment']} but is in {environment}"
        )
    if parts.get("batch") is not None and int(parts["batch"]) != index + 1:
        yield PolicyProblem(
            loc, f"{group} names batch {parts['batch']} but is in batch {index + 1}"
        )
    start = wave.schedule.local_start()
    if parts.get("hhmm") is not None and start is not None:
        hhmm = f"{start[0]:02d}{start[1]:02d}"
        if parts["hhmm"] != hhmm:
            yield PolicyProblem(
                loc, f"{group} names {parts['hhmm']} but the wave starts at {hhmm} local time"
            )


def _gate_problems(
    loc: tuple[str | int, ...], wave: Wave, index: int, earlier: Mapping[str, int]
) -> Iterator[PolicyProblem]:
    batch = wave.batches[index]
    if batch.gate is None:
        return
    if index == 0:
        yield PolicyProblem(
            (*loc, "gate"),
            "the first batch runs in the window: no earlier batch to gate on",
        )
        return
    later = {b.name: i for i, b in enumerate(wave.batches)}
    for g_index, name in enumerate(batch.gate.batches or []):
        here = (*loc, "gate", "batches", g_index)
        if name not in later:
            yield PolicyProblem(here, f"no batch {name} in this wave")
        elif later[name] >= index:
            yield PolicyProblem(
                here,
                f"batch {name} runs after (or is) this batch; a gate checks earlier batches",
            )
    if batch.gate.batches == []:
        yield PolicyProblem((*loc, "gate", "batches"), "a gate checks at least one batch")


def _promotion_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    for wave_name, wave in policy.waves.items():
        source = wave.promote_from
        if source is None:
            continue
        loc = ("waves", wave_name, "promote_from")
        if source not in policy.waves:
            yield PolicyProblem(loc, f"no wave {source}")
            continue
        # Follow the chain; coming back to this wave is a cycle (a wave waiting on itself).
        chain = [wave_name]
        current: str | None = source
        while current is not None and current in policy.waves:
            if current == wave_name:
                yield PolicyProblem(loc, "promotion cycle: " + " <- ".join([*chain, wave_name]))
                break
            if current in chain:
                break  # a cycle further up the chain: reported at its own waves
            chain.append(current)
            current = policy.waves[current].promote_from


def _compliance_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    in_a_wave = {
        policy.environment_of(group)
        for wave in policy.waves.values()
        for batch in wave.batches
        for group in batch.patch_groups
    }
    for env, action in policy.compliance.remediation.items():
        loc = ("compliance", "remediation", env)
        if env not in policy.environments:
            yield PolicyProblem(loc, f"no environment {env}")
        elif action == "install" and env not in in_a_wave:
            yield PolicyProblem(
                loc, f"install remediation needs a wave patching {env}: it installs in its window"
            )


# --- entry points ---------------------------------------------------------------------------


def validate_policy(data: Any) -> FleetPolicy:
    """Validate a parsed policy file; :class:`InvalidPolicyError` lists every problem."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not str(k).startswith(EXTENSION_PREFIX)}
    try:
        policy = FleetPolicy.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidPolicyError(
            [_problem(error) for error in exc.errors(include_url=False)]
        ) from exc
    problems = relation_problems(policy)
    if problems:
        raise InvalidPolicyError(problems)
    return policy


def _problem(error: Mapping[str, Any]) -> PolicyProblem:
    loc = tuple(error["loc"])
    # pydantic prefixes messages of validators that raise ValueError; the path says enough.
    message = str(error["msg"]).removeprefix("Value error, ")
    if loc and loc[-1] == "[key]":
        # A mapping key failed (an unknown OS or a bad environment name): point at the key.
        loc = loc[:-1]
        message = f"{loc[-1]} is not allowed as a key here: {message}"
    return PolicyProblem(loc, message)


def unused_patch_groups(policy: FleetPolicy) -> list[str]:
    """Patch groups with baselines but in no wave: only patched on launch or by hand."""
    return [
        group
        for environment in policy.environments.values()
        for group in environment.patch_groups
        if policy.placement(group) is None
    ]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file, for editors (yaml-language-server and others)."""
    schema = FleetPolicy.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "fleetpatch fleet patch policy"
    return schema

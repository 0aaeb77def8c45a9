"""The ``serving`` block: patching instances that serve traffic without an outage (issue 18).

The policy's top-level ``serving:`` is the fleet's default; a batch's ``serving:`` overrides
it field by field (nested blocks too, a list replaces a list), and ``serving: false`` patches
the batch in place as before. A batch is a *serving batch* when its effective block
(:func:`effective_serving`) exists and is enabled. It compiles into
:class:`fleetpatch.batch_policy.RuntimeServing` (:meth:`Serving.runtime`), and its
``rebootOption`` into ``NoReboot``: the workflow drains the instance, installs, reboots it
itself (``reboot: controlled``) and checks its health before it serves again.

Checks that need the effective block (a batch's reboot against its serving reboot, a
rollback without snapshots) are in :func:`serving_problems`, the relation pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    WithJsonSchema,
    field_validator,
)

from fleetpatch.batch_policy import (
    BUDGET_SCOPES,
    BudgetScope,
    RuntimeHealth,
    RuntimeHooks,
    RuntimeServing,
    RuntimeSnapshots,
)
from fleetpatch.contracts.names import HOOK_DOCUMENT_PREFIX
from fleetpatch_authoring.fields import Count, PolicyModel, PolicyProblem, RateValue, Switch

# A hook or health document: one of the account's own SSM command documents named
# fleetpatch-* (the SSM API's name characters), the only documents besides
# AWS-RunPatchBaseline the serving workflow's role may send (docs/serving.md, IAM).
DOCUMENT_NAME = rf"^{HOOK_DOCUMENT_PREFIX}[a-zA-Z0-9_\-.]{{1,117}}$"
# A count of instances (1-99999) or a percentage (1%-100%) of a scope, as MaxConcurrency.
_MAX_UNAVAILABLE = re.compile(r"^(?:[1-9][0-9]{0,4}|(?:[1-9][0-9]?|100)%)$")


def _document_name(value: str) -> str:
    if not re.fullmatch(DOCUMENT_NAME, value):
        raise ValueError(
            f"{value!r} is not a document the serving workflow may run: name one of the "
            "account's SSM command documents fleetpatch-<name> (letters, digits and _-.)"
        )
    return value


DocumentName = Annotated[
    str,
    AfterValidator(_document_name),
    WithJsonSchema({"type": "string", "pattern": DOCUMENT_NAME}),
]
AlarmName = Annotated[str, Field(min_length=1, max_length=255)]


class Drain(PolicyModel):
    """How an instance is taken out of service before it is patched."""

    auto_scaling: Literal["standby", "none"] = Field(
        default="standby",
        description="an Auto Scaling member enters Standby (the group neither counts nor "
        "replaces it); none: left InService",
    )
    target_groups: Literal["deregister", "none"] = Field(
        default="deregister",
        description="an instance registered in ELB target groups is deregistered and the "
        "run waits until it has drained; none: left registered",
    )
    timeout_minutes: Count = Field(
        default=15,
        ge=1,
        le=120,
        description="draining (the target group's deregistration delay included) must end "
        "within this; else the instance is not patched and is reported",
    )


class Budget(PolicyModel):
    """The disruption budget: how many instances may be out of service at once."""

    max_unavailable: RateValue = Field(
        default="1",
        description='a count ("1") or a percentage ("10%") of each scope; the tightest scope '
        "applies (a percentage rounds down, but at least one instance)",
    )
    scopes: list[BudgetScope] = Field(
        default_factory=lambda: list(BUDGET_SCOPES),
        min_length=1,
        description="what max_unavailable counts in: auto-scaling-group, target-group, "
        "availability-zone (any of them, at least one)",
    )
    zone_by_zone: Switch = Field(
        default=False,
        description="patch one Availability Zone at a time (in the order of zone names)",
    )
    wait_minutes: Count = Field(
        default=240,
        ge=1,
        le=1440,
        description="how long an instance waits for budget before it is reported budget-exhausted",
    )

    @field_validator("max_unavailable")
    @classmethod
    def _max_unavailable(cls, value: str) -> str:
        if not _MAX_UNAVAILABLE.fullmatch(value):
            raise ValueError(
                f'{value!r} is not a count ("1" to "99999") or a percentage ("1%" to "100%")'
            )
        return value

    @field_validator("scopes")
    @classmethod
    def _once_each(cls, value: list[BudgetScope]) -> list[BudgetScope]:
        repeated = sorted({scope for scope in value if value.count(scope) > 1})
        if repeated:
            raise ValueError(f"{', '.join(repeated)} listed twice; name each scope once")
        return value


class Health(PolicyModel):
    """The checks after the reboot; the instance serves again only when every one passes."""

    status_checks: Switch = Field(default=True, description="EC2 instance and system status ok")
    agent: Switch = Field(default=True, description="the SSM agent is Online again")
    target_health: Switch = Field(
        default=True,
        description="healthy in each of its ELB target groups after it is registered again",
    )
    alarms: list[AlarmName] = Field(
        default_factory=list, max_length=100, description="CloudWatch alarms that must be OK"
    )
    document: DocumentName | None = Field(
        default=None,
        description="an SSM command document run on the instance: exit code 0 means healthy",
    )
    timeout_minutes: Count = Field(
        default=15, ge=1, le=120, description="how long each health phase may take"
    )


class Snapshots(PolicyModel):
    """Crash-consistent snapshots of the instance's volumes before the install."""

    enabled: Switch = Field(default=False, description="take them (one CreateSnapshots call)")
    retention_days: Count = Field(
        default=7, ge=1, le=365, description="the snapshots are deleted after this"
    )
    rollback: Switch = Field(
        default=True,
        description="when a health check fails, replace the root volume from the snapshot "
        "and check again (needs enabled: true)",
    )


class Hooks(PolicyModel):
    """SSM command documents run on the instance as steps of the workflow (optional)."""

    before_install: DocumentName | None = Field(default=None, description="after the drain")
    after_install: DocumentName | None = Field(default=None, description="before the reboot")
    after_reboot: DocumentName | None = Field(default=None, description="before the health checks")


class Serving(PolicyModel):
    """Drain, install, controlled reboot, health, back into service: under a budget."""

    enabled: Switch = Field(
        default=True, description="a batch with this block is a serving batch (default true)"
    )
    drain: Drain = Drain()
    reboot: Literal["controlled", "none"] = Field(
        default="controlled",
        description="controlled: install with NoReboot, then reboot only an instance with a "
        "reboot pending, as its own step; none: never reboot",
    )
    budget: Budget = Budget()
    health: Health = Health()
    snapshots: Snapshots = Snapshots()
    hooks: Hooks = Hooks()

    def runtime(self) -> RuntimeServing:
        """The compiled form (seconds, switches), as the serving workflow reads it."""
        return RuntimeServing(
            drain_auto_scaling=self.drain.auto_scaling == "standby",
            drain_target_groups=self.drain.target_groups == "deregister",
            drain_timeout_seconds=self.drain.timeout_minutes * 60,
            controlled_reboot=self.reboot == "controlled",
            max_unavailable=self.budget.max_unavailable,
            budget_scopes=list(self.budget.scopes),
            zone_by_zone=self.budget.zone_by_zone,
            budget_wait_seconds=self.budget.wait_minutes * 60,
            health=RuntimeHealth(
                status_checks=self.health.status_checks,
                agent=self.health.agent,
                target_health=self.health.target_health,
                alarms=list(self.health.alarms),
                document=self.health.document,
                timeout_seconds=self.health.timeout_minutes * 60,
            ),
            snapshots=RuntimeSnapshots(
                enabled=self.snapshots.enabled,
                retention_days=self.snapshots.retention_days,
                rollback=self.snapshots.rollback,
            ),
            hooks=RuntimeHooks(
                before_install=self.hooks.before_install,
                after_install=self.hooks.after_install,
                after_reboot=self.hooks.after_reboot,
            ),
        )


def _block_or_false(value: Any) -> Any:
    # `serving: false` is the same as `serving: {enabled: false}`: patch in place.
    if value is False:
        return {"enabled": False}
    if not isinstance(value, dict | BaseModel):
        raise ValueError(
            f"serving is a block (write {{}} for the fleet's serving defaults) or false, "
            f"not {value!r}"
        )
    return value


# A serving block, or false (what editors see in the schema too).
ServingField = Annotated[
    Serving, BeforeValidator(_block_or_false, json_schema_input_type=Serving | Literal[False])
]


def overlay[M: BaseModel](base: M, override: M) -> M:
    """``base`` with the fields ``override`` sets, nested blocks merged field by field."""
    update: dict[str, Any] = {}
    for name in override.model_fields_set:
        value = getattr(override, name)
        current = getattr(base, name)
        if isinstance(value, BaseModel) and isinstance(current, BaseModel):
            value = overlay(current, value)
        update[name] = value
    return base.model_copy(update=update)


def effective_serving(defaults: Serving | None, override: Serving | None) -> Serving | None:
    """A batch's serving block (its override over the fleet's defaults); None: in place."""
    merged = defaults if override is None else overlay(defaults or Serving(), override)
    return merged if merged is not None and merged.enabled else None


def serving_problems(
    loc: tuple[str | int, ...],
    defaults: Serving | None,
    override: Serving | None,
    *,
    reboot: str | None,
    operation: str,
) -> Iterator[PolicyProblem]:
    """What the batch at ``loc`` says that its effective serving block contradicts."""
    serving = effective_serving(defaults, override)
    if serving is None:
        return
    if operation == "Scan":
        yield PolicyProblem(
            (*loc, "serving"),
            "a Scan batch installs nothing, so there is nothing to drain for: set serving: false",
        )
    if reboot is not None and reboot != "NoReboot":
        why = (
            "the workflow reboots it itself (serving.reboot: controlled)"
            if serving.reboot == "controlled"
            else "it is never rebooted (serving.reboot: none)"
        )
        yield PolicyProblem(
            (*loc, "reboot"),
            f"a serving batch installs with NoReboot: {why}; remove reboot or set serving: false",
        )
    if override is not None and "rollback" in override.snapshots.model_fields_set:
        yield from _rollback_problem((*loc, "serving"), serving)


def defaults_problems(defaults: Serving | None) -> Iterator[PolicyProblem]:
    """What the fleet's serving defaults contradict in themselves."""
    if defaults is not None and "rollback" in defaults.snapshots.model_fields_set:
        yield from _rollback_problem(("serving",), defaults)


def _rollback_problem(loc: tuple[str | int, ...], serving: Serving) -> Iterator[PolicyProblem]:
    if serving.snapshots.rollback and not serving.snapshots.enabled:
        yield PolicyProblem(
            (*loc, "snapshots", "rollback"),
            "rollback restores the snapshot taken before the install: it needs "
            "snapshots.enabled: true",
        )

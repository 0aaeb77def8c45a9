"""The waves section: a window for the first batch, then gated batches in order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from fleetpatch.batch_policy import Operation, RebootOption
from fleetpatch.schedule import Schedule, ScheduleError, schedule, zone
from fleetpatch_authoring.fields import (
    NAME,
    PATCH_GROUP_NAME,
    Concurrency,
    Count,
    ErrorBudget,
    Percent,
    PolicyModel,
    Switch,
)
from fleetpatch_authoring.serving import ServingField


class WaveSchedule(PolicyModel):
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


class Window(PolicyModel):
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


class Gate(PolicyModel):
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


class Batch(PolicyModel):
    """A set of patch groups patched together; batches run in order, each behind its gate."""

    name: str = Field(pattern=NAME)
    patch_groups: list[Annotated[str, Field(pattern=PATCH_GROUP_NAME)]] = Field(min_length=1)
    max_concurrency: Concurrency = Field(default="50%", description="count or percentage")
    max_errors: ErrorBudget = Field(default="0", description="count or percentage")
    operation: Operation | None = Field(default=None, description="default: the wave's")
    reboot: RebootOption | None = Field(default=None, description="default: the wave's")
    gate: Gate | None = Field(
        default=None, description="checked before this batch; not allowed on the first"
    )
    serving: ServingField | None = Field(
        default=None,
        description="override the fleet's serving defaults field by field, or false to patch "
        "in place (default: the fleet's serving block, if any)",
    )


class Wave(PolicyModel):
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

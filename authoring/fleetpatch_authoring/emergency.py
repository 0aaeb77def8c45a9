"""The policy file's ``emergency`` section (docs/policy.md, docs/emergency.md)."""

from __future__ import annotations

from pydantic import Field, field_validator

from fleetpatch.emergency_policy import (
    DEFAULT_INSPECTOR_SEVERITIES,
    DEFAULT_SLA_HOURS,
    CompiledEmergency,
    CompiledInspector,
    Severity,
)
from fleetpatch_authoring.fields import Concurrency, Count, ErrorBudget, PolicyModel, Switch


class Inspector(PolicyModel):
    enabled: Switch = Field(
        default=False,
        description="an Amazon Inspector package-vulnerability finding starts an emergency run",
    )
    severities: list[Severity] = Field(
        default_factory=lambda: list(DEFAULT_INSPECTOR_SEVERITIES),
        min_length=1,
        description="the finding severities that start a run",
    )


class Emergency(PolicyModel):
    """How an emergency run (``fleetpatch emergency``, or a finding) patches a CVE."""

    bake_minutes: Count = Field(
        default=10,
        ge=0,
        le=24 * 60,
        description="the longest bake before a gate of an emergency run (the wave's, if shorter)",
    )
    max_concurrency: Concurrency = Field(
        default="25%", description="every batch's rate in an emergency run: count or percentage"
    )
    max_errors: ErrorBudget = Field(default="1", description="count or percentage")
    sla_hours: dict[Severity, Count] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_HOURS),  # type: ignore[arg-type]
        description="hours to remediate, per severity, that the report measures each "
        "instance against",
    )
    inspector: Inspector = Inspector()

    @field_validator("sla_hours")
    @classmethod
    def _positive(cls, value: dict[str, int]) -> dict[str, int]:
        for severity, hours in value.items():
            if hours < 1:
                raise ValueError(f"{severity}: at least 1 hour")
        return value

    def compiled(self) -> CompiledEmergency:
        return CompiledEmergency(
            bake_minutes=self.bake_minutes,
            max_concurrency=self.max_concurrency,
            max_errors=self.max_errors,
            sla_hours={str(k): v for k, v in self.sla_hours.items()},
            inspector=CompiledInspector(
                enabled=self.inspector.enabled, severities=list(self.inspector.severities)
            ),
        )

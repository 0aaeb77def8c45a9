"""The compiled policy's ``emergency`` section: how an emergency run patches (issue 21).

An emergency run (``fleetpatch.emergency``) patches the instances a CVE affects outside the
schedule, through the fleet's own batches and gates in compressed form: each gate's bake
is ``bakeMinutes`` at most, and every batch sends at ``maxConcurrency`` / ``maxErrors``.
``slaHours`` is the time to remediate the report measures each instance against, per
severity (Inspector's: CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNTRIAGED).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleetpatch.batch_policy import Compiled

Severity = Literal["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNTRIAGED"]
SEVERITIES: tuple[Severity, ...] = (
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "INFORMATIONAL",
    "UNTRIAGED",
)
DEFAULT_INSPECTOR_SEVERITIES: tuple[Severity, ...] = ("CRITICAL", "HIGH")
DEFAULT_SLA_HOURS: dict[str, int] = {"CRITICAL": 24, "HIGH": 72, "MEDIUM": 168, "LOW": 720}


class CompiledInspector(Compiled):
    """Whether an Amazon Inspector finding starts an emergency run, and for which severities."""

    enabled: bool = False
    severities: list[Severity] = Field(default_factory=lambda: list(DEFAULT_INSPECTOR_SEVERITIES))


class CompiledEmergency(Compiled):
    bake_minutes: int = Field(default=10, ge=0, alias="bakeMinutes")
    max_concurrency: str = Field(default="25%", alias="maxConcurrency")
    max_errors: str = Field(default="1", alias="maxErrors")
    sla_hours: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_SLA_HOURS), alias="slaHours"
    )
    inspector: CompiledInspector = Field(default_factory=CompiledInspector)

    def sla_of(self, severity: str) -> int | None:
        """Hours to remediate an instance at ``severity`` (None: the policy sets none)."""
        return self.sla_hours.get(severity.upper())

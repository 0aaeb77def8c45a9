"""Run reports: one model for every run (launch, wave, remediation) and for the digest.

A report says what ran, when, per batch and per instance the outcome (in the one
vocabulary of ``fleetpatch.outcomes``), the patch counts (installed by the run and in
total, missing, failed, pending reboot), the gate decisions with their reasons and where
the command output is. It is stored as JSON and as a self-contained HTML page
(``fleetpatch.report_html``), indexed in the state table, announced on the reports topic
with a subject that says the outcome and a plain-text body that reads as an e-mail; the
Slack notifier reads the stored JSON to build its message. Every format counts with
``RunReport.counts``. A wave's report is built by ``fleetpatch.wave_report``, a launch's
by ``fleetpatch.launch_summary``; the message text is ``fleetpatch.report_text``'s and the
index ``fleetpatch.report_index``'s. Nothing here calls AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fleetpatch.contracts.verdict import PatchCounts, verdict
from fleetpatch.launch_report import ChurnSummary
from fleetpatch.outcomes import PROBLEMS, Outcome, Tally

# 2: one vocabulary (fleetpatch.outcomes: "not-run" became "not-reached"), members' states,
# the instances the tag rule excludes, and what the run itself installed.
# 3: each instance's Name tag and operating system (fleetpatch.instance_facts).
# 4: fleetpatch:skip exceptions (fleetpatch.skip_tag): per batch and per instance.
REPORT_VERSION = 4

Kind = Literal["launch", "wave", "remediation"]
InstanceOutcome = Outcome
"""An instance's outcome, in the one vocabulary every format uses (``fleetpatch.outcomes``)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class InstanceResult(_Model):
    instance_id: str
    outcome: InstanceOutcome
    name: str | None = Field(default=None, description="its Name tag when the report was built")
    platform: str | None = Field(
        default=None,
        description="its operating system as Systems Manager names it (PlatformName and "
        "PlatformVersion: 'Amazon Linux 2023')",
    )
    reason: str | None = None
    state: str | None = Field(
        default=None,
        description="its batch membership state (fleetpatch.membership): ready, not-managed, "
        "stopped, busy, joined, terminated, excepted",
    )
    patch_group: str | None = None
    command_id: str | None = None
    command_status: str | None = None
    operation: str | None = None
    installed: int | None = Field(
        default=None,
        description="InstalledCount of its patch state: every baseline patch installed on it, "
        "by any run (cumulative)",
    )
    installed_by_run: int | None = Field(
        default=None,
        description="patches its command installed (InstalledTime at or after the command was "
        "sent); None: not counted",
    )
    evidence_note: str | None = Field(
        default=None,
        description="where its figures come from when not from this run's own command",
    )
    installed_other: int | None = None
    pending_reboot: int | None = None
    missing: int | None = None
    failed: int | None = None
    reboot_option: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: str | None = Field(default=None, description="s3:// prefix of the command output")
    serving: str | None = Field(
        default=None,
        description="a serving batch's instance outcome (patched, rolled-back, unhealthy, "
        "not-drained, budget-exhausted...; docs/serving.md)",
    )
    out_of_service_seconds: float | None = Field(
        default=None, description="how long it was out of service (serving batches)"
    )
    exception: str | None = Field(
        default=None,
        description="what its fleetpatch:skip tag did: 'excepted until DATE: REASON', "
        "'exception expired on DATE, patched', or why an invalid one was ignored",
    )

    @field_validator("outcome", mode="before")
    @classmethod
    def _renamed(cls, value: Any) -> Any:
        # Reports stored before version 2 said "not-run" for "not-reached".
        return "not-reached" if value == "not-run" else value

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class GateSummary(_Model):
    passed: bool
    reasons: list[str]
    checked: list[str] = Field(default_factory=list, description="the batches it judged")
    approved_by: str | None = None


class ExceptionEntry(_Model):
    """A member's ``fleetpatch:skip`` tag as the run read it (``fleetpatch.skip_tag``)."""

    status: Literal["applies", "expired", "invalid"]
    until: date | None = None
    reason: str | None = None
    note: str = Field(description="what it did, as the instance's ``exception`` says")


class BatchResult(_Model):
    name: str
    patch_groups: list[str] = Field(default_factory=list)
    status: Literal["ran", "held", "not-reached"]
    gate: GateSummary | None = Field(default=None, description="the gate before this batch")
    instances: list[InstanceResult] = Field(default_factory=list)
    excluded: dict[str, str] = Field(
        default_factory=dict,
        description="instances the tag rule excludes (their patch group tags disagree): why",
    )
    exceptions: dict[str, ExceptionEntry] = Field(
        default_factory=dict,
        description="members carrying a fleetpatch:skip tag: the exceptions that applied, "
        "expired or were invalid (ignored)",
    )

    def counts(self) -> Tally:
        return Tally.of((i.outcome for i in self.instances), len(self.excluded))


class RunReport(_Model):
    version: int = REPORT_VERSION
    kind: Kind
    run_id: str
    title: str = Field(description="what ran: 'prod wave', 'launch of i-0abc'")
    outcome: str
    reason: str | None = None
    summary: str
    environment: str | None = None
    trigger: str | None = None
    started_at: datetime
    ended_at: datetime
    execution_arn: str | None = None
    window_execution_id: str | None = None
    notes: list[str] = Field(default_factory=list, description="what else the run did or saw")
    auto_scaling_group: str | None = Field(default=None, description="a launch's group")
    lifecycle_result: Literal["CONTINUE", "ABANDON", "GONE"] | None = Field(
        default=None, description="how a launch's instance was released (None: no hook)"
    )
    churn: ChurnSummary | None = Field(default=None, description="a launch's churn streak")
    batches: list[BatchResult]
    installed_by_run: int | None = Field(
        default=None, description="patches the run's own commands installed, over its instances"
    )
    installed_note: str | None = Field(
        default=None, description="why installed_by_run was not counted"
    )

    # --- figures: every format counts with these ------------------------------------------------

    def instances(self) -> list[InstanceResult]:
        return [i for b in self.batches for i in b.instances]

    def excluded(self) -> dict[str, str]:
        return {k: v for b in self.batches for k, v in b.excluded.items()}

    def exceptions(self) -> dict[str, ExceptionEntry]:
        return {k: v for b in self.batches for k, v in b.exceptions.items()}

    def counts(self) -> Tally:
        """The run's one count: every member of every batch by outcome, the excluded apart."""
        return Tally.of((i.outcome for i in self.instances()), len(self.excluded()))

    def patch_totals(self) -> dict[str, int]:
        """Missing, failed and pending-reboot patches over the instances, as they are now.

        The cumulative InstalledCount is not added up here: summed across instances it
        counts every patch the fleet ever installed, not what this run did (see
        ``installed_by_run``).
        """
        totals = {"missing": 0, "failed": 0, "pending_reboot": 0}
        for instance in self.instances():
            for key in totals:
                totals[key] += getattr(instance, key) or 0
        return totals

    def failed_instances(self) -> list[InstanceResult]:
        """What needs a look: failed, not reached or non-compliant in a batch that ran."""
        return [
            i
            for b in self.batches
            if b.status == "ran"
            for i in b.instances
            if i.outcome in PROBLEMS
        ]

    @property
    def duration_seconds(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def healthy(self) -> bool:
        return self.outcome in ("patched", "compliant", "completed", "skipped-by-exception")


class DriftEntry(_Model):
    """One instance in a compliance digest: its latest transition in the digest's interval."""

    instance_id: str
    transition: Literal["drifted", "recovered"]
    at: datetime
    environment: str | None = None
    patch_group: str | None = None
    severity: str | None = None
    baseline_id: str | None = None
    changes: int = Field(default=1, ge=1, description="transitions seen in the interval")
    exception: str | None = Field(
        default=None,
        description="a drifted instance's fleetpatch:skip exception that applies when the "
        "digest is sent (its drift is recorded, not remediated)",
    )


class DigestReport(_Model):
    """Compliance drift and recovery since the last digest: one message for many instances."""

    version: int = REPORT_VERSION
    kind: Literal["compliance-digest"] = "compliance-digest"
    run_id: str = Field(description="the digest's id, e.g. digest-20261123T0600Z")
    title: str = "compliance digest"
    started_at: datetime = Field(description="the first change it carries")
    ended_at: datetime = Field(description="when it was sent")
    entries: list[DriftEntry]

    @property
    def drifted(self) -> list[DriftEntry]:
        return [e for e in self.entries if e.transition == "drifted"]

    @property
    def recovered(self) -> list[DriftEntry]:
        return [e for e in self.entries if e.transition == "recovered"]

    @property
    def outcome(self) -> str:
        return "drift" if self.drifted else "recovered"

    @property
    def environment(self) -> str | None:
        found = sorted({e.environment for e in self.entries if e.environment})
        return ",".join(found) if found else None


# --- building reports ---------------------------------------------------------------------------


class Facts(Protocol):
    """What ``fleetpatch.instance_facts`` found for one instance."""

    @property
    def name(self) -> str | None: ...
    @property
    def platform(self) -> str | None: ...


def with_instance_facts(
    report: RunReport, facts: Mapping[str, Facts], notes: Sequence[str] = ()
) -> RunReport:
    """``report`` with each instance's Name tag and operating system (unknown: left None)."""

    def named(instance: InstanceResult) -> InstanceResult:
        found = facts.get(instance.instance_id)
        if found is None:
            return instance
        return instance.model_copy(update={"name": found.name, "platform": found.platform})

    batches = [
        b.model_copy(update={"instances": [named(i) for i in b.instances]}) for b in report.batches
    ]
    return report.model_copy(update={"batches": batches, "notes": [*report.notes, *notes]})


def instance_outcome(
    command_status: str | None, state: Mapping[str, Any] | None, *, ran: bool = True
) -> tuple[InstanceOutcome, str | None]:
    """One instance's outcome from its command's final status and its patch state after."""
    if not ran:
        return "not-reached", "its batch was held by a gate"
    if command_status is None:
        return "not-reached", "no patch command reached it"
    operation = state.get("Operation") if state is not None else None
    found = verdict(command_status, PatchCounts.of(state), operation=operation)
    return found.outcome, found.reason


def instance_result(
    instance_id: str,
    *,
    command_status: str | None,
    state: Mapping[str, Any] | None,
    command_id: str | None = None,
    output: str | None = None,
    patch_group: str | None = None,
    ran: bool = True,
) -> InstanceResult:
    outcome, reason = instance_outcome(command_status, state, ran=ran)
    state = state or {}
    return InstanceResult(
        instance_id=instance_id,
        outcome=outcome,
        reason=reason,
        patch_group=patch_group or state.get("PatchGroup") or None,
        command_id=command_id,
        command_status=command_status,
        operation=state.get("Operation"),
        installed=state.get("InstalledCount"),
        installed_other=state.get("InstalledOtherCount"),
        pending_reboot=state.get("InstalledPendingRebootCount"),
        missing=state.get("MissingCount"),
        failed=state.get("FailedCount"),
        reboot_option=state.get("RebootOption"),
        started_at=_when(state.get("OperationStartTime")),
        ended_at=_when(state.get("OperationEndTime")),
        output=output,
    )


def _when(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

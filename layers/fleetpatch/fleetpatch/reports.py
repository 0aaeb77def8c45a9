"""Run reports: one model for every run (launch, wave, remediation) and for the digest.

A report says what ran, when, per batch and per instance the outcome (in the one
vocabulary of ``fleetpatch.outcomes``), the patch counts (installed by the run and in
total, missing, failed, pending reboot), the gate decisions with their reasons and where
the command output is. It is stored as JSON and as a self-contained HTML page
(``fleetpatch.report_html``), indexed in the state table, announced on the reports topic
with a subject that says the outcome and a plain-text body that reads as an e-mail; the
Slack notifier reads the stored JSON to build its message. Every format counts with
``RunReport.counts``. A wave's report is built by ``fleetpatch.wave_report``.

Nothing here calls AWS but :class:`ReportIndex`, which takes its client as an argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fleetpatch import launch_report
from fleetpatch.contracts.s3 import launch_output_prefix
from fleetpatch.contracts.verdict import PatchCounts, verdict
from fleetpatch.evidence import output_prefix
from fleetpatch.launch_report import ChurnSummary
from fleetpatch.outcomes import PROBLEMS, Outcome, Tally, label

# 2: one vocabulary (fleetpatch.outcomes: "not-run" became "not-reached"), members' states,
# the instances the tag rule excludes, and what the run itself installed.
REPORT_VERSION = 2
SUBJECT_LIMIT = 99  # SNS allows 100 characters; e-mail clients show fewer.
# Instances listed in an e-mail or a Slack message (failed ones first); the stored report
# has every instance.
LISTED_INSTANCES = 25

Kind = Literal["launch", "wave", "remediation"]
InstanceOutcome = Outcome
"""An instance's outcome, in the one vocabulary every format uses (``fleetpatch.outcomes``)."""

_FAILED_OUTCOMES = ("failed", "non-compliant")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceResult(_Model):
    instance_id: str
    outcome: InstanceOutcome
    reason: str | None = None
    state: str | None = Field(
        default=None,
        description="its batch membership state (fleetpatch.membership): ready, not-managed, "
        "stopped, busy, joined, terminated",
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
        return self.outcome in ("patched", "compliant", "completed")


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


def parse_time(value: Any, default: datetime) -> datetime:
    return _when(value) or default


# --- the message: subject, e-mail body, attributes ---------------------------------------------


def subject(report: RunReport) -> str:
    """Under 100 characters, the outcome first: 'prod wave: windows-apps held; 6 instances: ...'.

    A wave's subject carries the run's one count (``RunReport.counts``), as every format does.
    """
    if report.kind == "wave":
        counted = report.counts().sentence()
        if report.outcome == "held":
            held = next((b.name for b in report.batches if b.status == "held"), "next batch")
            text = f"{report.title}: {held} held; {counted}"
        elif report.outcome == "completed-with-failures" or report.failed_instances():
            text = f"{report.title}: done with failures; {counted}"
        else:
            text = f"{report.title}: done; {counted}"
    elif report.churn is not None and report.churn.escalation:
        text = launch_report.escalation_subject(report)
    else:
        instance = report.instances()[0] if report.instances() else None
        what = {"patched": "patched", "compliant": "already compliant"}.get(report.outcome)
        text = f"{report.title}: {what or report.outcome}"
        if report.outcome == "failed" and report.reason:
            text += f" ({report.reason})"
        elif report.outcome == "scanned" and instance is not None:
            text += f", {instance.missing or 0} missing"
        elif report.outcome == "patched" and instance is not None and instance.installed:
            text += f", {instance.installed} installed"
        released = launch_report.lifecycle_phrase(report)
        if released:
            text += f", {released}"
        if report.environment:
            text += f" [{report.environment}]"
    return clip(text, SUBJECT_LIMIT)


def email_body(report: RunReport, *, report_url: str | None, console_url: str | None) -> str:
    """The plain-text body: the outcome, what ran when, per batch, then where to look."""
    lines = [subject(report), "", report.summary, ""]
    if report.churn is not None and report.churn.escalation:
        lines += [*launch_report.escalation_lines(report.churn), ""]
    rows = [
        ("Outcome", report.outcome + (f" ({report.reason})" if report.reason else "")),
        ("Run", report.run_id),
        ("Environment", report.environment or "-"),
    ]
    lifecycle = launch_report.lifecycle_description(report)
    if lifecycle is not None:
        rows += [
            ("Auto Scaling group", report.auto_scaling_group or "-"),
            ("Lifecycle result", lifecycle),
        ]
    rows += [
        ("Trigger", report.trigger or "-"),
        ("Started", format_stamp(report.started_at)),
        ("Ended", f"{format_stamp(report.ended_at)} ({format_duration(report.duration_seconds)})"),
    ]
    if report.window_execution_id:
        rows.append(("Window", report.window_execution_id))
    for note in report.notes:
        rows.append(("Note", note))
    rows += figure_rows(report)
    width = max(len(k) for k, _ in rows) + 1
    lines += [f"{(k + ':').ljust(width)} {v}" for k, v in rows]
    for batch in report.batches:
        lines += ["", *_batch_lines(batch, wave=report.kind == "wave")]
    lines.append("")
    if report_url:
        lines.append(f"Report: {report_url}")
    if console_url:
        lines.append(f"Execution: {console_url}")
    return "\n".join(lines).rstrip() + "\n"


def _batch_lines(batch: BatchResult, *, wave: bool) -> list[str]:
    lines = [_batch_heading(batch)]
    if batch.gate is not None:
        verdict = "passed" if batch.gate.passed else "FAILED"
        lines.append(f"  gate {verdict}: {'; '.join(batch.gate.reasons) or '-'}")
        if batch.gate.approved_by:
            lines.append(f"  approved by {batch.gate.approved_by}")
    listed = sorted(batch.instances, key=_failed_first)[:LISTED_INSTANCES]
    lines += ["  " + _instance_line(instance, wave=wave) for instance in listed]
    if len(batch.instances) > len(listed):
        lines.append(f"  ... and {len(batch.instances) - len(listed)} more in the report")
    for instance_id, why in sorted(batch.excluded.items())[:LISTED_INSTANCES]:
        lines.append(f"  excluded: {instance_id} - {why}")
    if len(batch.excluded) > LISTED_INSTANCES:
        lines.append(
            f"  ... and {len(batch.excluded) - LISTED_INSTANCES} more excluded in the report"
        )
    return lines


def figure_rows(report: RunReport) -> list[tuple[str, str]]:
    """The run's figures as (name, text): a wave's one count and what the run installed."""
    if report.kind != "wave":
        return [("Patches", patches_line(report))]
    return [
        ("Instances", report.counts().sentence()),
        ("Installed", installed_text(report)),
        ("Patches", patches_line(report)),
    ]


def patches_line(report: RunReport) -> str:
    """The patch figures in one line; a wave's leads with what the run itself installed."""
    totals = report.patch_totals()
    rest = (
        f"{totals['missing']} missing, {totals['failed']} failed, "
        f"{totals['pending_reboot']} pending reboot"
    )
    if report.kind == "wave":
        return rest
    installed = sum(i.installed or 0 for i in report.instances())
    return f"{installed} installed, {rest}"


def installed_text(report: RunReport) -> str:
    """'12 by this run', or why the run's installs were not counted."""
    if report.installed_by_run is None:
        return f"not counted ({report.installed_note or 'no figure'})"
    return f"{report.installed_by_run} by this run"


def attributes(
    report: RunReport | DigestReport, *, report_key: str | None
) -> dict[str, dict[str, str]]:
    """SNS message attributes subscribers filter on (kind, environment, outcome, ...).

    A launch also carries its lifecycle result (``none``: launched outside Auto Scaling)
    and its group; a launch-churn escalation carries ``churn: escalation``.
    """
    values = {
        "kind": report.kind,
        "environment": report.environment or "unknown",
        "outcome": report.outcome,
        "run": report.run_id,
    }
    if isinstance(report, RunReport) and report.kind == "launch":
        values["lifecycle"] = report.lifecycle_result or "none"
        if report.auto_scaling_group:
            values["group"] = report.auto_scaling_group
        if report.churn is not None and report.churn.escalation:
            values["churn"] = "escalation"
    if report_key:
        values["report"] = report_key
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def _batch_heading(batch: BatchResult) -> str:
    status = {"ran": "", "held": " - HELD, not run", "not-reached": " - not reached"}[batch.status]
    return f"Batch {batch.name} ({batch.counts().sentence()}){status}"


def _instance_line(instance: InstanceResult, *, wave: bool) -> str:
    counts = ""
    if instance.installed is not None:
        installed = f"installed {instance.installed}"
        if wave:
            by_run = "-" if instance.installed_by_run is None else instance.installed_by_run
            installed = f"installed {by_run} by this run ({instance.installed} in total)"
        counts = (
            f" {installed}, missing {instance.missing or 0}, "
            f"failed {instance.failed or 0}, pending reboot {instance.pending_reboot or 0}"
        )
    why = "; ".join(x for x in (instance.reason, instance.evidence_note) if x)
    reason = f" - {why}" if why else ""
    return f"{instance.instance_id:<20} {label(instance.outcome):<13}{counts}{reason}"


def _failed_first(instance: InstanceResult) -> tuple[int, str]:
    """Failed, then not reached, then non-compliant, then the rest; by id within each."""
    rank = PROBLEMS.index(instance.outcome) if instance.outcome in PROBLEMS else len(PROBLEMS)
    return (rank, instance.instance_id)


def format_stamp(when: datetime) -> str:
    """One way to show a time in every report: UTC, to the second."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: float) -> str:
    """'2h 05m', '3m 07s', '42s'."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def report_console_url(region: str, bucket: str, key: str | None) -> str | None:
    """Where a person opens a stored report: the S3 console (a presigned URL would expire)."""
    if not key:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/s3/object/{bucket}?region={region}&prefix={key}"
    )


def console_url(region: str, execution_arn: str | None) -> str | None:
    if not execution_arn:
        return None
    return (
        f"https://{region}.console.aws.amazon.com/states/home?region={region}"
        f"#/v2/executions/details/{execution_arn}"
    )


# --- what the workflows hand over, and the reports built from it ------------------------------


class _Summary(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class InstanceRunSummary(_Summary):
    """The end of a patch-new-instance run (launch, warm pool or remediation)."""

    run_id: str = Field(alias="runId", min_length=1)
    instance_id: str = Field(alias="instanceId", min_length=1)
    trigger: str
    outcome: Literal["patched", "compliant", "scanned", "failed"]
    reason: str
    summary: str
    started_at: datetime = Field(alias="startedAt")
    execution_arn: str | None = Field(default=None, alias="executionArn")
    operation: str | None = None
    target: dict[str, Any] | None = None
    command_id: str | None = Field(default=None, alias="commandId")
    command_status: str | None = Field(default=None, alias="commandStatus")
    patch_state: dict[str, Any] | None = Field(default=None, alias="patchState")
    lifecycle_result: Literal["CONTINUE", "ABANDON", "GONE"] | None = Field(
        default=None, alias="lifecycleResult"
    )
    lifecycle_note: str | None = Field(default=None, alias="lifecycleNote")
    group: str | None = Field(default=None, description="the lifecycle action's group")
    launch_outcome: dict[str, Any] | None = Field(
        default=None, alias="launchOutcome", description="fleetpatch.launch_outcome's answer"
    )


def instance_report(
    run: InstanceRunSummary, *, ended_at: datetime, bucket: str | None
) -> RunReport:
    """The report of a run on one instance, from what the workflow gathered."""
    target = run.target or {}
    kind: Kind = "remediation" if run.trigger == "remediation" else "launch"
    state = run.patch_state
    if run.command_id is None:
        result = InstanceResult(
            instance_id=run.instance_id,
            outcome="failed",
            reason=run.summary,
            patch_group=target.get("patchGroup"),
        )
    else:
        result = instance_result(
            run.instance_id,
            command_status=run.command_status,
            state=state,
            command_id=run.command_id,
            output=output_prefix(
                bucket, launch_output_prefix(run.run_id), run.command_id, run.instance_id
            ),
            patch_group=target.get("patchGroup"),
        )
        if run.outcome == "failed" and result.outcome not in _FAILED_OUTCOMES:
            # The workflow's verdict stands (e.g. the command never finished).
            result = result.model_copy(update={"outcome": "failed", "reason": run.summary})
    verb = {"remediation": "remediation of", "launch": "launch of"}[kind]
    outcome = run.launch_outcome or {}
    churn = launch_report.churn_summary(outcome.get("churn"))
    notes = []
    if run.lifecycle_note:
        notes.append(f"lifecycle action {run.lifecycle_result}: {run.lifecycle_note}")
    if outcome.get("error"):
        notes.append(f"the launch's outcome was not accounted: {outcome['error']}")
    churn_note = launch_report.churn_note(churn) if churn is not None else None
    if churn_note:
        notes.append(churn_note)
    return RunReport(
        kind=kind,
        run_id=run.run_id,
        title=f"{verb} {run.instance_id}",
        outcome=run.outcome,
        reason=None if run.outcome != "failed" else run.reason,
        summary=run.summary,
        environment=target.get("environment") or outcome.get("environment"),
        trigger=run.trigger,
        started_at=run.started_at,
        ended_at=ended_at,
        execution_arn=run.execution_arn,
        notes=notes,
        auto_scaling_group=outcome.get("autoScalingGroup") or run.group,
        lifecycle_result=run.lifecycle_result,
        churn=churn,
        batches=[
            BatchResult(
                name=target.get("patchGroup") or "instance",
                patch_groups=[target["patchGroup"]] if target.get("patchGroup") else [],
                status="ran",
                instances=[result],
            )
        ],
    )

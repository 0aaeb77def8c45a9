"""Run reports: one model for every run (launch, wave, remediation) and for the digest.

A report says what ran, when, per batch and per instance the outcome, the patch counts
(installed, missing, failed, pending reboot), the gate decisions with their reasons and
where the command output is. It is stored as JSON and as a self-contained HTML page
(``fleetpatch.report_html``), indexed in the state table, announced on the reports topic
with a subject that says the outcome and a plain-text body that reads as an e-mail; the
Slack notifier reads the stored JSON to build its message.

Nothing here calls AWS but :class:`ReportIndex` and the evidence readers, which take their
clients as arguments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import launch_report
from fleetpatch.launch_report import ChurnSummary
from fleetpatch.waves import (
    batch_instances,
    command_invocations,
    output_prefix,
    patch_states,
    window_command_ids,
)

REPORT_VERSION = 1
SUBJECT_LIMIT = 99  # SNS allows 100 characters; e-mail clients show fewer.
# Instances listed in an e-mail or a Slack message (failed ones first); the stored report
# has every instance.
LISTED_INSTANCES = 25

Kind = Literal["launch", "wave", "remediation"]
InstanceOutcome = Literal["patched", "compliant", "non-compliant", "failed", "not-run"]
"""patched: the command succeeded and nothing is missing, failed or pending a reboot;
compliant: a scan found nothing to install; non-compliant: the command succeeded but
patches are missing or wait for a reboot; failed: the command failed; not-run: no command
reached it (its batch was held by a gate, or the window stopped before it). A gate counts
an instance of a checked batch that no command reached as failed; the report says which."""

_FAILED_OUTCOMES = ("failed", "non-compliant")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InstanceResult(_Model):
    instance_id: str
    outcome: InstanceOutcome
    reason: str | None = None
    patch_group: str | None = None
    command_id: str | None = None
    command_status: str | None = None
    operation: str | None = None
    installed: int | None = None
    installed_other: int | None = None
    pending_reboot: int | None = None
    missing: int | None = None
    failed: int | None = None
    reboot_option: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    output: str | None = Field(default=None, description="s3:// prefix of the command output")

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

    def counts(self) -> dict[str, int]:
        return dict(Counter(i.outcome for i in self.instances))


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

    # --- figures ------------------------------------------------------------------------------

    def instances(self) -> list[InstanceResult]:
        return [i for b in self.batches for i in b.instances]

    def counts(self) -> dict[str, int]:
        return dict(Counter(i.outcome for i in self.instances()))

    def patch_totals(self) -> dict[str, int]:
        totals = {"installed": 0, "missing": 0, "failed": 0, "pending_reboot": 0}
        for instance in self.instances():
            for key in totals:
                totals[key] += getattr(instance, key) or 0
        return totals

    def failed_instances(self) -> list[InstanceResult]:
        return [i for i in self.instances() if i.outcome in _FAILED_OUTCOMES]

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
        return "not-run", "its batch was held by a gate"
    if command_status is None:
        return "not-run", "no patch command reached it"
    if command_status != "Success":
        return "failed", f"AWS-RunPatchBaseline ended {command_status}"
    if state is None:
        return "non-compliant", "no patch state reported after the run"
    if state.get("FailedCount"):
        return "failed", f"{state['FailedCount']} patch(es) failed to install"
    problems = [
        f"{state[key]} {what}"
        for key, what in (
            ("MissingCount", "missing"),
            ("InstalledPendingRebootCount", "pending reboot"),
        )
        if state.get(key)
    ]
    if problems:
        return "non-compliant", ", ".join(problems)
    if state.get("Operation") == "Scan":
        return "compliant", None
    return "patched", None


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
    """Under 100 characters, the outcome first: 'prod wave: windows-apps held, 1 of 6 ...'."""
    if report.kind == "wave":
        ran = [b for b in report.batches if b.status == "ran"]
        judged = [i for b in ran for i in b.instances]
        failed = sum(1 for i in judged if i.outcome in _FAILED_OUTCOMES)
        # Instances of a batch that ran but that no command reached (the window stopped at
        # MaxErrors, or they were not running): not failed, not patched either.
        unreached = sum(1 for i in judged if i.outcome == "not-run")
        missed = f", {unreached} not reached" if unreached else ""
        if report.outcome == "held":
            held = next((b.name for b in report.batches if b.status == "held"), "next batch")
            text = (
                f"{report.title}: {held} held, {failed} of "
                f"{plural(len(judged), 'instance')} failed{missed}"
            )
        elif failed or unreached:
            text = (
                f"{report.title}: done with failures, "
                f"{failed} of {plural(len(judged), 'instance')} failed{missed}"
            )
        else:
            text = (
                f"{report.title}: done, {plural(len(judged), 'instance')} patched in "
                f"{len(ran)} batch{'es' if len(ran) != 1 else ''}"
            )
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
    totals = report.patch_totals()
    rows.append(
        (
            "Patches",
            f"{totals['installed']} installed, {totals['missing']} missing, "
            f"{totals['failed']} failed, {totals['pending_reboot']} pending reboot",
        )
    )
    width = max(len(k) for k, _ in rows) + 1
    lines += [f"{(k + ':').ljust(width)} {v}" for k, v in rows]
    for batch in report.batches:
        lines += ["", _batch_heading(batch)]
        if batch.gate is not None:
            verdict = "passed" if batch.gate.passed else "FAILED"
            lines.append(f"  gate {verdict}: {'; '.join(batch.gate.reasons) or '-'}")
            if batch.gate.approved_by:
                lines.append(f"  approved by {batch.gate.approved_by}")
        listed = sorted(batch.instances, key=_failed_first)[:LISTED_INSTANCES]
        for instance in listed:
            lines.append("  " + _instance_line(instance))
        if len(batch.instances) > len(listed):
            lines.append(f"  ... and {len(batch.instances) - len(listed)} more in the report")
    lines.append("")
    if report_url:
        lines.append(f"Report: {report_url}")
    if console_url:
        lines.append(f"Execution: {console_url}")
    return "\n".join(lines).rstrip() + "\n"


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
    counts = batch.counts()
    described = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no instances"
    status = {"ran": "", "held": " - HELD, not run", "not-reached": " - not reached"}[batch.status]
    return f"Batch {batch.name} ({plural(len(batch.instances), 'instance')}: {described}){status}"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _instance_line(instance: InstanceResult) -> str:
    counts = ""
    if instance.installed is not None:
        counts = (
            f" installed {instance.installed}, missing {instance.missing or 0}, "
            f"failed {instance.failed or 0}, pending reboot {instance.pending_reboot or 0}"
        )
    reason = f" - {instance.reason}" if instance.reason else ""
    return f"{instance.instance_id:<20} {instance.outcome:<13}{counts}{reason}"


def _failed_first(instance: InstanceResult) -> tuple[int, str]:
    return (0 if instance.outcome in _FAILED_OUTCOMES else 1, instance.instance_id)


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


# --- storing and indexing ---------------------------------------------------------------------


def report_keys(run_id: str) -> tuple[str, str]:
    """Where a run's report lives in the artifacts bucket: (JSON key, HTML key)."""
    return f"reports/{run_id}.json", f"reports/{run_id}.html"


RECORD_TTL_SECONDS = 400 * 24 * 3600


class ReportIndex:
    """The state table's index of reports (``REPORT#<run>``; gsi1 ``REPORTS`` by end time).

    Publishing is recorded so a retried publish does not announce a run twice.
    """

    def __init__(self, dynamodb: Any, table: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._now = now

    @staticmethod
    def _key(run_id: str) -> dict[str, dict[str, str]]:
        return {"pk": {"S": f"REPORT#{run_id}"}, "sk": {"S": "REPORT"}}

    def record(
        self,
        report: RunReport | DigestReport,
        *,
        subject_line: str,
        json_key: str | None,
        html_key: str | None,
        store_error: str | None = None,
    ) -> None:
        if isinstance(report, RunReport):
            instances, failed = len(report.instances()), len(report.failed_instances())
        else:
            instances, failed = len(report.entries), len(report.drifted)
        item = {
            **self._key(report.run_id),
            "gsi1pk": {"S": "REPORTS"},
            "gsi1sk": {"S": f"{report.ended_at.astimezone(UTC).isoformat()}#{report.run_id}"},
            "run_id": {"S": report.run_id},
            "kind": {"S": report.kind},
            "title": {"S": report.title},
            "outcome": {"S": report.outcome},
            "subject": {"S": subject_line},
            "environment": {"S": report.environment or ""},
            "started_at": {"S": report.started_at.astimezone(UTC).isoformat()},
            "ended_at": {"S": report.ended_at.astimezone(UTC).isoformat()},
            "instances": {"N": str(instances)},
            "failed": {"N": str(failed)},
            "json_key": {"S": json_key or ""},
            "html_key": {"S": html_key or ""},
            "store_error": {"S": store_error or ""},
            "expires_at": {"N": str(int(self._now()) + RECORD_TTL_SECONDS)},
        }
        # Keep what an earlier attempt published (message ids) when a retry rewrites it.
        names = {f"#{k}": k for k in item if k not in ("pk", "sk")}
        self._dynamodb.update_item(
            TableName=self._table,
            Key=self._key(report.run_id),
            UpdateExpression="SET "
            + ", ".join(f"#{k} = :{k}" for k in item if k not in ("pk", "sk")),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                f":{k}": v for k, v in item.items() if k not in ("pk", "sk")
            },
        )

    def published(self, run_id: str) -> str | None:
        """The SNS message id a run's report was announced with, if it was."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key=self._key(run_id), ConsistentRead=True
        ).get("Item", {})
        return item.get("message_id", {}).get("S") or None

    def mark_published(self, run_id: str, message_id: str) -> bool:
        """Record the announcement; False when another attempt got there first."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(run_id),
                UpdateExpression="SET message_id = :id",
                ConditionExpression="attribute_not_exists(message_id)",
                ExpressionAttributeValues={":id": {"S": message_id}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, run_id: str) -> dict[str, Any] | None:
        item = self._dynamodb.get_item(TableName=self._table, Key=self._key(run_id)).get("Item")
        return None if item is None else _plain(item)

    def list(self, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Reports, newest first, ended at or after ``since``."""
        condition = "gsi1pk = :pk"
        values: dict[str, Any] = {":pk": {"S": "REPORTS"}}
        if since is not None:
            condition += " AND gsi1sk >= :since"
            values[":since"] = {"S": since.astimezone(UTC).isoformat()}
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "gsi1",
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        while len(found) < limit:
            page = self._dynamodb.query(**kwargs)
            found += [_plain(i) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]


def _plain(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A DynamoDB item as plain values (S, N, BOOL)."""
    plain: dict[str, Any] = {}
    for key, value in item.items():
        if "S" in value:
            plain[key] = value["S"]
        elif "N" in value:
            number = float(value["N"])
            plain[key] = int(number) if number.is_integer() else number
        elif "BOOL" in value:
            plain[key] = value["BOOL"]
    return plain


def environments_of(patch_groups: Iterable[str], mapping: Mapping[str, str]) -> str | None:
    """The environment(s) a set of patch groups belongs to, per the compiled policy."""
    found = sorted({mapping[g] for g in patch_groups if g in mapping})
    return ",".join(found) if found else None


def batch_statuses(names: Sequence[str], reached: int, held: bool) -> list[str]:
    """Per batch: ran (before ``reached``), held (``reached`` when a gate held) or not reached."""
    statuses = []
    for index, _ in enumerate(names):
        if index < reached:
            statuses.append("ran")
        elif index == reached and held:
            statuses.append("held")
        else:
            statuses.append("not-reached")
    return statuses


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


class WaveRunSummary(_Summary):
    """The end of a gated-wave run."""

    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    outcome: Literal["held", "completed", "completed-with-failures"]
    reason: str | None = None
    summary: str
    started_at: datetime = Field(alias="startedAt")
    execution_arn: str | None = Field(default=None, alias="executionArn")
    window_execution_id: str | None = Field(default=None, alias="windowExecutionId")
    window_status: str | None = Field(default=None, alias="windowStatus")
    promote_from: str | None = Field(default=None, alias="promoteFrom")
    step: int = Field(ge=0, description="the batch the run stopped at (len(batches): all ran)")
    batches: list[dict[str, Any]] = Field(min_length=1)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    commands: dict[str, list[str]] = Field(default_factory=dict)


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
                bucket, f"command-output/launch/{run.run_id}", run.command_id, run.instance_id
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


def wave_report(
    run: WaveRunSummary,
    *,
    ended_at: datetime,
    patch_group_environments: Mapping[str, str],
    ssm: Any,
    ec2: Any,
    notes: Sequence[str] = (),
) -> RunReport:
    """The report of a gated-wave run: the evidence of every batch, gathered again now."""

    names = [str(b["name"]) for b in run.batches]
    statuses = batch_statuses(names, run.step, run.outcome == "held")
    gates = {d.get("batch"): d for d in run.decisions}
    batches: list[BatchResult] = []
    all_groups: list[str] = []
    for index, (raw, status) in enumerate(zip(run.batches, statuses, strict=True)):
        name = names[index]
        groups = [str(g) for g in raw.get("patchGroups", [])]
        all_groups += groups
        expected = batch_instances(ec2, groups)
        invocations = {}
        if status == "ran":
            if index == 0 and run.window_execution_id and name not in run.commands:
                command_ids = window_command_ids(ssm, run.window_execution_id)
            else:
                command_ids = run.commands.get(name, [])
            invocations = command_invocations(ssm, command_ids, with_output=True)
        instances = sorted(set(expected) | set(invocations))
        states = patch_states(ssm, instances) if status == "ran" else {}
        results = [
            instance_result(
                instance,
                command_status=invocations[instance].status if instance in invocations else None,
                state=states.get(instance),
                command_id=invocations[instance].command_id if instance in invocations else None,
                output=invocations[instance].output if instance in invocations else None,
                patch_group=_single(groups),
                ran=status == "ran",
            )
            for instance in instances
        ]
        decision = gates.get(name)
        gate = None
        if decision is not None:
            gate = GateSummary(
                passed=bool(decision.get("passed")),
                reasons=[str(r) for r in decision.get("reasons", [])],
                checked=[str(b) for b in (raw.get("gate") or {}).get("batches", [])],
                approved_by=_approver(decision),
            )
        batches.append(
            BatchResult(name=name, patch_groups=groups, status=status, gate=gate, instances=results)  # type: ignore[arg-type]
        )
    return RunReport(
        kind="wave",
        run_id=run.run_id,
        title=f"{run.wave} wave",
        outcome=run.outcome,
        reason=run.reason,
        summary=run.summary,
        environment=environments_of(all_groups, patch_group_environments),
        trigger="window" if run.window_execution_id else "manual",
        started_at=run.started_at,
        ended_at=ended_at,
        execution_arn=run.execution_arn,
        window_execution_id=run.window_execution_id,
        notes=list(notes),
        batches=batches,
    )


def _single(groups: Sequence[str]) -> str | None:
    return groups[0] if len(groups) == 1 else None


def _approver(decision: Mapping[str, Any]) -> str | None:
    if not decision.get("approved"):
        return None
    for reason in decision.get("reasons", []):
        if str(reason).startswith("gate overridden by "):
            return str(reason).removeprefix("gate overridden by ").split(":", 1)[0]
    return "an operator"

"""A run report as a message: the SNS subject, the e-mail body, its attributes, and the
figures and phrases the other formats (Slack, the HTML page) share.

Every count comes from ``RunReport.counts`` (``fleetpatch.outcomes``), so a held wave says
the same in the subject, the e-mail, Slack and the page.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fleetpatch import launch_report
from fleetpatch.outcomes import PROBLEMS, label
from fleetpatch.reports import BatchResult, DigestReport, InstanceResult, RunReport

SUBJECT_LIMIT = 99  # SNS allows 100 characters; e-mail clients show fewer.
# Instances listed in an e-mail or a Slack message (failed ones first); the stored report
# has every instance.
LISTED_INSTANCES = 25


# --- the message: subject, e-mail body, attributes ---------------------------------------------


def subject(report: RunReport) -> str:
    """Under 100 characters, the outcome first: 'prod wave: windows-apps held; 6 instances: ...'.

    A wave's subject carries the run's one count (``RunReport.counts``), as every format does.
    """
    if report.kind == "wave":
        counted = report.counts().sentence()
        if report.outcome == "skipped":
            why = "change freeze" if report.reason == "ChangeFreeze" else "by an operator"
            text = f"{report.title}: skipped ({why}), nothing sent"
        elif report.outcome == "held":
            held = next((b.name for b in report.batches if b.status == "held"), "next batch")
            text = f"{report.title}: {held} held; {counted}"
        elif report.outcome == "completed-with-failures" or report.failed_instances():
            text = f"{report.title}: done with failures; {counted}"
        else:
            text = f"{report.title}: done; {counted}"
    elif report.churn is not None and report.churn.escalation:
        text = launch_report.escalation_subject(report)
    else:
        text = _instance_subject(report)
    return clip(text, SUBJECT_LIMIT)


def _instance_subject(report: RunReport) -> str:
    """A run on one instance (launch, remediation): its outcome and what explains it."""
    instance = report.instances()[0] if report.instances() else None
    what = {
        "patched": "patched",
        "compliant": "already compliant",
        "skipped-by-exception": "not patched",
    }.get(report.outcome)
    text = f"{report.title}: {what or report.outcome}"
    if report.outcome == "failed" and report.reason:
        text += f" ({report.reason})"
    elif report.outcome == "skipped-by-exception" and instance is not None:
        text += f" ({instance.reason})"
    elif report.outcome == "scanned" and instance is not None:
        text += f", {instance.missing or 0} missing"
    elif report.outcome == "patched" and instance is not None and instance.installed:
        text += f", {instance.installed} installed"
    released = launch_report.lifecycle_phrase(report)
    if released:
        text += f", {released}"
    if report.environment:
        text += f" [{report.environment}]"
    return text


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
    # Every exception is listed (an operator must see who opted out, and whose exception
    # expired or could not be read), not only the first few.
    for instance_id, entry in sorted(batch.exceptions.items()):
        lines.append(f"  exception: {instance_id} - {entry.note}")
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
    served = f"{';' if counts else ''} {serving_text(instance)}" if instance.serving else ""
    return f"{instance.instance_id:<20} {label(instance.outcome):<13}{counts}{served}{reason}"


def serving_text(instance: InstanceResult) -> str:
    """'serving rolled-back, out of service 7m 30s' (an instance of a serving batch)."""
    seconds = instance.out_of_service_seconds
    out = "" if seconds is None else f", out of service {format_duration(seconds)}"
    return f"serving {instance.serving}{out}"


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

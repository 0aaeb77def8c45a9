"""What a patch-new-instance run hands over at its end, and the report built from it.

The workflow (launch, warm pool or remediation) ends with :class:`InstanceRunSummary`;
publish-report turns it into a :class:`~fleetpatch.reports.RunReport` here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import launch_report
from fleetpatch.contracts.s3 import launch_output_prefix
from fleetpatch.evidence import output_prefix
from fleetpatch.outcomes import label
from fleetpatch.reports import (
    BatchResult,
    ExceptionEntry,
    InstanceResult,
    Kind,
    RunReport,
    instance_result,
)

_FAILED_OUTCOMES = ("failed", "non-compliant")


# --- what the workflows hand over, and the reports built from it ------------------------------


class _Summary(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class InstanceRunSummary(_Summary):
    """The end of a patch-new-instance run (launch, warm pool or remediation)."""

    run_id: str = Field(alias="runId", min_length=1)
    instance_id: str = Field(alias="instanceId", min_length=1)
    trigger: str
    outcome: Literal["patched", "compliant", "scanned", "failed", "skipped-by-exception"]
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
    exception = target.get("exception") or None
    if run.outcome == "skipped-by-exception":
        result = InstanceResult(
            instance_id=run.instance_id,
            outcome="skipped-by-exception",
            reason=exception["note"] if exception else run.summary,
            state="excepted",
            patch_group=target.get("patchGroup"),
        )
    elif run.command_id is None:
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
    exceptions: dict[str, ExceptionEntry] = {}
    if exception:
        note = exception["note"]
        if result.outcome != "skipped-by-exception":
            note = f"{note}, {label(result.outcome)}"
        exceptions[run.instance_id] = ExceptionEntry(
            status=exception["status"],
            until=exception.get("until"),
            reason=exception.get("reason"),
            note=note,
        )
        result = result.model_copy(update={"exception": note})
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
                exceptions=exceptions,
            )
        ],
    )

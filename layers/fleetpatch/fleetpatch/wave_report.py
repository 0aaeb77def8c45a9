"""The report of a gated-wave run, from the evidence the gate reads.

A batch that ran is reported from ``fleetpatch.evidence.gather``, the same membership and
evidence its gate judged, so the report and the gate count its members alike: every member
with its state and the reason for its outcome, the instances the tag rule excludes apart.
A batch held by a gate, or never reached, lists its members as they are now, not reached.

Per instance, what the report shows as the run's result is the run's own command: its
operation, reboot option and times on the instance. A patch state reported by a later
operation (a remediation Scan after the wave) is named as such, never taken for the run's.

"Installed by this run" is the headline figure: per instance, the patches whose
InstalledTime is at or after its command was sent (DescribeInstancePatches, one call or
more per instance). That costs a call per instance, so a report looks it up for at most
``INSTALLED_LOOKUPS`` instances; a bigger run says the figure was not counted, and every
instance still shows its cumulative InstalledCount, which is never added up as "installed".
Where an operating system reports no install times, the figure counts none for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch.batch_run import Plan
from fleetpatch.evidence import BatchEvidence, Member, as_time, gather
from fleetpatch.membership import Member as RosterMember
from fleetpatch.membership import MemberState, roster
from fleetpatch.outcomes import label
from fleetpatch.promotion import installed_since
from fleetpatch.report_text import format_stamp
from fleetpatch.reports import (
    BatchResult,
    ExceptionEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)
from fleetpatch.skip_tag import SkipStatus
from fleetpatch.waves import batch_commands, with_serving

INSTALLED_LOOKUPS = 100
"""Instances a report looks "installed by this run" up for (DescribeInstancePatches each)."""

BatchStatus = Literal["ran", "held", "not-reached"]


class WaveRunSummary(BaseModel):
    """The end of a gated-wave run (what the workflow hands the report function)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)

    run_id: str = Field(alias="runId", min_length=1)
    wave: str = Field(min_length=1)
    outcome: Literal["held", "completed", "completed-with-failures", "skipped"]
    reason: str | None = None
    summary: str
    started_at: datetime = Field(alias="startedAt")
    execution_arn: str | None = Field(default=None, alias="executionArn")
    window_execution_id: str | None = Field(default=None, alias="windowExecutionId")
    window_status: str | None = Field(default=None, alias="windowStatus")
    step: int = Field(ge=0, description="the batch the run stopped at (len(batches): all ran)")
    batches: list[RuntimeBatch] = Field(min_length=1)
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    commands: dict[str, list[str]] = Field(default_factory=dict)
    promote_from: str | None = Field(default=None, alias="promoteFrom")
    emergency: dict[str, Any] | None = None
    """An emergency run's CVE, severity, SLA and fixes (fleetpatch.services.emergency)."""


def wave_report(
    run: WaveRunSummary,
    *,
    ended_at: datetime,
    patch_group_environments: Mapping[str, str],
    plans: Callable[[int], Plan | None],
    ssm: Any,
    ec2: Any,
    autoscaling: Any,
    installed_lookups: int = INSTALLED_LOOKUPS,
    notes: Sequence[str] = (),
    serving: Callable[[int], Mapping[str, Mapping[str, Any]]] | None = None,
) -> RunReport:
    """The report of a gated-wave run; ``plans(step)``: what a batch's first round recorded."""
    statuses = batch_statuses(len(run.batches), run.step, held=run.outcome == "held")
    gathered: dict[int, BatchEvidence] = {}
    for index, batch in enumerate(run.batches):
        if statuses[index] != "ran":
            continue
        command_ids, window_started = batch_commands(
            run.batches, index, run.window_execution_id, run.commands, ssm
        )
        gathered[index] = gather(
            batch,
            plans(index),
            command_ids,
            since=run.started_at,
            window_started=window_started,
            ssm=ssm,
            ec2=ec2,
            autoscaling=autoscaling,
            detailed=True,
        )
        if serving is not None and batch.serving is not None:
            outcomes = serving(index)
            gathered[index] = replace(
                gathered[index],
                members=[
                    replace(m, evidence=with_serving(m.evidence, outcomes))
                    for m in gathered[index].members
                ],
            )
    reached = [m for found in gathered.values() for m in found.members]
    installed, note = installed_by_run(ssm, reached, limit=installed_lookups)
    gates = {d.get("batch"): d for d in run.decisions}
    batches = []
    for index, batch in enumerate(run.batches):
        if index in gathered:
            instances = [member_result(m, batch, installed) for m in gathered[index].members]
            excluded = gathered[index].excluded
            skips = gathered[index].exceptions
        else:
            now = roster(
                batch.patch_groups,
                ec2=ec2,
                ssm=ssm,
                autoscaling=autoscaling,
                only=batch.instance_ids,
            )
            instances = [unreached_result(m, batch, statuses[index]) for m in now.members]
            excluded, skips = now.conflicting, now.exceptions
        instances, exceptions = with_exceptions(instances, skips)
        batches.append(
            BatchResult(
                name=batch.name,
                patch_groups=batch.patch_groups,
                status=statuses[index],
                gate=gate_summary(gates.get(batch.name), batch),
                instances=instances,
                excluded=excluded,
                exceptions=exceptions,
            )
        )
    groups = [g for b in run.batches for g in b.patch_groups]
    return RunReport(
        kind="wave",
        run_id=run.run_id,
        title=f"emergency patch for {run.emergency['cve']}"
        if run.emergency
        else f"{run.wave} wave",
        outcome=run.outcome,
        reason=run.reason,
        summary=run.summary,
        environment=environments_of(groups, patch_group_environments),
        trigger="window" if run.window_execution_id else "manual",
        started_at=run.started_at,
        ended_at=ended_at,
        execution_arn=run.execution_arn,
        window_execution_id=run.window_execution_id,
        batches=batches,
        installed_by_run=None if note else sum(installed.values()),
        installed_note=note,
        notes=list(notes),
    )


# --- one member, from its evidence (pure) --------------------------------------------------------


def member_result(
    member: Member, batch: RuntimeBatch, installed: Mapping[str, int]
) -> InstanceResult:
    """A member of a batch that ran: its outcome as its gate counts it, this run's evidence."""
    evidence, run, state = member.evidence, member.run, member.patch_state
    usable = state if member.source is not None else None
    this_run = state if member.source == "this-run" else {}
    return InstanceResult(
        instance_id=evidence.instance_id,
        outcome=evidence.outcome(),
        reason=evidence.reason(),
        state=evidence.state,
        patch_group=_single(batch.patch_groups) or (state or {}).get("PatchGroup"),
        command_id=evidence.command_id,
        command_status=evidence.command_status,
        operation=(run.operation if run else None) or (this_run or {}).get("Operation"),
        reboot_option=(run.reboot_option if run else None) or (this_run or {}).get("RebootOption"),
        installed=(usable or {}).get("InstalledCount"),
        installed_by_run=installed.get(evidence.instance_id),
        installed_other=(usable or {}).get("InstalledOtherCount"),
        pending_reboot=(usable or {}).get("InstalledPendingRebootCount"),
        missing=(usable or {}).get("MissingCount"),
        failed=(usable or {}).get("FailedCount"),
        started_at=as_time(run.started) if run else None,
        ended_at=as_time(run.ended) if run else None,
        evidence_note=evidence_note(member),
        output=run.output if run else None,
        serving=evidence.serving,
        out_of_service_seconds=evidence.out_of_service_seconds,
    )


def evidence_note(member: Member) -> str | None:
    """Where a member's figures come from, when not simply from this run's own command."""
    notes = []
    run, state = member.run, member.patch_state
    if run is not None and not member.own:
        notes.append(f"its evidence is another run's patch command ({run.command_id})")
    if state is not None and member.source == "later":
        notes.append(
            f"the latest patch state is a later {state.get('Operation', 'operation')} "
            f"({_stamp(state.get('OperationStartTime'))}): its counts are the instance's now, "
            "not this run's result"
        )
    elif state is not None and member.source is None and run is not None:
        notes.append(
            f"its latest patch state ({state.get('Operation', 'an operation')} at "
            f"{_stamp(state.get('OperationStartTime'))}) is older than this run's command: "
            "not shown"
        )
    return "; ".join(notes) or None


def with_exceptions(
    instances: Sequence[InstanceResult], skips: Mapping[str, SkipStatus]
) -> tuple[list[InstanceResult], dict[str, ExceptionEntry]]:
    """The members with what their ``fleetpatch:skip`` tag did, and the batch's exceptions.

    One that applied reads "excepted until DATE: REASON"; an expired or invalid one says
    so and how the instance ended ("exception expired on DATE, patched").
    """
    found: dict[str, ExceptionEntry] = {}
    results = []
    for instance in instances:
        skip = skips.get(instance.instance_id)
        if skip is None:
            results.append(instance)
            continue
        note = skip.describe()
        if instance.outcome == "skipped-by-exception":
            note = instance.reason or note
        else:
            note = f"{note}, {label(instance.outcome)}"
        found[instance.instance_id] = ExceptionEntry(
            status=skip.status, until=skip.until, reason=skip.reason, note=note
        )
        results.append(instance.model_copy(update={"exception": note}))
    return results, found


def unreached_result(member: RosterMember, batch: RuntimeBatch, status: str) -> InstanceResult:
    """A member of a batch the run never sent (held by a gate, or not reached)."""
    if member.state is MemberState.TERMINATED:
        outcome, reason = "terminated", member.reason
    elif member.state is MemberState.EXCEPTED:
        outcome, reason = "skipped-by-exception", member.reason
    else:
        outcome = "not-reached"
        reason = (
            "its batch was held by a gate"
            if status == "held"
            else "the wave stopped before its batch"
        )
        if member.state is not MemberState.READY and member.reason:
            reason += f"; {member.reason}"
    return InstanceResult(
        instance_id=member.instance_id,
        outcome=outcome,  # type: ignore[arg-type]
        reason=reason,
        state=member.state.value,
        patch_group=_single(batch.patch_groups),
    )


def gate_summary(decision: Mapping[str, Any] | None, batch: RuntimeBatch) -> GateSummary | None:
    if decision is None:
        return None
    return GateSummary(
        passed=bool(decision.get("passed")),
        reasons=[str(r) for r in decision.get("reasons", [])],
        checked=list(batch.gate.batches) if batch.gate else [],
        approved_by=_approver(decision),
    )


# --- what the run installed ----------------------------------------------------------------------


def installed_by_run(
    ssm: Any, members: Iterable[Member], *, limit: int
) -> tuple[dict[str, int], str | None]:
    """Instance id -> patches this run's own command installed, or why nothing was counted.

    A Scan installs nothing (no call). An Install counts the patches installed at or after
    its command was sent; an instance gone since is left out. More Installs than ``limit``:
    none counted, and the reason.
    """
    counted: dict[str, int] = {}
    lookups: list[tuple[str, datetime]] = []
    for member in members:
        run = member.run
        if run is None or not member.own or run.requested is None:
            continue
        if run.operation == "Scan":
            counted[member.evidence.instance_id] = 0
        else:
            lookups.append((member.evidence.instance_id, run.requested))
    if len(lookups) > limit:
        return {}, (
            f"{len(lookups)} instances ran an Install, more than the {limit} a report looks "
            "up; each instance shows its cumulative InstalledCount"
        )
    for instance_id, since in lookups:
        found = installed_since(ssm, [instance_id], since).get(instance_id)
        if found is not None:  # None: gone since (terminated), Patch Manager no longer answers
            counted[instance_id] = len(found)
    return counted, None


# --- helpers -------------------------------------------------------------------------------------


def batch_statuses(count: int, reached: int, *, held: bool) -> list[BatchStatus]:
    """Per batch: ran (before ``reached``), held (``reached`` when a gate held) or not reached."""
    statuses: list[BatchStatus] = []
    for index in range(count):
        if index < reached:
            statuses.append("ran")
        elif index == reached and held:
            statuses.append("held")
        else:
            statuses.append("not-reached")
    return statuses


def environments_of(patch_groups: Iterable[str], mapping: Mapping[str, str]) -> str | None:
    """The environment(s) a set of patch groups belongs to, per the compiled policy."""
    found = sorted({mapping[g] for g in patch_groups if g in mapping})
    return ",".join(found) if found else None


def _single(groups: Sequence[str]) -> str | None:
    return groups[0] if len(groups) == 1 else None


def _stamp(value: Any) -> str:
    when = as_time(value)
    return format_stamp(when) if when is not None else "an unknown time"


def _approver(decision: Mapping[str, Any]) -> str | None:
    if not decision.get("approved"):
        return None
    for reason in decision.get("reasons", []):
        if str(reason).startswith("gate overridden by "):
            return str(reason).removeprefix("gate overridden by ").split(":", 1)[0]
    return "an operator"

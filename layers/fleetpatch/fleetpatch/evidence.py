"""A batch's evidence, gathered one way for the gate and for the report.

Who the members are and in which state comes from ``fleetpatch.batch_run.batch_evidence``
(one membership). Here each member gets the invocation of the patch command that is its
evidence and its patch state, used only when it is that command's or later: a patch state
older than the command (a run that failed before reporting) is no evidence of this run.

The report reads more than the gate (``detailed``): when the command ran on the instance,
its own operation and reboot option, where its output is. With those it tells a patch state
reported by this run's command from a later operation's (a remediation Scan after the wave),
and never shows the later one's operation, reboot option or times as the run's own. The
gate and the report judge a member the same way; only what they show differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fleetpatch import aws
from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch.batch_run import Plan, batch_evidence
from fleetpatch.gate import InstanceEvidence
from fleetpatch.skip_tag import SkipStatus

# DescribeInstancePatchStates takes at most 50 instance ids.
MAX_IDS_PER_CALL = 50
# The patch state's times come from the instance's clock, the command's from Systems
# Manager's: allow this much skew between them (EC2 instances keep time to well under it).
CLOCK_SKEW = timedelta(seconds=60)

Source = Literal["this-run", "later"]


def window_commands(ssm: Any, window_execution_id: str) -> tuple[list[str], datetime | None]:
    """The Run Command commands a maintenance window execution sent, and when it began sending.

    A window sends one command per target (its task invocations); members its commands did
    not reach are told from members that joined later by that start.
    """
    command_ids: list[str] = []
    starts: list[datetime] = []
    tasks = ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=window_execution_id)
    for task in tasks["WindowExecutionTaskIdentities"]:
        if task.get("TaskType", "RUN_COMMAND") != "RUN_COMMAND":
            continue
        if task.get("StartTime"):
            starts.append(task["StartTime"])
        paginator = ssm.get_paginator("describe_maintenance_window_execution_task_invocations")
        for page in paginator.paginate(
            WindowExecutionId=window_execution_id, TaskId=task["TaskExecutionId"]
        ):
            for invocation in page["WindowExecutionTaskInvocationIdentities"]:
                if invocation.get("ExecutionId"):
                    command_ids.append(invocation["ExecutionId"])
    return sorted(set(command_ids)), min(starts) if starts else None


@dataclass(frozen=True)
class Invocation:
    """One instance's part of a Run Command command."""

    command_id: str
    status: str
    output: str | None = None
    details: str | None = None
    """StatusDetails: ``Terminated`` is an invocation Run Command never started (its command
    exceeded MaxErrors first): the instance was not reached, it did not fail."""
    """Where the output went (``s3://bucket/prefix/command/instance/``), when S3 output is on."""
    requested: datetime | None = None
    """When the command was sent (RequestedDateTime)."""
    started: datetime | None = None
    ended: datetime | None = None
    """When it ran on the instance (its plugins' response times; detailed reads only)."""
    operation: str | None = None
    reboot_option: str | None = None
    """The command's own AWS-RunPatchBaseline parameters (detailed reads only)."""


TERMINATED = "Terminated"


def output_prefix(
    bucket: str | None, key_prefix: str | None, command_id: str, instance: str
) -> str | None:
    """Where Run Command wrote an invocation's output (``<prefix>/<command>/<instance>/``)."""
    if not bucket:
        return None
    parts = [p.strip("/") for p in (key_prefix or "", command_id, instance) if p]
    return f"s3://{bucket}/{'/'.join(parts)}/"


def command_invocations(
    ssm: Any, command_ids: Iterable[str], *, detailed: bool = False
) -> dict[str, Invocation]:
    """Instance id -> its invocation over ``command_ids``.

    An instance in several commands keeps its worst result: any failure counts. ``detailed``
    (the report) also reads where the output is, the command's parameters and when it ran
    on each instance (ListCommandInvocations with Details: one page per 50 instances, as
    without, only larger).
    """
    found: dict[str, Invocation] = {}
    for command_id in command_ids:
        command: dict[str, Any] = {}
        if detailed:
            listed = aws.patiently(ssm.list_commands, CommandId=command_id)["Commands"]
            command = next(iter(listed), {})
        for page in aws.pages(ssm.list_command_invocations, CommandId=command_id, Details=detailed):
            for invocation in page["CommandInvocations"]:
                instance = invocation["InstanceId"]
                if instance in found and found[instance].status != "Success":
                    continue
                found[instance] = _invocation(command_id, command, invocation)
    return found


def _invocation(
    command_id: str, command: Mapping[str, Any], invocation: Mapping[str, Any]
) -> Invocation:
    parameters = command.get("Parameters") or {}
    plugins = invocation.get("CommandPlugins") or []
    starts = [p["ResponseStartDateTime"] for p in plugins if p.get("ResponseStartDateTime")]
    ends = [p["ResponseFinishDateTime"] for p in plugins if p.get("ResponseFinishDateTime")]
    return Invocation(
        command_id,
        invocation["Status"],
        details=invocation.get("StatusDetails"),
        output=output_prefix(
            command.get("OutputS3BucketName"),
            command.get("OutputS3KeyPrefix"),
            command_id,
            invocation["InstanceId"],
        ),
        requested=invocation.get("RequestedDateTime"),
        started=min(starts) if starts else None,
        ended=max(ends) if ends and len(ends) == len(plugins) else None,
        operation=next(iter(parameters.get("Operation") or []), None),
        reboot_option=next(iter(parameters.get("RebootOption") or []), None),
    )


def patch_states(ssm: Any, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Instance id -> its latest patch state (DescribeInstancePatchStates, 50 ids a call)."""
    states: dict[str, dict[str, Any]] = {}
    for start in range(0, len(instance_ids), MAX_IDS_PER_CALL):
        chunk = instance_ids[start : start + MAX_IDS_PER_CALL]
        response = aws.patiently(ssm.describe_instance_patch_states, InstanceIds=list(chunk))
        for state in response["InstancePatchStates"]:
            states[state["InstanceId"]] = state
    return states


def with_patch_state(
    evidence: InstanceEvidence, state: Mapping[str, Any] | None, operation: str | None = None
) -> InstanceEvidence:
    """``evidence`` with the counts of ``state`` (a state that is evidence of its run)."""
    if operation is not None:
        evidence = replace(evidence, operation=operation)
    if state is None:
        return evidence
    return replace(
        evidence,
        missing=state.get("MissingCount"),
        failed=state.get("FailedCount"),
        pending_reboot=state.get("InstalledPendingRebootCount"),
    )


def state_source(state: Mapping[str, Any] | None, run: Invocation | None) -> Source | None:
    """Whose ``state`` is: the command ``run``'s (``this-run``), a later operation's, or None.

    None: no state, no command, or a state from before the command (not evidence of it).
    Without the invocation's end (a gate's plain read) a state at or after the command is
    taken as the command's: either way it is the instance's state after this run.
    """
    if state is None or run is None:
        return None
    started = as_time(state.get("OperationStartTime"))
    requested, ended = as_time(run.requested), as_time(run.ended)
    if started is None or (requested is not None and started < requested - CLOCK_SKEW):
        return None
    # No slack after the end: a remediation can start the moment it ends, while this run's
    # own operation starts minutes before its command ends. Another operation than the
    # command's (a Scan after an Install) is never the command's either.
    if ended is not None and started >= ended:
        return "later"
    if run.operation and state.get("Operation") not in (None, run.operation):
        return "later"
    return "this-run"


def as_time(value: Any) -> datetime | None:
    """A time as boto3 returns it, or as ISO text, as an aware datetime (None: none)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Member:
    """One member of a batch and its evidence."""

    evidence: InstanceEvidence
    """What the gate judges (the patch state applied when it is evidence)."""
    run: Invocation | None = None
    """The invocation that is its evidence: this run's, or another run's (busy, joined)."""
    own: bool = False
    """``run`` is a command this wave run sent (not another run's it adopted or found)."""
    patch_state: Mapping[str, Any] | None = None
    """Its latest patch state, whoever reported it."""
    source: Source | None = None
    """Whose ``patch_state`` is (``state_source``)."""


@dataclass(frozen=True)
class BatchEvidence:
    members: list[Member]
    excluded: dict[str, str]
    """Instance id -> why the tag rule excludes it (its patch group tags disagree)."""
    exceptions: Mapping[str, SkipStatus] = field(default_factory=dict)
    """Member id -> what its ``fleetpatch:skip`` tag says (applies, expired, invalid)."""


def gather(
    batch: RuntimeBatch,
    plan: Plan | None,
    command_ids: Sequence[str],
    *,
    since: datetime,
    window_started: datetime | None,
    ssm: Any,
    ec2: Any,
    autoscaling: Any,
    detailed: bool = False,
) -> BatchEvidence:
    """Every member of ``batch`` with its evidence from ``command_ids`` (the batch's sends).

    ``window_started``: when a maintenance window sent the batch (then there is no plan, and
    own launch or remediation runs count from then on instead of from ``since``).
    """
    invocations = command_invocations(ssm, command_ids, detailed=detailed)
    members, excluded, exceptions = batch_evidence(
        batch,
        plan,
        {
            i: (inv.command_id, inv.status)
            for i, inv in invocations.items()
            if inv.details != TERMINATED
        },
        since=window_started or since,
        ssm=ssm,
        ec2=ec2,
        autoscaling=autoscaling,
        own_commands=command_ids,
        window_started=window_started,
    )
    own = set(command_ids) - set(plan.adopted() if plan else ())
    runs: dict[str, Invocation] = {}
    for member in members:
        if member.command_id is None:
            continue
        found = invocations.get(member.instance_id)
        if found is None or found.command_id != member.command_id:
            found = _one_invocation(ssm, member.command_id, member.instance_id, detailed)
        if found is not None:
            runs[member.instance_id] = found
    states = patch_states(ssm, sorted(runs))
    gathered = []
    for member in members:
        run, state = runs.get(member.instance_id), states.get(member.instance_id)
        source = state_source(state, run)
        operation = (run.operation if run else None) or (
            state.get("Operation") if state and source == "this-run" else None
        )
        gathered.append(
            Member(
                evidence=with_patch_state(member, state if source else None, operation),
                run=run,
                own=run is not None and run.command_id in own,
                patch_state=state,
                source=source,
            )
        )
    return BatchEvidence(gathered, excluded, exceptions)


def _one_invocation(
    ssm: Any, command_id: str, instance_id: str, detailed: bool
) -> Invocation | None:
    """A command's invocation on one instance (another run's: a launch or remediation run)."""
    command: dict[str, Any] = {}
    if detailed:
        listed = aws.patiently(ssm.list_commands, CommandId=command_id)["Commands"]
        command = next(iter(listed), {})
    response = aws.patiently(
        ssm.list_command_invocations, CommandId=command_id, InstanceId=instance_id, Details=detailed
    )
    found = response.get("CommandInvocations", [])
    return _invocation(command_id, command, found[0]) if found else None
